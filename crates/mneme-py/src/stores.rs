//! Stores across the boundary: the native `MemoryStore` and `SQLiteStore` as Python classes
//! (usable directly, store-level API and all), and any Python object that follows the Store
//! protocol as the engine's store.

use crate::errors::{IntoPy, PyCallbackError};
use crate::metadata::{metadata_from_py, metadata_to_py};
use mneme::store::{
    EntryVisitor, IndexRowVisitor, MemoryStore, SqliteOptions, SqliteStore, Store, StoredEntry,
};
use mneme::Error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A `mneme._types.StoredEntry` from an engine entry.
pub fn entry_to_py<'py>(py: Python<'py>, e: &StoredEntry) -> PyResult<Bound<'py, PyAny>> {
    let class = py.import("mneme._types")?.getattr("StoredEntry")?;
    class.call1((
        e.id,
        &e.namespace,
        &e.query_hash,
        &e.query,
        &e.response,
        PyBytes::new(py, &e.embedding),
        metadata_to_py(py, &e.metadata)?,
        e.created_at,
        e.last_accessed_at,
        e.ttl,
        e.access_count,
    ))
}

/// An engine entry from any object with StoredEntry's attributes.
pub fn entry_from_py(obj: &Bound<'_, PyAny>) -> PyResult<StoredEntry> {
    let py = obj.py();
    Ok(StoredEntry {
        id: obj.getattr("id")?.extract()?,
        namespace: obj.getattr("namespace")?.extract()?,
        query_hash: obj.getattr("query_hash")?.extract()?,
        query: obj.getattr("query")?.extract()?,
        response: obj.getattr("response")?.extract()?,
        embedding: obj.getattr("embedding")?.extract()?,
        metadata: metadata_from_py(py, Some(&obj.getattr("metadata")?))?,
        created_at: obj.getattr("created_at")?.extract()?,
        last_accessed_at: obj.getattr("last_accessed_at")?.extract()?,
        ttl: obj.getattr("ttl")?.extract()?,
        access_count: obj.getattr("access_count")?.extract()?,
    })
}

fn entries_to_py<'py>(py: Python<'py>, rows: &[StoredEntry]) -> PyResult<Bound<'py, PyAny>> {
    let list = PyList::empty(py);
    for e in rows {
        list.append(entry_to_py(py, e)?)?;
    }
    list.call_method0("__iter__")
}

fn non_negative(what: &str, v: i64) -> PyResult<u64> {
    u64::try_from(v).map_err(|_| PyValueError::new_err(format!("{what} must be >= 0, got {v}")))
}

