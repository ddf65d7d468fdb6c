//! Content written under a volume's directory during a boot that ran
//! without its disk (issue #18, defect 2): the next mount says so before
//! it hides it (warn), or does not mount (refuse); status and the metrics
//! show how much is hidden; a normal reboot finds nothing.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn config(sb: &Sandbox, dev: &str, mp: &Path, extra: &str) -> String {
    format!(
        "[volume.containerd]\ndevice = \"{dev}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndevice_timeout = 2\n{extra}\n\n[metrics]\ntextfile_dir = \"{}\"\n",
        mp.display(),
        sb.path("prom").display()
    )
}

/// A volume seeded by a first apply: (sandbox, device, source).
fn seeded(extra: &str) -> (Sandbox, String, PathBuf) {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&sb, &dev, &src, extra));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "seeding: {out}{err}");
    assert!(!err.contains("stage=hidden"), "seeding: {err}");
    (sb, dev, src)
}

fn reboot(sb: &Sandbox, src: &Path) {
    sb.reboot(&[src]);
}

/// What containerd does on a boot without the disk: it writes into the
/// root disk's directory: a blob of 10000 bytes in two new directories (3 entries).
fn degraded_boot_writes(sb: &Sandbox, src: &Path) {
    std::thread::sleep(std::time::Duration::from_millis(50));
    sb.in_ns_check(&format!(
        "mkdir -p {0}/blobs/new && head -c 10000 /dev/urandom > {0}/blobs/new/blob",
        src.display()
    ));
}

fn status(sb: &Sandbox) -> serde_json::Value {
    let (code, out, err) = sb.datavol(&["status", "--json"]);
    assert_eq!(code, Some(0), "status: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("status --json is JSON");
    v["volumes"][0].clone()
}

/// A sample of the metrics file, by its exact line.
fn metric(sb: &Sandbox, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(sb.path("prom/datavol.prom")).unwrap_or_default();
    let prefix = format!("{name}{{volume=\"containerd\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_normal_reboot_hides_nothing_and_says_so() {
    let (sb, dev, src) = seeded("");
    reboot(&sb, &src);
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!err.contains("stage=hidden"), "a false positive: {err}");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
    let st = status(&sb);
    assert_eq!(st["hidden"], serde_json::json!([]), "{st}");
    assert_eq!(metric(&sb, "datavol_hidden_entries"), Some(0));
    assert_eq!(metric(&sb, "datavol_hidden_bytes"), Some(0));
    // A second reboot after that: still nothing (the mount did not touch it).
    reboot(&sb, &src);
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!err.contains("stage=hidden"), "a false positive: {err}");
}

