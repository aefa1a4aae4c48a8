//! Writing a store's exported contents into the compatible SQLite schema, so a cache on a store
//! that cannot snapshot itself (the memory store) can be dumped (mneme-cache 1.0's checkpoint guide promised it;
//! mneme-cache 1.0 could not).

use crate::error::Result;
use crate::store::{SqliteStore, Store, StoreContents};
use std::path::Path;

/// Writes `state` as a self-contained SQLite v1 database at `dest` (an empty file), keeping every
/// entry's id, the meta keys, quotas, the version counter and the id sequence.
pub(super) fn write_sqlite(
    state: &StoreContents,
    fingerprint: &str,
    dim: usize,
    dest: &Path,
) -> Result<()> {
    let store = SqliteStore::new(dest);
    store.open(fingerprint, dim)?;
    let imported = store.import(state);
    // Closing checkpoints the WAL into the file and removes it: the file stands alone.
    store.close()?;
    imported
}
