//! The pre-flight, end to end on loop devices: every refusal is found
//! before the first write (the device keeps every byte, the directory every
//! entry, nothing is mounted, systemd is not asked to start anything), and
//! plan says what apply then does. One test per hole the adversarial run of
//! issue #12 found.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn config(dev: &str, mp: &Path, extra: &str) -> String {
    format!(
        "[volume.containerd]\ndevice = \"{dev}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndevice_timeout = 2\n{extra}\n",
        mp.display()
    )
}

/// plan's verdict for the only volume, from `plan --json`.
fn plan_verdict(sb: &Sandbox) -> serde_json::Value {
    let (code, out, err) = sb.datavol(&["plan", "--json"]);
    assert_eq!(code, Some(0), "plan: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("plan --json is JSON");
    v[0].clone()
}

/// plan refuses for the reason tagged `tag` (its kind in `plan --json`, not
/// its wording); apply then exits 3 with a hint, and the device, the
/// directory and the mounts are as they were.
fn assert_refused_unchanged(sb: &Sandbox, dir: &Path, tag: &str) {
    let plan = plan_verdict(sb);
    assert_eq!(plan["verdict"], "refuse", "plan: {plan}");
    let tags: Vec<&str> = plan["reasons"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["reason"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        tags.contains(&tag),
        "expected reason {tag:?}, got {tags:?}: {plan}"
    );
    let devs: Vec<String> = sb.loops.iter().map(|l| l.checksum()).collect();
    let tree = tree_fingerprint(dir);
    let mounted = sb.mount_source(dir);
    let calls = sb.calls();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "apply must refuse: {out}{err}");
    assert!(err.contains("hint:"), "{err}");
    let after: Vec<String> = sb.loops.iter().map(|l| l.checksum()).collect();
    assert_eq!(devs, after, "a refusal wrote to the device");
    assert_eq!(
        tree,
        tree_fingerprint(dir),
        "a refusal changed the directory"
    );
    assert_eq!(
        mounted,
        sb.mount_source(dir),
        "a refusal changed the mounts"
    );
    let new_calls = sb.calls()[calls.len()..].to_string();
    assert!(!new_calls.contains("StartUnit"), "{new_calls}");
    assert!(!new_calls.contains("Reload"), "{new_calls}");
}

#[test]
fn a_changed_mount_point_is_refused_not_mounted_over_the_new_directory() {
    // Hole 1: seeded for A; the config now says B; B has its own content.
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (a, _) = sb.node_tree();
    sb.write_config(&config(&dev, &a, ""));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "seeding A: {out}{err}");
    sb.in_ns_check(&format!("umount {}", a.display()));
    let b = sb.path("node/var/lib/other");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("pause-image"), b"B's own").unwrap();
    sb.write_config(&config(&dev, &b, ""));
    assert_refused_unchanged(&sb, &b, "seeded_from");
    assert_eq!(std::fs::read(b.join("pause-image")).unwrap(), b"B's own");
}

#[test]
fn a_symlinked_mount_point_is_refused_before_mkfs() {
    // Hole 2: the symlink's target must neither be copied nor covered.
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    let link = sb.path("node/var/lib/link");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    sb.write_config(&config(&dev, &link, ""));
    assert_refused_unchanged(&sb, &src, "source_symlink");
    assert_eq!(sb.mount_source(&src), None);
}

#[test]
fn a_mount_point_that_is_a_file_is_refused_before_mkfs() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    let file = src.join("hardlink-to-aaaa");
    sb.write_config(&config(&dev, &file, ""));
    assert_refused_unchanged(&sb, &src, "source_not_directory");
}

#[test]
fn a_source_with_its_own_dot_datavol_is_refused_before_mkfs() {
    // Hole 4: it could never commit (EEXIST on every run).
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    std::fs::create_dir(src.join(".datavol")).unwrap();
    sb.write_config(&config(&dev, &src, ""));
    assert_refused_unchanged(&sb, &src, "source_has_marker");
}

