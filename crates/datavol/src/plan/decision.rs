//! What classify decides for one volume: an action, or a refusal naming
//! every reason that applies, or why the device could not be looked at.

use crate::discover::device::Device;
use crate::discover::probe::Probe;
use crate::error::Failure;
use crate::record::marker::Phase;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Mounted from the device as configured: keep its units current.
    Keep { uuid: String },
    /// datavol's committed filesystem (or an adopted one): write the unit, mount it.
    Mount { uuid: String },
    /// Blank device: format, then copy the directory over (unless
    /// `migrate = false`), then mount.
    Format { migrate: bool },
    /// datavol's filesystem with an unfinished migration: finish or redo it.
    Resume { uuid: String, phase: Option<Phase> },
    /// The configured filesystem without datavol's marker, and adopt_existing.
    Adopt { uuid: String },
    /// datavol's RAID array is on the members but not running: assemble it,
    /// then look again.
    Assemble,
}

impl Action {
    /// Whether the action copies the source directory.
    pub fn migrates(&self) -> bool {
        matches!(
            self,
            Action::Format { migrate: true } | Action::Resume { .. }
        )
    }

    /// Whether the action mounts over the directory (so its services must be down).
    pub fn covers_source(&self) -> bool {
        !matches!(self, Action::Keep { .. } | Action::Assemble)
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Action::Keep { .. } => "nothing to do",
            Action::Mount { .. } => "mount",
            Action::Format { migrate: true } => "format, migrate, mount",
            Action::Format { migrate: false } => "format, mount",
            Action::Resume { .. } => "resume migration, mount",
            Action::Adopt { .. } => "adopt existing filesystem, mount",
            Action::Assemble => "assemble datavol's RAID array, then decide",
        }
    }
}

/// One reason to leave a volume alone. Each says what was found and, as a
/// `hint:`, what the operator can do.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    SeveralDevices {
        selector: String,
        found: Vec<String>,
    },
    SameDeviceAs {
        device: PathBuf,
        other: String,
    },
    InUse {
        device: PathBuf,
        why: String,
    },
    UsageUnknown {
        device: PathBuf,
        error: String,
    },
    Foreign {
        fstype: String,
    },
    PartitionTable {
        pttype: String,
    },
    Ambiguous {
        signatures: Vec<String>,
    },
    Leftover {
        signatures: Vec<String>,
    },
    OtherVolume {
        owner: String,
    },
    NoMarker {
        fstype: String,
    },
    LabelledNotEmpty {
        label: String,
    },
    MarkerCorrupt {
        error: String,
    },
    /// `/.datavol` on the filesystem is a link or not a directory.
    StateDirUnsafe {
        what: String,
    },
    NoUuid {
        fstype: String,
    },
    SeededFrom {
        recorded: PathBuf,
        configured: PathBuf,
    },
    /// The device itself is mounted at the path, from another directory of it.
    MountedElsewhere {
        at: PathBuf,
        source: String,
        fstype: String,
    },
    /// Another device is mounted at one of the volume's paths: a mount
    /// datavol did not make (nodeadm's storage.volumes or localStorage, an
    /// fstab line, a hand mount).
    ForeignMount {
        path: PathBuf,
        source: String,
        fstype: String,
    },
    /// A mount unit datavol did not write, for one of the volume's paths,
    /// where systemd would load it instead of datavol's.
    ForeignUnit {
        path: PathBuf,
        unit: PathBuf,
        what: String,
    },
    MountedButProbes {
        at: PathBuf,
        found: String,
    },
    SourceSymlink {
        path: PathBuf,
        link: PathBuf,
    },
    SourceNotDirectory {
        path: PathBuf,
        kind: String,
    },
    SourceUnreadable {
        path: PathBuf,
        error: String,
    },
    SourceHasMarker {
        path: PathBuf,
    },
    SourceSubmount {
        path: PathBuf,
        at: PathBuf,
    },
    SourceTooLarge {
        bytes: u64,
        device: PathBuf,
        capacity: u64,
    },
    SourceTooManyFiles {
        entries: u64,
        device: PathBuf,
        inodes: u64,
    },
    ServicesRunning {
        units: Vec<String>,
        path: PathBuf,
    },
    ServicesUnknown {
        error: String,
    },
    RaidForeignArray {
        array: PathBuf,
        name: String,
    },
    RaidSplit {
        members: Vec<String>,
    },
    RaidForeignMembers {
        members: Vec<String>,
    },
    RaidMixed {
        ours: usize,
        total: usize,
        name: String,
    },
    /// xfs ftype=0 / ext4 without filetype: overlayfs cannot use it.
    NoDtype {
        fstype: String,
        device: PathBuf,
    },
    /// The filesystem spans more than the device: another or a cut disk.
    DeviceSmaller {
        device: PathBuf,
        device_bytes: u64,
        fs_bytes: u64,
    },
    SuperblockUnreadable {
        device: PathBuf,
        error: String,
    },
    /// Written under the directory since datavol copied it; hidden_content = refuse.
    HiddenContent {
        path: PathBuf,
        entries: u64,
        bytes: u64,
        /// Why it could not be looked at, when it could not.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Other devices carry the filesystem's UUID: clones of the volume.
    SameUuid {
        fstype: String,
        uuid: String,
        device: PathBuf,
        others: Vec<PathBuf>,
    },
}

