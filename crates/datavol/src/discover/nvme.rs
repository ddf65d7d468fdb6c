//! What an NVMe controller says it is, from its Identify Controller data
//! (admin opcode 0x06, CNS 1). On Nitro instances this is where the EBS
//! block-device-mapping name ("xvdb") and the volume id live; reading it
//! directly does not depend on udev links that may lag or be missing.

use std::os::fd::AsRawFd;
use std::path::Path;

pub const IDENTIFY_LEN: usize = 4096;
const AMAZON_VID: u16 = 0x1D0F;
const EBS_MODEL: &str = "Amazon Elastic Block Store";
const INSTANCE_STORE_MODEL: &str = "Amazon EC2 NVMe Instance Storage";
/// The EBS vendor-specific area starts at 3072; its first 32 bytes hold the
/// block-device-mapping name, space padded.
const VS_OFFSET: usize = 3072;
const BDEV_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Controller {
    /// An EBS volume: `volume_id` like "vol-0123…", `bdev` like "xvdb".
    Ebs {
        volume_id: String,
        bdev: Option<String>,
    },
    /// A local instance-store disk.
    InstanceStore { serial: String },
    /// Anything else; datavol does not guess what it is.
    Other {
        vendor_id: u16,
        model: String,
        serial: String,
    },
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_matches(|c: char| c == ' ' || c == '\0')
        .to_string()
}

/// Classifies raw Identify Controller data.
pub fn parse_identify(data: &[u8]) -> Option<Controller> {
    if data.len() < IDENTIFY_LEN {
        return None;
    }
    let vid = u16::from_le_bytes([data[0], data[1]]);
    let serial = text(&data[4..24]);
    let model = text(&data[24..64]);
    if vid == AMAZON_VID && model == EBS_MODEL {
        // The serial is the volume id without its dash: "vol0123…".
        let volume_id = match serial.strip_prefix("vol") {
            Some(rest) if !rest.starts_with('-') => format!("vol-{rest}"),
            _ => serial.clone(),
        };
        let raw = text(&data[VS_OFFSET..VS_OFFSET + BDEV_LEN]);
        let bdev = raw.strip_prefix("/dev/").unwrap_or(&raw).to_string();
        let bdev =
            (!bdev.is_empty() && bdev.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(bdev);
        return Some(Controller::Ebs { volume_id, bdev });
    }
    if vid == AMAZON_VID && model == INSTANCE_STORE_MODEL {
        return Some(Controller::InstanceStore { serial });
    }
    Some(Controller::Other {
        vendor_id: vid,
        model,
        serial,
    })
}

/// struct nvme_admin_cmd from <linux/nvme_ioctl.h>, 72 bytes.
#[repr(C)]
#[derive(Default)]
struct AdminCmd {
    opcode: u8,
    flags: u8,
    rsvd1: u16,
    nsid: u32,
    cdw2: u32,
    cdw3: u32,
    metadata: u64,
    addr: u64,
    metadata_len: u32,
    data_len: u32,
    cdw10: u32,
    cdw11: u32,
    cdw12: u32,
    cdw13: u32,
    cdw14: u32,
    cdw15: u32,
    timeout_ms: u32,
    result: u32,
}

nix::ioctl_readwrite!(nvme_admin_cmd, b'N', 0x41, AdminCmd);

/// Issues Identify Controller to the NVMe device (namespace or controller node).
pub fn identify(dev: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(dev)?;
    let mut buf = vec![0u8; IDENTIFY_LEN];
    let mut cmd = AdminCmd {
        opcode: 0x06,
        addr: buf.as_mut_ptr() as u64,
        data_len: IDENTIFY_LEN as u32,
        cdw10: 1,
        ..Default::default()
    };
    // SAFETY: cmd is a correctly laid out nvme_admin_cmd whose addr points to
    // a live buffer of data_len bytes, which outlives the call.
    unsafe { nvme_admin_cmd(f.as_raw_fd(), &mut cmd) }.map_err(std::io::Error::from)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const _: () = assert!(std::mem::size_of::<AdminCmd>() == 72);

    #[test]
    fn admin_cmd_matches_the_kernel_ioctl_number() {
        // _IOWR('N', 0x41, struct nvme_admin_cmd) as in the kernel header.
        assert_eq!(nix::request_code_readwrite!(b'N', 0x41, 72), 0xC048_4E41);
    }
}
