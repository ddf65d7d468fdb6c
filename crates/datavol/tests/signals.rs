//! What a fleet sees of a run, end to end on loop devices: the apply
//! record, the metrics file (read by the reference parser), status with
//! readable times, and the journal catalog as journalctl itself reads it.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn config(dev: &str, fs: &str, mp: &Path, textfile: &Path) -> String {
    format!(
        "[volume.containerd]\ndevice = \"{dev}\"\nfilesystem = \"{fs}\"\nmount_point = \"{}\"\ndevice_timeout = 2\nservices = [\"containerd.service\"]\n\
         [metrics]\ntextfile_dir = \"{}\"\n",
        mp.display(),
        textfile.display()
    )
}

#[test]
fn apply_records_its_outcome_and_writes_parsable_metrics() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    let textfile = sb.path("textfile");
    sb.write_config(&config(&dev, "xfs", &src, &textfile));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");

    let text = std::fs::read_to_string(textfile.join("datavol.prom")).expect("metrics file");
    let f = prom::parse(&text);
    let c = [("volume", "containerd")];
    let v = |name: &str, labels: &[(&str, &str)]| prom::value(&f, name, labels);
    assert_eq!(v("datavol_volume_ready", &c), Some(1.0), "{text}");
    let bytes = v("datavol_migration_bytes", &c).unwrap_or_default();
    assert!(
        bytes > 300_000.0,
        "the copy moved the tree's bytes: {bytes}\n{text}"
    );
    assert!(
        v("datavol_migration_duration_seconds", &c).is_some(),
        "{text}"
    );
    assert_eq!(v("datavol_seeds_total", &c), Some(1.0));
    assert_eq!(v("datavol_reseeds_total", &c), Some(0.0));
    assert_eq!(v("datavol_filesystem_grown_total", &c), Some(0.0));
    let info = [
        ("volume", "containerd"),
        ("device", dev.as_str()),
        ("filesystem", "xfs"),
        ("mount_point", &src.display().to_string()),
        ("state", "ready"),
    ];
    assert_eq!(v("datavol_volume_info", &info), Some(1.0), "{text}");
    assert_eq!(
        v("datavol_last_run_exit_code", &[("verb", "apply")]),
        Some(0.0)
    );
    let at = v("datavol_last_run_timestamp_seconds", &[("verb", "apply")]).unwrap_or_default();
    let now = datavol::record::marker::now() as f64;
    assert!(now - at < 60.0 && at <= now, "last run at {at}, now {now}");

    // status: readable times, the last runs, and the same in JSON.
    let (code, out, err) = sb.datavol(&["status"]);
    assert_eq!(code, Some(0), "{err}");
    let committed = out
        .lines()
        .find(|l| l.contains("migration:"))
        .unwrap_or_default();
    assert!(
        committed.contains("committed 20")
            && committed.contains("Z, ")
            && (committed.contains(" ago") || committed.contains("just now")),
        "{out}"
    );
    assert!(!out.contains("epoch"), "{out}");
    assert!(
        out.contains("last runs:") && out.contains("apply") && out.contains("exit 0"),
        "{out}"
    );
    let (code, out, _) = sb.datavol(&["status", "--json"]);
    assert_eq!(code, Some(0));
    let j: serde_json::Value = serde_json::from_str(&out).expect("status --json is JSON");
    let m = &j["volumes"][0]["migration"];
    let t = m["committed_at"].as_u64().expect("epoch seconds kept");
    assert_eq!(
        m["committed_at_rfc3339"],
        serde_json::Value::from(rfc3339(t)),
        "{j}"
    );
    assert_eq!(j["runs"][0]["verb"], "apply", "{j}");
    assert!(j["runs"][0]["finished_at_rfc3339"].is_string(), "{j}");

    // prewarm makes the same one call: its run is in the file, apply's still.
    let (code, out, err) = sb.datavol(&["prewarm", "containerd"]);
    assert_eq!(code, Some(0), "prewarm: {out}{err}");
    let text = std::fs::read_to_string(textfile.join("datavol.prom")).expect("metrics file");
    let f = prom::parse(&text);
    let verb = |v: &str| prom::value(&f, "datavol_last_run_exit_code", &[("verb", v)]);
    assert_eq!(verb("prewarm@containerd"), Some(0.0), "{text}");
    assert_eq!(verb("apply"), Some(0.0), "{text}");
}

#[test]
fn a_refused_volume_reads_as_not_ready() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 64);
    sh(&format!("mkfs.ext4 -q {dev}"));
    let (src, _) = sb.node_tree();
    let textfile = sb.path("textfile");
    sb.write_config(&config(&dev, "xfs", &src, &textfile));
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(3), "{out}{err}");
    let text = std::fs::read_to_string(textfile.join("datavol.prom")).expect("metrics file");
    let f = prom::parse(&text);
    assert_eq!(
        prom::value(&f, "datavol_volume_ready", &[("volume", "containerd")]),
        Some(0.0)
    );
    assert_eq!(
        prom::value(&f, "datavol_last_run_exit_code", &[("verb", "apply")]),
        Some(3.0)
    );
    let info = prom::family(&f, "datavol_volume_info").expect("info");
    assert_eq!(info["samples"][0]["labels"]["state"], "refused", "{text}");
    assert!(prom::value(&f, "datavol_migration_bytes", &[("volume", "containerd")]).is_none());
    let rec = std::fs::read_to_string(sb.path("state/runs/apply.json")).expect("apply record");
    assert!(
        rec.contains("\"refused\"") && rec.contains("\"exit_code\": 3"),
        "{rec}"
    );
}

/// The same conversion the status uses, through `date`, as an oracle.
fn rfc3339(t: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// journalctl's own catalog parser accepts the file, and lists every id
/// datavol logs with its subject.
#[test]
fn journalctl_reads_the_catalog() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("usr/lib/systemd/catalog");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/datavol.catalog");
    std::fs::copy(&catalog, dir.join("datavol.catalog")).expect("copy catalog");
    let journalctl = |args: &[&str]| {
        let out = Command::new("journalctl")
            .arg(format!("--root={}", root.path().display()))
            .args(args)
            .output()
            .expect("journalctl; hint: apt-get install systemd");
        assert!(
            out.status.success(),
            "journalctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    journalctl(&["--update-catalog"]);
    let list = journalctl(&["--list-catalog"]);
    for (name, id) in datavol::catalog::ALL {
        let line = list
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{name} ({id}) is not in the catalog:\n{list}"));
        assert!(line.contains("datavol"), "{line}");
        let entry = journalctl(&["--dump-catalog", id]);
        assert!(
            entry.contains("What to do") || entry.contains("Nothing needs"),
            "{name}:\n{entry}"
        );
    }
    assert_eq!(list.lines().count(), datavol::catalog::ALL.len(), "{list}");
}