#[test]
fn warn_mounts_and_says_what_it_hides() {
    let (sb, dev, src) = seeded("hidden_content = \"warn\"");
    reboot(&sb, &src);
    degraded_boot_writes(&sb, &src);
    let (code, out, err) = sb.datavol(&["plan"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("hidden: 3 entries (10000 bytes)"), "{out}");
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
    let line = err
        .lines()
        .find(|l| l.contains("stage=hidden"))
        .unwrap_or_else(|| panic!("no hidden-content warning: {err}"));
    assert!(
        line.starts_with("datavol: warning: [volume=containerd")
            && line.contains("3 entries (10000 bytes)")
            && line.contains("hidden_content = warn"),
        "{line}"
    );
    // Said before the mount was started.
    let mount_at = err.find("starting").expect("a mount was started");
    assert!(err.find("stage=hidden").unwrap() < mount_at, "{err}");
    let st = status(&sb);
    let h = &st["hidden"][0];
    assert_eq!(h["path"], src.display().to_string(), "{st}");
    assert_eq!(
        (h["entries"].as_u64(), h["bytes"].as_u64()),
        (Some(3), Some(10000)),
        "{st}"
    );
    assert_eq!(h["reachable"], "/run/datavol/underneath/containerd", "{st}");
    assert_eq!(metric(&sb, "datavol_hidden_entries"), Some(3));
    assert_eq!(metric(&sb, "datavol_hidden_bytes"), Some(10000));
    // Listed, and readable read-only, without unmounting the volume.
    let (code, out, err) = sb.datavol(&["hidden", "containerd"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("blobs/new/blob  (10000 bytes)"), "{out}");
    assert!(out.contains("3 new or changed (10000 bytes)"), "{out}");
    let (code, out, err) = sb.datavol(&["hidden", "containerd", "--expose"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let seen = "/run/datavol/underneath/containerd";
    assert_eq!(
        sb.in_ns_check(&format!("stat -c %s {seen}/blobs/new/blob"))
            .trim(),
        "10000"
    );
    assert!(
        !sb.in_ns_ok(&format!("touch {seen}/x")),
        "the view is writable"
    );
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
    sb.in_ns_check(&format!("umount {seen}"));
    // Accepted: the finding is gone, the next mount says nothing; the
    // content stays on the root disk.
    let (code, out, err) = sb.datavol(&["hidden", "containerd", "--accept"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(status(&sb)["hidden"], serde_json::json!([]));
    assert_eq!(metric(&sb, "datavol_hidden_entries"), Some(0));
    reboot(&sb, &src);
    assert!(src.join("blobs/new/blob").exists());
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!err.contains("stage=hidden"), "after --accept: {err}");
}

#[test]
fn refuse_leaves_the_directory_uncovered_and_the_device_unchanged() {
    // The test's directory is not /var/lib/containerd: refuse by default.
    let (sb, _, src) = seeded("");
    reboot(&sb, &src);
    degraded_boot_writes(&sb, &src);
    let plan = {
        let (code, out, err) = sb.datavol(&["plan", "--json"]);
        assert_eq!(code, Some(0), "plan: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("plan --json");
        v[0].clone()
    };
    assert_eq!(plan["verdict"], "refuse", "{plan}");
    assert_eq!(plan["reasons"][0]["reason"], "hidden_content", "{plan}");
    let before = sb.loops[0].checksum();
    let calls = sb.calls().len();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(err.contains("stage=hidden"), "{err}");
    assert!(err.contains("hidden_content = refuse"), "{err}");
    assert_eq!(sb.mount_source(&src), None, "mounted anyway: {err}");
    assert!(!sb.calls()[calls..].contains("StartUnit"), "{}", sb.calls());
    assert_eq!(sb.loops[0].checksum(), before, "the device changed");
    let st = status(&sb);
    assert_eq!(st["hidden"][0]["entries"], 3, "{st}");
    assert_eq!(
        st["hidden"][0]["reachable"],
        src.display().to_string(),
        "{st}"
    );
    assert_eq!(metric(&sb, "datavol_hidden_entries"), Some(3));
    // Once the operator accepts it (merged, or not needed), it mounts.
    let (code, out, err) = sb.datavol(&["hidden", "containerd", "--accept"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(sb.mount_source(&src).is_some(), "{err}");
}

/// With `directories`, each directory is looked at on its own: a normal
/// reboot finds nothing; a write under one of them is refused, naming it.
#[test]
fn each_served_directory_is_looked_at_on_its_own() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (containerd, _) = sb.node_tree();
    let kubelet = sb.path("node/var/lib/kubelet");
    std::fs::create_dir_all(kubelet.join("pods/abc")).expect("mkdir");
    std::fs::write(kubelet.join("pods/abc/volume"), b"data").expect("write");
    let vol_mp = sb.path("volumes/data");
    sb.write_config(&format!(
        "[volume.data]\ndevice = \"{dev}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndirectories = [\"{}\", \"{}\"]\ndevice_timeout = 2\n",
        vol_mp.display(),
        containerd.display(),
        kubelet.display()
    ));
    let reboot = || sb.reboot(&[&containerd, &kubelet, &vol_mp]);
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "seeding: {out}{err}");
    reboot();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!err.contains("stage=hidden"), "a false positive: {err}");
    reboot();
    std::thread::sleep(std::time::Duration::from_millis(50));
    sb.in_ns_check(&format!(
        "echo more >> {}/pods/abc/volume",
        kubelet.display()
    ));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(
        err.contains(&format!(
            "{} on the root disk has 1 entries",
            kubelet.display()
        )),
        "{err}"
    );
    assert_eq!(sb.mount_source(&kubelet), None, "{err}");
    assert_eq!(sb.mount_source(&vol_mp), None, "{err}");
}

/// A volume seeded before datavol kept baselines gets one at its next
/// mount; a later boot without the disk is then noticed.
#[test]
fn a_volume_seeded_without_a_baseline_gets_one_at_its_next_mount() {
    let (sb, _, src) = seeded("hidden_content = \"warn\"");
    let record = sb.path("state/containerd.json");
    let mut h: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).expect("record")).expect("JSON");
    assert!(h["underneath"][0]["baseline"].is_object(), "{h}");
    h.as_object_mut().expect("object").remove("underneath");
    std::fs::write(&record, serde_json::to_vec(&h).expect("JSON")).expect("write");
    reboot(&sb, &src);
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!err.contains("stage=hidden"), "{err}");
    reboot(&sb, &src);
    degraded_boot_writes(&sb, &src);
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("3 entries (10000 bytes)"), "{err}");
}
