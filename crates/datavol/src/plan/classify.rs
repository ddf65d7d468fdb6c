//! The decision: a pure function of the volume's config and its facts. Its
//! match arms are the tables in docs/design.md (single disk and RAID0); each
//! row and each refusal has a test below that needs no root and no device.
//! Refusals are collected, not returned at the first: the journal then
//! names every reason that applies.

use super::decision::{Action, Decision, HiddenContent, Reason, Refusal, Verdict};
use super::facts::{DeviceFacts, Disk, Facts, FsView, MarkerRead, Member, PathKind, RaidFacts};
use super::grow::{self, Grow};
use super::mounted::{self, Mounted};
use crate::config::{Filesystem, HiddenPolicy, Volume};
use crate::discover::device::Device;
use crate::discover::probe::Probe;
use crate::discover::raid;
use crate::discover::selector::NvmeMiss;
use crate::record::marker::{Phase, State};
use std::path::PathBuf;

/// How the facts were gathered: what plan prints for a missing device
/// differs from what apply, which waited, says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plan,
    Apply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// `--stop-services`: running services are stopped, not a refusal.
    pub stop_services: bool,
}

/// What classify is building: the reasons to refuse found so far, and the
/// action if there are none.
struct Verdicts {
    reasons: Vec<Reason>,
}

impl Verdicts {
    fn refuse(&mut self, r: Reason) {
        self.reasons.push(r);
    }
}

fn decision(
    vol: &Volume,
    dev: Option<&Device>,
    probe: Option<&Probe>,
    verdict: Verdict,
    reason: String,
) -> Decision {
    Decision {
        volume: vol.name.clone(),
        device: dev.cloned(),
        probe: probe.cloned(),
        mount_point: vol.mount_point.clone(),
        verdict,
        reason,
        raid_create: None,
        grow: None,
        hidden: Vec::new(),
    }
}

/// Why no device was found, in one line: what the NVMe disks are when an
/// NVMe-identity selector missed, what that means for the volume's services,
/// and what to check. `secs` is the wait apply did (plan: would do).
pub fn timeout_reason(
    mode: Mode,
    device: &str,
    secs: u64,
    nvme: Option<&NvmeMiss>,
    required: bool,
) -> String {
    let seen = nvme.map(|m| format!("; {m}")).unwrap_or_default();
    match mode {
        Mode::Plan => {
            format!("device {device} is not present{seen}; apply would wait up to {secs}s for it")
        }
        Mode::Apply => format!(
            "device {device} did not appear within {secs}s{seen}; {}; hint: {}",
            if required {
                "the volume is required, so its services will not start"
            } else {
                "not required: its services run on the root disk's content"
            },
            nvme.map_or(
                "check the block device mapping, or raise device_timeout",
                NvmeMiss::hint
            )
        ),
    }
}

pub fn classify(vol: &Volume, f: &Facts, p: Policy) -> Decision {
    with_foreign_units(classify_device(vol, f, p), f)
}

/// A unit of another tool's for one of the volume's paths turns any
/// action into a refusal: systemd would load it instead of datavol's (the
/// mount apply starts, the generator's next boot). A timeout or a failure
/// stays what it is.
fn with_foreign_units(mut d: Decision, f: &Facts) -> Decision {
    let extra = f.foreign_units.iter().map(|u| Reason::ForeignUnit {
        path: u.path.clone(),
        unit: u.unit.clone(),
        what: u.what.clone(),
    });
    let refusal = match &mut d.verdict {
        _ if f.foreign_units.is_empty() => return d,
        Verdict::Refuse { refusal } => {
            refusal.reasons.extend(extra);
            refusal.clone()
        }
        Verdict::Act { .. } => {
            let refusal = Refusal {
                reasons: extra.collect(),
            };
            d.verdict = Verdict::Refuse {
                refusal: refusal.clone(),
            };
            d.raid_create = None;
            d.grow = None;
            refusal
        }
        Verdict::Timeout { .. } | Verdict::Fail { .. } => return d,
    };
    d.reason = refusal.to_string();
    d
}