/// Both datavol and nodeadm (or another tool) manage the directory: the
/// operator keeps one. nodeadm's names, as its NodeConfig spells them.
const OTHER_TOOL_HINT: &str = "let one tool own the directory: if it is nodeadm's (NodeConfig spec.instance.storage.volumes, or spec.instance.localStorage with its bind mounts), remove that volume's entry (for localStorage add Containerd to disabledMounts) or remove this volume from datavol's config; see \"datavol and nodeadm\" in docs/eks-al2023.md";

const WIPE_HINT: &str = "point device at a blank disk, or `wipefs -a` it if its data is disposable";

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Reason::*;
        match self {
            SeveralDevices { selector, found } => write!(f, "device selector {selector} matches several devices ({}); datavol will not pick one; hint: name the disk more precisely", found.join(", ")),
            SameDeviceAs { device, other } => write!(f, "device {} is also volume {other:?}'s; one disk cannot be two volumes; hint: give each volume its own device", device.display()),
            InUse { device, why } => write!(f, "device {} is in use: {why}; datavol only formats or mounts a disk nothing else uses; hint: point device at an unused disk", device.display()),
            UsageUnknown { device, error } => write!(f, "cannot tell whether device {} is in use ({error}); refusing rather than guessing; hint: check /sys/dev/block and the mount table", device.display()),
            Foreign { fstype } => write!(f, "device holds a foreign signature ({fstype}); datavol never overwrites a signature it did not write; hint: {WIPE_HINT}"),
            PartitionTable { pttype } => write!(f, "device holds a {pttype} partition table; datavol never overwrites a signature it did not write; hint: {WIPE_HINT}"),
            Ambiguous { signatures } if signatures.is_empty() => write!(f, "libblkid finds several contradicting signatures; hint: inspect with `wipefs` and clear it by hand if the data is disposable"),
            Ambiguous { signatures } => write!(f, "device holds several signatures ({}); hint: inspect with `wipefs` and clear it by hand if the data is disposable", signatures.join(", ")),
            Leftover { signatures } => write!(f, "device looks blank at its start but holds {}; datavol never overwrites a signature it did not write; hint: {WIPE_HINT}", signatures.join(", ")),
            OtherVolume { owner } => write!(f, "the filesystem belongs to datavol volume {owner:?}; hint: fix the device of one of the two volumes"),
            NoMarker { fstype } => write!(f, "device holds a {fstype} filesystem datavol did not make (no marker); hint: set adopt_existing = true to mount it as it is (an image-cache snapshot), or {WIPE_HINT}"),
            LabelledNotEmpty { label } => write!(f, "device holds a filesystem labelled {label:?} with files but no datavol marker, and this node never formatted it; refusing to mix a copy into it; hint: inspect it, and wipe it by hand if it is disposable"),
            StateDirUnsafe { what } => write!(f, "on the filesystem, {what}; datavol never reads or writes its marker through a link (it would land on another disk); hint: inspect the filesystem, and remove that /.datavol if nothing needs it"),
            MarkerCorrupt { error } => write!(f, "datavol's marker on the filesystem is unreadable ({error}); hint: this filesystem was changed by something else; inspect it before going on"),
            NoUuid { fstype } => write!(f, "the {fstype} filesystem has no UUID, so no mount unit can name it; hint: give it one (xfs_admin -U generate, tune2fs -U random)"),
            SeededFrom { recorded, configured } => write!(f, "the volume was seeded from {} but is now configured for {}; mounting it there would hide that directory's own content; hint: set mount_point back to {}, or to move the volume, wipe it (wipefs -a) so datavol seeds it again from {}", recorded.display(), configured.display(), recorded.display(), configured.display()),
            MountedElsewhere { at, source, fstype } => write!(f, "{} is already mounted from {source} ({fstype}); datavol will not stack a mount on top; hint: unmount it, or change mount_point/directories", at.display()),
            ForeignMount { path, source, fstype } => write!(f, "{} is already mounted from {source} ({fstype}), a mount datavol did not make (nodeadm's storage.volumes or localStorage does this); datavol will neither copy from it nor mount over it; hint: {OTHER_TOOL_HINT}; if it is an fstab line or a mount by hand (the naive recipe), remove it and `umount {}` (troubleshooting.md, section 5, if it hid the pause image)", path.display(), path.display()),
            ForeignUnit { path, unit, what } => write!(f, "{} is also mounted by {} ({what}), a unit datavol did not write; systemd loads it instead of datavol's own, so the next boot would mount that in the volume's place; hint: {OTHER_TOOL_HINT}; or, if nothing needs that unit, remove it and run `systemctl daemon-reload`", path.display(), unit.display()),
            MountedButProbes { at, found } => write!(f, "{} is mounted from the device, but the device probes as {found}; hint: unmount it and check the device", at.display()),
            SourceSymlink { path, link } => write!(f, "{} goes through the symlink {}; datavol never follows links to decide what to copy or mount over; hint: configure the real path", path.display(), link.display()),
            SourceNotDirectory { path, kind } => write!(f, "{} is a {kind}, not a directory; hint: remove it, or choose another mount_point", path.display()),
            SourceUnreadable { path, error } => write!(f, "cannot read {}: {error}; hint: check it by hand", path.display()),
            SourceHasMarker { path } => write!(f, "{} already has a top-level .datavol, datavol's own directory on a volume; it cannot be migrated; hint: it is probably a volume's content copied by hand: move .datavol away", path.display()),
            SourceSubmount { path, at } => write!(f, "{} has a mount inside it at {}; its service has already run; hint: stop it and unmount what is below, then run datavol again", path.display(), at.display()),
            SourceTooLarge { bytes, device, capacity } => write!(f, "the source holds {bytes} bytes, too much for {} ({capacity} bytes); hint: use a larger volume", device.display()),
            SourceTooManyFiles { entries, device, inodes } => write!(f, "the source holds {entries} entries, more than ext4 on {} will have inodes for (about {inodes}); hint: use a larger volume or xfs", device.display()),
            ServicesRunning { units, path } => write!(f, "{} running and using {}; refusing to copy or mount under it; hint: run datavol before those units start (datavol.service does), or pass --stop-services", units.join(", "), path.display()),
            ServicesUnknown { error } => write!(f, "cannot ask systemd whether the volume's services run ({error}); hint: is dbus running?"),
            RaidForeignArray { array, name } => write!(f, "the members are in the running array {} ({name:?}), which datavol did not make for this volume; hint: stop that array, or point device at other disks", array.display()),
            RaidSplit { members } => write!(f, "the members are not all in one running array ({}); hint: stop the arrays (mdadm --stop) and let datavol assemble them", members.join(", ")),
            RaidForeignMembers { members } => write!(f, "RAID members carry signatures datavol did not write ({}); hint: point device at blank disks, or wipe them if their data is disposable", members.join("; ")),
            RaidMixed { ours, total, name } => write!(f, "the RAID0 members are a mix of blank disks and members of datavol's array {name} ({ours} of {total}); a striped array cannot be repaired; hint: wipe all members (wipefs -a) to have datavol build a fresh one"),
            NoDtype { fstype, device } => write!(f, "the {fstype} filesystem on {} {}; containerd's overlayfs snapshotter cannot use it (the first pod would fail); hint: {}", device.display(), if fstype == "xfs" { "was made with ftype=0: its directory entries carry no file type (d_type)" } else { "lacks the filetype feature: its directory entries carry no file type (d_type)" }, if fstype == "xfs" { "re-create the cache with mkfs.xfs -n ftype=1 (xfs cannot turn it on in place)" } else { "re-create the cache with mkfs.ext4 -O filetype, or turn it on unmounted with tune2fs -O filetype and e2fsck -fD" }),
            DeviceSmaller { device, device_bytes, fs_bytes } => write!(f, "the filesystem on {} spans {fs_bytes} bytes but the device has only {device_bytes}: a different disk, or a truncated one; datavol never shrinks a filesystem and will not mount this one; hint: attach the disk the filesystem was made on, or restore it from its snapshot at its full size", device.display()),
            HiddenContent { path, entries, bytes, error: None } => write!(f, "{} on the root disk has {entries} entries ({bytes} bytes) new or changed since datavol copied it (a boot ran without the disk?); mounting the volume over it would hide them, and hidden_content = refuse; hint: see `datavol hidden VOLUME`: merge what is needed into the volume or drop it, then `datavol hidden VOLUME --accept`, or set hidden_content = \"warn\"", path.display()),
            HiddenContent { path, error: Some(e), .. } => write!(f, "cannot tell whether {} on the root disk changed since datavol copied it ({e}); mounting over it could hide content, and hidden_content = refuse; hint: check it by hand, then `datavol hidden VOLUME --accept`", path.display()),
            SameUuid { fstype, uuid, device, others } => {
                let fix = if fstype == "xfs" { "xfs_admin -U generate" } else { "tune2fs -U random" };
                let fixes: Vec<String> = others.iter().map(|o| format!("`{fix} {}`", o.display())).collect();
                let others: Vec<String> = others.iter().map(|o| o.display().to_string()).collect();
                write!(f, "device {} and {} carry the same {fstype} filesystem {uuid}: a clone of the volume (a disk restored from a snapshot of it); a mount by UUID could take either, so datavol touches neither; hint: give the clone a new UUID while it is unmounted ({}), or detach it", device.display(), others.join(", "), fixes.join(", "))
            }
            SuperblockUnreadable { device, error } => write!(f, "cannot read the filesystem's superblock on {} ({error}), so neither its size nor d_type can be checked; hint: check the device (dmesg), and `xfs_info`/`dumpe2fs -h` it by hand", device.display()),
        }
    }
}

