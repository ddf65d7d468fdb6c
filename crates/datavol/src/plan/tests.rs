//! classify, row by row: the tables in docs/design.md and every refusal,
//! from facts built in memory. No root, no device, no mount.

use super::classify::{classify, timeout_reason, Mode, Policy};
use super::decision::{Action, Reason, Verdict};
use super::facts::*;
use crate::config::{self, Volume};
use crate::discover::device::{Device, Usage};
use crate::discover::probe::Probe;
use crate::discover::raid::MdSuper;
use crate::discover::selector::{NvmeMiss, Selector};
use crate::discover::superblock::Superblock;
use crate::record::history::History;
use crate::record::marker::{Phase, State};
use crate::sys::mountinfo::MountEntry;
use std::path::{Path, PathBuf};
use std::time::Duration;

const UUID: &str = "0b1c2d3e-aaaa-bbbb-cccc-000000000000";
const GIB: u64 = 1 << 30;

/// Asserts that one of the reasons `r` matches the pattern.
macro_rules! has {
    ($r:expr, $p:pat) => {
        assert!($r.iter().any(|x| matches!(x, $p)), "{:?}", $r)
    };
}

fn vol(extra: &str) -> Volume {
    let text = format!(
        "[volume.containerd]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/var/lib/containerd\"\n{extra}\n"
    );
    config::parse_str(Path::new("t.toml"), &text)
        .expect("test config")
        .remove(0)
}

fn dirs_vol() -> Volume {
    config::parse_str(
        Path::new("t.toml"),
        "[volume.data]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\ndirectories = [\"/var/lib/containerd\", \"/var/lib/kubelet\"]\n",
    )
    .expect("test config")
    .remove(0)
}

fn dev(major: u32, minor: u32) -> Device {
    Device {
        selector: "/dev/xvdb".into(),
        node: PathBuf::from(format!("/dev/test{minor}")),
        major,
        minor,
        size_bytes: 100 * GIB,
    }
}

fn xfs(label: Option<&str>) -> Probe {
    Probe::Signature {
        fstype: "xfs".into(),
        uuid: Some(UUID.into()),
        label: label.map(String::from),
    }
}

fn marker(phase: Phase) -> MarkerRead {
    let mut s = State::new("containerd", Path::new("/var/lib/containerd"));
    s.phase = phase;
    MarkerRead::Found(Box::new(s))
}

fn view(marker: MarkerRead, only_ours: bool) -> Option<Result<FsView, String>> {
    Some(Ok(FsView { marker, only_ours }))
}

fn source(path: &str) -> PathFacts {
    PathFacts {
        path: path.into(),
        kind: PathKind::Directory,
        has_marker_dir: false,
        submounts: vec![],
        usage: Some(Ok(datavol_copy::TreeUsage {
            entries: 1000,
            allocated_bytes: GIB,
            ..Default::default()
        })),
        underneath: None,
    }
}

/// A healthy superblock of `fstype` that fills the test device.
fn sb(fstype: &'static str) -> Superblock {
    Superblock {
        fstype,
        uuid: UUID.into(),
        label: None,
        size_bytes: 100 * GIB,
        dtype: true,
    }
}

/// What facts reads for a probe: the superblock of the configured type.
fn sb_for(v: &Volume, probe: &Probe) -> Option<Result<Box<Superblock>, String>> {
    match probe {
        Probe::Signature { fstype, .. } if fstype == v.filesystem.as_str() => {
            Some(Ok(Box::new(sb(v.filesystem.as_str()))))
        }
        _ => None,
    }
}

fn facts_for(v: &Volume, probe: Probe, fs: Option<Result<FsView, String>>) -> Facts {
    Facts {
        device: DeviceFacts::Disk(Disk {
            dev: dev(259, 1),
            usage: Ok(Usage::default()),
            superblock: sb_for(v, &probe),
            probe: Ok(probe),
            fs,
        }),
        paths: v
            .claimed()
            .iter()
            .map(|p| source(&p.display().to_string()))
            .collect(),
        services: Some(Ok(vec![])),
        record: History::empty(&v.name),
        claimed_by: None,
        same_uuid: vec![],
        mounts_at: vec![],
        foreign_units: vec![],
        took: Took::default(),
    }
}

fn facts(probe: Probe, fs: Option<Result<FsView, String>>) -> Facts {
    facts_for(&vol(""), probe, fs)
}

fn disk_mut(f: &mut Facts) -> &mut Disk {
    match &mut f.device {
        DeviceFacts::Disk(d) => d,
        _ => panic!("not a disk"),
    }
}

const APPLY: Policy = Policy {
    mode: Mode::Apply,
    stop_services: false,
};

fn action(v: &Volume, f: &Facts) -> Action {
    match classify(v, f, APPLY).verdict {
        Verdict::Act { action } => action,
        other => panic!("expected an action, got {other:?}"),
    }
}

