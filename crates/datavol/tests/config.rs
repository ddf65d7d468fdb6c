//! Config parsing, merging and its errors, each with file:line:column.

use datavol::config::{self, Filesystem};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// The error for `text`, checked for the shape every error has:
/// `file:line:column: [scope: ]what; hint: what to do`.
fn err(text: &str) -> String {
    let e = match config::parse_config_str(Path::new("/etc/datavol/datavol.toml"), text) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    };
    assert_shape(&e);
    e
}

fn assert_shape(e: &str) {
    let rest = e
        .strip_prefix("/etc/datavol/datavol.toml:")
        .unwrap_or_else(|| panic!("no file: {e}"));
    let mut parts = rest.splitn(3, ':');
    for what in ["line", "column"] {
        let n = parts.next().unwrap_or_default();
        assert!(
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
            "no {what} in: {e}"
        );
    }
    let (what, hint) = parts
        .next()
        .and_then(|m| m.split_once("; hint: "))
        .unwrap_or_else(|| panic!("no \"; hint: \" in: {e}"));
    assert!(what.len() > 2 && hint.len() > 5, "thin message: {e}");
}

/// A volume "a" with device and filesystem; `extra` starts on line 4.
fn vol(extra: &str) -> String {
    format!("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\n{extra}")
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
    // The default follows the directory: containerd's, not kubelet's too.
    assert_eq!(v.services, ["containerd.service"]);
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
        e.starts_with("/etc/datavol/datavol.toml:3:3: volume \"a\": unknown key `colour`"),
        "{e}"
    );
}

#[test]
fn unknown_top_level_table() {
    let e = err("[volumes.a]\n");
    assert!(
        e.contains(":1:2: unknown table `volumes`; hint: did you mean `volume`?"),
        "{e}"
    );
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
    // The error points at the bad alternative, not at the list.
    let e = err("[volume.a]\ndevice = [\"ebs:xvdb\", \"nvme1\"]\nfilesystem = \"xfs\"\nmount_point = \"/d\"\n");
    assert!(
        e.contains(":2:23:") && e.contains("\"nvme1\"") && e.contains("not a device selector"),
        "{e}"
    );
    let e = err("[volume.a]\ndevice = []\nfilesystem = \"xfs\"\nmount_point = \"/d\"\n");
    assert!(e.contains(":2:10:") && e.contains("empty"), "{e}");
}

// ------------------------------------------------------------ the key table

#[test]
fn one_key_table_declares_every_volume_key() {
    let names: Vec<&str> = config::VOLUME_KEYS.iter().map(|k| k.name).collect();
    for k in [
        "device",
        "filesystem",
        "mount_point",
        "directories",
        "raid",
        "options",
        "migrate",
        "device_timeout",
        "required",
        "adopt_existing",
        "label",
        "services",
        "discard_at_format",
        "grow",
        "prewarm",
    ] {
        assert!(names.contains(&k), "{k} missing from {names:?}");
    }
    assert!(config::VOLUME_KEYS.iter().all(|k| !k.doc.is_empty()));
    let sandbox: Vec<&str> = config::SANDBOX_KEYS.iter().map(|k| k.name).collect();
    assert_eq!(
        sandbox,
        ["images", "archive", "namespace", "required", "timeout"]
    );
    let metrics: Vec<&str> = config::METRICS_KEYS.iter().map(|k| k.name).collect();
    assert_eq!(metrics, ["textfile_dir"]);
}

#[test]
fn unknown_keys_say_what_was_meant() {
    let e = err(&vol("mount_pont = \"/var/lib/containerd\"\n"));
    assert!(
        e.starts_with("/etc/datavol/datavol.toml:4:1: volume \"a\": unknown key `mount_pont`")
            && e.contains("hint: did you mean `mount_point`?")
            && e.contains("device, raid, filesystem"),
        "{e}"
    );
    let e = err("[sandbox]\nimage = [\"registry.k8s.io/pause:3.9\"]\n");
    assert!(
        e.contains(":2:1: [sandbox]: unknown key `image`") && e.contains("`images`"),
        "{e}"
    );
    let e = err("[metric]\n");
    assert!(
        e.contains(":1:2: unknown table `metric`") && e.contains("`metrics`"),
        "{e}"
    );
}

