//! `PostgresStore`: entries in PostgreSQL, in mneme-cache 1.0's schema (docs/formats.md), so
//! Python and Rust processes can share one schema. Similarity stays in process (no pgvector).
//!
//! Fixes of 1.0: the upsert is one `INSERT … ON CONFLICT DO UPDATE` (no unique violations under
//! concurrent puts), counters initialise with `DO NOTHING` (never reset), namespaces sort by code
//! point (not the server's locale), and every client error is a `StoreBackendError`.

use super::link::{Link, Server};
use super::postgres_conn::{Failure, PgConn};
use super::{check_stamp, quota_to_i64, EntryVisitor, IndexKey, Store, StoredEntry};
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use parking_lot::Mutex;
use std::path::Path;
use std::time::Duration;
use tokio_postgres::Row;

/// Default for [`PostgresStore::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for [`PostgresStore::io_timeout`].
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);

fn backend(what: &str, e: Failure) -> Error {
    Error::store_backend_with(
        format!("PostgreSQL {what} failed: {e}"),
        "check that the server is reachable, the DSN is right and the role may use the schema",
        e,
    )
}

/// A store in one PostgreSQL schema.
pub struct PostgresStore {
    dsn: String,
    /// `host:port`, for messages (the DSN may hold a password).
    address: String,
    schema: String,
    /// Set by the builder; otherwise the DSN's `connect_timeout`, otherwise the default.
    connect_timeout: Option<Duration>,
    io_timeout: Duration,
    client: Mutex<Link<Box<PgConn>>>,
}

/// Whether `e` came from a connection that can no longer be used.
fn connection_failed(e: &Error) -> bool {
    e.cause::<Failure>().is_some_and(Failure::connection_lost)
}

const COLUMNS: &str = "id, namespace, query_hash, query, response, embedding, metadata::text, \
                       created_at, last_accessed_at, ttl, access_count";

impl PostgresStore {
    /// A store for `dsn` (`host=… user=… dbname=…` or a `postgresql://` URL) in `schema`
    /// (1.0's default: `mneme`). Nothing connects until [`Store::open`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `schema` is non-empty and only alphanumerics or `_`.
    pub fn new(dsn: impl Into<String>, schema: impl Into<String>) -> Result<Self> {
        let schema = schema.into();
        if schema.is_empty() || !schema.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(Error::invalid_argument(
                format!("invalid Postgres schema name {schema:?}"),
                "use a non-empty name of letters, digits and underscores",
            ));
        }
        let dsn = dsn.into();
        Ok(PostgresStore {
            address: address_of(&dsn),
            dsn,
            schema,
            connect_timeout: None,
            io_timeout: DEFAULT_IO_TIMEOUT,
            client: Mutex::new(Link::NotOpen),
        })
    }

    /// `"schema".table`.
    fn t(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.schema)
    }

    fn bump(&self) -> String {
        format!(
            "UPDATE {} SET value = (CAST(value AS BIGINT) + 1)::TEXT WHERE key = 'version_counter'",
            self.t("multi_process_state")
        )
    }

    /// How long connecting (TCP, startup, authentication) may take before it fails. Default:
    /// the DSN's `connect_timeout`, else 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout.max(Duration::from_millis(1)));
        self
    }

    /// How long one statement may wait for its answer before it fails (default 10 s). A server
    /// that accepts connections but stops answering then gives a [`Error::StoreBackend`]
    /// instead of a hang.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout.max(Duration::from_millis(1));
        self
    }
}

/// `host:port` of the server a DSN names, for messages (the DSN may hold a password).
fn address_of(dsn: &str) -> String {
    let Ok(config) = dsn.parse::<tokio_postgres::Config>() else {
        return "the server named by the DSN".into();
    };
    let host = config.get_hosts().first().map_or_else(
        || "localhost".to_owned(),
        |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        },
    );
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

