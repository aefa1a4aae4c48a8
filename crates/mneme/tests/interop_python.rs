//! Interoperability with the real mneme-cache 1.0 from PyPI (docs/compatibility.md): files
//! written by either side open in the other with the same hits, the same hashes, the same
//! counters, and the same bytes where the format is shared.

mod common;

use common::peer::{self, Json};
use common::workload::*;
use mneme::metadata::Value;
use mneme::{HitLayer, Metadata, Put};
use std::collections::BTreeMap;

#[test]
fn a_file_written_by_mneme_cache_opens_here_with_the_same_hits_and_counters() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("py.db");
    let wl = peer::interop_file("workload.json");
    let theirs = peer::run(
        &[
            "workload",
            db.to_str().unwrap(),
            wl.to_str().unwrap(),
            &DIM.to_string(),
        ],
        None,
    );
    let (exact, semantic, stats, namespaces) = verify(&db);
    stats_match(&stats, theirs.at("stats"));
    assert_eq!(namespaces, ["default", "geo", "translate:en-de"]);
    assert!(exact
        .iter()
        .all(|h| h.as_ref().is_some_and(|h| h.1 == "exact")));
    assert!(semantic.iter().all(|h| h
        .as_ref()
        .is_some_and(|h| h.1 == "semantic" && h.2 > 0.9999)));
    // Python's own view of the same file agrees entry by entry.
    let py = peer::run(
        &[
            "verify",
            db.to_str().unwrap(),
            wl.to_str().unwrap(),
            &DIM.to_string(),
        ],
        None,
    );
    assert_same(&exact, py.at("exact").items(), "exact");
    assert_same(&semantic, py.at("semantic").items(), "semantic");
}

#[test]
fn a_file_written_here_opens_in_mneme_cache_with_the_same_hits_and_counters() {
    let dir = tempfile::tempdir().unwrap();
    let (ours_db, theirs_db) = (dir.path().join("rs.db"), dir.path().join("py.db"));
    let wl = peer::interop_file("workload.json");
    let dim = DIM.to_string();
    let ours = run_workload(&ours_db);
    let theirs = peer::run(
        &[
            "workload",
            theirs_db.to_str().unwrap(),
            wl.to_str().unwrap(),
            &dim,
        ],
        None,
    );
    assert_same(&ours, theirs.at("gets").items(), "workload gets");

    // mneme-cache reads our counters exactly as it reads its own (it splits keys at the first
    // colon, so it drops `translate:en-de`'s; we split at the last and keep them).
    let ours_reading_theirs = open(&theirs_db).stats(None).unwrap();
    stats_match(&ours_reading_theirs, theirs.at("stats"));
    let py = peer::run(
        &[
            "verify",
            ours_db.to_str().unwrap(),
            wl.to_str().unwrap(),
            &dim,
        ],
        None,
    );
    let py_own = peer::run(
        &[
            "verify",
            theirs_db.to_str().unwrap(),
            wl.to_str().unwrap(),
            &dim,
        ],
        None,
    );
    assert_eq!(py.at("stats_on_open"), py_own.at("stats_on_open"));
    assert_peer_view_matches(&py, &ours_db);
}

#[test]
fn files_from_the_same_operations_are_byte_equal_timestamps_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (ours_db, theirs_db) = (dir.path().join("rs.db"), dir.path().join("py.db"));
    let wl = peer::interop_file("workload.json");
    run_workload(&ours_db);
    peer::run(
        &[
            "workload",
            theirs_db.to_str().unwrap(),
            wl.to_str().unwrap(),
            &DIM.to_string(),
        ],
        None,
    );
    let ours = peer::run(&["describe", ours_db.to_str().unwrap()], None);
    let theirs = peer::run(&["describe", theirs_db.to_str().unwrap()], None);
    for part in [
        "sqlite_master",
        "journal_mode",
        "schema_meta",
        "multi_process_state",
        "sqlite_sequence",
    ] {
        assert_eq!(ours.at(part), theirs.at(part), "{part}");
    }
    let (a, b) = (ours.at("entries").items(), theirs.at("entries").items());
    assert_eq!(a.len(), b.len());
    for (ra, rb) in a.iter().zip(b) {
        // id, namespace, query_hash, query, response, metadata text, ttl, access_count: exact.
        assert_eq!(&ra.items()[..8], &rb.items()[..8]);
        // Embeddings: each side L2-normalises in f32 (NumPy sums pairwise), so allow an ulp.
        for (x, y) in ra.items()[8].items().iter().zip(rb.items()[8].items()) {
            assert!((x.num() - y.num()).abs() <= 2e-6, "{x:?} vs {y:?}");
        }
    }
}

