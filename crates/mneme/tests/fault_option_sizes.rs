//! Every size and count option, over its whole range: a cache either opens and serves, or
//! refuses with a typed error. No value may panic or abort the process (an abort would end this
//! test binary, failing it).

mod common;

use common::embedders::TestEmbedder;
use mneme::{Error, IndexBackend, IndexOptions, Put, SemanticCache, VectorDtype, MAX_DIM};
use proptest::prelude::*;

/// Small values that open, or huge ones that no machine can allocate (the middle only costs
/// memory, which is what the option asks for).
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..=2048,
        (36u32..usize::BITS).prop_flat_map(|e| {
            let low = 1usize << e;
            low..=low.saturating_mul(2).saturating_sub(1).max(low)
        }),
        Just(usize::MAX),
    ]
}

fn dtype() -> impl Strategy<Value = VectorDtype> {
    prop_oneof![
        Just(VectorDtype::Float32),
        Just(VectorDtype::Float16),
        Just(VectorDtype::Int8)
    ]
}

fn refused_cleanly(result: &Result<(), Error>) -> bool {
    matches!(
        result,
        Ok(()) | Err(Error::InvalidArgument(_)) | Err(Error::OutOfMemory(_))
    )
}

/// Opens a cache with `options`, writes two rows (HNSW links the second to the first) and reads.
fn exercise(
    dim: usize,
    backend: IndexBackend,
    dtype: VectorDtype,
    options: &[(&str, usize)],
) -> Result<(), Error> {
    let dir = tempfile::tempdir().unwrap();
    let mut o = IndexOptions::default();
    for (key, value) in options {
        // Past i64 (Python's reach) the option is clamped: still far beyond any memory.
        let n = i64::try_from(*value).unwrap_or(i64::MAX);
        o.set(key, mneme::IndexOptionValue::Integer(n))?;
    }
    let cache = SemanticCache::builder(TestEmbedder::new(dim))
        .path(dir.path().join("c.db"))
        .index_backend(backend)
        .vector_dtype(dtype)
        .index_options(o)
        .open()?;
    let mut v = vec![0.0; dim];
    v[0] = 1.0;
    cache.put_with("a", "ra", Put::default().embedding(&v))?;
    v[dim - 1] += 0.5;
    cache.put_with("b", "rb", Put::default().embedding(&v))?;
    assert!(cache.get("a")?.is_some());
    cache.close()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn flat_initial_capacity(capacity in size(), dtype in dtype()) {
        let r = exercise(8, IndexBackend::Flat, dtype, &[("initial_capacity", capacity)]);
        prop_assert!(refused_cleanly(&r), "{r:?}");
        if capacity <= 2048 {
            prop_assert!(r.is_ok(), "{r:?}");
        }
        if capacity >= 1 << 40 {
            prop_assert!(matches!(r, Err(Error::OutOfMemory(_))), "{r:?}");
        }
    }

    #[test]
    fn hnsw_parameters(
        m in size(),
        ef_construction in size(),
        ef in size(),
        max_elements in size(),
        dtype in dtype(),
    ) {
        let options = [
            ("M", m),
            ("ef_construction", ef_construction),
            ("ef", ef),
            ("initial_max_elements", max_elements),
        ];
        let r = exercise(8, IndexBackend::Hnsw, dtype, &options);
        prop_assert!(refused_cleanly(&r), "{r:?}");
        if m <= mneme::index::hnsw::MAX_M && max_elements <= 2048 {
            prop_assert!(r.is_ok(), "{r:?}");
        }
    }

    #[test]
    fn embedder_dim(dim in size()) {
        let r = exercise(dim.min(1 << 20), IndexBackend::Flat, VectorDtype::Float32, &[]);
        prop_assert!(refused_cleanly(&r), "{r:?}");
        if dim > MAX_DIM {
            prop_assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        }
    }
}

#[test]
fn an_embedder_dim_past_the_cap_is_refused_before_any_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let r = SemanticCache::builder(TestEmbedder::new(1 << 40))
        .path(dir.path().join("c.db"))
        .open();
    let Err(Error::InvalidArgument(m)) = r else {
        panic!("expected InvalidArgument, got {:?}", r.map(|_| ()));
    };
    assert!(m.problem().contains("dim"), "{m}");
    assert!(!dir.path().join("c.db").exists(), "nothing was written");
}
