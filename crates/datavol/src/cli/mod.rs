//! The command line: parse, set up logging, dispatch. Exit codes are in
//! [`crate::error::exit`] and datavol(8).

use crate::apply::{self, Bus};
use crate::config::{self, Config};
use crate::error::{exit, Failure};
use crate::plan::{self, Mode, Outcome};
use crate::status;
use crate::sys::{lock, mountinfo, namespace};
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
    /// Exit non-zero when a required volume is not mounted (containerd's ExecStartPre).
    Gate,
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

/// The config, then a private mount namespace for datavol's own mounts.
fn load_private(cli: &Cli) -> Result<Config, ExitCode> {
    let cfg = load(cli)?;
    namespace::enter_private().map_err(|e| {
        log::error!("{e}");
        Failure::Failed.exit_code()
    })?;
    Ok(cfg)
}

fn load(cli: &Cli) -> Result<Config, ExitCode> {
    config::load_dir(&cli.config_dir).map_err(|e| {
        log::error!("config error: {e}");
        Failure::Config.exit_code()
    })
}

pub fn run(cli: Cli) -> ExitCode {
    match &cli.command {
        Command::Validate { files } => validate(&cli, files),
        Command::Copy {
            src,
            dst,
            workers,
            no_verify,
        } => copy(src, dst, *workers, *no_verify),
        Command::Plan { json } => {
            let cfg = match load_private(&cli) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let mounts = mountinfo::read().unwrap_or_default();
            let decisions: Vec<_> = cfg
                .volumes
                .iter()
                .map(|v| plan::decide(v, Mode::Plan, &mounts))
                .collect();
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&decisions).unwrap_or_default()
                );
            } else if decisions.is_empty() {
                println!("no volumes configured in {}", cli.config_dir.display());
            } else {
                for d in &decisions {
                    let dev = d
                        .device
                        .as_ref()
                        .map(|d| format!("{} ({})", d.selector, d.node.display()))
                        .unwrap_or_else(|| "-".into());
                    let what = match &d.outcome {
                        Outcome::Act(a) => a.describe().to_string(),
                        Outcome::Fail { failure } => format!("{failure:?}").to_lowercase(),
                    };
                    println!(
                        "volume {}: {} -> {}",
                        d.volume,
                        dev,
                        d.mount_point.display()
                    );
                    println!("  action: {what}");
                    println!("  why:    {}", d.reason);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Status { json } => {
            let cfg = match load_private(&cli) {
                Ok(c) => c,
                Err(code) => return code,
            };
            status::print(&cfg, &cli.state_dir, *json)
        }
        Command::Gate => gate(&cli),
        Command::Identify { devices, json } => identify(devices, *json),
        Command::Apply {
            stop_services,
            workers,
        } => {
            let cfg = match load_private(&cli) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let _lock = match lock::acquire(std::path::Path::new(lock::DEFAULT_LOCK)) {
                Ok(l) => l,
                Err(e) => {
                    log::error!("{e}");
                    return Failure::Failed.exit_code();
                }
            };
            let opts = apply::Options {
                unit_dir: cli.unit_dir.clone(),
                stop_services: *stop_services,
                copy_workers: *workers,
                state_dir: cli.state_dir.clone(),
            };
            apply_all(&cfg, &opts)
        }
    }
}

fn apply_all(cfg: &Config, opts: &apply::Options) -> ExitCode {
    if cfg.volumes.is_empty() {
        log::info!("no volumes configured; nothing to do");
        return ExitCode::SUCCESS;
    }
    let mut bus = Bus::new();
    let mut first_failure: Option<Failure> = None;
    for vol in &cfg.volumes {
        let mounts = mountinfo::read().unwrap_or_default();
        let decision = plan::decide(vol, Mode::Apply, &mounts);
        let dev = vol.device_text();
        if let Err(e) = apply::apply_volume(vol, &decision, opts, &mut bus) {
            crate::vlog!(
                error,
                vol.name.as_str(),
                dev.as_str(),
                "result",
                "{}",
                // Most messages already name the volume; never twice.
                if e.message.starts_with("volume ") {
                    e.message.clone()
                } else {
                    format!("volume {}: {}", vol.name, e.message)
                }
            );
            first_failure.get_or_insert(e.failure);
        } else {
            crate::vlog!(
                info,
                vol.name.as_str(),
                dev.as_str(),
                "result",
                "volume {}: ready on {}",
                vol.name,
                vol.mount_point.display()
            );
        }
    }
    first_failure.map_or(ExitCode::SUCCESS, Failure::exit_code)
}

