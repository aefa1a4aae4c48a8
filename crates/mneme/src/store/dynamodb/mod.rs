//! `DynamoDbStore`: entries in one DynamoDB table, in mneme-cache 1.0's layout, so Rust and
//! Python processes on any host share one cache.
//!
//! The store is sync like the others: it owns a small tokio runtime for the AWS SDK, and a call
//! made from inside a caller's runtime blocks a thread of its own, never the caller's worker
//! (from async code, still prefer `tokio::task::spawn_blocking` around cache calls).
//!
//! Fixes of 1.0: the counter item is created race-safe, duplicate keys (from two processes
//! inserting one new key at once) resolve to the lowest id, LRU reads paginate until they have
//! `n` ids, a new insert retries only when `next_id` moved, hits do not bump the version, the
//! embedder stamp is readable through `read_meta`, and every SDK error is a
//! `StoreBackendError` that says what to do. Fewer requests than 1.0: a writer remembers the
//! next id (a new entry is one query and one transaction while no other process inserts), exact
//! hits skip the embedding, and scans of large tables run in parallel segments.

mod failure;
mod items;
mod ops;
mod table;

pub use table::Billing;

use super::own_runtime::{block_on, OwnRuntime};
use super::{
    check_stamp, quota_to_i64, AccessUpdate, EntryVisitor, IndexKey, IndexRowVisitor, Store,
    StoredEntry,
};
use crate::error::{Error, Result};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use failure::Target;
use items::{entry_item, entry_of, n, s, Counter, COUNTER_ID};
use ops::{with_namespace, Db, Expr};
use parking_lot::RwLock;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Default for [`DynamoDbStore::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for [`DynamoDbStore::io_timeout`].
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`DynamoDbStore::max_attempts`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// A store in one DynamoDB table.
///
/// ```no_run
/// use mneme::store::DynamoDbStore;
/// # fn main() -> mneme::Result<()> {
/// let store = DynamoDbStore::new("mneme-cache")?
///     .region("eu-west-1")
///     .create_table(true);
/// let cache = mneme::SemanticCache::builder(mneme::LexicalEmbedder::new(384))
///     .store(store)
///     .open()?;
/// # Ok(()) }
/// ```
pub struct DynamoDbStore {
    table: String,
    region: Option<String>,
    endpoint: Option<String>,
    profile: Option<String>,
    create_table: bool,
    billing: Billing,
    connect_timeout: Duration,
    io_timeout: Duration,
    max_attempts: u32,
    /// Parallel scan segments, sized from the table at open.
    segments: AtomicI32,
    state: RwLock<State>,
    /// The `next_id` this process expects; 0 when unknown.
    next_id_hint: AtomicI64,
}

enum State {
    NotOpen,
    Open(Arc<Conn>),
    Closed,
}

struct Conn {
    runtime: OwnRuntime,
    client: Client,
}

impl DynamoDbStore {
    /// A store on `table`. Nothing connects until [`Store::open`]; the region, credentials and
    /// endpoint come from the usual AWS chain (environment, `~/.aws` profile, instance role)
    /// unless set here.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty table name.
    pub fn new(table: impl Into<String>) -> Result<Self> {
        let table = table.into();
        if table.is_empty() {
            return Err(Error::invalid_argument(
                "the DynamoDB table name is empty",
                "pass the name of the table that holds (or will hold) the cache",
            ));
        }
        Ok(DynamoDbStore {
            table,
            region: None,
            endpoint: None,
            profile: None,
            create_table: false,
            billing: Billing::PayPerRequest,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            segments: AtomicI32::new(1),
            state: RwLock::new(State::NotOpen),
            next_id_hint: AtomicI64::new(0),
        })
    }

    /// The AWS region (default: `AWS_REGION`, then the profile's).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Another endpoint: a local DynamoDB, moto, or a VPC endpoint (`http://127.0.0.1:5000`).
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// A named profile of `~/.aws/config` and `~/.aws/credentials` (default: `AWS_PROFILE`).
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Create the table on open if it is missing (default: false; the error then states the
    /// schema to create).
    pub fn create_table(mut self, create: bool) -> Self {
        self.create_table = create;
        self
    }

    /// How a table this store creates is billed (default: on demand).
    pub fn billing(mut self, billing: Billing) -> Self {
        self.billing = billing;
        self
    }

    /// How long opening a connection may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long one request attempt may wait for its answer (default 10 s): an endpoint that
    /// stops answering gives a [`Error::StoreBackend`] instead of a hang.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Attempts per request, with exponential backoff, on throttling and transient errors
    /// (default 5).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The table name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The embedder stamp (fingerprint, dim) of an existing table, read without opening the
    /// store or writing anything: what a tool needs to open a cache on the table with the
    /// right embedder. `None` when the table has no counter item yet.
    ///
    /// # Errors
    /// [`Error::StoreBackend`] when the table is missing or DynamoDB cannot be reached.
    pub fn peek_stamp(&self) -> Result<Option<(String, usize)>> {
        let conn = self.connect()?;
        let db = Db {
            client: conn.client.clone(),
            t: self.target(),
            segments: 1,
        };
        let counter = block_on(&conn.runtime, async {
            db.client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| failure::backend(&db.t, "DescribeTable", e))?;
            db.counter().await
        })?;
        Ok(counter.and_then(|c| Some((c.fingerprint?, usize::try_from(c.dim?).ok()?))))
    }

    fn target(&self) -> Target<'_> {
        Target {
            table: &self.table,
            endpoint: self
                .endpoint
                .as_deref()
                .unwrap_or("the region's DynamoDB endpoint"),
            max_attempts: self.max_attempts,
        }
    }

    fn validate(&self) -> Result<()> {
        if let Billing::Provisioned { read, write } = self.billing {
            if read < 1 || write < 1 {
                return Err(Error::invalid_argument(
                    format!("provisioned capacity ({read}, {write}) is not positive"),
                    "give at least 1 read and 1 write capacity unit, or use on-demand billing",
                ));
            }
        }
        Ok(())
    }

    fn connect(&self) -> Result<Conn> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mneme-dynamodb")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::store_backend_with(
                    "cannot start the DynamoDB client's runtime",
                    "the process is out of threads or file descriptors: raise its limits",
                    e,
                )
            })?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_attempt_timeout(self.io_timeout)
                    .build(),
            );
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &self.endpoint {
            loader = loader.endpoint_url(url);
        }
        let config = block_on(&runtime, loader.load());
        if config.region().is_none() {
            return Err(Error::store_backend(
                format!("no AWS region for DynamoDB table {:?}", self.table),
                "set one: DynamoDbStore::region, region_name= in Python, ?region= in a dynamodb:// URL, AWS_REGION, or a profile's region",
            ));
        }
        Ok(Conn {
            runtime: OwnRuntime::new(runtime),
            client: Client::new(&config),
        })
    }

    fn conn(&self) -> Result<Arc<Conn>> {
        match &*self.state.read() {
            State::Open(c) => Ok(c.clone()),
            State::NotOpen => Err(Error::cache_closed(
                "DynamoDbStore is not open",
                "call open(fingerprint, dim) first (SemanticCache does this for you)",
            )),
            State::Closed => Err(Error::closed("DynamoDbStore")),
        }
    }

    /// Runs requests on the store's runtime.
    fn run<'s, T: Send, F>(&'s self, f: impl FnOnce(Db<'s>) -> F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 's,
    {
        let conn = self.conn()?;
        let db = Db {
            client: conn.client.clone(),
            t: self.target(),
            segments: self.segments.load(Ordering::Relaxed),
        };
        block_on(&conn.runtime, f(db))
    }

    async fn open_table(&self, db: &Db<'_>, fingerprint: &str, dim: usize) -> Result<Counter> {
        match db
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(d) => {
                // DynamoDB's size figures lag by hours; close enough to size the scans.
                let (items, bytes) = d.table.map_or((0, 0), |t| {
                    (t.item_count.unwrap_or(0), t.table_size_bytes.unwrap_or(0))
                });
                let bytes = bytes.max(items.saturating_mul(dim as i64 * 4 + 256));
                self.segments.store(segments_for(bytes), Ordering::Relaxed);
            }
            Err(e)
                if failure::code(&e) == Some("ResourceNotFoundException") && self.create_table =>
            {
                table::create(&db.client, &db.t, self.billing).await?;
            }
            Err(e) => return Err(failure::backend(&db.t, "DescribeTable", e)),
        }
        if let Some(counter) = db.counter().await? {
            if counter.next_id.is_none() || counter.version.is_none() {
                // Counters never reset: only absent ones are created.
                let expr = Expr::default().value(":one", n(1)).value(":zero", n(0));
                let repair = "SET next_id = if_not_exists(next_id, :one), \
                              version_counter = if_not_exists(version_counter, :zero)";
                db.update(COUNTER_ID, repair, None, expr).await?;
            }
            return Ok(counter);
        }
        // Another process may create it at the same moment: then read and check theirs.
        db.create_counter(Counter::fresh_item(fingerprint, dim))
            .await?;
        db.counter().await?.ok_or_else(|| {
            Error::store_backend(
                format!(
                    "the counter item of DynamoDB table {:?} vanished while opening",
                    self.table
                ),
                "something deletes items of this table: point the store at a table of its own",
            )
        })
    }

    /// Reads one meta-like map entry of the counter item.
    fn counter(&self) -> Result<Counter> {
        self.run(|db| async move { db.counter().await })?
            .ok_or_else(|| {
                Error::store_backend(
                    format!("DynamoDB table {:?} has no counter item (id 0)", self.table),
                    "open the store again to recreate it, or point it at the cache's table",
                )
            })
    }
}

