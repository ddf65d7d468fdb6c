//! Whether a filesystem should grow to fill its device: a pure comparison
//! of the device's size (sysfs) with the filesystem's (its superblock), so
//! a healthy boot decides it without spawning anything.

/// Growing by less is not worth a spawn on every boot: xfs and ext4 leave a
/// tail too small for a last allocation group or block group, and an md
/// array rounds to its chunk size, so a grown filesystem stays a little
/// smaller than its device for good.
pub const MIN_BYTES: u64 = 64 << 20;
/// ... and the gap must be more than this share of the filesystem (percent).
pub const MIN_PERCENT: u64 = 1;

/// A grow apply will do: from the filesystem's size to the device's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Grow {
    pub from_bytes: u64,
    pub to_bytes: u64,
}

/// The grow a device of `device_bytes` calls for, holding a filesystem of
/// `fs_bytes`; None when the gap is too small (or there is none). A device
/// smaller than its filesystem is classify's refusal, not this.
pub fn need(device_bytes: u64, fs_bytes: u64) -> Option<Grow> {
    let gap = device_bytes.checked_sub(fs_bytes)?;
    let big_enough = gap >= MIN_BYTES && gap.saturating_mul(100) > fs_bytes * MIN_PERCENT;
    big_enough.then_some(Grow {
        from_bytes: fs_bytes,
        to_bytes: device_bytes,
    })
}
