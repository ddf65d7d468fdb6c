//! Which block device a volume is, and what is on it, read without writing.
pub mod device;
pub mod foreign;
pub mod identity;
pub mod links;
pub mod nvme;
pub mod probe;
pub mod raid;
pub mod selector;
pub mod superblock;
pub mod twins;
pub mod udev;

use crate::config::Volume;

/// The device a volume uses now, without waiting: its RAID array, or the
/// first selector that matches. The one answer for `gate` and `status`.
pub fn current_device(vol: &Volume) -> Result<Option<device::Device>, device::DeviceError> {
    match vol.raid {
        Some(_) => {
            let md = raid::md_path(vol);
            if md.exists() {
                device::describe(&md).map(Some)
            } else {
                Ok(None)
            }
        }
        None => device::find_now(&vol.device),
    }
}