#[test]
fn a_foreign_filesystem_with_our_label_and_files_is_refused_byte_for_byte() {
    // Hole 5: the refusal used to mount it read-write first.
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let content = sb.path("foreign");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("theirs"), b"data").unwrap();
    sh(&format!("mkfs.xfs -q -L dv-container {dev}"));
    let m = sb.path("m");
    std::fs::create_dir_all(&m).unwrap();
    sb.in_ns_check(&format!(
        "mount {dev} {m} && cp -a {}/. {m}/ && umount {m}",
        content.display(),
        m = m.display()
    ));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, &src, ""));
    assert_refused_unchanged(&sb, &src, "labelled_not_empty");
}

#[test]
fn a_disk_with_only_a_backup_gpt_is_refused() {
    // Hole 6: libblkid's probe calls it blank; wipefs sees the GPT at the end.
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    sh(&format!(
        "echo 'label: gpt' | sfdisk -q {dev} && dd if=/dev/zero of={dev} bs=1M count=1 conv=notrunc status=none && sync"
    ));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, &src, ""));
    assert_refused_unchanged(&sb, &src, "leftover");
}

#[test]
fn plan_refuses_what_apply_refuses() {
    // Hole 7: too large, and a mount inside the source, were "format,
    // migrate, mount" in plan and refused by apply after looking closer.
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sh(&format!("head -c 450M /dev/zero > {}/big", src.display()));
    sb.write_config(&config(&dev, &src, ""));
    assert_refused_unchanged(&sb, &src, "source_too_large");
    std::fs::remove_file(src.join("big")).unwrap();
    let sub = src.join("io.containerd.content.v1.content");
    sb.in_ns_check(&format!("mount -t tmpfs tmpfs {}", sub.display()));
    assert_refused_unchanged(&sb, &src, "source_submount");
}

/// A second name under /dev for a test's own loop device, removed on drop.
struct DevAlias(std::path::PathBuf);

impl DevAlias {
    fn new(dev: &str) -> DevAlias {
        let name = dev.trim_start_matches("/dev/");
        let p =
            std::path::PathBuf::from(format!("/dev/datavol-test-{}-{name}", std::process::id()));
        std::os::unix::fs::symlink(dev, &p).expect("symlink in /dev");
        DevAlias(p)
    }
}