impl PostgresStore {
    fn connect(&self) -> Result<PgConn> {
        let config: tokio_postgres::Config = self.dsn.parse().map_err(|e| {
            Error::store_backend_with(
                "the PostgreSQL DSN cannot be parsed",
                "pass a DSN like \"host=127.0.0.1 user=postgres dbname=mneme\" or a postgresql:// URL",
                e,
            )
        })?;
        let connect_timeout = self
            .connect_timeout
            .or(config.get_connect_timeout().copied())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        PgConn::connect(&config, connect_timeout, self.io_timeout).map_err(|e| {
            let hint = match e {
                Failure::TimedOut(_) => format!(
                    "the server did not complete the connection within connect_timeout \
                     ({connect_timeout:?}): check the server and the network, or raise \
                     connect_timeout (PostgresStore::connect_timeout, or in the DSN)"
                ),
                _ => "start the server or fix the DSN (host, port, user, dbname)".to_owned(),
            };
            Error::store_backend_with(
                format!("cannot connect to PostgreSQL at {}: {e}", self.address),
                hint,
                e,
            )
        })
    }

    /// Runs `f` on the connection (see [`Link`]); `idempotent` calls are retried once.
    fn run<T>(&self, idempotent: bool, mut f: impl FnMut(&mut PgConn) -> Result<T>) -> Result<T> {
        let connect = || self.connect().map(Box::new);
        self.client.lock().run(
            &self.server(),
            idempotent,
            connect,
            connection_failed,
            |c| f(c),
        )
    }

    fn server(&self) -> Server<'_> {
        Server {
            store: "PostgresStore",
            kind: "PostgreSQL",
            address: &self.address,
            io_timeout: self.io_timeout,
        }
    }

    /// Runs an idempotent call: retried once on a new connection if the connection fails.
    fn retried<T>(&self, f: impl FnMut(&mut PgConn) -> Result<T>) -> Result<T> {
        self.run(true, f)
    }

    /// Runs `f` in one transaction; never retried.
    fn write<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&mut PgConn) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        self.run(false, |c| {
            c.transaction(&mut f).map_err(|e| backend(what, e))
        })
    }

    fn row(r: &Row) -> Result<StoredEntry> {
        let meta: String = r.get(6);
        Ok(StoredEntry {
            id: r.get(0),
            namespace: r.get(1),
            query_hash: r.get(2),
            query: r.get(3),
            response: r.get(4),
            embedding: r.get(5),
            metadata: Metadata::from_json(&meta)?,
            created_at: r.get(7),
            last_accessed_at: r.get(8),
            ttl: r.get(9),
            access_count: r.get(10),
        })
    }

    fn ddl(&self) -> String {
        let s = &self.schema;
        format!(
            "CREATE SCHEMA IF NOT EXISTS \"{s}\";
             CREATE TABLE IF NOT EXISTS \"{s}\".schema_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS \"{s}\".entries (
                 id BIGSERIAL PRIMARY KEY,
                 namespace TEXT NOT NULL DEFAULT 'default',
                 query_hash TEXT NOT NULL,
                 query TEXT NOT NULL,
                 response TEXT NOT NULL,
                 embedding BYTEA NOT NULL,
                 metadata JSONB NOT NULL,
                 created_at BIGINT NOT NULL,
                 last_accessed_at BIGINT NOT NULL,
                 ttl BIGINT,
                 access_count BIGINT NOT NULL DEFAULT 0,
                 UNIQUE(namespace, query_hash));
             CREATE INDEX IF NOT EXISTS idx_entries_ns_hash ON \"{s}\".entries(namespace, query_hash);
             CREATE INDEX IF NOT EXISTS idx_entries_ns_lru ON \"{s}\".entries(namespace, last_accessed_at);
             CREATE INDEX IF NOT EXISTS idx_entries_created_at ON \"{s}\".entries(created_at);
             CREATE TABLE IF NOT EXISTS \"{s}\".cache_counters (
                 namespace TEXT NOT NULL, name TEXT NOT NULL, value BIGINT NOT NULL,
                 PRIMARY KEY(namespace, name));
             CREATE TABLE IF NOT EXISTS \"{s}\".namespace_quotas (namespace TEXT PRIMARY KEY, max_entries BIGINT NOT NULL);
             CREATE TABLE IF NOT EXISTS \"{s}\".multi_process_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO \"{s}\".schema_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING;"
        )
    }
}

