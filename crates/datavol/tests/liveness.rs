//! Nothing on the boot path waits without a bound (issue #18, defect 6):
//! a FIFO or a link to /dev/zero where the metrics file goes, a records
//! lock someone keeps. Every run here has a time limit and fails, rather
//! than hangs, on code that would wait for ever.

mod common;
use common::bounded::{run_within, Finished};
use common::*;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PAUSE: &str = "localhost/kubernetes/pause:latest";

/// A ctr whose store holds the pause image, complete and pinned.
const PINNED_CTR: &str = r#"#!/bin/sh
[ "$1" = --namespace ] && shift 2
[ "$1" = images ] && shift
ref=${2#name==}
case $1 in
namespaces) echo k8s.io ;;
ls) echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"
    echo "$ref application/vnd.oci.image.index.v1+json sha256:1f0c 739.5 KiB linux/amd64 io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned" ;;
check) echo "REF TYPE DIGEST STATUS SIZE UNPACKED"
    echo "$ref application/vnd.oci.image.index.v1+json sha256:1f0c complete (3/3) 739.5 KiB/739.5 KiB true" ;;
*) echo "fake ctr: unknown $1" >&2; exit 2 ;;
esac
"#;

/// What a bounded run may take; the code under test hangs for ever.
const LIMIT: Duration = Duration::from_secs(30);

/// A virtual memory cap (KiB) for a run that may read /dev/zero: unfixed
/// code then fails on allocation instead of eating the machine.
const MEM_KIB: u64 = 2 << 20;

fn write_0644(p: &Path, text: &str) {
    std::fs::write(p, text).expect("write");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// A node for check-images: config with [metrics] and [sandbox], the stand-in ctr.
fn images_node() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |r: &str| dir.path().join(r);
    for d in ["bin", "etc", "state", "textfile"] {
        std::fs::create_dir_all(p(d)).expect("mkdir");
    }
    std::fs::write(p("bin/ctr"), PINNED_CTR).expect("ctr");
    std::fs::set_permissions(p("bin/ctr"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    write_0644(&p("pause.tar"), &format!("{PAUSE}\n"));
    write_0644(
        &p("etc/datavol.toml"),
        &format!(
            "[metrics]\ntextfile_dir = \"{}\"\n[sandbox]\nimages = [\"{PAUSE}\"]\narchive = \"{}\"\nnamespace = \"k8s.io\"\ntimeout = 3\n",
            p("textfile").display(),
            p("pause.tar").display()
        ),
    );
    dir
}

/// `datavol check-images` on `node`, under `sh -c PRELUDE; exec datavol ...`.
fn check_images(node: &Path, prelude: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("{prelude}\nexec \"$@\""))
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_datavol"))
        .arg("--config-dir")
        .arg(node.join("etc"))
        .arg("--state-dir")
        .arg(node.join("state"))
        .arg("check-images")
        .env(
            "PATH",
            format!(
                "{}:{}",
                node.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env_remove("JOURNAL_STREAM");
    c
}

fn mkfifo(p: &Path) {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
}

/// The run went as it goes without metrics, said why it wrote none, and
/// left `prom` as it was.
fn assert_skipped(r: &Finished, prom: &Path, what: &str, is_kind: fn(&std::fs::FileType) -> bool) {
    let err = &r.err;
    assert_eq!(r.code, Some(0), "{err}");
    assert!(
        err.contains("warning:")
            && err.contains("metrics not written")
            && err.contains(&prom.display().to_string())
            && err.contains(what)
            && err.contains("hint:"),
        "{err}"
    );
    let ft = std::fs::symlink_metadata(prom)
        .expect("still there")
        .file_type();
    assert!(is_kind(&ft), "{} was replaced", prom.display());
}

#[test]
fn check_images_passes_a_fifo_or_a_link_to_dev_zero_where_the_metrics_go() {
    let node = images_node();
    let prom = node.path().join("textfile/datavol.prom");
    mkfifo(&prom);
    let r = run_within(check_images(node.path(), ""), LIMIT);
    assert_skipped(&r, &prom, "a FIFO", |ft| ft.is_fifo());
    // The run itself was recorded: only the metrics file is skipped.
    assert!(node.path().join("state/runs/check-images.json").is_file());

    std::fs::remove_file(&prom).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &prom).expect("symlink");
    let r = run_within(
        check_images(node.path(), &format!("ulimit -v {MEM_KIB}")),
        LIMIT,
    );
    assert_skipped(&r, &prom, "a symbolic link", |ft| ft.is_symlink());
}

/// The records lock is the host's /run/datavol/records.lock: this test
/// holds it in a mount namespace of its own, with a tmpfs on /run/datavol,
/// so other tests' runs never meet it.
#[test]
fn check_images_gives_up_a_records_lock_that_is_never_released() {
    let node = images_node();
    let ready = node.path().join("held");
    std::fs::create_dir_all("/run/datavol").expect("mkdir /run/datavol");
    let prelude = format!(
        "mount -t tmpfs tmpfs /run/datavol || exit 90\n\
         timeout 30 flock -x /run/datavol/records.lock -c 'touch {r}; sleep 30' >/dev/null 2>&1 &\n\
         n=0; until [ -e {r} ]; do n=$((n+1)); [ $n -gt 400 ] && exit 91; sleep 0.05; done",
        r = ready.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--"]);
    let inner = check_images(node.path(), &prelude);
    cmd.arg(inner.get_program()).args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let r = run_within(cmd, LIMIT);
    let err = &r.err;
    assert_eq!(r.code, Some(0), "{err}");
    assert!(
        err.contains("warning:")
            && err.contains("lock /run/datavol/records.lock: still held by pid")
            && err.contains("flock")
            && err.contains("hint:"),
        "{err}"
    );
    assert!(r.took < Duration::from_secs(20), "took {:?}", r.took);
}

fn volume_config(dev: &str, mp: &Path, textfile: &Path) -> String {
    format!(
        "[volume.containerd]\ndevice = \"{dev}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndevice_timeout = 2\nservices = [\"containerd.service\"]\n\
         [metrics]\ntextfile_dir = \"{}\"\n",
        mp.display(),
        textfile.display()
    )
}

/// `cmd` with its address space capped (see [`MEM_KIB`]).
fn capped(cmd: Command) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit -v {MEM_KIB}; exec \"$@\""))
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    c
}