fn validate(cli: &Cli, files: &[PathBuf]) -> ExitCode {
    let result = if files.is_empty() {
        config::load_dir(&cli.config_dir)
    } else {
        config::load_files(files)
    };
    match result {
        Ok(cfg) => {
            println!(
                "ok: {} volume(s) from {} file(s)",
                cfg.volumes.len(),
                cfg.files.len()
            );
            for v in &cfg.volumes {
                println!(
                    "  {}: {} -> {} ({})",
                    v.name,
                    v.device_text(),
                    v.mount_point.display(),
                    v.filesystem
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("datavol: config error: {e}");
            Failure::Config.exit_code()
        }
    }
}

fn copy(src: &std::path::Path, dst: &std::path::Path, workers: usize, no_verify: bool) -> ExitCode {
    let t = std::time::Instant::now();
    let last = std::sync::Mutex::new(std::time::Instant::now());
    let progress = move |p: &datavol_copy::Progress| {
        if let Ok(mut l) = last.lock() {
            if l.elapsed().as_secs() >= 5 {
                *l = std::time::Instant::now();
                log::info!("progress: {} files, {} MiB", p.files, p.bytes >> 20);
            }
        }
    };
    let opts = datavol_copy::CopyOptions {
        workers,
        progress: Some(&progress),
        progress_interval: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let stats = match datavol_copy::copy_tree(src, dst, &opts) {
        Ok(s) => s,
        Err(e) => {
            log::error!("copy {} -> {}: {e}", src.display(), dst.display());
            return Failure::Failed.exit_code();
        }
    };
    log::info!(
        "copied {} files, {} dirs, {} symlinks, {} hardlinks, {} special, {} bytes in {:.2}s",
        stats.files,
        stats.dirs,
        stats.symlinks,
        stats.hardlinks,
        stats.specials,
        stats.bytes,
        t.elapsed().as_secs_f64()
    );
    if !no_verify {
        if let Err(e) = datavol_copy::verify_tree(src, dst) {
            log::error!("verify {} -> {}: {e}", src.display(), dst.display());
            return Failure::Failed.exit_code();
        }
        log::info!("verified");
    }
    ExitCode::SUCCESS
}

/// The device a volume is mounted from now: its RAID array, or the first
/// selector that matches.
fn volume_device(v: &crate::config::Volume) -> Option<crate::discover::device::Device> {
    match v.raid {
        Some(_) => crate::discover::device::describe(&crate::discover::raid::md_path(v)).ok(),
        None => crate::discover::device::find_now(&v.device).ok().flatten(),
    }
}

/// containerd's gate: required volumes must be mounted from their device.
fn gate(cli: &Cli) -> ExitCode {
    let cfg = match load(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mounts = mountinfo::read().unwrap_or_default();
    let mut ok = true;
    for v in cfg.volumes.iter().filter(|v| v.required) {
        let dev = volume_device(v);
        let targets = if v.directories.is_empty() {
            std::slice::from_ref(&v.mount_point)
        } else {
            v.directories.as_slice()
        };
        let good = dev.as_ref().is_some_and(|d| {
            targets.iter().all(|t| {
                mountinfo::mounted_at(&mounts, t)
                    .is_some_and(|m| (m.major, m.minor) == (d.major, d.minor))
            })
        });
        if !good {
            ok = false;
            log::error!(
                "required volume {} is not mounted on {} from {}; refusing to let its services start on the root disk; hint: journalctl -u datavol",
                v.name,
                targets.iter().map(|t| t.display().to_string()).collect::<Vec<_>>().join(", "),
                v.device_text()
            );
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        Failure::Refused.exit_code()
    }
}

fn identify(devices: &[PathBuf], json: bool) -> ExitCode {
    let devs = if devices.is_empty() {
        crate::discover::selector::all_nvme()
    } else {
        devices.to_vec()
    };
    let mut out = Vec::new();
    let mut ok = true;
    for d in &devs {
        match crate::discover::nvme::identify(d) {
            Ok(data) => out.push((
                d.display().to_string(),
                crate::discover::nvme::parse_identify(&data),
            )),
            Err(e) => {
                ok = false;
                log::error!(
                    "{}: NVMe Identify Controller failed: {e}; hint: is it an NVMe device?",
                    d.display()
                );
            }
        }
    }
    if json {
        let v: Vec<_> = out
            .iter()
            .map(|(d, c)| serde_json::json!({ "device": d, "controller": c }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        if out.is_empty() && ok {
            println!("no NVMe disks");
        }
        for (d, c) in &out {
            match c {
                Some(crate::discover::nvme::Controller::Ebs { volume_id, bdev }) => println!(
                    "{d}: EBS volume {volume_id}, attached as {}",
                    bdev.as_deref().unwrap_or("(no mapping name)")
                ),
                Some(crate::discover::nvme::Controller::InstanceStore { serial }) => {
                    println!("{d}: instance store, serial {serial}")
                }
                Some(crate::discover::nvme::Controller::Other { vendor_id, model, serial }) => println!(
                    "{d}: not EBS, not instance store: vendor {vendor_id:#06x}, model {model:?}, serial {serial:?}"
                ),
                None => println!("{d}: short Identify data"),
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        Failure::Failed.exit_code()
    }
}