fn reasons(v: &Volume, f: &Facts) -> Vec<Reason> {
    match classify(v, f, APPLY).verdict {
        Verdict::Refuse { refusal } => refusal.reasons,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn refused_for(v: &Volume, f: &Facts, pred: impl Fn(&Reason) -> bool) {
    let r = reasons(v, f);
    assert!(r.iter().any(pred), "unexpected reasons {r:?}");
    for reason in &r {
        assert!(reason.to_string().contains("hint:"), "no hint in {reason}");
    }
}

fn mount_entry(at: &str, root: &str, majmin: (u32, u32), source: &str) -> MountEntry {
    MountEntry {
        mount_id: 1,
        parent_id: 0,
        major: majmin.0,
        minor: majmin.1,
        root: root.into(),
        mount_point: at.into(),
        fstype: "xfs".into(),
        source: source.into(),
    }
}

// ---- the single-disk table, row by row

#[test]
fn blank_is_formatted_migrated_mounted() {
    assert_eq!(
        action(&vol(""), &facts(Probe::Blank, None)),
        Action::Format { migrate: true }
    );
}

#[test]
fn blank_without_migrate_is_formatted_and_mounted_empty() {
    let v = vol("migrate = false");
    assert_eq!(
        action(&v, &facts_for(&v, Probe::Blank, None)),
        Action::Format { migrate: false }
    );
}

#[test]
fn committed_is_mounted_without_copying() {
    let f = facts(
        xfs(Some("dv-container")),
        view(marker(Phase::Committed), false),
    );
    assert_eq!(action(&vol(""), &f), Action::Mount { uuid: UUID.into() });
}

#[test]
fn copying_or_verified_is_resumed() {
    for phase in [Phase::Copying, Phase::Verified] {
        let f = facts(xfs(None), view(marker(phase), false));
        assert_eq!(
            action(&vol(""), &f),
            Action::Resume {
                uuid: UUID.into(),
                phase: Some(phase)
            }
        );
    }
}

#[test]
fn labelled_and_empty_without_marker_is_an_interrupted_first_run() {
    let f = facts(xfs(Some("dv-container")), view(MarkerRead::Absent, true));
    assert_eq!(
        action(&vol(""), &f),
        Action::Resume {
            uuid: UUID.into(),
            phase: None
        }
    );
}

#[test]
fn labelled_with_files_and_no_marker_is_refused_unless_this_node_formatted_it() {
    // Hole 5: a foreign xfs labelled dv-NAME that holds files.
    let mut f = facts(xfs(Some("dv-container")), view(MarkerRead::Absent, false));
    refused_for(&vol(""), &f, |r| {
        matches!(r, Reason::LabelledNotEmpty { .. })
    });
    f.record.formatted.push(UUID.into());
    assert_eq!(
        action(&vol(""), &f),
        Action::Resume {
            uuid: UUID.into(),
            phase: None
        }
    );
}

#[test]
fn no_marker_with_adopt_existing_is_adopted() {
    let v = vol("adopt_existing = true");
    let f = facts_for(&v, xfs(None), view(MarkerRead::Absent, false));
    assert_eq!(action(&v, &f), Action::Adopt { uuid: UUID.into() });
}

#[test]
fn no_marker_is_refused() {
    let f = facts(xfs(None), view(MarkerRead::Absent, false));
    refused_for(&vol(""), &f, |r| matches!(r, Reason::NoMarker { .. }));
}

#[test]
fn another_volumes_filesystem_is_refused() {
    let mut s = State::new("other", Path::new("/var/lib/containerd"));
    s.phase = Phase::Committed;
    let f = facts(xfs(None), view(MarkerRead::Found(Box::new(s)), false));
    refused_for(
        &vol(""),
        &f,
        |r| matches!(r, Reason::OtherVolume { owner } if owner == "other"),
    );
}

#[test]
fn a_corrupt_marker_is_refused_not_taken_for_none() {
    let f = facts(
        xfs(None),
        view(MarkerRead::Corrupt("bad json".into()), false),
    );
    refused_for(&vol(""), &f, |r| matches!(r, Reason::MarkerCorrupt { .. }));
}

#[test]
fn a_linked_state_dir_is_refused_when_adopting_and_with_a_marker() {
    // Issue #18: the marker would be written to, and read from, the link's
    // target on the root disk.
    let linked = MarkerRead::Linked("/.datavol is a symbolic link to /var, not a directory".into());
    for only_ours in [false, true] {
        let f = facts(xfs(None), view(linked.clone(), only_ours));
        refused_for(
            &vol("adopt_existing = true"),
            &f,
            |r| matches!(r, Reason::StateDirUnsafe { what } if what.contains("symbolic link")),
        );
    }
}

#[test]
fn a_filesystem_without_uuid_is_refused_as_such() {
    let p = Probe::Signature {
        fstype: "xfs".into(),
        uuid: Some(String::new()),
        label: None,
    };
    refused_for(&vol(""), &facts(p, None), |r| {
        matches!(r, Reason::NoUuid { .. })
    });
}

#[test]
fn foreign_signatures_are_refused() {
    for t in [
        "ext4",
        "LVM2_member",
        "crypto_LUKS",
        "swap",
        "linux_raid_member",
    ] {
        let p = Probe::Signature {
            fstype: t.into(),
            uuid: None,
            label: None,
        };
        refused_for(
            &vol(""),
            &facts(p, None),
            |r| matches!(r, Reason::Foreign { fstype } if fstype == t),
        );
    }
}

#[test]
fn a_partition_table_is_refused() {
    let p = Probe::PartitionTable {
        pttype: "gpt".into(),
    };
    refused_for(&vol(""), &facts(p, None), |r| {
        matches!(r, Reason::PartitionTable { .. })
    });
}

#[test]
fn ambiguous_signatures_are_refused() {
    let p = Probe::Ambiguous {
        signatures: vec!["xfs at 0x0".into(), "ext4 at 0x438".into()],
    };
    refused_for(&vol(""), &facts(p, None), |r| {
        matches!(r, Reason::Ambiguous { .. })
    });
}

#[test]
fn a_backup_gpt_alone_is_refused() {
    // Hole 6: libblkid says blank, wipefs sees the GPT at the end.
    let p = Probe::Leftover {
        signatures: vec!["gpt at 0x3fffe00 (a partition table)".into()],
    };
    refused_for(&vol(""), &facts(p, None), |r| {
        matches!(r, Reason::Leftover { .. })
    });
}

// ---- mounted

#[test]
fn mounted_as_configured_is_kept() {
    let f = kept_facts(xfs(None));
    assert_eq!(action(&vol(""), &f), Action::Keep { uuid: UUID.into() });
}

#[test]
fn partly_mounted_directories_resume() {
    let v = dirs_vol();
    let mut s = State::new("data", &v.mount_point);
    s.phase = Phase::Committed;
    let mut f = facts_for(&v, xfs(None), view(MarkerRead::Found(Box::new(s)), false));
    f.mounts_at = vec![mount_entry(
        &v.mount_point.display().to_string(),
        "/",
        (259, 1),
        "/dev/test1",
    )];
    assert_eq!(
        action(&v, &f),
        Action::Resume {
            uuid: UUID.into(),
            phase: None
        }
    );
}

#[test]
fn something_else_mounted_there_is_refused() {
    // Another device on the path: nodeadm's storage.volumes mount, say.
    let mut f = facts(Probe::Blank, None);
    f.mounts_at = vec![mount_entry("/var/lib/containerd", "/", (8, 1), "/dev/sdz1")];
    refused_for(
        &vol(""),
        &f,
        |r| matches!(r, Reason::ForeignMount { source, path, .. } if source == "/dev/sdz1" && path == Path::new("/var/lib/containerd")),
    );
    let msg = classify(&vol(""), &f, APPLY).reason;
    assert!(msg.contains("storage.volumes"), "{msg}");
}

// ---- another tool on the volume's directory (nodeadm, issue #20)

fn nodeadm_unit(path: &str) -> crate::systemd::unit::ForeignUnit {
    crate::systemd::unit::ForeignUnit {
        path: path.into(),
        unit: "/etc/systemd/system/var-lib-containerd.mount".into(),
        what: "UUID=1234".into(),
    }
}

#[test]
fn a_foreign_mount_on_any_row_is_refused() {
    // Whatever the device holds, a mount of another device on the path
    // is refused before anything is formatted, copied or mounted.
    let v = vol("adopt_existing = true");
    for probe in [Probe::Blank, xfs(None), xfs(Some("dv-containerd"))] {
        let fs = match probe {
            Probe::Blank => None,
            _ => view(MarkerRead::Absent, true),
        };
        let mut f = facts_for(&v, probe.clone(), fs);
        // localStorage's bind mount from its RAID (setup-local-disks).
        f.mounts_at = vec![mount_entry(
            "/var/lib/containerd",
            "/containerd",
            (9, 127),
            "/dev/md127",
        )];
        refused_for(
            &v,
            &f,
            |r| matches!(r, Reason::ForeignMount { source, .. } if source == "/dev/md127"),
        );
    }
}

#[test]
fn the_device_mounted_from_another_directory_is_still_mounted_elsewhere() {
    let mut f = facts(xfs(None), view(marker(Phase::Committed), false));
    f.mounts_at = vec![mount_entry(
        "/var/lib/containerd",
        "/sub",
        (259, 1),
        "/dev/test1",
    )];
    let r = reasons(&vol(""), &f);
    has!(r, Reason::MountedElsewhere { .. });
    assert!(
        !r.iter().any(|r| matches!(r, Reason::ForeignMount { .. })),
        "{r:?}"
    );
}

#[test]
fn a_foreign_unit_turns_every_action_into_a_refusal() {
    let committed = view(marker(Phase::Committed), false);
    let rows: Vec<(&str, Facts)> = vec![
        ("format", facts(Probe::Blank, None)),
        ("mount", facts(xfs(None), committed.clone())),
        (
            "resume",
            facts(xfs(None), view(marker(Phase::Copying), false)),
        ),
        ("keep", {
            let mut f = facts(xfs(None), committed);
            f.mounts_at = vec![mount_entry(
                "/var/lib/containerd",
                "/",
                (259, 1),
                "/dev/test1",
            )];
            f
        }),
    ];
    for (row, mut f) in rows {
        assert!(
            matches!(classify(&vol(""), &f, APPLY).verdict, Verdict::Act { .. }),
            "{row}: acts without the unit"
        );
        f.foreign_units = vec![nodeadm_unit("/var/lib/containerd")];
        let d = classify(&vol(""), &f, APPLY);
        assert_eq!(d.action(), None, "{row}");
        refused_for(
            &vol(""),
            &f,
            |r| matches!(r, Reason::ForeignUnit { unit, what, .. } if unit == Path::new("/etc/systemd/system/var-lib-containerd.mount") && what == "UUID=1234"),
        );
        assert!(d.reason.contains("storage.volumes"), "{row}: {}", d.reason);
    }
}

#[test]
fn a_foreign_unit_is_named_beside_the_other_reasons() {
    let mut f = facts(
        Probe::Signature {
            fstype: "ext4".into(),
            uuid: None,
            label: None,
        },
        None,
    );
    f.foreign_units = vec![nodeadm_unit("/var/lib/containerd")];
    let r = reasons(&vol(""), &f);
    has!(r, Reason::Foreign { .. });
    has!(r, Reason::ForeignUnit { .. });
}

#[test]
fn a_foreign_unit_leaves_a_timeout_a_timeout() {
    let mut f = Facts {
        device: DeviceFacts::Missing {
            waited: Duration::from_secs(90),
            nvme: None,
        },
        ..facts(Probe::Blank, None)
    };
    f.foreign_units = vec![nodeadm_unit("/var/lib/containerd")];
    assert!(matches!(
        classify(&vol(""), &f, APPLY).verdict,
        Verdict::Timeout { .. }
    ));
}

#[test]
fn a_foreign_unit_stops_a_raid_array_being_created() {
    let mut f = blank_pair();
    f.foreign_units = vec![nodeadm_unit("/var/lib/containerd")];
    let d = classify(&raid_vol(), &f, APPLY);
    assert_eq!(d.raid_create, None);
    assert!(
        matches!(&d.verdict, Verdict::Refuse { refusal } if refusal.reasons.iter().any(|r| matches!(r, Reason::ForeignUnit { .. }))),
        "{d:?}"
    );
}

#[test]
fn mounted_from_the_device_that_probes_otherwise_is_refused() {
    let mut f = facts(
        Probe::Signature {
            fstype: "ext4".into(),
            uuid: None,
            label: None,
        },
        None,
    );
    f.mounts_at = vec![mount_entry(
        "/var/lib/containerd",
        "/",
        (259, 1),
        "/dev/test1",
    )];
    refused_for(&vol(""), &f, |r| {
        matches!(r, Reason::MountedButProbes { .. })
    });
}

// ---- the device in use

#[test]
fn a_held_mounted_or_system_disk_is_refused() {
    let cases = [
        Usage {
            holders: vec!["md127".into()],
            ..Usage::default()
        },
        Usage {
            mounts: vec![("/mnt".into(), "/".into())],
            ..Usage::default()
        },
        Usage {
            backs: Some("/".into()),
            ..Usage::default()
        },
        Usage {
            disk_mounted: Some("/boot".into()),
            ..Usage::default()
        },
        Usage {
            busy: true,
            ..Usage::default()
        },
    ];
    for u in cases {
        let mut f = facts(Probe::Blank, None);
        disk_mut(&mut f).usage = Ok(u.clone());
        refused_for(&vol(""), &f, |r| matches!(r, Reason::InUse { .. }));
    }
}

#[test]
fn usage_that_cannot_be_read_is_a_refusal_not_unused() {
    let mut f = facts(Probe::Blank, None);
    disk_mut(&mut f).usage = Err("holders: Permission denied".into());
    refused_for(&vol(""), &f, |r| matches!(r, Reason::UsageUnknown { .. }));
}

#[test]
fn one_device_for_two_volumes_is_refused_for_the_second() {
    let mut f = facts(Probe::Blank, None);
    f.claimed_by = Some("first".into());
    refused_for(
        &vol(""),
        &f,
        |r| matches!(r, Reason::SameDeviceAs { other, .. } if other == "first"),
    );
}

// ---- the directory

#[test]
fn a_changed_mount_point_is_refused() {
    // Hole 1: seeded from A, configured for B.
    let v = vol("");
    let mut s = State::new("containerd", Path::new("/var/lib/old"));
    s.phase = Phase::Committed;
    let f = facts_for(
        &v,
        xfs(None),
        view(MarkerRead::Found(Box::new(s.clone())), false),
    );
    refused_for(
        &v,
        &f,
        |r| matches!(r, Reason::SeededFrom { recorded, .. } if recorded == Path::new("/var/lib/old")),
    );
    // Mounted already (from the old unit, say): the same.
    let mut f = facts_for(&v, xfs(None), view(MarkerRead::Found(Box::new(s)), false));
    f.mounts_at = vec![mount_entry(
        "/var/lib/containerd",
        "/",
        (259, 1),
        "/dev/test1",
    )];
    refused_for(&v, &f, |r| matches!(r, Reason::SeededFrom { .. }));
}

#[test]
fn a_symlink_on_the_way_is_refused() {
    // Hole 2.
    let mut f = facts(Probe::Blank, None);
    f.paths[0].kind = PathKind::Symlink("/var/lib".into());
    refused_for(&vol(""), &f, |r| matches!(r, Reason::SourceSymlink { .. }));
}

#[test]
fn a_mount_point_that_is_a_file_is_refused() {
    let mut f = facts(Probe::Blank, None);
    f.paths[0].kind = PathKind::Other("regular file".into());
    refused_for(&vol(""), &f, |r| {
        matches!(r, Reason::SourceNotDirectory { .. })
    });
}

#[test]
fn a_missing_directory_is_fine() {
    let mut f = facts(Probe::Blank, None);
    f.paths[0].kind = PathKind::Missing;
    f.paths[0].usage = None;
    assert_eq!(action(&vol(""), &f), Action::Format { migrate: true });
}

#[test]
fn a_source_with_its_own_dot_datavol_is_refused_before_mkfs() {
    // Hole 4.
    let mut f = facts(Probe::Blank, None);
    f.paths[0].has_marker_dir = true;
    refused_for(&vol(""), &f, |r| {
        matches!(r, Reason::SourceHasMarker { .. })
    });
}

#[test]
fn a_source_with_a_submount_is_refused() {
    // Hole 7, in plan as in apply.
    let mut f = facts(Probe::Blank, None);
    f.paths[0].submounts = vec!["/var/lib/containerd/tmpmounts/x".into()];
    f.paths[0].usage = Some(Err("has a mount inside it".into()));
    let r = reasons(&vol(""), &f);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(matches!(&r[0], Reason::SourceSubmount { .. }), "{r:?}");
}

#[test]
fn a_source_too_large_for_the_device_is_refused() {
    // Hole 7.
    let mut f = facts(Probe::Blank, None);
    f.paths[0].usage = Some(Ok(datavol_copy::TreeUsage {
        allocated_bytes: 99 * GIB,
        ..Default::default()
    }));
    refused_for(&vol(""), &f, |r| matches!(r, Reason::SourceTooLarge { .. }));
}

#[test]
fn ext4_without_inodes_for_every_file_is_refused() {
    let v = config::parse_str(
        Path::new("t.toml"),
        "[volume.containerd]\ndevice = \"/dev/xvdb\"\nfilesystem = \"ext4\"\nmount_point = \"/var/lib/containerd\"\n",
    )
    .unwrap()
    .remove(0);
    let mut f = facts_for(&v, Probe::Blank, None);
    f.paths[0].usage = Some(Ok(datavol_copy::TreeUsage {
        entries: 10_000_000,
        ..Default::default()
    }));
    refused_for(&v, &f, |r| matches!(r, Reason::SourceTooManyFiles { .. }));
}

// ---- services

#[test]
fn a_running_service_is_refused_unless_it_may_be_stopped() {
    let mut f = facts(Probe::Blank, None);
    f.services = Some(Ok(vec![("containerd.service".into(), "active".into())]));
    refused_for(&vol(""), &f, |r| {
        matches!(r, Reason::ServicesRunning { .. })
    });
    let stop = Policy {
        mode: Mode::Apply,
        stop_services: true,
    };
    assert!(matches!(
        classify(&vol(""), &f, stop).verdict,
        Verdict::Act { .. }
    ));
}

#[test]
fn services_that_cannot_be_asked_are_a_refusal() {
    let mut f = facts(Probe::Blank, None);
    f.services = Some(Err("no bus".into()));
    refused_for(&vol(""), &f, |r| {
        matches!(r, Reason::ServicesUnknown { .. })
    });
}

#[test]
fn every_reason_is_named() {
    // A partition table and a running containerd: both, not just one.
    let mut f = facts(
        Probe::PartitionTable {
            pttype: "dos".into(),
        },
        None,
    );
    f.services = Some(Ok(vec![("containerd.service".into(), "active".into())]));
    f.paths[0].kind = PathKind::Symlink("/var/lib/containerd".into());
    let r = reasons(&vol(""), &f);
    has!(r, Reason::PartitionTable { .. });
    has!(r, Reason::ServicesRunning { .. });
    has!(r, Reason::SourceSymlink { .. });
    assert_eq!(r.len(), 3, "{r:?}");
}

// ---- no device

#[test]
fn a_missing_device_is_a_timeout_said_in_words() {
    let f = Facts {
        device: DeviceFacts::Missing {
            waited: Duration::from_secs(90),
            nvme: None,
        },
        ..facts(Probe::Blank, None)
    };
    let d = classify(
        &vol(""),
        &f,
        Policy {
            mode: Mode::Plan,
            stop_services: false,
        },
    );
    assert!(matches!(d.verdict, Verdict::Timeout { .. }));
    assert_eq!(d.verdict.describe(), "none: the device is not there");
    assert!(!d.verdict.describe().contains("devicetimeout"));
}

#[test]
fn several_matches_are_refused() {
    let f = Facts {
        device: DeviceFacts::Several {
            selector: "label:x".into(),
            found: vec!["/dev/a".into(), "/dev/b".into()],
        },
        ..facts(Probe::Blank, None)
    };
    refused_for(&vol(""), &f, |r| matches!(r, Reason::SeveralDevices { .. }));
}

#[test]
fn a_probe_that_failed_is_a_failure() {
    let mut f = facts(Probe::Blank, None);
    disk_mut(&mut f).probe = Err("blkid: not found".into());
    assert!(matches!(
        classify(&vol(""), &f, APPLY).verdict,
        Verdict::Fail { .. }
    ));
}

// ---- RAID0

fn raid_vol() -> Volume {
    vol("raid = \"raid0\"")
}

fn member(minor: u32, probe: Probe, md: Option<(&str, &str)>, holder: Option<&str>) -> Member {
    Member {
        dev: dev(259, minor),
        usage: Ok(Usage::default()),
        probe: Ok(probe),
        md: md.map(|(n, u)| {
            Ok(Some(MdSuper {
                name: n.into(),
                uuid: u.into(),
            }))
        }),
        holder: Ok(holder.map(PathBuf::from)),
    }
}

fn raid_member(minor: u32, name: &str, holder: Option<&str>) -> Member {
    let p = Probe::Signature {
        fstype: "linux_raid_member".into(),
        uuid: None,
        label: None,
    };
    member(minor, p, Some((name, "u1")), holder)
}

/// Two blank members and no running array: the row that creates one.
fn blank_pair() -> Facts {
    raid(
        vec![
            member(1, Probe::Blank, None, None),
            member(2, Probe::Blank, None, None),
        ],
        None,
    )
}

fn raid(members: Vec<Member>, running: Option<RunningArray>) -> Facts {
    Facts {
        device: DeviceFacts::Raid(RaidFacts { members, running }),
        ..facts(Probe::Blank, None)
    }
}

#[test]
fn raid_all_blank_creates_then_formats() {
    let f = blank_pair();
    let d = classify(&raid_vol(), &f, APPLY);
    assert_eq!(d.action(), Some(&Action::Format { migrate: true }), "{d:?}");
    assert_eq!(d.raid_create.as_ref().map(Vec::len), Some(2));
}

#[test]
fn raid_all_ours_not_running_is_assembled() {
    let f = raid(
        vec![
            raid_member(1, "dv-containerd", None),
            raid_member(2, "dv-containerd", None),
        ],
        None,
    );
    assert_eq!(action(&raid_vol(), &f), Action::Assemble);
}

#[test]
fn raid_running_ours_is_classified_as_a_disk() {
    let array = Disk {
        dev: dev(9, 127),
        usage: Ok(Usage::default()),
        probe: Ok(xfs(None)),
        fs: view(marker(Phase::Committed), false),
        superblock: Some(Ok(Box::new(sb("xfs")))),
    };
    let running = RunningArray {
        node: "/dev/md127".into(),
        name: Some("dv-containerd".into()),
        level: Some("raid0".into()),
        disk: Some(Box::new(array)),
    };
    let f = raid(
        vec![
            raid_member(1, "dv-containerd", Some("/dev/md127")),
            raid_member(2, "dv-containerd", Some("/dev/md127")),
        ],
        Some(running),
    );
    assert_eq!(action(&raid_vol(), &f), Action::Mount { uuid: UUID.into() });
}

#[test]
fn raid_refusals() {
    let v = raid_vol();
    let foreign_running = RunningArray {
        node: "/dev/md0".into(),
        name: Some("data".into()),
        level: Some("raid1".into()),
        disk: None,
    };
    let f = raid(
        vec![raid_member(1, "data", Some("/dev/md0"))],
        Some(foreign_running.clone()),
    );
    refused_for(&v, &f, |r| matches!(r, Reason::RaidForeignArray { .. }));
    let f = raid(
        vec![
            raid_member(1, "data", Some("/dev/md0")),
            member(2, Probe::Blank, None, None),
        ],
        Some(foreign_running),
    );
    refused_for(&v, &f, |r| matches!(r, Reason::RaidSplit { .. }));
    let f = raid(
        vec![
            raid_member(1, "dv-containerd", None),
            member(2, Probe::Blank, None, None),
        ],
        None,
    );
    refused_for(&v, &f, |r| {
        matches!(
            r,
            Reason::RaidMixed {
                ours: 1,
                total: 2,
                ..
            }
        )
    });
    let ext4 = Probe::Signature {
        fstype: "ext4".into(),
        uuid: None,
        label: None,
    };
    let f = raid(
        vec![member(1, ext4, None, None), raid_member(2, "other", None)],
        None,
    );
    refused_for(
        &v,
        &f,
        |r| matches!(r, Reason::RaidForeignMembers { members } if members.len() == 2),
    );
    let mut held = member(1, Probe::Blank, None, None);
    held.usage = Ok(Usage {
        holders: vec!["dm-0".into()],
        ..Usage::default()
    });
    let f = raid(vec![held, member(2, Probe::Blank, None, None)], None);
    refused_for(&v, &f, |r| matches!(r, Reason::InUse { .. }));
}

#[test]
fn raid_create_counts_every_members_capacity() {
    let mut f = blank_pair();
    // 150 GiB fits two 100 GiB members, not one.
    f.paths[0].usage = Some(Ok(datavol_copy::TreeUsage {
        allocated_bytes: 150 * GIB,
        ..Default::default()
    }));
    assert!(matches!(
        classify(&raid_vol(), &f, APPLY).verdict,
        Verdict::Act { .. }
    ));
}

// ---- the timeout line

#[test]
fn instance_store_timeout_says_what_was_seen() {
    use crate::discover::nvme::Controller;
    let qemu = Ok(Controller::Other {
        vendor_id: 0x1b36,
        model: "QEMU NVMe Ctrl".into(),
        serial: "nvme0".into(),
    });
    let miss = NvmeMiss::new(
        &[Selector::InstanceStore],
        vec![(PathBuf::from("/dev/nvme0n1"), qemu)],
    );
    assert_eq!(
        timeout_reason(Mode::Apply, "instance-store", 3, miss.as_ref(), false),
        "device instance-store did not appear within 3s; no NVMe disk matched instance-store; \
         seen: /dev/nvme0n1 (not EBS, not instance store: vendor 0x1b36, model \"QEMU NVMe Ctrl\"); \
         not required: its services run on the root disk's content; \
         hint: is this an instance type with instance store? see `datavol identify`"
    );
}

#[test]
fn ebs_timeout_lists_every_nvme_disk() {
    use crate::discover::nvme::Controller;
    let seen = vec![
        (
            PathBuf::from("/dev/nvme0n1"),
            Ok(Controller::Ebs {
                volume_id: "vol-0abc".into(),
                bdev: Some("xvda".into()),
            }),
        ),
        (
            PathBuf::from("/dev/nvme1n1"),
            Ok(Controller::InstanceStore {
                serial: "AWS1234".into(),
            }),
        ),
        (
            PathBuf::from("/dev/nvme3n1"),
            Err("Permission denied (os error 13)".into()),
        ),
    ];
    let miss = NvmeMiss::new(&[Selector::Ebs("xvdq".into())], seen);
    assert_eq!(
        timeout_reason(Mode::Apply, "ebs:xvdq", 90, miss.as_ref(), true),
        "device ebs:xvdq did not appear within 90s; no NVMe disk matched ebs:xvdq; \
         seen: /dev/nvme0n1 (EBS vol-0abc as xvda), /dev/nvme1n1 (instance store, serial \"AWS1234\"), \
         /dev/nvme3n1 (Identify failed: Permission denied (os error 13)); \
         the volume is required, so its services will not start; \
         hint: check the block device mapping (`datavol identify` shows what each NVMe disk is), or raise device_timeout"
    );
}

#[test]
fn plan_timeout_without_nvme_disks_says_so() {
    let miss = NvmeMiss::new(&[Selector::EbsVolume("vol-0abc".into())], vec![]);
    assert_eq!(
        timeout_reason(Mode::Plan, "ebs-volume:vol-0abc", 90, miss.as_ref(), false),
        "device ebs-volume:vol-0abc is not present; no NVMe disk matched ebs-volume:vol-0abc; \
         no NVMe disks at all; apply would wait up to 90s for it"
    );
}

#[test]
fn path_selectors_add_nothing_to_the_timeout() {
    assert_eq!(
        timeout_reason(Mode::Apply, "/dev/xvdb", 2, None, false),
        "device /dev/xvdb did not appear within 2s; \
         not required: its services run on the root disk's content; \
         hint: check the block device mapping, or raise device_timeout"
    );
}

// ---- the filesystem itself: d_type, size, grow (issue #13)

fn kept_facts(probe: Probe) -> Facts {
    let mut f = facts(probe, view(marker(Phase::Committed), false));
    f.mounts_at = vec![mount_entry(
        "/var/lib/containerd",
        "/",
        (259, 1),
        "/dev/test1",
    )];
    disk_mut(&mut f).usage = Ok(Usage {
        mounts: vec![("/var/lib/containerd".into(), "/".into())],
        ..Usage::default()
    });
    f.services = None;
    f
}

fn superblock_mut(f: &mut Facts) -> &mut Superblock {
    match &mut disk_mut(f).superblock {
        Some(Ok(sb)) => sb,
        other => panic!("no superblock: {other:?}"),
    }
}

fn decision_grow(v: &Volume, f: &Facts) -> Option<super::grow::Grow> {
    let d = classify(v, f, APPLY);
    assert!(matches!(d.verdict, Verdict::Act { .. }), "{d:?}");
    d.grow
}

#[test]
fn a_refusal_for_another_reason_also_names_a_missing_dtype() {
    let mut f = facts(xfs(None), view(MarkerRead::Absent, false));
    superblock_mut(&mut f).dtype = false;
    let r = reasons(&vol(""), &f);
    has!(r, Reason::NoMarker { .. });
    has!(r, Reason::NoDtype { .. });
}

#[test]
fn a_filesystem_without_dtype_is_not_adopted() {
    for (fs, hint) in [
        ("xfs", "mkfs.xfs -n ftype=1"),
        ("ext4", "mkfs.ext4 -O filetype"),
    ] {
        let text = format!("[volume.containerd]\ndevice = \"/dev/xvdb\"\nfilesystem = \"{fs}\"\nmount_point = \"/var/lib/containerd\"\nadopt_existing = true\n");
        let v = config::parse_str(Path::new("t.toml"), &text)
            .expect("test config")
            .remove(0);
        let probe = Probe::Signature {
            fstype: fs.into(),
            uuid: Some(UUID.into()),
            label: None,
        };
        let mut f = facts_for(&v, probe, view(MarkerRead::Absent, false));
        superblock_mut(&mut f).dtype = false;
        refused_for(
            &v,
            &f,
            |r| matches!(r, Reason::NoDtype { fstype, .. } if fstype == fs),
        );
        assert!(reasons(&v, &f)[0].to_string().contains(hint), "{fs}");
    }
}

#[test]
fn a_mounted_filesystem_without_dtype_is_refused() {
    let mut f = kept_facts(xfs(None));
    superblock_mut(&mut f).dtype = false;
    refused_for(&vol(""), &f, |r| matches!(r, Reason::NoDtype { .. }));
}

#[test]
fn a_committed_filesystem_without_dtype_is_not_mounted() {
    let mut f = facts(xfs(None), view(marker(Phase::Committed), false));
    superblock_mut(&mut f).dtype = false;
    refused_for(&vol(""), &f, |r| matches!(r, Reason::NoDtype { .. }));
}

#[test]
fn a_device_smaller_than_its_filesystem_is_refused_before_mounting() {
    for mut f in [
        facts(xfs(None), view(marker(Phase::Committed), false)),
        kept_facts(xfs(None)),
    ] {
        superblock_mut(&mut f).size_bytes = 101 * GIB;
        refused_for(&vol(""), &f, |r| {
            matches!(r, Reason::DeviceSmaller { fs_bytes, device_bytes, .. }
                if *fs_bytes == 101 * GIB && *device_bytes == 100 * GIB)
        });
    }
    let v = vol("adopt_existing = true");
    let mut f = facts_for(&v, xfs(None), view(MarkerRead::Absent, false));
    superblock_mut(&mut f).size_bytes = 100 * GIB + 4096;
    refused_for(&v, &f, |r| matches!(r, Reason::DeviceSmaller { .. }));
}

#[test]
fn an_unreadable_superblock_is_a_refusal_not_a_pass() {
    let mut f = facts(xfs(None), view(marker(Phase::Committed), false));
    disk_mut(&mut f).superblock = Some(Err("Input/output error".into()));
    refused_for(&vol(""), &f, |r| {
        matches!(r, Reason::SuperblockUnreadable { .. })
    });
    disk_mut(&mut f).superblock = None;
    refused_for(&vol(""), &f, |r| {
        matches!(r, Reason::SuperblockUnreadable { .. })
    });
}

#[test]
fn a_larger_device_grows_the_filesystem_when_kept_mounted_or_adopted() {
    use super::grow::Grow;
    let half = Grow {
        from_bytes: 50 * GIB,
        to_bytes: 100 * GIB,
    };
    let mut kept = kept_facts(xfs(None));
    superblock_mut(&mut kept).size_bytes = 50 * GIB;
    assert_eq!(decision_grow(&vol(""), &kept), Some(half));
    let mut mounted = facts(xfs(None), view(marker(Phase::Committed), false));
    superblock_mut(&mut mounted).size_bytes = 50 * GIB;
    assert_eq!(decision_grow(&vol(""), &mounted), Some(half));
    let v = vol("adopt_existing = true");
    let mut adopted = facts_for(&v, xfs(None), view(MarkerRead::Absent, false));
    superblock_mut(&mut adopted).size_bytes = 50 * GIB;
    assert_eq!(decision_grow(&v, &adopted), Some(half));
    assert_eq!(decision_grow(&vol("grow = false"), &kept), None);
}

#[test]
fn a_blank_device_has_nothing_to_grow() {
    assert_eq!(decision_grow(&vol(""), &facts(Probe::Blank, None)), None);
}

#[test]
fn grow_thresholds_more_than_1_percent_and_at_least_64_mib() {
    use super::grow::{need, Grow};
    const MIB: u64 = 1 << 20;
    // Equal, or the device smaller: nothing (smaller is a refusal above).
    assert_eq!(need(100 * GIB, 100 * GIB), None);
    assert_eq!(need(100 * GIB, 101 * GIB), None);
    // 1 GiB on 100 GiB: 64 MiB or more, but not more than 1 %.
    assert_eq!(need(101 * GIB, 100 * GIB), None);
    assert_eq!(
        need(102 * GIB, 100 * GIB),
        Some(Grow {
            from_bytes: 100 * GIB,
            to_bytes: 102 * GIB
        })
    );
    // Small filesystems: more than 1 % but under 64 MiB is not enough.
    assert_eq!(need(1024 * MIB + 63 * MIB, 1024 * MIB), None);
    assert!(need(1024 * MIB + 64 * MIB, 1024 * MIB).is_some());
}

// ---- path_kind, on this machine's own tree (read only)

#[test]
fn path_kind_never_follows_links() {
    let t = std::env::temp_dir().join(format!("datavol-pathkind-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&t);
    std::fs::create_dir_all(t.join("real/dir")).unwrap();
    std::os::unix::fs::symlink(t.join("real"), t.join("link")).unwrap();
    std::fs::write(t.join("file"), b"").unwrap();
    assert_eq!(path_kind(&t.join("real/dir")), PathKind::Directory);
    assert_eq!(
        path_kind(&t.join("link/dir")),
        PathKind::Symlink(t.join("link"))
    );
    assert_eq!(
        path_kind(&t.join("link")),
        PathKind::Symlink(t.join("link"))
    );
    assert_eq!(
        path_kind(&t.join("file")),
        PathKind::Other("regular file".into())
    );
    assert_eq!(path_kind(&t.join("nope/x")), PathKind::Missing);
    std::fs::remove_dir_all(&t).unwrap();
}

// ---- content written under a directory since it was copied (issue #18, defect 2)

/// A look under a directory: `newer` entries written since its baseline.
fn look(newer: u64) -> super::underneath::Look {
    super::underneath::Look {
        entries: 10 + newer,
        bytes: 1000 + newer * 100,
        newest_ctime_ns: 7,
        newer,
        newer_bytes: newer * 100,
        complete: true,
    }
}

/// Committed facts for `v` whose source at `path` shows `found`.
fn written_under(
    v: &Volume,
    probe: Probe,
    fs: Option<Result<FsView, String>>,
    path: &str,
    found: Result<super::underneath::Look, String>,
) -> Facts {
    let mut f = facts_for(v, probe, fs);
    for p in f.paths.iter_mut().filter(|p| p.path == Path::new(path)) {
        p.underneath = Some(found.clone());
    }
    f
}

fn committed() -> Option<Result<FsView, String>> {
    view(marker(Phase::Committed), false)
}

/// A committed volume whose /var/lib/containerd shows `found`.
fn committed_under(v: &Volume, found: Result<super::underneath::Look, String>) -> Facts {
    written_under(v, xfs(None), committed(), "/var/lib/containerd", found)
}

#[test]
fn written_under_containerd_is_mounted_with_a_warning_by_default() {
    let v = vol("");
    for fs in [committed(), view(MarkerRead::Recorded, false)] {
        let f = written_under(&v, xfs(None), fs, "/var/lib/containerd", Ok(look(3)));
        let d = classify(&v, &f, APPLY);
        assert_eq!(
            d.action(),
            Some(&Action::Mount { uuid: UUID.into() }),
            "{d:?}"
        );
        assert_eq!(d.hidden.len(), 1, "{d:?}");
        assert_eq!((d.hidden[0].entries, d.hidden[0].bytes), (3, 300));
        assert_eq!(d.hidden[0].policy, config::HiddenPolicy::Warn);
    }
}

#[test]
fn written_under_is_refused_with_refuse_and_for_other_directories() {
    let v = vol("hidden_content = \"refuse\"");
    let f = committed_under(&v, Ok(look(3)));
    refused_for(&v, &f, |r| {
        matches!(
            r,
            Reason::HiddenContent {
                entries: 3,
                bytes: 300,
                error: None,
                ..
            }
        )
    });
    assert_eq!(classify(&v, &f, APPLY).hidden.len(), 1);
    // /var/lib/kubelet is data: refused by default; containerd beside it warns.
    let v = dirs_vol();
    let mut s = State::new("data", &v.mount_point);
    s.phase = Phase::Committed;
    for d in &v.directories {
        s.directories.insert(
            d.clone(),
            crate::record::marker::DirState {
                phase: Phase::Committed,
                copied: Default::default(),
                committed_at: None,
            },
        );
    }
    let fs = view(MarkerRead::Found(Box::new(s)), false);
    let f = written_under(&v, xfs(None), fs.clone(), "/var/lib/kubelet", Ok(look(1)));
    refused_for(
        &v,
        &f,
        |r| matches!(r, Reason::HiddenContent { path, .. } if path == Path::new("/var/lib/kubelet")),
    );
    let f = written_under(&v, xfs(None), fs, "/var/lib/containerd", Ok(look(1)));
    assert_eq!(action(&v, &f), Action::Mount { uuid: UUID.into() });
}

#[test]
fn nothing_written_under_is_no_finding() {
    let v = vol("hidden_content = \"refuse\"");
    let f = committed_under(&v, Ok(look(0)));
    let d = classify(&v, &f, APPLY);
    assert_eq!(d.action(), Some(&Action::Mount { uuid: UUID.into() }));
    assert!(d.hidden.is_empty(), "{d:?}");
    // A walk cut at its limit saw more entries than were copied: a finding.
    let cut = super::underneath::Look {
        complete: false,
        ..look(0)
    };
    let f = committed_under(&v, Ok(cut));
    refused_for(&v, &f, |r| matches!(r, Reason::HiddenContent { .. }));
}

#[test]
fn a_look_that_failed_is_a_refusal_with_refuse_and_a_warning_with_warn() {
    let err = Err("permission denied".to_string());
    let v = vol("hidden_content = \"refuse\"");
    let f = committed_under(&v, err.clone());
    refused_for(&v, &f, |r| {
        matches!(r, Reason::HiddenContent { error: Some(_), .. })
    });
    let v = vol("");
    let f = committed_under(&v, err);
    let d = classify(&v, &f, APPLY);
    assert!(d.action().is_some(), "{d:?}");
    assert!(d.hidden[0].error.is_some(), "{d:?}");
}

#[test]
fn a_fresh_copy_hides_nothing_but_a_verified_one_does() {
    let v = vol("hidden_content = \"refuse\"");
    let f = written_under(&v, Probe::Blank, None, "/var/lib/containerd", Ok(look(3)));
    assert_eq!(action(&v, &f), Action::Format { migrate: true });
    let f = written_under(
        &v,
        xfs(None),
        view(marker(Phase::Copying), false),
        "/var/lib/containerd",
        Ok(look(3)),
    );
    assert!(matches!(action(&v, &f), Action::Resume { .. }));
    assert!(classify(&v, &f, APPLY).hidden.is_empty());
    // Verified: the copy is committed as it is, so what came later is hidden.
    let f = written_under(
        &v,
        xfs(None),
        view(marker(Phase::Verified), false),
        "/var/lib/containerd",
        Ok(look(3)),
    );
    refused_for(&v, &f, |r| matches!(r, Reason::HiddenContent { .. }));
}

// ---- a clone of the volume (issue #18 defect 1)

/// Every row that would use an existing filesystem refuses while another
/// device carries its UUID, and names both devices and the fix.
#[test]
fn a_second_device_with_the_uuid_is_refused_naming_both() {
    let recorded = view(MarkerRead::Recorded, false);
    for (what, fs) in [
        ("committed", view(marker(Phase::Committed), false)),
        ("interrupted", view(marker(Phase::Copying), false)),
        ("recorded", recorded),
    ] {
        let mut f = facts(xfs(Some("dv-container")), fs);
        f.same_uuid = vec!["/dev/nvme9n1".into()];
        let r = reasons(&vol(""), &f);
        assert_eq!(
            r,
            vec![Reason::SameUuid {
                fstype: "xfs".into(),
                uuid: UUID.into(),
                device: "/dev/test1".into(),
                others: vec!["/dev/nvme9n1".into()],
            }],
            "{what}"
        );
        let text = r[0].to_string();
        for needle in [
            "/dev/test1",
            "/dev/nvme9n1",
            "xfs_admin -U generate /dev/nvme9n1",
            "detach it",
            "hint:",
        ] {
            assert!(text.contains(needle), "{what}: {needle:?} not in {text}");
        }
    }
    // Already mounted from the device: still refused (a reboot could take the clone).
    let mut f = facts(xfs(None), view(marker(Phase::Committed), false));
    f.mounts_at = vec![mount_entry(
        "/var/lib/containerd",
        "/",
        (259, 1),
        "/dev/test1",
    )];
    f.same_uuid = vec!["/dev/nvme9n1".into()];
    refused_for(&vol(""), &f, |r| matches!(r, Reason::SameUuid { .. }));
}

#[test]
fn a_clone_of_an_ext4_volume_is_told_tune2fs() {
    let r = Reason::SameUuid {
        fstype: "ext4".into(),
        uuid: UUID.into(),
        device: "/dev/test1".into(),
        others: vec!["/dev/sdb".into(), "/dev/sdc".into()],
    };
    let text = r.to_string();
    assert!(
        text.contains("`tune2fs -U random /dev/sdb`, `tune2fs -U random /dev/sdc`"),
        "{text}"
    );
}

#[test]
fn a_blank_disk_is_never_a_clone() {
    let mut f = facts(Probe::Blank, None);
    f.same_uuid = vec!["/dev/nvme9n1".into()];
    assert_eq!(action(&vol(""), &f), Action::Format { migrate: true });
}
