//! `--stop-services`: the volume's running services are stopped while its
//! directory is copied or covered by a mount, and started again afterwards,
//! whatever happened, so a failed run does not leave the node down.

use super::error::ApplyError;
use crate::config::Volume;
use crate::systemd::bus::Bus;
use crate::vlog;
use std::time::Duration;

const SERVICE_TIMEOUT: Duration = Duration::from_secs(300);

/// Stops the `active` units; returns those stopped.
pub fn stop(
    vol: &Volume,
    devs: &str,
    active: &[(String, String)],
    bus: &mut Bus,
) -> Result<Vec<String>, ApplyError> {
    let mut stopped = Vec::new();
    for (s, _) in active {
        vlog!(info, vol.name.as_str(), devs, "services", "stopping {s}");
        bus.get()?.stop_unit(s, SERVICE_TIMEOUT)?;
        stopped.push(s.clone());
    }
    Ok(stopped)
}

/// Starts `stopped` again, logging (not returning) a failure.
pub fn restart(vol: &Volume, devs: &str, stopped: Vec<String>, bus: &mut Bus) {
    for s in stopped {
        vlog!(
            info,
            vol.name.as_str(),
            devs,
            "services",
            "starting {s} again"
        );
        if let Err(e) = bus.get().and_then(|b| b.start_unit(&s, SERVICE_TIMEOUT)) {
            vlog!(
                error,
                vol.name.as_str(),
                devs,
                "services",
                "starting {s} again failed: {e}"
            );
        }
    }
}
