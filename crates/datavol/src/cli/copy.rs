//! `datavol copy SRC DST`: the migration engine on its own, with verification.

use crate::error::Failure;
use std::process::ExitCode;

pub fn run(
    src: &std::path::Path,
    dst: &std::path::Path,
    workers: usize,
    no_verify: bool,
) -> ExitCode {
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
