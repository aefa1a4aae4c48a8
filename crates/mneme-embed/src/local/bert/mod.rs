//! A BERT encoder (the architecture of all-MiniLM, bge-small and e5-small) read from
//! safetensors and run in f32 on the CPU. Sequences are never padded: every dense layer runs on
//! the tokens of the whole batch laid end to end, and attention runs per sequence, so a batch
//! costs the sum of its lengths, not its count times the longest.

mod linear;
mod ops;

use linear::Linear;
use ops::{attention, layer_norm, Activation};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

/// The fields of `config.json` the encoder needs.
#[derive(Debug, Deserialize)]
pub struct Config {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "gelu")]
    pub hidden_act: String,
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn two() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}
fn absolute() -> String {
    "absolute".into()
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    ffn_in: Linear,
    ffn_out: Linear,
    ffn_norm: Norm,
}

/// The loaded encoder.
pub struct Bert {
    hidden: usize,
    heads: usize,
    eps: f32,
    act: Activation,
    max_positions: usize,
    vocab: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

/// Reads safetensors by name, with or without a `bert.` prefix, as f32.
struct Weights<'a> {
    st: SafeTensors<'a>,
    prefix: &'static str,
}

impl Weights<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let full = format!("{}{name}", self.prefix);
        let t = self
            .st
            .tensor(&full)
            .map_err(|_| format!("the tensor {full} is missing"))?;
        if t.shape() != shape {
            return Err(format!(
                "the tensor {full} has shape {:?}, the configuration implies {shape:?}",
                t.shape()
            ));
        }
        let data = t.data();
        Ok(match t.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(format!(
                    "the tensor {full} is {other:?}; f32, f16 or bf16 expected"
                ))
            }
        })
    }

    /// LayerNorm parameters, named `weight`/`bias` or (older checkpoints) `gamma`/`beta`.
    fn norm(&self, name: &str, width: usize) -> Result<Norm, String> {
        let gamma = self
            .get(&format!("{name}.weight"), &[width])
            .or_else(|_| self.get(&format!("{name}.gamma"), &[width]))?;
        let beta = self
            .get(&format!("{name}.bias"), &[width])
            .or_else(|_| self.get(&format!("{name}.beta"), &[width]))?;
        Ok(Norm { gamma, beta })
    }

    fn linear(&self, name: &str, n: usize, k: usize) -> Result<Linear, String> {
        let w = self.get(&format!("{name}.weight"), &[n, k])?;
        let b = self.get(&format!("{name}.bias"), &[n])?;
        Ok(Linear::new(&w, b, n, k))
    }
}

