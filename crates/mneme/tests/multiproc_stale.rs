//! `stale-tolerant` mode: another writer's inserts, deletes and overwrites reach this index on
//! `get` (docs/architecture.md, "Several processes"). Two handles on one file have two
//! connections, exactly as two processes would.

mod common;

use common::embedders::{axis, tilted};
use common::fixtures::{Fixture, DIM};
use mneme::{Get, HitLayer, MultiProcessMode, Put, SemanticCache};
use std::time::Duration;

fn reader(f: &Fixture) -> SemanticCache {
    f.builder()
        .multi_process_mode(MultiProcessMode::StaleTolerant)
        .open()
        .unwrap()
}

#[test]
fn remote_inserts_are_synced_incrementally_then_by_rebuild() {
    let f = Fixture::new();
    let writer = f.open();
    let r = reader(&f);
    assert_eq!(r.refresh().unwrap(), 0);
    writer
        .put_with("a", "ra", Put::default().embedding(&axis(DIM, 0)))
        .unwrap();
    writer
        .put_with("b", "rb", Put::default().embedding(&axis(DIM, 1)))
        .unwrap();
    assert_eq!(r.refresh().unwrap(), 2);
    assert_eq!(r.refresh().unwrap(), 0);
    let probe = axis(DIM, 1);
    let hit = r
        .get_with("zz", Get::default().embedding(&probe))
        .unwrap()
        .unwrap();
    assert_eq!(
        (hit.layer, hit.response.as_str()),
        (HitLayer::Semantic, "rb")
    );
    for i in 0..120 {
        writer.put(&format!("bulk{i}"), "r").unwrap();
    }
    assert_eq!(
        r.refresh().unwrap(),
        122,
        "≥ 100 bumps rebuild and return the row count"
    );
}

#[test]
fn the_check_interval_rate_limits_refreshes() {
    let f = Fixture::new();
    let writer = f.open();
    let r = f
        .builder()
        .multi_process_mode(MultiProcessMode::StaleTolerant)
        .stale_check_interval(Duration::from_secs(10))
        .open()
        .unwrap();
    writer.put("a", "r").unwrap();
    assert_eq!(r.refresh().unwrap(), 1);
    writer.put("b", "r").unwrap();
    assert_eq!(r.refresh().unwrap(), 0, "within the interval");
    // Measured on the cache's clock.
    f.clock.advance(10);
    assert_eq!(r.refresh().unwrap(), 1, "the interval has passed");
}

#[test]
fn remote_deletes_and_overwrites_are_reconciled() {
    let f = Fixture::new();
    let writer = f.open();
    writer
        .put_with("gone", "r1", Put::default().embedding(&axis(DIM, 2)))
        .unwrap();
    writer
        .put_with("moved", "old", Put::default().embedding(&axis(DIM, 3)))
        .unwrap();
    let r = reader(&f);
    assert!(writer.delete("gone").unwrap());
    f.clock.advance(5); // the overwrite gets a new created_at
    writer
        .put_with("moved", "new", Put::default().embedding(&axis(DIM, 4)))
        .unwrap();
    assert!(r.refresh().unwrap() >= 1);
    assert_eq!(r.stats(None).unwrap().entries, 1);
    let old = axis(DIM, 3);
    assert!(
        r.get_with("x", Get::default().embedding(&old))
            .unwrap()
            .is_none(),
        "never by the old vector"
    );
    let new = axis(DIM, 4);
    assert_eq!(
        r.get_with("x", Get::default().embedding(&new))
            .unwrap()
            .unwrap()
            .response,
        "new"
    );
    let deleted = axis(DIM, 2);
    assert!(r
        .get_with("x", Get::default().embedding(&deleted))
        .unwrap()
        .is_none());
    assert_eq!(
        r.stats(None).unwrap().index_tombstone_count,
        Some(1),
        "overwrites are in place"
    );
}

#[test]
fn a_reader_sees_a_writers_entries_on_get_without_reopening() {
    let f = Fixture::new();
    let r = reader(&f);
    let writer = f.open();
    for i in 0..5 {
        writer
            .put_with(
                &format!("w{i}"),
                &format!("r{i}"),
                Put::default().embedding(&tilted(DIM, i, 7, 0.99)),
            )
            .unwrap();
    }
    for i in 0..5 {
        let probe = axis(DIM, i);
        let hit = r
            .get_with("never stored", Get::default().embedding(&probe))
            .unwrap()
            .unwrap();
        assert_eq!(hit.response, format!("r{i}"));
    }
    // In single mode the same reader would not see them semantically.
    let single = f.open();
    writer
        .put_with("late", "x", Put::default().embedding(&axis(DIM, 6)))
        .unwrap();
    let probe = axis(DIM, 6);
    assert!(single
        .get_with("zz", Get::default().embedding(&probe))
        .unwrap()
        .is_none());
    assert!(r
        .get_with("zz", Get::default().embedding(&probe))
        .unwrap()
        .is_some());
    assert_eq!(
        r.health().unwrap().multi_process_mode,
        MultiProcessMode::StaleTolerant
    );
}

#[test]
fn mmap_shared_with_hnsw_is_refused_with_a_remediation() {
    let f = Fixture::new();
    match f
        .builder()
        .multi_process_mode(MultiProcessMode::MmapShared)
        .index_backend(mneme::IndexBackend::Hnsw)
        .open()
    {
        Err(mneme::Error::InvalidArgument(m)) => {
            assert!(m.remediation().contains("stale-tolerant"))
        }
        other => panic!("{other:?}"),
    }
}