impl Store for PostgresStore {
    fn open(&self, fingerprint: &str, dim: usize) -> Result<()> {
        self.client
            .lock()
            .connected(&self.server(), || self.connect().map(Box::new))?;
        let ddl = self.ddl();
        self.run(false, |c| {
            c.transaction(|tx| {
                // Two processes provisioning one schema at once must not race on the catalogue.
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))",
                    &[&self.schema],
                )?;
                tx.batch_execute(&ddl)
            })
            .map_err(|e| {
                Error::store_backend_with(
                    format!("creating the mneme schema {:?} failed: {e}", self.schema),
                    "ensure the role has create privilege on the database",
                    e,
                )
            })
        })?;
        let meta = self.t("schema_meta");
        let counters = self.t("multi_process_state");
        let (fp, d) = self.write("stamping the embedder", |tx| {
            let insert =
                format!("INSERT INTO {meta} (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING");
            tx.execute(&insert, &[&"embedder_fingerprint", &fingerprint])?;
            tx.execute(&insert, &[&"embedder_dim", &dim.to_string()])?;
            tx.execute(
                &format!(
                    "INSERT INTO {counters} (key, value) VALUES ('version_counter', '0') \
                     ON CONFLICT DO NOTHING"
                ),
                &[],
            )?;
            let read = format!("SELECT value FROM {meta} WHERE key = $1");
            let fp: Option<String> = tx
                .query_opt(&read, &[&"embedder_fingerprint"])?
                .map(|r| r.get(0));
            let d: Option<String> = tx.query_opt(&read, &[&"embedder_dim"])?.map(|r| r.get(0));
            Ok((fp, d))
        })?;
        check_stamp(fp.as_deref(), d.as_deref(), fingerprint, dim)
    }

    fn close(&self) -> Result<()> {
        *self.client.lock() = Link::Closed;
        Ok(())
    }

    fn get_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE namespace = $1 AND query_hash = $2",
            self.t("entries")
        );
        let row = self.retried(|c| {
            c.query_opt(&sql, &[&namespace, &query_hash])
                .map_err(|e| backend("get_by_hash", e))
        })?;
        row.as_ref().map(Self::row).transpose()
    }

    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>> {
        if id <= 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE id = $1", self.t("entries"));
        let row = self.retried(|c| {
            c.query_opt(&sql, &[&id])
                .map_err(|e| backend("get_by_id", e))
        })?;
        row.as_ref().map(Self::row).transpose()
    }

    fn count(&self, namespace: Option<&str>) -> Result<u64> {
        let t = self.t("entries");
        self.retried(|c| {
            let n: i64 = match namespace {
                None => c.query_one(&format!("SELECT COUNT(*) FROM {t}"), &[]),
                Some(ns) => c.query_one(
                    &format!("SELECT COUNT(*) FROM {t} WHERE namespace = $1"),
                    &[&ns],
                ),
            }
            .map_err(|e| backend("count", e))?
            .get(0);
            Ok(n as u64)
        })
    }

    fn list_namespaces(&self) -> Result<Vec<String>> {
        // Sorted here: Rust orders strings by code point, whatever the server's locale.
        let sql = format!("SELECT DISTINCT namespace FROM {}", self.t("entries"));
        self.retried(|c| {
            let rows = c
                .query(&sql, &[])
                .map_err(|e| backend("list_namespaces", e))?;
            let mut v: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            v.sort();
            Ok(v)
        })
    }

    fn iter_lru_ids(&self, n: usize, namespace: Option<&str>) -> Result<Vec<i64>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let (t, n) = (self.t("entries"), n.min(i64::MAX as usize) as i64);
        self.retried(|c| {
            let rows = match namespace {
                None => c.query(&format!("SELECT id FROM {t} ORDER BY last_accessed_at, id LIMIT $1"), &[&n]),
                Some(ns) => c.query(
                    &format!("SELECT id FROM {t} WHERE namespace = $1 ORDER BY last_accessed_at, id LIMIT $2"),
                    &[&ns, &n],
                ),
            }
            .map_err(|e| backend("iter_lru_ids", e))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn scan_since(&self, last_id: i64, visit: &mut EntryVisitor<'_>) -> Result<()> {
        const PAGE: i64 = 512;
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE id > $1 ORDER BY id LIMIT $2",
            self.t("entries")
        );
        let mut cursor = last_id;
        loop {
            let rows = self.retried(|c| {
                c.query(&sql, &[&cursor, &PAGE])
                    .map_err(|e| backend("iter_since", e))
            })?;
            for r in &rows {
                let e = Self::row(r)?;
                cursor = e.id;
                visit(e)?;
            }
            if (rows.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }

    fn insert(&self, e: &StoredEntry) -> Result<i64> {
        let sql = format!(
            "INSERT INTO {} (namespace, query_hash, query, response, embedding, metadata, created_at, \
             last_accessed_at, ttl, access_count) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, $9, $10) \
             ON CONFLICT (namespace, query_hash) DO UPDATE SET query = EXCLUDED.query, \
             response = EXCLUDED.response, embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata, \
             created_at = EXCLUDED.created_at, last_accessed_at = EXCLUDED.last_accessed_at, \
             ttl = EXCLUDED.ttl, access_count = EXCLUDED.access_count RETURNING id",
            self.t("entries")
        );
        let metadata = e.metadata.to_json();
        let bump = self.bump();
        self.write("insert", |tx| {
            let id: i64 = tx
                .query_one(
                    &sql,
                    &[
                        &e.namespace,
                        &e.query_hash,
                        &e.query,
                        &e.response,
                        &e.embedding,
                        &metadata,
                        &e.created_at,
                        &e.last_accessed_at,
                        &e.ttl,
                        &e.access_count,
                    ],
                )?
                .get(0);
            tx.execute(&bump, &[])?;
            Ok(id)
        })
    }

    fn update_access(&self, id: i64, now: i64) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET last_accessed_at = $1, access_count = access_count + 1 WHERE id = $2",
            self.t("entries")
        );
        self.run(false, |c| {
            c.execute(&sql, &[&now, &id])
                .map(drop)
                .map_err(|e| backend("update_access", e))
        })
    }

    fn update_access_batch(&self, updates: &[super::AccessUpdate]) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET last_accessed_at = $1, access_count = access_count + $2 WHERE id = $3",
            self.t("entries")
        );
        self.write("update_access", |tx| {
            for u in updates {
                tx.execute(&sql, &[&u.last_accessed_at, &u.hits, &u.id])?;
            }
            Ok(())
        })
    }

    fn delete_by_id(&self, id: i64) -> Result<bool> {
        let (sql, bump) = (
            format!("DELETE FROM {} WHERE id = $1", self.t("entries")),
            self.bump(),
        );
        self.write("delete_by_id", |tx| {
            let n = tx.execute(&sql, &[&id])?;
            if n > 0 {
                tx.execute(&bump, &[])?;
            }
            Ok(n > 0)
        })
    }

    fn delete_expired(&self, now: i64, namespace: Option<&str>) -> Result<u64> {
        Ok(self.delete_expired_ids(now, namespace)?.len() as u64)
    }

    fn delete_expired_ids(&self, now: i64, namespace: Option<&str>) -> Result<Vec<(i64, String)>> {
        let sql = format!(
            "DELETE FROM {} WHERE ttl IS NOT NULL AND created_at::NUMERIC + ttl <= $1::BIGINT \
             AND ($2::TEXT IS NULL OR namespace = $2) RETURNING id, namespace",
            self.t("entries")
        );
        let bump = self.bump();
        self.write("delete_expired", |tx| {
            let rows = tx.query(&sql, &[&now, &namespace])?;
            if !rows.is_empty() {
                tx.execute(&bump, &[])?;
            }
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        let (sql, bump) = (
            format!("DELETE FROM {} WHERE namespace = $1", self.t("entries")),
            self.bump(),
        );
        self.write("clear_namespace", |tx| {
            let n = tx.execute(&sql, &[&namespace])?;
            if n > 0 {
                tx.execute(&bump, &[])?;
            }
            Ok(n)
        })
    }

    fn set_namespace_quota(&self, namespace: &str, max_entries: u64) -> Result<()> {
        let q = quota_to_i64(max_entries)?;
        let sql = format!(
            "INSERT INTO {} (namespace, max_entries) VALUES ($1, $2) \
             ON CONFLICT (namespace) DO UPDATE SET max_entries = EXCLUDED.max_entries",
            self.t("namespace_quotas")
        );
        self.retried(|c| {
            c.execute(&sql, &[&namespace, &q])
                .map(drop)
                .map_err(|e| backend("set_namespace_quota", e))
        })
    }

    fn get_namespace_quota(&self, namespace: &str) -> Result<Option<u64>> {
        let sql = format!(
            "SELECT max_entries FROM {} WHERE namespace = $1",
            self.t("namespace_quotas")
        );
        self.retried(|c| {
            let r = c
                .query_opt(&sql, &[&namespace])
                .map_err(|e| backend("get_namespace_quota", e))?;
            Ok(r.map(|r| r.get::<_, i64>(0).max(0) as u64))
        })
    }

    fn read_version_counter(&self) -> Result<u64> {
        let sql = format!(
            "SELECT value FROM {} WHERE key = 'version_counter'",
            self.t("multi_process_state")
        );
        self.retried(|c| {
            let r = c
                .query_opt(&sql, &[])
                .map_err(|e| backend("read_version_counter", e))?;
            Ok(r.and_then(|r| r.get::<_, String>(0).trim().parse().ok())
                .unwrap_or(0))
        })
    }

    fn read_meta(&self, key: &str) -> Result<Option<String>> {
        let sql = format!("SELECT value FROM {} WHERE key = $1", self.t("schema_meta"));
        self.retried(|c| {
            Ok(c.query_opt(&sql, &[&key])
                .map_err(|e| backend("read_meta", e))?
                .map(|r| r.get(0)))
        })
    }

    fn write_meta(&self, key: &str, value: &str) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            self.t("schema_meta")
        );
        self.retried(|c| {
            c.execute(&sql, &[&key, &value])
                .map(drop)
                .map_err(|e| backend("write_meta", e))
        })
    }

    fn merge_meta(&self, key: &str, merge: &mut dyn FnMut(Option<String>) -> String) -> Result<()> {
        let meta = self.t("schema_meta");
        self.write("merge_meta", |tx| {
            // Lock the row (or the key's slot) so concurrent closers merge instead of racing.
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&format!("{meta}:{key}")])?;
            let current: Option<String> = tx
                .query_opt(&format!("SELECT value FROM {meta} WHERE key = $1"), &[&key])?
                .map(|r| r.get(0));
            tx.execute(
                &format!("INSERT INTO {meta} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"),
                &[&key, &merge(current)],
            )?;
            Ok(())
        })
    }

    fn integrity_check(&self) -> Result<bool> {
        self.retried(|c| Ok(c.query_one("SELECT 1", &[]).is_ok()))
    }

    fn snapshot_to(&self, _dest: &Path) -> Result<()> {
        Err(Error::checkpoint(
            "PostgresStore cannot snapshot into a checkpoint",
            "use pg_dump (for example pg_dump --schema=<schema>) to back up the cache",
        ))
    }

    fn label(&self) -> String {
        "postgres".into()
    }

    fn iter_index_keys(&self) -> Result<Vec<IndexKey>> {
        let sql = format!(
            "SELECT id, created_at FROM {} ORDER BY id",
            self.t("entries")
        );
        self.retried(|c| {
            let rows = c
                .query(&sql, &[])
                .map_err(|e| backend("iter_index_keys", e))?;
            Ok(rows
                .iter()
                .map(|r| IndexKey {
                    id: r.get(0),
                    created_at: Some(r.get(1)),
                })
                .collect())
        })
    }

    fn max_id(&self) -> Result<i64> {
        let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {}", self.t("entries"));
        self.retried(|c| {
            Ok(c.query_one(&sql, &[])
                .map_err(|e| backend("max_id", e))?
                .get(0))
        })
    }

    fn oldest_created_at(&self) -> Result<Option<i64>> {
        let sql = format!("SELECT MIN(created_at) FROM {}", self.t("entries"));
        self.retried(|c| {
            Ok(c.query_one(&sql, &[])
                .map_err(|e| backend("oldest_created_at", e))?
                .get(0))
        })
    }
}