/// The store-level API (1.0's Store protocol), for a pyclass with `inner: Arc<impl Store>`.
macro_rules! store_methods {
    ($class:ident) => {
        #[pymethods]
        impl $class {
            fn open(
                &self,
                py: Python<'_>,
                embedder_fingerprint: String,
                embedder_dim: usize,
            ) -> PyResult<()> {
                let s = self.inner.clone();
                py.detach(move || s.open(&embedder_fingerprint, embedder_dim))
                    .py()
            }
            fn close(&self, py: Python<'_>) -> PyResult<()> {
                let s = self.inner.clone();
                py.detach(move || s.close()).py()
            }
            fn get_by_hash<'py>(
                &self,
                py: Python<'py>,
                namespace: String,
                query_hash: String,
            ) -> PyResult<Option<Bound<'py, PyAny>>> {
                let s = self.inner.clone();
                let e = py
                    .detach(move || s.get_by_hash(&namespace, &query_hash))
                    .py()?;
                e.map(|e| entry_to_py(py, &e)).transpose()
            }
            fn get_by_id<'py>(
                &self,
                py: Python<'py>,
                id: i64,
            ) -> PyResult<Option<Bound<'py, PyAny>>> {
                let s = self.inner.clone();
                let e = py.detach(move || s.get_by_id(id)).py()?;
                e.map(|e| entry_to_py(py, &e)).transpose()
            }
            #[pyo3(signature = (namespace=None))]
            fn count(&self, py: Python<'_>, namespace: Option<String>) -> PyResult<u64> {
                let s = self.inner.clone();
                py.detach(move || s.count(namespace.as_deref())).py()
            }
            fn list_namespaces(&self, py: Python<'_>) -> PyResult<Vec<String>> {
                let s = self.inner.clone();
                py.detach(move || s.list_namespaces()).py()
            }
            #[pyo3(signature = (n, namespace=None))]
            fn iter_lru_ids<'py>(
                &self,
                py: Python<'py>,
                n: i64,
                namespace: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let s = self.inner.clone();
                let n = usize::try_from(n).unwrap_or(0);
                let ids = py
                    .detach(move || s.iter_lru_ids(n, namespace.as_deref()))
                    .py()?;
                PyList::new(py, ids)?.call_method0("__iter__")
            }
            fn iter_all<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let s = self.inner.clone();
                let rows = py.detach(move || s.iter_all()).py()?;
                entries_to_py(py, &rows)
            }
            fn iter_since<'py>(
                &self,
                py: Python<'py>,
                last_id: i64,
            ) -> PyResult<Bound<'py, PyAny>> {
                let s = self.inner.clone();
                let rows = py.detach(move || s.iter_since(last_id)).py()?;
                entries_to_py(py, &rows)
            }
            fn iter_index_rows<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let s = self.inner.clone();
                let mut rows: Vec<(i64, Vec<u8>, String)> = Vec::new();
                py.detach(|| {
                    s.scan_index_rows(&mut |id, bytes, ns| {
                        rows.push((id, bytes.to_vec(), ns.to_owned()));
                        Ok(())
                    })
                })
                .py()?;
                let list = PyList::empty(py);
                for (id, bytes, ns) in rows {
                    list.append((id, PyBytes::new(py, &bytes), ns))?;
                }
                list.call_method0("__iter__")
            }
            fn insert(&self, py: Python<'_>, entry: &Bound<'_, PyAny>) -> PyResult<i64> {
                let e = entry_from_py(entry)?;
                let s = self.inner.clone();
                py.detach(move || s.insert(&e)).py()
            }
            fn update_access(&self, py: Python<'_>, id: i64, now: i64) -> PyResult<()> {
                let s = self.inner.clone();
                py.detach(move || s.update_access(id, now)).py()
            }
            fn delete_by_id(&self, py: Python<'_>, id: i64) -> PyResult<bool> {
                let s = self.inner.clone();
                py.detach(move || s.delete_by_id(id)).py()
            }
            #[pyo3(signature = (now, namespace=None))]
            fn delete_expired(
                &self,
                py: Python<'_>,
                now: i64,
                namespace: Option<String>,
            ) -> PyResult<u64> {
                let s = self.inner.clone();
                py.detach(move || s.delete_expired(now, namespace.as_deref()))
                    .py()
            }
            fn clear_namespace(&self, py: Python<'_>, namespace: String) -> PyResult<u64> {
                let s = self.inner.clone();
                py.detach(move || s.clear_namespace(&namespace)).py()
            }
            fn set_namespace_quota(
                &self,
                py: Python<'_>,
                namespace: String,
                max_entries: i64,
            ) -> PyResult<()> {
                let max = non_negative("max_entries", max_entries)?;
                let s = self.inner.clone();
                py.detach(move || s.set_namespace_quota(&namespace, max))
                    .py()
            }
            fn get_namespace_quota(
                &self,
                py: Python<'_>,
                namespace: String,
            ) -> PyResult<Option<u64>> {
                let s = self.inner.clone();
                py.detach(move || s.get_namespace_quota(&namespace)).py()
            }
            fn read_version_counter(&self, py: Python<'_>) -> PyResult<u64> {
                let s = self.inner.clone();
                py.detach(move || s.read_version_counter()).py()
            }
            fn read_meta(&self, py: Python<'_>, key: String) -> PyResult<Option<String>> {
                let s = self.inner.clone();
                py.detach(move || s.read_meta(&key)).py()
            }
            fn write_meta(&self, py: Python<'_>, key: String, value: String) -> PyResult<()> {
                let s = self.inner.clone();
                py.detach(move || s.write_meta(&key, &value)).py()
            }
            fn integrity_check(&self, py: Python<'_>) -> PyResult<bool> {
                let s = self.inner.clone();
                py.detach(move || s.integrity_check()).py()
            }
            fn snapshot_to(&self, py: Python<'_>, dest_path: PathBuf) -> PyResult<()> {
                let s = self.inner.clone();
                py.detach(move || s.snapshot_to(&dest_path)).py()
            }
        }
    };
}

