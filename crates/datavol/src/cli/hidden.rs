//! `datavol hidden VOLUME`: what lies on the root disk under the volume's
//! directories, written since datavol copied them (a boot that ran without
//! the disk), seen through a non-recursive bind of the filesystem below
//! the mount in a private namespace, so nothing is unmounted. `--expose`
//! leaves that view read-only at /run/datavol/underneath/VOLUME on the
//! host; `--accept` records the directory as it is now, which ends the
//! warning or refusal. Nothing is ever deleted.

use super::Cli;
use crate::config::{Config, Volume};
use crate::error::{exit, Failure};
use crate::plan::underneath::{self, EXPOSED};
use crate::record::history::{self, History};
use crate::sys::namespace::{self, TempMount};
use crate::sys::{lock, mountinfo};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Entries listed before "... and N more".
const LIST_MAX: u64 = 1000;

/// What the verb was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Do {
    List,
    Expose,
    Accept,
}

/// The directories whose old content the volume's mount covers.
fn sources(vol: &Volume) -> Vec<PathBuf> {
    match vol.directories.is_empty() {
        true => vec![vol.mount_point.clone()],
        false => vol.directories.clone(),
    }
}

pub fn run(cfg: &Config, cli: &Cli, volume: &str, what: Do) -> ExitCode {
    let Some(vol) = cfg.volumes.iter().find(|v| v.name == volume) else {
        log::error!("no volume {volume:?} is configured; hint: use a name `datavol status` shows");
        return ExitCode::from(exit::USAGE);
    };
    let access = match what {
        Do::Accept => lock::Access::Exclusive,
        _ => lock::Access::Shared,
    };
    let _lock = match lock::take(Path::new(lock::DEFAULT_LOCK), access) {
        Ok(l) => l,
        Err(e) => {
            log::error!("{e}");
            return Failure::Failed.exit_code();
        }
    };
    let done = match what {
        // In the host's namespace: the view is for the operator.
        Do::Expose => sources(vol).iter().try_for_each(|d| expose(vol, d)),
        Do::List | Do::Accept => namespace::enter_private()
            .map_err(|e| e.to_string())
            .and_then(|()| each_view(vol, cli, what)),
    };
    let code = match done {
        Ok(()) => exit::OK,
        Err(e) => {
            log::error!("volume {}: {e}", vol.name);
            Failure::Failed.code()
        }
    };
    if what == Do::Accept {
        crate::metrics::finish(
            cfg,
            &cli.state_dir,
            &crate::record::runs::LastRun::now("hidden", code),
        );
    }
    ExitCode::from(code)
}

