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