/// `MemoryStore(*, max_entries=None)`.
#[pyclass(module = "mneme._store_memory", name = "MemoryStore", frozen)]
pub struct PyMemoryStore {
    pub inner: Arc<MemoryStore>,
}

#[pymethods]
impl PyMemoryStore {
    #[new]
    #[pyo3(signature = (*, max_entries=None))]
    fn new(max_entries: Option<i64>) -> PyResult<Self> {
        let cap = max_entries
            .map(|n| non_negative("max_entries", n).map(|n| n as usize))
            .transpose()?;
        Ok(PyMemoryStore {
            inner: Arc::new(MemoryStore::with_max_entries(cap)),
        })
    }

    /// Memory stores cannot be restored from a file (compat: CheckpointError).
    #[staticmethod]
    fn restore_from(source_path: PathBuf, dest_path: PathBuf) -> PyResult<()> {
        let _ = (source_path, dest_path);
        Err(crate::errors::to_py(Error::checkpoint(
            "MemoryStore cannot restore from a snapshot",
            "use SemanticCache.loads(), which restores into a SQLite file",
        )))
    }
}

store_methods!(PyMemoryStore);

/// `SQLiteStore(path, *, timeout=5.0, cache_size_kb=10000)`.
#[pyclass(module = "mneme._store_sqlite", name = "SQLiteStore", frozen)]
pub struct PySqliteStore {
    pub inner: Arc<dyn Store>,
    path: PathBuf,
}

impl PySqliteStore {
    /// A store on `path` with the default connection options.
    pub fn at(path: PathBuf) -> Self {
        Self::of(Arc::new(SqliteStore::new(path.clone())), path)
    }

    /// A handle on a SQLite store the engine already holds (a restored cache's).
    pub fn of(inner: Arc<dyn Store>, path: PathBuf) -> Self {
        PySqliteStore { inner, path }
    }
}

#[pymethods]
impl PySqliteStore {
    #[new]
    #[pyo3(signature = (path, *, timeout=5.0, cache_size_kb=10_000))]
    fn new(path: PathBuf, timeout: f64, cache_size_kb: i64) -> PyResult<Self> {
        if !(timeout.is_finite() && timeout >= 0.0) {
            return Err(PyValueError::new_err(format!(
                "timeout must be a finite number >= 0, got {timeout}"
            )));
        }
        let options = SqliteOptions {
            timeout: Duration::from_secs_f64(timeout),
            cache_size_kb,
            ..SqliteOptions::default()
        };
        Ok(PySqliteStore::of(
            Arc::new(SqliteStore::with_options(path.clone(), options)),
            path,
        ))
    }

    /// Copies a snapshot file to `dest_path` (0600) and returns an unopened store there.
    #[staticmethod]
    fn restore_from(py: Python<'_>, source_path: PathBuf, dest_path: PathBuf) -> PyResult<Self> {
        let path = dest_path.clone();
        let store = py
            .detach(move || SqliteStore::restore_from(&source_path, dest_path))
            .py()?;
        Ok(PySqliteStore::of(Arc::new(store), path))
    }

    /// The database path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The database path under the private name mneme-cache 1.0 code reaches for.
    #[getter]
    fn _path(&self) -> PathBuf {
        self.path.clone()
    }
}

store_methods!(PySqliteStore);

/// `RedisStore(*, url=None, client=None, key_prefix="mneme", use_native_ttl=True)`.
#[pyclass(module = "mneme._store_redis", name = "RedisStore", frozen)]
pub struct PyRedisStore {
    pub inner: Arc<mneme::store::RedisStore>,
}

/// A redis-py client's `socket_connect_timeout` and `socket_timeout`, if set.
fn timeouts_of_client(client: &Bound<'_, PyAny>) -> PyResult<(Option<Duration>, Option<Duration>)> {
    let kwargs = client
        .getattr("connection_pool")?
        .getattr("connection_kwargs")?;
    let seconds = |k: &str| -> Option<Duration> {
        let v: f64 = kwargs.get_item(k).ok()?.extract().ok()?;
        Duration::try_from_secs_f64(v).ok().filter(|d| !d.is_zero())
    };
    Ok((seconds("socket_connect_timeout"), seconds("socket_timeout")))
}

