//! Operator tools built on the engine: threshold calibration (1.0's, and with a stated bound)
//! and re-embed migration.

pub mod bound;
pub mod calibrate;
pub mod migrate;