#[test]
fn apply_passes_a_fifo_or_a_link_to_dev_zero_where_the_metrics_go() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    let textfile: PathBuf = sb.path("textfile");
    std::fs::create_dir_all(&textfile).expect("mkdir");
    let prom = textfile.join("datavol.prom");
    mkfifo(&prom);
    sb.write_config(&volume_config(&dev, &src, &textfile));

    let r = run_within(sb.datavol_cmd(&["apply"]), Duration::from_secs(120));
    assert_skipped(&r, &prom, "a FIFO", |ft| ft.is_fifo());
    assert_eq!(sb.mount_source(&src).as_deref(), Some(dev.as_str()));
    assert!(sb.path("state/runs/apply.json").is_file());

    // The healthy second run, with a link to /dev/zero there instead.
    std::fs::remove_file(&prom).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &prom).expect("symlink");
    let r = run_within(capped(sb.datavol_cmd(&["apply"])), LIMIT);
    assert_skipped(&r, &prom, "a symbolic link", |ft| ft.is_symlink());
}

/// Already so (config/trust.rs opens with O_NONBLOCK and checks the
/// handle); kept here so it stays so.
#[test]
fn a_fifo_config_file_is_refused_without_waiting() {
    let node = images_node();
    std::fs::create_dir_all(node.path().join("etc/conf.d")).expect("mkdir");
    let fifo = node.path().join("etc/conf.d/50-userdata.toml");
    mkfifo(&fifo);
    let mut c = Command::new(env!("CARGO_BIN_EXE_datavol"));
    c.arg("--config-dir")
        .arg(node.path().join("etc"))
        .arg("validate");
    let r = run_within(c, LIMIT);
    assert!(
        r.err.contains(&fifo.display().to_string()) && r.err.contains("not a regular file"),
        "{}{}",
        r.out,
        r.err
    );
}

/// Every datagram `$NOTIFY_SOCKET` receives until the barrier, each with
/// the mount source of `mp` at the moment a READY=1 came.
fn notifications(
    sock: &Path,
    holder: u32,
    mp: PathBuf,
    exited: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(String, Option<String>)>> {
    let rx = std::os::unix::net::UnixDatagram::bind(sock).expect("bind the notify socket");
    rx.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_secs(150) {
            // Received without taking the barrier's descriptor: the kernel
            // closes it, which is how systemd lifts the barrier.
            let Ok(n) = rx.recv(&mut buf) else {
                if exited.load(Ordering::SeqCst) {
                    break;
                }
                continue;
            };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let mounted = msg.contains("READY=1").then(|| {
                let o = Command::new("nsenter")
                    .args(["-t", &holder.to_string(), "-m", "--"])
                    .args(["findmnt", "-n", "-o", "SOURCE", "--mountpoint"])
                    .arg(&mp)
                    .output()
                    .expect("findmnt");
                String::from_utf8_lossy(&o.stdout).trim().to_string()
            });
            let last = msg == "BARRIER=1";
            got.push((msg, mounted));
            if last {
                break;
            }
        }
        got
    })
}

