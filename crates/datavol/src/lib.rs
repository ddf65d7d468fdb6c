//! datavol: puts a service's data directory on its own disk at boot, keeping
//! what was there. One module per pipeline stage.
pub mod apply;
pub mod bus;
pub mod cli;
pub mod config;
pub mod device;
pub mod dirs;
pub mod error;
pub mod fsutil;
pub mod history;
pub mod lock;
pub mod logging;
pub mod mountinfo;
pub mod namespace;
pub mod nvme;
pub mod plan;
pub mod probe;
pub mod raid;
pub mod selector;
pub mod state;
pub mod status;
pub mod udev;
pub mod unit;
