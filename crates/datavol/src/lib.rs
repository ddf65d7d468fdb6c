//! datavol: puts a service's data directory on its own disk at boot, keeping
//! what was there. One module per pipeline stage.
pub mod cli;
