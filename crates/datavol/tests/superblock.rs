//! The superblock reader against real mkfs output, checked by blkid and
//! the filesystems' own tools: type, UUID, label, size, and the d_type
//! feature overlayfs needs.

mod common;
use common::*;
use datavol::discover::superblock;

fn blkid(dev: &str, tag: &str) -> String {
    String::from_utf8_lossy(&sh(&format!("blkid -p -s {tag} -o value {dev}")).stdout)
        .trim()
        .to_string()
}

#[test]
fn xfs_and_ext4_as_mkfs_writes_them() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("mkfs.xfs -q -L dv-a", "xfs", true),
        ("mkfs.xfs -q -m crc=0 -n ftype=0 -L dv-b", "xfs", false),
        ("mkfs.ext4 -q -L dv-c", "ext4", true),
        ("mkfs.ext4 -q -O ^filetype -L dv-d", "ext4", false),
    ];
    for (i, (mkfs, fstype, dtype)) in cases.iter().enumerate() {
        let l = LoopDev::new(dir.path(), &format!("d{i}"), 400);
        let dev = l.dev();
        sh(&format!("{mkfs} {dev}"));
        let sb = superblock::read(&l.path).unwrap().expect("a superblock");
        assert_eq!(sb.fstype, *fstype, "{mkfs}");
        assert_eq!(sb.uuid, blkid(&dev, "UUID"), "{mkfs}");
        assert_eq!(
            sb.label.as_deref(),
            Some(blkid(&dev, "LABEL").as_str()),
            "{mkfs}"
        );
        assert_eq!(sb.dtype, *dtype, "{mkfs}");
        assert!(
            sb.size_bytes > 300 << 20 && sb.size_bytes <= 400 << 20,
            "{mkfs}: {}",
            sb.size_bytes
        );
    }
    let blank = LoopDev::new(dir.path(), "blank", 64);
    assert_eq!(superblock::read(&blank.path).unwrap(), None);
}