fn classify_device(vol: &Volume, f: &Facts, p: Policy) -> Decision {
    match &f.device {
        DeviceFacts::Missing { waited, nvme } => {
            let secs = match p.mode {
                Mode::Plan => vol.device_timeout.as_secs(),
                Mode::Apply => waited.as_secs(),
            };
            let msg = timeout_reason(
                p.mode,
                &vol.device_text(),
                secs,
                nvme.as_ref(),
                vol.required,
            );
            decision(
                vol,
                None,
                None,
                Verdict::Timeout {
                    message: msg.clone(),
                },
                msg,
            )
        }
        DeviceFacts::Several { selector, found } => {
            let refusal = Refusal {
                reasons: vec![Reason::SeveralDevices {
                    selector: selector.clone(),
                    found: found.clone(),
                }],
            };
            let msg = refusal.to_string();
            decision(vol, None, None, Verdict::Refuse { refusal }, msg)
        }
        DeviceFacts::Unreadable(e) => decision(
            vol,
            None,
            None,
            Verdict::Fail { message: e.clone() },
            e.clone(),
        ),
        DeviceFacts::Raid(r) => classify_raid(vol, f, r, p),
        DeviceFacts::Disk(d) => classify_disk(vol, f, d, p, None),
    }
}

/// Turns the collected reasons and the action found into the decision.
fn conclude(vol: &Volume, d: &Disk, v: Verdicts, action: Option<(Action, String)>) -> Decision {
    let probe = d.probe.as_ref().ok();
    if !v.reasons.is_empty() {
        let refusal = Refusal { reasons: v.reasons };
        let msg = refusal.to_string();
        return decision(vol, Some(&d.dev), probe, Verdict::Refuse { refusal }, msg);
    }
    match action {
        Some((action, why)) => decision(vol, Some(&d.dev), probe, Verdict::Act { action }, why),
        None => {
            let msg = "no action and no reason found; this is a bug".to_string();
            decision(
                vol,
                Some(&d.dev),
                probe,
                Verdict::Fail {
                    message: msg.clone(),
                },
                msg,
            )
        }
    }
}

fn fail(vol: &Volume, dev: &Device, message: String) -> Decision {
    decision(
        vol,
        Some(dev),
        None,
        Verdict::Fail {
            message: message.clone(),
        },
        message,
    )
}

/// A single disk, or datavol's running array (`capacity`: the array to be
/// created's size, when the disk is its first member).
fn classify_disk(vol: &Volume, f: &Facts, d: &Disk, p: Policy, capacity: Option<u64>) -> Decision {
    let mut v = Verdicts {
        reasons: Vec::new(),
    };
    if let Some(other) = &f.claimed_by {
        v.refuse(Reason::SameDeviceAs {
            device: d.dev.node.clone(),
            other: other.clone(),
        });
    }
    if let Some(reason) = same_uuid(f, d) {
        v.refuse(reason);
    }
    let probe = match &d.probe {
        Ok(p) => p,
        Err(e) => {
            return fail(
                vol,
                &d.dev,
                format!("cannot probe {}: {e}", d.dev.node.display()),
            )
        }
    };
    let majmin = (d.dev.major, d.dev.minor);
    let action = match mounted::state(vol, majmin, &f.mounts_at) {
        // Another device: someone else's mount (nodeadm's, say).
        Mounted::Other(m) if (m.major, m.minor) != majmin => {
            v.refuse(Reason::ForeignMount {
                path: m.mount_point.clone(),
                source: m.source.clone(),
                fstype: m.fstype.clone(),
            });
            None
        }
        Mounted::Other(m) => {
            v.refuse(Reason::MountedElsewhere {
                at: m.mount_point.clone(),
                source: m.source.clone(),
                fstype: m.fstype.clone(),
            });
            None
        }
        Mounted::Fully => mounted_action(vol, d, probe, false, &mut v),
        Mounted::Partly(_) => mounted_action(vol, d, probe, true, &mut v),
        Mounted::No => {
            match &d.usage {
                Err(e) => v.refuse(Reason::UsageUnknown {
                    device: d.dev.node.clone(),
                    error: e.clone(),
                }),
                Ok(u) => {
                    if let Some(why) = u.why_not(&mounted::expected(vol)) {
                        v.refuse(Reason::InUse {
                            device: d.dev.node.clone(),
                            why,
                        });
                    }
                }
            }
            unmounted_action(vol, f, d, probe, &mut v)
        }
    };
    // A refusal still names what else is wrong where the volume would go.
    let covers = action
        .as_ref()
        .map_or(!mounted::fully(vol, majmin, &f.mounts_at), |(a, _)| {
            a.covers_source()
        });
    let mut hidden = Vec::new();
    if covers {
        let a = action.as_ref().map(|(a, _)| a);
        hidden = check_hidden(vol, f, d, a, &mut v);
        check_paths(
            vol,
            f,
            a,
            &d.dev,
            capacity.unwrap_or(d.dev.size_bytes),
            &mut v,
        );
        check_services(vol, f, p, &mut v);
    }
    // A refusal for another reason still names a filesystem containerd
    // could not use (ftype=0 and no marker, say).
    let grow = match action.as_ref().map(|(a, _)| a) {
        Some(Action::Format { .. } | Action::Assemble) => None,
        None if d.superblock.is_none() => None,
        _ => check_filesystem(vol, d, &mut v),
    };
    let mut decision = conclude(vol, d, v, action);
    if decision.action().is_some() {
        decision.grow = grow;
    }
    decision.hidden = hidden;
    decision
}

