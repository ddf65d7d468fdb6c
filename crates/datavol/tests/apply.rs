//! `datavol apply` end to end on loop devices, in a private mount namespace,
//! against a real dbus-daemon serving the systemd test double.

mod common;
use common::*;
use std::path::Path;
use std::time::Instant;

/// `services` is explicit: the default follows the directory, and a test
/// directory is not /var/lib/containerd.
fn config(dev: &str, fs: &str, mp: &Path, extra: &str) -> String {
    format!(
        "[volume.containerd]\ndevice = \"{dev}\"\nfilesystem = \"{fs}\"\nmount_point = \"{}\"\noptions = [\"noatime\"]\ndevice_timeout = 2\n{extra}\nservices = [\"containerd.service\", \"kubelet.service\"]\n",
        mp.display()
    )
}

fn seed_and_check(fs: &str) {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, orig) = sb.node_tree();
    let before = populated_fingerprint(&src);
    sb.write_config(&config(&dev, fs, &src, ""));

    let (code, out, err) = sb.datavol(&["plan"]);
    assert_eq!(code, Some(0), "plan: {out}{err}");
    assert!(out.contains("format, migrate, mount"), "plan says: {out}");

    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "apply failed: {out}{err}");
    assert_eq!(
        sb.mount_source(&src).as_deref(),
        Some(dev.as_str()),
        "{err}"
    );
    // The copy is faithful to the original still visible underneath.
    assert_eq!(rsync_diff(&sb, &orig, &src), "", "copy differs from source");
    // The host never sees the sandbox's mounts: there `src` is the original.
    assert_eq!(
        populated_fingerprint(&src),
        before,
        "the source was changed"
    );
    let mode = sb.in_ns_check(&format!("stat -c %a {}", src.display()));
    assert_eq!(
        mode.trim(),
        "711",
        "the new root must take the source's mode"
    );
    let state = sb.in_ns_check(&format!("cat {}/.datavol/state.json", src.display()));
    assert!(state.contains("\"committed\""), "{state}");

    let unit = sb.unit_dir().join(
        std::fs::read_dir(sb.unit_dir())
            .unwrap()
            .next()
            .expect("a unit was written")
            .unwrap()
            .file_name(),
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    // Not by-uuid, which a clone of the volume shares (issue #18): the
    // disk's hardware link (the sandbox's, as udev makes them).
    assert!(
        text.contains("\nWhat=/dev/disk/by-id/virtio-dvtest-data\n"),
        "{text}"
    );
    assert!(text.contains(&format!("Type={fs}")), "{text}");
    assert!(
        text.contains("Before=containerd.service kubelet.service"),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("After=")),
        "deadlock risk: {text}"
    );
    let calls = sb.calls();
    assert!(calls.contains("Reload"), "{calls}");
    assert!(
        calls.contains("StartUnit") && calls.contains(".mount replace"),
        "{calls}"
    );

    // Idempotency: a second run changes nothing and calls nothing.
    let mtime = std::fs::metadata(&unit).unwrap().modified().unwrap();
    let calls_before = sb.calls();
    let t = Instant::now();
    let (code, out, err) = sb.datavol(&["apply"]);
    let second = t.elapsed();
    assert_eq!(code, Some(0), "second apply: {out}{err}");
    assert_eq!(sb.calls(), calls_before, "second apply talked to systemd");
    assert_eq!(std::fs::metadata(&unit).unwrap().modified().unwrap(), mtime);
    assert!(!err.contains("stage=copy"), "second apply copied: {err}");
    eprintln!("second apply took {second:?}");
    assert!(second.as_millis() < 2000, "second apply took {second:?}");

    // Reboot: the mount and the ready flag are gone, the disk is committed.
    sb.in_ns_check(&format!(
        "umount {} && rm -rf /run/datavol/ready",
        src.display()
    ));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "apply after reboot: {out}{err}");
    assert!(!err.contains("stage=copy"), "re-copied after reboot: {err}");
    assert!(
        !err.contains("stage=format"),
        "re-formatted after reboot: {err}"
    );
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
    assert_eq!(
        std::fs::metadata(&unit).unwrap().modified().unwrap(),
        mtime,
        "unit rewritten"
    );

    let (code, out, _) = sb.datavol(&["status", "--json"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("\"mounted\": true") && out.contains("committed"),
        "{out}"
    );
}