impl Bert {
    /// Loads the encoder from a safetensors file's bytes. Errors are plain descriptions; the
    /// caller names the file.
    pub fn load(config: &Config, bytes: &[u8]) -> Result<Bert, String> {
        if config.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type {:?} is not supported (only absolute)",
                config.position_embedding_type
            ));
        }
        let act = Activation::from_name(&config.hidden_act)
            .ok_or_else(|| format!("hidden_act {:?} is not supported", config.hidden_act))?;
        let h = config.hidden_size;
        if h == 0
            || config.num_attention_heads == 0
            || !h.is_multiple_of(config.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {h} is not a multiple of num_attention_heads {}",
                config.num_attention_heads
            ));
        }
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
        let prefix = if st.tensor("embeddings.word_embeddings.weight").is_ok() {
            ""
        } else {
            "bert."
        };
        let w = Weights { st, prefix };
        let word_shape =
            w.st.tensor(&format!("{prefix}embeddings.word_embeddings.weight"))
                .map_err(|_| "the tensor embeddings.word_embeddings.weight is missing".to_owned())?
                .shape()
                .to_vec();
        let vocab = word_shape.first().copied().unwrap_or(0);
        let word = w.get("embeddings.word_embeddings.weight", &[vocab, h])?;
        let position = w.get(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?;
        let token_type = w.get(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        let emb_norm = w.norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let mut qkv_w = Vec::with_capacity(3 * h * h);
            let mut qkv_b = Vec::with_capacity(3 * h);
            for part in ["query", "key", "value"] {
                qkv_w.extend(w.get(&format!("{p}.attention.self.{part}.weight"), &[h, h])?);
                qkv_b.extend(w.get(&format!("{p}.attention.self.{part}.bias"), &[h])?);
            }
            let i_size = config.intermediate_size;
            layers.push(Layer {
                qkv: Linear::new(&qkv_w, qkv_b, 3 * h, h),
                attn_out: w.linear(&format!("{p}.attention.output.dense"), h, h)?,
                attn_norm: w.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                ffn_in: w.linear(&format!("{p}.intermediate.dense"), i_size, h)?,
                ffn_out: w.linear(&format!("{p}.output.dense"), h, i_size)?,
                ffn_norm: w.norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(Bert {
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
            act,
            max_positions: config.max_position_embeddings,
            vocab,
            word,
            position,
            token_type,
            emb_norm,
            layers,
        })
    }

    /// The hidden width (the embedding's dimension).
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// The final hidden states of each sequence, laid end to end: `Σ len × hidden` floats.
    /// Token ids past the vocabulary, or sequences past the position limit, are errors.
    pub fn forward(&self, sequences: &[&[u32]]) -> Result<Vec<f32>, String> {
        let h = self.hidden;
        let total: usize = sequences.iter().map(|s| s.len()).sum();
        let mut x = vec![0.0f32; total * h];
        let mut row = 0;
        for seq in sequences {
            if seq.len() > self.max_positions {
                return Err(format!(
                    "a sequence of {} tokens is past the model's {} positions",
                    seq.len(),
                    self.max_positions
                ));
            }
            for (pos, &id) in seq.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    return Err(format!(
                        "token id {id} is past the vocabulary ({})",
                        self.vocab
                    ));
                }
                let out = &mut x[row * h..(row + 1) * h];
                let word = &self.word[id * h..(id + 1) * h];
                let position = &self.position[pos * h..(pos + 1) * h];
                for (((o, w), p), t) in out
                    .iter_mut()
                    .zip(word)
                    .zip(position)
                    .zip(&self.token_type[..h])
                {
                    *o = w + p + t;
                }
                row += 1;
            }
        }
        layer_norm(
            &mut x,
            h,
            &self.emb_norm.gamma,
            &self.emb_norm.beta,
            self.eps,
        );
        let mut qkv = vec![0.0f32; total * 3 * h];
        let mut ctx = vec![0.0f32; total * h];
        let mut tmp = vec![0.0f32; total * h];
        let widest = self.layers.iter().map(|l| l.ffn_in.n).max().unwrap_or(0);
        let mut inner_buf = vec![0.0f32; total * widest];
        for layer in &self.layers {
            let inner = &mut inner_buf[..total * layer.ffn_in.n];
            layer.qkv.forward(&x, total, &mut qkv);
            let mut start = 0;
            for seq in sequences {
                let len = seq.len();
                attention(
                    &qkv[start * 3 * h..(start + len) * 3 * h],
                    len,
                    h,
                    self.heads,
                    &mut ctx[start * h..(start + len) * h],
                );
                start += len;
            }
            layer.attn_out.forward(&ctx, total, &mut tmp);
            for (t, v) in tmp.iter_mut().zip(&x) {
                *t += v;
            }
            layer_norm(
                &mut tmp,
                h,
                &layer.attn_norm.gamma,
                &layer.attn_norm.beta,
                self.eps,
            );
            layer.ffn_in.forward(&tmp, total, inner);
            self.act.apply(inner);
            layer.ffn_out.forward(inner, total, &mut x);
            for (v, t) in x.iter_mut().zip(&tmp) {
                *v += t;
            }
            layer_norm(
                &mut x,
                h,
                &layer.ffn_norm.gamma,
                &layer.ffn_norm.beta,
                self.eps,
            );
        }
        Ok(x)
    }
}
