//! Waiting for udev, each wait named by what it waits for. All are best
//! effort: a udevadm call that fails or times out is logged as a warning
//! naming the device, and datavol goes on, since what follows checks the
//! device itself. Without a running udev (a container, the tests) there is
//! nothing to wait for.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
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

/// The oldest udevadm checked to have a `wait` that follows udev's own
/// events (AL2023 and Debian 12 ship 252); `wait` itself came in 251.
const WAIT_SINCE: u32 = 252;

/// The leading number of `udevadm --version`: "252", "255 (255.4-1)".
fn parse_version(text: &str) -> Option<u32> {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

/// udevadm's version, asked once per run.
fn udevadm_version() -> Option<u32> {
    static VERSION: OnceLock<Option<u32>> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = Command::new("udevadm")
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        parse_version(&String::from_utf8_lossy(&out.stdout))
    })
}

/// Waits until udev has processed `dev` (its rules ran, its links exist,
/// its database entry is written), and for nothing else. At boot udev's
/// queue holds the coldplug event of every device, and a full settle waits
/// for all of them. Needs `udevadm wait`; an older udevadm settles instead.
///
/// Not a look at /run/udev/data/b<major>:<minor> instead: that is udev's
/// private database, and since systemd 256 its file exists (with
/// ID_PROCESSING=1) while udev is still working on the device.
pub fn wait_initialized(dev: &Path, timeout: Duration) {
    if !running() {
        return;
    }
    match udevadm_version() {
        Some(v) if v >= WAIT_SINCE => {
            log::debug!(
                "{}: udevadm {v}: waiting for this device only (udevadm wait)",
                dev.display()
            );
            udevadm(
                &[
                    "wait".into(),
                    format!("--timeout={}", timeout.as_secs()).into(),
                    dev.into(),
                ],
                dev,
                "going on while udev may still be working on it",
            );
        }
        v => {
            log::debug!(
                "{}: udevadm {}: older than {WAIT_SINCE}; settling the whole queue (udevadm settle)",
                dev.display(),
                v.map_or_else(|| "version unknown".to_string(), |v| v.to_string())
            );
            settle_all(dev, timeout);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn parses_udevadm_versions() {
        assert_eq!(parse_version("252\n"), Some(252));
        assert_eq!(parse_version("255 (255.4-1ubuntu8)\n"), Some(255));
        assert_eq!(parse_version("252.23-2.amzn2023\n"), Some(252));
        assert_eq!(parse_version(""), None);
        assert_eq!(parse_version("udevadm: not found"), None);
    }
}