impl Drop for DevAlias {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn two_volumes_on_one_device_plan_as_apply_acts() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (a, _) = sb.node_tree();
    let b = sb.path("node/var/lib/kubelet");
    std::fs::create_dir_all(&b).unwrap();
    // The same spelling is refused at validate (tests/config.rs); another
    // name for the same disk only shows at run time, as one major:minor.
    let alias = DevAlias::new(&dev);
    sb.write_config(&format!(
        "{}\n[volume.second]\ndevice = \"{}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\n",
        config(&dev, &a, ""),
        alias.0.display(),
        b.display()
    ));
    let (code, out, err) = sb.datavol(&["plan", "--json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["action"], "format", "{out}");
    assert_eq!(v[1]["verdict"], "refuse", "{out}");
    assert!(
        v[1]["reason"].as_str().unwrap().contains("also volume"),
        "{out}"
    );
    let (code, _, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(sb.mount_source(&a).as_deref(), Some(dev.as_str()), "{err}");
    assert_eq!(sb.mount_source(&b), None, "{err}");
}

#[test]
fn plan_never_prints_an_internal_name() {
    let sb = Sandbox::new();
    let (src, _) = sb.node_tree();
    sb.write_config(&config("/dev/disk/by-id/absent", &src, ""));
    let (code, out, err) = sb.datavol(&["plan"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("action: none: the device is not there"),
        "{out}"
    );
    for internal in [
        "devicetimeout",
        "DeviceTimeout",
        "Copying",
        "Verified",
        "Some(",
        "None",
    ] {
        assert!(!out.contains(internal), "plan printed {internal:?}: {out}");
    }
}

/// A volume on a `mib` MiB loop device, seeded by a first apply:
/// (sandbox, device, source, the source's original view).
fn seeded(mib: u64) -> (Sandbox, String, PathBuf, PathBuf) {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", mib);
    let (src, orig) = sb.node_tree();
    sb.write_config(&config(&dev, &src, ""));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "seeding: {out}{err}");
    (sb, dev, src, orig)
}

/// A reboot, as the volume sees it: its mounts and the ready flags are gone.
fn reboot(sb: &Sandbox, src: &Path) {
    sb.reboot(&[src]);
}

#[test]
fn a_healthy_reboot_spawns_nothing_and_checks_the_marker_through_the_mount() {
    let (sb, dev, src, orig) = seeded(400);
    reboot(&sb, &src);
    let plan = plan_verdict(&sb);
    assert_eq!(plan["action"], "mount", "{plan}");
    assert!(
        plan["reason"]
            .as_str()
            .unwrap()
            .contains("root disk's record"),
        "{plan}"
    );
    // No PATH: blkid, wipefs, udevadm would all fail to start.
    let (code, out, err) = sb.datavol_without_tools(&["apply"]);
    assert_eq!(
        code,
        Some(0),
        "the healthy path spawned something: {out}{err}"
    );
    assert!(err.contains("ready on") && err.contains("confirm"), "{err}");
    eprintln!("{err}");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
    assert_eq!(rsync_diff(&sb, &orig, &src), "");
}

#[test]
fn defect3_a_partition_table_written_after_seeding_is_refused_on_a_healthy_reboot() {
    // Issue #18 defect 3: the fast path read only the superblock, so a
    // partition table written onto the seeded disk later went unseen and
    // the disk was mounted read-write. Now a cheap look at the known
    // offsets sends it to the full probe, which refuses it.
    for label in ["dos", "gpt"] {
        let (sb, dev, src, _) = seeded(400);
        reboot(&sb, &src);
        sh(&format!(
            "printf 'label: {label}\\n' | sfdisk -q --no-reread --wipe never {dev}"
        ));
        let before = sb.loops[0].checksum();
        let (code, out, err) = sb.datavol(&["apply"]);
        assert_eq!(code, Some(3), "{label}: {out}{err}");
        assert!(err.contains("probing it in full"), "{label}: {err}");
        assert!(err.contains("hint:"), "{label}: {err}");
        assert_eq!(sb.mount_source(&src), None, "{label}: mounted: {err}");
        assert_eq!(before, sb.loops[0].checksum(), "{label}: the disk changed");
    }
}

#[test]
fn a_record_that_disagrees_with_the_marker_is_unmounted_and_refused() {
    let (sb, _, src, _) = seeded(400);
    // Someone rewrote the marker: it now says the volume was seeded elsewhere.
    sb.in_ns_check(&format!(
        "sed -i 's#\"source\": \"[^\"]*\"#\"source\": \"/var/lib/elsewhere\"#' {}/.datavol/state.json",
        src.display()
    ));
    reboot(&sb, &src);
    let calls = sb.calls().len();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(err.contains("was seeded from /var/lib/elsewhere"), "{err}");
    assert_eq!(sb.mount_source(&src), None, "left mounted: {err}");
    assert!(sb.calls()[calls..].contains("StopUnit"), "{}", sb.calls());
}

#[test]
fn an_xfs_with_ftype_0_is_not_adopted_and_keeps_every_byte() {
    // Issue #13: overlayfs cannot use it; containerd would fail at the first pod.
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    sh(&format!("mkfs.xfs -q -m crc=0 -n ftype=0 {dev}"));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, &src, "adopt_existing = true"));
    assert_refused_unchanged(&sb, &src, "no_dtype");
    let (_, _, err) = sb.datavol(&["apply"]);
    assert!(err.contains("mkfs.xfs -n ftype=1"), "{err}");
}

#[test]
fn an_ext4_without_filetype_is_not_adopted_and_keeps_every_byte() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    sh(&format!("mkfs.ext4 -q -F -O ^filetype {dev}"));
    let (src, _) = sb.node_tree();
    let text = config(&dev, &src, "adopt_existing = true").replace("\"xfs\"", "\"ext4\"");
    sb.write_config(&text);
    assert_refused_unchanged(&sb, &src, "no_dtype");
}

