//! `cargo xtask bench --only prewarm`: what `datavol prewarm` buys on a lazily loaded
//! disk. The delayed fixture's tree plus one big blob, on its own xfs image, read in the
//! VM rig through a device-mapper delay target (xtask/vm/payload/checks/prewarm-bench.sh):
//! one big blob read cold (as containerd reads it to unpack), a single `dd` of the
//! device (AWS's initialization advice), the pre-warm, and the blob again once every
//! block was fetched. Prints a table; opt-in (not part of a plain `bench` run).
use super::delayed::{bench_scenario, boot};
use super::loopfs::LoopFs;
use super::tree::{build_containerd, DELAYED};
use super::Opts;
use crate::util;
use crate::vm::scenario::{DiskSpec, Make, Scenario};
use crate::vm::Kv;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The blob the first pod would read.
const BIG_BLOB_MIB: u64 = 256;

pub fn run(o: &Opts, work: &Path) -> Result<(), String> {
    let src = LoopFs::new(work, "prewarm", 1)?;
    build_containerd(&src.mnt, DELAYED)?;
    let blob = src
        .mnt
        .join("io.containerd.content.v1.content/blobs/sha256")
        .join(format!("{:064x}", 0xb16_b10b_u64));
    util::run(
        Command::new("dd")
            .args(["if=/dev/urandom", "bs=4M", "status=none"])
            .arg(format!("count={}", BIG_BLOB_MIB / 4))
            .arg(format!("of={}", blob.display())),
    )?;
    let img = src.into_image()?;
    eprintln!(
        "bench: prewarm: booting the VM rig; every read waits {} ms (dm-delay); {} round(s)",
        o.delay_ms, o.repeat
    );
    let res = boot(&scenario(o, &img));
    let _ = std::fs::remove_file(&img);
    report(o, &res?)
}

fn scenario(o: &Opts, source: &Path) -> Scenario {
    let env = vec![
        ("DELAY_MS", o.delay_ms.to_string()),
        ("ROUNDS", o.repeat.to_string()),
    ];
    Scenario {
        name: "bench-prewarm",
        about: "cargo xtask bench's pre-warm fixture (not a test)",
        disks: vec![DiskSpec::virtio("src", Make::File(PathBuf::from(source)))],
        ..bench_scenario("prewarm-bench", env)
    }
}

/// (seconds, bytes) of each round of `what`.
fn rounds(res: &Kv, what: &str, n: usize) -> Result<Vec<(f64, u64)>, String> {
    (1..=n)
        .map(|r| {
            let key = format!("bench.{what}.{r}");
            let v = res.get(&key).ok_or(format!("the VM reported no {key}"))?;
            let mut it = v.split_whitespace();
            match (
                it.next().and_then(|s| s.parse().ok()),
                it.next().and_then(|b| b.parse().ok()),
            ) {
                (Some(s), Some(b)) => Ok((s, b)),
                _ => Err(format!("{key}={v:?}: want seconds and bytes")),
            }
        })
        .collect()
}

fn median(v: &[(f64, u64)]) -> (f64, u64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    s[s.len() / 2]
}

fn report(o: &Opts, res: &Kv) -> Result<(), String> {
    let rows = [
        (
            "blob_cold",
            "one 256 MiB blob, cold (`dd bs=1M` of the file, as containerd reads it)",
        ),
        (
            "dd",
            "the whole device, one stream (`dd if=DEV of=/dev/null bs=1M`)",
        ),
        (
            "prewarm",
            "`datavol prewarm` (blobs, then the whole device; 32 x 512 KiB O_DIRECT)",
        ),
        (
            "blob_warm",
            "the same blob after a finished pre-warm (every block fetched)",
        ),
    ];
    println!(
        "\npre-warm on a delayed disk: {} ms per read (dm-delay), median of {} round(s); blob: {}",
        o.delay_ms,
        o.repeat,
        res.get("blob").unwrap_or("?")
    );
    println!("\n| read | s | MB/s | runs (s) |\n|---|---:|---:|---|");
    for (what, label) in rows {
        let v = rounds(res, what, o.repeat)?;
        let (s, b) = median(&v);
        let all: Vec<String> = v.iter().map(|(s, _)| format!("{s:.2}")).collect();
        println!(
            "| {label} | {s:.2} | {:.0} | {} |",
            b as f64 / s.max(0.001) / 1e6,
            all.join(", ")
        );
    }
    println!(
        "\nprewarm marker: {}",
        res.get("prewarm.marker").unwrap_or("?")
    );
    Ok(())
}