fn apply_notifying(
    sb: &Sandbox,
    sock: &Path,
    mp: &Path,
) -> (Finished, Vec<(String, Option<String>)>) {
    let _ = std::fs::remove_file(sock);
    let exited = Arc::new(AtomicBool::new(false));
    let reader = notifications(sock, sb.hold_pid(), mp.to_path_buf(), exited.clone());
    let mut cmd = sb.datavol_cmd(&["apply"]);
    cmd.env("NOTIFY_SOCKET", sock);
    let r = run_within(cmd, Duration::from_secs(120));
    exited.store(true, Ordering::SeqCst);
    (r, reader.join().expect("reader"))
}

/// datavol.service is Type=notify: READY=1 comes once, last, when the
/// volume is mounted; a copy keeps the start alive (STATUS=, EXTEND_TIMEOUT_USEC=,
/// WATCHDOG=1) before it; a failed run sends its status but never READY=1.
#[test]
fn apply_notifies_ready_last_and_keeps_the_copy_alive() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    let textfile = sb.path("textfile");
    sb.write_config(&volume_config(&dev, &src, &textfile));
    let sock = sb.path("notify");

    let (r, msgs) = apply_notifying(&sb, &sock, &src);
    assert_eq!(r.code, Some(0), "{}", r.err);
    let texts: Vec<&str> = msgs.iter().map(|(m, _)| m.as_str()).collect();
    let n = texts.len();
    assert!(n >= 3 && texts[n - 1] == "BARRIER=1", "{texts:#?}");
    assert_eq!(
        texts[n - 2],
        "READY=1\nSTATUS=1 of 1 volumes ready",
        "{texts:#?}"
    );
    assert_eq!(texts.iter().filter(|m| m.contains("READY=1")).count(), 1);
    assert_eq!(
        msgs[n - 2].1.as_deref(),
        Some(dev.as_str()),
        "not mounted at READY=1"
    );
    let alive = |what: &str| {
        texts[..n - 2].iter().any(|m| {
            m.starts_with(&format!("STATUS={what} volume containerd"))
                && m.contains("\nEXTEND_TIMEOUT_USEC=")
                && m.ends_with("\nWATCHDOG=1")
        })
    };
    for what in ["copying", "flushing", "verifying"] {
        assert!(alive(what), "no keep-alive while {what}: {texts:#?}");
    }

    // A second volume whose disk never comes: exit 4, a status, no READY=1.
    let missing = format!(
        "/dev/disk/by-id/datavol-test-missing-{}",
        std::process::id()
    );
    let cfg = format!(
        "{}[volume.other]\ndevice = \"{}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\ndevice_timeout = 1\nservices = [\"containerd.service\"]\n",
        volume_config(&dev, &src, &textfile),
        missing,
        sb.path("other").display()
    );
    sb.write_config(&cfg);
    let (r, msgs) = apply_notifying(&sb, &sock, &src);
    assert_eq!(r.code, Some(4), "{}", r.err);
    let texts: Vec<&str> = msgs.iter().map(|(m, _)| m.as_str()).collect();
    assert!(!texts.iter().any(|m| m.contains("READY=1")), "{texts:#?}");
    let n = texts.len();
    assert!(n >= 2 && texts[n - 1] == "BARRIER=1", "{texts:#?}");
    assert!(
        texts[n - 2].starts_with("STATUS=1 of 2 volumes ready; exit 4"),
        "{texts:#?}"
    );
}

/// The whole-disk lock (udev's, taken before mkfs) is waited for with a
/// bound: a tool that keeps it makes apply fail naming it, changing nothing.
#[test]
fn apply_gives_up_a_disk_lock_that_is_never_released() {
    let mut sb = Sandbox::new();
    let dev = sb.add_loop("data", 400);
    let (src, _) = sb.node_tree();
    sb.write_config(&volume_config(&dev, &src, &sb.path("textfile")));
    let ready = sb.path("held");
    let mut holder = Command::new("flock")
        .args(["-x", &dev, "-c"])
        .arg(format!("touch {}; exec sleep 120", ready.display()))
        .spawn()
        .expect("flock");
    let t = std::time::Instant::now();
    while !ready.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "flock never took {dev}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = run_within(sb.datavol_cmd(&["apply"]), Duration::from_secs(90));
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(r.code, Some(1), "{}", r.err);
    assert!(
        r.err
            .contains(&format!("device {dev}: taking its lock: still held by pid"))
            && r.err.contains("flock")
            && r.err.contains("hint:"),
        "{}",
        r.err
    );
    assert_eq!(sb.mount_source(&src), None, "mounted");
    let probe = Command::new("blkid")
        .args(["-p", &dev])
        .output()
        .expect("blkid");
    assert_eq!(probe.status.code(), Some(2), "formatted: {probe:?}");
}
