//! Helpers every task uses: where the workspace is, and the root check.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Fails unless this runs as root; `what` names the task for the message.
pub fn require_root(what: &str) -> Result<(), String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return Err(format!(
            "{what} needs root (loop devices, mounts, apt-get); run it as root"
        ));
    }
    Ok(())
}
