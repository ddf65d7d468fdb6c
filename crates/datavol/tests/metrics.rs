//! The metrics file, read back by the reference parser of the Prometheus
//! text format (the official Python client's), not by a pattern of our own.

mod common;
use common::prom;
use datavol::metrics::render::{render, ImageSample, RunSample, Snapshot, VolumeSample};
use datavol::record::runs::{self, LastRun, Migration, VolumeOutcome, VolumeState};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn snapshot() -> Snapshot {
    Snapshot {
        volumes: vec![
            VolumeSample {
                volume: "containerd".into(),
                state: "ready".into(),
                device: "/dev/nvme1n1".into(),
                filesystem: "xfs".into(),
                mount_point: "/var/lib/containerd".into(),
                migration: Some((123_456_789, 12.25)),
                seeds: 2,
                reseeds: 1,
                grows: 3,
                hidden_entries: 5,
                hidden_bytes: 4096,
            },
            VolumeSample {
                volume: "odd".into(),
                state: "refused".into(),
                // Everything the format escapes, and what it does not.
                device: "ebs:xvdb | /dev/\"x\"\\y".into(),
                filesystem: "ext4".into(),
                mount_point: "/srv/a\nb ü".into(),
                migration: None,
                ..Default::default()
            },
        ],
        images: vec![ImageSample {
            image: "localhost/kubernetes/pause:latest".into(),
            ready: Some(true),
            restored_total: 4,
            repinned_total: 1,
        }],
        runs: vec![
            RunSample {
                verb: "apply".into(),
                finished_at: 1_796_023_872,
                exit_code: 3,
            },
            RunSample {
                verb: "check-images".into(),
                finished_at: 1_796_023_900,
                exit_code: 0,
            },
        ],
    }
}

