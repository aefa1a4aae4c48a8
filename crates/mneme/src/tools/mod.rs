//! Operator tools built on the engine: threshold calibration and re-embed migration.

pub mod calibrate;
pub mod migrate;