#[test]
fn a_device_smaller_than_its_filesystem_is_refused_before_mounting() {
    // Issue #13: a truncated (or different) disk is never mounted, never shrunk.
    let (sb, dev, src, _) = seeded(600);
    sb.in_ns_check(&format!("umount {}", src.display()));
    let l = &sb.loops[0];
    sh(&format!(
        "truncate -s 400M {} && losetup -c {dev}",
        l.backing.display()
    ));
    assert_refused_unchanged(&sb, &src, "device_smaller");
}

/// Runs datavol-generator as at boot, on the sandbox's config, records
/// and instance; returns what it wrote (relative paths, sorted).
fn generate(sb: &Sandbox) -> Vec<String> {
    let root = sb.root();
    let out = sb.path("generated");
    sh(&format!(
        "rm -rf {out} {r}/etc/datavol {r}/var/lib/datavol && mkdir -p {r}/var/lib {out} && cp -a {etc} {r}/etc/datavol && cp -a {state} {r}/var/lib/datavol",
        out = out.display(),
        r = root.display(),
        etc = sb.path("etc").display(),
        state = sb.path("state").display(),
    ));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_datavol-generator"))
        .env("DATAVOL_ROOT", &root)
        .arg(&out)
        .output()
        .expect("datavol-generator");
    assert_eq!(
        o.status.code(),
        Some(0),
        "the generator never fails the boot"
    );
    let mut v: Vec<String> = sh(&format!(
        "cd {} && find . -mindepth 1 | sort",
        out.display()
    ))
    .stdout
    .split(|&b| b == b'\n')
    .filter(|l| !l.is_empty())
    .map(|l| String::from_utf8_lossy(l).into_owned())
    .collect();
    v.sort();
    v
}