fn each_view(vol: &Volume, cli: &Cli, what: Do) -> Result<(), String> {
    let record = history::load(&cli.state_dir, &vol.name).map_err(|e| e.to_string())?;
    let mounts = mountinfo::read().map_err(|e| format!("reading the mount table: {e}"))?;
    for d in sources(vol) {
        let covered = mountinfo::mounted_at(&mounts, &d).is_some();
        let tmp =
            Path::new(crate::plan::facts::WORK_MOUNTS).join(format!(".underneath-{}", vol.name));
        let (view, bound) = view_of(&d, covered, &tmp)?;
        match what {
            Do::Accept => accept(vol, cli, &d, &view)?,
            _ => list(vol, &d, &view, covered, &record)?,
        }
        if let Some(m) = bound {
            m.unmount().map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The directory's own content: itself when nothing covers it, else its
/// name in a non-recursive bind of its parent at `tmp`.
fn view_of(d: &Path, covered: bool, tmp: &Path) -> Result<(PathBuf, Option<TempMount>), String> {
    if !covered {
        return Ok((d.to_path_buf(), None));
    }
    let (Some(parent), Some(name)) = (d.parent(), d.file_name()) else {
        return Err(format!("{} has no parent directory", d.display()));
    };
    let m = TempMount::bind(parent, tmp).map_err(|e| e.to_string())?;
    Ok((m.target.join(name), Some(m)))
}

fn list(
    vol: &Volume,
    d: &Path,
    view: &Path,
    covered: bool,
    record: &History,
) -> Result<(), String> {
    let name = vol.name.as_str();
    let where_ = if covered {
        "under the mount"
    } else {
        "not covered now"
    };
    println!("volume {name}: {} on the root disk ({where_})", d.display());
    let Some(u) = record.underneath(d) else {
        println!("  datavol has not copied it (no baseline): nothing to compare with; `datavol hidden {name} --accept` records one");
        return Ok(());
    };
    let b = &u.baseline;
    println!(
        "  when copied: {} entries, {} bytes ({})",
        b.entries,
        b.bytes,
        super::when::describe(b.taken_at, crate::record::marker::now())
    );
    let mut shown = 0u64;
    let mut each = |p: &Path, m: &std::fs::Metadata| {
        shown += 1;
        if shown <= LIST_MAX {
            let rel = p.strip_prefix(view).unwrap_or(p);
            let kind = if m.is_dir() {
                "directory".to_string()
            } else {
                format!("{} bytes", std::os::unix::fs::MetadataExt::size(m))
            };
            println!("    {}  ({kind})", rel.display());
        }
    };
    let limit = underneath::MIN_LIMIT.max(b.entries.saturating_mul(2));
    let look = underneath::walk_each(view, Some(b.newest_ctime_ns), limit, &mut each)?;
    if shown > LIST_MAX {
        println!("    ... and {} more", shown - LIST_MAX);
    }
    println!(
        "  now: {} entries, {} bytes{}; {} new or changed ({} bytes)",
        look.entries,
        look.bytes,
        if look.complete {
            ""
        } else {
            " or more (stopped counting)"
        },
        look.newer,
        look.newer_bytes
    );
    if look.hidden(0).is_some() {
        let at = underneath::exposed_path(vol, d);
        println!(
            "  read it without unmounting: `datavol hidden {name} --expose` (read-only at {})",
            at.display()
        );
        println!("  merge: stop the directory's services, copy what is needed from there into {}, start them;", d.display());
        println!(
            "  then, merged or not needed: `datavol hidden {name} --accept` (nothing is deleted)"
        );
    }
    Ok(())
}

fn accept(vol: &Volume, cli: &Cli, d: &Path, view: &Path) -> Result<(), String> {
    let now = crate::record::marker::now();
    let b = underneath::baseline(view, now)?;
    history::record_baseline(&cli.state_dir, &vol.name, d, b).map_err(|e| e.to_string())?;
    crate::vlog!(
        info,
        vol.name.as_str(),
        "",
        "hidden",
        "volume {}: {} on the root disk accepted as it is ({} entries, {} bytes); content written there from now on is reported again",
        vol.name,
        d.display(),
        b.entries,
        b.bytes
    );
    Ok(())
}

/// A read-only view of `d`'s own content at /run/datavol/underneath/...,
/// in the host's namespace; kept until `umount`ed (or the next boot).
fn expose(vol: &Volume, d: &Path) -> Result<(), String> {
    let target = underneath::exposed_path(vol, d);
    let mounts = mountinfo::read().map_err(|e| format!("reading the mount table: {e}"))?;
    if mountinfo::mounted_at(&mounts, &target).is_none() {
        let tmp = Path::new(EXPOSED).join(format!(".{}.parent", vol.name));
        let covered = mountinfo::mounted_at(&mounts, d).is_some();
        let (view, bound) = view_of(d, covered, &tmp)?;
        namespace::bind(&view, &target, true).map_err(|e| e.to_string())?;
        if let Some(m) = bound {
            m.unmount().map_err(|e| e.to_string())?;
        }
        let _ = std::fs::remove_dir(&tmp);
    }
    println!(
        "{} on the root disk is readable at {} (read-only); hint: `umount {}` when done",
        d.display(),
        target.display(),
        target.display()
    );
    Ok(())
}
