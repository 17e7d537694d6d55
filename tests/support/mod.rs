//! Shared helpers for integration tests. Each test crate pulls this in with
//! `mod support;` and uses only a subset, hence the blanket `dead_code` allow.
#![allow(dead_code)]

pub mod big_body;
pub mod cli;
pub mod engine;
pub mod fixtures;
pub mod postgres;
pub mod pty;
