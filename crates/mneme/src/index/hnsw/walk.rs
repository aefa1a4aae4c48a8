//! How a search walk scores the nodes it visits.
//!
//! At a million rows a walk is bound by memory: each visited node is a scattered read of its
//! whole row, 3 KB for 768 float32 values. A float32 graph therefore keeps an int8 copy of its
//! rows ([`Routing`], a quarter of the bytes) that searches walk on, against the query rounded
//! to 8 bits where the CPU multiplies bytes (AVX2, VNNI); the walk's final beam is then
//! re-scored on the float32 rows, so only the order in which the walk explores changes. int8
//! graphs walk their own rows the same way. A build's neighbour searches walk the same way,
//! with a wider beam, and re-score each layer's beam, so links are chosen by the stored rows'
//! scores; which nodes the beam holds may differ from a walk on the stored rows (a float32
//! graph with `int8_walk=false` walks those alone).

use super::super::flat::FlatIndex;
use super::super::kernels::{Int8Query, Kernels};
use super::super::pages;
use super::super::VectorIndex;
use crate::error::{Error, Result};
use crate::index::prefetch::{prefetch, prefetch_lines};
use rayon::prelude::*;

/// The int8 copy of a float32 graph's rows, node by node, each row on its own scale (its
/// largest value is ±127, so any vector length keeps the 8 bits' precision); empty when the
/// graph walks its own rows.
#[derive(Default, Debug, PartialEq)]
pub(super) struct Routing {
    rows: Vec<i8>,
    /// What one step of each row is worth.
    scales: Vec<f32>,
}

/// The largest magnitude in `v`. Sixteen running maxima, not one: a single chain waits on each
/// comparison, and an open quantises a million rows.
fn largest_magnitude(v: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail = chunks
        .remainder()
        .iter()
        .fold(0.0f32, |m, x| m.max(x.abs()));
    for chunk in chunks {
        for (m, x) in lanes.iter_mut().zip(chunk) {
            *m = m.max(x.abs());
        }
    }
    lanes.iter().fold(tail, |m, &x| m.max(x))
}

/// Quantises `src` into `dst` on its own scale; returns the scale.
fn quantize_row(src: &[f32], dst: &mut [i8], scratch: &mut Vec<f32>) -> f32 {
    let top = largest_magnitude(src);
    if !(top.is_finite() && top > 0.0) {
        dst.fill(0);
        return 0.0;
    }
    let inverse = 1.0 / top;
    scratch.clear();
    scratch.extend(src.iter().map(|x| x * inverse));
    (Kernels::detect().quantize_i8)(scratch, dst);
    top / 127.0
}

impl Routing {
    /// The copy of `rows`' first `nodes` rows, with room for `capacity`, or `None` when the
    /// rows are not float32 or the memory cannot be had. Quantised on every core of the shared
    /// pool: an open pays it once for a million rows.
    pub(super) fn of(rows: &FlatIndex, nodes: usize, capacity: usize) -> Option<Self> {
        const CHUNK: usize = 1024;
        let dim = rows.dim();
        let src = rows.f32_rows()?;
        let capacity = capacity.max(nodes);
        let mut copy: Vec<i8> = pages::zeroed(nodes * dim, capacity * dim)?;
        let mut scales: Vec<f32> = pages::zeroed(nodes, capacity)?;
        copy.par_chunks_mut(dim * CHUNK)
            .zip(scales.par_chunks_mut(CHUNK))
            .zip(src[..nodes * dim].par_chunks(dim * CHUNK))
            .for_each(|((dst, scales), src)| {
                let mut scratch = Vec::with_capacity(dim);
                for ((d, s), x) in dst.chunks_mut(dim).zip(scales).zip(src.chunks(dim)) {
                    *s = quantize_row(x, d, &mut scratch);
                }
            });
        Some(Routing { rows: copy, scales })
    }

    /// Makes room for one more row of `dim`, growing to `room` rows when full (the stored
    /// rows' capacity, so both grow together).
    pub(super) fn reserve(&mut self, dim: usize, room: usize) -> Result<()> {
        if self.scales.len() < self.scales.capacity() {
            return Ok(());
        }
        let more = room.max(self.scales.len() + 1) - self.scales.len();
        let refused = |e: std::collections::TryReserveError| {
            Error::out_of_memory(
                format!("cannot grow the HNSW walk's int8 copy by {more} rows: {e}"),
                "free memory, or open the cache with index_options int8_walk=false",
            )
        };
        self.rows.try_reserve_exact(more * dim).map_err(refused)?;
        self.scales.try_reserve_exact(more).map_err(refused)
    }

    /// Appends `vector`'s copy, in the room [`Self::reserve`] made.
    pub(super) fn push(&mut self, vector: &[f32]) {
        let at = self.rows.len();
        self.rows.resize(at + vector.len(), 0);
        let scale = quantize_row(vector, &mut self.rows[at..], &mut Vec::new());
        self.scales.push(scale);
    }