/// Content on the root disk the action would hide: written under a
/// directory since datavol copied it, and not copied again now. Each is
/// reported; a refusal where the directory's policy says so.
fn check_hidden(
    vol: &Volume,
    f: &Facts,
    d: &Disk,
    a: Option<&Action>,
    v: &mut Verdicts,
) -> Vec<HiddenContent> {
    let mut out = Vec::new();
    for p in &f.paths {
        let Some(look) = &p.underneath else { continue };
        if copied_afresh(vol, d, a, &p.path) {
            continue;
        }
        let (entries, bytes, error) = match look {
            Ok(l) => match l.hidden(0) {
                Some(h) => (h.entries, h.bytes, None),
                None => continue,
            },
            Err(e) => (0, 0, Some(e.clone())),
        };
        let policy = vol.hidden_policy(&p.path);
        if policy == HiddenPolicy::Refuse {
            v.refuse(Reason::HiddenContent {
                path: p.path.clone(),
                entries,
                bytes,
                error: error.clone(),
            });
        }
        out.push(HiddenContent {
            path: p.path.clone(),
            entries,
            bytes,
            policy,
            error,
        });
    }
    out
}

/// Whether the action copies `path` onto the volume again (so nothing
/// under it is hidden): a format, or a migration of it not yet verified.
fn copied_afresh(vol: &Volume, d: &Disk, a: Option<&Action>, path: &std::path::Path) -> bool {
    let phase = match a {
        Some(Action::Format { .. }) => return true,
        Some(Action::Resume { phase, .. }) => *phase,
        _ => return false,
    };
    if vol.directories.is_empty() {
        return matches!(phase, None | Some(Phase::Copying));
    }
    match &d.fs {
        Some(Ok(FsView {
            marker: MarkerRead::Found(s),
            ..
        })) => s
            .directories
            .get(path)
            .is_none_or(|ds| ds.phase == Phase::Copying),
        _ => true,
    }
}

/// Another device with the filesystem's UUID (a clone: a volume restored
/// from a snapshot of this one) could be what a mount by UUID takes, and
/// carries the same marker: neither is touched while both are attached.
fn same_uuid(f: &Facts, d: &Disk) -> Option<Reason> {
    let Ok(Probe::Signature {
        fstype,
        uuid: Some(uuid),
        ..
    }) = &d.probe
    else {
        return None;
    };
    (!f.same_uuid.is_empty()).then(|| Reason::SameUuid {
        fstype: fstype.clone(),
        uuid: uuid.clone(),
        device: d.dev.node.clone(),
        others: f.same_uuid.clone(),
    })
}