// ------------------------------------------------------------ paths

fn mount_point_err(mp: &str) -> String {
    err(&vol(&format!("mount_point = \"{mp}\"\n")))
}

fn directory_err(dir: &str) -> String {
    err(&vol(&format!("directories = [\"/srv/ok\", \"{dir}\"]\n")))
}

#[test]
fn paths_a_unit_cannot_carry_are_refused() {
    for (path, needle) in [
        ("/var/lib/a%b", "specifier"),
        ("/var/lib/a%i", "specifier"),
        ("/var/lib/a\\\\b", "backslash"),
        ("/var/lib/a b", "whitespace"),
        ("/var/lib/a\\tb", "control characters"),
        ("/var/lib/\u{fc}ber", "non-ASCII"),
        ("/var/lib/\u{65e5}", "non-ASCII"),
        ("/var/lib/a,b", "','"),
        ("/var/lib/a=b", "'='"),
        ("/var/lib/a~b", "'~'"),
        ("/var/lib/a'b", "'\\''"),
        ("/var/lib/./x", "normalised"),
        ("/var/lib/x/.", "normalised"),
        ("/var/lib/x/..", "normalised"),
        ("/var/lib/x/../y", "normalised"),
        ("//var/lib/x", "normalised"),
        ("/var//lib/x", "normalised"),
        ("/var/lib/x/", "normalised"),
        ("var/lib/x", "absolute"),
    ] {
        let e = mount_point_err(path);
        assert!(
            e.contains(":4:15: volume \"a\": mount_point") && e.contains(needle),
            "{path}: {e}"
        );
        let e = directory_err(path);
        assert!(
            e.contains(":4:27: volume \"a\": directory") && e.contains(needle),
            "{path}: {e}"
        );
    }
}

#[test]
fn paths_with_every_allowed_character_are_accepted() {
    let v = config::parse_str(
        Path::new("x.toml"),
        &vol("mount_point = \"/srv/A-z_0.9+x:y@z/.hidden\"\n"),
    )
    .unwrap();
    assert_eq!(v[0].mount_point, Path::new("/srv/A-z_0.9+x:y@z/.hidden"));
}

