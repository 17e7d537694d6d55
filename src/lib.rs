//! flightdeck: a terminal release cockpit. The pure engine (`plan`, `release`) sits inside
//! an IO shell (`store`, `cli`, `tui`, `probe`, `action`, `demo`).

pub mod plan;
pub mod release;
