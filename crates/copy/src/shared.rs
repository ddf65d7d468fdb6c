//! State shared between the walking thread and the worker threads: counters,
//! progress throttling, the first error, and a small bounded job pool.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{CopyError, Progress, ProgressFn};

pub(crate) struct Shared<'a> {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    pub abort: AtomicBool,
    err: Mutex<Option<CopyError>>,
    start: Instant,
    last: Mutex<Instant>,
    progress: Option<&'a ProgressFn>,
    interval: Duration,
    total_files: u64,
    total_bytes: u64,
}

impl<'a> Shared<'a> {
    pub(crate) fn new(
        progress: Option<&'a ProgressFn>,
        interval: Duration,
        total_files: u64,
        total_bytes: u64,
    ) -> Self {
        let now = Instant::now();
        Shared {
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            abort: AtomicBool::new(false),
            err: Mutex::new(None),
            start: now,
            last: Mutex::new(now),
            progress,
            interval,
            total_files,
            total_bytes,
        }
    }

    pub(crate) fn snapshot(&self) -> Progress {
        Progress {
            files: self.files.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            total_files: self.total_files,
            total_bytes: self.total_bytes,
            elapsed: self.start.elapsed(),
        }
    }

    /// Calls the progress callback if the interval passed (or `force`).
    pub(crate) fn report(&self, force: bool) {
        let Some(cb) = self.progress else { return };
        let now = Instant::now();
        let due = {
            let guard = if force {
                Some(self.last.lock().unwrap_or_else(|p| p.into_inner()))
            } else {
                self.last.try_lock().ok()
            };
            match guard {
                Some(mut last) if force || now.duration_since(*last) >= self.interval => {
                    *last = now;
                    true
                }
                _ => false,
            }
        };
        if due {
            cb(&self.snapshot());
        }
    }

    /// Records the first error and asks everyone to stop.
    pub(crate) fn fail(&self, e: CopyError) {
        let mut g = self.err.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(e);
        }
        self.abort.store(true, Ordering::SeqCst);
    }

    pub(crate) fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    pub(crate) fn take_err(&self) -> Option<CopyError> {
        self.err.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Bounded multi-consumer queue: the sender blocks when `cap` jobs wait.
pub(crate) fn queue<J>(cap: usize) -> (SyncSender<J>, Arc<Mutex<Receiver<J>>>) {
    let (tx, rx) = mpsc::sync_channel(cap);
    (tx, Arc::new(Mutex::new(rx)))
}

/// Next job, or None when the queue is closed.
pub(crate) fn next_job<J>(rx: &Mutex<Receiver<J>>) -> Option<J> {
    rx.lock().unwrap_or_else(|p| p.into_inner()).recv().ok()
}

/// A batch is handed over once its files hold this much data.
pub(crate) const BATCH_BYTES: u64 = 1 << 20;
/// Most files per batch.
pub(crate) const BATCH_MAX: usize = 16;

/// Files per batch such that all queued and running jobs (up to four fds
/// each: source, destination, a shared destination directory, a parked
/// directory finalization) stay within half of the soft fd limit.
pub(crate) fn batch_size(workers: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit into a valid struct.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as usize
    } else {
        1024
    };
    // Batches in flight: queued (one per worker), running (one per worker), being filled.
    let batches = 2 * workers + 1;
    (soft / 2 / 4 / batches).clamp(1, BATCH_MAX)
}