impl Store for DynamoDbStore {
    fn open(&self, fingerprint: &str, dim: usize) -> Result<()> {
        self.validate()?;
        {
            let mut state = self.state.write();
            match &*state {
                State::Closed => return Err(Error::closed("DynamoDbStore")),
                State::NotOpen => *state = State::Open(Arc::new(self.connect()?)),
                State::Open(_) => {}
            }
        }
        let counter = self.run(|db| async move { self.open_table(&db, fingerprint, dim).await });
        let counter = match counter {
            Ok(c) => c,
            Err(e) => {
                // Leave no half-open client behind: the next open starts over.
                *self.state.write() = State::NotOpen;
                return Err(e);
            }
        };
        check_stamp(
            counter.fingerprint.as_deref(),
            counter.dim.map(|d| d.to_string()).as_deref(),
            fingerprint,
            dim,
        )
    }

    fn close(&self) -> Result<()> {
        *self.state.write() = State::Closed;
        Ok(())
    }

    fn get_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
        let rows = self.run(|db| async move { db.by_hash(namespace, query_hash, &[]).await })?;
        rows.first().map(|r| entry_of(r, &self.table)).transpose()
    }

    fn get_hit_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
        let row = self.run(|db| async move { db.hit_by_hash(namespace, query_hash).await })?;
        row.map(|r| entry_of(&r, &self.table)).transpose()
    }

    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>> {
        if id <= COUNTER_ID {
            return Ok(None);
        }
        let row = self.run(|db| async move { db.get_item(id, &[]).await })?;
        row.map(|r| entry_of(&r, &self.table)).transpose()
    }

    fn scan_since(&self, last_id: i64, visit: &mut EntryVisitor<'_>) -> Result<()> {
        let rows = self.run(|db| async move { db.entries_after(last_id, &[]).await })?;
        rows.iter()
            .try_for_each(|r| visit(entry_of(r, &self.table)?))
    }

    fn insert(&self, entry: &StoredEntry) -> Result<i64> {
        items::check_writable(&entry_item(1, entry), entry, &self.table)?;
        let hint = self.next_id_hint.load(Ordering::Relaxed);
        let id = self.run(|db| async move {
            let existing = db
                .by_hash(&entry.namespace, &entry.query_hash, &["id"])
                .await?;
            if let Some(id) = existing.first().and_then(|r| items::num(r, "id")) {
                db.put_existing(entry_item(id, entry)).await?;
                return Ok(id);
            }
            db.insert_new((hint > 0).then_some(hint), entry).await
        })?;
        self.next_id_hint.fetch_max(id + 1, Ordering::Relaxed);
        Ok(id)
    }

    fn update_access(&self, id: i64, now: i64) -> Result<()> {
        self.update_access_batch(&[AccessUpdate {
            id,
            last_accessed_at: now,
            hits: 1,
        }])
    }

    fn update_access_batch(&self, updates: &[AccessUpdate]) -> Result<()> {
        self.run(|db| async move {
            for u in updates.iter().filter(|u| u.id > COUNTER_ID && u.hits > 0) {
                let expr = Expr::default()
                    .value(":now", n(u.last_accessed_at))
                    .value(":hits", n(u.hits));
                // A row deleted meanwhile fails the condition: a silent no-op.
                db.update(
                    u.id,
                    "SET last_accessed_at = :now ADD access_count :hits",
                    Some("attribute_exists(id)"),
                    expr,
                )
                .await?;
            }
            Ok(())
        })
    }

    fn delete_by_id(&self, id: i64) -> Result<bool> {
        if id <= COUNTER_ID {
            return Ok(false);
        }
        self.run(|db| async move { db.delete(id).await })
    }

    fn read_version_counter(&self) -> Result<u64> {
        let item =
            self.run(|db| async move { db.get_item(COUNTER_ID, &["version_counter"]).await })?;
        Ok(item
            .and_then(|i| items::num(&i, "version_counter"))
            .map_or(0, |v| v.max(0) as u64))
    }

    fn read_meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.counter()?.meta(key))
    }

    fn write_meta(&self, key: &str, value: &str) -> Result<()> {
        let expr = Expr::default().name("#k", key).value(":v", s(value));
        self.run(|db| async move { db.update(COUNTER_ID, "SET meta.#k = :v", None, expr).await })?;
        Ok(())
    }

    /// Atomic across processes: the write is conditional on the value read, retried on a race.
    fn merge_meta(&self, key: &str, merge: &mut dyn FnMut(Option<String>) -> String) -> Result<()> {
        for _ in 0..16 {
            let current = self.counter()?.meta.get(key).cloned();
            let next = merge(current.clone());
            let expr = Expr::default().name("#k", key).value(":v", s(&next));
            let (condition, expr) = match &current {
                Some(old) => ("meta.#k = :old", expr.value(":old", s(old))),
                None => ("attribute_not_exists(meta.#k)", expr),
            };
            let written = self.run(|db| async move {
                db.update(COUNTER_ID, "SET meta.#k = :v", Some(condition), expr)
                    .await
            })?;
            if written {
                return Ok(());
            }
        }
        Err(Error::store_backend(
            format!(
                "meta key {key:?} of DynamoDB table {:?} kept changing under this write",
                self.table
            ),
            "retry; many processes are updating it at once",
        ))
    }

    fn label(&self) -> String {
        "dynamodb".into()
    }

    fn count(&self, namespace: Option<&str>) -> Result<u64> {
        let (filter, expr) = with_namespace(
            "id > :zero",
            Expr::default().value(":zero", n(0)),
            namespace,
        );
        Ok(self
            .run(|db| async move { db.scan(&filter, &[], true, expr).await })?
            .1)
    }

    fn list_namespaces(&self) -> Result<Vec<String>> {
        let expr = Expr::default().value(":zero", n(0));
        let (rows, _) =
            self.run(|db| async move { db.scan("id > :zero", &["namespace"], false, expr).await })?;
        let names: std::collections::BTreeSet<String> = rows
            .into_iter()
            .filter_map(|mut r| match r.remove("namespace") {
                Some(AttributeValue::S(ns)) => Some(ns),
                _ => None,
            })
            .collect();
        Ok(names.into_iter().collect())
    }

    fn iter_lru_ids(&self, n_ids: usize, namespace: Option<&str>) -> Result<Vec<i64>> {
        if n_ids == 0 {
            return Ok(Vec::new());
        }
        if let Some(ns) = namespace {
            if ns.is_empty() {
                return Ok(Vec::new());
            }
            let keyed = self.run(|db| async move { db.lru(ns, n_ids).await })?;
            return Ok(keyed.into_iter().map(|(_, id)| id).collect());
        }
        // All namespaces: one scan of two attributes beats a scan for the names plus a query each.
        let rows =
            self.run(|db| async move { db.entries_after(0, &["id", "last_accessed_at"]).await })?;
        let mut keyed: Vec<(i64, i64)> = rows
            .iter()
            .filter_map(|r| Some((items::num(r, "last_accessed_at")?, items::num(r, "id")?)))
            .collect();
        keyed.sort_unstable();
        Ok(keyed.into_iter().take(n_ids).map(|(_, id)| id).collect())
    }

    fn delete_expired_ids(&self, now: i64, namespace: Option<&str>) -> Result<Vec<(i64, String)>> {
        let expr = Expr::default().name("#ttl", "ttl").value(":zero", n(0));
        let filter = "id > :zero AND attribute_exists(#ttl)";
        let (filter, expr) = with_namespace(filter, expr, namespace);
        let (rows, _) = self.run(|db| async move {
            db.scan(
                &filter,
                &["id", "namespace", "created_at", "ttl"],
                false,
                expr,
            )
            .await
        })?;
        let mut removed = Vec::new();
        for r in rows {
            let (Some(id), Some(created), Some(ttl)) = (
                items::num(&r, "id"),
                items::num(&r, "created_at"),
                items::num(&r, "ttl"),
            ) else {
                continue;
            };
            let expired = now.saturating_sub(created) >= ttl;
            if expired && self.delete_by_id(id)? {
                let ns = match r.get("namespace") {
                    Some(AttributeValue::S(ns)) => ns.clone(),
                    _ => String::new(),
                };
                removed.push((id, ns));
            }
        }
        removed.sort_unstable();
        Ok(removed)
    }

    fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        if namespace.is_empty() {
            return Ok(0);
        }
        let rows = self.run(|db| async move {
            let expr = Expr::default()
                .name("#ns", "namespace")
                .value(":ns", s(namespace));
            db.query("gsi_hash", "#ns = :ns", &["id"], expr).await
        })?;
        let ids: Vec<i64> = rows.iter().filter_map(|r| items::num(r, "id")).collect();
        Ok(self.delete_by_ids(&ids)?.len() as u64)
    }

    fn set_namespace_quota(&self, namespace: &str, max_entries: u64) -> Result<()> {
        let q = quota_to_i64(max_entries)?;
        let expr = Expr::default().name("#ns", namespace).value(":v", n(q));
        self.run(|db| async move {
            db.update(COUNTER_ID, "SET quotas.#ns = :v", None, expr)
                .await
        })?;
        Ok(())
    }

    fn get_namespace_quota(&self, namespace: &str) -> Result<Option<u64>> {
        Ok(self
            .counter()?
            .quotas
            .get(namespace)
            .and_then(|&q| u64::try_from(q).ok()))
    }

    /// `DescribeTable` answers: the table exists and this process may use it.
    fn integrity_check(&self) -> Result<bool> {
        Ok(self
            .run(|db| async move {
                db.client
                    .describe_table()
                    .table_name(db.t.table)
                    .send()
                    .await
                    .map_err(|e| failure::backend(&db.t, "DescribeTable", e))
            })
            .is_ok())
    }

    fn scan_index_rows(&self, visit: &mut IndexRowVisitor<'_>) -> Result<()> {
        let rows =
            self.run(
                |db| async move { db.entries_after(0, &["id", "embedding", "namespace"]).await },
            )?;
        for r in rows {
            let id = items::num(&r, "id").unwrap_or(0);
            let (Some(AttributeValue::B(e)), Some(AttributeValue::S(ns))) =
                (r.get("embedding"), r.get("namespace"))
            else {
                return Err(failure::corrupt(
                    &self.table,
                    &format!("item {id} without embedding or namespace"),
                ));
            };
            visit(id, e.as_ref(), ns)?;
        }
        Ok(())
    }

    fn iter_index_keys(&self) -> Result<Vec<IndexKey>> {
        let rows =
            self.run(|db| async move { db.entries_after(0, &["id", "created_at"]).await })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(IndexKey {
                    id: items::num(r, "id")?,
                    created_at: items::num(r, "created_at"),
                })
            })
            .collect())
    }

    fn max_id(&self) -> Result<i64> {
        Ok(self
            .iter_index_keys()?
            .iter()
            .map(|k| k.id)
            .max()
            .unwrap_or(0))
    }

    fn oldest_created_at(&self) -> Result<Option<i64>> {
        Ok(self
            .iter_index_keys()?
            .iter()
            .filter_map(|k| k.created_at)
            .min())
    }

    fn snapshot_to(&self, dest: &Path) -> Result<()> {
        let _ = dest;
        Err(Error::checkpoint(
            format!("a DynamoDB-backed cache (table {:?}) cannot be dumped into a checkpoint archive", self.table),
            "back the table up with DynamoDB on-demand backup or point-in-time recovery (PITR), or \
             export it to S3 (ExportTableToPointInTime); or migrate the cache to SQLite to use dumps()",
        ))
    }
}

/// Scan segments for a table of about `bytes`: one per 64 MiB, at most 8. Each segment ends in
/// a page of its own, so small tables scan in one (fewest requests), large ones in parallel.
fn segments_for(bytes: i64) -> i32 {
    const PER_SEGMENT: i64 = 64 << 20;
    i32::try_from((bytes / PER_SEGMENT + 1).clamp(1, 8)).unwrap_or(8)
}

impl std::fmt::Debug for DynamoDbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbStore")
            .field("table", &self.table)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}