/// An existing filesystem the volume would use: containerd's overlayfs
/// needs d_type, and a device smaller than the filesystem is another disk
/// or a cut one. Returns the grow a larger device calls for.
fn check_filesystem(vol: &Volume, d: &Disk, v: &mut Verdicts) -> Option<Grow> {
    let sb = match &d.superblock {
        Some(Ok(sb)) => sb,
        Some(Err(e)) => {
            v.refuse(Reason::SuperblockUnreadable {
                device: d.dev.node.clone(),
                error: e.clone(),
            });
            return None;
        }
        None => {
            v.refuse(Reason::SuperblockUnreadable {
                device: d.dev.node.clone(),
                error: "not read".into(),
            });
            return None;
        }
    };
    if !sb.dtype {
        v.refuse(Reason::NoDtype {
            fstype: sb.fstype.to_string(),
            device: d.dev.node.clone(),
        });
    }
    if sb.size_bytes > d.dev.size_bytes {
        v.refuse(Reason::DeviceSmaller {
            device: d.dev.node.clone(),
            device_bytes: d.dev.size_bytes,
            fs_bytes: sb.size_bytes,
        });
        return None;
    }
    vol.grow
        .then(|| grow::need(d.dev.size_bytes, sb.size_bytes))
        .flatten()
}

fn configured_uuid<'a>(vol: &Volume, probe: &'a Probe) -> Option<&'a str> {
    match probe {
        Probe::Signature { fstype, uuid, .. } if fstype == vol.filesystem.as_str() => {
            uuid.as_deref()
        }
        _ => None,
    }
}

/// The device is mounted where the volume goes (all of it, or some).
fn mounted_action(
    vol: &Volume,
    d: &Disk,
    probe: &Probe,
    partly: bool,
    v: &mut Verdicts,
) -> Option<(Action, String)> {
    let Some(uuid) = configured_uuid(vol, probe) else {
        v.refuse(Reason::MountedButProbes {
            at: vol.mount_point.clone(),
            found: probe.describe(),
        });
        return None;
    };
    let uuid = uuid.to_string();
    let state = marker_state(vol, d, v)?;
    let done = state.phase == Phase::Committed
        && (vol.directories.is_empty() || state.dirs_committed(&vol.directories));
    if partly || !done {
        return Some((
            Action::Resume { uuid, phase: None },
            "the volume is mounted but not every directory has been migrated onto it yet; migrate the rest".into(),
        ));
    }
    Some((
        Action::Keep { uuid },
        "already mounted from the device; the unit and the ready flag are kept current".into(),
    ))
}

/// The volume's own marker, checked: this volume's, seeded from the
/// configured path. None (with the reason noted) otherwise.
fn marker_state<'a>(vol: &Volume, d: &'a Disk, v: &mut Verdicts) -> Option<&'a State> {
    let view = match &d.fs {
        Some(Ok(view)) => view,
        Some(Err(_)) | None => return None,
    };
    match &view.marker {
        MarkerRead::Found(s) => seeded_here(vol, s, v).then_some(s.as_ref()),
        MarkerRead::Corrupt(_) | MarkerRead::Linked(_) => {
            v.refuse(unusable_marker(&view.marker));
            None
        }
        // Only for a filesystem not mounted yet; here it is: the same as none.
        MarkerRead::Absent | MarkerRead::Recorded => {
            v.refuse(Reason::NoMarker {
                fstype: vol.filesystem.to_string(),
            });
            None
        }
    }
}

/// A marker of this volume, seeded from where the config points now.
fn seeded_here(vol: &Volume, s: &State, v: &mut Verdicts) -> bool {
    if s.volume != vol.name {
        v.refuse(Reason::OtherVolume {
            owner: s.volume.clone(),
        });
        return false;
    }
    if s.source != vol.mount_point {
        v.refuse(Reason::SeededFrom {
            recorded: s.source.clone(),
            configured: vol.mount_point.clone(),
        });
        return false;
    }
    true
}