#[test]
fn query_hashes_match_mneme_cache_on_a_tricky_corpus() {
    let corpus = [
        "  Hello   World  ",
        "STRAßE",
        "straße",
        "ẞ",
        "ΣΑΣ",
        "ΌΣΟΣ",
        "όσος",
        "İstanbul",
        "ISTANBUL",
        "ı",
        "ﬁ",
        "ǅ",
        "a\u{00A0}\u{00A0}b",
        "a\u{001C}b",
        "\tTab\u{000B}Newline\n",
        "\u{0085}x\u{2028}y\u{3000}",
        "Hello\u{200B}World",
        "\u{180E}x\u{FEFF}",
        "café",
        "cafe\u{0301}",
        "😀 Emoji 🎉",
        "東京の天気は？",
        "한국어 텍스트",
        "ÅNGSTRÖM",
        "\u{1F600}\u{0345}",
        "ᾼ",
        "ΐ",
        "",
        " ",
        "\u{3000}\u{3000}",
    ];
    let owned: Vec<String> = corpus.iter().map(|s| s.to_string()).collect();
    let mut json = String::from("[");
    for (i, s) in owned.iter().enumerate() {
        if i > 0 {
            json.push_str(", ");
        }
        json.push_str(&Value::String(s.clone()).to_json());
    }
    json.push(']');
    let theirs = peer::run(&["hashes"], Some(&json));
    for (s, pair) in owned.iter().zip(theirs.items()) {
        let key = mneme::normalize(s);
        assert_eq!(key, pair.items()[0].str(), "key of {s:?}");
        assert_eq!(
            mneme::hash_query(&key),
            pair.items()[1].str(),
            "hash of {s:?}"
        );
    }
}

#[test]
fn normalisation_matches_python_for_every_code_point() {
    let theirs = peer::run(&["casefold"], None);
    let changed: BTreeMap<u32, String> = theirs
        .items()
        .iter()
        .map(|p| (p.items()[0].int() as u32, p.items()[1].str().to_owned()))
        .collect();
    assert!(
        changed.len() > 1400,
        "the peer reported {} folded code points",
        changed.len()
    );
    for cp in (0..0x110000u32).filter(|c| !(0xD800..0xE000).contains(c)) {
        let c = char::from_u32(cp).unwrap();
        let input = format!("x{c}y");
        let ours = mneme::normalize(&input);
        match changed.get(&cp) {
            Some(want) => assert_eq!(&ours, want, "U+{cp:04X}"),
            None => assert_eq!(ours, input, "U+{cp:04X} must be left alone"),
        }
    }
}

#[test]
fn metadata_text_is_written_exactly_as_python_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let text = r#"{"k": "\u00e9", "e": "\ud83d\ude00", "n": [NaN, Infinity, -Infinity, 1e-05, 1e+16, 1180591620717411303424, -0.0]}"#;
    {
        let cache = open(&db);
        let m = Metadata::from_json(text).unwrap();
        cache
            .put_with("q", "r", Put::default().metadata(m))
            .unwrap();
        let hit = cache.get("q").unwrap().unwrap();
        assert_eq!(
            (hit.layer, hit.metadata.to_json()),
            (HitLayer::Exact, text.to_owned())
        );
    }
    let described = peer::run(&["describe", db.to_str().unwrap()], None);
    assert_eq!(described.at("entries").items()[0].items()[5].str(), text);
}

#[test]
fn a_stale_tolerant_reader_follows_mneme_cache_writing_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let reader = mneme::SemanticCache::builder(common::embedders::InteropEmbedder::new(DIM))
        .path(&db)
        .multi_process_mode(mneme::MultiProcessMode::StaleTolerant)
        .open()
        .unwrap();
    let wl = peer::interop_file("workload.json");
    peer::run(
        &[
            "workload",
            db.to_str().unwrap(),
            wl.to_str().unwrap(),
            &DIM.to_string(),
        ],
        None,
    );
    let e = common::embedders::InteropEmbedder::new(DIM);
    let key = mneme::normalize("STRAßE");
    let probe = e.vector(&key);
    let semantic = reader
        .get_with(
            "never stored",
            mneme::Get::default()
                .namespace("translate:en-de")
                .embedding(&probe),
        )
        .unwrap()
        .expect("1.0's insert reached this index on get");
    assert_eq!(
        (semantic.layer, semantic.response.as_str()),
        (HitLayer::Semantic, "street")
    );
    let exact = reader
        .get_with(
            "strasse",
            mneme::Get::default().namespace("translate:en-de"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(exact.layer, HitLayer::Exact);
    let exact_again = || {
        reader
            .get_with(
                "strasse",
                mneme::Get::default().namespace("translate:en-de"),
            )
            .unwrap()
            .filter(|h| h.layer == HitLayer::Exact)
    };
    assert!(
        exact_again().is_some(),
        "served again, from memory this time"
    );
    let out = peer::run(
        &[
            "delete",
            db.to_str().unwrap(),
            &DIM.to_string(),
            "translate:en-de",
            "STRAßE",
        ],
        None,
    );
    assert_eq!(out.at("deleted"), &Value::Bool(true));
    assert!(
        exact_again().is_none(),
        "1.0's delete reached Layer 1, which had just served the row from memory"
    );
    assert!(
        reader
            .get_with(
                "never stored",
                mneme::Get::default()
                    .namespace("translate:en-de")
                    .embedding(&probe)
            )
            .unwrap()
            .is_none_or(|h| h.response != "street"),
        "1.0's delete reached this index too"
    );

    assert!(reader.health().unwrap().integrity_ok);
}
