//! Operator tools built on the engine.

pub mod calibrate;
