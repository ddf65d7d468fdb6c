//! `cargo xtask test`: every test, as CI runs them. The monitoring files
//! (promtool), the RPM, the Rust tests (with failpoints compiled in for the
//! crash tests), then the VM boot tests.
//! `--no-vm` skips the VM part, for a quick local loop.

use crate::preflight::needs;
use crate::util::{cargo, require_root, run_shown};
use std::time::Instant;

pub fn run(args: &[String]) -> Result<(), String> {
    require_root("cargo xtask test")?;
    let no_vm = args.iter().any(|a| a == "--no-vm");
    // Everything this run will use, checked before the first build.
    let mut groups = vec![needs::CARGO_TEST, needs::RPM_CHECK, needs::MONITORING];
    if !no_vm {
        groups.push(needs::VM);
    }
    crate::setup::ensure("cargo xtask test", &groups)?;
    // Seconds, so first: packaging/monitoring/ against datavol's series.
    crate::monitoring::check()?;
    crate::rpm::run(&["--check".into()])?; // the RPM and the man pages (packaging/README.md)
    let t = Instant::now();
    run_shown(cargo().args(["test", "--workspace", "--features", "datavol/failpoints"]))?;
    eprintln!(
        "xtask test: cargo test passed in {:.0}s",
        t.elapsed().as_secs_f64()
    );
    decision_table_unprivileged()?;
    if no_vm {
        eprintln!("xtask test: --no-vm given: the VM boot tests did NOT run");
        return Ok(());
    }
    crate::vm::run(&[])
}

/// classify's row tests need no root: run them as nobody to prove it. The test
/// binary is copied to a directory nobody can reach, since the workspace may not be.
fn decision_table_unprivileged() -> Result<(), String> {
    let json = crate::util::run(cargo().args([
        "test",
        "-p",
        "datavol",
        "--lib",
        "--features",
        "failpoints",
        "--no-run",
        "--message-format=json",
    ]))?;
    let exe = json
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| {
            m["reason"] == "compiler-artifact"
                && m["profile"]["test"] == true
                && m["target"]["name"] == "datavol"
        })
        .find_map(|m| m["executable"].as_str().map(String::from))
        .ok_or("cargo test --no-run named no datavol lib test binary")?;
    // Exactly as many as the binary holds: a floor would let rows go missing.
    let listed = crate::util::run(std::process::Command::new(&exe).args([
        "plan::tests",
        "--list",
        "--format=terse",
    ]))?
    .lines()
    .filter(|l| l.ends_with(": test"))
    .count();
    let dir = std::env::temp_dir().join(format!("datavol-unprivileged-{}", std::process::id()));
    let copy = dir.join("datavol-lib-tests");
    let prepare = || -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        std::fs::copy(&exe, &copy)?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
    };
    let prepared = prepare().map_err(|e| format!("{}: {e}", copy.display()));
    let out = prepared.and_then(|()| {
        crate::util::run(
            std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&copy)
                .arg("plan::tests"),
        )
    });
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    let passed: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("test result: ok. "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("the decision table did not pass as nobody:\n{out}"))?;
    if listed == 0 || passed != listed {
        return Err(format!(
            "{passed} of the {listed} decision-table tests ran and passed as nobody:\n{out}"
        ));
    }
    eprintln!("xtask test: the decision table's {passed} tests passed as nobody (uid 65534)");
    Ok(())
}
