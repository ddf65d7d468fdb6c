//! `cargo xtask bench [--small] [--datavol PATH] [--workers N] [--keep] [--repeat N]
//!                    [--only containerd,blobs,million,delayed,prewarm] [--tools datavol,cp,rsync,datavol+verify]
//!                    [--no-vm] [--delay-ms N] [--boot [--boots N]]`
//!
//! Measures the migration engine (the release `datavol copy` binary) against
//! `cp -a` and `rsync -aHAX --sparse` on fixture trees that each live on
//! their own loop-backed XFS filesystem, copied to a third one that is
//! re-made before every run. Caches are dropped before each run and the
//! timed section includes `sync -f` of the destination, so every tool pays
//! for its writeback. Peak RSS comes from `/usr/bin/time -f %M`.
//!
//! Fixtures:
//! * containerd: a containerd-like tree: snapshot dirs holding ~100k small
//!   files in deep directories, hardlinks across dirs, symlinks, whiteouts
//!   (char 0:0), trusted.overlay.opaque dirs, user.* xattrs and file
//!   capabilities, plus content blobs (dense and sparse); 2+ GB.
//! * blobs: only the blob directory of the containerd tree (large files).
//! * million: 1M files (mostly empty) for memory.
//! * delayed: a smaller containerd-like tree read through a device-mapper
//!   `delay` target (a lazily hydrated EBS snapshot). The host kernel has no
//!   device-mapper, so this one runs inside the VM rig (`cargo xtask vm-test`'s
//!   image, qemu TCG): the same three tools, in the same run. `--no-vm` skips it.
//! * prewarm (opt-in, `--only prewarm`): the delayed tree plus a 256 MiB blob behind
//!   the same delay target in the VM: the blob read cold, one `dd` of the device,
//!   `datavol prewarm`, and the blob once every block was fetched (bench/prewarm.rs).
//!
//! Needs root, losetup, mkfs.xfs, rsync, cp, dd, mknod, setfattr, /usr/bin/time.
//! xtask must not link datavol-copy: the bench measures the release binary.
//!
//! `--boot` measures something else: what a healthy reboot costs containerd for its
//! data disk, datavol against an fstab line, in the VM rig (bench/boot.rs).
//!
//! Modules: tree (the fixture trees), loopfs (their filesystems), delayed (the VM
//! fixture), prewarm (the pre-warm measurement), boot (the reboot measurement); this
//! file runs the copies, boots the VM scenarios (`vm_boots`) and prints the table.

mod boot;
mod delayed;
mod loopfs;
mod prewarm;
mod tree;

