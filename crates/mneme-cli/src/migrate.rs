//! `mneme migrate SOURCE DEST --model M`: copies a cache into a new file re-embedded with another
//! model (mneme-cache 1.0's `reembed`), with a progress bar; the destination appears only when
//! complete.

use crate::model::ModelArgs;
use indicatif::{ProgressBar, ProgressStyle};
use mneme::tools::migrate::{reembed, MigrateOptions};
use std::error::Error;
use std::path::Path;

pub fn run(
    source: &Path,
    dest: &Path,
    namespaces: Vec<String>,
    batch_size: usize,
    model: &ModelArgs,
) -> Result<(), Box<dyn Error>> {
    if model.model.is_none() {
        return Err("migrate needs the new model. Remediation: pass --model (minilm, openai:MODEL or lexical:DIM)".into());
    }
    let embedder = model.embedder(None)?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("migrate [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut report = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let n = reembed(
        source,
        dest,
        embedder.as_ref(),
        MigrateOptions {
            batch_size,
            namespaces: (!namespaces.is_empty()).then_some(namespaces),
            progress: Some(&mut report),
        },
    )?;
    bar.finish_and_clear();
    println!(
        "migrated {n} entries from {} to {} with {}",
        source.display(),
        dest.display(),
        embedder.fingerprint()
    );
    Ok(())
}
