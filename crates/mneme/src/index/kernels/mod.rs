//! Dot-product kernels of an f32 query against f32, f16 and int8 rows.
//!
//! The instruction set is detected once ([`Kernels::detect`]) and the index keeps plain function
//! pointers, so the scan loop never branches on CPU features. The scalar kernels are the oracle
//! of the property tests below, over every length (tails included) and dtype.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod exact;
#[cfg(target_arch = "aarch64")]
mod neon;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
mod vnni;

/// An int8 row · 8-bit query ([`QueryU8`], whose values are never 0) kernel, exact.
pub type IntDot = fn(&[i8], &[u8]) -> i64;

/// A chosen set of kernels.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// f32 row · f32 query.
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    /// f16 row (raw bits) · f32 query.
    pub dot_f16: fn(&[u16], &[f32]) -> f32,
    /// int8 row · f32 query (scale folded into the query).
    pub dot_i8: fn(&[i8], &[f32]) -> f32,
    /// f32 → int8 quantisation, bit-exact with [`scalar::quantize_i8`].
    pub quantize_i8: fn(&[f32], &mut [i8]),
    /// f32 → binary16 bits, bit-exact with [`scalar::to_f16`].
    pub to_f16: fn(&[f32], &mut [u16]),
    /// int8 row · 8-bit query ([`QueryU8`]), summed exactly: for CPUs that multiply bytes
    /// faster than they convert them to floats (AVX2, VNNI). `None` elsewhere.
    pub dot_i8_u8: Option<IntDot>,
    /// Which instruction set was chosen, for benchmarks and logs.
    pub name: &'static str,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(target_arch = "x86_64")]
mod safe_avx2 {
    //! Safe wrappers: only reachable through `Kernels::detect`, which checks the CPU features
    //! each kernel needs.
    pub fn dot_f32(r: &[f32], q: &[f32]) -> f32 {
        // SAFETY: see the module comment above.
        unsafe { super::avx2::dot_f32(r, q) }
    }
    pub fn dot_f16(r: &[u16], q: &[f32]) -> f32 {
        // SAFETY: see the module comment above.
        unsafe { super::avx2::dot_f16(r, q) }
    }
    pub fn dot_i8(r: &[i8], q: &[f32]) -> f32 {
        // SAFETY: see the module comment above.
        unsafe { super::avx2::dot_i8(r, q) }
    }
    pub fn quantize_i8(src: &[f32], dst: &mut [i8]) {
        // SAFETY: see the module comment above.
        unsafe { super::avx2::quantize_i8(src, dst) }
    }
    pub fn to_f16(src: &[f32], dst: &mut [u16]) {
        // SAFETY: see the module comment above.
        unsafe { super::avx2::to_f16(src, dst) }
    }
}

#[cfg(target_arch = "x86_64")]
fn safe_dot_i8_u8_avx2(r: &[i8], q: &[u8]) -> i64 {
    assert!(r.len() <= MAX_INT_DIM && q.len() <= MAX_INT_DIM);
    debug_assert!(!q.contains(&0), "a QueryU8 is never 0");
    // SAFETY: only reachable through `Kernels::available`, which checks AVX2; the length
    // bound is asserted above.
    unsafe { avx2::dot_i8_u8(r, q) }
}

#[cfg(target_arch = "x86_64")]
fn safe_dot_i8_u8(r: &[i8], q: &[u8]) -> i64 {
    assert!(r.len() <= MAX_INT_DIM && q.len() <= MAX_INT_DIM);
    // SAFETY: only reachable through `Kernels::available`, which checks AVX-512F, BW, VL and
    // VNNI; the length bound is asserted above.
    unsafe { vnni::dot_i8_u8(r, q) }
}

#[cfg(target_arch = "x86_64")]
fn safe_dot_i8_u8_avx(r: &[i8], q: &[u8]) -> i64 {
    assert!(r.len() <= MAX_INT_DIM && q.len() <= MAX_INT_DIM);
    // SAFETY: only reachable through `Kernels::available`, which checks AVX2 and AVX-VNNI;
    // the length bound is asserted above.
    unsafe { vnni::dot_i8_u8_avx(r, q) }
}

/// The longest rows [`Kernels::dot_i8_u8`] takes: past it an int32 lane could overflow.
pub const MAX_INT_DIM: usize = 1 << 20;

/// A query rounded to 8 bits for [`Kernels::dot_i8_u8`]: `q ≈ scale × (values - 128)`, within
/// `scale / 2` per element, 1/254 of the largest one. That moves a 768-long unit query's score
/// by about 3e-4, a seventh of what rounding the rows to int8 already does; the scan only picks
/// candidates, and the cache decides by the exact rule ([`Kernels::exact`]).
pub struct QueryU8 {
    /// The query over `scale`, rounded (the largest element is ±127), plus 128.
    pub values: Vec<u8>,
    /// What one step of `values` is worth.
    pub scale: f32,
}

