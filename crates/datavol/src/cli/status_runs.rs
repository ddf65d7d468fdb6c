//! The part of `datavol status` that the last runs recorded: the sandbox
//! images as the last check found them, and when each verb last ran.

use super::when;
use crate::config::Config;
use crate::record::runs::{self, ImageOutcome, ImageState, LastRun};
use std::path::Path;

#[derive(Debug, serde::Serialize)]
pub struct RunSummary {
    pub verb: String,
    pub finished_at: u64,
    pub exit_code: u8,
}

#[derive(Debug, serde::Serialize)]
pub struct RunsStatus {
    /// The configured images, as the last check-images left them.
    pub sandbox: Vec<ImageOutcome>,
    pub runs: Vec<RunSummary>,
    #[serde(skip)]
    checked_at: Option<u64>,
    #[serde(skip)]
    namespace: Option<String>,
    #[serde(skip)]
    unchecked: Vec<String>,
}

pub fn gather(cfg: &Config, state_dir: &Path) -> RunsStatus {
    let all = runs::load_all(state_dir);
    let check = all.iter().find(|r| r.verb == runs::CHECK_IMAGES);
    let images = cfg.sandbox.iter().flat_map(|s| s.images.iter());
    let (sandbox, unchecked): (Vec<_>, Vec<_>) = images
        .map(|i| {
            (
                i,
                check.and_then(|c| c.images.iter().find(|o| &o.image == i)),
            )
        })
        .partition(|(_, o)| o.is_some());
    RunsStatus {
        sandbox: sandbox
            .into_iter()
            .filter_map(|(_, o)| o.cloned())
            .collect(),
        unchecked: unchecked.into_iter().map(|(i, _)| i.clone()).collect(),
        checked_at: check.map(|c| c.finished_at),
        namespace: cfg.sandbox.as_ref().map(|s| s.namespace.clone()),
        runs: all.iter().map(summary).collect(),
    }
}

fn summary(r: &LastRun) -> RunSummary {
    RunSummary {
        verb: r.verb.clone(),
        finished_at: r.finished_at,
        exit_code: r.exit_code,
    }
}

pub fn print(s: &RunsStatus) {
    let now = crate::record::marker::now();
    if let Some(ns) = &s.namespace {
        match s.checked_at {
            Some(t) => println!(
                "sandbox images (namespace {ns}), checked {}:",
                when::describe(t, now)
            ),
            None => println!("sandbox images (namespace {ns}):"),
        }
    }
    for o in &s.sandbox {
        println!("  {}: {}", o.image, image_line(o, now));
    }
    for i in &s.unchecked {
        println!("  {i}: not checked yet (check-images runs when containerd starts)");
    }
    if !s.runs.is_empty() {
        println!("last runs:");
    }
    for r in &s.runs {
        println!(
            "  {:<13} exit {}, {}",
            r.verb,
            r.exit_code,
            when::describe(r.finished_at, now)
        );
    }
}

fn image_line(o: &ImageOutcome, now: u64) -> String {
    let mut line = match o.state {
        ImageState::Present => "present and pinned".to_string(),
        ImageState::Restored => "RESTORED from the archive and pinned".to_string(),
        ImageState::Repinned => "present; had lost its pin, pinned again".to_string(),
        ImageState::Missing => format!(
            "MISSING: {}",
            o.error.as_deref().unwrap_or("not usable, not restored")
        ),
    };
    if o.restored_total > 0 || o.repinned_total > 0 {
        line.push_str(&format!(
            "; restored {} time(s), re-pinned {} time(s)",
            o.restored_total, o.repinned_total
        ));
    }
    if let Some(t) = o.last_restored_at {
        line.push_str(&format!("; last restored {}", when::describe(t, now)));
    }
    line
}
