//! Config parsing, merging and its errors, each with file:line:column.

use datavol::config::{self, Filesystem};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn err(text: &str) -> String {
    match config::parse_str(Path::new("/etc/datavol/datavol.toml"), text) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

const GOOD: &str = r#"
[volume.containerd]
device = "/dev/xvdb"
filesystem = "xfs"
mount_point = "/var/lib/containerd"
options = ["noatime", "prjquota"]
device_timeout = "2min"
required = true
"#;

#[test]
fn parses_a_full_volume_with_defaults() {
    let v = config::parse_str(Path::new("x.toml"), GOOD).unwrap();
    assert_eq!(v.len(), 1);
    let v = &v[0];
    assert_eq!(v.name, "containerd");
    assert_eq!(v.device_text(), "/dev/xvdb");
    assert_eq!(v.filesystem, Filesystem::Xfs);
    assert_eq!(v.options, ["noatime", "prjquota"]);
    assert_eq!(v.device_timeout, Duration::from_secs(120));
    assert!(v.required && v.migrate && !v.adopt_existing);
    assert_eq!(v.label, "dv-container");
    assert_eq!(v.services, ["containerd.service", "kubelet.service"]);
}

#[test]
fn empty_config_is_no_volumes() {
    assert!(config::parse_str(Path::new("x.toml"), "# nothing\n")
        .unwrap()
        .is_empty());
}

#[test]
fn unknown_key_points_at_it() {
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\n  colour = 1\n");
    assert!(
        e.starts_with("/etc/datavol/datavol.toml:3:3: unknown field `colour`"),
        "{e}"
    );
}

#[test]
fn unknown_top_level_table() {
    let e = err("[volumes.a]\n");
    assert!(e.contains(":1:2: unknown field `volumes`"), "{e}");
}

#[test]
fn bad_filesystem_value() {
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"btrfs\"\n");
    assert!(e.contains(":3:14:") && e.contains("btrfs"), "{e}");
}

#[test]
fn syntax_error_has_location() {
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\n");
    assert!(e.contains("datavol.toml:2:"), "{e}");
}

#[test]
fn missing_keys_point_at_the_table() {
    let e = err("\n[volume.a]\nfilesystem = \"xfs\"\nmount_point = \"/data\"\n");
    assert!(
        e.contains(":2:1:") && e.contains("missing required key `device`"),
        "{e}"
    );
}

#[test]
fn control_characters_cannot_reach_a_unit() {
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/data\\nExecStart=/bin/sh\"\n");
    assert!(
        e.contains(":4:15:") && e.contains("control characters"),
        "{e}"
    );
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/data\"\noptions = [\"noatime\\n[Service]\"]\n");
    assert!(e.contains(":5:12:"), "{e}");
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/data\"\noptions = [\"ro,exec\"]\n");
    assert!(e.contains("one option per list element"), "{e}");
}

#[test]
fn mount_point_rules() {
    for (mp, needle) in [
        ("relative", "absolute"),
        ("/var/lib//x", "normalised"),
        ("/var/lib/x/", "normalised"),
        ("/var/lib/../etc", "normalised"),
        ("/", "system directory"),
        ("/usr", "system directory"),
        ("/run/x", "pseudo filesystem"),
    ] {
        let e = err(&format!(
            "[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"{mp}\"\n"
        ));
        assert!(e.contains(":4:15:") && e.contains(needle), "{mp}: {e}");
    }
}

#[test]
fn device_must_be_under_dev() {
    let e = err("[volume.a]\ndevice = \"xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/data\"\n");
    assert!(e.contains(":2:10:") && e.contains("under /dev/"), "{e}");
}

#[test]
fn overlapping_mount_points() {
    let e = err(concat!(
        "[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/var/lib/containerd\"\n",
        "[volume.b]\ndevice = \"/dev/xvdc\"\nfilesystem = \"xfs\"\nmount_point = \"/var/lib/containerd/sub\"\n"
    ));
    assert!(
        e.contains(":8:15:") && e.contains("overlaps volume \"a\""),
        "{e}"
    );
}