impl QueryU8 {
    /// `None` for rows longer than [`MAX_INT_DIM`], a query with a NaN or an infinity (the
    /// float kernels give them their rules) or one of zeros.
    pub fn new(q: &[f32]) -> Option<Self> {
        let top = q.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if q.len() > MAX_INT_DIM || q.iter().any(|x| !x.is_finite()) || top == 0.0 {
            return None;
        }
        let scale = top / 127.0;
        let values = q
            .iter()
            .map(|x| ((x / scale).round().clamp(-127.0, 127.0) as i32 + 128) as u8)
            .collect();
        Some(QueryU8 { values, scale })
    }
}

/// An 8-bit query with the kernel that scores int8 rows against it.
pub struct Int8Query {
    query: QueryU8,
    dot: IntDot,
}

impl Int8Query {
    /// The score of `row` (the query's scale applied).
    #[inline]
    pub fn score(&self, row: &[i8]) -> f32 {
        (self.dot)(row, &self.query.values) as f32 * self.query.scale
    }
}

#[cfg(target_arch = "x86_64")]
mod safe_avx512 {
    //! Safe wrappers: only reachable through `Kernels::available`, which checks AVX-512F.
    pub fn dot_f32(r: &[f32], q: &[f32]) -> f32 {
        // SAFETY: see the module comment above.
        unsafe { super::avx512::dot_f32(r, q) }
    }
    pub fn dot_f16(r: &[u16], q: &[f32]) -> f32 {
        // SAFETY: see the module comment above.
        unsafe { super::avx512::dot_f16(r, q) }
    }
    pub fn dot_i8(r: &[i8], q: &[f32]) -> f32 {
        // SAFETY: see the module comment above.
        unsafe { super::avx512::dot_i8(r, q) }
    }
}

/// The environment variable that forces a kernel level: `scalar`, `avx2`, `avxvnni`,
/// `avx512` or `avx512vnni` on x86-64, `scalar` or `neon` on aarch64.
pub const FORCE_ENV: &str = "MNEME_KERNELS";

impl Kernels {
    /// The portable kernels.
    pub fn scalar() -> Self {
        Kernels {
            dot_f32: scalar::dot_f32,
            dot_f16: scalar::dot_f16,
            dot_i8: scalar::dot_i8,
            quantize_i8: scalar::quantize_i8,
            to_f16: scalar::to_f16,
            dot_i8_u8: None,
            name: "scalar",
        }
    }

    /// The deciding rule ([`exact`]): not a level to scan with, the one to rank candidates and
    /// test the threshold with, identical on every machine.
    pub fn exact() -> Self {
        Kernels {
            dot_f32: exact::dot_f32,
            dot_f16: exact::dot_f16,
            dot_i8: exact::dot_i8,
            name: "exact",
            ..Kernels::scalar()
        }
    }

    /// Every level this CPU can run, slowest first: scalar, then AVX2+FMA+F16C (int8 scans
    /// against an 8-bit query too, through `vpmaddubsw`), then AVX-VNNI
    /// (AVX2 plus int8 scans against an 8-bit query, 32 bytes an instruction), then AVX-512F
    /// (whose conversions stay AVX2's: they must be bit-exact, and are not on a hot path; it
    /// keeps the integer kernel of the level below it), then AVX-512 VNNI (AVX-512F plus
    /// int8 scans, 64 bytes an instruction). On aarch64: scalar, then NEON.
    pub fn available() -> Vec<Kernels> {
        #[allow(unused_mut)]
        let mut levels = vec![Kernels::scalar()];
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("neon") {
            levels.push(Kernels {
                dot_f32: neon::dot_f32,
                dot_f16: neon::dot_f16,
                dot_i8: neon::dot_i8,
                name: "neon",
                ..Kernels::scalar()
            });
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            let avx2 = Kernels {
                dot_f32: safe_avx2::dot_f32,
                dot_f16: safe_avx2::dot_f16,
                dot_i8: safe_avx2::dot_i8,
                quantize_i8: safe_avx2::quantize_i8,
                to_f16: safe_avx2::to_f16,
                dot_i8_u8: Some(safe_dot_i8_u8_avx2),
                name: "avx2+fma+f16c",
            };
            levels.push(avx2);
            let mut below = avx2;
            if is_x86_feature_detected!("avxvnni") {
                below = Kernels {
                    dot_i8_u8: Some(safe_dot_i8_u8_avx),
                    name: "avxvnni",
                    ..avx2
                };
                levels.push(below);
            }
            if is_x86_feature_detected!("avx512f") {
                let avx512 = Kernels {
                    dot_f32: safe_avx512::dot_f32,
                    dot_f16: safe_avx512::dot_f16,
                    dot_i8: safe_avx512::dot_i8,
                    name: "avx512f",
                    ..below
                };
                levels.push(avx512);
                if is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
                {
                    levels.push(Kernels {
                        dot_i8_u8: Some(safe_dot_i8_u8),
                        name: "avx512vnni",
                        ..avx512
                    });
                }
            }
        }
        levels
    }

