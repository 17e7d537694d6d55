//! flightdeck: a terminal release cockpit. The pure engine (`plan`, `release`) sits inside
//! an IO shell (`store`, `cli`, `tui`, `probe`, `action`, `demo`).

pub mod action;
pub mod analysis;
pub mod automation;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod identity;
pub mod notify;
pub mod plan;
pub mod probe;
pub mod provider;
pub mod release;
pub mod report;
pub mod signing;
pub mod store;
pub mod supervisor;
pub mod transfer;
pub mod tui;
