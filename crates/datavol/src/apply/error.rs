//! How acting on a volume fails. The leaf errors keep their own messages
//! (each with a hint); the exit class follows from the type; the volume's
//! name is attached once, by [`VolumeError`].

use crate::discover::device::DeviceError;
use crate::discover::probe::ProbeError;
use crate::discover::raid::RaidError;
use crate::error::Failure;
use crate::plan::Refusal;
use crate::record::history::HistoryError;
use crate::record::marker::StateError;
use crate::sys::namespace::NsError;
use crate::systemd::bus::BusError;
use crate::systemd::unit::UnitError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The device did not appear: classify's message.
    #[error("{0}")]
    Timeout(String),
    /// The facts could not be gathered: classify's message.
    #[error("{0}")]
    Undecided(String),
    /// Under the disk lock, the device no longer probes blank.
    #[error("device {} is no longer blank ({found}); not formatting; hint: something else wrote to it since it was probed: check what", device.display())]
    Changed { device: PathBuf, found: String },
    /// The exact check after mkfs (the pre-flight keeps a margin), so a
    /// failure: the blank disk was formatted.
    #[error("{} needs {need} bytes but {} has {free} free; hint: use a larger volume", src.display(), device)]
    NoSpace {
        src: PathBuf,
        device: String,
        need: u64,
        free: u64,
    },
    /// Found after a read-write mount: a defence behind classify's check.
    #[error("{device} carries datavol's label but holds files and no datavol marker; refusing to mix a copy into it; hint: inspect it, and wipe it by hand if it is disposable")]
    NotOurs { device: String },
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Raid(#[from] RaidError),
    #[error(transparent)]
    Marker(#[from] StateError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Namespace(#[from] NsError),
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("copying {} failed, nothing committed: {source}", src.display())]
    Copy {
        src: PathBuf,
        #[source]
        source: datavol_copy::CopyError,
    },
    #[error("verification of {} failed, nothing committed: {source}", src.display())]
    Verify {
        src: PathBuf,
        #[source]
        source: datavol_copy::CopyError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The mount unit ran but the mount is not what it must be.
    #[error("{0}")]
    Mount(String),
    /// A failure after a mount unit was started; the units were stopped
    /// again (or stopping them failed too: `stopped` says which).
    #[error("{error}; {stopped}")]
    Stopped {
        error: Box<ApplyError>,
        stopped: String,
    },
    /// The volume is mounted and usable, at its old size.
    #[error("growing the filesystem on {device} with {tool}: {why}; the volume stays mounted at its old size; hint: run `{tool}` by hand and read its message, or set grow = false")]
    Grow {
        device: String,
        tool: &'static str,
        why: String,
    },
}

impl ApplyError {
    pub fn failure(&self) -> Failure {
        match self {
            // Exit 3 promises nothing was written: only refusals found
            // before any write qualify. NoSpace (after mkfs) and NotOurs
            // (after a read-write mount) are failures.
            ApplyError::Refused(_) | ApplyError::Changed { .. } => Failure::Refused,
            ApplyError::Timeout(_) => Failure::DeviceTimeout,
            ApplyError::Stopped { error, .. } => error.failure(),
            _ => Failure::Failed,
        }
    }

    pub fn io(what: impl std::fmt::Display, source: std::io::Error) -> ApplyError {
        ApplyError::Io {
            what: what.to_string(),
            source,
        }
    }
}

/// One volume's failure, named once.
#[derive(Debug, thiserror::Error)]
#[error("volume {volume}: {error}")]
pub struct VolumeError {
    pub volume: String,
    #[source]
    pub error: Box<ApplyError>,
}

impl VolumeError {
    pub fn failure(&self) -> Failure {
        self.error.failure()
    }
}