#[test]
fn seed_xfs_then_idempotent_then_reboot() {
    seed_and_check("xfs");
}

#[test]
fn seed_ext4() {
    seed_and_check("ext4");
}

/// A refusal exits 3, says why, and leaves the device and the source as they were.
fn assert_refused(sb: &Sandbox, src: &Path, tag: &str) {
    let dev_before: Vec<String> = sb.loops.iter().map(|l| l.checksum()).collect();
    let src_before = populated_fingerprint(src);
    // The refusal's kind, as `plan --json` tags it (not its wording).
    let (code, out, err) = sb.datavol(&["plan", "--json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("plan --json is JSON");
    assert_eq!(v[0]["verdict"], "refuse", "{out}");
    let tags: Vec<&str> = v[0]["reasons"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["reason"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        tags.contains(&tag),
        "expected reason {tag:?}, got {tags:?}: {out}"
    );
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "expected refusal: {out}{err}");
    assert!(err.contains("hint:"), "the refusal gives no hint: {err}");
    let dev_after: Vec<String> = sb.loops.iter().map(|l| l.checksum()).collect();
    assert_eq!(dev_before, dev_after, "the device changed");
    assert_eq!(src_before, populated_fingerprint(src), "the source changed");
    assert_eq!(sb.mount_source(src), None, "something got mounted");
}

#[test]
fn refuses_foreign_filesystem() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 64);
    sh(&format!("mkfs.ext4 -q {dev}"));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    assert_refused(&sb, &src, "foreign");
}

#[test]
fn refuses_same_filesystem_without_marker() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    sh(&format!("mkfs.xfs -q {dev}"));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    assert_refused(&sb, &src, "no_marker");
}

#[test]
fn adopts_existing_filesystem_when_asked() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 64);
    let seed = sb.path("cache");
    std::fs::create_dir_all(seed.join("images")).unwrap();
    std::fs::write(seed.join("images/prepulled"), b"layer").unwrap();
    sh(&format!("mkfs.ext4 -q -d {} {dev}", seed.display()));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "ext4", &src, "adopt_existing = true"));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        sb.in_ns_check(&format!("cat {}/images/prepulled", src.display())),
        "layer"
    );
    assert!(!err.contains("stage=copy"), "adopt must not copy: {err}");
}

#[test]
fn refuses_partition_table() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 64);
    sh(&format!(
        "echo 'label: gpt' | sfdisk -q {dev} && echo ',,L' | sfdisk -q --append {dev}"
    ));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    assert_refused(&sb, &src, "partition_table");
}

#[test]
fn refuses_while_containerd_runs() {
    let mut sb = Sandbox::with_active(&["containerd.service"]);
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    assert_refused(&sb, &src, "services_running");
}

#[test]
fn stop_services_stops_and_restarts_them() {
    let mut sb = Sandbox::with_active(&["containerd.service"]);
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    let (code, out, err) = sb.datavol(&["apply", "--stop-services"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let calls = sb.calls();
    let stop = calls.find("StopUnit containerd.service").expect("stopped");
    let mount = calls.find(".mount replace").expect("mounted");
    let start = calls
        .rfind("StartUnit containerd.service")
        .expect("restarted");
    assert!(stop < mount && mount < start, "{calls}");
}

#[test]
fn refuses_mounted_device() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    sh(&format!("mkfs.xfs -q {dev}"));
    let (src, _) = sb.node_tree();
    let elsewhere = sb.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    sb.in_ns_check(&format!("mount -o ro {dev} {}", elsewhere.display()));
    sb.write_config(&config(&dev, "xfs", &src, "adopt_existing = true"));
    assert_refused(&sb, &src, "in_use");
}

#[test]
fn refuses_disk_with_a_mounted_partition() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 64);
    sh(&format!(
        "echo 'label: gpt' | sfdisk -q {dev} && echo ',,L' | sfdisk -q --append {dev} && partx -a {dev}"
    ));
    let part = format!("{dev}p1");
    sh(&format!("mkfs.ext4 -q {part}"));
    let (src, _) = sb.node_tree();
    let elsewhere = sb.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    sb.in_ns_check(&format!(
        "mount -o ro,noload {part} {}",
        elsewhere.display()
    ));
    sb.write_config(&config(&dev, "xfs", &src, ""));
    assert_refused(&sb, &src, "in_use");
}

