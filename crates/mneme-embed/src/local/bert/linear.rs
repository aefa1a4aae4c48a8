//! `y = x·Wᵀ + b` for the encoder's dense layers, with the weights packed once at load into
//! panels of 16 output columns (K rows × 16, contiguous). A query embeds a handful of tokens, so
//! each product has few rows: packing per call (what general GEMM libraries do) would cost more
//! than the arithmetic. Here each panel is streamed once per call and stays in cache while every
//! block of 6 rows runs over it; panels are split between the threads.

use rayon::prelude::*;

/// Output columns per panel (two 8-lane vectors).
const NR: usize = 16;
/// Rows per micro-kernel call.
const MR: usize = 6;
/// The depth of one pass: 6 rows and a 16-column panel of this depth (6 KB + 16 KB) stay in L1
/// while the kernel runs over them.
const KC: usize = 256;

/// A dense layer with packed weights.
pub struct Linear {
    /// Input width (K).
    pub k: usize,
    /// Output width (N).
    pub n: usize,
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl Linear {
    /// Packs a PyTorch-layout weight `[n][k]` (row-major) and its bias.
    pub fn new(weight: &[f32], bias: Vec<f32>, n: usize, k: usize) -> Linear {
        assert_eq!(weight.len(), n * k, "weight shape");
        assert_eq!(bias.len(), n, "bias shape");
        let count = n.div_ceil(NR);
        let mut panels = vec![0.0; count * k * NR];
        for (j, panel) in panels.chunks_mut(k * NR).enumerate() {
            for c in 0..NR {
                let col = j * NR + c;
                if col >= n {
                    break;
                }
                let w = &weight[col * k..(col + 1) * k];
                for (p, &v) in w.iter().enumerate() {
                    panel[p * NR + c] = v;
                }
            }
        }
        Linear { k, n, panels, bias }
    }

    /// `out[m][n] = x[m][k]·Wᵀ + b` for `m` rows.
    pub fn forward(&self, x: &[f32], m: usize, out: &mut [f32]) {
        assert_eq!(x.len(), m * self.k);
        assert_eq!(out.len(), m * self.n);
        let kernel = Kernel::detect();
        let out_ptr = SharedOut(out.as_mut_ptr());
        let panel_count = self.n.div_ceil(NR);
        // Enough panels per task to amortise the task, few enough to balance two threads.
        let per_task = panel_count.div_ceil(8).max(1);
        (0..panel_count)
            .into_par_iter()
            .with_min_len(per_task)
            .for_each(|j| {
                let panel = &self.panels[j * self.k * NR..(j + 1) * self.k * NR];
                let cols = NR.min(self.n - j * NR);
                let bias = &self.bias[j * NR..j * NR + cols];
                let blocks = m.div_ceil(MR);
                let mut acc = vec![[[0.0f32; NR]; MR]; blocks];
                for k0 in (0..self.k).step_by(KC) {
                    let depth = KC.min(self.k - k0);
                    let slab = &panel[k0 * NR..(k0 + depth) * NR];
                    for (b, block) in acc.iter_mut().enumerate() {
                        let r0 = b * MR;
                        let rows = MR.min(m - r0);
                        kernel.run(&x[r0 * self.k + k0..], self.k, depth, rows, slab, block);
                    }
                }
                for (b, block) in acc.iter().enumerate() {
                    let r0 = b * MR;
                    let rows = MR.min(m - r0);
                    for (r, row) in block.iter().enumerate().take(rows) {
                        let dst = (r0 + r) * self.n + j * NR;
                        for c in 0..cols {
                            // SAFETY: each task writes only its own panel's columns
                            // (j·16 .. j·16+cols) of every row, inside `out` (m × n); no two
                            // tasks share a panel, and `out` outlives the loop.
                            unsafe { *out_ptr.at(dst + c) = row[c] + bias[c] };
                        }
                    }
                }
            });
    }
}

/// The output buffer, shared by the tasks that write disjoint columns of it.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: tasks write disjoint elements (see `forward`), and the buffer outlives them.
unsafe impl Send for SharedOut {}
// SAFETY: as above: no element is written by two tasks or read while written.
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The element at `i`. Taking `self` (not the field) keeps the closure capturing the
    /// whole wrapper, which is what is `Send`.
    fn at(self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

/// The micro-kernel chosen for this CPU.
#[derive(Clone, Copy)]
enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Kernel::Avx2Fma;
        }
        Kernel::Scalar
    }

    /// `acc[r][c] += Σ_{p < depth} x[r·lda + p] · panel[p·16 + c]` for `r < rows` (rows past
    /// `rows` repeat the last one and are ignored by the caller).
    fn run(
        self,
        x: &[f32],
        lda: usize,
        depth: usize,
        rows: usize,
        panel: &[f32],
        acc: &mut [[f32; NR]; MR],
    ) {
        // Real checks, not debug ones: the AVX2 kernel's reads rely on them.
        assert!((1..=MR).contains(&rows) && depth <= lda && x.len() >= (rows - 1) * lda + depth);
        assert_eq!(panel.len(), depth * NR);
        match self {
            Kernel::Scalar => scalar(x, lda, depth, rows, panel, acc),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: chosen only when the CPU reports AVX2 and FMA; the slices' bounds are
            // checked above and every read stays inside them.
            Kernel::Avx2Fma => unsafe { avx2(x, lda, depth, rows, panel, acc) },
        }
    }
}