/// A redis-py client's connection settings as a URL (the engine speaks to Redis itself).
fn url_of_client(client: &Bound<'_, PyAny>) -> PyResult<String> {
    let kwargs = client
        .getattr("connection_pool")?
        .getattr("connection_kwargs")?;
    let get = |k: &str| -> PyResult<Option<String>> {
        match kwargs.get_item(k) {
            Ok(v) if !v.is_none() => Ok(Some(v.str()?.extract()?)),
            _ => Ok(None),
        }
    };
    let db = get("db")?.unwrap_or_else(|| "0".into());
    if let Some(path) = get("path")? {
        return Ok(format!("redis+unix://{path}?db={db}"));
    }
    let host = get("host")?.unwrap_or_else(|| "localhost".into());
    let port = get("port")?.unwrap_or_else(|| "6379".into());
    let auth = match (get("username")?, get("password")?) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        (None, Some(p)) => format!(":{p}@"),
        _ => String::new(),
    };
    Ok(format!("redis://{auth}{host}:{port}/{db}"))
}

#[pymethods]
impl PyRedisStore {
    #[new]
    #[pyo3(signature = (*, url=None, client=None, key_prefix="mneme", use_native_ttl=true))]
    fn new(
        url: Option<String>,
        client: Option<&Bound<'_, PyAny>>,
        key_prefix: &str,
        use_native_ttl: bool,
    ) -> PyResult<Self> {
        let (url, (connect_timeout, io_timeout)) = match (url, client) {
            (Some(u), None) => (u, (None, None)),
            (None, Some(c)) => (url_of_client(c)?, timeouts_of_client(c)?),
            _ => {
                return Err(PyValueError::new_err(
                    "RedisStore needs exactly one of url or client",
                ))
            }
        };
        let mut store =
            mneme::store::RedisStore::new(url, key_prefix).use_native_ttl(use_native_ttl);
        if let Some(d) = connect_timeout {
            store = store.connect_timeout(d);
        }
        if let Some(d) = io_timeout {
            store = store.io_timeout(d);
        }
        Ok(PyRedisStore {
            inner: Arc::new(store),
        })
    }

    /// Redis stores cannot be restored from a file (compat: CheckpointError).
    #[staticmethod]
    fn restore_from(source_path: PathBuf, dest_path: PathBuf) -> PyResult<()> {
        let _ = (source_path, dest_path);
        Err(crate::errors::to_py(Error::checkpoint(
            "RedisStore cannot restore from a snapshot",
            "use Redis-native persistence (RDB files) to restore a prefix",
        )))
    }
}

store_methods!(PyRedisStore);

/// `PostgresStore(dsn=None, *, connection=None, pool=None, schema="mneme")`.
#[pyclass(module = "mneme._store_postgres", name = "PostgresStore", frozen)]
pub struct PyPostgresStore {
    pub inner: Arc<mneme::store::PostgresStore>,
}

/// Connection settings of a psycopg 3 connection (`info`), a psycopg2 connection
/// (`get_dsn_parameters()`) or a pool (`conninfo`), as a DSN the engine can use. Only the
/// portable keys are kept: libpq-only ones (`hostaddr`, `sslcertmode`…) would be refused.
fn dsn_of(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    const KEYS: [&str; 5] = ["host", "port", "user", "password", "dbname"];
    let mut parts = Vec::new();
    let mut push = |k: &str, v: Bound<'_, PyAny>| -> PyResult<()> {
        if !v.is_none() {
            let text: String = v.str()?.extract()?;
            if !text.is_empty() {
                parts.push(format!(
                    "{k}='{}'",
                    text.replace('\\', "\\\\").replace('\'', "\\'")
                ));
            }
        }
        Ok(())
    };
    if let Ok(info) = obj.getattr("info") {
        for k in KEYS {
            if let Ok(v) = info.getattr(k) {
                push(k, v)?;
            }
        }
        return Ok(parts.join(" "));
    }
    if let Ok(params) = obj.call_method0("get_dsn_parameters") {
        for k in KEYS {
            if let Ok(v) = params.get_item(k) {
                push(k, v)?;
            }
        }
        return Ok(parts.join(" "));
    }
    if let Ok(v) = obj.getattr("conninfo") {
        return v.extract();
    }
    Err(PyValueError::new_err(
        "cannot read connection settings from this connection or pool; pass dsn=",
    ))
}

