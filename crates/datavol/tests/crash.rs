//! Crash safety: a crash at every failpoint, and SIGKILLs at random moments
//! of a larger copy, each followed by a normal run, end in one complete,
//! verified, committed copy. Needs the failpoints feature (cargo xtask test).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn require_failpoints() {
    #[cfg(not(feature = "failpoints"))]
    panic!("crash tests need datavol built with failpoints: run `cargo xtask test` or `cargo test --workspace --features datavol/failpoints`");
}

fn setup(sb: &mut Sandbox, mib: u64) -> (String, PathBuf, PathBuf) {
    let dev = sb.add_loop("data", mib);
    let (src, orig) = sb.node_tree();
    sb.write_config(&format!(
        "[volume.containerd]\ndevice = \"{dev}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndevice_timeout = 2\n",
        src.display()
    ));
    (dev, src, orig)
}

fn assert_recovered(sb: &Sandbox, dev: &str, src: &Path, orig: &Path, context: &str) {
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{context}: recovery run failed: {out}{err}");
    assert_eq!(
        sb.mount_source(src).as_deref(),
        Some(dev),
        "{context}: {err}"
    );
    assert_eq!(
        rsync_diff(sb, orig, src),
        "",
        "{context}: copy differs from source"
    );
    let state = sb.in_ns_check(&format!("cat {}/.datavol/state.json", src.display()));
    assert!(state.contains("\"committed\""), "{context}: {state}");
    // Exactly one committed seed: nothing was copied twice into the root.
    assert!(state.contains("\"seeds\": 1"), "{context}: {state}");
    let staging = sb.in_ns(&format!("test -e {}/.datavol/staging", src.display()));
    assert!(!staging.status.success(), "{context}: staging left behind");
    // And a further run is a no-op.
    let calls = sb.calls();
    let (code, _, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{context}: {err}");
    assert_eq!(
        calls,
        sb.calls(),
        "{context}: the run after recovery was not a no-op"
    );
}

#[test]
fn crash_at_each_failpoint_then_recover() {
    require_failpoints();
    for fp in [
        "mkfs-done",
        "copy-halfway",
        "copied",
        "verified",
        "committed",
        "unit-written",
        "unit-started",
    ] {
        let mut sb = Sandbox::new();
        let (dev, src, orig) = setup(&mut sb, 400);
        let (code, out, err) =
            sb.datavol_env(&["apply"], &[("FAILPOINTS", &format!("{fp}=return"))]);
        assert_ne!(code, Some(0), "{fp}: the crash did not happen: {out}{err}");
        assert!(
            err.contains(&format!("failpoint {fp}: aborting")),
            "{fp}: {err}"
        );
        if fp != "unit-started" {
            assert_eq!(
                sb.mount_source(&src),
                None,
                "{fp}: mounted after a crash before the mount"
            );
        }
        assert_recovered(&sb, &dev, &src, &orig, fp);
    }
}

#[test]
fn sigkill_at_random_moments_then_recover() {
    require_failpoints();
    let mut sb = Sandbox::new();
    let (dev, src, orig) = setup(&mut sb, 600);
    // A few thousand files and some megabytes, so kills land mid-copy.
    sh(&format!(
        "set -e; cd {}; for d in $(seq 1 40); do mkdir -p many/$d; for f in $(seq 1 250); do echo $d-$f > many/$d/$f; done; done; \
         for b in 1 2 3 4 5 6; do head -c 8M /dev/urandom > blob$b; done",
        src.display()
    ));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut mid_copy = 0;
    for round in 0..8 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(30 + seed % 900);
        let mut child = sb.datavol_cmd(&["apply"]).spawn().expect("spawn apply");
        std::thread::sleep(delay);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let st = child.wait().expect("wait");
        eprintln!("round {round}: SIGKILL after {delay:?}: {st}");
        if st.success() {
            break;
        }
        // A killed run never leaves the directory mounted over a partial copy.
        if let Some(srcdev) = sb.mount_source(&src) {
            assert_eq!(srcdev, dev);
            let state = sb.in_ns_check(&format!("cat {}/.datavol/state.json", src.display()));
            assert!(
                state.contains("\"committed\""),
                "mounted but not committed: {state}"
            );
            break;
        }
        mid_copy += 1;
    }
    assert!(
        mid_copy >= 2,
        "only {mid_copy} kills landed before the commit; the test proves little"
    );
    assert_recovered(&sb, &dev, &src, &orig, "after SIGKILLs");
}

