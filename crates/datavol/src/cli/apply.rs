//! `datavol apply` (what datavol.service runs): every volume, in name order;
//! one `stage=result` line each, ready or why not.

use crate::apply::{self, Options};
use crate::config::Config;
use crate::error::Failure;
use crate::plan::Run;
use crate::systemd::bus::Bus;
use std::process::ExitCode;

pub fn run(cfg: &Config, opts: &Options) -> ExitCode {
    if cfg.volumes.is_empty() {
        log::info!("no volumes configured; nothing to do");
        return ExitCode::SUCCESS;
    }
    // Deciding on an empty mount table would take every disk for unused.
    let mut run = match Run::new(&opts.state_dir) {
        Ok(r) => r,
        Err(e) => {
            log::error!(
                "cannot read the mount table: {e}; nothing was changed; hint: is /proc mounted?"
            );
            return Failure::Failed.exit_code();
        }
    };
    let mut bus = Bus::new();
    let mut first_failure: Option<Failure> = None;
    for vol in &cfg.volumes {
        let dev = vol.device_text();
        match apply::run(vol, &mut run, opts, &mut bus) {
            Ok(apply::Done::Left(why)) => crate::vlog!(
                info,
                vol.name.as_str(),
                dev.as_str(),
                "result",
                "volume {}: left for datavol.service: {why}",
                vol.name
            ),
            Ok(apply::Done::Ready(took)) => crate::vlog!(
                info,
                vol.name.as_str(),
                dev.as_str(),
                "result",
                "volume {}: ready on {} ({took})",
                vol.name,
                vol.mount_point.display()
            ),
            Err(e) if opts.early => {
                // The early pass never fails the boot: datavol.service decides again and reports.
                crate::vlog!(
                    warn,
                    vol.name.as_str(),
                    dev.as_str(),
                    "result",
                    "{e}; left for datavol.service"
                );
            }
            Err(e) => {
                crate::vlog!(error, vol.name.as_str(), dev.as_str(), "result", "{e}");
                first_failure.get_or_insert(e.failure());
            }
        }
        if let Err(e) = run.refresh_mounts() {
            log::error!("cannot read the mount table: {e}; stopping before the next volume");
            first_failure.get_or_insert(Failure::Failed);
            break;
        }
    }
    first_failure.map_or(ExitCode::SUCCESS, Failure::exit_code)
}