#[pymethods]
impl PyPostgresStore {
    #[new]
    #[pyo3(signature = (dsn=None, *, connection=None, pool=None, schema="mneme"))]
    fn new(
        dsn: Option<String>,
        connection: Option<&Bound<'_, PyAny>>,
        pool: Option<&Bound<'_, PyAny>>,
        schema: &str,
    ) -> PyResult<Self> {
        let dsn = match (dsn, connection, pool) {
            (Some(d), None, None) => d,
            (None, Some(c), None) => dsn_of(c)?,
            (None, None, Some(p)) => dsn_of(p)?,
            _ => {
                return Err(PyValueError::new_err(
                    "PostgresStore needs exactly one of dsn, connection or pool",
                ))
            }
        };
        let store = mneme::store::PostgresStore::new(dsn, schema).py()?;
        Ok(PyPostgresStore {
            inner: Arc::new(store),
        })
    }

    /// Postgres stores cannot be restored from a file (compat: CheckpointError).
    #[staticmethod]
    fn restore_from(source_path: PathBuf, dest_path: PathBuf) -> PyResult<()> {
        let _ = (source_path, dest_path);
        Err(crate::errors::to_py(Error::checkpoint(
            "PostgresStore cannot restore from a snapshot",
            "use pg_restore with a pg_dump of the schema",
        )))
    }
}

store_methods!(PyPostgresStore);

/// `DynamoDBStore(table_name, *, region_name=None, endpoint_url=None, aws_profile=None,
/// create_table=False, billing_mode="PAY_PER_REQUEST", provisioned_capacity=None)`.
#[pyclass(module = "mneme._store_dynamodb", name = "DynamoDBStore", frozen)]
pub struct PyDynamoDbStore {
    pub inner: Arc<mneme::store::DynamoDbStore>,
}

#[pymethods]
impl PyDynamoDbStore {
    #[new]
    #[pyo3(signature = (table_name, *, region_name=None, endpoint_url=None, aws_profile=None,
        create_table=false, billing_mode="PAY_PER_REQUEST", provisioned_capacity=None))]
    fn new(
        table_name: String,
        region_name: Option<String>,
        endpoint_url: Option<String>,
        aws_profile: Option<String>,
        create_table: bool,
        billing_mode: &str,
        provisioned_capacity: Option<(i64, i64)>,
    ) -> PyResult<Self> {
        use mneme::store::{Billing, DynamoDbStore};
        // 1.0's ValueErrors, in its order.
        if table_name.is_empty() {
            return Err(PyValueError::new_err(
                "DynamoDBStore: table_name must be a non-empty string. Remediation: pass the DynamoDB table name.",
            ));
        }
        let billing = match (billing_mode, provisioned_capacity) {
            ("PROVISIONED", Some((read, write))) => Billing::Provisioned { read, write },
            ("PROVISIONED", None) => return Err(PyValueError::new_err(
                "DynamoDBStore: provisioned_capacity=(rcu, wcu) is required when billing_mode='PROVISIONED'. Remediation: pass a tuple, or use billing_mode='PAY_PER_REQUEST'.",
            )),
            ("PAY_PER_REQUEST", None) => Billing::PayPerRequest,
            ("PAY_PER_REQUEST", Some(_)) => return Err(PyValueError::new_err(
                "DynamoDBStore: provisioned_capacity is only valid with billing_mode='PROVISIONED'. Remediation: drop the parameter or set billing_mode='PROVISIONED'.",
            )),
            (other, _) => return Err(PyValueError::new_err(format!(
                "DynamoDBStore: billing_mode {other:?} is not 'PAY_PER_REQUEST' or 'PROVISIONED'. Remediation: pass one of them."
            ))),
        };
        let mut store = DynamoDbStore::new(table_name)
            .py()?
            .create_table(create_table)
            .billing(billing);
        if let Some(r) = region_name {
            store = store.region(r);
        }
        if let Some(u) = endpoint_url {
            store = store.endpoint_url(u);
        }
        if let Some(p) = aws_profile {
            store = store.profile(p);
        }
        Ok(PyDynamoDbStore {
            inner: Arc::new(store),
        })
    }

    /// DynamoDB tables are restored by AWS, not from a file (compat: CheckpointError).
    #[staticmethod]
    fn restore_from(source_path: PathBuf, dest_path: PathBuf) -> PyResult<()> {
        let _ = (source_path, dest_path);
        Err(crate::errors::to_py(Error::checkpoint(
            "DynamoDBStore cannot restore from a snapshot",
            "restore the table with DynamoDB on-demand backup or point-in-time recovery (PITR)",
        )))
    }
}

