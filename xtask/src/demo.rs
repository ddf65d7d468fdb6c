//! `cargo xtask demo`: the seed failure and datavol avoiding it, on a loop
//! device inside a private mount namespace (xtask/demo.sh does the work).

use std::path::PathBuf;
use std::process::Command;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Builds the binaries the demo and the tests need; returns the target dir.
pub fn build_debug(packages: &[&str]) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build").current_dir(workspace_root());
    for p in packages {
        cmd.args(["-p", p]);
    }
    let st = cmd.status().map_err(|e| format!("cargo build: {e}"))?;
    if !st.success() {
        return Err("cargo build failed".into());
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    Ok(target.join("debug"))
}

pub fn require_root(what: &str) -> Result<(), String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return Err(format!(
            "{what} needs root (loop devices and mounts); run it with sudo"
        ));
    }
    Ok(())
}

pub fn run(_args: &[String]) -> Result<(), String> {
    require_root("cargo xtask demo")?;
    let bin = build_debug(&["datavol", "datavol-systemd-double"])?;
    let script = workspace_root().join("xtask/demo.sh");
    let st = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "bash"])
        .arg(&script)
        .arg(bin.join("datavol"))
        .arg(bin.join("systemd-double"))
        .status()
        .map_err(|e| format!("unshare: {e} (util-linux)"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("demo failed: {st}"))
    }
}