#[test]
fn the_check_passes_the_committed_volume_and_mounts_nothing_itself() {
    let (sb, _, src, _) = seeded(400);
    reboot(&sb, &src);
    assert!(
        generate(&sb).iter().any(|f| f.ends_with(".mount")),
        "the generator emits the committed volume's mount"
    );
    let (code, _, err) = sb.datavol(&["check", "containerd"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(sb.mount_source(&src), None, "check mounted something");
    assert!(
        sb.in_ns_ok("ls /run/datavol/ready/ | grep -q mount"),
        "check raised no ready flag"
    );
}

#[test]
fn the_check_fails_on_another_filesystem_and_mounts_nothing() {
    let (sb, dev, src, _) = seeded(400);
    reboot(&sb, &src);
    // The same disk now holds a filesystem of another UUID (a restore, a
    // re-format): not what the record names.
    sh(&format!("xfs_admin -U generate {dev}"));
    let before = sb.loops[0].checksum();
    let (code, _, err) = sb.datavol(&["check", "containerd"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("the record names") && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(sb.mount_source(&src), None);
    assert_eq!(before, sb.loops[0].checksum(), "check wrote to the disk");
}

#[test]
fn the_check_fails_on_a_foreign_signature() {
    // Defect 3's case, through the check: a partition table written onto
    // the seeded disk afterwards.
    let (sb, dev, src, _) = seeded(400);
    reboot(&sb, &src);
    sh(&format!(
        "printf 'label: dos\\n' | sfdisk -q --no-reread {dev}"
    ));
    let (code, _, err) = sb.datavol(&["check", "containerd"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("signature"), "{err}");
    assert_eq!(sb.mount_source(&src), None);
}

#[test]
fn defect5_a_record_from_another_instance_is_not_trusted() {
    // Issue #18 defect 5: a node ran datavol on disk A; an AMI baked from
    // it keeps its config and its root-disk record. A new instance (another
    // DMI product UUID, the same machine-id) boots: the generator emits
    // nothing, and the user data, written after it, names disk B.
    let (mut sb, a, src, _) = seeded(400);
    reboot(&sb, &src);
    assert!(
        !generate(&sb).is_empty(),
        "on its own instance the record is trusted"
    );
    sb.set_instance("ec2a0000-0000-4000-8000-0000000000ff");
    assert_eq!(
        generate(&sb),
        Vec::<String>::new(),
        "a baked record was trusted"
    );
    let (code, _, err) = sb.datavol(&["check", "containerd"]);
    assert_eq!(code, Some(3), "check trusted a baked record: {err}");
    assert!(err.contains("another instance"), "{err}");
    assert_eq!(sb.mount_source(&src), None);
    let b = sb.add_loop("other", 400);
    sb.write_config(&config(&b, &src, ""));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "the config's disk B: {out}{err}");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(b.as_str()), "{err}");
    // The record is now this instance's, for disk B.
    assert!(
        !generate(&sb).is_empty(),
        "apply recorded the volume for this instance"
    );
    let _ = a;
}

#[test]
fn a_boot_mount_the_final_config_does_not_want_is_stopped_first() {
    // The generator mounted the record's filesystem (disk A) at boot; the
    // user data, written later, names disk B. datavol.service stops A's
    // mount before anything else, then goes on as a first boot would.
    let (mut sb, a, src, _) = seeded(400);
    reboot(&sb, &src);
    sb.in_ns_check(&format!("mount {a} {}", src.display()));
    let b = sb.add_loop("other", 400);
    sb.write_config(&config(&b, &src, ""));
    let before = sb.calls().len();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(b.as_str()), "{err}");
    let calls = sb.calls()[before..].to_string();
    let stop = calls
        .find("StopUnit")
        .expect("the boot's mount was not stopped");
    let start = calls.find("StartUnit").expect("B was not mounted");
    assert!(stop < start, "{calls}");
    assert!(err.contains("stopping"), "{err}");
}

#[test]
fn the_check_does_not_wait_for_the_apply_that_started_its_mount() {
    // datavol.service holds the run lock while it starts the mount, and the
    // generator's drop-in puts datavol-check@ in front of that start too: the
    // check must pass on the ready flags apply raised, not wait for the lock
    // (in a VM it waited until its own timeout, and the mount failed).
    let (sb, _, _, _) = seeded(400);
    sb.in_ns_check("setsid flock -x /run/datavol/lock sleep 20 </dev/null >/dev/null 2>&1 &");
    let t = std::time::Instant::now();
    while sb.in_ns_ok("flock -n /run/datavol/lock true") {
        assert!(
            t.elapsed().as_secs() < 10,
            "the test's lock holder did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let t = std::time::Instant::now();
    let (code, _, err) = sb.datavol(&["check", "containerd"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        t.elapsed().as_secs() < 10,
        "the check waited {:?}",
        t.elapsed()
    );
}

#[test]
fn an_adopted_filesystem_whose_datavol_is_a_symlink_is_refused() {
    // Issue #18: the marker would be written at the link's target, on the
    // root disk, and every later check would read it from there.
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let target = sb.path("elsewhere");
    std::fs::create_dir_all(&target).expect("mkdir");
    let mnt = sb.path("mkfs-mnt");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    sh(&format!(
        "mkfs.xfs -q {dev} && mount {dev} {m} && echo data > {m}/file && ln -s {t} {m}/.datavol && umount {m}",
        m = mnt.display(),
        t = target.display()
    ));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, &src, "adopt_existing = true"));
    assert_refused_unchanged(&sb, &src, "state_dir_unsafe");
    let (_, _, err) = sb.datavol(&["apply"]);
    assert!(
        err.contains("symbolic link") && err.contains("hint:"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&target).expect("read").collect();
    assert!(left.is_empty(), "written at the link's target: {left:?}");
}

// ---- nodeadm side by side (issue #20)

/// What nodeadm's `spec.instance.storage.volumes` leaves for `path`
/// (ebs_storage.go, amazon-eks-ami PR #2759): a unit in /etc/systemd/system
/// that mounts its own disk by UUID.
fn nodeadm_unit(sb: &Sandbox, path: &Path) -> PathBuf {
    let name = datavol::config::escape_path(path).expect("escapable path");
    let dir = sb.root().join("etc/systemd/system");
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join(format!("{name}.mount"));
    std::fs::write(
        &unit,
        format!(
            "[Unit]\nDescription=Mount EBS volume on {p}\n\n[Mount]\nWhat=UUID=9f8e7d6c-0000-4000-8000-000000000000\nWhere={p}\nType=xfs\nOptions=defaults,noatime\n\n[Install]\nWantedBy=multi-user.target\n",
            p = path.display()
        ),
    )
    .unwrap();
    unit
}

#[test]
fn a_mount_nodeadm_made_on_the_directory_is_refused_and_left_alone() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let theirs = sb.add_loop("nodeadm", 400);
    let (src, _) = sb.node_tree();
    // As nodeadm's storage.volumes does: mkfs, `cp -a` through a temporary
    // mount, then its disk mounted over the directory.
    sh(&format!("mkfs.xfs -q {theirs}"));
    let tmp = sb.path("ebs-setup");
    std::fs::create_dir_all(&tmp).unwrap();
    sb.in_ns_check(&format!(
        "mount {theirs} {t} && cp -a {s}/. {t}/ && umount {t} && mount {theirs} {s}",
        t = tmp.display(),
        s = src.display()
    ));
    sb.write_config(&config(&dev, &src, ""));
    assert_refused_unchanged(&sb, &src, "foreign_mount");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(theirs.as_str()));
    let (code, _, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "{err}");
    let path = src.display().to_string();
    for part in ["containerd", &path, &theirs, "storage.volumes", "hint:"] {
        assert!(err.contains(part), "{part:?} not named: {err}");
    }
}

#[test]
fn a_mount_unit_nodeadm_wrote_for_the_directory_is_refused_before_mkfs() {
    // Its mount is not up (it failed, or is yet to start): starting
    // datavol's mount of the same name would start nodeadm's instead.
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    let unit = nodeadm_unit(&sb, &src);
    sb.write_config(&config(&dev, &src, ""));
    assert_refused_unchanged(&sb, &src, "foreign_unit");
    assert!(unit.exists(), "datavol removed a unit it did not write");
    let (code, _, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "{err}");
    let path = src.display().to_string();
    for part in [
        "containerd",
        &path,
        "/etc/systemd/system/",
        "UUID=9f8e7d6c",
        "hint:",
    ] {
        assert!(err.contains(part), "{part:?} not named: {err}");
    }
}

#[test]
fn a_mount_unit_nodeadm_wrote_after_seeding_stops_the_generator_and_apply() {
    // The boot after nodeadm wrote its unit for datavol's directory: the
    // generator must not put datavol's check in front of nodeadm's mount
    // (its unit in /etc would be loaded instead of the generated one), and
    // datavol.service refuses, changing nothing. Removing the unit, as the
    // hint says, lets datavol mount its volume again.
    let (sb, dev, src, _) = seeded(400);
    reboot(&sb, &src);
    assert!(
        generate(&sb).iter().any(|f| f.ends_with(".mount")),
        "without the unit the generator emits the mount"
    );
    let unit = nodeadm_unit(&sb, &src);
    assert_eq!(
        generate(&sb),
        Vec::<String>::new(),
        "the generator emitted behind another tool's unit"
    );
    assert_refused_unchanged(&sb, &src, "foreign_unit");
    std::fs::remove_file(&unit).unwrap();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        sb.mount_source(&src).as_deref(),
        Some(dev.as_str()),
        "{err}"
    );
}
