//! One directory's copy onto the volume: into an empty staging directory,
//! synced, then verified against the source. Shared by the single-root
//! migration (migrate.rs) and the several-directories one (dirs.rs).

use super::error::ApplyError;
use super::failpoint::failpoint;
use super::options::Options;
use crate::config::Volume;
use crate::record::marker;
use crate::sys::notify;
use crate::vlog;
use std::path::Path;
use std::time::{Duration, Instant};

/// A copy that reports no progress for this long is wedged: systemd's start
/// timeout may then run out. Progress comes every few seconds while files or
/// chunks of a large one complete.
const PROGRESS_BOUND: Duration = Duration::from_secs(180);

/// Flush and verify report no progress: each may take this, plus the time
/// its bytes take at [`FLOOR_RATE`].
const PHASE_SLACK: Duration = Duration::from_secs(300);

/// Bytes per second no disk datavol serves falls below (EBS sc1's baseline
/// per TiB is 12 MiB/s).
const FLOOR_RATE: u64 = 8 << 20;

/// How long a phase without progress reports may take for `bytes` of I/O.
fn phase_bound(bytes: u64) -> Duration {
    PHASE_SLACK + Duration::from_secs(bytes / FLOOR_RATE)
}

fn fs_free(path: &Path) -> Result<u64, ApplyError> {
    let s = nix::sys::statvfs::statvfs(path)
        .map_err(|e| ApplyError::io(format!("statvfs {}", path.display()), e.into()))?;
    Ok(s.blocks_available() as u64 * s.fragment_size() as u64)
}

pub fn syncfs(root: &Path) -> Result<(), ApplyError> {
    let f = std::fs::File::open(root).map_err(|e| ApplyError::io(root.display(), e))?;
    nix::unistd::syncfs(f)
        .map_err(|e| ApplyError::io(format!("syncfs {}", root.display()), e.into()))
}

/// Throws away what an interrupted copy left in `staging` (datavol's own).
pub fn discard_partial(name: &str, devs: &str, staging: &Path) -> Result<(), ApplyError> {
    if staging.exists() {
        vlog!(
            info,
            name,
            devs,
            "copy",
            "discarding the partial copy of an interrupted run in {}",
            staging.display()
        );
        std::fs::remove_dir_all(staging)
            .map_err(|e| ApplyError::io(format!("removing {}", staging.display()), e))?;
    }
    Ok(())
}

/// Copies `src` into the empty `staging` on the filesystem mounted at
/// `root`, syncs it, and verifies it against `src`. Refuses when it cannot fit.
pub fn copy_verified(
    vol: &Volume,
    devs: &str,
    src: &Path,
    staging: &Path,
    root: &Path,
    opts: &Options,
) -> Result<marker::Copied, ApplyError> {
    let name = vol.name.as_str();
    let usage = datavol_copy::survey(src).map_err(|source| ApplyError::Copy {
        src: src.to_path_buf(),
        source,
    })?;
    let free = fs_free(root)?;
    if usage.allocated_bytes > free {
        return Err(ApplyError::NoSpace {
            src: src.to_path_buf(),
            device: devs.to_string(),
            need: usage.allocated_bytes,
            free,
        });
    }
    vlog!(
        info,
        name,
        devs,
        "copy",
        "copying {} ({} entries, {} MiB) to {}",
        src.display(),
        usage.entries,
        usage.allocated_bytes >> 20,
        staging.display()
    );
    let t = Instant::now();
    notify::keep_alive(
        PROGRESS_BOUND,
        &format!(
            "copying volume {name}: 0 of {} MiB",
            usage.allocated_bytes >> 20
        ),
    );
    let stats = copy_with_progress(vol, devs, src, staging, &usage, opts)?;
    // Progress counted bytes into the page cache; the flush can take long.
    notify::keep_alive(
        phase_bound(stats.bytes),
        &format!("flushing volume {name}: {} MiB", stats.bytes >> 20),
    );
    vlog!(
        info,
        name,
        devs,
        "copy",
        "flushing {} MiB to {devs}",
        stats.bytes >> 20
    );
    syncfs(root)?;
    let copied = marker::Copied {
        files: stats.files,
        dirs: stats.dirs,
        bytes: stats.bytes,
        copy_seconds: t.elapsed().as_secs_f64(),
    };
    vlog!(
        info,
        name,
        devs,
        "copy",
        "copied {} files, {} dirs, {} bytes in {:.1}s",
        copied.files,
        copied.dirs,
        copied.bytes,
        copied.copy_seconds
    );
    failpoint("copied");
    // Reads the source and the copy again.
    notify::keep_alive(
        phase_bound(stats.bytes.saturating_mul(2)),
        &format!("verifying volume {name}: {} MiB", stats.bytes >> 20),
    );
    vlog!(
        info,
        name,
        devs,
        "verify",
        "verifying the copy against {}",
        src.display()
    );
    let v = datavol_copy::verify_tree(src, staging).map_err(|source| ApplyError::Verify {
        src: src.to_path_buf(),
        source,
    })?;
    vlog!(
        info,
        name,
        devs,
        "verify",
        "verified {} files, {} dirs",
        v.files,
        v.dirs
    );
    Ok(copied)
}

fn copy_with_progress(
    vol: &Volume,
    devs: &str,
    src: &Path,
    dst: &Path,
    usage: &datavol_copy::TreeUsage,
    opts: &Options,
) -> Result<datavol_copy::CopyStats, ApplyError> {
    let name = vol.name.clone();
    let dev = devs.to_string();
    let total_files = usage.entries;
    let total_bytes = usage.allocated_bytes;
    let last = std::sync::Mutex::new(Instant::now());
    let halfway = std::sync::atomic::AtomicBool::new(false);
    let progress = move |p: &datavol_copy::Progress| {
        if ((total_files > 0 && p.files * 2 >= total_files)
            || (total_bytes > 0 && p.bytes * 2 >= total_bytes))
            && !halfway.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            failpoint("copy-halfway");
        }
        let Ok(mut l) = last.lock() else { return };
        if l.elapsed() < Duration::from_secs(5) {
            return;
        }
        *l = Instant::now();
        let secs = p.elapsed.as_secs_f64().max(0.001);
        let rate = p.bytes as f64 / secs;
        let eta = if rate > 0.0 && total_bytes > p.bytes {
            format!("{:.0}s", (total_bytes - p.bytes) as f64 / rate)
        } else {
            "-".into()
        };
        vlog!(
            info,
            name.as_str(),
            dev.as_str(),
            "copy",
            "progress: {}/{} files, {} MiB, {:.1} MiB/s, ETA {eta}",
            p.files,
            total_files,
            p.bytes >> 20,
            rate / 1048576.0
        );
        notify::keep_alive(
            PROGRESS_BOUND,
            &format!(
                "copying volume {name}: {} of {} MiB, ETA {eta}",
                p.bytes >> 20,
                total_bytes >> 20
            ),
        );
    };
    let copy_opts = datavol_copy::CopyOptions {
        workers: opts.copy_workers,
        progress: Some(&progress),
        // Failpoint builds look at every file so a tiny test tree can stop halfway.
        progress_interval: if cfg!(feature = "failpoints") {
            Duration::ZERO
        } else {
            Duration::from_millis(500)
        },
        total_files: usage.entries,
        total_bytes: usage.allocated_bytes,
    };
    datavol_copy::copy_tree(src, dst, &copy_opts).map_err(|source| ApplyError::Copy {
        src: src.to_path_buf(),
        source,
    })
}
