//! Unit naming checked against `systemd-escape --path` itself, and rendered
//! units checked by `systemd-analyze verify`.

use datavol::config::{self, escape_path};
use datavol::systemd::unit::{self, MountSpec};
use std::os::unix::ffi::OsStrExt;
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A small deterministic PRNG, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn generated_paths(n: usize) -> Vec<PathBuf> {
    let atoms = [
        "var",
        "lib",
        "containerd",
        "my-dir",
        ".hidden",
        "a b",
        "ü",
        "日本",
        "x\\y",
        "-",
        "--",
        "a.b",
        ".",
        "k:8",
        "under_score",
        "tab\tin",
        "%",
        "@",
        "~",
        "+",
        "=",
        ",",
        "'",
        "\"",
    ];
    let seps = ["/", "//", "///"];
    let mut rng = Rng(0x5eed_dada_1234_5678);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = String::new();
        for _ in 0..(1 + rng.next() % 5) {
            s.push_str(rng.pick(&seps));
            s.push_str(rng.pick(&atoms));
            if rng.next() % 4 == 0 {
                s.push_str(rng.pick(&atoms));
            }
        }
        if rng.next() % 5 == 0 {
            s.push('/');
        }
        // ".." is refused by both sides; dotdot_is_refused_like_systemd covers it.
        if s.split('/').any(|c| c == "..") {
            continue;
        }
        out.push(PathBuf::from(s));
    }
    out.push(PathBuf::from("/"));
    out.push(PathBuf::from("/var/lib/containerd"));
    out
}

#[test]
fn escaping_matches_systemd_escape_on_1000_paths() {
    let paths = generated_paths(1100);
    assert!(paths.len() >= 1000, "only {} paths", paths.len());
    // One systemd-escape call for all: it prints the results space-separated
    // (an escaped name never holds a space: that becomes \x20).
    let mut cmd = Command::new("systemd-escape");
    cmd.arg("--path").arg("--");
    for p in &paths {
        cmd.arg(p);
    }
    let out = cmd
        .output()
        .expect("systemd-escape must be installed (package systemd)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let theirs: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(theirs.len(), paths.len());
    for (i, p) in paths.iter().enumerate() {
        let ours = escape_path(p).expect("normalisable");
        assert_eq!(
            ours,
            theirs[i],
            "path {:?}",
            String::from_utf8_lossy(p.as_os_str().as_bytes())
        );
    }
}

#[test]
fn dotdot_is_refused_like_systemd() {
    assert!(escape_path(Path::new("/a/../b")).is_none());
    let st = Command::new("systemd-escape")
        .args(["--path", "/a/../b"])
        .output()
        .expect("systemd-escape");
    assert!(!st.status.success());
}

#[test]
fn rendered_units_pass_systemd_analyze_verify() {
    let d = tempfile::tempdir().unwrap();
    for (mp, opts) in [
        ("/var/lib/containerd", vec!["noatime"]),
        ("/var/lib/my-dir", vec![]),
        ("/data/with space", vec!["noatime", "prjquota"]),
    ] {
        let spec = MountSpec {
            volume: "containerd".into(),
            uuid: "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0".into(),
            device: DEVICE.into(),
            mount_point: mp.into(),
            fstype: "xfs".into(),
            options: opts.into_iter().map(String::from).collect(),
            before: vec!["containerd.service".into(), "kubelet.service".into()],
            bind_from: None,
        };
        match unit::write(d.path(), &spec) {
            Ok((path, changed)) => {
                assert!(changed);
                verify(&path);
                // A second write of the same spec changes nothing.
                assert!(!unit::write(d.path(), &spec).unwrap().1);
            }
            Err(e) => {
                // A space cannot be expressed in Where= without escaping; refusing is the safe answer.
                assert!(mp.contains(' '), "{mp}: {e}");
            }
        }
    }
}

/// `systemd-analyze verify` accepts the unit, including that its Where=
/// gives its own name. Only two messages are about the host, not the unit:
/// a dependency this host has no unit for, and the man page it lacks.
fn verify(unit: &Path) {
    let name = unit.file_name().unwrap().to_string_lossy().into_owned();
    // verify reads "FILE:NAME" as a unit file loaded under another name, so a
    // name with a colon goes through a colon-free copy.
    let copy = tempfile::tempdir().unwrap();
    let arg = if name.contains(':') {
        let plain = copy.path().join("copy.mount");
        std::fs::copy(unit, &plain).unwrap();
        format!("{}:{name}", plain.display())
    } else {
        unit.display().to_string()
    };
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&arg)
        .output()
        .expect("systemd-analyze must be installed (package systemd)");
    let err = String::from_utf8_lossy(&out.stderr);
    let own = common::analyze_own(&err);
    let text = std::fs::read_to_string(unit).unwrap_or_default();
    assert!(own.is_empty(), "{arg}: systemd-analyze says: {err}\n{text}");
}