fn scalar(
    x: &[f32],
    lda: usize,
    depth: usize,
    rows: usize,
    panel: &[f32],
    acc: &mut [[f32; NR]; MR],
) {
    for (r, out) in acc.iter_mut().enumerate().take(rows) {
        let row = &x[r * lda..r * lda + depth];
        for (p, &a) in row.iter().enumerate() {
            let w = &panel[p * NR..p * NR + NR];
            for c in 0..NR {
                out[c] += a * w[c];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(
    x: &[f32],
    lda: usize,
    depth: usize,
    rows: usize,
    panel: &[f32],
    acc: &mut [[f32; NR]; MR],
) {
    use std::arch::x86_64::*;
    // Rows past `rows` read the last real row again: in bounds, results discarded.
    let row = |r: usize| x.as_ptr().wrapping_add(r.min(rows - 1) * lda);
    let a = [row(0), row(1), row(2), row(3), row(4), row(5)];
    let b = panel.as_ptr();
    let mut c = [[_mm256_setzero_ps(); 2]; MR];
    for r in 0..MR {
        // SAFETY: acc[r] is 16 floats; two unaligned 8-float loads read it.
        unsafe {
            c[r][0] = _mm256_loadu_ps(acc[r].as_ptr());
            c[r][1] = _mm256_loadu_ps(acc[r].as_ptr().add(8));
        }
    }
    for p in 0..depth {
        // SAFETY: p < depth, so b + p·16 + 15 < depth·16 = panel.len(), and a[r] + p stays
        // inside row r of x (checked by the caller: depth <= lda, x covers the last row).
        unsafe {
            let b0 = _mm256_loadu_ps(b.add(p * NR));
            let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
            for r in 0..MR {
                let v = _mm256_broadcast_ss(&*a[r].add(p));
                c[r][0] = _mm256_fmadd_ps(v, b0, c[r][0]);
                c[r][1] = _mm256_fmadd_ps(v, b1, c[r][1]);
            }
        }
    }
    for r in 0..MR {
        // SAFETY: acc[r] is 16 floats; two unaligned 8-float stores fill it.
        unsafe {
            _mm256_storeu_ps(acc[r].as_mut_ptr(), c[r][0]);
            _mm256_storeu_ps(acc[r].as_mut_ptr().add(8), c[r][1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], w: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = f64::from(b[j]);
                for p in 0..k {
                    s += f64::from(x[i * k + p]) * f64::from(w[j * k + p]);
                }
                out[i * n + j] = s as f32;
            }
        }
        out
    }

    #[test]
    fn every_shape_matches_the_naive_product_on_every_kernel() {
        let mut seed = 7u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for (m, n, k) in [
            (1, 1, 1),
            (1, 16, 3),
            (5, 17, 9),
            (6, 32, 16),
            (7, 33, 40),
            (13, 50, 64),
        ] {
            let x: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..n).map(|_| rnd()).collect();
            let want = naive(&x, &w, &b, m, n, k);
            let layer = Linear::new(&w, b.clone(), n, k);
            let mut got = vec![0.0; m * n];
            layer.forward(&x, m, &mut got);
            for (g, e) in got.iter().zip(&want) {
                assert!((g - e).abs() < 1e-4, "{m}x{n}x{k}: {g} vs {e}");
            }
            // The scalar oracle agrees with whichever kernel ran.
            let mut acc = [[0.0; NR]; MR];
            let rows = m.min(MR);
            Kernel::Scalar.run(&x, k, k, rows, &layer.panels[..k * NR], &mut acc);
            for c in 0..n.min(NR) {
                assert!((acc[0][c] + b[c] - want[c]).abs() < 1e-4);
            }
        }
    }
}
