//! The path a mount unit names its disk by. It must be one a clone of the
//! volume cannot share: a clone (a disk restored from a snapshot) has the
//! same filesystem UUID, label and partition UUIDs, so by-uuid, by-label,
//! by-partuuid and the by-id links udev derives from content (`dm-uuid-`,
//! `md-uuid-`, `lvm-pv-uuid-`, ...) could all name it. The hardware's own
//! identity cannot: the EBS volume ID, a virtio or NVMe serial, a WWN, or
//! the slot the disk sits in (by-path).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const BY_ID: &str = "/dev/disk/by-id";
const BY_PATH: &str = "/dev/disk/by-path";

/// by-id prefixes udev derives from the hardware (serials, WWNs), best first.
const HARDWARE: &[&str] = &[
    "nvme-Amazon_Elastic_Block_Store_vol",
    "nvme-",
    "virtio-",
    "wwn-",
    "scsi-",
    "ata-",
    "xen-",
    "mmc-",
    "usb-",
];

/// Characters a unit file takes as they are, without escaping.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._:+@-".contains(&b))
}

/// How good `link` is as the unit's What=: lower is better; None when it
/// is not a hardware identity at all.
fn rank(link: &Path) -> Option<usize> {
    let dir = link.parent()?.to_str()?;
    let name = link.file_name()?.to_str()?;
    if !plain(name) {
        return None;
    }
    match dir {
        BY_ID => HARDWARE.iter().position(|p| name.starts_with(p)),
        BY_PATH => Some(HARDWARE.len()),
        _ => None,
    }
}

/// The best link among `(link, the device node it resolves to)` pairs that
/// resolves to `node`. Pure: the pairs are read by [`links_to`].
pub fn choose(node: &Path, links: &[(PathBuf, PathBuf)]) -> Option<PathBuf> {
    links
        .iter()
        .filter(|(_, target)| target == node)
        .filter_map(|(link, _)| rank(link).map(|r| (r, link)))
        .min()
        .map(|(_, link)| link.clone())
}

/// Every by-id and by-path link that resolves to the device `node` is:
/// `(link, node)`; other links keep the node they resolve to.
pub fn links_to(node: &Path) -> Vec<(PathBuf, PathBuf)> {
    links_under(&crate::record::instance::root(), node)
}

/// [`links_to`] with /dev/disk read under `root`.
fn links_under(root: &Path, node: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(rdev) = std::fs::metadata(node).map(|m| m.rdev()) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for dir in [BY_ID, BY_PATH] {
        let Ok(rd) = std::fs::read_dir(root.join(dir.trim_start_matches('/'))) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(target) = std::fs::canonicalize(e.path()) else {
                continue;
            };
            let same = std::fs::metadata(&target).is_ok_and(|m| m.rdev() == rdev);
            let link = Path::new(dir).join(e.file_name());
            v.push((link, if same { node.to_path_buf() } else { target }));
        }
    }
    v
}

/// The device node a link chosen by [`choose`] leads to now.
pub fn resolve(link: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(rooted(link))
}

/// `/dev/disk/...` as seen under `DATAVOL_ROOT` (the tests' link tree; the
/// links name real device nodes), or as it is.
fn rooted(p: &Path) -> PathBuf {
    let root = crate::record::instance::root();
    root.join(p.strip_prefix("/").unwrap_or(p))
}