    /// Bytes held.
    pub(super) fn memory_bytes(&self) -> u64 {
        (self.rows.capacity() + 4 * self.scales.capacity()) as u64
    }

    pub(super) fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }
}

/// One search's scoring: the stored rows with their float kernel, or int8 rows (the graph's
/// own, or its [`Routing`] copy).
pub(super) enum Walker<'a> {
    /// The stored rows, against the query prepared for them ([`FlatIndex::prepare_query`]).
    Rows { rows: &'a FlatIndex, q: &'a [f32] },
    /// int8 rows against the query rounded to 8 bits; the copy's rows carry their scales.
    Bytes {
        rows: &'a [i8],
        scales: Option<&'a [f32]>,
        dim: usize,
        q: Int8Query,
    },
    /// The copy's rows against the float query, on CPUs without an integer kernel.
    Floats {
        rows: &'a [i8],
        scales: &'a [f32],
        dim: usize,
        q: &'a [f32],
        dot: fn(&[i8], &[f32]) -> f32,
    },
}

impl<'a> Walker<'a> {
    /// The walk of a search: on the routing copy when there is one, and on int8 rows in bytes
    /// where the CPU has an integer kernel; else on the stored rows.
    pub(super) fn for_search(rows: &'a FlatIndex, routing: &'a Routing, q: &'a [f32]) -> Self {
        let (dim, kernels) = (rows.dim(), rows.kernels());
        if let Some(own) = rows.int8_rows() {
            // `q` is already over 127, the rows' common scale.
            return match kernels.int8_query(q) {
                Some(q) => Walker::Bytes {
                    rows: own,
                    scales: None,
                    dim,
                    q,
                },
                None => Walker::Rows { rows, q },
            };
        }
        if routing.is_empty() {
            return Walker::Rows { rows, q };
        }
        let (copy, scales) = (&routing.rows[..], Some(&routing.scales[..]));
        match kernels.int8_query(q) {
            Some(q) => Walker::Bytes {
                rows: copy,
                scales,
                dim,
                q,
            },
            None => Walker::Floats {
                rows: copy,
                scales: &routing.scales,
                dim,
                q,
                dot: kernels.dot_i8,
            },
        }
    }

    /// Whether scores are the stored rows' own (else the final beam is re-scored on them).
    pub(super) fn is_exact(&self) -> bool {
        matches!(self, Walker::Rows { .. })
    }

    #[inline]
    pub(super) fn score(&self, node: u32) -> f32 {
        let n = node as usize;
        match self {
            Walker::Rows { rows, q } => rows.score_offset(n, q),
            Walker::Bytes {
                rows,
                scales,
                dim,
                q,
            } => {
                let s = q.score(&rows[n * dim..(n + 1) * dim]);
                scales.map_or(s, |scales| s * scales[n])
            }
            Walker::Floats {
                rows,
                scales,
                dim,
                q,
                dot,
            } => dot(&rows[n * dim..(n + 1) * dim], q) * scales[n],
        }
    }

    /// Starts loading the node's row: a float row's first line (the hardware prefetcher
    /// follows), an int8 row whole, with its scale. A byte row is a few lines, and asking for
    /// all of them at once lets the misses of every fresh neighbour overlap instead of each row
    /// waiting on its own.
    #[inline]
    pub(super) fn prefetch(&self, node: u32) {
        let n = node as usize;
        let (rows, dim, scale) = match self {
            Walker::Rows { rows, .. } => return rows.prefetch_offset(n),
            Walker::Bytes {
                rows, dim, scales, ..
            } => (rows, dim, scales.and_then(|s| s.get(n))),
            Walker::Floats {
                rows, dim, scales, ..
            } => (rows, dim, scales.get(n)),
        };
        if let Some(row) = rows.get(n * dim..(n + 1) * dim) {
            prefetch_lines(row, dim.div_ceil(64));
        }
        if let Some(scale) = scale {
            prefetch(scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_magnitude_sees_every_element_and_either_sign() {
        assert_eq!(largest_magnitude(&[]), 0.0);
        for n in 1..40 {
            for at in 0..n {
                let mut v = vec![0.25f32; n];
                v[at] = -3.0;
                assert_eq!(largest_magnitude(&v), 3.0, "n={n} at={at}");
            }
        }
    }

    #[test]
    fn a_row_is_quantised_on_its_own_scale_and_a_zero_row_on_none() {
        let mut dst = [0i8; 3];
        let scale = quantize_row(&[0.5, -1.0, 0.25], &mut dst, &mut Vec::new());
        assert_eq!(dst, [64, -127, 32]);
        assert_eq!(scale, 1.0 / 127.0);
        assert_eq!(quantize_row(&[0.0; 3], &mut dst, &mut Vec::new()), 0.0);
        assert_eq!(dst, [0; 3]);
    }
}