/// Nothing is mounted: what the device holds decides.
fn unmounted_action(
    vol: &Volume,
    f: &Facts,
    d: &Disk,
    probe: &Probe,
    v: &mut Verdicts,
) -> Option<(Action, String)> {
    let fs = vol.filesystem;
    match probe {
        Probe::Blank => Some(if vol.migrate {
            (
                Action::Format { migrate: true },
                format!(
                    "device is blank: format it {fs}, copy {} onto it, mount it",
                    vol.mount_point.display()
                ),
            )
        } else {
            (
                Action::Format { migrate: false },
                format!("device is blank and migrate = false: format it {fs} and mount it empty"),
            )
        }),
        Probe::Leftover { signatures } => {
            v.refuse(Reason::Leftover {
                signatures: signatures.clone(),
            });
            None
        }
        Probe::Ambiguous { signatures } => {
            v.refuse(Reason::Ambiguous {
                signatures: signatures.clone(),
            });
            None
        }
        Probe::PartitionTable { pttype } => {
            v.refuse(Reason::PartitionTable {
                pttype: pttype.clone(),
            });
            None
        }
        Probe::Signature {
            fstype,
            uuid,
            label,
        } if fstype == fs.as_str() => {
            let Some(uuid) = uuid.as_deref().filter(|u| !u.is_empty()) else {
                v.refuse(Reason::NoUuid {
                    fstype: fstype.clone(),
                });
                return None;
            };
            match &d.fs {
                // In use: the reason is noted already; nothing was looked at.
                None => None,
                Some(Err(e)) => {
                    v.refuse(Reason::SourceUnreadable {
                        path: d.dev.node.clone(),
                        error: format!("cannot look inside the {fs} filesystem: {e}"),
                    });
                    None
                }
                Some(Ok(view)) => own_filesystem(vol, f, view, uuid, label.as_deref(), v),
            }
        }
        Probe::Signature { fstype, .. } => {
            v.refuse(Reason::Foreign {
                fstype: fstype.clone(),
            });
            None
        }
    }
}

/// A filesystem of the configured type, not mounted: whose is it?
fn own_filesystem(
    vol: &Volume,
    f: &Facts,
    view: &FsView,
    uuid: &str,
    label: Option<&str>,
    v: &mut Verdicts,
) -> Option<(Action, String)> {
    let fs = vol.filesystem;
    let uuid = uuid.to_string();
    match &view.marker {
        MarkerRead::Corrupt(_) | MarkerRead::Linked(_) => {
            v.refuse(unusable_marker(&view.marker));
            None
        }
        MarkerRead::Recorded => Some((
            Action::Mount { uuid },
            format!("the root disk's record says this {fs} is the volume's, committed, seeded from {}; mount it, then check its marker through the mount", vol.mount_point.display()),
        )),
        MarkerRead::Found(s) if !seeded_here(vol, s, v) => None,
        MarkerRead::Found(s)
            if s.phase == Phase::Committed
                && (vol.directories.is_empty() || s.dirs_committed(&vol.directories)) =>
        {
            Some((
                Action::Mount { uuid },
                format!("datavol's own {fs}, migration committed; mount it without copying"),
            ))
        }
        MarkerRead::Found(s) => Some((
            Action::Resume {
                uuid,
                phase: Some(s.phase),
            },
            format!(
                "datavol's own {fs}, migration interrupted while {}; finish it",
                s.phase.describe()
            ),
        )),
        MarkerRead::Absent if label == Some(vol.label.as_str()) => {
            if view.only_ours {
                Some((
                    Action::Resume { uuid, phase: None },
                    format!("empty {fs} with datavol's label {:?} and no marker yet: formatted by an interrupted run; migrate onto it", vol.label),
                ))
            } else if f.record.knows(&uuid) {
                // The marker may sit in a log a no-write mount does not replay.
                Some((
                    Action::Resume { uuid, phase: None },
                    format!("{fs} with datavol's label {:?}, formatted by datavol on this node, marker not visible yet (an interrupted run); finish the migration", vol.label),
                ))
            } else {
                v.refuse(Reason::LabelledNotEmpty {
                    label: vol.label.clone(),
                });
                None
            }
        }
        MarkerRead::Absent if vol.adopt_existing => Some((
            Action::Adopt { uuid },
            format!("{fs} without datavol's marker and adopt_existing = true: mount it as it is"),
        )),
        MarkerRead::Absent => {
            v.refuse(Reason::NoMarker {
                fstype: fs.to_string(),
            });
            None
        }
    }
}

/// ext4 makes one inode per 16 KiB by default, fixed at mkfs.
const EXT4_BYTES_PER_INODE: u64 = 16384;

