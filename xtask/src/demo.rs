//! `cargo xtask demo`: the seed failure and datavol avoiding it, on a loop
//! device inside a private mount namespace (xtask/demo.sh does the work).

use crate::util::{require_root, workspace_root};
use std::path::PathBuf;
use std::process::Command;

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

pub fn run(_args: &[String]) -> Result<(), String> {
    require_root("cargo xtask demo")?;
    crate::preflight::check("cargo xtask demo", &[crate::preflight::needs::DEMO])?;
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
