//! datavol-generator's output, golden-file style (as zram-generator tests
//! it): a re-rooted /etc/datavol, state dir, machine-id and DMI product
//! UUID; the tree it writes is compared with tests/generator/CASE.expected
//! (`UPDATE_GOLDEN=1` rewrites them). The generated units, with the check
//! template, pass `systemd-analyze verify`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const UUID: &str = "0b1c2d3e-aaaa-bbbb-cccc-000000000001";
const HERE: &str = "ec2a0000-0000-4000-8000-000000000001";
const MACHINE: &str = "0123456789abcdef0123456789abcdef";
/// The checked disk's stable link, as apply records it.
const DEVICE: &str = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0";

struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new(config: &str) -> Root {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "etc/datavol/conf.d",
            "var/lib/datavol",
            "sys/class/dmi/id",
            "out",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("etc/machine-id"), format!("{MACHINE}\n")).unwrap();
        std::fs::write(
            dir.path().join("sys/class/dmi/id/product_uuid"),
            format!("{HERE}\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/datavol/datavol.toml"), config).unwrap();
        Root { dir }
    }

    /// The record apply writes once the volume is committed on `product_uuid`.
    fn record(&self, volume: &str, product_uuid: &str, dirs: &[&str]) {
        self.record_with(volume, product_uuid, dirs, Some(DEVICE));
    }

    fn record_with(&self, volume: &str, product_uuid: &str, dirs: &[&str], device: Option<&str>) {
        let mut rec = serde_json::json!({
            "volume": volume, "seeds": 1, "reseeds": 0,
            "last_uuid": UUID, "last_seed_at": 1,
            "committed": {
                "uuid": UUID, "fstype": "xfs", "source": "/var/lib/containerd",
                "directories": dirs,
                "instance": {"machine_id": MACHINE, "product_uuid": product_uuid},
            },
        });
        if let Some(d) = device {
            rec["committed"]["device"] = d.into();
        }
        std::fs::write(
            self.dir
                .path()
                .join(format!("var/lib/datavol/{volume}.json")),
            serde_json::to_vec_pretty(&rec).unwrap(),
        )
        .unwrap();
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Runs the generator as systemd would; it must exit 0 whatever happens.
    fn generate(&self) -> String {
        let o = Command::new(env!("CARGO_BIN_EXE_datavol-generator"))
            .env("DATAVOL_ROOT", self.dir.path())
            .arg(self.out())
            .arg(self.dir.path().join("early"))
            .arg(self.dir.path().join("late"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(0), "{err}");
        err
    }
}

/// Every file and link under `dir`, sorted, with its content or target.
fn listing(dir: &Path) -> String {
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_symlink() {
                entries.push(format!(
                    "=== {rel} -> {}\n",
                    std::fs::read_link(&p).unwrap().display()
                ));
            } else if meta.is_dir() {
                stack.push(p);
            } else {
                entries.push(format!(
                    "=== {rel}\n{}",
                    std::fs::read_to_string(&p).unwrap()
                ));
            }
        }
    }
    entries.sort();
    entries.concat()
}

fn golden(case: &str, got: &str) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/generator/{case}.expected"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got,
        want,
        "{case}: the generator's output differs from {}",
        path.display()
    );
}

fn config(extra: &str) -> String {
    format!("[volume.containerd]\ndevice = \"/dev/disk/by-id/nvme-data\"\nfilesystem = \"xfs\"\nmount_point = \"/var/lib/containerd\"\n{extra}")
}

#[test]
fn a_volume_committed_on_this_instance_gets_its_mount_behind_its_check() {
    let r = Root::new(&config(""));
    r.record("containerd", HERE, &[]);
    let log = r.generate();
    assert!(log.contains("mount generated"), "{log}");
    let got = listing(&r.out());
    golden("committed", &got);
    verify(&r.out());
}

#[test]
fn a_record_without_a_stable_device_path_is_left_to_datavol_service() {
    // Issue #18: a kernel name (the disk had no by-id or by-path link) may
    // name another disk on the next boot; the unit must name the one checked.
    let r = Root::new(&config(""));
    r.record_with("containerd", HERE, &[], None);
    let log = r.generate();
    assert!(log.contains("no stable path"), "{log}");
    assert_eq!(listing(&r.out()), "");
}

