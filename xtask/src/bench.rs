//! `cargo xtask bench [--small] [--datavol PATH] [--workers N] [--keep] [--repeat N]
//!                    [--only containerd,blobs,million,delayed] [--tools datavol,cp,rsync,datavol+verify]
//!                    [--no-vm] [--delay-ms N]`
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
//!
//! Needs root, losetup, mkfs.xfs, rsync, cp, dd, mknod, setfattr, /usr/bin/time.
//! Uses only std: xtask has no dependencies and must not link datavol-copy.

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, FileExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

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
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--small" => o.small = true,
            "--no-vm" => o.vm = false,
            "--delay-ms" => {
                o.delay_ms = it
                    .next()
                    .ok_or("--delay-ms needs a number")?
                    .parse()
                    .map_err(|e| format!("--delay-ms: {e}"))?;
            }
            "--keep" => o.keep = true,
            "--repeat" => {
                o.repeat = it
                    .next()
                    .ok_or("--repeat needs a number")?
                    .parse()
                    .map_err(|e| format!("--repeat: {e}"))?;
                o.repeat = o.repeat.max(1);
            }
            "--only" => {
                let v = it
                    .next()
                    .ok_or("--only needs containerd,blobs,million,delayed")?;
                o.only = v.split(',').map(String::from).collect();
            }
            "--tools" => {
                let v = it.next().ok_or("--tools needs datavol,cp,rsync")?;
                o.tools = v.split(',').map(String::from).collect();
            }
            "--datavol" => {
                o.datavol = Some(it.next().ok_or("--datavol needs a path")?.into());
            }
            "--workers" => {
                o.workers = it
                    .next()
                    .ok_or("--workers needs a number")?
                    .parse()
                    .map_err(|e| format!("--workers: {e}"))?;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: cargo xtask bench [--small] [--datavol PATH] [--workers N] [--keep] [--repeat N] \
                     [--only containerd,blobs,million,delayed] [--tools datavol,cp,rsync,datavol+verify] \
                     [--no-vm] [--delay-ms N]"
                        .into(),
                )
            }
            other => return Err(format!("bench: unknown argument {other}")),
        }
    }
    Ok(o)
}

fn sh(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {}: {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap_or("")
}

fn io<T>(r: std::io::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// A loop-backed XFS filesystem; unmounted and detached on drop.
struct LoopFs {
    img: PathBuf,
    mnt: PathBuf,
    dev: String,
    mounted: bool,
}

impl LoopFs {
    fn new(dir: &Path, name: &str, gib: u64) -> Result<LoopFs, String> {
        let img = dir.join(format!("{name}.img"));
        let f = io(fs::File::create(&img), "create image")?;
        io(f.set_len(gib << 30), "size image")?;
        drop(f);
        let mnt = dir.join(name);
        io(fs::create_dir_all(&mnt), "mkdir mount point")?;
        let dev = sh("losetup", &["--find", "--show", "--direct-io=on", p(&img)])?
            .trim()
            .to_string();
        if !dev.starts_with("/dev/loop") {
            return Err(format!("losetup gave {dev:?}"));
        }
        let mut fs = LoopFs {
            img,
            mnt,
            dev,
            mounted: false,
        };
        fs.remake()?;
        Ok(fs)
    }

    /// Fresh, empty filesystem.
    fn remake(&mut self) -> Result<(), String> {
        if self.mounted {
            sh("umount", &[p(&self.mnt)])?;
            self.mounted = false;
        }
        // Right after umount, udev may still hold the device open for a probe.
        let mut tries = 0;
        loop {
            match sh("mkfs.xfs", &["-q", "-f", &self.dev]) {
                Ok(_) => break,
                Err(e) if tries < 20 && e.contains("busy") => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
        sh("mount", &["-t", "xfs", &self.dev, p(&self.mnt)])?;
        self.mounted = true;
        Ok(())
    }
}

impl LoopFs {
    /// Unmounts and detaches it, and hands over its image file (for the VM to attach).
    fn into_image(mut self) -> Result<PathBuf, String> {
        sh("umount", &[p(&self.mnt)])?;
        self.mounted = false;
        sh("losetup", &["-d", &self.dev])?;
        self.dev.clear();
        Ok(std::mem::take(&mut self.img))
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.mnt).status();
        }
        if !self.dev.is_empty() {
            let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
        }
        if !self.img.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.img);
        }
    }
}

struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Deterministic pseudo-random generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn write_noise(path: &Path, len: u64, rng: &mut Rng, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut f = io(fs::File::create(path), "create file")?;
    let mut left = len;
    while left > 0 {
        let n = left.min(4 << 20) as usize;
        buf.resize(n, 0);
        rng.fill(&mut buf[..n]);
        io(f.write_all(&buf[..n]), "write file")?;
        left -= n as u64;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The containerd-like tree. Returns (files, dirs) created.
/// The size of a containerd-like tree: snapshots × files per snapshot, two
/// dense blobs and one sparse blob (a quarter of it data).
#[derive(Clone, Copy)]
struct Shape {
    snapshots: u64,
    files_per: u64,
    blob_dense: u64,
    blob_sparse: u64,
}

const FULL: Shape = Shape {
    snapshots: 40,
    files_per: 2500,
    blob_dense: 512 << 20,
    blob_sparse: 1 << 30,
};
const SMALL: Shape = Shape {
    snapshots: 8,
    files_per: 1250,
    blob_dense: 64 << 20,
    blob_sparse: 256 << 20,
};
/// Small enough for a copy under qemu TCG, where the CPU is ~10x slower.
const DELAYED: Shape = Shape {
    snapshots: 2,
    files_per: 1500,
    blob_dense: 16 << 20,
    blob_sparse: 64 << 20,
};

fn build_containerd(root: &Path, shape: Shape) -> Result<(u64, u64), String> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut buf = Vec::new();
    let Shape {
        snapshots,
        files_per,
        blob_dense,
        blob_sparse,
    } = shape;

    // Content store blobs: two dense, one sparse (data every 4 MiB of 16 MiB).
    let blobs = root.join("io.containerd.content.v1.content/blobs/sha256");
    io(fs::create_dir_all(&blobs), "mkdir blobs")?;
    for i in 0..2u64 {
        let name = format!("{:064x}", 0xb10b_0000 + i);
        write_noise(&blobs.join(name), blob_dense, &mut rng, &mut buf)?;
    }
    {
        let f = io(
            fs::File::create(blobs.join(format!("{:064x}", 0x5a55e))),
            "create sparse blob",
        )?;
        let mut chunk = vec![0u8; 4 << 20];
        let mut off = 0u64;
        while off < blob_sparse {
            rng.fill(&mut chunk);
            io(f.write_all_at(&chunk, off), "write sparse blob")?;
            off += 16 << 20;
        }
        io(f.set_len(blob_sparse), "size sparse blob")?;
    }
    io(
        fs::create_dir_all(root.join("io.containerd.metadata.v1.bolt")),
        "mkdir",
    )?;
    write_noise(
        &root.join("io.containerd.metadata.v1.bolt/meta.db"),
        8 << 20,
        &mut rng,
        &mut buf,
    )?;

    // Snapshots: rootfs-like trees.
    let tops = ["usr", "etc", "var", "opt", "lib"];
    let mids = [
        "lib",
        "share",
        "bin",
        "python3",
        "site-packages",
        "include",
        "doc",
        "locale",
        "x86_64",
        "node_modules",
    ];
    let mut dump = String::new();
    let mut whiteouts = Vec::new();
    let (mut files, mut dirs) = (0u64, 0u64);
    for s in 1..=snapshots {
        let fsroot = root.join(format!(
            "io.containerd.snapshotter.v1.overlayfs/snapshots/{s}/fs"
        ));
        io(fs::create_dir_all(&fsroot), "mkdir snapshot")?;
        io(
            fs::create_dir_all(root.join(format!(
                "io.containerd.snapshotter.v1.overlayfs/snapshots/{s}/work"
            ))),
            "mkdir work",
        )?;
        let mut made: Vec<PathBuf> = Vec::new();
        let mut dir_list: Vec<PathBuf> = Vec::new();
        let mut i = 0;
        while i < files_per {
            // A directory 3..8 levels deep, holding a burst of 5..40 files.
            let depth = 3 + rng.below(6);
            let mut d = fsroot.join(tops[rng.below(tops.len() as u64) as usize]);
            for _ in 1..depth {
                d = d.join(format!(
                    "{}{}",
                    mids[rng.below(mids.len() as u64) as usize],
                    rng.below(4)
                ));
            }
            if !d.exists() {
                io(fs::create_dir_all(&d), "mkdir tree")?;
                dirs += depth;
                dir_list.push(d.clone());
                if rng.below(20) == 0 {
                    let rel = d.strip_prefix(root).unwrap_or(&d);
                    let _ = writeln!(
                        dump,
                        "# file: {}\ntrusted.overlay.opaque=\"y\"\n",
                        rel.display()
                    );
                }
            }
            let burst = 5 + rng.below(36);
            for _ in 0..burst {
                if i >= files_per {
                    break;
                }
                i += 1;
                let name = d.join(format!(
                    "f{i:05}.{}",
                    ["so", "py", "txt", "conf", "js"][rng.below(5) as usize]
                ));
                let r = rng.below(1000);
                if r < 30 && !made.is_empty() {
                    // A hardlink to an earlier file, often in another directory.
                    let t = &made[rng.below(made.len() as u64) as usize];
                    io(fs::hard_link(t, &name), "hardlink")?;
                    continue;
                }
                if r < 80 {
                    io(
                        symlink(format!("../lib/target{}", rng.below(100)), &name),
                        "symlink",
                    )?;
                    continue;
                }
                if r < 85 {
                    whiteouts.push(name);
                    continue;
                }
                let b = rng.below(1000);
                let size = if b < 750 {
                    rng.below(4096)
                } else if b < 950 {
                    4096 + rng.below(28 << 10)
                } else if b < 995 {
                    (32 << 10) + rng.below(224 << 10)
                } else {
                    (256 << 10) + rng.below(768 << 10)
                };
                write_noise(&name, size, &mut rng, &mut buf)?;
                files += 1;
                let rel = name.strip_prefix(root).unwrap_or(&name).to_path_buf();
                if rng.below(10) == 0 {
                    let _ = writeln!(
                        dump,
                        "# file: {}\nuser.checksum=\"{:016x}\"\n",
                        rel.display(),
                        rng.next()
                    );
                } else if rng.below(200) == 0 {
                    let mut cap = Vec::new();
                    cap.extend_from_slice(&0x0200_0001u32.to_le_bytes());
                    cap.extend_from_slice(&(1u32 << 13).to_le_bytes());
                    cap.extend_from_slice(&[0u8; 12]);
                    let _ = writeln!(
                        dump,
                        "# file: {}\nsecurity.capability={}\n",
                        rel.display(),
                        hex(&cap)
                    );
                }
                made.push(name);
            }
        }
        let _ = dir_list;
    }
    // Whiteouts (char 0:0), as overlayfs leaves them in upper layers.
    for w in &whiteouts {
        sh("mknod", &[p(w), "c", "0", "0"])?;
        files += 1;
    }
    let dump_path = root.join("xattrs.dump");
    io(fs::write(&dump_path, dump), "write xattr dump")?;
    let st = Command::new("setfattr")
        .arg(format!("--restore={}", p(&dump_path)))
        .current_dir(root)
        .status()
        .map_err(|e| format!("setfattr: {e}"))?;
    io(fs::remove_file(&dump_path), "remove dump")?;
    if !st.success() {
        return Err("setfattr --restore failed".into());
    }
    Ok((files, dirs))
}

/// The many-files tree: `n` files, 1000 per directory, one in ten 1 KiB.
fn build_million(root: &Path, n: u64) -> Result<(), String> {
    let data = [0x5au8; 1024];
    for i in 0..n {
        let d = root.join(format!(
            "d{:03}/e{:03}",
            i / 1_000_000 % 1000,
            i / 1000 % 1000
        ));
        if i % 1000 == 0 {
            io(fs::create_dir_all(&d), "mkdir")?;
        }
        let f = d.join(format!("file{:04}", i % 1000));
        if i % 10 == 0 {
            io(fs::write(&f, data), "write")?;
        } else {
            io(fs::File::create(&f), "create")?;
        }
    }
    Ok(())
}

fn drop_caches() -> Result<(), String> {
    sh("sync", &[])?;
    io(fs::write("/proc/sys/vm/drop_caches", "3\n"), "drop caches")
}

/// Allocated bytes of a tree (what must really be written).
fn allocated(path: &Path) -> Result<u64, String> {
    let out = sh("du", &["-s", "-B1", p(path)])?;
    out.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("du output {out:?}"))
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
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M %U %S")
        .arg("-o")
        .arg(rss_file)
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let copied = t.elapsed().as_secs_f64();
    sh("sync", &["-f", p(dst)])?;
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
    sh(
        "dd",
        &[
            "if=/dev/zero",
            &format!("of={}", p(&f)),
            "bs=4M",
            &format!("count={}", mib / 4),
            "conv=fsync",
            "status=none",
        ],
    )?;
    Ok(mib as f64 * 1048576.0 / 1e6 / t.elapsed().as_secs_f64())
}

