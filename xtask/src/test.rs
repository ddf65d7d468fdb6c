//! `cargo xtask test`: every test, as CI runs them. The monitoring files
//! (promtool), the RPM, the Rust tests (with failpoints compiled in for the
//! crash tests), then the VM boot tests.
//! `--no-vm` skips the VM part, for a quick local loop.
//!
//! `--arch aarch64` (opt-in, never part of the default run) runs the same
//! `cargo test` cross-built for aarch64 with Debian's toolchain and run under
//! qemu-user (xtask/src/cross.rs), skipping exactly the tests named in
//! [`QEMU_USER_GAPS`]; see docs/testing.md.
//!
//! The VM part runs the containerd 1.6 scenarios: with the containerd 2 set
//! (its own image and ten more boots) the run would pass CI's 60 minutes
//! (docs/testing.md has the numbers). `--containerd all` (or `2`) adds it.

use crate::preflight::needs;
use crate::util::{cargo, require_root, run_shown};
use std::time::Instant;

/// The tests that fail under qemu-user (Debian 12's qemu 7.2) only because of
/// the emulation, each with why; `cargo xtask test --arch aarch64` skips
/// exactly these (libtest `--exact --skip NAME`) and fails on every other
/// failure. Names are libtest's, within their test binary.
pub const QEMU_USER_GAPS: &[&str] = &[
    // glibc's posix_spawn reports a failed exec through memory shared with the
    // CLONE_VM|CLONE_VFORK child; qemu-user runs that clone as a plain fork, so
    // spawning a missing program "succeeds" and exits 127 instead of ENOENT.
    "discover::selector::tests::missing_blkid_is_an_error_not_no_match",
    // The same spawn gap: datavol check-images with no ctr on PATH sees ctr
    // "fail" with 127 rather than not start, so it retries until its deadline
    // (4 s, the test wants < 2 s) and reports a failure, not "cannot run ctr".
    "without_ctr_the_error_says_so",
    // qemu 7.2's linux-user does not translate XFS_IOC_FSGEOMETRY (ENOTTY), so
    // the live size of a mounted xfs (status's filesystem_bytes, grow's "from")
    // is unknown under emulation; ext4 reads its superblock and is tested.
    "an_xfs_grows_with_its_disk_across_a_reboot",
    "an_xfs_grows_with_its_disk_while_mounted",
];

const USAGE: &str = "usage: cargo xtask test [--no-vm] [--containerd 1.6|2|all] [--arch aarch64]

  --no-vm            skip the VM boot tests (a quick local loop)
  --containerd V     the VM boot tests on containerd V (default 1.6; all adds the
                     containerd 2 set, see docs/testing.md)
  --arch aarch64     the Rust tests cross-built and run under qemu-user, nothing else";

/// `--no-vm` and `--containerd V` (after `--arch` was taken), or None for `--help`.
/// Anything else is an error: a typo must not start an hour of tests.
fn parse(args: &[String]) -> Result<Option<(bool, String)>, String> {
    let (mut no_vm, mut containerd) = (false, "1.6".to_string());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--no-vm" => no_vm = true,
            "--containerd" => match it.next().map(String::as_str) {
                Some(v @ ("1.6" | "2" | "all")) => containerd = v.to_string(),
                _ => return Err(format!("test: --containerd needs 1.6, 2 or all\n{USAGE}")),
            },
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("test: unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Some((no_vm, containerd)))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let (target, args) = crate::cross::take_arch(args)?;
    let Some((no_vm, containerd)) = parse(&args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    require_root("cargo xtask test")?;
    if let Some(target) = target {
        return cross(target, &args);
    }
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
    crate::vm::run(&["--containerd".into(), containerd])
}

/// `cargo test` of the workspace cross-built for `target` and run under
/// qemu-user, but for [`QEMU_USER_GAPS`]. No RPM check, no VM: `cargo xtask rpm
/// --arch aarch64 --check` is the package's.
fn cross(target: &str, args: &[String]) -> Result<(), String> {
    if let Some(a) = args.iter().find(|a| *a != "--no-vm") {
        return Err(format!(
            "test: {a:?} does not go with --arch (it runs no VM boots)\n{USAGE}"
        ));
    }
    crate::setup::ensure("cargo xtask test --arch aarch64", &[needs::CARGO_TEST])?;
    crate::setup::ensure_cross("cargo xtask test --arch aarch64")?;
    let t = Instant::now();
    let mut cmd = crate::cross::cargo();
    // Emulated, every spawn of datavol costs qemu's start-up and translation:
    // the tests' "did not wait" bounds (tests/common `within`) get 3x.
    cmd.env("DATAVOL_TEST_TIME_SCALE", "3");
    cmd.args([
        "test",
        "--workspace",
        "--features",
        "datavol/failpoints",
        "--target",
        target,
        "--",
        "--exact",
    ]);
    for name in QEMU_USER_GAPS {
        cmd.args(["--skip", name]);
    }
    let counts = run_counted(&mut cmd)?;
    eprintln!(
        "xtask test --arch aarch64: cargo test under qemu-user passed in {:.0}s: {} passed, {} ignored, {} skipped by name (QEMU_USER_GAPS in xtask/src/test.rs)",
        t.elapsed().as_secs_f64(),
        counts.0,
        counts.1,
        counts.2
    );
    Ok(())
}

/// Runs cargo test with its output shown, and adds up libtest's summary
/// lines: (passed, ignored, filtered out).
fn run_counted(cmd: &mut std::process::Command) -> Result<(u64, u64, u64), String> {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", crate::util::describe(cmd)))?;
    let mut counts = (0, 0, 0);
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let n = |what: &str| -> u64 {
                    rest.split(';')
                        .find_map(|f| f.trim().strip_suffix(what))
                        .and_then(|f| f.split_whitespace().last())
                        .and_then(|f| f.parse().ok())
                        .unwrap_or(0)
                };
                counts.0 += n(" passed");
                counts.1 += n(" ignored");
                counts.2 += n(" filtered out");
            }
        }
    }
    let st = child
        .wait()
        .map_err(|e| format!("{}: {e}", crate::util::describe(cmd)))?;
    if !st.success() {
        return Err(format!("{} failed ({st})", crate::util::describe(cmd)));
    }
    Ok(counts)
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