#[test]
fn served_directories_get_their_bind_mounts_too() {
    let r = Root::new(&config("directories = [\"/var/lib/kubelet\"]\n"));
    r.record("containerd", HERE, &["/var/lib/kubelet"]);
    r.generate();
    golden("directories", &listing(&r.out()));
    verify(&r.out());
}

#[test]
fn a_record_from_another_instance_is_not_trusted() {
    // Defect 5: an AMI baked from a node that ran datavol keeps its
    // machine-id and its record; a new instance has another DMI UUID.
    let r = Root::new(&config(""));
    r.record("containerd", "ec2a0000-0000-4000-8000-0000000000ff", &[]);
    let log = r.generate();
    assert!(log.contains("another instance"), "{log}");
    golden("other-instance", &listing(&r.out()));
}

#[test]
fn a_mount_unit_another_tool_wrote_is_not_shadowed_or_fronted() {
    // nodeadm's storage.volumes writes /etc/systemd/system/
    // var-lib-containerd.mount (What=UUID=...): systemd would load it instead
    // of the generated unit, with datavol's check drop-in in front of it.
    let r = Root::new(&config(""));
    r.record("containerd", HERE, &[]);
    let etc = r.dir.path().join("etc/systemd/system");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("var-lib-containerd.mount"),
        "[Unit]\nDescription=Mount EBS volume on /var/lib/containerd\n\n[Mount]\nWhat=UUID=9f8e7d6c-0000-4000-8000-000000000000\nWhere=/var/lib/containerd\nType=xfs\nOptions=defaults,noatime\n\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    let log = r.generate();
    assert!(
        log.contains("left for datavol.service")
            && log.contains("/etc/systemd/system/var-lib-containerd.mount")
            && log.contains("UUID=9f8e7d6c"),
        "{log}"
    );
    assert_eq!(listing(&r.out()), "");
}

#[test]
fn an_unknown_instance_trusts_no_record() {
    let r = Root::new(&config(""));
    r.record("containerd", HERE, &[]);
    std::fs::remove_file(r.dir.path().join("sys/class/dmi/id/product_uuid")).unwrap();
    let log = r.generate();
    assert!(log.contains("not known"), "{log}");
    assert_eq!(listing(&r.out()), "");
}

#[test]
fn a_raid_volume_is_left_to_datavol_service() {
    let r = Root::new(
        "[volume.containerd]\ndevice = [\"/dev/disk/by-id/a\", \"/dev/disk/by-id/b\"]\nraid = \"raid0\"\nfilesystem = \"xfs\"\nmount_point = \"/var/lib/containerd\"\n",
    );
    r.record("containerd", HERE, &[]);
    let log = r.generate();
    assert!(log.contains("RAID"), "{log}");
    golden("raid", &listing(&r.out()));
}

#[test]
fn a_bad_config_emits_nothing_and_exits_0() {
    let r = Root::new("[volume.containerd\nthis is not toml");
    r.record("containerd", HERE, &[]);
    let log = r.generate();
    assert!(log.contains("config not read"), "{log}");
    golden("bad-config", &listing(&r.out()));
}

/// `systemd-analyze verify` on the generated units, with the check
/// template and the drop-ins, as systemd would load them.
fn verify(out: &Path) {
    let units = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| {
        Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
    };
    for e in std::fs::read_dir(out).unwrap() {
        copy(&e.unwrap().path(), units.path());
    }
    let tmpl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../units/datavol-check@.service");
    copy(&tmpl, units.path());
    let mounts: Vec<String> = std::fs::read_dir(units.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".mount"))
        .collect();
    assert!(!mounts.is_empty());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.path().display()))
        .args(&mounts)
        .arg("datavol-check@containerd.service")
        .current_dir(units.path())
        .output()
        .expect("systemd-analyze must be installed (package systemd)");
    let err = String::from_utf8_lossy(&out.stderr);
    let own = common::analyze_own(&err);
    assert!(own.is_empty(), "systemd-analyze says: {err}");
}
