//! The graph file: an [`HnswIndex`] saved whole (vectors, nodes, links), so an open reads it
//! back instead of rebuilding the graph, which takes minutes at a million rows.
//!
//! Layout (little-endian; format version 1): magic `MNEMEHNS`, version, dtype, dim, M,
//! ef_construction, node count, the stamp (store version counter, embedder fingerprint, the
//! `(id, created_at)` keys the graph reflects), namespaces, per-namespace entry points, node
//! ids / namespaces / tombstones / levels, layer-0 links, upper links, the vectors; then a
//! CRC-32 of all of it and the end magic `MNEMEEND`. A file is written to a temporary name and
//! renamed over the old one, so a reader sees a whole old or a whole new file; a short, damaged
//! or foreign file is refused with the reason, never half-used. It is derived data: deleting
//! it only costs a rebuild.

use super::links::Links;
use super::{Graph, HnswIndex, HnswParams};
use crate::index::flat::FlatIndex;
use crate::index::pages::{bytes, bytes_mut, zeroed, Pod};
use crate::index::VectorIndex;
use crate::types::VectorDtype;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"MNEMEHNS";
const END: &[u8; 8] = b"MNEMEEND";
const VERSION: u32 = 1;
/// Stands for "no value" in the id and created_at columns.
const NONE: i64 = i64::MIN;

/// What a graph reflects: the store's state when it was saved.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphStamp {
    /// The store's version counter at the save.
    pub store_version: u64,
    /// The embedder fingerprint of the cache that saved it.
    pub fingerprint: String,
    /// `(id, created_at)` of every row the graph holds, as the store listed them.
    pub keys: Vec<(i64, Option<i64>)>,
}

/// A graph file's header, read without the rest (for `mneme inspect`).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphHeader {
    /// Rows with a stored vector, tombstones included.
    pub nodes: u64,
    /// Vector length.
    pub dim: usize,
    /// Element type of the stored vectors.
    pub dtype: VectorDtype,
    /// `M` the graph was built with.
    pub m: usize,
    /// `ef_construction` the graph was built with.
    pub ef_construction: usize,
    /// The store's version counter at the save.
    pub store_version: u64,
    /// The embedder fingerprint of the cache that saved it.
    pub fingerprint: String,
    /// The file's size.
    pub bytes: u64,
}

/// Why a graph file cannot be used (logged; the caller rebuilds).
pub type Refusal = String;

/// Writes `index` to `path` atomically (a temporary file beside it, synced, then renamed).
///
/// # Errors
/// The file system's error; the old file, if any, is then left as it was.
pub fn save(index: &HnswIndex, stamp: &GraphStamp, path: &Path) -> io::Result<u64> {
    if cfg!(target_endian = "big") {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "graph files are written on little-endian machines only",
        ));
    }
    remove_dead_savers_temps(path);
    let tmp = temp_path(path);
    let written = write_file(index, stamp, &tmp).and_then(|n| {
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename itself survives a power cut only once the directory is synced.
            File::open(dir)?.sync_all()?;
        }
        Ok(n)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    PathBuf::from(name)
}