#[test]
fn reference_parser_reads_every_family() {
    let text = render(&snapshot());
    let f = prom::parse(&text);
    let v = |name: &str, labels: &[(&str, &str)]| {
        prom::value(&f, name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{text}"))
    };
    let c = [("volume", "containerd")];
    assert_eq!(v("datavol_volume_ready", &c), 1.0);
    assert_eq!(v("datavol_volume_ready", &[("volume", "odd")]), 0.0);
    assert_eq!(
        v(
            "datavol_volume_info",
            &[
                ("volume", "odd"),
                ("device", "ebs:xvdb | /dev/\"x\"\\y"),
                ("filesystem", "ext4"),
                ("mount_point", "/srv/a\nb ü"),
                ("state", "refused"),
            ]
        ),
        1.0
    );
    assert_eq!(v("datavol_migration_bytes", &c), 123_456_789.0);
    assert_eq!(v("datavol_migration_duration_seconds", &c), 12.25);
    assert_eq!(
        prom::value(&f, "datavol_migration_bytes", &[("volume", "odd")]),
        None
    );
    assert_eq!(v("datavol_seeds_total", &c), 2.0);
    assert_eq!(v("datavol_reseeds_total", &c), 1.0);
    assert_eq!(v("datavol_filesystem_grown_total", &c), 3.0);
    assert_eq!(v("datavol_hidden_entries", &c), 5.0);
    assert_eq!(v("datavol_hidden_bytes", &c), 4096.0);
    assert_eq!(
        prom::value(&f, "datavol_hidden_entries", &[("volume", "odd")]),
        Some(0.0)
    );
    let img = [("image", "localhost/kubernetes/pause:latest")];
    assert_eq!(v("datavol_sandbox_image_ready", &img), 1.0);
    assert_eq!(v("datavol_sandbox_image_restored_total", &img), 4.0);
    assert_eq!(v("datavol_sandbox_image_repinned_total", &img), 1.0);
    assert_eq!(
        v("datavol_last_run_timestamp_seconds", &[("verb", "apply")]),
        1_796_023_872.0
    );
    assert_eq!(v("datavol_last_run_exit_code", &[("verb", "apply")]), 3.0);
    assert_eq!(
        v("datavol_last_run_exit_code", &[("verb", "check-images")]),
        0.0
    );
    // Types and help as declared; counters named without _total by the parser.
    for (family, kind) in [
        ("datavol_volume_ready", "gauge"),
        ("datavol_volume_info", "gauge"),
        ("datavol_seeds", "counter"),
        ("datavol_reseeds", "counter"),
        ("datavol_filesystem_grown", "counter"),
        ("datavol_hidden_entries", "gauge"),
        ("datavol_hidden_bytes", "gauge"),
        ("datavol_sandbox_image_restored", "counter"),
        ("datavol_last_run_timestamp_seconds", "gauge"),
    ] {
        let fam = prom::family(&f, family).unwrap_or_else(|| panic!("{family}:\n{text}"));
        assert_eq!(fam["type"], kind, "{family}");
        assert!(
            fam["help"].as_str().is_some_and(|h| h.len() > 20),
            "{family} help"
        );
    }
    // Each family once: the format forbids a name in two places.
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(names.len(), unique.len(), "{text}");
}

fn config(dir: &std::path::Path, textfile: &std::path::Path) -> datavol::config::Config {
    let p = dir.join("datavol.toml");
    std::fs::write(
        &p,
        format!(
            "[volume.containerd]\ndevice = \"/dev/xvdb\"\nfilesystem = \"xfs\"\nmount_point = \"/var/lib/containerd\"\n\
             [volume.kubelet]\ndevice = \"/dev/xvdc\"\nfilesystem = \"ext4\"\nmount_point = \"/var/lib/kubelet\"\n\
             [sandbox]\nimages = [\"localhost/kubernetes/pause:latest\"]\n\
             [metrics]\ntextfile_dir = \"{}\"\n",
            textfile.display()
        ),
    )
    .expect("write config");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    datavol::config::load_files(&[p]).expect("config loads")
}

/// A verb that is not apply renders the volumes as the last apply left
/// them; the file is replaced atomically, 0644 whatever the umask, and an
/// identical rendering leaves it alone.
#[test]
fn every_verb_renders_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let textfile = dir.path().join("textfile");
    let cfg = config(dir.path(), &textfile);
    let mut apply = LastRun::now(runs::APPLY, 3);
    apply.volumes.push(VolumeOutcome {
        volume: "containerd".into(),
        state: VolumeState::Ready,
        device: "/dev/vdb".into(),
        filesystem: "xfs".into(),
        mount_point: "/var/lib/containerd".into(),
        directories: Vec::new(),
        required: Some(false),
        migration: Some(Migration {
            bytes: 4096,
            seconds: 0.5,
        }),
    });
    apply.volumes.push(VolumeOutcome {
        volume: "kubelet".into(),
        state: VolumeState::Refused,
        device: "/dev/xvdc".into(),
        filesystem: "ext4".into(),
        mount_point: "/var/lib/kubelet".into(),
        directories: Vec::new(),
        required: Some(false),
        migration: None,
    });
    // SAFETY: umask only; no other thread of this test binary creates files now.
    let old = unsafe { libc::umask(0o077) };
    datavol::metrics::finish(&cfg, &state, &apply);
    let check = LastRun::now(runs::CHECK_IMAGES, 0);
    datavol::metrics::finish(&cfg, &state, &check);
    unsafe { libc::umask(old) };

    let file = textfile.join("datavol.prom");
    let meta = std::fs::metadata(&file).expect("metrics file written");
    assert_eq!(meta.mode() & 0o777, 0o644);
    let text = std::fs::read_to_string(&file).expect("read metrics");
    let f = prom::parse(&text);
    let v = |name: &str, labels: &[(&str, &str)]| prom::value(&f, name, labels);
    assert_eq!(
        v("datavol_volume_ready", &[("volume", "containerd")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        v("datavol_volume_ready", &[("volume", "kubelet")]),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        v("datavol_migration_bytes", &[("volume", "containerd")]),
        Some(4096.0)
    );
    assert_eq!(
        v("datavol_last_run_exit_code", &[("verb", "apply")]),
        Some(3.0)
    );
    assert_eq!(
        v("datavol_last_run_exit_code", &[("verb", "check-images")]),
        Some(0.0)
    );
    assert_eq!(
        v(
            "datavol_last_run_timestamp_seconds",
            &[("verb", "check-images")]
        ),
        Some(check.finished_at as f64)
    );
    // The check recorded no image yet: counted zero, readiness unknown.
    let img = [("image", "localhost/kubernetes/pause:latest")];
    assert_eq!(v("datavol_sandbox_image_restored_total", &img), Some(0.0));
    assert_eq!(v("datavol_sandbox_image_ready", &img), None);
    // No temp file left for the collector to trip over.
    let names: Vec<_> = std::fs::read_dir(&textfile)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("datavol.prom")]);

    let inode = meta.ino();
    datavol::metrics::finish(&cfg, &state, &check);
    assert_eq!(
        std::fs::metadata(&file).expect("stat").ino(),
        inode,
        "rewritten"
    );
}
