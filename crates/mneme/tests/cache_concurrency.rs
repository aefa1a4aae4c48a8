//! Many threads on one cache: no deadlock, consistent counters, caps hold.

mod common;

use common::fixtures::Fixture;
use std::sync::Arc;

#[test]
fn eight_threads_of_put_and_get_account_for_every_call() {
    let f = Fixture::new();
    let cache = Arc::new(f.open());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let q = format!("t{t}-q{i}");
                    cache.put(&q, "r").unwrap();
                    cache.get(&q).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = cache.stats(None).unwrap();
    assert_eq!(s.hits_exact + s.hits_semantic + s.misses, 1600);
    assert_eq!(s.hits_exact, 1600);
    assert_eq!(s.entries, 1600);
}

#[test]
fn mixed_load_with_a_cap_never_exceeds_it() {
    let f = Fixture::new();
    let cache = Arc::new(f.builder().max_entries(50).open().unwrap());
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..150 {
                    let q = format!("k{}", (t * 7 + i) % 120);
                    match i % 3 {
                        0 => cache.put(&q, "r").unwrap(),
                        1 => drop(cache.get(&q).unwrap()),
                        _ => drop(cache.delete(&q).unwrap()),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(cache.stats(None).unwrap().entries <= 50);
    assert!(cache.health().unwrap().integrity_ok);
}

#[test]
fn two_connections_writing_one_file_never_see_database_locked() {
    // Two handles are two connections, as two processes would have: BEGIN IMMEDIATE plus the
    // busy timeout must serialise them without errors.
    let f = Fixture::new();
    let handles = [Arc::new(f.open()), Arc::new(f.open())];
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let cache = handles[t % 2].clone();
            std::thread::spawn(move || {
                for i in 0..150 {
                    cache.put(&format!("h{t}-{i}"), "r").unwrap();
                    if i % 10 == 0 {
                        cache.delete(&format!("h{t}-{}", i / 2)).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = handles[0].stats(None).unwrap();
    assert_eq!(s.entries, 4 * (150 - 15));
    assert!(handles[1].health().unwrap().integrity_ok);
}

#[test]
fn pending_access_times_reach_the_store_within_a_second_of_activity() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("q", "r").unwrap();
    cache.get("q").unwrap().unwrap();
    let stored = |c: &mneme::SemanticCache| {
        c.store()
            .get_by_hash("default", &mneme::hash_query("q"))
            .unwrap()
            .unwrap()
            .access_count
    };
    assert_eq!(stored(&cache), 0, "batched, not written per hit");
    assert!(cache.get("unrelated miss").unwrap().is_none());
    assert_eq!(stored(&cache), 0, "not due within the second");
    // The delay is measured on the cache's clock, so the test moves it instead of sleeping.
    f.clock.advance(1);
    assert!(cache.get("unrelated miss").unwrap().is_none());
    assert_eq!(
        stored(&cache),
        1,
        "a later miss flushed the due bookkeeping"
    );
}
