//! Deciding what to do with one volume: gather the facts without writing
//! (facts.rs), then decide with a pure function of them (classify.rs).
//! `plan` prints the decision; `apply` runs the same code, then acts on it,
//! so the two cannot disagree.

pub mod classify;
pub mod decision;
pub mod facts;
pub mod grow;
pub mod mounted;
#[cfg(test)]
mod tests;
pub mod underneath;

pub use classify::{classify, Mode, Policy};
pub use decision::{Action, Decision, Reason, Refusal, Verdict};
pub use facts::{work_mount_dir, Facts, Run};

use crate::config::Volume;
use crate::systemd::bus::Bus;
use std::time::Duration;

/// The pre-flight both plan and apply run: facts, then the decision. What a
/// decision could still depend on is gathered only when it could: the
/// services when the volume is not mounted as configured, the size of the
/// source when the action copies it.
pub fn decide(vol: &Volume, run: &mut Run, policy: Policy, bus: &mut Bus) -> (Decision, Facts) {
    let wait = match policy.mode {
        Mode::Plan => Duration::ZERO,
        Mode::Apply => vol.device_timeout,
    };
    let mut facts = facts::gather(vol, run, wait);
    let mut d = classify(vol, &facts, policy);
    if let Some(a) = d.action().cloned() {
        if a.migrates() {
            facts::survey(vol, &mut facts);
        }
        if a.covers_source() {
            facts.services = Some(facts::services(vol, bus));
        }
        d = classify(vol, &facts, policy);
    } else if d.failure() == Some(crate::error::Failure::Refused) && !is_mounted(&facts, vol) {
        // Name every reason: a running service is one too.
        facts.services = Some(facts::services(vol, bus));
        d = classify(vol, &facts, policy);
    }
    if let Some(disk) = facts.disk() {
        run.claimed
            .push(((disk.dev.major, disk.dev.minor), vol.name.clone()));
    }
    (d, facts)
}

fn is_mounted(f: &Facts, vol: &Volume) -> bool {
    f.disk().is_some_and(|d| {
        mounted::state(vol, (d.dev.major, d.dev.minor), &f.mounts_at) != mounted::Mounted::No
    })
}