/// The unit's What= for the device `node`: its best hardware link, or
/// (none yet: udev not done, or a loop device) the node itself, which the
/// run has just checked and which datavol rewrites on every run.
pub fn what_for(node: &Path) -> (PathBuf, bool) {
    match choose(node, &links_to(node)) {
        Some(l) => (l, true),
        None => (node.to_path_buf(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(PathBuf, PathBuf)> {
        v.iter().map(|(l, t)| (l.into(), t.into())).collect()
    }

    fn pick(node: &str, v: &[(&str, &str)]) -> Option<String> {
        choose(Path::new(node), &pairs(v)).map(|p| p.display().to_string())
    }

    #[test]
    fn ebs_volume_id_wins() {
        let n = "/dev/nvme1n1";
        let links = [
            ("/dev/disk/by-uuid/0b1c2d3e-aaaa-bbbb-cccc-000000000000", n),
            ("/dev/disk/by-label/dv-containerd", n),
            ("/dev/disk/by-id/nvme-nvme.1d0f-766f6c30-416d-00000001", n),
            ("/dev/disk/by-path/pci-0000:00:1f.0-nvme-1", n),
            (
                "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0_1",
                n,
            ),
            (
                "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0",
                n,
            ),
            (
                "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0fedcba987654321f",
                "/dev/nvme2n1",
            ),
        ];
        assert_eq!(
            pick(n, &links).as_deref(),
            Some("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0")
        );
    }

    #[test]
    fn hardware_serials_then_the_slot_never_content() {
        let n = "/dev/vdb";
        assert_eq!(
            pick(
                n,
                &[
                    ("/dev/disk/by-path/virtio-pci-0000:00:05.0", n),
                    ("/dev/disk/by-id/virtio-data1", n)
                ]
            )
            .as_deref(),
            Some("/dev/disk/by-id/virtio-data1")
        );
        assert_eq!(
            pick(
                "/dev/sdb",
                &[
                    ("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", "/dev/sdb"),
                    ("/dev/disk/by-id/scsi-35000c500a1b2c3d4", "/dev/sdb")
                ]
            )
            .as_deref(),
            Some("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4")
        );
        // Content-derived ids, and links of other kinds, are never chosen.
        let content = [
            ("/dev/disk/by-id/dm-uuid-LVM-abc", "/dev/dm-0"),
            ("/dev/disk/by-id/dm-name-vg-lv", "/dev/dm-0"),
            ("/dev/disk/by-id/md-uuid-1:2:3:4", "/dev/dm-0"),
            ("/dev/disk/by-id/lvm-pv-uuid-xyz", "/dev/dm-0"),
            ("/dev/disk/by-uuid/0b1c", "/dev/dm-0"),
            ("/dev/disk/by-partuuid/0b1c", "/dev/dm-0"),
            ("/dev/disk/by-label/dv-x", "/dev/dm-0"),
        ];
        assert_eq!(pick("/dev/dm-0", &content), None);
        assert_eq!(
            pick(
                "/dev/dm-0",
                &[
                    content[0],
                    ("/dev/disk/by-path/pci-0000:00:1f.0", "/dev/dm-0")
                ]
            )
            .as_deref(),
            Some("/dev/disk/by-path/pci-0000:00:1f.0")
        );
    }

    const BY_ID_A: &str = "/dev/disk/by-id/virtio-a";

    /// Links are followed to their device: one reaching the checked node's
    /// device number by another path counts as a link to the node.
    #[test]
    fn links_resolve_by_device_number() {
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path().join("dev/disk/by-id");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let alias = d.path().join("null-alias");
        std::os::unix::fs::symlink("/dev/null", &alias).expect("link");
        std::os::unix::fs::symlink(&alias, dir.join("virtio-a")).expect("link");
        std::os::unix::fs::symlink("/dev/zero", dir.join("virtio-b")).expect("link");
        let mut got = links_under(d.path(), Path::new("/dev/null"));
        got.sort();
        assert_eq!(
            got,
            vec![
                (BY_ID_A.into(), PathBuf::from("/dev/null")),
                (
                    "/dev/disk/by-id/virtio-b".into(),
                    PathBuf::from("/dev/zero")
                ),
            ]
        );
    }

    #[test]
    fn only_links_to_the_checked_node_and_safe_names() {
        let links = [
            ("/dev/disk/by-id/virtio-other", "/dev/vdc"),
            ("/dev/disk/by-id/virtio-with space", "/dev/vdb"),
            ("/dev/disk/by-id/virtio-x\nWhat=/dev/vdc", "/dev/vdb"),
        ];
        assert_eq!(pick("/dev/vdb", &links), None);
        assert_eq!(pick("/dev/loop0", &[]), None);
    }
}
