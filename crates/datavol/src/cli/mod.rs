//! The command line: parse, set up logging, dispatch to one module per
//! verb. Exit codes are in [`crate::error::exit`] and datavol(8).

mod apply;
mod check;
mod check_images;
mod copy;
mod gate;
mod hidden;
mod identify;
mod plan;
mod prewarm;
pub mod status;
mod status_runs;
mod unreadable;
mod validate;
mod when;

use crate::config::{self, Config};
use crate::error::{exit, Failure};
use crate::sys::{lock, namespace};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "datavol",
    version,
    about = "Move data directories such as /var/lib/containerd onto their own disks at boot, keeping what was there",
    after_help = "Exit codes: 0 done or nothing to do, 1 failure, 2 config error, 3 refused, 4 device timeout, 64 usage error."
)]
pub struct Cli {
    /// Directory holding datavol.toml and conf.d/*.toml.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/etc/datavol"
    )]
    pub config_dir: PathBuf,
    /// Where .mount units are written.
    #[arg(long, global = true, value_name = "DIR", default_value = crate::systemd::unit::DEFAULT_UNIT_DIR)]
    pub unit_dir: PathBuf,
    /// Where datavol keeps its records on the root disk.
    #[arg(long, global = true, value_name = "DIR", default_value = crate::record::history::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Log debug detail.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make every configured volume match the config (what datavol.service runs).
    Apply {
        /// Stop the services that use a directory while it is migrated, then start them again.
        #[arg(long)]
        stop_services: bool,
        /// Parallel file copiers.
        #[arg(long, default_value_t = 8)]
        workers: usize,
    },
    /// Show what apply would do and why; changes nothing.
    Plan {
        #[arg(long)]
        json: bool,
        /// Plan as `apply --stop-services` would.
        #[arg(long)]
        stop_services: bool,
    },
    /// Show each volume's device, filesystem, mount and migration.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Check config files (the installed config when none are given).
    Validate { files: Vec<PathBuf> },
    /// Copy the tree SRC into the empty directory DST with full fidelity, then verify it.
    Copy {
        src: PathBuf,
        dst: PathBuf,
        /// Parallel file copiers.
        #[arg(long, default_value_t = 8)]
        workers: usize,
        /// Skip the verification pass.
        #[arg(long)]
        no_verify: bool,
    },
    /// Check a volume before the mount datavol-generator made for it runs (datavol-check@VOLUME.service).
    Check { volume: String },
    /// Exit non-zero when a required volume is not mounted (containerd's ExecStartPre).
    Gate,
    /// Make sure the [sandbox] images are in containerd's store and pinned, restoring them from the archive (containerd's ExecStartPost).
    CheckImages,
    /// Read a volume once, containerd's blobs first, so a disk restored from a snapshot is warm (what datavol-prewarm@VOLUME.service runs).
    Prewarm {
        volume: String,
        /// Reads in flight.
        #[arg(long, default_value_t = crate::prewarm::DEFAULT_DEPTH, value_parser = clap::value_parser!(u16).range(1..=256))]
        depth: u16,
        /// Read it again even if the marker says this device is warm.
        #[arg(long)]
        again: bool,
    },
    /// Show what lies on the root disk under a volume's directories, written since datavol copied them (a boot without the disk), without unmounting.
    Hidden {
        volume: String,
        /// Leave it readable, read-only, at /run/datavol/underneath/VOLUME.
        #[arg(long, conflicts_with = "accept")]
        expose: bool,
        /// Record the directories as they are now: the warning or refusal stops; nothing is deleted.
        #[arg(long)]
        accept: bool,
    },
    /// Show what each NVMe disk's controller says it is (EBS name and volume id, instance store, other).
    Identify {
        /// NVMe devices; all NVMe disks when none are given.
        devices: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// systemd gives services a soft limit of 1024 open files; the copy engine
/// keeps more I/O in flight with more, so take the hard limit.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

pub fn main() -> ExitCode {
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    crate::logging::init(cli.verbose);
    raise_fd_limit();
    run(cli)
}

/// The config, the run lock, then a private mount namespace for datavol's
/// own mounts. plan and status share the lock; apply holds it alone, so
/// they never look at a volume halfway through an apply.
fn prepare(cli: &Cli, access: lock::Access) -> Result<(Config, lock::RunLock), ExitCode> {
    let cfg = load(cli)?;
    let held = lock::take(std::path::Path::new(lock::DEFAULT_LOCK), access).map_err(|e| {
        log::error!("{e}");
        Failure::Failed.exit_code()
    })?;
    namespace::enter_private().map_err(|e| {
        log::error!("{e}");
        Failure::Failed.exit_code()
    })?;
    Ok((cfg, held))
}

fn load(cli: &Cli) -> Result<Config, ExitCode> {
    config::load_dir(&cli.config_dir).map_err(|e| {
        log::error!(message_id = crate::catalog::CONFIG; "config error: {e}");
        Failure::Config.exit_code()
    })
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Validate { files } => return validate::run(&cli, files),
        Command::Copy {
            src,
            dst,
            workers,
            no_verify,
        } => return copy::run(src, dst, *workers, *no_verify),
        Command::Identify { devices, json } => return identify::run(devices, *json),
        Command::Check { volume } => match load(&cli) {
            Ok(cfg) if check::already_checked(&cfg, volume) => {
                log::info!("volume {volume}: datavol checked it this boot already");
                Ok(ExitCode::SUCCESS)
            }
            _ => prepare(&cli, lock::Access::Shared)
                .map(|(cfg, _lock)| check::run(&cfg, &cli.state_dir, volume)),
        },
        // A config error stops containerd only when a required volume is affected.
        Command::Gate => Ok(match config::load_dir(&cli.config_dir) {
            Ok(cfg) => gate::run(&cfg),
            Err(e) => unreadable::gate(&cli.state_dir, &e),
        }),
        Command::CheckImages => Ok(match config::load_dir(&cli.config_dir) {
            Ok(cfg) => check_images::run(&cfg, &cli.state_dir),
            Err(e) => unreadable::check_images(&cli.state_dir, &e),
        }),
        Command::Prewarm {
            volume,
            depth,
            again,
        } => load(&cli).map(|cfg| prewarm::run(&cfg, &cli, volume, usize::from(*depth), *again)),
        Command::Hidden {
            volume,
            expose,
            accept,
        } => {
            let what = match (expose, accept) {
                (true, _) => hidden::Do::Expose,
                (_, true) => hidden::Do::Accept,
                _ => hidden::Do::List,
            };
            load(&cli).map(|cfg| hidden::run(&cfg, &cli, volume, what))
        }
        Command::Plan {
            json,
            stop_services,
        } => prepare(&cli, lock::Access::Shared)
            .map(|(cfg, _lock)| plan::run(&cfg, &cli, *json, *stop_services)),
        Command::Status { json } => prepare(&cli, lock::Access::Shared)
            .map(|(cfg, _lock)| status::print(&cfg, &cli.state_dir, *json)),
        Command::Apply {
            stop_services,
            workers,
        } => prepare(&cli, lock::Access::Exclusive).map(|(cfg, _lock)| {
            let opts = crate::apply::Options {
                unit_dir: cli.unit_dir.clone(),
                stop_services: *stop_services,
                copy_workers: *workers,
                state_dir: cli.state_dir.clone(),
            };
            apply::run(&cfg, &opts)
        }),
    };
    result.unwrap_or_else(|code| code)
}