#[test]
fn timeouts_and_labels() {
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/d\"\ndevice_timeout = -1\n");
    assert!(e.contains(":5:18:") && e.contains("negative"), "{e}");
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/d\"\ndevice_timeout = \"soon\"\n");
    assert!(e.contains(":5:18:"), "{e}");
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/d\"\nlabel = \"much-too-long-for-xfs\"\n");
    assert!(e.contains(":5:9:") && e.contains("1-12"), "{e}");
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/d\"\nservices = [\"containerd\"]\n");
    assert!(e.contains(":5:13:"), "{e}");
}

fn write(dir: &Path, rel: &str, text: &str, mode: u32) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn dropins_override_key_by_key_in_lexical_order() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "config trust checks need root-owned files: run as root"
    );
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "datavol.toml", GOOD, 0o644);
    write(
        d.path(),
        "conf.d/20-late.toml",
        "[volume.containerd]\ndevice = \"/dev/xvdd\"\n",
        0o644,
    );
    write(
        d.path(),
        "conf.d/10-early.toml",
        "[volume.containerd]\ndevice = \"/dev/xvdc\"\nrequired = false\n",
        0o600,
    );
    write(d.path(), "conf.d/ignored.conf", "garbage", 0o644);
    let c = config::load_dir(d.path()).unwrap();
    assert_eq!(c.files.len(), 3);
    let v = &c.volumes[0];
    assert_eq!(v.device_text(), "/dev/xvdd");
    assert!(!v.required);
    assert_eq!(v.mount_point, Path::new("/var/lib/containerd"));

    // An error in a drop-in names the drop-in.
    write(
        d.path(),
        "conf.d/30-bad.toml",
        "[volume.containerd]\nmigrate = \"yes\"\n",
        0o644,
    );
    let e = config::load_dir(d.path()).unwrap_err().to_string();
    assert!(e.contains("30-bad.toml:2:11:"), "{e}");
}

#[test]
fn refuses_writable_or_foreign_owned_files() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "config trust checks need root: run as root"
    );
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "datavol.toml", GOOD, 0o664);
    let e = config::load_dir(d.path()).unwrap_err().to_string();
    assert!(e.contains("group- or world-writable"), "{e}");
    write(d.path(), "datavol.toml", GOOD, 0o644);
    std::os::unix::fs::chown(d.path().join("datavol.toml"), Some(1000), None).unwrap();
    let e = config::load_dir(d.path()).unwrap_err().to_string();
    assert!(e.contains("not root"), "{e}");
}

#[test]
fn missing_config_dir_is_empty() {
    let c = config::load_dir(Path::new("/nonexistent/datavol")).unwrap();
    assert!(c.volumes.is_empty());
}

#[test]
fn device_alternatives_and_selector_errors() {
    let v = config::parse_str(
        Path::new("x.toml"),
        "[volume.a]\ndevice = [\"ebs:xvdb\", \"/dev/xvdb\", \"instance-store\"]\nfilesystem = \"xfs\"\nmount_point = \"/d\"\n",
    )
    .unwrap();
    assert_eq!(v[0].device_text(), "ebs:xvdb | /dev/xvdb | instance-store");
    let e = err("[volume.a]\ndevice = [\"ebs:xvdb\", \"nvme1\"]\nfilesystem = \"xfs\"\nmount_point = \"/d\"\n");
    assert!(
        e.contains(":2:10:") && e.contains("\"nvme1\"") && e.contains("not a device selector"),
        "{e}"
    );
    let e = err("[volume.a]\ndevice = []\nfilesystem = \"xfs\"\nmount_point = \"/d\"\n");
    assert!(e.contains(":2:10:") && e.contains("empty"), "{e}");
}