/// The directories the action mounts over, and copies from: each must be
/// reached without links and be a directory (or not exist yet); a copy
/// needs no submounts, no .datavol of its own, and room on the device.
fn check_paths(
    vol: &Volume,
    f: &Facts,
    a: Option<&Action>,
    dev: &Device,
    capacity: u64,
    v: &mut Verdicts,
) {
    for p in &f.paths {
        match &p.kind {
            PathKind::Missing | PathKind::Directory => {}
            PathKind::Symlink(link) => v.refuse(Reason::SourceSymlink {
                path: p.path.clone(),
                link: link.clone(),
            }),
            PathKind::Other(kind) => v.refuse(Reason::SourceNotDirectory {
                path: p.path.clone(),
                kind: kind.clone(),
            }),
            PathKind::Unreadable(e) => v.refuse(Reason::SourceUnreadable {
                path: p.path.clone(),
                error: e.clone(),
            }),
        }
    }
    let Some(a) = a.filter(|a| a.migrates()) else {
        return;
    };
    let (mut bytes, mut entries) = (0u64, 0u64);
    for p in f.sources(vol).filter(|p| p.kind == PathKind::Directory) {
        if p.has_marker_dir {
            v.refuse(Reason::SourceHasMarker {
                path: p.path.clone(),
            });
        }
        if let Some(at) = p.submounts.first() {
            v.refuse(Reason::SourceSubmount {
                path: p.path.clone(),
                at: at.clone(),
            });
        }
        match &p.usage {
            Some(Ok(u)) => {
                bytes += u.allocated_bytes;
                entries += u.entries;
            }
            // A submount is named above already; the survey says the same.
            Some(Err(_)) if !p.submounts.is_empty() => {}
            Some(Err(e)) => v.refuse(Reason::SourceUnreadable {
                path: p.path.clone(),
                error: e.clone(),
            }),
            None => {}
        }
    }
    // mkfs and metadata take a few percent; apply checks the exact free space.
    if bytes > capacity / 100 * 95 {
        v.refuse(Reason::SourceTooLarge {
            bytes,
            device: dev.node.clone(),
            capacity,
        });
    }
    let inodes = capacity / EXT4_BYTES_PER_INODE;
    if vol.filesystem == Filesystem::Ext4
        && matches!(a, Action::Format { .. })
        && entries > inodes / 100 * 95
    {
        v.refuse(Reason::SourceTooManyFiles {
            entries,
            device: dev.node.clone(),
            inodes,
        });
    }
}

fn check_services(vol: &Volume, f: &Facts, p: Policy, v: &mut Verdicts) {
    match &f.services {
        Some(Err(e)) => v.refuse(Reason::ServicesUnknown { error: e.clone() }),
        Some(Ok(active)) if !active.is_empty() && !p.stop_services => {
            v.refuse(Reason::ServicesRunning {
                units: active
                    .iter()
                    .map(|(s, st)| format!("{s} ({st}) is"))
                    .collect(),
                path: vol.mount_point.clone(),
            })
        }
        _ => {}
    }
}