/// Removes the temporary files of savers that died mid-save (`<file>.<pid>.tmp` of a pid that
/// no longer runs), so killed processes do not leave their partial copies behind for good.
fn remove_dead_savers_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{}.", name.to_string_lossy());
    for entry in entries.flatten() {
        let file = entry.file_name();
        let pid = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|pid| pid.parse::<i32>().ok());
        if pid.is_some_and(|pid| !process_runs(pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn process_runs(pid: i32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only checks that the process exists; nothing is sent.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        alive || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

fn write_file(index: &HnswIndex, stamp: &GraphStamp, tmp: &Path) -> io::Result<u64> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(tmp)?;
    let mut w = Crc::new(BufWriter::with_capacity(1 << 20, file));
    let n = index.nodes.len();
    w.write_all(MAGIC)?;
    put_u32(&mut w, VERSION)?;
    put_u32(&mut w, dtype_code(index.rows.dtype()))?;
    put_u32(&mut w, index.rows.dim() as u32)?;
    put_u32(&mut w, index.params.m as u32)?;
    put_u32(&mut w, index.params.ef_construction as u32)?;
    put_u64(&mut w, n as u64)?;
    put_u64(&mut w, stamp.store_version)?;
    put_str(&mut w, &stamp.fingerprint)?;
    put_u64(&mut w, index.rng)?;
    put_u64(&mut w, stamp.keys.len() as u64)?;
    let (ids, created): (Vec<i64>, Vec<i64>) = stamp
        .keys
        .iter()
        .map(|&(id, c)| (id, c.unwrap_or(NONE)))
        .unzip();
    w.write_all(bytes(&ids))?;
    w.write_all(bytes(&created))?;
    put_u32(&mut w, index.namespaces.len() as u32)?;
    for ns in &index.namespaces {
        put_str(&mut w, ns)?;
    }
    let mut graphs: Vec<(u32, Graph)> = index
        .graphs
        .iter()
        .filter_map(|(ns, g)| Some((index.namespaces.iter().position(|n| n == ns)? as u32, *g)))
        .collect();
    graphs.sort_unstable_by_key(|g| g.0);
    put_u32(&mut w, graphs.len() as u32)?;
    for (slot, g) in graphs {
        put_u32(&mut w, slot)?;
        put_u32(&mut w, g.entry.unwrap_or(u32::MAX))?;
        put_u32(&mut w, g.top_level as u32)?;
    }
    let (node_ids, node_ns): (Vec<i64>, Vec<u32>) = index.nodes.iter().copied().unzip();
    w.write_all(bytes(&node_ids))?;
    w.write_all(bytes(&node_ns))?;
    let dead: Vec<u8> = (0..n as u32)
        .map(|i| u8::from(index.dead.contains(&i)))
        .collect();
    w.write_all(&dead)?;
    let (level0, levels, upper) = index.links.parts();
    w.write_all(levels)?;
    w.write_all(bytes(level0))?;
    put_u32(&mut w, upper.len() as u32)?;
    for (node, lists) in upper {
        put_u32(&mut w, node)?;
        for list in lists {
            put_u32(&mut w, list.len() as u32)?;
            w.write_all(bytes(list))?;
        }
    }
    w.write_all(index.rows.row_bytes(n))?;
    let crc = w.crc.clone().finalize();
    let mut inner = w.inner;
    inner.write_all(&crc.to_le_bytes())?;
    inner.write_all(END)?;
    let file = inner.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    file.metadata().map(|m| m.len())
}

/// Reads the header of the graph file at `path`.
///
/// # Errors
/// The file system's error, or [`io::ErrorKind::InvalidData`] for a file that is not a graph
/// file of this format.
pub fn peek(path: &Path) -> io::Result<GraphHeader> {
    let file = File::open(path)?;
    let bytes = file.metadata()?.len();
    let h = read_fixed(&mut BufReader::new(file))
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
    Ok(GraphHeader {
        nodes: h.nodes,
        dim: h.dim,
        dtype: h.dtype,
        m: h.m,
        ef_construction: h.ef_construction,
        store_version: h.store_version,
        fingerprint: h.fingerprint,
        bytes,
    })
}

/// Reads the graph file at `path` as an index with `params` (whose `M` and `ef_construction`
/// must be the file's; `ef` and the starting capacity are the caller's), expecting `dim`,
/// `dtype` and `fingerprint`.
///
/// # Errors
/// Why the file cannot be used: missing, short, damaged (CRC), another format version, or
/// built for another dim, dtype, embedder or parameters.
pub fn load(
    path: &Path,
    dim: usize,
    dtype: VectorDtype,
    params: HnswParams,
    fingerprint: &str,
) -> Result<(HnswIndex, GraphStamp), Refusal> {
    let file = File::open(path).map_err(|e| format!("it cannot be opened ({e})"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = Crc::new(BufReader::with_capacity(1 << 20, file));
    let h = read_fixed(&mut r)?;
    let wanted = [
        (h.dim != dim, format!("it has dim {}, the cache {dim}", h.dim)),
        (
            h.dtype != dtype,
            format!(
                "it holds {} vectors, the cache {}",
                h.dtype.as_str(),
                dtype.as_str()
            ),
        ),
        (
            h.m != params.m || h.ef_construction != params.ef_construction,
            format!(
                "it was built with M={} ef_construction={}, the cache asks for M={} ef_construction={}",
                h.m, h.ef_construction, params.m, params.ef_construction
            ),
        ),
        (
            h.fingerprint != fingerprint,
            format!(
                "it was built for embedder {:?}, the cache has {fingerprint:?}",
                h.fingerprint
            ),
        ),
    ];
    if let Some((_, why)) = wanted.into_iter().find(|(differs, _)| *differs) {
        return Err(why);
    }
    let n = usize::try_from(h.nodes).map_err(|_| "its node count is not addressable")?;
    // Every node takes at least its layer-0 list and vector: a count past the file's size is
    // damage, refused before anything that large is allocated.
    let per_node = (4 * (1 + 2 * params.m) + dim * dtype.bytes_per_element()) as u64;
    if h.nodes.saturating_mul(per_node) > size {
        return Err(format!("it is shorter than its {} nodes need", h.nodes));
    }
    let short = |e: io::Error| format!("it is short or unreadable ({e})");
    let keys_len = get_u64(&mut r).map_err(short)?;
    if keys_len > size / 16 {
        return Err("its key count exceeds the file".into());
    }
    let ids: Vec<i64> = get_pod(&mut r, keys_len as usize).map_err(short)?;
    let created: Vec<i64> = get_pod(&mut r, keys_len as usize).map_err(short)?;
    let keys = ids
        .into_iter()
        .zip(created)
        .map(|(id, c)| (id, (c != NONE).then_some(c)))
        .collect();
    let ns_count = get_u32(&mut r).map_err(short)? as usize;
    let mut namespaces = Vec::with_capacity(ns_count.min(1 << 16));
    for _ in 0..ns_count {
        namespaces.push(get_str(&mut r, size)?);
    }
    let graph_count = get_u32(&mut r).map_err(short)? as usize;
    let mut graphs = HashMap::new();
    for _ in 0..graph_count {
        let slot = get_u32(&mut r).map_err(short)? as usize;
        let entry = get_u32(&mut r).map_err(short)?;
        let top_level = get_u32(&mut r).map_err(short)? as usize;
        let ns = namespaces
            .get(slot)
            .ok_or("a graph names a namespace it does not list")?;
        let entry = (entry != u32::MAX).then_some(entry);
        if entry.is_some_and(|e| e as usize >= n) {
            return Err("an entry point is not a node".into());
        }
        graphs.insert(ns.clone(), Graph { entry, top_level });
    }
    let node_ids: Vec<i64> = get_pod(&mut r, n).map_err(short)?;
    let node_ns: Vec<u32> = get_pod(&mut r, n).map_err(short)?;
    if node_ns.iter().any(|&s| s as usize >= namespaces.len()) {
        return Err("a node names a namespace the file does not list".into());
    }
    let dead_flags: Vec<u8> = get_pod(&mut r, n).map_err(short)?;
    let levels: Vec<u8> = get_pod(&mut r, n).map_err(short)?;
    let level0: Vec<u32> = get_pod(&mut r, n * (1 + 2 * params.m)).map_err(short)?;
    let upper_count = get_u32(&mut r).map_err(short)? as usize;
    let mut upper = HashMap::with_capacity(upper_count.min(n));
    for _ in 0..upper_count {
        let node = get_u32(&mut r).map_err(short)?;
        let level = *levels
            .get(node as usize)
            .ok_or("an upper list names no node")? as usize;
        let mut lists = Vec::with_capacity(level);
        for _ in 0..level {
            let len = get_u32(&mut r).map_err(short)? as usize;
            if len > params.m {
                return Err("an upper list is longer than M".into());
            }
            lists.push(get_pod(&mut r, len).map_err(short)?);
        }
        upper.insert(node, lists);
    }
    let links = Links::from_parts(2 * params.m, level0, levels, upper)
        .ok_or("its links do not fit its nodes")?;
    // Room for an eighth more rows: the first put after an open must not copy the whole
    // arena to double it (1.5 GB at a million float32 rows of 384).
    let room = params.initial_max_elements.max(n + n / 8);
    // The vectors (most of the file) are read in place, past what the buffered reader took.
    let (at, file) = (r.passed, r.inner.into_inner());
    let mut crc = r.crc;
    let mut vectors_end = at;
    let rows = FlatIndex::read_rows(dim, dtype, n, room, |buf| {
        crc.combine(&read_at_parallel(&file, at, buf)?);
        vectors_end += buf.len() as u64;
        Ok(())
    })
    .map_err(|e| match e.kind() {
        io::ErrorKind::OutOfMemory => format!("its vectors do not fit in memory ({e})"),
        _ => short(e),
    })?;
    let crc = crc.finalize();
    let mut trailer = [0u8; 12];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut trailer, vectors_end).map_err(short)?;
    if trailer[..4] != crc.to_le_bytes() || &trailer[4..] != END {
        return Err("its checksum does not match (the file is damaged)".into());
    }
    let routing = if params.int8_walk && dtype == VectorDtype::Float32 {
        super::walk::Routing::of(&rows, n, room)
            .ok_or("the walk's int8 copy of its rows does not fit in memory")?
    } else {
        super::walk::Routing::default()
    };
    let mut dead = FxHashSet::default();
    let mut node_of = FxHashMap::with_capacity_and_hasher(n, Default::default());
    for (node, (&id, &flag)) in node_ids.iter().zip(&dead_flags).enumerate() {
        if flag != 0 {
            dead.insert(node as u32);
        } else if node_of.insert(id, node as u32).is_some() {
            return Err(format!("row {id} is live in two nodes"));
        }
    }
    let index = HnswIndex {
        params,
        rows,
        nodes: node_ids.into_iter().zip(node_ns).collect(),
        node_of,
        dead,
        links,
        graphs,
        namespaces,
        rng: h.rng,
        changes: 0,
        pending: parking_lot::RwLock::new(super::pending::Pending::new(dim, dtype)),
        routing,
    };
    Ok((
        index,
        GraphStamp {
            store_version: h.store_version,
            fingerprint: h.fingerprint,
            keys,
        },
    ))
}

/// The fixed header, through the node count and stamp.
struct Header {
    nodes: u64,
    dim: usize,
    dtype: VectorDtype,
    m: usize,
    ef_construction: usize,
    store_version: u64,
    fingerprint: String,
    rng: u64,
}

fn read_fixed(r: &mut impl Read) -> Result<Header, Refusal> {
    let short = |e: io::Error| format!("it is short or unreadable ({e})");
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(short)?;
    if &magic != MAGIC {
        return Err("it is not a mneme graph file (bad magic)".into());
    }
    let version = get_u32(r).map_err(short)?;
    if version != VERSION {
        return Err(format!(
            "it has format version {version}, this build reads {VERSION}"
        ));
    }
    let dtype = match get_u32(r).map_err(short)? {
        0 => VectorDtype::Float32,
        1 => VectorDtype::Float16,
        2 => VectorDtype::Int8,
        other => return Err(format!("it names an unknown dtype code {other}")),
    };
    let dim = get_u32(r).map_err(short)? as usize;
    let m = get_u32(r).map_err(short)? as usize;
    let ef_construction = get_u32(r).map_err(short)? as usize;
    let nodes = get_u64(r).map_err(short)?;
    let store_version = get_u64(r).map_err(short)?;
    let fingerprint = get_str(r, 1 << 16)?;
    let rng = get_u64(r).map_err(short)?;
    if dim == 0 || m == 0 || m > super::MAX_M {
        return Err(format!("its header is damaged (dim {dim}, M {m})"));
    }
    Ok(Header {
        nodes,
        dim,
        dtype,
        m,
        ef_construction,
        store_version,
        fingerprint,
        rng,
    })
}

fn dtype_code(dtype: VectorDtype) -> u32 {
    match dtype {
        VectorDtype::Float32 => 0,
        VectorDtype::Float16 => 1,
        VectorDtype::Int8 => 2,
    }
}

/// `n` plain numbers, as their little-endian bytes (the machines that save are little-endian).
fn get_pod<T: Pod>(r: &mut impl Read, n: usize) -> io::Result<Vec<T>> {
    let mut v = zeroed(n, n).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("{n} values do not fit in memory"),
        )
    })?;
    r.read_exact(bytes_mut(&mut v))?;
    Ok(v)
}

