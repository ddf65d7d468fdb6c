//! `datavol gate`, containerd's ExecStartPre: every required volume must be
//! mounted as configured, from its device, or its services must not start.

use crate::config::Config;
use crate::error::Failure;
use crate::plan::mounted;
use crate::sys::mountinfo;
use std::process::ExitCode;

pub fn run(cfg: &Config) -> ExitCode {
    let mounts = match mountinfo::read() {
        Ok(m) => m,
        Err(e) => {
            log::error!("cannot read the mount table ({e}); refusing to let the services of required volumes start; hint: is /proc mounted?");
            return Failure::Refused.exit_code();
        }
    };
    let mut ok = true;
    for v in cfg.volumes.iter().filter(|v| v.required) {
        let good = match crate::discover::current_device(v) {
            Ok(Some(d)) => mounted::fully(v, (d.major, d.minor), &mounts),
            Ok(None) => false,
            Err(e) => {
                log::error!("required volume {}: {e}", v.name);
                false
            }
        };
        if !good {
            ok = false;
            log::error!(
                "required volume {} is not mounted on {} from {}; refusing to let its services start on the root disk; hint: journalctl -u datavol",
                v.name,
                v.claimed().iter().map(|t| t.display().to_string()).collect::<Vec<_>>().join(", "),
                v.device_text()
            );
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        Failure::Refused.exit_code()
    }
}