/// Every reason that applies, so one look at the journal shows them all.
#[derive(Debug, Clone, PartialEq, serde::Serialize, thiserror::Error)]
pub struct Refusal {
    pub reasons: Vec<Reason>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.reasons.iter().enumerate() {
            if i > 0 {
                f.write_str("; also: ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Act {
        #[serde(flatten)]
        action: Action,
    },
    Refuse {
        #[serde(flatten)]
        refusal: Refusal,
    },
    /// The device did not appear (apply: within device_timeout).
    Timeout { message: String },
    /// The facts could not be gathered.
    Fail { message: String },
}

impl Verdict {
    pub fn failure(&self) -> Option<Failure> {
        match self {
            Verdict::Act { .. } => None,
            Verdict::Refuse { .. } => Some(Failure::Refused),
            Verdict::Timeout { .. } => Some(Failure::DeviceTimeout),
            Verdict::Fail { .. } => Some(Failure::Failed),
        }
    }

    /// What plan prints after "action:".
    pub fn describe(&self) -> &'static str {
        match self {
            Verdict::Act { action } => action.describe(),
            Verdict::Refuse { .. } => "refuse, change nothing",
            Verdict::Timeout { .. } => "none: the device is not there",
            Verdict::Fail { .. } => "none: datavol cannot look at the device",
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decision {
    pub volume: String,
    pub device: Option<Device>,
    pub probe: Option<Probe>,
    pub mount_point: PathBuf,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Why, in one line: for an action what was found; otherwise the message.
    pub reason: String,
    /// RAID members apply must first build an array from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raid_create: Option<Vec<Device>>,
    /// The filesystem is smaller than its device: apply grows it once mounted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grow: Option<super::grow::Grow>,
    /// Content the action would hide: written under a directory since
    /// datavol copied it (a refusal too when its policy says so).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<HiddenContent>,
}

/// What one directory holds on the root disk that the mount would hide.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HiddenContent {
    pub path: PathBuf,
    pub entries: u64,
    pub bytes: u64,
    pub policy: crate::config::HiddenPolicy,
    /// Why the directory could not be looked at, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Decision {
    pub fn failure(&self) -> Option<Failure> {
        self.verdict.failure()
    }
    pub fn action(&self) -> Option<&Action> {
        match &self.verdict {
            Verdict::Act { action } => Some(action),
            _ => None,
        }
    }
}
