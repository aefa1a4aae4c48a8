//! `mneme serve`: the cache as an HTTP service and an OpenAI-compatible caching proxy (crate
//! mneme-server). Settings come from defaults, then `--config FILE` (TOML), then flags and
//! their environment variables; our recommended verifier is on unless `--verifier off`.

use crate::model::ModelArgs;
use crate::verifier::VerifierArgs;
use clap::Args;
use mneme::SemanticCache;
use mneme_server::{ScopeRule, ServeConfig, Shutdown};
use std::error::Error;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The SQLite cache file (created if missing), unless --store names a server.
    #[arg(long, env = "MNEME_CACHE", default_value = "mneme-serve.db")]
    pub cache: PathBuf,
    /// A shared store instead of the file: redis://HOST:PORT[/DB], postgres://... or
    /// dynamodb://TABLE?region=R&endpoint=URL&profile=P (created if missing); several servers
    /// then share one cache, each seeing the others' writes (stale-tolerant mode).
    #[arg(long, env = "MNEME_STORE")]
    pub store: Option<String>,
    /// The Redis key prefix or PostgreSQL schema of --store (mneme-cache 1.0's default).
    #[arg(long, env = "MNEME_STORE_PREFIX", default_value = "mneme")]
    pub store_prefix: String,
    /// A TOML file with any of the settings below (listen, upstream, upstream_timeout_secs,
    /// max_body_bytes, max_concurrency, namespace, ttl_secs, scope, shutdown_grace_secs,
    /// recent_decisions, and [[tenants]] with key and namespaces); flags override it.
    #[arg(long, env = "MNEME_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8078, loopback only].
    #[arg(long, env = "MNEME_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Base URL of the OpenAI-compatible upstream, e.g. https://api.openai.com/v1 [default:
    /// none; the proxy routes answer 503].
    #[arg(long, env = "MNEME_UPSTREAM")]
    pub upstream: Option<String>,
    /// Seconds an upstream call may take [default: 60].
    #[arg(long, env = "MNEME_UPSTREAM_TIMEOUT")]
    pub upstream_timeout: Option<f64>,
    /// Namespace for requests that name none [default: default].
    #[arg(long, env = "MNEME_NAMESPACE")]
    pub namespace: Option<String>,
    /// TTL in seconds of cached proxy answers [default: none].
    #[arg(long, env = "MNEME_TTL")]
    pub ttl: Option<i64>,
    /// What a proxied request is matched on: last_user_message (earlier turns and the system
    /// prompt are an exact scope), ignore_system_prompt, whole_conversation [default:
    /// last_user_message].
    #[arg(long, env = "MNEME_SCOPE")]
    pub scope: Option<ScopeRule>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, env = "MNEME_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Requests handled at once [default: 256].
    #[arg(long, env = "MNEME_MAX_CONCURRENCY")]
    pub max_concurrency: Option<usize>,
    #[command(flatten)]
    pub decide: VerifierArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

impl ServeArgs {
    fn config(&self) -> Result<ServeConfig, Box<dyn Error>> {
        let mut c = match &self.config {
            Some(path) => ServeConfig::from_toml_file(path)?,
            None => ServeConfig::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if let Some(v) = &self.upstream {
            c.upstream = Some(v.clone());
        }
        if let Some(v) = self.upstream_timeout {
            c.upstream_timeout_secs = v;
        }
        if let Some(v) = &self.namespace {
            c.namespace = v.clone();
        }
        if let Some(v) = self.ttl {
            c.ttl_secs = Some(v);
        }
        if let Some(v) = self.scope {
            c.scope = v;
        }
        if let Some(v) = self.max_body_bytes {
            c.max_body_bytes = v;
        }
        if let Some(v) = self.max_concurrency {
            c.max_concurrency = v;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Structured logs on stderr, one JSON object per line: the server's own (`mneme.serve*`,
/// request lines included) from info up, everything else from warn up.
pub struct JsonLines;

impl log::Log for JsonLines {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
            || (m.target().starts_with("mneme.serve") && m.level() <= log::Level::Info)
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let message = r.args().to_string();
        // Request lines are JSON already; others are wrapped.
        let fields = serde_json::from_str::<serde_json::Value>(&message)
            .ok()
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({"message": message}));
        let line = serde_json::json!({"level": r.level().as_str(), "target": r.target(), "fields": fields});
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    fn flush(&self) {}
}

/// A Redis, PostgreSQL or DynamoDB store in mneme-cache 1.0's layout, in stale-tolerant mode so
/// every server sees the others' writes.
fn shared_store(
    builder: mneme::CacheBuilder,
    url: &str,
    prefix: &str,
) -> Result<mneme::CacheBuilder, Box<dyn Error>> {
    let builder = builder.multi_process_mode(mneme::MultiProcessMode::StaleTolerant);
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        Ok(builder.store(mneme::store::RedisStore::new(url, prefix)))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(builder.store(mneme::store::PostgresStore::new(url, prefix)?))
    } else if crate::store_url::is_dynamodb(url) {
        // The table is the partition; --store-prefix does not apply.
        #[cfg(feature = "dynamodb")]
        return Ok(builder.store(crate::store_url::dynamodb(url)?.create_table(true)));
        #[cfg(not(feature = "dynamodb"))]
        match crate::store_url::dynamodb(url)? {}
    } else {
        Err(format!(
            "--store {url:?} is not a redis://, postgres:// or dynamodb:// URL. Remediation: pass one, or omit --store for the SQLite file"
        )
        .into())
    }
}

pub fn run(a: &ServeArgs) -> Result<(), Box<dyn Error>> {
    if log::set_logger(&JsonLines).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let config = a.config()?;
    let stamp = match &a.store {
        None => mneme::SqliteStore::peek_stamp(&a.cache).ok(),
        Some(_) => None,
    };
    let embedder = a
        .model
        .embedder(stamp.as_ref().map(|(fp, dim)| (fp.as_str(), *dim)))?;
    let fingerprint = embedder.fingerprint().to_owned();
    let builder = SemanticCache::builder_shared(embedder.into());
    let (builder, cache_path) = match a.store.as_deref() {
        None => (builder.path(&a.cache), a.cache.display().to_string()),
        Some(url) => (
            shared_store(builder, url, &a.store_prefix)?,
            format!("{url} ({})", a.store_prefix),
        ),
    };
    let builder = a.decide.apply(builder);
    let describe = a.decide.describe();
    let upstream = config
        .upstream
        .clone()
        .unwrap_or_else(|| "none (proxy routes answer 503)".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(mneme_server::serve(
        config,
        builder,
        move |addr| {
            println!("mneme serve: listening on http://{addr}");
            println!("cache       {cache_path} ({fingerprint})");
            println!("upstream    {upstream}");
            println!("{describe}");
            println!("dashboard   http://{addr}/dashboard   OpenAPI http://{addr}/openapi.json");
            let _ = std::io::stdout().flush();
        },
        Shutdown::on_signal(),
    ))?;
    Ok(())
}