#[test]
fn refuses_source_with_submount() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    let sub = src.join("io.containerd.content.v1.content");
    sb.in_ns_check(&format!("mount -t tmpfs tmpfs {}", sub.display()));
    sb.write_config(&config(&dev, "xfs", &src, ""));
    let dev_before = sb.loops[0].checksum();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(err.contains("mount"), "{err}");
    assert_eq!(dev_before, sb.loops[0].checksum(), "device changed");
}

#[test]
fn refuses_source_larger_than_device() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 64);
    let (src, _) = sb.node_tree();
    sh(&format!("head -c 80M /dev/zero > {}/big", src.display()));
    sb.write_config(&config(&dev, "ext4", &src, ""));
    assert_refused(&sb, &src, "source_too_large");
}

#[test]
fn missing_device_times_out_with_its_own_exit_code() {
    let sb = Sandbox::new();
    let (src, _) = sb.node_tree();
    sb.write_config(&config("/dev/disk/by-id/does-not-exist", "xfs", &src, ""));
    let t = Instant::now();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(4), "{out}{err}");
    assert!(
        t.elapsed().as_secs() >= 2,
        "did not wait for device_timeout"
    );
    assert!(err.contains("did not appear within 2s"), "{err}");
}

#[test]
fn bad_config_exits_2_with_location_and_changes_nothing() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 64);
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, "colour = \"blue\""));
    let before = sb.loops[0].checksum();
    let (code, _, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("datavol.toml:7:1"), "{err}");
    assert_eq!(before, sb.loops[0].checksum());
}

#[test]
fn second_volume_failing_does_not_stop_the_first() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    let other = sb.path("node/var/lib/kubelet");
    std::fs::create_dir_all(&other).unwrap();
    let mut cfg = config(&dev, "xfs", &src, "");
    cfg.push_str(&format!(
        "[volume.kubelet]\ndevice = \"/dev/disk/by-id/absent\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndevice_timeout = 0\n",
        other.display()
    ));
    sb.write_config(&cfg);
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(4), "{out}{err}");
    assert_eq!(
        sb.mount_source(&src).as_deref(),
        Some(dev.as_str()),
        "{err}"
    );
}

/// Signatures datavol never overwrites, each made by its own tool.
fn refuses_signature(make: &str, mib: u64, tag: &str) {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", mib);
    sh(&make.replace("{dev}", &dev));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    assert_refused(&sb, &src, tag);
}

#[test]
fn refuses_swap() {
    refuses_signature("mkswap -q {dev}", 64, "foreign");
}

#[test]
fn refuses_luks() {
    refuses_signature(
        "echo -n pw | cryptsetup luksFormat -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 {dev} -",
        64,
        "foreign",
    );
}

#[test]
fn refuses_lvm_physical_volume() {
    refuses_signature("pvcreate -q {dev}", 64, "foreign");
}

#[test]
fn refuses_ambiguous_signatures() {
    // An xfs with an ext4 superblock written over its second KiB: libblkid
    // finds both and will not choose.
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let ext4 = sb.path("ext4.img");
    sh(&format!(
        "truncate -s 400M {e} && mkfs.ext4 -q -F {e} && mkfs.xfs -q {dev} && dd if={e} of={dev} bs=1024 skip=1 seek=1 count=1 conv=notrunc status=none && rm {e}",
        e = ext4.display()
    ));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    assert_refused(&sb, &src, "ambiguous");
}