/// The delayed-source fixture, copied inside the VM rig (see the module doc).
fn delayed(o: &Opts, work: &Path) -> Result<Vec<Sample>, String> {
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
    let runs = crate::vm::bench_delayed(&crate::vm::DelayedBench {
        source: &img,
        delay_ms: o.delay_ms,
        rounds: o.repeat,
        workers: o.workers,
        tools,
    });
    let _ = fs::remove_file(&img);
    let mut out = vec![];
    for r in runs? {
        let tool = match r.tool {
            "datavol" => "datavol",
            "cp" => "cp -a",
            _ => "rsync -aHAX --sparse",
        };
        eprintln!(
            "bench: {:10} {tool:22} {:8.2}s (sync {:.2}s, cpu {:.2}s) {:6} MiB RSS (round {})",
            "delayed",
            r.secs,
            r.sync_secs,
            r.cpu,
            r.rss_kib / 1024,
            r.round
        );
        out.push(Sample {
            fixture: "delayed",
            tool: tool.into(),
            secs: r.secs,
            sync_secs: r.sync_secs,
            cpu: r.cpu,
            bytes,
            rss_kib: r.rss_kib,
        });
    }
    Ok(out)
}

fn find_datavol(o: &Opts, root: &Path) -> Result<PathBuf, String> {
    if let Some(d) = &o.datavol {
        return Ok(d.clone());
    }
    eprintln!("bench: building the release datavol binary");
    let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "datavol"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !st.success() {
        return Err("cargo build --release -p datavol failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release/datavol");
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
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_path_buf();
    let datavol = find_datavol(&o, &ws)?;

    let work = WorkDir {
        path: PathBuf::from(format!("/var/tmp/datavol-bench-{}", std::process::id())),
        keep: o.keep,
    };
    io(fs::create_dir_all(&work.path), "mkdir work dir")?;
    let (a_gib, b_gib, d_gib) = if o.small { (2, 2, 4) } else { (8, 8, 12) };
    let a = LoopFs::new(&work.path, "containerd", a_gib)?;
    let b = LoopFs::new(&work.path, "million", b_gib)?;
    let mut d = LoopFs::new(&work.path, "dst", d_gib)?;

    let want = |f: &str| o.only.is_empty() || o.only.iter().any(|x| x == f);
    let ctr = a.mnt.join("containerd");
    if want("containerd") || want("blobs") {
        let t = Instant::now();
        let (files, dirs) = build_containerd(&ctr, if o.small { SMALL } else { FULL })?;
        eprintln!(
            "bench: containerd tree: {files} files/specials, ~{dirs} dirs, {} MB allocated, built in {:.0}s",
            allocated(&ctr)? / 1_000_000,
            t.elapsed().as_secs_f64()
        );
    }
    let n = if o.small { 100_000 } else { 1_000_000 };
    let many = b.mnt.join("million");
    if want("million") {
        let t = Instant::now();
        build_million(&many, n)?;
        eprintln!(
            "bench: many-files tree: {n} files, built in {:.0}s",
            t.elapsed().as_secs_f64()
        );
    }

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
        if !want(name) {
            continue;
        }
        dds.push(dd_bandwidth(&mut d, dd_mib)?);
        let bytes = allocated(src)?;
        // "datavol+verify" (copy, then verify_tree) only runs when asked for
        // with --tools.
        let tools = ["datavol", "cp -a", "rsync -aHAX --sparse", "datavol+verify"];
        // Repeats rotate the order so no tool always runs first.
        let runs: Vec<&str> = (0..o.repeat)
            .flat_map(|r| (0..tools.len()).map(move |i| tools[(i + r) % tools.len()]))
            .collect();
        for tool in runs {
            let short = tool.split([' ']).next().unwrap_or(tool);
            let asked = o.tools.iter().any(|t| t == short);
            if (!o.tools.is_empty() || tool == "datavol+verify") && !asked {
                continue;
            }
            d.remake()?;
            let dst = d.mnt.join("dst");
            io(fs::create_dir(&dst), "mkdir dst")?;
            let s = p(src).to_string();
            let t = p(&dst).to_string();
            let cmd: Vec<String> = match tool {
                "datavol" => vec![
                    p(&datavol).into(),
                    "copy".into(),
                    "--no-verify".into(),
                    "--workers".into(),
                    o.workers.to_string(),
                    s,
                    t,
                ],
                "datavol+verify" => vec![
                    p(&datavol).into(),
                    "copy".into(),
                    "--workers".into(),
                    o.workers.to_string(),
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
            };
            let tm = timed(&cmd, &d.mnt, &rss_file)?;
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
    }
    if want("delayed") {
        if o.vm {
            samples.extend(delayed(&o, &work.path)?);
        } else {
            eprintln!("bench: --no-vm: the delayed-source fixture did NOT run");
        }
    }
    dds.push(dd_bandwidth(&mut d, dd_mib)?);
    dds.sort_by(|a, b| a.total_cmp(b));
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
    // Median run (by wall time) of each fixture/tool pair; peak RSS is the max.
    let mut rows: Vec<&Sample> = Vec::new();
    let mut rss_max: Vec<u64> = Vec::new();
    for s in &samples {
        if rows
            .iter()
            .any(|r| r.fixture == s.fixture && r.tool == s.tool)
        {
            continue;
        }
        let mut same: Vec<&Sample> = samples
            .iter()
            .filter(|c| c.fixture == s.fixture && c.tool == s.tool)
            .collect();
        same.sort_by(|a, b| a.secs.total_cmp(&b.secs));
        rss_max.push(same.iter().map(|c| c.rss_kib).max().unwrap_or(0));
        rows.push(same[same.len() / 2]);
    }
    for (s, rss) in rows.iter().zip(&rss_max) {
        let cp = rows
            .iter()
            .find(|c| c.fixture == s.fixture && c.tool == "cp -a")
            .map(|c| c.secs)
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
    if rows.iter().any(|s| s.fixture == "delayed") {
        println!(
            "\ndelayed: copied inside the VM rig (qemu, 2 vCPUs), the source read through \
             dm-delay with {} ms per read; MB/s and RSS are the guest's",
            o.delay_ms
        );
    }
    // The targets, from this run's medians.
    let find = |f: &str, t: &str| {
        rows.iter()
            .zip(&rss_max)
            .find(|(r, _)| r.fixture == f && r.tool == t)
    };
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
    if !lines.is_empty() {
        println!("\ntargets:");
        for l in lines {
            println!("- {l}");
        }
    }
    Ok(())
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}
