//! `datavol prewarm VOLUME`: read the volume once, containerd's blobs
//! first (what `datavol-prewarm@VOLUME.service` runs; operators may run it
//! by hand). It needs no private mount namespace: it mounts nothing.

use super::Cli;
use crate::config::Config;
use crate::error::exit;
use crate::prewarm::{self, Options};
use crate::record::runs::LastRun;
use crate::sys::lock;
use std::process::ExitCode;

pub fn run(cfg: &Config, cli: &Cli, volume: &str, depth: usize, again: bool) -> ExitCode {
    let Some(vol) = cfg.volumes.iter().find(|v| v.name == volume) else {
        let names: Vec<&str> = cfg.volumes.iter().map(|v| v.name.as_str()).collect();
        log::error!(
            "no volume {volume:?} is configured (configured: {}); hint: use a name `datavol status` shows",
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        );
        return ExitCode::from(exit::USAGE);
    };
    let opts = Options {
        state_dir: cli.state_dir.clone(),
        lock: lock::DEFAULT_LOCK.into(),
        depth,
        chunk: prewarm::DEFAULT_CHUNK,
        again,
    };
    let code = match prewarm::run(vol, &opts) {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::vlog!(
                error,
                vol.name.as_str(),
                "",
                "prewarm",
                "volume {}: pre-warm: {e}",
                vol.name
            );
            e.failure().code()
        }
    };
    // One record per volume, named like its unit instance.
    let verb = format!("prewarm@{}", vol.name);
    crate::metrics::finish(cfg, &cli.state_dir, &LastRun::now(&verb, code));
    ExitCode::from(code)
}
