//! The mount is of the disk that was checked, and of no other: a clone of
//! the volume (an EBS volume restored from its snapshot: the same
//! filesystem UUID, the same marker) is refused, never mounted, and a unit
//! that resolves to another device is stopped at once (issue #18 defect 1).

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn config(dev: &str, mp: &Path) -> String {
    format!(
        "[volume.containerd]\ndevice = \"{dev}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndevice_timeout = 2\n",
        mp.display()
    )
}

/// A volume on a loop device, seeded by a first apply, then "rebooted":
/// unmounted, its ready flag gone. (sandbox, device, source)
fn seeded_and_rebooted() -> (Sandbox, String, PathBuf) {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sb.write_config(&config(&dev, &src));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "seeding: {out}{err}");
    sb.in_ns_check(&format!(
        "umount {} && rm -rf /run/datavol/ready",
        src.display()
    ));
    (sb, dev, src)
}

#[test]
fn a_clone_with_the_volumes_uuid_is_refused_naming_both_and_touching_neither() {
    let (mut sb, dev, src) = seeded_and_rebooted();
    let clone = LoopDev::clone_of(&sb.loops[0], sb.dir.path(), "clone");
    let clone_dev = clone.dev();
    sb.loops.push(clone);
    let sums: Vec<String> = sb.loops.iter().map(|l| l.checksum()).collect();
    let names_both = |s: &str| s.contains(&dev) && s.contains(&clone_dev);

    // plan exits 0 whatever it decides (datavol(8)); the verdict says refuse.
    let (code, out, err) = sb.datavol(&["plan", "--json"]);
    assert_eq!(code, Some(0), "plan: {out}{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).expect("plan --json");
    assert_eq!(plan[0]["verdict"], "refuse", "{plan}");
    assert!(
        names_both(plan[0]["reason"].as_str().unwrap_or_default()),
        "{plan}"
    );

    let calls = sb.calls().len();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "apply must refuse: {out}{err}");
    assert!(names_both(&err), "{err}");
    assert!(err.contains("xfs_admin -U generate"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(sb.mount_source(&src), None, "mounted after a refusal");
    assert!(!sb.calls()[calls..].contains("StartUnit"), "{}", sb.calls());
    let after: Vec<String> = sb.loops.iter().map(|l| l.checksum()).collect();
    assert_eq!(sums, after, "a refusal wrote to a device");

    // Without the clone, the volume mounts again.
    sb.loops.pop();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
}

fn require_failpoints() {
    #[cfg(not(feature = "failpoints"))]
    panic!("this test pauses datavol at a failpoint: run it with `--features datavol/failpoints` (cargo xtask test does)");
}

/// The mount unit datavol wrote for the volume (the only one).
fn the_unit(sb: &Sandbox) -> PathBuf {
    let units: Vec<PathBuf> = std::fs::read_dir(sb.unit_dir())
        .expect("unit dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mount"))
        .collect();
    assert_eq!(units.len(), 1, "{units:?}");
    units[0].clone()
}

#[test]
fn a_unit_that_mounts_another_device_is_stopped_and_nothing_stays_mounted() {
    require_failpoints();
    let (mut sb, _dev, src) = seeded_and_rebooted();
    let other = sb.add_loop("other", 300);
    sh(&format!("mkfs.xfs -q {other}"));
    let unit = the_unit(&sb);
    let log = sb.path("apply.log");
    let calls = sb.calls().len();
    // Pause after the unit is written; meanwhile the unit on disk comes to
    // name another device, which the systemd double then really mounts.
    let mut child = sb
        .datavol_cmd(&["apply"])
        .env("FAILPOINTS", "unit-written=sleep(4000)")
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("run datavol");
    let t = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("failpoint unit-written")
    {
        assert!(t.elapsed().as_secs() < 60, "datavol never wrote its unit");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&unit).expect("unit");
    let what = text
        .lines()
        .find(|l| l.starts_with("What="))
        .expect("What=")
        .to_string();
    std::fs::write(&unit, text.replace(&what, &format!("What={other}"))).expect("rewrite");
    let st = child.wait().expect("datavol");
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!st.success(), "{err}");
    let new_calls = sb.calls()[calls..].to_string();
    assert!(new_calls.contains("StartUnit"), "{new_calls}");
    assert_eq!(sb.mount_source(&src), None, "left mounted: {err}");
    assert!(new_calls.contains("StopUnit"), "{new_calls}");
    assert!(err.contains(&other) && err.contains("stopped"), "{err}");
}
