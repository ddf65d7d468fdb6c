//! Starting the volume's pre-warm once it is ready, without waiting for
//! it: `datavol-prewarm@VOLUME.service` is ordered before nothing, so
//! containerd starts while it reads. A volume whose marker says this very
//! device was pre-warmed is left alone, which keeps a healthy reboot off
//! the bus.

use crate::config::Volume;
use crate::discover::device::Device;
use crate::discover::identity;
use crate::record::marker;
use crate::systemd::bus::Bus;
use crate::vlog;

/// Starts the pre-warm unit when the volume asks for one and this device
/// has not had it. Failing to is logged, not fatal: the volume is ready.
pub fn start(vol: &Volume, dev: &Device, bus: &mut Bus) {
    let devs = dev.node.display().to_string();
    let name = vol.name.as_str();
    let id = identity::of(dev.major, dev.minor);
    match marker::read(&vol.mount_point) {
        Ok(Some(st)) if st.prewarm.as_ref().is_some_and(|p| p.device == id) => {
            log::debug!("volume {name}: {devs} was pre-warmed already");
            return;
        }
        Ok(_) => {}
        Err(e) => {
            vlog!(
                warn,
                name,
                devs.as_str(),
                "prewarm",
                "not starting the pre-warm: {e}"
            );
            return;
        }
    }
    let unit = crate::prewarm::unit_name(name);
    match bus.get().and_then(|b| b.start_unit_nowait(&unit)) {
        Ok(()) => vlog!(
            info,
            name,
            devs.as_str(),
            "prewarm",
            "started {unit} in the background; nothing waits for it (journalctl -u {unit})"
        ),
        Err(e) => vlog!(
            warn,
            name,
            devs.as_str(),
            "prewarm",
            "could not start {unit}: {e}; the volume is ready without it; hint: systemctl start {unit}"
        ),
    }
}
