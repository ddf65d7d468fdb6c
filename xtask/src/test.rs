//! `cargo xtask test`: every test, as CI runs them. The Rust tests (with
//! failpoints compiled in for the crash tests), then the VM boot tests.
//! `--no-vm` skips the VM part, for a quick local loop.

use crate::preflight::{self, needs};
use crate::util::{cargo, require_root, run_shown};
use std::time::Instant;

pub fn run(args: &[String]) -> Result<(), String> {
    require_root("cargo xtask test")?;
    let no_vm = args.iter().any(|a| a == "--no-vm");
    // Everything this run will use, checked before the first build.
    let mut groups = vec![needs::CARGO_TEST, needs::RPM_CHECK];
    if !no_vm {
        groups.push(needs::VM);
    }
    preflight::check("cargo xtask test", &groups)?;
    crate::rpm::run(&["--check".into()])?; // the RPM and the man pages (packaging/README.md)
    let t = Instant::now();
    run_shown(cargo().args(["test", "--workspace", "--features", "datavol/failpoints"]))?;
    eprintln!(
        "xtask test: cargo test passed in {:.0}s",
        t.elapsed().as_secs_f64()
    );
    if no_vm {
        eprintln!("xtask test: --no-vm given: the VM boot tests did NOT run");
        return Ok(());
    }
    crate::vm::run(&[])
}