#[test]
fn gate_blocks_services_until_a_required_volume_is_mounted() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, "required = true"));
    let (code, _, err) = sb.datavol(&["gate"]);
    assert_eq!(
        code,
        Some(3),
        "gate let containerd start without the volume: {err}"
    );
    assert!(
        err.contains("required volume containerd is not mounted"),
        "{err}"
    );
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = sb.datavol(&["gate"]);
    assert_eq!(code, Some(0), "{err}");
}

/// A drop-in in the sandbox's conf.d with `mode`.
fn dropin(sb: &Sandbox, name: &str, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = sb.path("etc/conf.d").join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn editor_leftovers_in_conf_d_do_not_stop_anything() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, "required = true"));
    std::os::unix::fs::symlink(
        "root@node.1234:1700000000",
        sb.path("etc/conf.d/.#50-userdata.toml"),
    )
    .unwrap();
    dropin(
        &sb,
        "50-userdata.toml~",
        "[volume.containerd]\nrequired = [",
        0o644,
    );
    for verb in ["plan", "apply", "gate"] {
        let (code, out, err) = sb.datavol(&[verb]);
        assert_eq!(code, Some(0), "{verb}: {out}{err}");
    }
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
}

#[test]
fn a_config_error_does_not_gate_containerd_when_nothing_was_required() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, "required = false"));
    // Before any apply (no record at all), then after one that records the
    // volume as not required.
    for round in ["no record", "not required"] {
        dropin(&sb, "50-userdata.toml", "[volume.containerd]\n", 0o664);
        let (code, _, err) = sb.datavol(&["gate"]);
        assert_eq!(code, Some(0), "{round}: gate blocked containerd: {err}");
        assert!(
            err.contains("50-userdata.toml: mode 0664")
                && err.contains("error:")
                && err.contains("no volume is recorded as required")
                && err.contains("hint:"),
            "{round}: {err}"
        );
        // apply must not act on a config it cannot trust.
        let (code, _, err) = sb.datavol(&["apply"]);
        assert_eq!(code, Some(2), "{round}: {err}");
        std::fs::remove_file(sb.path("etc/conf.d/50-userdata.toml")).unwrap();
        let (code, out, err) = sb.datavol(&["apply"]);
        assert_eq!(code, Some(0), "{out}{err}");
    }
}

#[test]
fn a_config_error_gates_containerd_on_what_the_records_say_was_required() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, "required = true"));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    dropin(&sb, "50-userdata.toml", "[volume.containerd]\n", 0o664);
    // Mounted as recorded: containerd may start, and the log says why.
    let (code, _, err) = sb.datavol(&["gate"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("50-userdata.toml: mode 0664")
            && err.contains("required volume containerd (on")
            && err.contains("is mounted as recorded"),
        "{err}"
    );
    // Not mounted: refused, naming the volume and the config error.
    sb.in_ns_check(&format!("umount {}", src.display()));
    let (code, _, err) = sb.datavol(&["gate"]);
    assert_eq!(code, Some(3), "gate let containerd start: {err}");
    assert!(
        err.contains("recorded as required")
            && err.contains("containerd")
            && err.contains("is not mounted")
            && err.contains("50-userdata.toml: mode 0664"),
        "{err}"
    );
}