#[test]
fn system_directories_are_refused() {
    for path in [
        "/",
        "/bin",
        "/boot",
        "/boot/efi",
        "/dev",
        "/dev/shm",
        "/etc",
        "/etc/datavol",
        "/etc/x/y",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/proc",
        "/proc/1",
        "/root",
        "/run",
        "/run/x",
        "/sbin",
        "/sys",
        "/sys/fs",
        "/tmp",
        "/usr",
        "/usr/local",
        "/usr/lib/x",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/tmp",
        "/var/cache",
        "/var/lib/datavol",
        "/var/lib/datavol/x",
        "/var/lib/datavol/volumes",
        "/var/lib/datavol/volumes/b",
    ] {
        let e = mount_point_err(path);
        assert!(
            e.contains(":4:15: volume \"a\": mount_point"),
            "{path}: {e}"
        );
        let e = directory_err(path);
        assert!(e.contains(":4:27: volume \"a\": directory"), "{path}: {e}");
    }
    // Below an exact-only system directory is the service's own, and allowed.
    for ok in [
        "/home/data",
        "/var/lib/containerd",
        "/var/log/pods",
        "/tmp2",
        "/srv/x",
    ] {
        config::parse_str(
            Path::new("x.toml"),
            &vol(&format!("mount_point = \"{ok}\"\n")),
        )
        .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn a_volume_may_name_its_own_default_mount_point() {
    let v = config::parse_str(
        Path::new("x.toml"),
        &vol("mount_point = \"/var/lib/datavol/volumes/a\"\ndirectories = [\"/var/lib/containerd\"]\n"),
    )
    .unwrap();
    assert_eq!(v[0].mount_point, Path::new("/var/lib/datavol/volumes/a"));
    // Only as its mount point: not as a served directory, nor another volume's.
    let e = directory_err("/var/lib/datavol/volumes/a");
    assert!(e.contains("where datavol keeps its own state"), "{e}");
    let e = mount_point_err("/var/lib/datavol/volumes/b");
    assert!(e.contains("where datavol keeps its own state"), "{e}");
}

// ------------------------------------------------------------ mount options

#[test]
fn options_that_change_what_is_mounted_are_refused() {
    for opt in [
        "remount",
        "bind",
        "rbind",
        "move",
        "ro",
        "loop",
        "loop=/dev/loop0",
        "offset=1024",
        "sizelimit=1",
        "user",
        "users",
        "owner",
        "group",
        "auto",
        "noauto",
        "nofail",
        "_netdev",
        "comment=x",
        "shared",
        "private",
        "slave",
        "unbindable",
        "rshared",
        "rprivate",
        "rslave",
        "runbindable",
        "x-systemd.device-timeout=5",
        "x-mount.mkdir",
    ] {
        let e = err(&vol(&format!(
            "mount_point = \"/srv/x\"\noptions = [\"noatime\", \"{opt}\"]\n"
        )));
        assert!(
            e.contains(":5:23: volume \"a\": option") && e.contains(opt),
            "{opt}: {e}"
        );
    }
    let v = config::parse_str(
        Path::new("x.toml"),
        &vol("mount_point = \"/srv/x\"\noptions = [\"noatime\", \"prjquota\", \"discard\", \"logbufs=8\", \"rw\"]\n"),
    )
    .unwrap();
    assert_eq!(v[0].options.len(), 5);
}

// ------------------------------------------------------------ value types

#[test]
fn type_errors_name_the_key_and_how_to_write_it() {
    for (line, needle) in [
        ("device_timeout = 1.5", ":5:18: volume \"a\": device_timeout 1.5 must be whole seconds, e.g. 90, \"90s\" or \"2min\"; hint: "),
        ("device_timeout = true", ":5:18: volume \"a\": device_timeout true must be whole seconds"),
        ("device_timeout = [90]", ":5:18: volume \"a\": device_timeout [90] must be whole seconds"),
        ("migrate = \"yes\"", ":5:11: volume \"a\": migrate must be true or false, not string \"yes\"; hint: write migrate = true"),
        ("required = 1", ":5:12: volume \"a\": required must be true or false"),
        ("options = \"noatime\"", ":5:11: volume \"a\": options must be a list of strings"),
        ("options = [\"noatime\", 3]", ":5:23: volume \"a\": options must be a string, not integer 3"),
        ("services = \"containerd.service\"", ":5:12: volume \"a\": services must be a list of strings"),
        ("label = 5", ":5:9: volume \"a\": label must be a string"),
        ("raid = 0", ":5:8: volume \"a\": raid must be a string"),
        ("raid = \"raid1\"", ":5:8: volume \"a\": raid \"raid1\" is not supported"),
    ] {
        let e = err(&vol(&format!("mount_point = \"/srv/x\"\n{line}\n")));
        assert!(e.contains(needle), "{line}: {e}");
    }
    let e = err("[volume.a]\ndevice = 3\n");
    assert!(
        e.contains(":2:10: volume \"a\": device must be a string"),
        "{e}"
    );
    let e = err("[volume.a]\ndevice = \"/dev/xvdb\"\nfilesystem = [\"xfs\"]\n");
    assert!(
        e.contains(":3:14: volume \"a\": filesystem must be a string"),
        "{e}"
    );
    let e = err(&vol("directories = \"/var/lib/kubelet\"\n"));
    assert!(
        e.contains(":4:15: volume \"a\": directories must be a list"),
        "{e}"
    );
    let e = err("volume = 3\n");
    assert!(e.contains(":1:10: volume must be a table"), "{e}");
}

// ------------------------------------------------------------ one disk, one volume

#[test]
fn two_volumes_cannot_name_the_same_disk() {
    for (a, b) in [
        ("\"/dev/xvdb\"", "\"/dev/xvdb\""),
        ("\"ebs:xvdb\"", "\"ebs:sdb\""),
        ("\"ebs:/dev/sdf\"", "\"ebs:xvdf\""),
        ("\"ebs-volume:vol-0abc\"", "\"ebs-volume:vol0abc\""),
        ("\"uuid:0B1C-2D3E\"", "\"uuid:0b1c-2d3e\""),
        ("\"label:data\"", "\"label:data\""),
        ("\"instance-store\"", "\"instance-store\""),
        ("[\"ebs:xvdc\", \"/dev/xvdc\"]", "\"/dev/xvdc\""),
    ] {
        let e = err(&format!(
            "[volume.a]\ndevice = {a}\nfilesystem = \"xfs\"\nmount_point = \"/srv/a\"\n\
             [volume.b]\ndevice = {b}\nfilesystem = \"xfs\"\nmount_point = \"/srv/b\"\n"
        ));
        assert!(
            e.contains(":6:10: volume \"b\": device")
                && e.contains("the same disk as")
                && e.contains("of volume \"a\" (/etc/datavol/datavol.toml:2)"),
            "{a} / {b}: {e}"
        );
    }
    config::parse_str(
        Path::new("x.toml"),
        "[volume.a]\ndevice = \"ebs:xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/srv/a\"\n\
         [volume.b]\ndevice = \"ebs:xvdc\"\nfilesystem = \"xfs\"\nmount_point = \"/srv/b\"\n",
    )
    .unwrap();
}

// ------------------------------------------------------------ services

#[test]
fn services_default_follows_the_directory() {
    for (extra, want) in [
        (
            "mount_point = \"/var/lib/containerd\"",
            vec!["containerd.service"],
        ),
        (
            "mount_point = \"/var/lib/kubelet\"",
            vec!["kubelet.service"],
        ),
        ("mount_point = \"/var/lib/docker\"", vec!["docker.service"]),
        ("mount_point = \"/srv/data\"", vec![]),
        (
            "directories = [\"/var/lib/kubelet\", \"/srv/x\", \"/var/lib/containerd\"]",
            vec!["kubelet.service", "containerd.service"],
        ),
        ("directories = [\"/srv/x\"]", vec![]),
        (
            "mount_point = \"/srv/data\"\nservices = [\"crio.service\"]",
            vec!["crio.service"],
        ),
    ] {
        let v = config::parse_str(Path::new("x.toml"), &vol(&format!("{extra}\n"))).unwrap();
        assert_eq!(v[0].services, want, "{extra}");
    }
}

// ------------------------------------------------------------ new keys

#[test]
fn new_volume_keys_have_defaults_and_types() {
    let v = config::parse_str(Path::new("x.toml"), &vol("mount_point = \"/srv/x\"\n")).unwrap();
    assert!(!v[0].discard_at_format && v[0].grow && !v[0].prewarm);
    let v = config::parse_str(
        Path::new("x.toml"),
        &vol("mount_point = \"/srv/x\"\ndiscard_at_format = true\ngrow = false\nprewarm = true\n"),
    )
    .unwrap();
    assert!(v[0].discard_at_format && !v[0].grow && v[0].prewarm);
    for key in ["discard_at_format", "grow", "prewarm"] {
        let e = err(&vol(&format!(
            "mount_point = \"/srv/x\"\n{key} = \"yes\"\n"
        )));
        assert!(
            e.contains(&format!(
                ":5:{}: volume \"a\": {key} must be true or false",
                key.len() + 4
            )),
            "{e}"
        );
    }
}

#[test]
fn sandbox_and_metrics_tables() {
    let c = config::parse_config_str(
        Path::new("x.toml"),
        "[sandbox]\nimages = [\"registry.k8s.io/pause:3.9\", \"602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause@sha256:0123abcd\"]\n\
         [metrics]\ntextfile_dir = \"/var/lib/node_exporter/textfile_collector\"\n",
    )
    .unwrap();
    let s = c.sandbox.expect("sandbox");
    assert_eq!(s.images.len(), 2);
    assert_eq!(s.archive, None);
    assert_eq!(s.namespace, "k8s.io");
    assert!(!s.required);
    assert_eq!(s.timeout, Duration::from_secs(60));
    assert_eq!(
        c.metrics.expect("metrics").textfile_dir,
        Path::new("/var/lib/node_exporter/textfile_collector")
    );
    let c = config::parse_config_str(
        Path::new("x.toml"),
        "[sandbox]\nimages = [\"pause:3.9\"]\narchive = \"/opt/pause.tar\"\nnamespace = \"moby\"\nrequired = true\ntimeout = \"2min\"\n",
    )
    .unwrap();
    let s = c.sandbox.expect("sandbox");
    assert_eq!(s.archive.as_deref(), Some(Path::new("/opt/pause.tar")));
    assert_eq!(
        (s.namespace.as_str(), s.required, s.timeout),
        ("moby", true, Duration::from_secs(120))
    );
    assert!(config::parse_config_str(Path::new("x.toml"), "")
        .unwrap()
        .sandbox
        .is_none());

    for (text, needle) in [
        (
            "[sandbox]\n",
            ":1:1: [sandbox]: missing required key `images`",
        ),
        (
            "[sandbox]\nimages = []\n",
            ":2:10: [sandbox]: images is empty",
        ),
        (
            "[sandbox]\nimages = [\"pause 3.9\"]\n",
            ":2:11: [sandbox]: \"pause 3.9\" is not an image reference",
        ),
        (
            "[sandbox]\nimages = [\"pause\\n\"]\n",
            ":2:11: [sandbox]: \"pause\\n\" is not an image reference",
        ),
        (
            "[sandbox]\nimages = [\"p\"]\narchive = \"pause.tar\"\n",
            ":3:11: [sandbox]: archive \"pause.tar\" must be an absolute path",
        ),
        (
            "[sandbox]\nimages = [\"p\"]\nnamespace = \"k8s io\"\n",
            ":3:13: [sandbox]: namespace \"k8s io\" is not a containerd namespace",
        ),
        (
            "[sandbox]\nimages = [\"p\"]\ntimeout = 1.5\n",
            ":3:11: [sandbox]: timeout 1.5 must be whole seconds",
        ),
        (
            "[sandbox]\nimages = [\"p\"]\nrequired = \"no\"\n",
            ":3:12: [sandbox]: required must be true or false",
        ),
        (
            "[metrics]\n",
            ":1:1: [metrics]: missing required key `textfile_dir`",
        ),
        (
            "[metrics]\ntextfile_dir = \"metrics\"\n",
            ":2:16: [metrics]: textfile_dir \"metrics\" must be an absolute path",
        ),
        ("sandbox = 1\n", ":1:11: [sandbox]: sandbox must be a table"),
    ] {
        let e = err(text);
        assert!(e.contains(needle), "{text:?}: {e}");
    }
}

// ------------------------------------------------------------ files and merging

/// A config dir with `datavol.toml` = GOOD, root-owned, 0755.
fn config_dir() -> tempfile::TempDir {
    assert!(
        nix::unistd::geteuid().is_root(),
        "config trust checks need root-owned files: run as root"
    );
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    write(d.path(), "datavol.toml", GOOD, 0o644);
    d
}

#[test]
fn dropins_merge_sandbox_and_metrics_key_by_key() {
    let d = config_dir();
    write(
        d.path(),
        "conf.d/10-sandbox.toml",
        "[sandbox]\nimages = [\"pause:3.9\"]\nrequired = true\n[metrics]\ntextfile_dir = \"/srv/a\"\n",
        0o644,
    );
    write(
        d.path(),
        "conf.d/20-more.toml",
        "[sandbox]\nnamespace = \"moby\"\n[metrics]\ntextfile_dir = \"/srv/b\"\n",
        0o644,
    );
    let c = config::load_dir(d.path()).unwrap();
    let s = c.sandbox.unwrap();
    assert_eq!(
        (s.images, s.namespace, s.required),
        (vec!["pause:3.9".to_string()], "moby".into(), true)
    );
    assert_eq!(c.metrics.unwrap().textfile_dir, Path::new("/srv/b"));
}

#[test]
fn the_winning_value_is_checked_and_named() {
    let d = config_dir();
    // An earlier bad value that a later file replaces is not an error...
    write(
        d.path(),
        "conf.d/10-bad.toml",
        "[volume.containerd]\ndevice_timeout = 1.5\n",
        0o644,
    );
    write(
        d.path(),
        "conf.d/20-fix.toml",
        "[volume.containerd]\ndevice_timeout = 30\n",
        0o644,
    );
    let c = config::load_dir(d.path()).unwrap();
    assert_eq!(c.volumes[0].device_timeout, Duration::from_secs(30));
    // ...and a later bad one is reported where it is.
    write(
        d.path(),
        "conf.d/30-bad.toml",
        "\n[volume.containerd]\n  device_timeout = true\n",
        0o644,
    );
    let e = config::load_dir(d.path()).unwrap_err().to_string();
    assert!(
        e.contains(
            "30-bad.toml:3:20: volume \"containerd\": device_timeout true must be whole seconds"
        ),
        "{e}"
    );
}

#[test]
fn config_directories_must_be_roots_alone() {
    let d = config_dir();
    std::fs::create_dir(d.path().join("conf.d")).unwrap();
    std::fs::set_permissions(
        d.path().join("conf.d"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let e = config::load_dir(d.path()).unwrap_err().to_string();
    assert!(
        e.contains("conf.d: mode 0777 is group- or world-writable")
            && e.contains("hint: chmod go-w"),
        "{e}"
    );
    std::fs::set_permissions(
        d.path().join("conf.d"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::chown(d.path().join("conf.d"), Some(1000), None).unwrap();
    let e = config::load_dir(d.path()).unwrap_err().to_string();
    assert!(e.contains("conf.d: owned by uid 1000, not root"), "{e}");
    std::os::unix::fs::chown(d.path().join("conf.d"), Some(0), None).unwrap();
    config::load_dir(d.path()).unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o775)).unwrap();
    let e = config::load_dir(d.path()).unwrap_err().to_string();
    assert!(e.contains("mode 0775 is group- or world-writable"), "{e}");
}

#[test]
fn symlinked_config_files_are_refused() {
    let d = config_dir();
    let elsewhere = tempfile::tempdir().unwrap();
    write(elsewhere.path(), "real.toml", GOOD, 0o644);
    std::fs::remove_file(d.path().join("datavol.toml")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("real.toml"),
        d.path().join("datavol.toml"),
    )
    .unwrap();
    let e = config::load_dir(d.path()).unwrap_err().to_string();
    assert!(
        e.contains("datavol.toml: is a symbolic link") && e.contains("hint: "),
        "{e}"
    );
    std::fs::remove_file(d.path().join("datavol.toml")).unwrap();
    std::fs::create_dir(d.path().join("conf.d")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("real.toml"),
        d.path().join("conf.d/50.toml"),
    )
    .unwrap();
    let e = config::load_dir(d.path()).unwrap_err().to_string();
    assert!(e.contains("50.toml: is a symbolic link"), "{e}");
}

#[test]
fn editor_files_and_other_names_in_conf_d_are_skipped() {
    let d = config_dir();
    write(
        d.path(),
        "conf.d/50-userdata.toml",
        "[volume.containerd]\ndevice = \"/dev/xvdd\"\n",
        0o644,
    );
    // Emacs' lock file: a dangling symlink named like a drop-in.
    std::os::unix::fs::symlink(
        "root@node.1234:1700000000",
        d.path().join("conf.d/.#50-userdata.toml"),
    )
    .unwrap();
    // Backups and leftovers, each of which would fail if it were read.
    for name in [
        "50-userdata.toml~",
        "50-userdata.toml.swp",
        "50-userdata.toml.rpmnew",
        "50-userdata.toml.rpmsave",
        "50-userdata.bak",
        ".hidden.toml",
    ] {
        write(d.path(), &format!("conf.d/{name}"), "garbage = [", 0o666);
    }
    let c = config::load_dir(d.path()).unwrap();
    assert_eq!(
        c.files,
        [
            d.path().join("datavol.toml"),
            d.path().join("conf.d/50-userdata.toml")
        ]
    );
    assert_eq!(c.volumes[0].device_text(), "/dev/xvdd");
}
