//! `mneme calibrate PAIRS.jsonl`: the similarity threshold that best separates pairs that should
//! share an answer from pairs that should not, measured with the model (mneme-cache 1.0's
//! calibration tool, from the command line).

use crate::model::ModelArgs;
use mneme::tools::calibrate::{find_threshold, CalibrateOptions, TargetMetric};
use mneme::VectorDtype;
use serde::Deserialize;
use std::error::Error;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// One line: `{"a": "...", "b": "...", "same_answer": true|false}`.
#[derive(Deserialize)]
pub(crate) struct Pair {
    pub(crate) a: String,
    pub(crate) b: String,
    pub(crate) same_answer: bool,
}

fn open(path: &Path) -> Result<Box<dyn Read>, Box<dyn Error>> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "cannot read {}: {e}. Remediation: pass an existing JSON-lines file",
            path.display()
        )
    })?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

fn read_pairs(path: &Path, limit: Option<usize>) -> Result<Vec<Pair>, Box<dyn Error>> {
    read_json_lines(path, limit)
}

/// Labelled pairs, one JSON object per line (gzip-compressed when the name ends in `.gz`).
pub(crate) fn read_json_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    limit: Option<usize>,
) -> Result<Vec<T>, Box<dyn Error>> {
    let mut out = Vec::new();
    for (n, line) in BufReader::new(open(path)?).lines().enumerate() {
        let line = line.map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| {
            format!(
                "{} line {}: {e}. Remediation: each line must be {{\"a\": ..., \"b\": ..., \"same_answer\": true|false}}",
                path.display(),
                n + 1
            )
        })?);
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
    }
    Ok(out)
}

pub struct Args<'a> {
    pub pairs: &'a Path,
    pub target: &'a str,
    pub min_precision: Option<f64>,
    pub min_recall: Option<f64>,
    pub dtype: &'a str,
    pub limit: Option<usize>,
    pub curve: bool,
    /// With a bound: the choice is made by `calibrate_bound`.
    pub bound: Option<crate::calibrate_bound::Args<'a>>,
}

pub fn run(a: Args<'_>, model: &ModelArgs) -> Result<(), Box<dyn Error>> {
    let pairs = read_pairs(a.pairs, a.limit)?;
    if let Some(bound) = a.bound {
        return crate::calibrate_bound::run(&pairs, bound, model);
    }
    let texts = |same: bool| -> Vec<(&str, &str)> {
        pairs
            .iter()
            .filter(|p| p.same_answer == same)
            .map(|p| (p.a.as_str(), p.b.as_str()))
            .collect()
    };
    let (pos, neg) = (texts(true), texts(false));
    let target: TargetMetric = a.target.parse()?;
    let options = CalibrateOptions {
        target_metric: target,
        min_precision: a.min_precision,
        min_recall: a.min_recall,
        vector_dtype: a.dtype.parse::<VectorDtype>()?,
        ..CalibrateOptions::default()
    };
    let embedder = model.embedder(None)?;
    eprintln!(
        "scoring {} same-answer and {} different-answer pairs with {} ...",
        pos.len(),
        neg.len(),
        embedder.fingerprint()
    );
    let r = find_threshold(&pos, &neg, embedder.as_ref(), &options)?;
    println!("threshold   {:.2}", r.threshold);
    println!(
        "precision   {:.4}  (share of served answers that are right)",
        r.precision
    );
    println!(
        "recall      {:.4}  (share of same-answer pairs served)",
        r.recall
    );
    println!("f1          {:.4}", r.f1);
    if a.curve {
        println!("threshold  precision  recall");
        for p in &r.pr_curve {
            println!(
                "{:<9.2}  {:<9.4}  {:.4}",
                p.threshold, p.precision, p.recall
            );
        }
    }
    Ok(())
}
