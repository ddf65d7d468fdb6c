//! datavol: puts a service's data directory on its own disk at boot, keeping
//! what was there. The folders follow the pipeline: config, discover (which
//! disk, and what is on it), plan (facts, then a pure decision), apply
//! (format, migrate, mount), with systemd, the records datavol keeps, and
//! the system calls underneath.
pub mod apply;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod discover;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod plan;
pub mod prewarm;
pub mod record;
pub mod sandbox;
pub mod sys;
pub mod systemd;
