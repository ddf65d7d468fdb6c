//! Cheap looks for a signature another tool wrote over a filesystem datavol
//! committed. A healthy reboot reads only the superblock (superblock.rs), so
//! a partition table written later (sfdisk, parted, an LVM or md tool) would
//! go unseen; these few preads at known offsets find one. A hit sends the
//! device to the full probe (probe.rs), which names it and refuses.

use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// The first bytes looked at: up to the md 1.2 superblock at 4 KiB.
const HEAD: usize = 4096 + 8;
const SECTOR: u64 = 512;

/// What the device's first [`HEAD`] bytes and its last sector show. Pure.
/// None of these offsets holds anything in an xfs or ext4 datavol made:
/// bytes 446..512 and sector 1 are xfs's zero-padded superblock sector and
/// AGF, ext4's zeroed boot block.
pub fn found(head: &[u8], tail: &[u8]) -> Vec<&'static str> {
    let at = |b: &[u8], r: std::ops::Range<usize>, magic: &[u8]| b.get(r) == Some(magic);
    let mut v = Vec::new();
    if at(head, 510..512, &[0x55, 0xAA]) {
        v.push("a DOS partition table (0x55AA at byte 510)");
    }
    if at(head, 512..520, b"EFI PART") {
        v.push("a GPT header (sector 1)");
    }
    if at(head, 512..520, b"LABELONE") {
        v.push("an LVM label (sector 1)");
    }
    if at(head, 4096..4100, &[0xfc, 0x4e, 0x2b, 0xa9]) {
        v.push("an md RAID superblock (at 4 KiB)");
    }
    if at(tail, 0..8, b"EFI PART") {
        v.push("a backup GPT header (last sector)");
    }
    v
}

/// Reads the bytes [`found`] looks at: a few preads, no process.
pub fn read(device: &Path) -> std::io::Result<Vec<&'static str>> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(device)?;
    let size = f.seek(SeekFrom::End(0))?;
    let mut head = vec![0u8; HEAD.min(usize::try_from(size).unwrap_or(HEAD))];
    f.read_exact_at(&mut head, 0)?;
    let mut tail = vec![0u8; SECTOR as usize];
    if size >= SECTOR * 2 {
        f.read_exact_at(&mut tail, size - SECTOR)?;
    }
    Ok(found(&head, &tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_head_shows_nothing() {
        let mut head = vec![0u8; HEAD];
        head[0..4].copy_from_slice(b"XFSB");
        head[512..516].copy_from_slice(b"XAGF");
        assert!(found(&head, &[0u8; 512]).is_empty());
    }

    #[test]
    fn each_signature_is_named() {
        let mut head = vec![0u8; HEAD];
        head[510] = 0x55;
        head[511] = 0xAA;
        assert_eq!(
            found(&head, &[]),
            ["a DOS partition table (0x55AA at byte 510)"]
        );
        let mut head = vec![0u8; HEAD];
        head[512..520].copy_from_slice(b"EFI PART");
        assert_eq!(found(&head, &[]), ["a GPT header (sector 1)"]);
        head[512..520].copy_from_slice(b"LABELONE");
        assert_eq!(found(&head, &[]), ["an LVM label (sector 1)"]);
        let mut head = vec![0u8; HEAD];
        head[4096..4100].copy_from_slice(&0xa92b_4efc_u32.to_le_bytes());
        assert_eq!(found(&head, &[]), ["an md RAID superblock (at 4 KiB)"]);
        let mut tail = vec![0u8; 512];
        tail[0..8].copy_from_slice(b"EFI PART");
        assert_eq!(
            found(&[0u8; HEAD], &tail),
            ["a backup GPT header (last sector)"]
        );
    }

    #[test]
    fn a_short_device_is_no_signature() {
        assert!(found(&[0u8; 100], &[]).is_empty());
    }
}
