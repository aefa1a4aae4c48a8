//! The mmap-shared primitive (`SharedMatrix`, 1.0's `MmapSharedCoordinator`): format, errors,
//! several handles as several processes would hold them, and interop with the real
//! mneme-cache 1.0 primitive both ways.

mod common;

use common::peer::{self, Json};
use mneme::index::SharedMatrix;
use mneme::{Error, VectorDtype};
use std::path::Path;

fn unit(dim: usize, i: usize) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[i % dim] = 1.0;
    v[(i + 1) % dim] = 0.25;
    v
}

fn open(base: &Path, dtype: VectorDtype, capacity: usize) -> SharedMatrix {
    SharedMatrix::open(base, 8, dtype, "fp", capacity).unwrap()
}

#[test]
fn appends_overwrites_removes_and_grows_across_handles() {
    for dtype in [
        VectorDtype::Float32,
        VectorDtype::Float16,
        VectorDtype::Int8,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("c.db");
        let a = open(&base, dtype, 2);
        let b = open(&base, dtype, 2); // another "process": its own mapping and slot map
        for i in 0..5 {
            a.append(i as i64 + 1, &unit(8, i), "ns").unwrap();
        }
        assert_eq!(a.read_header().unwrap().capacity, 8, "grew 2 -> 4 -> 8");
        // b sees a's rows (and the grown file) on its next call.
        for i in 0..5 {
            let top = b.search(&unit(8, i), "ns", 1).unwrap();
            assert_eq!(top[0].0, i as i64 + 1, "{dtype:?} row {i}");
        }
        assert!(b.search(&unit(8, 0), "other", 3).unwrap().is_empty());
        // An overwrite in the same namespace keeps the slot; in another, it moves.
        b.append(1, &unit(8, 4), "ns").unwrap();
        assert_eq!(a.read_header().unwrap().count, 5);
        b.append(2, &unit(8, 1), "elsewhere").unwrap();
        assert_eq!(a.read_header().unwrap().count, 6);
        assert_eq!(a.search(&unit(8, 1), "elsewhere", 1).unwrap()[0].0, 2);
        assert!(a
            .search(&unit(8, 1), "ns", 5)
            .unwrap()
            .iter()
            .all(|c| c.0 != 2));
        assert!(a.remove(3).unwrap());
        assert!(
            !b.remove(3).unwrap(),
            "removing a removed row is false (1.0 said true)"
        );
        assert!(b
            .search(&unit(8, 2), "ns", 5)
            .unwrap()
            .iter()
            .all(|c| c.0 != 3));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in ["c.db.vectors", "c.db.vectors.lock"] {
                let mode = std::fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        a.close();
        assert!(matches!(
            a.search(&unit(8, 0), "ns", 1),
            Err(Error::MultiProcessLock(_))
        ));
    }
}

#[test]
fn damaged_and_foreign_files_give_the_documented_errors() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("c.db");
    open(&base, VectorDtype::Float32, 4).close();
    let data = dir.path().join("c.db.vectors");
    let good = std::fs::read(&data).unwrap();
    let with = |bytes: &[u8]| std::fs::write(&data, bytes).unwrap();

    let err = |dtype, fp: &str, dim| SharedMatrix::open(&base, dim, dtype, fp, 4).unwrap_err();
    assert!(matches!(
        err(VectorDtype::Float32, "fp", 9),
        Error::EmbedderDimension(_)
    ));
    assert!(matches!(
        err(VectorDtype::Int8, "fp", 8),
        Error::Quantization(_)
    ));
    assert!(matches!(
        err(VectorDtype::Float32, "other", 8),
        Error::EmbedderMismatch(_)
    ));
    with(&good[..40]);
    assert!(matches!(
        err(VectorDtype::Float32, "fp", 8),
        Error::MultiProcessLock(_)
    ));
    with(&good[..100]);
    assert!(
        matches!(
            err(VectorDtype::Float32, "fp", 8),
            Error::MultiProcessLock(_)
        ),
        "short body"
    );
    let mut bad = good.clone();
    bad[..8].copy_from_slice(b"NOTMNEME");
    with(&bad);
    assert!(matches!(
        err(VectorDtype::Float32, "fp", 8),
        Error::MultiProcessLock(_)
    ));
    let mut bad = good.clone();
    bad[8] = 9;
    with(&bad);
    assert!(matches!(
        err(VectorDtype::Float32, "fp", 8),
        Error::MultiProcessLock(_)
    ));
    let mut bad = good.clone();
    bad[24] = 5;
    with(&bad);
    assert!(matches!(
        err(VectorDtype::Float32, "fp", 8),
        Error::Quantization(_)
    ));
    // A count past the capacity reads no further than the capacity.
    let mut bad = good.clone();
    bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    with(&bad);
    let m = open(&base, VectorDtype::Float32, 4);
    assert!(m.search(&unit(8, 0), "ns", 3).unwrap().is_empty());
}

#[test]
fn files_pass_both_ways_with_mneme_cache_1_0_s_primitive() {
    for dtype in ["float32", "float16", "int8"] {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        let ours = dir.path().join("ours");
        let d: VectorDtype = dtype.parse().unwrap();
        // 1.0 writes (capacity 4: unaligned vectors, and growth), we read.
        let out = peer::run(
            &["mmap-write", theirs.to_str().unwrap(), dtype, "4", "8"],
            None,
        );
        assert_eq!(out.at("count").int(), 9, "eight rows and the long one");
        let m = SharedMatrix::open(&theirs, 8, d, "interop", 4).unwrap();
        for i in 0..8 {
            if i == 3 {
                continue; // 1.0 removed it
            }
            let top = m.search(&unit(8, i), &format!("ns-{}", i % 2), 1).unwrap();
            assert_eq!(top[0].0, 100 + i as i64, "{dtype}: 1.0's row {i}");
        }
        assert!(m
            .search(&unit(8, 3), "ns-1", 10)
            .unwrap()
            .iter()
            .all(|c| c.0 != 103));
        let long = m
            .search(&unit(8, 7), "a-namespace-longer-than-sixteen-bytes", 1)
            .unwrap();
        assert_eq!(long[0].0, 999, "{dtype}: long namespace tokens agree");
        // We write, 1.0 reads.
        let w = SharedMatrix::open(&ours, 8, d, "interop", 4).unwrap();
        for i in 0..8 {
            w.append(100 + i as i64, &unit(8, i), &format!("ns-{}", i % 2))
                .unwrap();
        }
        w.remove(103).unwrap();
        w.append(999, &unit(8, 7), "a-namespace-longer-than-sixteen-bytes")
            .unwrap();
        let read = peer::run(&["mmap-read", ours.to_str().unwrap(), dtype], None);
        assert_eq!(read.at("tops").items().len(), 8, "{dtype}: {read:?}");
        for (i, top) in read.at("tops").items().iter().enumerate() {
            let expected = if i == 3 { None } else { Some(100 + i as i64) };
            let got = (!matches!(top, mneme::metadata::Value::Null)).then(|| top.int());
            assert_eq!(got, expected, "{dtype}: 1.0 reads our row {i}");
        }
        assert_eq!(read.at("long").int(), 999);
    }
}