/// What `systemd-escape --path` itself says.
fn systemd_escape(p: &Path) -> String {
    let out = Command::new("systemd-escape")
        .arg("--path")
        .arg(p)
        .output()
        .expect("systemd-escape must be installed (package systemd)");
    assert!(
        out.status.success(),
        "systemd-escape --path {}",
        p.display()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One line of a unit, e.g. the value of What=.
fn directive<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
}

/// Paths the config accepts, using every allowed special character
/// (/ . _ - + : @, and a leading dot), `-` escaping to \x2d.
const ACCEPTED: [&str; 8] = [
    "/srv/my-dir",
    "/srv/a.b",
    "/srv/.hidden",
    "/srv/under_score",
    "/srv/k:8",
    "/srv/a+b",
    "/srv/user@host",
    "/opt/x-y/z-1.d",
];

const UUID: &str = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
const DEVICE: &str = "/dev/disk/by-id/virtio-data0";

fn accepted(extra: &str) -> config::Volume {
    let text = format!("[volume.v]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\n{extra}\n");
    let mut v = config::parse_str(Path::new("x.toml"), &text)
        .unwrap_or_else(|e| panic!("the config must accept {extra}: {e}"));
    v.remove(0)
}

#[test]
fn accepted_mount_points_round_trip_through_verified_units() {
    let d = tempfile::tempdir().unwrap();
    for p in ACCEPTED {
        let vol = accepted(&format!("mount_point = \"{p}\""));
        let (path, _) = unit::write(d.path(), &MountSpec::new(&vol, UUID, Path::new(DEVICE)))
            .expect("rendered");
        let name = format!("{}.mount", systemd_escape(Path::new(p)));
        assert_eq!(path.file_name().unwrap().to_string_lossy(), name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(directive(&text, "Where="), p);
        verify(&path);
    }
}

#[test]
fn accepted_directories_round_trip_through_verified_bind_units() {
    let d = tempfile::tempdir().unwrap();
    let list = ACCEPTED.map(|p| format!("\"{p}\"")).join(", ");
    let vol = accepted(&format!("directories = [{list}]"));
    let (root, _) = unit::write(
        d.path(),
        &MountSpec::volume_root(&vol, UUID, Path::new(DEVICE)),
    )
    .expect("rendered");
    verify(&root);
    let parent = root.file_name().unwrap().to_string_lossy().into_owned();
    for p in ACCEPTED {
        let dir = Path::new(p);
        let spec = MountSpec::bind(&vol, UUID, dir, &parent);
        let (path, _) = unit::write(d.path(), &spec).expect("rendered");
        let text = std::fs::read_to_string(&path).unwrap();
        // What= is the literal on-disk name: the volume's mount point, then
        // the directory as systemd-escape --path writes it (\x2d and all).
        let what = format!("/var/lib/datavol/volumes/v/{}", systemd_escape(dir));
        assert_eq!(directive(&text, "What="), what);
        assert_eq!(directive(&text, "Where="), p);
        verify(&path);
    }
}
