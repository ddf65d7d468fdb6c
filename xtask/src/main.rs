//! Project automation: `cargo xtask <task>`. Each task lives in its own module.
use std::process::ExitCode;

mod bench;
mod cross;
mod demo;
mod man;
mod monitoring;
mod preflight;
mod rpm;
mod setup;
mod test;
mod util;
mod vm;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default().to_vec();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(&rest),
        Some("demo") => demo::run(&rest),
        Some("vm-test") => vm::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("test") => test::run(&rest),
        Some("rpm") => rpm::run(&rest),
        Some("man") => man::run(&rest),
        Some("monitoring") => monitoring::run(&rest),
        _ => {
            eprintln!("usage: cargo xtask <setup [--arch aarch64]|demo|test [--no-vm] [--containerd 1.6|2|all] [--arch aarch64]|vm-test [SCENARIO...]|bench|rpm [--arch aarch64|--target T] [--check]|man [--check]|monitoring>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
