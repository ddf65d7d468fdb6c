//! `datavol validate [FILE...]`: check config files, print what they configure.

use super::Cli;
use crate::config;
use crate::error::Failure;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(cli: &Cli, files: &[PathBuf]) -> ExitCode {
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
