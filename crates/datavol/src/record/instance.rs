//! Which instance a root-disk record was made on. A record is trusted on a
//! healthy reboot only on the instance that wrote it: an AMI baked from a
//! node that ran datavol carries its records, and its volumes are not this
//! instance's (issue #18, defect 5). `/etc/machine-id` alone is not enough
//! (a plain image of a running node keeps it); the DMI product UUID is per
//! instance on EC2 (and set by qemu with `-smbios type=1,uuid=`).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Tests (and the generator's golden tests) re-root the files read here.
pub const ROOT_ENV: &str = "DATAVOL_ROOT";
const MACHINE_ID: &str = "etc/machine-id";
const PRODUCT_UUID: &str = "sys/class/dmi/id/product_uuid";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub machine_id: String,
    pub product_uuid: String,
}

/// `/`, or what `DATAVOL_ROOT` names.
pub fn root() -> PathBuf {
    std::env::var_os(ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// Is this run re-rooted (the tests)? Then scans of "every block device"
/// look at loop devices only: a test must never read the machine's own disks.
pub fn rerooted() -> bool {
    std::env::var_os(ROOT_ENV).is_some()
}

fn read_id(root: &Path, rel: &str) -> Result<String, String> {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let id = text.trim().to_ascii_lowercase();
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && id.bytes().any(|b| b != b'0' && b != b'-');
    if ok {
        Ok(id)
    } else {
        Err(format!("{}: not an identifier", path.display()))
    }
}

/// This instance, from under `root`; why not when either identifier cannot
/// be read (not root, no DMI): then no record is trusted on a reboot.
pub fn current_at(root: &Path) -> Result<Instance, String> {
    Ok(Instance {
        machine_id: read_id(root, MACHINE_ID)?,
        product_uuid: read_id(root, PRODUCT_UUID)?,
    })
}

pub fn current() -> Result<Instance, String> {
    current_at(&root())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_identifiers_are_needed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::create_dir_all(d.path().join("sys/class/dmi/id")).unwrap();
        std::fs::write(d.path().join(MACHINE_ID), "ab12\n").unwrap();
        assert!(current_at(d.path()).is_err());
        std::fs::write(d.path().join(PRODUCT_UUID), "EC2A-0001\n").unwrap();
        let i = current_at(d.path()).unwrap();
        assert_eq!(i.product_uuid, "ec2a-0001");
        std::fs::write(d.path().join(PRODUCT_UUID), "00000000-0000\n").unwrap();
        assert!(
            current_at(d.path()).is_err(),
            "an all-zero DMI UUID is no identity"
        );
    }
}