    /// The level `wanted` names ([`FORCE_ENV`]'s values) among `levels`, else the best one.
    fn choose(levels: Vec<Kernels>, wanted: Option<&str>) -> Kernels {
        let best = *levels.last().expect("scalar is always available");
        let Some(wanted) = wanted else { return best };
        let found = levels.iter().find(|k| k.name == wanted);
        match found.or_else(|| levels.iter().find(|k| k.name.starts_with(wanted))) {
            Some(k) => *k,
            None => {
                log::warn!(target: "mneme.index", "{FORCE_ENV}={wanted:?} is not a level this CPU runs ({}); using {}", levels.iter().map(|k| k.name).collect::<Vec<_>>().join(", "), best.name);
                best
            }
        }
    }

    /// `q` (already scaled for int8 rows) as an 8-bit query, where these kernels score int8
    /// rows in integers and `q` can be rounded ([`QueryU8::new`]); `None` means the float path.
    pub fn int8_query(&self, q: &[f32]) -> Option<Int8Query> {
        Some(Int8Query {
            dot: self.dot_i8_u8?,
            query: QueryU8::new(q)?,
        })
    }

    /// The fastest kernels this CPU supports, or the level `MNEME_KERNELS` names ([`FORCE_ENV`])
    /// to compare or debug; `MNEME_FORCE_SCALAR=1` is
    /// `MNEME_KERNELS=scalar`. Chosen once per process.
    pub fn detect() -> Self {
        static CHOSEN: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let forced = std::env::var(FORCE_ENV)
                .ok()
                .or_else(|| std::env::var_os("MNEME_FORCE_SCALAR").map(|_| "scalar".to_owned()));
            Kernels::choose(Kernels::available(), forced.as_deref())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f32, b: f32, scale: f32) -> bool {
        (a - b).abs() <= 1e-5 * scale.max(1.0)
    }