/// RAID0: the members decide whether there is an array to use, assemble or
/// create; datavol's running array is then classified as a disk.
fn classify_raid(vol: &Volume, f: &Facts, r: &RaidFacts, p: Policy) -> Decision {
    let Some(first) = r.members.first() else {
        return decision(
            vol,
            None,
            None,
            Verdict::Fail {
                message: "no RAID members".into(),
            },
            "no RAID members".into(),
        );
    };
    let mut v = Verdicts {
        reasons: Vec::new(),
    };
    if let Some(a) = &r.running {
        let split: Vec<String> = r
            .members
            .iter()
            .filter(|m| !matches!(&m.holder, Ok(Some(h)) if *h == a.node))
            .map(|m| m.dev.node.display().to_string())
            .collect();
        if !split.is_empty() {
            v.refuse(Reason::RaidSplit { members: split });
        } else if let Some(disk) = &a.disk {
            return classify_disk(vol, f, disk, p, None);
        } else {
            v.refuse(Reason::RaidForeignArray {
                array: a.node.clone(),
                name: a.name.clone().unwrap_or_default(),
            });
        }
        return member_refusal(vol, first, v);
    }
    let (blank, ours, foreign) = sort_members(&r.members, &raid::md_name(vol), &mut v);
    if let Some(e) = r.members.iter().find_map(|m| m.probe.as_ref().err()) {
        return fail(vol, &first.dev, format!("cannot probe a RAID member: {e}"));
    }
    if !foreign.is_empty() {
        v.refuse(Reason::RaidForeignMembers { members: foreign });
    }
    let list = r
        .members
        .iter()
        .map(|m| m.dev.node.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let total = r.members.len();
    if !v.reasons.is_empty() {
        return member_refusal(vol, first, v);
    }
    if blank.len() == total {
        return create_array(vol, f, r, p, &list);
    }
    let same_array = ours.windows(2).all(|w| w[0] == w[1]);
    if ours.len() == total && same_array {
        let why = format!("datavol's RAID0 array is on {list} but not running; apply assembles it");
        return decision(
            vol,
            Some(&first.dev),
            None,
            Verdict::Act {
                action: Action::Assemble,
            },
            why,
        );
    }
    v.refuse(Reason::RaidMixed {
        ours: ours.len(),
        total,
        name: raid::md_name(vol),
    });
    member_refusal(vol, first, v)
}

fn member_refusal(vol: &Volume, first: &Member, v: Verdicts) -> Decision {
    let refusal = Refusal { reasons: v.reasons };
    let msg = refusal.to_string();
    decision(
        vol,
        Some(&first.dev),
        None,
        Verdict::Refuse { refusal },
        msg,
    )
}

/// Members sorted into blank ones, datavol's (their array UUIDs), and
/// foreign ones (described); a member in use is a refusal.
fn sort_members(
    members: &[Member],
    want: &str,
    v: &mut Verdicts,
) -> (Vec<PathBuf>, Vec<String>, Vec<String>) {
    let (mut blank, mut ours, mut foreign) = (Vec::new(), Vec::new(), Vec::new());
    for m in members {
        match &m.usage {
            Err(e) => v.refuse(Reason::UsageUnknown {
                device: m.dev.node.clone(),
                error: e.clone(),
            }),
            Ok(u) => {
                if let Some(why) = u.why_not(&[]) {
                    v.refuse(Reason::InUse {
                        device: m.dev.node.clone(),
                        why,
                    });
                }
            }
        }
        let node = m.dev.node.display().to_string();
        match (&m.probe, &m.md) {
            (Ok(Probe::Blank), _) => blank.push(m.dev.node.clone()),
            (Ok(Probe::Signature { .. }), Some(Ok(Some(md)))) if md.name == want => {
                ours.push(md.uuid.clone())
            }
            (Ok(_), Some(Ok(md))) => foreign.push(format!(
                "{node}: md member of {:?}",
                md.as_ref().map(|m| m.name.clone()).unwrap_or_default()
            )),
            (Ok(_), Some(Err(e))) => foreign.push(format!("{node}: md superblock unreadable: {e}")),
            (Ok(other), None) => foreign.push(format!("{node}: {}", other.describe())),
            (Err(_), _) => {}
        }
    }
    (blank, ours, foreign)
}

/// Every member blank: create the array, then format it like a blank disk.
fn create_array(vol: &Volume, f: &Facts, r: &RaidFacts, p: Policy, list: &str) -> Decision {
    let first = &r.members[0];
    let capacity: u64 = r.members.iter().map(|m| m.dev.size_bytes).sum();
    // The first member stands in for the array that does not exist yet.
    let disk = Disk {
        dev: first.dev.clone(),
        usage: first.usage.clone(),
        probe: Ok(Probe::Blank),
        fs: None,
        superblock: None,
    };
    let mut facts = f.clone();
    facts.claimed_by = None;
    let mut d = classify_disk(vol, &facts, &disk, p, Some(capacity));
    if let Verdict::Act { action } = &d.verdict {
        let what = if *action == (Action::Format { migrate: true }) {
            "format it, migrate, mount"
        } else {
            "format it, mount"
        };
        d.reason = format!(
            "every member is blank ({list}): create RAID0 {}, {what}",
            raid::md_path(vol).display()
        );
        d.raid_create = Some(r.members.iter().map(|m| m.dev.clone()).collect());
    }
    d
}

/// The refusal for a marker datavol cannot use: unreadable, or reached
/// through a link.
fn unusable_marker(m: &MarkerRead) -> Reason {
    match m {
        MarkerRead::Linked(what) => Reason::StateDirUnsafe { what: what.clone() },
        MarkerRead::Corrupt(e) => Reason::MarkerCorrupt { error: e.clone() },
        _ => Reason::MarkerCorrupt {
            error: "not read".into(),
        },
    }
}