#[test]
fn crash_while_migrating_several_directories_then_recover() {
    require_failpoints();
    for fp in [
        "copy-halfway",
        "verified",
        "committed",
        "unit-written",
        "unit-started",
    ] {
        let mut sb = Sandbox::new();
        let (dev, containerd, orig_c) = setup(&mut sb, 400);
        let kubelet = sb.path("node/var/lib/kubelet");
        sh(&format!(
            "mkdir -p {k}/pods && head -c 2M /dev/urandom > {k}/pods/blob && echo cfg > {k}/config",
            k = kubelet.display()
        ));
        let vol_mp = sb.path("volumes/data");
        sb.write_config(&format!(
            "[volume.data]\ndevice = \"{dev}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndirectories = [\"{}\", \"{}\"]\n",
            vol_mp.display(),
            containerd.display(),
            kubelet.display()
        ));
        let (code, out, err) =
            sb.datavol_env(&["apply"], &[("FAILPOINTS", &format!("{fp}=return"))]);
        assert_ne!(code, Some(0), "{fp}: no crash: {out}{err}");
        let (code, out, err) = sb.datavol(&["apply"]);
        assert_eq!(code, Some(0), "{fp}: recovery failed: {out}{err}");
        assert_eq!(
            rsync_diff(&sb, &orig_c, &containerd),
            "",
            "{fp}: containerd differs"
        );
        assert_eq!(
            rsync_diff(&sb, &sb.path("under/var/lib/kubelet"), &kubelet),
            "",
            "{fp}: kubelet differs"
        );
        let state = sb.in_ns_check(&format!("cat {}/.datavol/state.json", vol_mp.display()));
        assert_eq!(state.matches("\"committed\"").count(), 3, "{fp}: {state}");
        let staging = sb.in_ns_check(&format!(
            "ls -A {}/.datavol/staging 2>/dev/null || true",
            vol_mp.display()
        ));
        assert_eq!(staging.trim(), "", "{fp}: staging left behind");
    }
}

#[test]
fn nodeadm_writing_its_unit_during_the_copy_stops_the_mount_not_the_commit() {
    // nodeadm-run (storage.volumes) is not ordered against datavol.service:
    // it may write its unit for the directory while datavol copies. datavol
    // must not start that unit as its own: it refuses before writing or
    // starting any, and the committed copy waits on the volume.
    require_failpoints();
    let mut sb = Sandbox::new();
    let (_dev, src, _orig) = setup(&mut sb, 400);
    let log = sb.path("apply.log");
    let mut child = sb
        .datavol_cmd(&["apply"])
        .env("FAILPOINTS", "committed=sleep(3000)")
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn apply");
    let t = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("failpoint committed")
    {
        assert!(t.elapsed() < Duration::from_secs(60), "no commit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let name = datavol::config::escape_path(&src).expect("escapable");
    let etc = sb.root().join("etc/systemd/system");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join(format!("{name}.mount")),
        format!(
            "[Unit]\nDescription=Mount EBS volume on {p}\n\n[Mount]\nWhat=UUID=9f8e7d6c-0000-4000-8000-000000000000\nWhere={p}\nType=xfs\n",
            p = src.display()
        ),
    )
    .unwrap();
    let code = child.wait().expect("apply").code();
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("UUID=9f8e7d6c") && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(sb.mount_source(&src), None, "{err}");
    assert!(!sb.calls().contains("StartUnit"), "{}", sb.calls());
    // The copy is committed: with the unit gone, the next run mounts it
    // without copying again.
    std::fs::remove_file(etc.join(format!("{name}.mount"))).unwrap();
    let (code, out, err) = sb.datavol(&["apply"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("migration committed"), "{err}");
}
