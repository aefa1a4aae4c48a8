//! `RedisStore`: entries in Redis, in mneme-cache 1.0's key layout (docs/formats.md), so Python
//! and Rust processes can share one prefix.
//!
//! Writes that must be atomic use `WATCH`/`MULTI` (upserts) or a server-side script (the access
//! update, which must not resurrect a deleted row). 1.0's races are fixed: initialisation uses
//! `NX`, LRU ties sort by numeric id, an upsert to "no TTL" clears the old expiry, and natively
//! expired rows are swept from every index.

use super::link::{Link, Server};
use super::{check_stamp, quota_to_i64, EntryVisitor, Store, StoredEntry};
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use parking_lot::Mutex;
use redis::{Commands, Connection, Value as Reply};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Default for [`RedisStore::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for [`RedisStore::io_timeout`].
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Sets the access fields only if the entry still exists (a delete must win).
const TOUCH: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ns = redis.call('HGET', KEYS[1], 'namespace')
redis.call('HSET', KEYS[1], 'last_accessed_at', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'access_count', tonumber(ARGV[2]))
redis.call('ZADD', KEYS[2] .. ns, ARGV[1], ARGV[3])
return 1
"#;

/// Attempts at an optimistic upsert before giving up.
const MAX_RETRIES: usize = 20;

fn backend(what: &str, e: redis::RedisError) -> Error {
    Error::store_backend_with(
        format!("Redis {what} failed: {e}"),
        "check that the Redis server is reachable and the URL, credentials and database are right",
        e,
    )
}

/// A store in Redis under one key prefix.
pub struct RedisStore {
    url: String,
    prefix: String,
    use_native_ttl: bool,
    connect_timeout: Duration,
    io_timeout: Duration,
    conn: Mutex<Link<Connection>>,
}

/// Whether `e` came from a connection that can no longer be trusted (I/O error, timeout, drop):
/// a reply may be pending on it, so it must be closed, not reused.
fn connection_failed(e: &Error) -> bool {
    e.cause::<redis::RedisError>().is_some_and(|r| {
        r.is_io_error()
            || r.is_timeout()
            || r.is_connection_dropped()
            || r.is_connection_refusal()
            || r.is_unrecoverable_error()
    })
}

impl RedisStore {
    /// A store at `url` (`redis://host:port/db`) under `key_prefix` (1.0's default: `mneme`).
    /// Nothing connects until [`Store::open`].
    pub fn new(url: impl Into<String>, key_prefix: impl Into<String>) -> Self {
        RedisStore {
            url: url.into(),
            prefix: key_prefix.into(),
            use_native_ttl: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            conn: Mutex::new(Link::NotOpen),
        }
    }

    /// Whether entries with a TTL also get a native `EXPIREAT` (default true, as in 1.0).
    pub fn use_native_ttl(mut self, on: bool) -> Self {
        self.use_native_ttl = on;
        self
    }

    /// How long connecting (TCP, then AUTH/SELECT) may take before it fails (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long one command may wait to be sent or answered before it fails (default 10 s). A
    /// server that accepts connections but stops answering then gives a
    /// [`Error::StoreBackend`] instead of a hang.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    fn connect(&self) -> Result<Connection> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| {
            Error::store_backend_with(
                format!("invalid Redis URL {:?}", self.url),
                "pass a URL like redis://127.0.0.1:6379/0",
                e,
            )
        })?;
        let unreachable = |e: redis::RedisError| {
            let hint = if e.is_timeout() {
                format!(
                    "the server accepted no connection, or did not answer, within connect_timeout ({:?}): \
                     check the server and the network, or raise RedisStore::connect_timeout",
                    self.connect_timeout
                )
            } else {
                "start the Redis server or fix the URL".to_owned()
            };
            Error::store_backend_with(format!("cannot connect to Redis at {}", self.url), hint, e)
        };
        let mut c = client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(unreachable)?;
        c.set_read_timeout(Some(self.io_timeout))
            .and_then(|()| c.set_write_timeout(Some(self.io_timeout)))
            .map_err(unreachable)?;
        redis::cmd("PING")
            .query::<String>(&mut c)
            .map_err(unreachable)?;
        Ok(c)
    }

    /// Runs `f` on the connection (see [`Link`]); `idempotent` calls are retried once.
    fn run<T>(&self, idempotent: bool, f: impl FnMut(&mut Connection) -> Result<T>) -> Result<T> {
        let connect = || self.connect();
        self.conn
            .lock()
            .run(&self.server(), idempotent, connect, connection_failed, f)
    }

    fn server(&self) -> Server<'_> {
        Server {
            store: "RedisStore",
            kind: "Redis",
            address: &self.url,
            io_timeout: self.io_timeout,
        }
    }

    fn read<T>(&self, f: impl FnMut(&mut Connection) -> Result<T>) -> Result<T> {
        self.run(true, f)
    }

    fn write<T>(&self, f: impl FnMut(&mut Connection) -> Result<T>) -> Result<T> {
        self.run(false, f)
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    fn entry_from(&self, id: i64, fields: HashMap<String, Vec<u8>>) -> Result<Option<StoredEntry>> {
        let text = |k: &str| {
            fields
                .get(k)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let num = |k: &str| text(k).and_then(|s| s.trim().parse::<i64>().ok());
        let (
            Some(namespace),
            Some(query_hash),
            Some(query),
            Some(response),
            Some(embedding),
            Some(meta),
        ) = (
            text("namespace"),
            text("query_hash"),
            text("query"),
            text("response"),
            fields.get("embedding").cloned(),
            text("metadata"),
        )
        else {
            return Ok(None);
        };
        let (Some(created_at), Some(last_accessed_at)) =
            (num("created_at"), num("last_accessed_at"))
        else {
            return Ok(None);
        };
        Ok(Some(StoredEntry {
            id,
            namespace,
            query_hash,
            query,
            response,
            embedding,
            metadata: Metadata::from_json(&meta).map_err(|e| {
                Error::corrupt_cache_with(
                    format!("Redis entry {id} has unreadable metadata"),
                    "delete the entry; it was not written by mneme or mneme-cache",
                    e,
                )
            })?,
            created_at,
            last_accessed_at,
            ttl: num("ttl"),
            access_count: num("access_count").unwrap_or(0),
        }))
    }

    fn read_entry(&self, c: &mut Connection, id: i64) -> Result<Option<StoredEntry>> {
        if id <= 0 {
            return Ok(None);
        }
        let fields: HashMap<String, Vec<u8>> = c
            .hgetall(self.key(&["entry", &id.to_string()]))
            .map_err(|e| backend("HGETALL", e))?;
        if fields.is_empty() {
            return Ok(None);
        }
        self.entry_from(id, fields)
    }

    /// Finds a row's namespace even when its hash expired natively: the caller's hint, the
    /// `by_ttl` member, or a probe of every namespace's LRU set.
    fn namespace_of(
        &self,
        c: &mut Connection,
        id: i64,
        hint: Option<&str>,
    ) -> Result<Option<String>> {
        let ns: Option<String> = c
            .hget(self.key(&["entry", &id.to_string()]), "namespace")
            .map_err(|e| backend("HGET", e))?;
        if ns.is_some() {
            return Ok(ns);
        }
        if let Some(h) = hint {
            return Ok(Some(h.to_owned()));
        }
        let members: Vec<String> = c
            .zrange(self.key(&["by_ttl"]), 0, -1)
            .map_err(|e| backend("ZRANGE", e))?;
        let suffix = format!("|{id}");
        if let Some(m) = members.iter().find(|m| m.ends_with(&suffix)) {
            return Ok(Some(m[..m.len() - suffix.len()].to_owned()));
        }
        let namespaces: Vec<String> = c
            .smembers(self.key(&["namespaces"]))
            .map_err(|e| backend("SMEMBERS", e))?;
        for ns in namespaces {
            let score: Option<f64> = c
                .zscore(self.key(&["lru", &ns]), id)
                .map_err(|e| backend("ZSCORE", e))?;
            if score.is_some() {
                return Ok(Some(ns));
            }
        }
        Ok(None)
    }

    /// Removes one row and its index entries; `hint` names its namespace if known.
    fn delete_with_hint(&self, c: &mut Connection, id: i64, hint: Option<&str>) -> Result<bool> {
        let entry_key = self.key(&["entry", &id.to_string()]);
        // No row, no write (and no version bump).
        let (exists, indexed): (bool, Option<f64>) = redis::pipe()
            .exists(&entry_key)
            .zscore(self.key(&["by_id"]), id)
            .query(c)
            .map_err(|e| backend("EXISTS", e))?;
        if !exists && indexed.is_none() {
            return Ok(false);
        }
        let hash: Option<String> = c
            .hget(&entry_key, "query_hash")
            .map_err(|e| backend("HGET", e))?;
        let Some(ns) = self.namespace_of(c, id, hint)? else {
            let removed: i64 = c
                .zrem(self.key(&["by_id"]), id)
                .map_err(|e| backend("ZREM", e))?;
            return Ok(removed > 0);
        };
        let mut pipe = redis::pipe();
        pipe.atomic().del(&entry_key);
        if let Some(h) = &hash {
            let hash_key = self.key(&["hash", &ns, h]);
            let points: Option<i64> = c.get(&hash_key).map_err(|e| backend("GET", e))?;
            if points == Some(id) {
                pipe.del(hash_key);
            }
        }
        pipe.zrem(self.key(&["lru", &ns]), id)
            .zrem(self.key(&["by_ttl"]), format!("{ns}|{id}"))
            .zrem(self.key(&["by_id"]), id)
            .incr(self.key(&["version"]), 1);
        let replies: Vec<Reply> = pipe.query(c).map_err(|e| backend("MULTI delete", e))?;
        let removed = replies
            .iter()
            .take(replies.len().saturating_sub(1))
            .any(|r| matches!(r, Reply::Int(n) if *n > 0));
        let left: i64 = c
            .zcard(self.key(&["lru", &ns]))
            .map_err(|e| backend("ZCARD", e))?;
        if left == 0 {
            let _: i64 = c
                .srem(self.key(&["namespaces"]), &ns)
                .map_err(|e| backend("SREM", e))?;
        }
        Ok(removed)
    }
}

impl Store for RedisStore {
    fn open(&self, fingerprint: &str, dim: usize) -> Result<()> {
        let mut link = self.conn.lock();
        let c = link.connected(&self.server(), || self.connect())?;
        let meta = self.key(&["meta"]);
        let (fp, d): (Option<String>, Option<String>) = redis::pipe()
            .atomic()
            .hset_nx(&meta, "embedder_fingerprint", fingerprint)
            .ignore()
            .hset_nx(&meta, "embedder_dim", dim.to_string())
            .ignore()
            .hset_nx(&meta, "schema_version", "1")
            .ignore()
            .hget(&meta, "embedder_fingerprint")
            .hget(&meta, "embedder_dim")
            .query(c)
            .map_err(|e| backend("stamping the embedder", e))?;
        check_stamp(fp.as_deref(), d.as_deref(), fingerprint, dim)?;
        redis::pipe()
            .set_nx(self.key(&["version"]), "0")
            .ignore()
            .set_nx(self.key(&["next_id"]), "0")
            .ignore()
            .query::<()>(c)
            .map_err(|e| backend("initialising counters", e))
    }

    fn close(&self) -> Result<()> {
        *self.conn.lock() = Link::Closed;
        Ok(())
    }

    fn get_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
        self.read(|c| {
            let id: Option<i64> = c
                .get(self.key(&["hash", namespace, query_hash]))
                .map_err(|e| backend("GET", e))?;
            match id {
                Some(id) => self.read_entry(c, id),
                None => Ok(None),
            }
        })
    }

    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>> {
        self.read(|c| self.read_entry(c, id))
    }

    fn count(&self, namespace: Option<&str>) -> Result<u64> {
        self.read(|c| {
            let key = match namespace {
                None => self.key(&["by_id"]),
                Some(ns) => self.key(&["lru", ns]),
            };
            c.zcard(key).map_err(|e| backend("ZCARD", e))
        })
    }

    fn list_namespaces(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut v: Vec<String> = c
                .smembers(self.key(&["namespaces"]))
                .map_err(|e| backend("SMEMBERS", e))?;
            v.sort();
            Ok(v)
        })
    }

    fn iter_lru_ids(&self, n: usize, namespace: Option<&str>) -> Result<Vec<i64>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let namespaces = match namespace {
            Some(ns) => vec![ns.to_owned()],
            None => self.list_namespaces()?,
        };
        self.read(|c| {
            let mut all: Vec<(f64, i64)> = Vec::new();
            for ns in &namespaces {
                let key = self.key(&["lru", ns]);
                let first: Vec<(String, f64)> = c
                    .zrange_withscores(&key, 0, n as isize - 1)
                    .map_err(|e| backend("ZRANGE", e))?;
                let Some(&(_, last)) = first.last() else {
                    continue;
                };
                // Redis orders equal scores lexically ("10" before "9"): take every tie of the
                // n-th score, then sort numerically.
                let ties: Vec<(String, f64)> = c
                    .zrangebyscore_withscores(&key, last, last)
                    .map_err(|e| backend("ZRANGEBYSCORE", e))?;
                for (m, s) in first.into_iter().chain(ties) {
                    if let Ok(id) = m.parse::<i64>() {
                        all.push((s, id));
                    }
                }
            }
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            all.dedup();
            Ok(all.into_iter().take(n).map(|(_, id)| id).collect())
        })
    }

    fn scan_since(&self, last_id: i64, visit: &mut EntryVisitor<'_>) -> Result<()> {
        let ids: Vec<i64> = self.read(|c| {
            c.zrangebyscore(self.key(&["by_id"]), format!("({last_id}"), "+inf")
                .map_err(|e| backend("ZRANGEBYSCORE", e))
        })?;
        for chunk in ids.chunks(256) {
            let rows: Vec<StoredEntry> = self.read(|c| {
                let mut pipe = redis::pipe();
                for id in chunk {
                    pipe.hgetall(self.key(&["entry", &id.to_string()]));
                }
                let all: Vec<HashMap<String, Vec<u8>>> =
                    pipe.query(c).map_err(|e| backend("HGETALL", e))?;
                let mut rows = Vec::new();
                for (id, fields) in chunk.iter().zip(all) {
                    if let Some(e) = self.entry_from(*id, fields)? {
                        rows.push(e);
                    }
                }
                Ok(rows)
            })?;
            rows.into_iter().try_for_each(&mut *visit)?;
        }
        Ok(())
    }

    fn insert(&self, e: &StoredEntry) -> Result<i64> {
        let hash_key = self.key(&["hash", &e.namespace, &e.query_hash]);
        let metadata = e.metadata.to_json();
        self.write(|c| {
            for _ in 0..MAX_RETRIES {
                redis::cmd("WATCH")
                    .arg(&hash_key)
                    .query::<()>(c)
                    .map_err(|err| backend("WATCH", err))?;
                let existing: Option<i64> = c.get(&hash_key).map_err(|err| backend("GET", err))?;
                let id = match existing {
                    Some(id) => id,
                    None => c
                        .incr(self.key(&["next_id"]), 1)
                        .map_err(|err| backend("INCR", err))?,
                };
                let entry_key = self.key(&["entry", &id.to_string()]);
                let member = format!("{}|{id}", e.namespace);
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .hset_multiple(
                        &entry_key,
                        &[
                            ("namespace", e.namespace.as_bytes().to_vec()),
                            ("query_hash", e.query_hash.as_bytes().to_vec()),
                            ("query", e.query.as_bytes().to_vec()),
                            ("response", e.response.as_bytes().to_vec()),
                            ("embedding", e.embedding.clone()),
                            ("metadata", metadata.as_bytes().to_vec()),
                            ("created_at", e.created_at.to_string().into_bytes()),
                            (
                                "last_accessed_at",
                                e.last_accessed_at.to_string().into_bytes(),
                            ),
                            (
                                "ttl",
                                e.ttl
                                    .map(|t| t.to_string())
                                    .unwrap_or_default()
                                    .into_bytes(),
                            ),
                            ("access_count", e.access_count.to_string().into_bytes()),
                        ],
                    )
                    .ignore()
                    .set(&hash_key, id)
                    .ignore()
                    .zadd(self.key(&["lru", &e.namespace]), id, e.last_accessed_at)
                    .ignore()
                    .zadd(self.key(&["by_id"]), id, id)
                    .ignore()
                    .zrem(self.key(&["by_ttl"]), &member)
                    .ignore();
                match e.ttl {
                    Some(ttl) => {
                        let expires = e.created_at.saturating_add(ttl);
                        pipe.zadd(self.key(&["by_ttl"]), &member, expires).ignore();
                        // Redis refuses an expiry past i64::MAX milliseconds; such a row never
                        // expires in practice, so it gets none.
                        if self.use_native_ttl && expires < i64::MAX / 1000 {
                            pipe.expire_at(&entry_key, expires).ignore();
                        } else {
                            pipe.persist(&entry_key).ignore();
                        }
                    }
                    None => {
                        pipe.persist(&entry_key).ignore();
                    }
                }
                pipe.sadd(self.key(&["namespaces"]), &e.namespace)
                    .ignore()
                    .incr(self.key(&["version"]), 1)
                    .ignore();
                let done: Option<()> = pipe.query(c).map_err(|err| backend("MULTI insert", err))?;
                if done.is_some() {
                    return Ok(id);
                }
            }
            Err(Error::store_backend(
                format!("Redis upsert lost the race {MAX_RETRIES} times"),
                "reduce concurrent writes to the same query, or retry the put",
            ))
        })
    }

    fn update_access(&self, id: i64, now: i64) -> Result<()> {
        self.write(|c| {
            redis::Script::new(TOUCH)
                .key(self.key(&["entry", &id.to_string()]))
                .key(self.key(&["lru", ""]))
                .arg(now)
                .arg(1)
                .arg(id)
                .invoke::<i64>(c)
                .map(drop)
                .map_err(|e| backend("update_access", e))
        })
    }

    fn update_access_batch(&self, updates: &[super::AccessUpdate]) -> Result<()> {
        self.write(|c| {
            let script = redis::Script::new(TOUCH);
            for u in updates {
                script
                    .key(self.key(&["entry", &u.id.to_string()]))
                    .key(self.key(&["lru", ""]))
                    .arg(u.last_accessed_at)
                    .arg(u.hits)
                    .arg(u.id)
                    .invoke::<i64>(c)
                    .map_err(|e| backend("update_access", e))?;
            }
            Ok(())
        })
    }

    fn delete_by_id(&self, id: i64) -> Result<bool> {
        self.write(|c| self.delete_with_hint(c, id, None))
    }

    fn delete_expired(&self, now: i64, namespace: Option<&str>) -> Result<u64> {
        Ok(self.delete_expired_ids(now, namespace)?.len() as u64)
    }

    fn delete_expired_ids(&self, now: i64, namespace: Option<&str>) -> Result<Vec<(i64, String)>> {
        self.write(|c| {
            let members: Vec<String> = c
                .zrangebyscore(self.key(&["by_ttl"]), "-inf", now)
                .map_err(|e| backend("ZRANGEBYSCORE", e))?;
            let mut removed = Vec::new();
            for m in members {
                let Some((ns, id)) = m.rsplit_once('|') else {
                    continue;
                };
                let Ok(id) = id.parse::<i64>() else { continue };
                if namespace.is_some_and(|want| want != ns) {
                    continue;
                }
                // Scores are doubles, exact only up to 2^53: the row's own fields decide.
                let (created_at, ttl): (Option<i64>, Option<i64>) = c
                    .hget(
                        self.key(&["entry", &id.to_string()]),
                        &["created_at", "ttl"],
                    )
                    .map_err(|e| backend("HMGET", e))?;
                if let (Some(created_at), Some(ttl)) = (created_at, ttl) {
                    if now.saturating_sub(created_at) < ttl {
                        continue;
                    }
                }
                if self.delete_with_hint(c, id, Some(ns))? {
                    removed.push((id, ns.to_owned()));
                }
            }
            Ok(removed)
        })
    }

    fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        self.write(|c| {
            let ids: Vec<i64> = c
                .zrange(self.key(&["lru", namespace]), 0, -1)
                .map_err(|e| backend("ZRANGE", e))?;
            let mut n = 0;
            for id in ids {
                n += self.delete_with_hint(c, id, Some(namespace))? as u64;
            }
            Ok(n)
        })
    }

    fn set_namespace_quota(&self, namespace: &str, max_entries: u64) -> Result<()> {
        let q = quota_to_i64(max_entries)?;
        self.write(|c| {
            c.set(self.key(&["quota", namespace]), q)
                .map_err(|e| backend("SET", e))
        })
    }

    fn get_namespace_quota(&self, namespace: &str) -> Result<Option<u64>> {
        self.read(|c| {
            let q: Option<i64> = c
                .get(self.key(&["quota", namespace]))
                .map_err(|e| backend("GET", e))?;
            Ok(q.map(|q| q.max(0) as u64))
        })
    }

    fn read_version_counter(&self) -> Result<u64> {
        self.read(|c| {
            let v: Option<i64> = c
                .get(self.key(&["version"]))
                .map_err(|e| backend("GET", e))?;
            Ok(v.unwrap_or(0).max(0) as u64)
        })
    }

    fn read_meta(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            c.hget(self.key(&["meta"]), key)
                .map_err(|e| backend("HGET", e))
        })
    }

    fn write_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write(|c| {
            c.hset(self.key(&["meta"]), key, value)
                .map_err(|e| backend("HSET", e))
        })
    }

    fn integrity_check(&self) -> Result<bool> {
        self.read(|c| Ok(redis::cmd("PING").query::<String>(c).is_ok()))
    }

    fn snapshot_to(&self, _dest: &Path) -> Result<()> {
        Err(Error::checkpoint(
            "RedisStore cannot snapshot into a checkpoint",
            "use Redis-native persistence (redis-cli BGSAVE / RDB files) to back up the prefix",
        ))
    }

    fn label(&self) -> String {
        "redis".into()
    }
}
