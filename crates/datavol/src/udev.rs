//! Waiting for udev, each wait named by what it waits for. All are best
//! effort: a udevadm call that fails or times out is logged as a warning
//! naming the device, and datavol goes on, since what follows checks the
//! device itself. Without a running udev (a container, the tests) there is
//! nothing to wait for.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one wait on udev may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
enum UdevadmError {
    #[error("running udevadm: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("{status}: {stderr}")]
    Failed { status: String, stderr: String },
}

fn running() -> bool {
    let up = Path::new("/run/udev/control").exists();
    if !up {
        log::debug!("udev is not running; not waiting for it");
    }
    up
}

/// Runs `udevadm ARGS`; on failure or timeout warns, naming `dev` and what
/// that means (`then`).
fn udevadm(args: &[OsString], dev: &Path, then: &str) {
    let cmd = format!(
        "udevadm {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let t = Instant::now();
    let result = Command::new("udevadm")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .map_err(UdevadmError::Spawn)
        .and_then(|out| {
            if out.status.success() {
                Ok(())
            } else {
                Err(UdevadmError::Failed {
                    status: out.status.to_string(),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                })
            }
        });
    match result {
        Ok(()) => log::debug!(
            "{}: `{cmd}` took {:.2}s",
            dev.display(),
            t.elapsed().as_secs_f64()
        ),
        Err(e) => log::warn!(
            "{}: `{cmd}` did not succeed after {:.1}s ({e}); {then}",
            dev.display(),
            t.elapsed().as_secs_f64()
        ),
    }
}

/// Waits until udev's whole event queue is empty (`udevadm settle`), so no
/// rule is still working on anything. `dev` is what the wait is for.
pub fn settle_all(dev: &Path, timeout: Duration) {
    if !running() {
        return;
    }
    udevadm(
        &[
            "settle".into(),
            format!("--timeout={}", timeout.as_secs()).into(),
        ],
        dev,
        "going on while udev may still be busy",
    );
}

/// Makes udev process `dev` again now (a change event) and waits for that:
/// after mkfs, so /dev/disk/by-uuid/<uuid> exists before a mount unit waits
/// for it.
pub fn retrigger(dev: &Path) {
    if !running() {
        return;
    }
    udevadm(
        &[
            "trigger".into(),
            "--settle".into(),
            "--action=change".into(),
            dev.into(),
        ],
        dev,
        "the mount may wait for its by-uuid link",
    );
}