use crate::util::{self, cargo, run_shown, target_dir};
use crate::vm::scenario::{self, Scenario};
use crate::vm::{Arch, Build, Kv, Rig};
use loopfs::{allocated, drop_caches, LoopFs, WorkDir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const USAGE: &str =
    "usage: cargo xtask bench [--small] [--datavol PATH] [--workers N] [--keep] [--repeat N] \
     [--only containerd,blobs,million,delayed,prewarm] [--tools datavol,cp,rsync,datavol+verify] \
     [--no-vm] [--delay-ms N] [--boot [--boots N]]";

struct Opts {
    small: bool,
    datavol: Option<PathBuf>,
    workers: usize,
    keep: bool,
    /// Runs per fixture and tool; the table shows the median.
    repeat: usize,
    /// Fixture names to run (empty: all).
    only: Vec<String>,
    /// Tools to run (empty: all).
    tools: Vec<String>,
    /// Run the delayed-source fixture in the VM rig.
    vm: bool,
    /// The dm-delay target's read latency.
    delay_ms: u32,
    /// `--boot`: only the healthy-reboot measurement, with this many boots per mode.
    boot: Option<usize>,
}

/// The number after option `name`.
fn number<T: std::str::FromStr>(it: &mut std::slice::Iter<String>, name: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    it.next()
        .ok_or(format!("{name} needs a number"))?
        .parse()
        .map_err(|e| format!("{name}: {e}"))
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        small: false,
        datavol: None,
        workers: 8,
        keep: false,
        repeat: 1,
        only: Vec::new(),
        tools: Vec::new(),
        vm: true,
        delay_ms: 10,
        boot: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--small" => o.small = true,
            "--no-vm" => o.vm = false,
            "--delay-ms" => o.delay_ms = number(&mut it, "--delay-ms")?,
            "--keep" => o.keep = true,
            "--repeat" => o.repeat = number::<usize>(&mut it, "--repeat")?.max(1),
            "--only" => {
                let v = it
                    .next()
                    .ok_or("--only needs containerd,blobs,million,delayed,prewarm")?;
                o.only = v.split(',').map(String::from).collect();
            }
            "--tools" => {
                let v = it.next().ok_or("--tools needs datavol,cp,rsync")?;
                o.tools = v.split(',').map(String::from).collect();
            }
            "--datavol" => {
                o.datavol = Some(it.next().ok_or("--datavol needs a path")?.into());
            }
            "--workers" => o.workers = number(&mut it, "--workers")?,
            "--boot" => o.boot = Some(o.boot.unwrap_or(4)),
            "--boots" => o.boot = Some(number::<usize>(&mut it, "--boots")?.max(1)),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("bench: unknown argument {other}")),
        }
    }
    Ok(o)
}

