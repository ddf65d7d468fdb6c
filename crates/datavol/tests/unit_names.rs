//! Unit naming checked against `systemd-escape --path` itself, and rendered
//! units checked by `systemd-analyze verify`.

use datavol::systemd::unit::{self, MountSpec};
use std::os::unix::ffi::OsStrExt;
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
        let ours = unit::escape_path(p).expect("normalisable");
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
    assert!(unit::escape_path(Path::new("/a/../b")).is_none());
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
            mount_point: mp.into(),
            fstype: "xfs".into(),
            options: opts.into_iter().map(String::from).collect(),
            before: vec!["containerd.service".into(), "kubelet.service".into()],
            bind_from: None,
        };
        match unit::write(d.path(), &spec) {
            Ok((path, changed)) => {
                assert!(changed);
                let out = Command::new("systemd-analyze")
                    .arg("verify")
                    .arg(&path)
                    .output()
                    .expect("systemd-analyze must be installed (package systemd)");
                let err = String::from_utf8_lossy(&out.stderr);
                // verify resolves dependencies on this host; only the unit's own syntax matters.
                let own: Vec<&str> = err
                    .lines()
                    .filter(|l| {
                        !l.contains("not found")
                            && !l.contains("No such file")
                            && !l.contains("Failed to")
                            && !l.contains("man ")
                    })
                    .collect();
                assert!(out.status.success() || own.is_empty(), "{mp}: {err}");
                assert!(own.is_empty(), "{mp}: systemd-analyze says: {err}");
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