    proptest! {
        #[test]
        fn detected_kernels_agree_with_the_scalar_oracle(
            pairs in proptest::collection::vec((-1.0f32..1.0, -1.0f32..1.0), 0..300),
        ) {
            let (row, q): (Vec<f32>, Vec<f32>) = pairs.into_iter().unzip();
            for k in Kernels::available() {
                let scale: f32 = row.iter().zip(&q).map(|(a, b)| (a * b).abs()).sum();
                prop_assert!(close((k.dot_f32)(&row, &q), scalar::dot_f32(&row, &q), scale), "{}", k.name);

                let h = crate::quant::quantize_float16(&row);
                prop_assert!(close((k.dot_f16)(&h, &q), scalar::dot_f16(&h, &q), scale), "{}", k.name);

                let i = crate::quant::quantize_int8(&row);
                let scale_i: f32 = i.iter().zip(&q).map(|(a, b)| (*a as f32 * b).abs()).sum();
                prop_assert!(close((k.dot_i8)(&i, &q), scalar::dot_i8(&i, &q), scale_i), "{}", k.name);

                if let (Some(dot), Some(q8)) = (k.dot_i8_u8, QueryU8::new(&q)) {
                    prop_assert_eq!(dot(&i, &q8.values), scalar::dot_i8_u8(&i, &q8.values), "{}", k.name);
                }
            }
        }

        #[test]
        fn integer_kernels_are_exact_for_any_row_and_8_bit_query(
            pairs in proptest::collection::vec((any::<i8>(), 1u8..=255), 0..600),
        ) {
            let (row, q): (Vec<i8>, Vec<u8>) = pairs.into_iter().unzip();
            for k in Kernels::available() {
                if let Some(dot) = k.dot_i8_u8 {
                    prop_assert_eq!(dot(&row, &q), scalar::dot_i8_u8(&row, &q), "{}", k.name);
                }
            }
        }

        #[test]
        fn detected_conversions_are_bit_exact(
            v in proptest::collection::vec(prop_oneof![
                -2.0f32..2.0,
                Just(0.5 / 127.0),
                Just(-1.5 / 127.0),
                Just(1e-8f32),
                Just(65520.0f32),
                Just(6.0e-8f32),
                Just(f32::NAN),
                Just(f32::INFINITY),
                Just(f32::NEG_INFINITY),
            ], 0..100),
        ) {
            let k = Kernels::detect();
            let (mut a, mut b) = (vec![0i8; v.len()], vec![0i8; v.len()]);
            (k.quantize_i8)(&v, &mut a);
            scalar::quantize_i8(&v, &mut b);
            prop_assert_eq!(a, b);
            let (mut a, mut b) = (vec![0u16; v.len()], vec![0u16; v.len()]);
            (k.to_f16)(&v, &mut a);
            scalar::to_f16(&v, &mut b);
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn a_forced_level_is_the_one_chosen_and_an_unknown_one_falls_back_to_the_best() {
        let levels = Kernels::available();
        let best = levels.last().unwrap().name;
        assert_eq!(Kernels::choose(levels.clone(), None).name, best);
        assert_eq!(
            Kernels::choose(levels.clone(), Some("scalar")).name,
            "scalar"
        );
        assert_eq!(
            Kernels::choose(levels.clone(), Some("neon-on-x86")).name,
            best
        );
        #[cfg(target_arch = "x86_64")]
        {
            let expect = |feature: bool, name: &str| {
                assert_eq!(levels.iter().any(|k| k.name == name), feature, "{name}");
            };
            expect(
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c"),
                "avx2+fma+f16c",
            );
            expect(
                is_x86_feature_detected!("avxvnni")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c"),
                "avxvnni",
            );
            expect(
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c"),
                "avx512f",
            );
            expect(
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c"),
                "avx512vnni",
            );
            for wanted in ["avx2", "avxvnni", "avx512", "avx512vnni"] {
                if let Some(k) = levels.iter().find(|k| k.name.starts_with(wanted)) {
                    assert_eq!(Kernels::choose(levels.clone(), Some(wanted)).name, k.name);
                }
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            assert_eq!(best, "neon", "NEON is part of every aarch64 CPU");
            assert_eq!(Kernels::choose(levels.clone(), Some("neon")).name, "neon");
        }
    }

    #[test]
    fn every_tail_length_is_covered() {
        for k in Kernels::available() {
            for n in 0..80 {
                let row: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).sin()).collect();
                let q: Vec<f32> = (0..n).map(|i| (i as f32 * 1.3).cos()).collect();
                let want = scalar::dot_f32(&row, &q);
                assert!(
                    close((k.dot_f32)(&row, &q), want, n as f32),
                    "{} n={n}",
                    k.name
                );
                let i8s = crate::quant::quantize_int8(&row);
                assert!(
                    close(
                        (k.dot_i8)(&i8s, &q),
                        scalar::dot_i8(&i8s, &q),
                        127.0 * n as f32
                    ),
                    "{} n={n}",
                    k.name
                );
                let h = crate::quant::quantize_float16(&row);
                assert!(
                    close((k.dot_f16)(&h, &q), scalar::dot_f16(&h, &q), n as f32),
                    "{} n={n}",
                    k.name
                );
            }
        }
    }

    #[test]
    fn the_integer_kernel_cannot_overflow_at_its_longest_rows() {
        for k in Kernels::available() {
            let Some(dot) = k.dot_i8_u8 else { continue };
            // A query byte is never 0 (`QueryU8`): 1 is the far end on the negative side.
            for (r, q) in [(-128i8, 255u8), (127, 255), (-128, 1), (127, 1)] {
                let row = vec![r; MAX_INT_DIM];
                let query = vec![q; MAX_INT_DIM];
                let want = MAX_INT_DIM as i64 * i64::from(r) * (i64::from(q) - 128);
                assert_eq!(dot(&row, &query), want, "{}", k.name);
            }
        }
    }

    #[test]
    fn an_8_bit_query_is_within_half_a_step_of_the_float_one() {
        let q: Vec<f32> = (0..777).map(|i| (i as f32 * 0.37).sin() * 0.2).collect();
        let q8 = QueryU8::new(&q).unwrap();
        for (x, v) in q.iter().zip(&q8.values) {
            let back = q8.scale * (f32::from(*v) - 128.0);
            assert!((x - back).abs() <= q8.scale * 0.5 + 1e-7, "{x} {back}");
        }
        assert!(q8.values.iter().all(|&v| v >= 1));
        assert!(QueryU8::new(&[0.0; 4]).is_none());
        assert!(QueryU8::new(&[1.0, f32::NAN]).is_none());
        assert!(QueryU8::new(&vec![0.5; MAX_INT_DIM + 1]).is_none());
    }
}