/// Reads `buf.len()` bytes at `offset` of `file` on the shared pool, in chunks, and returns their
/// CRC-32: a million rows of 768 floats are 3 GB, and one core copying them (and the kernel
/// zeroing the pages they land in) made the open take seconds.
fn read_at_parallel(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<crc32fast::Hasher> {
    use rayon::prelude::*;
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 16 << 20;
    let parts = buf
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(i, chunk)| {
            file.read_exact_at(chunk, offset + (i * CHUNK) as u64)?;
            let mut crc = crc32fast::Hasher::new();
            crc.update(chunk);
            Ok(crc)
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(parts
        .into_iter()
        .fold(crc32fast::Hasher::new(), |mut all, part| {
            all.combine(&part);
            all
        }))
}

fn put_u32(w: &mut impl Write, x: u32) -> io::Result<()> {
    w.write_all(&x.to_le_bytes())
}

fn put_u64(w: &mut impl Write, x: u64) -> io::Result<()> {
    w.write_all(&x.to_le_bytes())
}

fn put_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    put_u32(w, s.len() as u32)?;
    w.write_all(s.as_bytes())
}

fn get_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn get_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// A length-prefixed UTF-8 string of at most `max` bytes.
fn get_str(r: &mut impl Read, max: u64) -> Result<String, Refusal> {
    let len = get_u32(r).map_err(|e| format!("it is short ({e})"))?;
    if u64::from(len) > max {
        return Err("a string's length exceeds the file".into());
    }
    let bytes = get_pod::<u8>(r, len as usize).map_err(|e| format!("it is short ({e})"))?;
    String::from_utf8(bytes).map_err(|_| "a string is not UTF-8".into())
}

/// A reader or writer that keeps a CRC-32 of the bytes passing through (and, reading, their
/// count).
struct Crc<T> {
    inner: T,
    crc: crc32fast::Hasher,
    passed: u64,
}

impl<T> Crc<T> {
    fn new(inner: T) -> Self {
        Crc {
            inner,
            crc: crc32fast::Hasher::new(),
            passed: 0,
        }
    }
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Crc<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.passed += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::random_unit as unit;

    const DIM: usize = 16;

    fn stamp() -> GraphStamp {
        GraphStamp {
            store_version: 42,
            fingerprint: "test-embedder".into(),
            keys: vec![(1, Some(100)), (2, None)],
        }
    }

    /// 300 rows in two namespaces, some removed, one overwritten.
    fn graph(dtype: VectorDtype) -> HnswIndex {
        let mut idx = HnswIndex::new(DIM, dtype, HnswParams::default()).unwrap();
        for id in 1..=300 {
            let ns = if id % 4 == 0 { "b" } else { "a" };
            idx.append(id, &unit(DIM, id as u64), ns).unwrap();
        }
        for id in (1..=300).step_by(10) {
            idx.remove(id);
        }
        idx.append(5, &unit(DIM, 9_999), "a").unwrap();
        idx
    }

    fn load_default(path: &Path, dtype: VectorDtype) -> Result<(HnswIndex, GraphStamp), Refusal> {
        load(path, DIM, dtype, HnswParams::default(), "test-embedder")
    }

    #[test]
    fn a_loaded_graph_answers_as_the_saved_one_in_every_dtype() {
        let dir = tempfile::tempdir().unwrap();
        for dtype in [
            VectorDtype::Float32,
            VectorDtype::Float16,
            VectorDtype::Int8,
        ] {
            let path = dir.path().join(format!("{}.hnsw", dtype.as_str()));
            let saved = graph(dtype);
            let bytes = save(&saved, &stamp(), &path).unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes);
            let (loaded, got) = load_default(&path, dtype).unwrap();
            assert_eq!(got, stamp());
            assert_eq!(loaded.links, saved.links);
            assert_eq!(
                loaded.routing, saved.routing,
                "the walk's int8 copy is rebuilt"
            );
            assert_eq!(
                (loaded.len(), loaded.tombstone_count()),
                (saved.len(), saved.tombstone_count())
            );
            for seed in 0..60 {
                let q = unit(DIM, 70_000 + seed);
                for ns in ["a", "b", "c"] {
                    assert_eq!(
                        loaded.search(&q, ns, 5),
                        saved.search(&q, ns, 5),
                        "{dtype:?}"
                    );
                }
            }
            assert_eq!(
                loaded.score(5, &unit(DIM, 9_999)),
                saved.score(5, &unit(DIM, 9_999))
            );
            assert_eq!(
                loaded.score(11, &unit(DIM, 11)),
                None,
                "removed stays removed"
            );
            let h = peek(&path).unwrap();
            assert_eq!(
                (h.nodes, h.dim, h.dtype, h.m, h.store_version),
                (301, DIM, dtype, 16, 42)
            );
            // The loaded graph keeps growing like the saved one.
            let mut loaded = loaded;
            loaded.append(1_000, &unit(DIM, 1_000), "a").unwrap();
            assert_eq!(loaded.search(&unit(DIM, 1_000), "a", 1)[0].id, 1_000);
        }
    }

    #[test]
    fn damaged_short_and_foreign_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.hnsw");
        save(&graph(VectorDtype::Int8), &stamp(), &path).unwrap();
        let good = std::fs::read(&path).unwrap();
        let bad = dir.path().join("bad.hnsw");
        let refused = |bytes: &[u8]| {
            std::fs::write(&bad, bytes).unwrap();
            load_default(&bad, VectorDtype::Int8).err()
        };
        for cut in (0..good.len()).step_by(97).chain([good.len() - 1]) {
            assert!(refused(&good[..cut]).is_some(), "cut at {cut} was accepted");
        }
        for at in (0..good.len()).step_by(13) {
            let mut flipped = good.clone();
            flipped[at] ^= 0x10;
            assert!(
                refused(&flipped).is_some(),
                "a flip at byte {at} was accepted"
            );
        }
        assert!(refused(b"not a graph").unwrap().contains("magic"));
        let other = |dtype, params, fp: &str| load(&path, DIM, dtype, params, fp).err().unwrap();
        assert!(
            other(VectorDtype::Float32, HnswParams::default(), "test-embedder").contains("int8")
        );
        let m8 = HnswParams {
            m: 8,
            ..Default::default()
        };
        assert!(other(VectorDtype::Int8, m8, "test-embedder").contains("M=16"));
        assert!(other(VectorDtype::Int8, HnswParams::default(), "other").contains("embedder"));
        assert!(load(
            &path,
            DIM + 1,
            VectorDtype::Int8,
            HnswParams::default(),
            "test-embedder"
        )
        .err()
        .unwrap()
        .contains("dim"));
        // Another ef or starting capacity is a search-time choice: the file still loads.
        let wider = HnswParams {
            ef: 200,
            initial_max_elements: 5,
            ..Default::default()
        };
        assert!(load(&path, DIM, VectorDtype::Int8, wider, "test-embedder").is_ok());
        assert!(
            load_default(&dir.path().join("absent.hnsw"), VectorDtype::Int8)
                .err()
                .unwrap()
                .contains("cannot be opened")
        );
    }

    #[test]
    fn a_failed_save_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.hnsw");
        save(&graph(VectorDtype::Float32), &stamp(), &path).unwrap();
        let before = std::fs::read(&path).unwrap();
        // The temporary name is taken by a directory: the write fails before any rename.
        std::fs::create_dir(temp_path(&path)).unwrap();
        assert!(save(&graph(VectorDtype::Int8), &stamp(), &path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::remove_dir(temp_path(&path)).unwrap();
        save(&graph(VectorDtype::Int8), &stamp(), &path).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["g.hnsw"]);
    }
}