store_methods!(PyDynamoDbStore);

/// A duck-typed Python store (1.0's Store protocol) as the engine's store.
pub struct PyStore {
    obj: Py<PyAny>,
    label: String,
    has_index_rows: bool,
}

impl PyStore {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let class: String = obj.get_type().name()?.extract()?;
        let label = class.strip_suffix("Store").unwrap_or(&class).to_lowercase();
        Ok(PyStore {
            obj: obj.clone().unbind(),
            label,
            has_index_rows: obj.hasattr("iter_index_rows")?,
        })
    }

    fn call<T>(
        &self,
        method: &str,
        f: impl FnOnce(&Bound<'_, PyAny>) -> PyResult<T>,
    ) -> mneme::Result<T> {
        Python::attach(|py| f(self.obj.bind(py))).map_err(|e| {
            Error::store_backend_with(
                format!("the store's {method}() raised"),
                "see the chained exception raised by the custom store",
                PyCallbackError(e),
            )
        })
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Store for PyStore {
    fn open(&self, fingerprint: &str, dim: usize) -> mneme::Result<()> {
        self.call("open", |o| {
            o.call_method1("open", (fingerprint, dim)).map(drop)
        })
    }
    fn close(&self) -> mneme::Result<()> {
        self.call("close", |o| o.call_method0("close").map(drop))
    }
    fn get_by_hash(&self, namespace: &str, query_hash: &str) -> mneme::Result<Option<StoredEntry>> {
        self.call("get_by_hash", |o| {
            let r = o.call_method1("get_by_hash", (namespace, query_hash))?;
            if r.is_none() {
                Ok(None)
            } else {
                entry_from_py(&r).map(Some)
            }
        })
    }
    fn get_by_id(&self, id: i64) -> mneme::Result<Option<StoredEntry>> {
        self.call("get_by_id", |o| {
            let r = o.call_method1("get_by_id", (id,))?;
            if r.is_none() {
                Ok(None)
            } else {
                entry_from_py(&r).map(Some)
            }
        })
    }
    fn count(&self, namespace: Option<&str>) -> mneme::Result<u64> {
        self.call("count", |o| {
            o.call_method1("count", (namespace,))?.extract()
        })
    }
    fn list_namespaces(&self) -> mneme::Result<Vec<String>> {
        self.call("list_namespaces", |o| {
            o.call_method0("list_namespaces")?.extract()
        })
    }
    fn iter_lru_ids(&self, n: usize, namespace: Option<&str>) -> mneme::Result<Vec<i64>> {
        self.call("iter_lru_ids", |o| {
            o.call_method1("iter_lru_ids", (n, namespace))?
                .try_iter()?
                .map(|i| i?.extract())
                .collect()
        })
    }
    fn scan_since(&self, last_id: i64, visit: &mut EntryVisitor<'_>) -> mneme::Result<()> {
        let rows: Vec<StoredEntry> = self.call("iter_since", |o| {
            o.call_method1("iter_since", (last_id,))?
                .try_iter()?
                .map(|e| entry_from_py(&e?))
                .collect()
        })?;
        rows.into_iter().try_for_each(visit)
    }
    fn insert(&self, entry: &StoredEntry) -> mneme::Result<i64> {
        self.call("insert", |o| {
            let py = o.py();
            o.call_method1("insert", (entry_to_py(py, entry)?,))?
                .extract()
        })
    }
    fn update_access(&self, id: i64, now: i64) -> mneme::Result<()> {
        self.call("update_access", |o| {
            o.call_method1("update_access", (id, now)).map(drop)
        })
    }
    fn delete_by_id(&self, id: i64) -> mneme::Result<bool> {
        self.call("delete_by_id", |o| {
            o.call_method1("delete_by_id", (id,))?.is_truthy()
        })
    }
    fn delete_expired(&self, now: i64, namespace: Option<&str>) -> mneme::Result<u64> {
        self.call("delete_expired", |o| {
            o.call_method1("delete_expired", (now, namespace))?
                .extract()
        })
    }
    fn clear_namespace(&self, namespace: &str) -> mneme::Result<u64> {
        self.call("clear_namespace", |o| {
            o.call_method1("clear_namespace", (namespace,))?.extract()
        })
    }
    fn set_namespace_quota(&self, namespace: &str, max_entries: u64) -> mneme::Result<()> {
        self.call("set_namespace_quota", |o| {
            o.call_method1("set_namespace_quota", (namespace, max_entries))
                .map(drop)
        })
    }
    fn get_namespace_quota(&self, namespace: &str) -> mneme::Result<Option<u64>> {
        self.call("get_namespace_quota", |o| {
            o.call_method1("get_namespace_quota", (namespace,))?
                .extract()
        })
    }
    fn read_version_counter(&self) -> mneme::Result<u64> {
        self.call("read_version_counter", |o| {
            o.call_method0("read_version_counter")?.extract()
        })
    }
    fn read_meta(&self, key: &str) -> mneme::Result<Option<String>> {
        self.call("read_meta", |o| {
            o.call_method1("read_meta", (key,))?.extract()
        })
    }
    fn write_meta(&self, key: &str, value: &str) -> mneme::Result<()> {
        self.call("write_meta", |o| {
            o.call_method1("write_meta", (key, value)).map(drop)
        })
    }
    fn integrity_check(&self) -> mneme::Result<bool> {
        self.call("integrity_check", |o| {
            o.call_method0("integrity_check")?.is_truthy()
        })
    }
    fn snapshot_to(&self, dest: &Path) -> mneme::Result<()> {
        // Whatever the custom store raises (1.0's stores raise CheckpointError) is re-raised.
        Python::attach(|py| {
            self.obj
                .bind(py)
                .call_method1("snapshot_to", (path_str(dest),))
                .map(drop)
        })
        .map_err(|e| {
            Error::checkpoint_with(
                format!("the {} store cannot snapshot", self.label),
                "use the backend's own backup tooling",
                PyCallbackError(e),
            )
        })
    }
    fn label(&self) -> String {
        self.label.clone()
    }
    fn scan_index_rows(&self, visit: &mut IndexRowVisitor<'_>) -> mneme::Result<()> {
        if !self.has_index_rows {
            return self.scan_all(&mut |e| visit(e.id, &e.embedding, &e.namespace));
        }
        let rows: Vec<(i64, Vec<u8>, String)> = self.call("iter_index_rows", |o| {
            o.call_method0("iter_index_rows")?
                .try_iter()?
                .map(|r| r?.extract())
                .collect()
        })?;
        rows.iter().try_for_each(|(id, b, ns)| visit(*id, b, ns))
    }
}

/// The engine store behind a Python `store=` argument.
pub fn store_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Arc<dyn Store>> {
    if let Ok(m) = obj.cast::<PyMemoryStore>() {
        return Ok(m.get().inner.clone());
    }
    if let Ok(s) = obj.cast::<PySqliteStore>() {
        return Ok(s.get().inner.clone());
    }
    if let Ok(s) = obj.cast::<PyRedisStore>() {
        return Ok(s.get().inner.clone());
    }
    if let Ok(s) = obj.cast::<PyPostgresStore>() {
        return Ok(s.get().inner.clone());
    }
    if let Ok(s) = obj.cast::<PyDynamoDbStore>() {
        return Ok(s.get().inner.clone());
    }
    Ok(Arc::new(PyStore::new(obj)?))
}
