//! The delayed-source fixture: a small containerd-like tree read through a
//! device-mapper `delay` target (a lazily hydrated EBS snapshot). The host kernel has no
//! device-mapper, so the copies run inside the VM rig: one boot, declared as a scenario
//! like the boot tests and run by the same runner, whose checker
//! (xtask/vm/payload/checks/delayed-source.sh) times each tool and reports
//! `bench.<tool>.<round>=secs sync_secs cpu rss_kib`.
use super::loopfs::{allocated, LoopFs};
use super::tree::{build_containerd, DELAYED};
use super::{Opts, Sample};
use crate::vm::scenario::{Boot, DiskSpec, GuestFile, Make, Scenario};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Builds the tree on its own xfs image, boots the VM with it, returns one sample per
/// tool and round.
pub fn run(o: &Opts, work: &Path) -> Result<Vec<Sample>, String> {
    let t = Instant::now();
    let src = LoopFs::new(work, "delayed", 1)?;
    let (files, dirs) = build_containerd(&src.mnt, DELAYED)?;
    let bytes = allocated(&src.mnt)?;
    eprintln!(
        "bench: delayed tree: {files} files/specials, ~{dirs} dirs, {} MB allocated, built in {:.0}s",
        bytes / 1_000_000,
        t.elapsed().as_secs_f64()
    );
    let img = src.into_image()?;
    let tools: Vec<&'static str> = ["datavol", "cp", "rsync"]
        .into_iter()
        .filter(|t| o.tools.is_empty() || o.tools.iter().any(|x| x == t))
        .collect();
    eprintln!(
        "bench: delayed: booting the VM rig; every read waits {} ms (dm-delay); {} round(s) of {}",
        o.delay_ms,
        o.repeat,
        tools.join(", ")
    );
    let results = boot(&scenario(o, &img, &tools));
    let _ = fs::remove_file(&img);
    let results = results?;
    let mut out = vec![];
    for &tool in &tools {
        for round in 1..=o.repeat {
            out.push(sample(&results, tool, round, bytes)?);
        }
    }
    Ok(out)
}

/// The fixture as a scenario: the tree's image as disk `src`, a blank `dst`, the RPM
/// (for its datavol) with no volume configured, and the bench's checker.
fn scenario(o: &Opts, source: &Path, tools: &[&str]) -> Scenario {
    let env = vec![
        ("DELAY_MS", o.delay_ms.to_string()),
        ("ROUNDS", o.repeat.to_string()),
        ("WORKERS", o.workers.to_string()),
        ("TOOLS", tools.join(" ")),
    ];
    Scenario {
        name: "bench-delayed-source",
        about: "cargo xtask bench's delayed-source fixture (not a test)",
        disks: vec![
            DiskSpec::virtio("src", Make::File(PathBuf::from(source))),
            DiskSpec::virtio("dst", Make::Blank("2G")),
        ],
        ..bench_scenario("delayed-source", env)
    }
}

/// A bench's one boot: the RPM with no volume, no start timeout for the checker
/// `check` (under xtask/vm/payload/checks), which gets `env`. Name it and add disks.
pub fn bench_scenario(check: &'static str, env: Vec<(&'static str, String)>) -> Scenario {
    Scenario {
        timeout: Duration::from_secs(4 * 3600),
        boots: vec![Boot {
            datavol: Some(String::new()),
            files: vec![GuestFile::text(
                "/etc/systemd/system/vmtest-check.service.d/bench.conf",
                "[Service]\nTimeoutStartSec=infinity\n",
                0o644,
            )],
            env,
            ..Boot::new("bench", check)
        }],
        ..Scenario::default()
    }
}

/// Boots a bench scenario once; a failed boot or checker is an error.
pub fn boot(s: &Scenario) -> Result<crate::vm::Kv, String> {
    super::vm_boots(s)?
        .pop()
        .ok_or_else(|| "the VM reported nothing".into())
}

/// One tool's round from the VM's results, as a bench sample.
fn sample(res: &crate::vm::Kv, tool: &str, round: usize, bytes: u64) -> Result<Sample, String> {
    let key = format!("bench.{tool}.{round}");
    let v = res
        .get(&key)
        .ok_or_else(|| format!("the VM reported no {key}"))?;
    let f: Vec<f64> = v
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let [secs, sync_secs, cpu, rss] = f[..] else {
        return Err(format!("{key}={v:?}: want 4 numbers"));
    };
    let tool = match tool {
        "datavol" => "datavol",
        "cp" => "cp -a",
        _ => "rsync -aHAX --sparse",
    };
    eprintln!(
        "bench: {:10} {tool:22} {secs:8.2}s (sync {sync_secs:.2}s, cpu {cpu:.2}s) {:6} MiB RSS (round {round})",
        "delayed",
        rss as u64 / 1024,
    );
    Ok(Sample {
        fixture: "delayed",
        tool: tool.into(),
        secs,
        sync_secs,
        cpu,
        bytes,
        rss_kib: rss as u64,
    })
}
