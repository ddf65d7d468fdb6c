//! The xfs or ext4 superblock, read straight from the device: type, UUID,
//! label, size, and whether directory entries carry file types (overlayfs
//! needs them). One pread, no process: the healthy reboot path and the
//! adopt check use it; deciding that a disk is blank still takes libblkid
//! and wipefs (probe.rs), which know every other signature too.

use std::os::unix::fs::FileExt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Superblock {
    pub fstype: &'static str,
    pub uuid: String,
    pub label: Option<String>,
    /// Bytes the filesystem spans on the device.
    pub size_bytes: u64,
    /// xfs ftype=1 / ext4 filetype: what overlayfs upper and work dirs need.
    pub dtype: bool,
}

/// The first bytes hold both superblocks: xfs at 0, ext4 at 1024.
pub const READ_LEN: usize = 4096;

fn uuid_text(b: &[u8]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn label_text(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}
fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// xfs_sb: magic, blocksize, dblocks, uuid, versionnum, fname, features2,
/// features_incompat (fs/xfs/libxfs/xfs_format.h).
fn xfs(b: &[u8]) -> Option<Superblock> {
    if &b[0..4] != b"XFSB" {
        return None;
    }
    let blocksize = u64::from(be32(b, 4));
    let dblocks = be64(b, 8);
    let version = be16(b, 100) & 0x000f;
    let dtype = if version >= 5 {
        be32(b, 216) & 0x1 != 0 // XFS_SB_FEAT_INCOMPAT_FTYPE
    } else {
        be32(b, 200) & 0x200 != 0 // XFS_SB_VERSION2_FTYPE
    };
    Some(Superblock {
        fstype: "xfs",
        uuid: uuid_text(&b[32..48]),
        label: label_text(&b[108..120]),
        size_bytes: dblocks.saturating_mul(blocksize),
        dtype,
    })
}

/// ext4's super_block at 1024: blocks_count, log_block_size, magic,
/// feature_incompat, uuid, volume_name (fs/ext4/ext4.h).
fn ext4(b: &[u8]) -> Option<Superblock> {
    let s = &b[1024..2048];
    if le16(s, 56) != 0xEF53 {
        return None;
    }
    let incompat = le32(s, 96);
    let mut blocks = u64::from(le32(s, 4));
    if incompat & 0x80 != 0 {
        blocks |= u64::from(le32(s, 0x150)) << 32; // INCOMPAT_64BIT
    }
    let block = 1024u64 << le32(s, 24).min(16);
    Some(Superblock {
        fstype: "ext4",
        uuid: uuid_text(&s[104..120]),
        label: label_text(&s[120..136]),
        size_bytes: blocks.saturating_mul(block),
        dtype: incompat & 0x2 != 0, // INCOMPAT_FILETYPE
    })
}

/// Parses the first [`READ_LEN`] bytes of a device.
pub fn parse(b: &[u8]) -> Option<Superblock> {
    if b.len() < READ_LEN {
        return None;
    }
    xfs(b).or_else(|| ext4(b))
}

/// Reads the superblock of `device`; None when it holds neither.
pub fn read(device: &Path) -> std::io::Result<Option<Superblock>> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(device)?;
    let mut buf = vec![0u8; READ_LEN];
    f.read_exact_at(&mut buf, 0)?;
    Ok(parse(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_xfs_v5_superblock() {
        let mut b = vec![0u8; READ_LEN];
        b[0..4].copy_from_slice(b"XFSB");
        b[4..8].copy_from_slice(&4096u32.to_be_bytes());
        b[8..16].copy_from_slice(&1000u64.to_be_bytes());
        b[32..48].copy_from_slice(&[
            0x0b, 0x1c, 0x2d, 0x3e, 0xaa, 0xaa, 0xbb, 0xbb, 0xcc, 0xcc, 0, 0, 0, 0, 0, 1,
        ]);
        b[100..102].copy_from_slice(&0xb4a5u16.to_be_bytes());
        b[108..118].copy_from_slice(b"dv-contain");
        b[216..220].copy_from_slice(&1u32.to_be_bytes());
        let sb = parse(&b).unwrap();
        assert_eq!(sb.fstype, "xfs");
        assert_eq!(sb.uuid, "0b1c2d3e-aaaa-bbbb-cccc-000000000001");
        assert_eq!(sb.label.as_deref(), Some("dv-contain"));
        assert_eq!(sb.size_bytes, 4096 * 1000);
        assert!(sb.dtype);
        b[216..220].copy_from_slice(&0u32.to_be_bytes());
        assert!(!parse(&b).unwrap().dtype, "ftype=0");
    }

    #[test]
    fn reads_an_ext4_superblock() {
        let mut b = vec![0u8; READ_LEN];
        let s = 1024;
        b[s + 4..s + 8].copy_from_slice(&2048u32.to_le_bytes());
        b[s + 24..s + 28].copy_from_slice(&2u32.to_le_bytes());
        b[s + 56..s + 58].copy_from_slice(&0xEF53u16.to_le_bytes());
        b[s + 96..s + 100].copy_from_slice(&0x2u32.to_le_bytes());
        b[s + 104..s + 120].copy_from_slice(&[0x11; 16]);
        b[s + 120..s + 126].copy_from_slice(b"dv-abc");
        let sb = parse(&b).unwrap();
        assert_eq!(sb.fstype, "ext4");
        assert_eq!(sb.uuid, "11111111-1111-1111-1111-111111111111");
        assert_eq!(sb.label.as_deref(), Some("dv-abc"));
        assert_eq!(sb.size_bytes, 2048 * 4096);
        assert!(sb.dtype);
    }

    #[test]
    fn neither_is_none() {
        assert_eq!(parse(&vec![0u8; READ_LEN]), None);
        assert_eq!(parse(&[0u8; 100]), None);
    }
}