#[test]
fn plan_json_and_validate() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 64);
    sh(&format!("mkfs.ext4 -q {dev}"));
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    let (code, out, err) = sb.datavol(&["plan", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("plan --json is JSON");
    assert_eq!(v[0]["volume"], "containerd");
    assert_eq!(v[0]["verdict"], "refuse");
    assert_eq!(v[0]["reasons"][0]["reason"], "foreign");
    assert_eq!(v[0]["device"]["node"], dev.as_str());
    assert!(v[0]["reason"].as_str().unwrap().contains("ext4"), "{out}");

    let (code, out, _) = sb.datavol(&["validate"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("ok: 1 volume(s)"), "{out}");
    let bad = sb.path("bad.toml");
    std::fs::write(&bad, "[volume.x]\ndevice = 3\n").unwrap();
    let (code, _, err) = sb.datavol(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("bad.toml:2:10"), "{err}");
    let (code, _, _) = sb.datavol(&["no-such-command"]);
    assert_eq!(code, Some(64));
}

#[test]
fn first_present_alternative_wins_and_plan_names_it() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 64);
    let seed = sb.path("cache");
    std::fs::create_dir_all(&seed).unwrap();
    std::fs::write(seed.join("prepulled"), b"layer").unwrap();
    let label = format!("dvt{}", std::process::id() % 100000);
    sh(&format!(
        "mkfs.ext4 -q -L {label} -d {} {dev}",
        seed.display()
    ));
    let (src, _) = sb.node_tree();
    sb.write_config(&format!(
        "[volume.containerd]\ndevice = [\"/dev/disk/by-id/not-attached\", \"label:{label}\"]\nfilesystem = \"ext4\"\nmount_point = \"{}\"\nadopt_existing = true\ndevice_timeout = 2\n",
        src.display()
    ));
    let (code, out, err) = sb.datavol(&["plan"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("label:{label} ({dev})")), "{out}");
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
}

#[test]
fn blank_disk_after_migration_is_reseeded_from_the_root_disk() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, orig) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    // Stop/start of an instance: the instance store comes back blank.
    sb.in_ns_check(&format!(
        "umount {} && rm -rf /run/datavol/ready && wipefs -q -a {dev}",
        src.display()
    ));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("re-seeded from the root disk"), "{err}");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
    assert_eq!(rsync_diff(&sb, &orig, &src), "");
    let (_, out, _) = sb.datavol(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["volumes"][0]["history"]["seeds"], 2, "{out}");
    assert_eq!(v["volumes"][0]["history"]["reseeds"], 1, "{out}");
}

