//! Token vectors to one unit vector per text, as sentence-transformers' Pooling and Normalize
//! modules compute it.

use super::Pooling;
use candle_core::{DType, Result, Tensor, D};

/// `hidden` is `[batch, tokens, dim]`, `mask` `[batch, tokens]` (1 for a real token).
pub fn pool(mode: Pooling, hidden: &Tensor, mask: &Tensor) -> Result<Vec<Vec<f32>>> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // [b, t, 1]
    let pooled = match mode {
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
        Pooling::Mean | Pooling::MeanSqrtLen => {
            let sum = hidden.broadcast_mul(&mask)?.sum(1)?; // [b, d]
                                                            // sentence-transformers clamps the count at 1e-9 so an all-padding row gives 0s.
            let count = mask.sum(1)?.clamp(1e-9, f32::MAX)?; // [b, 1]
            let divisor = if mode == Pooling::Mean {
                count
            } else {
                count.sqrt()?
            };
            sum.broadcast_div(&divisor)?
        }
        Pooling::Max => {
            // Padding must never win the maximum: push it far below any real value.
            let penalty = ((mask.ones_like()? - &mask)? * -1e9)?;
            hidden.broadcast_add(&penalty)?.max(1)?
        }
    };
    let norm = pooled
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f32::MAX)?;
    pooled.broadcast_div(&norm)?.to_vec2::<f32>()
}