fn io<T>(r: std::io::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

struct Sample {
    fixture: &'static str,
    tool: String,
    secs: f64,
    /// Of `secs`: the final `sync -f`.
    sync_secs: f64,
    /// User + system CPU seconds of the tool.
    cpu: f64,
    bytes: u64,
    rss_kib: u64,
}

struct Timing {
    secs: f64,
    sync_secs: f64,
    cpu: f64,
    rss_kib: u64,
}

/// Runs one copy with /usr/bin/time; the wall time includes `sync -f DST`.
fn timed(cmd: &[String], dst: &Path, rss_file: &Path) -> Result<Timing, String> {
    drop_caches()?;
    let t = Instant::now();
    util::run(
        Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M %U %S")
            .arg("-o")
            .arg(rss_file)
            .args(cmd),
    )?;
    let copied = t.elapsed().as_secs_f64();
    util::run(Command::new("sync").arg("-f").arg(dst))?;
    let secs = t.elapsed().as_secs_f64();
    let text = io(fs::read_to_string(rss_file), "read rss")?;
    let fields: Vec<f64> = text
        .lines()
        .next_back()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [rss, user, sys] = fields[..] else {
        return Err(format!("cannot parse /usr/bin/time output {text:?}"));
    };
    Ok(Timing {
        secs,
        sync_secs: secs - copied,
        cpu: user + sys,
        rss_kib: rss as u64,
    })
}

fn dd_bandwidth(dst: &mut LoopFs, mib: u64) -> Result<f64, String> {
    dst.remake()?;
    drop_caches()?;
    let f = dst.mnt.join("dd.out");
    let t = Instant::now();
    util::run(Command::new("dd").args([
        "if=/dev/zero",
        &format!("of={}", f.display()),
        "bs=4M",
        &format!("count={}", mib / 4),
        "conv=fsync",
        "status=none",
    ]))?;
    Ok(mib as f64 * 1048576.0 / 1e6 / t.elapsed().as_secs_f64())
}

fn find_datavol(o: &Opts) -> Result<PathBuf, String> {
    if let Some(d) = &o.datavol {
        return Ok(d.clone());
    }
    eprintln!("bench: building the release datavol binary");
    run_shown(cargo().args(["build", "--release", "-p", "datavol"]))?;
    let bin = target_dir().join("release/datavol");
    if !bin.is_file() {
        return Err(format!("{} not found after the build", bin.display()));
    }
    Ok(bin)
}

fn check_env(o: &Opts) -> Result<(), String> {
    crate::util::require_root("cargo xtask bench")?;
    use crate::preflight::{check, needs};
    let mut groups = vec![needs::BENCH];
    if o.vm {
        groups.push(needs::VM);
    }
    check("cargo xtask bench", &groups)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    check_env(&o)?;
    if let Some(n) = o.boot {
        return boot::run(n);
    }
    let datavol = find_datavol(&o)?;
    let work = WorkDir {
        path: PathBuf::from(format!("/var/tmp/datavol-bench-{}", std::process::id())),
        keep: o.keep,
    };
    io(fs::create_dir_all(&work.path), "mkdir work dir")?;
    // Opt-in: only `--only prewarm` (or a list naming it) runs it.
    if o.only.iter().any(|f| f == "prewarm") {
        if !o.vm {
            return Err("--only prewarm needs the VM rig; drop --no-vm".into());
        }
        prewarm::run(&o, &work.path)?;
        if o.only.len() == 1 {
            return Ok(());
        }
    }
    let (a_gib, b_gib, d_gib) = if o.small { (2, 2, 4) } else { (8, 8, 12) };
    let a = LoopFs::new(&work.path, "containerd", a_gib)?;
    let b = LoopFs::new(&work.path, "million", b_gib)?;
    let mut d = LoopFs::new(&work.path, "dst", d_gib)?;
    let (ctr, many) = build_fixtures(&o, &a.mnt, &b.mnt)?;

    let blobs = ctr.join("io.containerd.content.v1.content/blobs");
    let fixtures: [(&'static str, &Path); 3] =
        [("containerd", &ctr), ("blobs", &blobs), ("million", &many)];
    let rss_file = work.path.join("rss");
    let mut samples = Vec::new();
    // The destination's raw bandwidth drifts on shared hardware: measure it
    // before each fixture and at the end, and use the median.
    let dd_mib = if o.small { 512 } else { 2048 };
    let mut dds = Vec::new();
    for (name, src) in fixtures {
        if !o.wants(name) {
            continue;
        }
        dds.push(dd_bandwidth(&mut d, dd_mib)?);
        samples.extend(copies(&o, &datavol, name, src, &mut d, &rss_file)?);
    }
    if o.wants("delayed") {
        if o.vm {
            samples.extend(delayed::run(&o, &work.path)?);
        } else {
            eprintln!("bench: --no-vm: the delayed-source fixture did NOT run");
        }
    }
    dds.push(dd_bandwidth(&mut d, dd_mib)?);
    dds.sort_by(|a, b| a.total_cmp(b));
    report(&o, &samples, &dds);
    Ok(())
}

/// Boots a bench's VM scenario (delayed, prewarm, boot) with the package `cargo xtask
/// rpm` builds for this host; a failed boot or checker is an error. Returns each boot's
/// results.
fn vm_boots(s: &Scenario) -> Result<Vec<Kv>, String> {
    let rig = Rig::open(false, Arch::default(), &[s.containerd])?;
    let build = Build {
        package: crate::rpm::build_host_package("1"),
        upgrade: Err("not needed".into()),
        datavol: Err("not used by the bench".into()),
        override_bin: false,
    };
    let mut ctx = rig.ctx(s, build, false, true)?;
    let results = scenario::run(&mut ctx, s)?;
    if !ctx.failures.is_empty() {
        return Err(format!(
            "the {} VM run failed (work dir {}):\n  {}",
            s.name,
            ctx.dir.display(),
            ctx.failures.join("\n  ")
        ));
    }
    Ok(results)
}

impl Opts {
    fn wants(&self, fixture: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|x| x == fixture)
    }
}

/// The containerd tree (also the blobs fixture) and the many-files tree, each when
/// asked for. Returns their roots.
fn build_fixtures(o: &Opts, a: &Path, b: &Path) -> Result<(PathBuf, PathBuf), String> {
    let ctr = a.join("containerd");
    if o.wants("containerd") || o.wants("blobs") {
        let t = Instant::now();
        let shape = if o.small { tree::SMALL } else { tree::FULL };
        let (files, dirs) = tree::build_containerd(&ctr, shape)?;
        eprintln!(
            "bench: containerd tree: {files} files/specials, ~{dirs} dirs, {} MB allocated, built in {:.0}s",
            allocated(&ctr)? / 1_000_000,
            t.elapsed().as_secs_f64()
        );
    }
    let n = if o.small { 100_000 } else { 1_000_000 };
    let many = b.join("million");
    if o.wants("million") {
        let t = Instant::now();
        tree::build_million(&many, n)?;
        eprintln!(
            "bench: many-files tree: {n} files, built in {:.0}s",
            t.elapsed().as_secs_f64()
        );
    }
    Ok((ctr, many))
}

/// Every asked-for tool copies `src` onto a fresh `d`, `o.repeat` times.
fn copies(
    o: &Opts,
    datavol: &Path,
    name: &'static str,
    src: &Path,
    d: &mut LoopFs,
    rss_file: &Path,
) -> Result<Vec<Sample>, String> {
    let bytes = allocated(src)?;
    // "datavol+verify" (copy, then verify_tree) only runs when asked for
    // with --tools.
    let tools = ["datavol", "cp -a", "rsync -aHAX --sparse", "datavol+verify"];
    // Repeats rotate the order so no tool always runs first.
    let runs: Vec<&str> = (0..o.repeat)
        .flat_map(|r| (0..tools.len()).map(move |i| tools[(i + r) % tools.len()]))
        .collect();
    let mut samples = vec![];
    for tool in runs {
        let short = tool.split([' ']).next().unwrap_or(tool);
        let asked = o.tools.iter().any(|t| t == short);
        if (!o.tools.is_empty() || tool == "datavol+verify") && !asked {
            continue;
        }
        d.remake()?;
        let dst = d.mnt.join("dst");
        io(fs::create_dir(&dst), "mkdir dst")?;
        let cmd = copy_command(tool, datavol, o.workers, src, &dst);
        let tm = timed(&cmd, &d.mnt, rss_file)?;
        eprintln!(
            "bench: {name:10} {tool:22} {:8.2}s (sync {:.2}s, cpu {:.2}s) {:6} MiB RSS",
            tm.secs,
            tm.sync_secs,
            tm.cpu,
            tm.rss_kib / 1024
        );
        samples.push(Sample {
            fixture: name,
            tool: tool.into(),
            secs: tm.secs,
            sync_secs: tm.sync_secs,
            cpu: tm.cpu,
            bytes,
            rss_kib: tm.rss_kib,
        });
    }
    Ok(samples)
}

/// The command line of one tool's copy of `src` into `dst`.
fn copy_command(tool: &str, datavol: &Path, workers: usize, src: &Path, dst: &Path) -> Vec<String> {
    let (s, t) = (src.display().to_string(), dst.display().to_string());
    let datavol = datavol.display().to_string();
    match tool {
        "datavol" => vec![
            datavol,
            "copy".into(),
            "--no-verify".into(),
            "--workers".into(),
            workers.to_string(),
            s,
            t,
        ],
        "datavol+verify" => vec![
            datavol,
            "copy".into(),
            "--workers".into(),
            workers.to_string(),
            s,
            t,
        ],
        "cp -a" => vec!["cp".into(), "-a".into(), format!("{s}/."), t],
        _ => vec![
            "rsync".into(),
            "-aHAX".into(),
            "--sparse".into(),
            "--numeric-ids".into(),
            format!("{s}/"),
            format!("{t}/"),
        ],
    }
}

/// Median run (by wall time) of each fixture/tool pair, with the pair's peak RSS.
fn medians(samples: &[Sample]) -> Vec<(&Sample, u64)> {
    let mut rows: Vec<(&Sample, u64)> = Vec::new();
    for s in samples {
        if rows
            .iter()
            .any(|(r, _)| r.fixture == s.fixture && r.tool == s.tool)
        {
            continue;
        }
        let mut same: Vec<&Sample> = samples
            .iter()
            .filter(|c| c.fixture == s.fixture && c.tool == s.tool)
            .collect();
        same.sort_by(|a, b| a.secs.total_cmp(&b.secs));
        let rss = same.iter().map(|c| c.rss_kib).max().unwrap_or(0);
        rows.push((same[same.len() / 2], rss));
    }
    rows
}

/// The table (markdown), then the targets; `dds` sorted.
fn report(o: &Opts, samples: &[Sample], dds: &[f64]) {
    let dd = dds[dds.len() / 2];
    let dd_all: Vec<String> = dds.iter().map(|v| format!("{v:.0}")).collect();
    println!(
        "\n{} run, {} workers, median of {} run(s); destination dd write bandwidth: \
         {dd:.0} MB/s (median of {} MB/s)\n",
        if o.small { "--small" } else { "full" },
        o.workers,
        o.repeat,
        dd_all.join(", ")
    );
    println!(
        "| fixture | tool | wall s | of which sync s | CPU s | MB/s | x cp -a | % of dd | peak RSS MiB |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let rows = medians(samples);
    for (s, rss) in &rows {
        let cp = rows
            .iter()
            .find(|(c, _)| c.fixture == s.fixture && c.tool == "cp -a")
            .map(|(c, _)| c.secs)
            .unwrap_or(f64::NAN);
        let mbs = s.bytes as f64 / 1e6 / s.secs;
        // The VM's disk is not the host's: the host dd figure says nothing there.
        let of_dd = if s.fixture == "delayed" {
            "-".to_string()
        } else {
            format!("{:.0}%", 100.0 * mbs / dd)
        };
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {of_dd} | {:.1} |",
            s.fixture,
            s.tool,
            s.secs,
            s.sync_secs,
            s.cpu,
            mbs,
            s.secs / cp,
            *rss as f64 / 1024.0
        );
    }
    if rows.iter().any(|(s, _)| s.fixture == "delayed") {
        println!(
            "\ndelayed: copied inside the VM rig (qemu, 2 vCPUs), the source read through \
             dm-delay with {} ms per read; MB/s and RSS are the guest's",
            o.delay_ms
        );
    }
    let lines = targets(&rows, dd);
    if !lines.is_empty() {
        println!("\ntargets:");
        for l in lines {
            println!("- {l}");
        }
    }
}

/// The targets, from this run's medians.
fn targets(rows: &[(&Sample, u64)], dd: f64) -> Vec<String> {
    let find = |f: &str, t: &str| rows.iter().find(|(r, _)| r.fixture == f && r.tool == t);
    let mut lines = vec![];
    if let (Some((d, _)), Some((c, _))) =
        (find("containerd", "datavol"), find("containerd", "cp -a"))
    {
        let x = d.secs / c.secs;
        lines.push(format!(
            "containerd wall <= 0.7x cp -a: {x:.2}x: {}",
            met(x <= 0.7)
        ));
    }
    if let Some((b, _)) = find("blobs", "datavol") {
        let pct = 100.0 * b.bytes as f64 / 1e6 / b.secs / dd;
        lines.push(format!(
            "blobs >= 80% of dd: {pct:.0}%: {}",
            met(pct >= 80.0)
        ));
    }
    if let (Some((d, _)), Some((c, _))) = (find("delayed", "datavol"), find("delayed", "cp -a")) {
        let x = c.secs / d.secs;
        lines.push(format!(
            "delayed >= 3x faster than cp -a: {x:.1}x: {}",
            met(x >= 3.0)
        ));
    }
    if let Some((_, rss)) = find("million", "datavol") {
        let mib = *rss as f64 / 1024.0;
        lines.push(format!(
            "million peak RSS <= 64 MiB: {mib:.1} MiB: {}",
            met(mib <= 64.0)
        ));
    }
    lines
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}
