//! `datavol check-images`, containerd's ExecStartPost (units/containerd.service.d):
//! every `[sandbox]` image present, complete and pinned, restored from the
//! archive when it is not. A line per image; the outcome is recorded for
//! status and metrics. Without `[sandbox]` it does nothing.
//!
//! An image that stays missing fails the command (and so containerd's
//! start, and kubelet's with it) only with `required = true`; otherwise it
//! is an error in the journal, in status and in the metrics, and containerd
//! runs on.

use crate::catalog;
use crate::config::Config;
use crate::error::Failure;
use crate::record::runs::{self, ImageOutcome, ImageState, LastRun};
use crate::sandbox::{self, Verdict};
use log::Level;
use std::path::Path;
use std::process::ExitCode;

pub fn run(cfg: &Config, state_dir: &Path) -> ExitCode {
    let Some(sb) = &cfg.sandbox else {
        log::debug!("no [sandbox] table: no image to check");
        return ExitCode::SUCCESS;
    };
    let verdicts = sandbox::check(sb);
    let previous = runs::load(state_dir, runs::CHECK_IMAGES)
        .unwrap_or_else(|e| {
            log::warn!("{e}; counting restores afresh");
            None
        })
        .unwrap_or_default();
    let mut record = LastRun::now(runs::CHECK_IMAGES, 0);
    for v in &verdicts {
        report(v);
        record
            .images
            .push(outcome(v, &previous, record.finished_at));
    }
    let failed = verdicts.iter().any(|v| v.state == ImageState::Missing);
    if failed && !sb.required {
        log::warn!(
            datavol_stage = "sandbox";
            "[sandbox] required = false: containerd keeps running, but kubelet cannot create pods until the image is there"
        );
    }
    let failure = (failed && sb.required).then_some(Failure::Failed);
    record.exit_code = failure.map_or(0, Failure::code);
    crate::metrics::finish(cfg, state_dir, &record);
    failure.map_or(ExitCode::SUCCESS, Failure::exit_code)
}

fn report(v: &Verdict) {
    match v.state {
        ImageState::Present => {
            log::info!(datavol_stage = "sandbox", datavol_image = v.image.as_str(); "{}", v.message)
        }
        ImageState::Restored | ImageState::Repinned => {
            catalog::image_result(Level::Warn, catalog::IMAGE_RESTORED, &v.image, &v.message)
        }
        ImageState::Missing => {
            catalog::image_result(Level::Error, catalog::IMAGE_MISSING, &v.image, &v.message)
        }
    }
}

/// The image's record: this check's state, the counts carried over.
fn outcome(v: &Verdict, previous: &LastRun, now: u64) -> ImageOutcome {
    let before = previous.images.iter().find(|o| o.image == v.image);
    let count =
        |get: fn(&ImageOutcome) -> u64, state| before.map_or(0, get) + u64::from(v.state == state);
    ImageOutcome {
        image: v.image.clone(),
        state: v.state,
        restored_total: count(|o| o.restored_total, ImageState::Restored),
        repinned_total: count(|o| o.repinned_total, ImageState::Repinned),
        last_restored_at: if v.state == ImageState::Restored {
            Some(now)
        } else {
            before.and_then(|o| o.last_restored_at)
        },
        error: (v.state == ImageState::Missing).then(|| v.message.clone()),
    }
}
