//! `datavol plan`: the decision apply would act on, and why; changes nothing.

use super::Cli;
use crate::config::Config;
use crate::error::Failure;
use crate::plan::{self, Mode, Policy, Run};
use crate::systemd::bus::Bus;
use std::process::ExitCode;

pub fn run(cfg: &Config, cli: &Cli, json: bool, stop_services: bool) -> ExitCode {
    let mut run = match Run::new(&cli.state_dir) {
        Ok(r) => r,
        Err(e) => {
            log::error!("cannot read the mount table: {e}; hint: is /proc mounted?");
            return Failure::Failed.exit_code();
        }
    };
    let policy = Policy {
        mode: Mode::Plan,
        stop_services,
    };
    let mut bus = Bus::new();
    let decisions: Vec<_> = cfg
        .volumes
        .iter()
        .map(|v| plan::decide(v, &mut run, policy, &mut bus).0)
        .collect();
    if json {
        match serde_json::to_string_pretty(&decisions) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                log::error!("cannot render the plan as JSON: {e}");
                return Failure::Failed.exit_code();
            }
        }
        return ExitCode::SUCCESS;
    }
    if decisions.is_empty() {
        println!("no volumes configured in {}", cli.config_dir.display());
    }
    for d in &decisions {
        let dev = d
            .device
            .as_ref()
            .map(|d| format!("{} ({})", d.selector, d.node.display()))
            .unwrap_or_else(|| "-".into());
        println!(
            "volume {}: {} -> {}",
            d.volume,
            dev,
            d.mount_point.display()
        );
        println!("  action: {}", d.verdict.describe());
        println!("  why:    {}", d.reason);
        if let Some(g) = &d.grow {
            println!(
                "  grow:   the filesystem from {} bytes to fill the device ({} bytes), once mounted",
                g.from_bytes, g.to_bytes
            );
        }
        for h in &d.hidden {
            println!(
                "  hidden: {} entries ({} bytes) written under {} on the root disk since it was copied{}; hidden_content = {}",
                h.entries,
                h.bytes,
                h.path.display(),
                h.error.as_ref().map(|e| format!(" (cannot tell: {e})")).unwrap_or_default(),
                h.policy.as_str()
            );
        }
    }
    ExitCode::SUCCESS
}
