//! datavol: puts a service's data directory on its own disk at boot, keeping
//! what was there. One module per pipeline stage.
pub mod cli;
pub mod config;
pub mod device;
pub mod fsutil;
pub mod lock;
pub mod mountinfo;
pub mod probe;
pub mod state;
pub mod unit;
pub mod bus;
pub mod apply;
pub mod error;
pub mod logging;
pub mod namespace;
pub mod plan;
pub mod status;
