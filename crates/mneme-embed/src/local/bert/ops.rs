//! The encoder's small operations: layer norm, activations, attention over one sequence.

/// The feed-forward activation named by `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x·Φ(x)` with the exact error function (`gelu`, BERT's).
    Gelu,
    /// The tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
}

impl Activation {
    pub fn from_name(name: &str) -> Option<Activation> {
        match name {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    /// Applies the activation in place; AVX2 + FMA code when the CPU has them.
    pub fn apply(self, xs: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { self.apply_avx2(xs) };
        }
        self.apply_body(xs);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_avx2(self, xs: &mut [f32]) {
        self.apply_body(xs);
    }

    #[inline(always)]
    fn apply_body(self, xs: &mut [f32]) {
        match self {
            Activation::Gelu => {
                for x in xs {
                    *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
                }
            }
            Activation::GeluTanh => {
                const C: f32 = 0.797_884_6; // sqrt(2 / pi)
                for x in xs {
                    let v = *x;
                    // tanh(u) = 1 - 2 / (exp(2u) + 1)
                    let u = C * (v + 0.044_715 * v * v * v);
                    let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
                    *x = 0.5 * v * (1.0 + t);
                }
            }
            Activation::Relu => {
                for x in xs {
                    *x = x.max(0.0);
                }
            }
        }
    }
}

/// `e^x` without a library call, so loops over it vectorise: `2^(x·log2 e)` split into an
/// integer power (built in the exponent bits) and a degree-6 polynomial on [-0.5, 0.5].
/// Relative error under 2e-6 for |x| <= 20; inputs below -87 give 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let y = (x * std::f32::consts::LOG2_E).clamp(-126.0, 126.0);
    let n = y.round();
    let f = y - n;
    // 2^f for |f| <= 0.5 (Taylor coefficients of e^(f ln 2)), by Horner's rule.
    let p = 1.535_336_2e-4_f32;
    let p = p * f + 1.339_887_4e-3;
    let p = p * f + 9.618_438e-3;
    let p = p * f + 5.550_332_6e-2;
    let p = p * f + 2.402_264_7e-1;
    let p = p * f + 6.931_472e-1;
    let p = p * f + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < -87.0 {
        0.0
    } else {
        p * scale
    }
}

/// `erf(x)` (Abramowitz and Stegun 7.1.26, absolute error under 1.5e-7), vectorisable.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    let r = 1.0 - poly * exp(-a * a);
    r.copysign(x)
}

/// Layer norm over each row of `x` (`width` wide), in place, accumulating in f64.
pub fn layer_norm(x: &mut [f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32) {
    for row in x.chunks_mut(width) {
        let n = width as f64;
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = row
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let inv = 1.0 / (var + f64::from(eps)).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = ((f64::from(*v) - mean) * inv) as f32 * g + b;
        }
    }
}

/// Self-attention of one sequence: `qkv` holds `len` rows of `[q | k | v]` (3·hidden wide);
/// writes `len` rows of `hidden` to `out`. Every token sees every token (no padding exists:
/// sequences are never padded here). Compiled twice: for AVX2 + FMA when the CPU has them, and
/// for the baseline.
pub fn attention(qkv: &[f32], len: usize, hidden: usize, heads: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { attention_avx2(qkv, len, hidden, heads, out) };
    }
    attention_body(qkv, len, hidden, heads, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attention_avx2(qkv: &[f32], len: usize, hidden: usize, heads: usize, out: &mut [f32]) {
    attention_body(qkv, len, hidden, heads, out);
}

#[inline(always)]
fn attention_body(qkv: &[f32], len: usize, hidden: usize, heads: usize, out: &mut [f32]) {
    let d = hidden / heads;
    let scale = 1.0 / (d as f32).sqrt();
    // The engine's dot kernel, chosen once for this CPU (the index's scans use the same one).
    let dot = mneme::index::kernels::Kernels::detect().dot_f32;
    let stride = 3 * hidden;
    let mut scores = vec![0.0f32; len];
    for h in 0..heads {
        for i in 0..len {
            let q = &qkv[i * stride + h * d..i * stride + h * d + d];
            let mut max = f32::NEG_INFINITY;
            for (j, s) in scores.iter_mut().enumerate() {
                let k = &qkv[j * stride + hidden + h * d..j * stride + hidden + h * d + d];
                *s = dot(q, k) * scale;
                max = max.max(*s);
            }
            let mut total = 0.0f32;
            for s in scores.iter_mut() {
                *s = exp(*s - max);
                total += *s;
            }
            let o = &mut out[i * hidden + h * d..i * hidden + h * d + d];
            o.fill(0.0);
            for (j, &p) in scores.iter().enumerate() {
                let v = &qkv[j * stride + 2 * hidden + h * d..j * stride + 2 * hidden + h * d + d];
                let w = p / total;
                for (o, &v) in o.iter_mut().zip(v) {
                    *o += w * v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_match_the_library_closely() {
        let mut worst_exp = 0.0f64;
        let mut worst_erf = 0.0f64;
        for i in -20_000..=20_000 {
            let x = i as f32 / 1000.0; // -20 .. 20
            let e = f64::from(x).exp();
            worst_exp = worst_exp.max(((f64::from(exp(x)) - e) / e).abs());
            worst_erf = worst_erf.max((f64::from(erf(x)) - f64::from(libm::erff(x))).abs());
        }
        // x·log2(e) rounded to f32 costs up to ~1e-6 relative at |x| = 20; far below what
        // moves a sentence vector (the reference test checks the end result).
        assert!(worst_exp < 2e-6, "exp relative error {worst_exp}");
        assert!(worst_erf < 5e-7, "erf absolute error {worst_erf}");
        assert_eq!(exp(-100.0), 0.0);
        assert!(exp(88.0).is_finite());
    }
}
