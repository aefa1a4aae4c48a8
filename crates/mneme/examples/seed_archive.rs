//! Writes a small valid checkpoint archive (embedder `fuzz:8`): the fuzz corpus seed.
//! `cargo run --example seed_archive -- OUT.tar.gz`

use mneme::{BoxError, Embedder, Metadata, Put, SemanticCache};

struct Stamp;

impl Embedder for Stamp {
    fn dim(&self) -> usize {
        8
    }
    fn fingerprint(&self) -> &str {
        "fuzz:8"
    }
    fn embed(&self, text: &str) -> Result<Vec<f32>, BoxError> {
        Ok((0..8)
            .map(|i| (i as f32 + text.len() as f32).sin())
            .collect())
    }
}

fn main() -> mneme::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "seed.tar.gz".into());
    let dir = tempfile::tempdir()
        .map_err(|e| mneme::Error::invalid_argument(e.to_string(), "check /tmp"))?;
    let cache = SemanticCache::builder(Stamp)
        .path(dir.path().join("c.db"))
        .open()?;
    let meta: Metadata = [("k", "é")].into_iter().collect();
    cache.put_with(
        "hello",
        "world",
        Put::default().metadata(meta).namespace("a:b"),
    )?;
    cache.put("second", "entry")?;
    cache.dumps(&out)?;
    println!("wrote {out}");
    Ok(())
}
