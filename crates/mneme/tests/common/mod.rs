//! Helpers shared by the integration tests. Each test binary uses a subset.
#![allow(dead_code)]

pub mod dynamodb;
pub mod embedders;
pub mod fixtures;
pub mod peer;
pub mod stall_proxy;
pub mod workload;