#[test]
fn concurrent_runs_are_serialised_and_copy_once() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, orig) = sb.node_tree();
    sb.write_config(&config(&dev, "xfs", &src, ""));
    let before = sb.loops[0].checksum();
    let (code, out, err) = sb.datavol(&["plan"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(before, sb.loops[0].checksum(), "plan wrote to the device");
    // Two runs at once, as when an operator runs apply while the service does.
    let spawn = || {
        sb.datavol_cmd(&["apply"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let c1 = spawn();
    let c2 = spawn();
    let o1 = c1.wait_with_output().unwrap();
    let o2 = c2.wait_with_output().unwrap();
    assert!(o1.status.success() && o2.status.success(), "{o1:?} {o2:?}");
    let copies = [&o1, &o2]
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("stage=copy"))
        .count();
    assert_eq!(copies, 1, "both runs copied");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
    assert_eq!(rsync_diff(&sb, &orig, &src), "");
}

fn dirs_config(dev: &str, mp: &Path, dirs: &[&Path]) -> String {
    let list = dirs
        .iter()
        .map(|d| format!("\"{}\"", d.display()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[volume.data]\ndevice = \"{dev}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndirectories = [{list}]\noptions = [\"noatime\"]\ndevice_timeout = 2\n",
        mp.display()
    )
}

#[test]
fn one_volume_serves_several_directories_by_bind_mounts() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (containerd, orig_c) = sb.node_tree();
    let kubelet = sb.path("node/var/lib/kubelet");
    std::fs::create_dir_all(kubelet.join("pods/abc")).unwrap();
    std::fs::write(kubelet.join("config.yaml"), b"kind: KubeletConfiguration\n").unwrap();
    std::fs::write(kubelet.join("pods/abc/volume"), b"data").unwrap();
    let orig_k = sb.path("under/var/lib/kubelet");
    let vol_mp = sb.path("volumes/data");
    sb.write_config(&dirs_config(&dev, &vol_mp, &[&containerd, &kubelet]));

    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        sb.mount_source(&vol_mp).as_deref(),
        Some(dev.as_str()),
        "{err}"
    );
    for (d, o, sub) in [
        (&containerd, &orig_c, "containerd"),
        (&kubelet, &orig_k, "kubelet"),
    ] {
        let src = sb.in_ns_check(&format!("findmnt -n -o SOURCE {}", d.display()));
        assert!(
            src.trim().starts_with(&dev) && src.contains(sub),
            "{d:?} mounted from {src}"
        );
        assert_eq!(rsync_diff(&sb, o, d), "", "{d:?} differs");
    }
    let prop = sb.in_ns_check(&format!("findmnt -n -o PROPAGATION {}", vol_mp.display()));
    assert_eq!(
        prop.trim(),
        "private",
        "the volume's own mount must be private"
    );
    let units: Vec<String> = std::fs::read_dir(sb.unit_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(units.len(), 3, "{units:?}");
    let bind_unit = units.iter().find(|u| u.ends_with("kubelet.mount")).unwrap();
    let text = std::fs::read_to_string(sb.unit_dir().join(bind_unit)).unwrap();
    assert!(
        text.contains("Options=bind") && text.contains("Requires=") && text.contains("After="),
        "{text}"
    );

    // Healthy: nothing to do.
    let calls = sb.calls();
    let (code, _, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(calls, sb.calls(), "second apply talked to systemd: {err}");

    // Reboot: everything is mounted again, nothing copied.
    sb.reboot(&[&containerd, &kubelet, &vol_mp]);
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!err.contains("stage=copy"), "{err}");
    assert!(sb.mount_source(&kubelet).is_some());

    // A directory added later is migrated on its own; the others stay as they are.
    let pods = sb.path("node/var/log/pods");
    std::fs::create_dir_all(&pods).unwrap();
    std::fs::write(pods.join("log"), b"line\n").unwrap();
    sb.write_config(&dirs_config(&dev, &vol_mp, &[&containerd, &kubelet, &pods]));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        err.contains(&format!("copying {}", pods.display())),
        "{err}"
    );
    assert!(
        !err.contains(&format!("copying {} ", containerd.display())),
        "{err}"
    );
    assert_eq!(
        sb.in_ns_check(&format!("cat {}/log", pods.display())),
        "line\n"
    );
    let (_, out, _) = sb.datavol(&["status"]);
    assert_eq!(
        out.matches("bind-mounted from the volume").count(),
        3,
        "{out}"
    );
}

#[test]
fn overlapping_directories_are_a_config_error() {
    let sb = Sandbox::new();
    let a = sb.path("node/var/lib/containerd");
    let b = sb.path("node/var/lib/containerd/sub");
    sb.write_config(&dirs_config(
        "/dev/xvdb",
        &sb.path("volumes/data"),
        &[&a, &b],
    ));
    let (code, _, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("overlap"), "{err}");
}

fn raid_config(devs: &[&str], mp: &Path) -> String {
    let list = devs
        .iter()
        .map(|d| format!("\"{d}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[volume.containerd]\ndevice = [{list}]\nraid = \"raid0\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndevice_timeout = 2\n",
        mp.display()
    )
}

#[test]
fn raid0_plan_over_blank_members() {
    let mut sb = Sandbox::new();
    let a = sb.add_loop("a", 200);
    let b = sb.add_loop("b", 200);
    let (src, _) = sb.node_tree();
    sb.write_config(&raid_config(&[&a, &b], &src));
    let (code, out, err) = sb.datavol(&["plan"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("every member is blank") && out.contains("create RAID0 /dev/md/dv-containerd"),
        "{out}"
    );
}

#[test]
fn raid0_refuses_a_member_with_a_foreign_signature() {
    let mut sb = Sandbox::new();
    let a = sb.add_loop("a", 200);
    let b = sb.add_loop("b", 200);
    sh(&format!("mkfs.ext4 -q {b}"));
    let (src, _) = sb.node_tree();
    sb.write_config(&raid_config(&[&a, &b], &src));
    assert_refused(&sb, &src, "raid_foreign_members");
}
