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
pub mod scalar;

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

/// The environment variable that forces a kernel level: `scalar`, `avx2` or `avx512`.
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

    /// Every level this CPU can run, slowest first: scalar, then AVX2+FMA+F16C, then AVX-512F
    /// (whose conversions stay AVX2's: they must be bit-exact, and are not on a hot path).
    pub fn available() -> Vec<Kernels> {
        #[allow(unused_mut)]
        let mut levels = vec![Kernels::scalar()];
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
                name: "avx2+fma+f16c",
            };
            levels.push(avx2);
            if is_x86_feature_detected!("avx512f") {
                levels.push(Kernels {
                    dot_f32: safe_avx512::dot_f32,
                    dot_f16: safe_avx512::dot_f16,
                    dot_i8: safe_avx512::dot_i8,
                    name: "avx512f",
                    ..avx2
                });
            }
        }
        levels
    }

    /// The level `wanted` names (`scalar`, `avx2`, `avx512`) among `levels`, else the best one.
    fn choose(levels: Vec<Kernels>, wanted: Option<&str>) -> Kernels {
        let best = *levels.last().expect("scalar is always available");
        let Some(wanted) = wanted else { return best };
        match levels.iter().find(|k| k.name.starts_with(wanted)) {
            Some(k) => *k,
            None => {
                log::warn!(target: "mneme.index", "{FORCE_ENV}={wanted:?} is not a level this CPU runs ({}); using {}", levels.iter().map(|k| k.name).collect::<Vec<_>>().join(", "), best.name);
                best
            }
        }
    }

    /// The fastest kernels this CPU supports, or the level `MNEME_KERNELS` names (`scalar`,
    /// `avx2`, `avx512`) to compare or debug; `MNEME_FORCE_SCALAR=1` is `MNEME_KERNELS=scalar`.
    /// Chosen once per process.
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
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c"),
                "avx512f",
            );
            for wanted in ["avx2", "avx512"] {
                if let Some(k) = levels.iter().find(|k| k.name.starts_with(wanted)) {
                    assert_eq!(Kernels::choose(levels.clone(), Some(wanted)).name, k.name);
                }
            }
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
}
