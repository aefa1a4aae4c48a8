//! Opening a cache whose HNSW graph must be built says how long it will take: the build logs
//! its progress and the time left after its first chunk of rows (a large graph takes minutes).
//! Its own test binary: it installs a `log` logger for the process.

use mneme::{IndexBackend, IndexOptions, LexicalEmbedder, Put, SemanticCache};
use std::sync::Mutex;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "mneme.cache"
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            LINES.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

#[test]
fn an_hnsw_build_at_open_logs_its_progress_and_the_time_left() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let flat = SemanticCache::open(&path, LexicalEmbedder::new(16)).unwrap();
    let queries: Vec<String> = (0..5000).map(|i| format!("question number {i}")).collect();
    flat.put_many(
        queries
            .iter()
            .map(|q| (q.as_str(), "answer", Put::default())),
    )
    .unwrap();
    flat.close().unwrap();
    LINES.lock().unwrap().clear();
    let hnsw = SemanticCache::builder(LexicalEmbedder::new(16))
        .path(&path)
        .index_backend(IndexBackend::Hnsw)
        .index_options(IndexOptions {
            m: Some(4),
            ef_construction: Some(16),
            ..IndexOptions::default()
        })
        .open()
        .unwrap();
    let lines = LINES.lock().unwrap().clone();
    assert!(
        lines[0].starts_with("building the HNSW graph over 5000 rows on "),
        "{lines:?}"
    );
    let progress = lines
        .iter()
        .find(|l| l.starts_with("HNSW build: 4096 of 5000 rows in "))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(progress.contains("s to go at this rate"), "{progress}");
    assert_eq!(hnsw.stats(None).unwrap().entries, 5000);
    assert_eq!(
        hnsw.get("question number 4321").unwrap().unwrap().response,
        "answer"
    );
}
