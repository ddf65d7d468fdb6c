//! `cargo xtask demo`: the seed failure and datavol avoiding it, on a loop
//! device inside a private mount namespace (xtask/demo.sh does the work).

use crate::util::{cargo, require_root, run_shown, target_dir, workspace_root};
use std::path::PathBuf;
use std::process::Command;

/// Builds the binaries the demo and the tests need; returns the target dir.
pub fn build_debug(packages: &[&str]) -> Result<PathBuf, String> {
    let mut cmd = cargo();
    cmd.arg("build");
    for p in packages {
        cmd.args(["-p", p]);
    }
    run_shown(&mut cmd)?;
    Ok(target_dir().join("debug"))
}

pub fn run(_args: &[String]) -> Result<(), String> {
    require_root("cargo xtask demo")?;
    crate::setup::ensure("cargo xtask demo", &[crate::preflight::needs::DEMO])?;
    let bin = build_debug(&["datavol", "datavol-systemd-double"])?;
    let script = workspace_root().join("xtask/demo.sh");
    run_shown(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash"])
            .arg(&script)
            .arg(bin.join("datavol"))
            .arg(bin.join("systemd-double")),
    )
    .map_err(|e| format!("demo failed: {e}"))
}
