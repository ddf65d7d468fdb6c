//! Reading a list of files (or one device) once, with `depth` reads in
//! flight: a lazily loaded EBS block costs one round trip to S3 whoever
//! asks, so one stream of reads waits for each in turn, while many
//! waiting at once keep the volume busy. Each worker does plain `pread`s
//! into its own buffer; O_DIRECT keeps the page cache out of it (the goal
//! is to make the volume fetch its blocks, not to fill this node's memory
//! with them), falling back to buffered reads dropped from the cache right
//! after where a filesystem refuses O_DIRECT.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// O_DIRECT needs the buffer, offset and length aligned to the logical
/// block size; 4096 covers every device.
pub const ALIGN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub size: u64,
}

/// Where reading starts or stopped: (source index, byte offset in it).
pub type Position = (usize, u64);

pub struct Plan<'a> {
    pub sources: &'a [Source],
    pub start: Position,
    /// Bytes per read; a multiple of 4096.
    pub chunk: u64,
    pub depth: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub bytes: u64,
    pub total: u64,
    /// Everything before this position has been read.
    pub done_to: Position,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("reading {} at {offset}: {source}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    pub offset: u64,
    #[source]
    pub source: std::io::Error,
}

/// Which reads are handed out, and which are still running.
struct Sched {
    next: Position,
    running: BTreeSet<Position>,
}

impl Sched {
    /// The next read: its position and length; None when all are out.
    fn take(&mut self, p: &Plan) -> Option<(Position, u64)> {
        loop {
            let (i, off) = self.next;
            let src = p.sources.get(i)?;
            if off >= src.size {
                self.next = (i + 1, 0);
                continue;
            }
            let len = p.chunk.min(src.size - off);
            self.next = (i, off + len);
            self.running.insert((i, off));
            return Some(((i, off), len));
        }
    }

    fn done_to(&self) -> Position {
        self.running.first().copied().unwrap_or(self.next)
    }
}

fn total_from(p: &Plan) -> u64 {
    p.sources
        .iter()
        .enumerate()
        .skip(p.start.0)
        .map(|(i, s)| {
            if i == p.start.0 {
                s.size.saturating_sub(p.start.1)
            } else {
                s.size
            }
        })
        .sum()
}

/// A buffer of `len` bytes whose start is aligned for O_DIRECT.
struct Aligned {
    raw: Vec<u8>,
    at: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let raw = vec![0u8; len + ALIGN];
        let at = raw.as_ptr().align_offset(ALIGN).min(ALIGN);
        Aligned { raw, at, len }
    }
    fn get(&mut self, n: usize) -> &mut [u8] {
        &mut self.raw[self.at..self.at + n.min(self.len)]
    }
}

/// An open source, with whether reads bypass the page cache.
struct Open {
    index: usize,
    file: File,
    direct: bool,
}

fn open(path: &std::path::Path) -> std::io::Result<(File, bool)> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    match o
        .clone()
        .custom_flags(libc::O_DIRECT | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => Ok((f, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            Ok((o.custom_flags(libc::O_CLOEXEC).open(path)?, false))
        }
        Err(e) => Err(e),
    }
}

/// Reads `len` bytes at `off` (less at the end of the file); returns how many.
fn read_at(o: &Open, buf: &mut Aligned, off: u64, len: u64) -> std::io::Result<u64> {
    // O_DIRECT lengths are whole blocks too; the last one reads short.
    let want = (len as usize).div_ceil(ALIGN) * ALIGN;
    let b = buf.get(want);
    let mut got = 0usize;
    while (got as u64) < len {
        match o.file.read_at(&mut b[got..], off + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if !o.direct {
        use std::os::fd::AsRawFd;
        // SAFETY: advice on an fd this frame owns; no memory is involved.
        unsafe {
            libc::posix_fadvise(
                o.file.as_raw_fd(),
                off as i64,
                got as i64,
                libc::POSIX_FADV_DONTNEED,
            )
        };
    }
    Ok((got as u64).min(len))
}

struct Shared<'a> {
    plan: &'a Plan<'a>,
    sched: Mutex<Sched>,
    bytes: AtomicU64,
    stop: AtomicBool,
    error: Mutex<Option<ReadError>>,
    started: Instant,
}

impl Shared<'_> {
    fn fail(&self, e: ReadError) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
    }

    fn progress(&self, total: u64) -> Progress {
        let done_to = self
            .sched
            .lock()
            .map(|s| s.done_to())
            .unwrap_or(self.plan.start);
        Progress {
            bytes: self.bytes.load(Ordering::SeqCst),
            total,
            done_to,
            elapsed: self.started.elapsed(),
        }
    }
}

/// One read: opens the source unless `cur` holds it already. A source
/// gone meanwhile (containerd removed a blob) reads as nothing.
fn read_job(
    cur: &mut Option<Open>,
    buf: &mut Aligned,
    (i, path): (usize, &std::path::Path),
    off: u64,
    len: u64,
) -> std::io::Result<u64> {
    if cur.as_ref().map(|o| o.index) != Some(i) {
        *cur = match open(path) {
            Ok((file, direct)) => Some(Open {
                index: i,
                file,
                direct,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
    }
    match cur {
        Some(o) => read_at(o, buf, off, len),
        None => Ok(0),
    }
}

/// One worker: take a read, do it, mark it done, until none are left.
fn worker(sh: &Shared, total: u64, on_progress: &(dyn Fn(&Progress) + Sync)) {
    let mut buf = Aligned::new(sh.plan.chunk as usize);
    let mut cur: Option<Open> = None;
    while !sh.stop.load(Ordering::SeqCst) {
        let job = match sh.sched.lock() {
            Ok(mut s) => s.take(sh.plan),
            Err(_) => return,
        };
        let Some(((i, off), len)) = job else { return };
        let path = &sh.plan.sources[i].path;
        match read_job(&mut cur, &mut buf, (i, path), off, len) {
            Ok(n) => sh.bytes.fetch_add(n, Ordering::SeqCst),
            Err(source) => {
                return sh.fail(ReadError {
                    path: path.clone(),
                    offset: off,
                    source,
                })
            }
        };
        if let Ok(mut s) = sh.sched.lock() {
            s.running.remove(&(i, off));
        }
        on_progress(&sh.progress(total));
    }
}

/// Reads every source from `plan.start` on; `on_progress` is called after
/// each read (it decides how often to log or record).
pub fn read_all(
    plan: &Plan,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Progress, ReadError> {
    let total = total_from(plan);
    let sh = Shared {
        plan,
        sched: Mutex::new(Sched {
            next: plan.start,
            running: BTreeSet::new(),
        }),
        bytes: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
        started: Instant::now(),
    };
    std::thread::scope(|s| {
        for _ in 0..plan.depth.max(1) {
            s.spawn(|| worker(&sh, total, on_progress));
        }
    });
    if let Some(e) = sh.error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    Ok(sh.progress(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_byte_once_and_reports_where_it_got() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sources = Vec::new();
        for (name, size) in [("a", 0u64), ("b", 10_000), ("c", 3 * 8192 + 5)] {
            let p = dir.path().join(name);
            std::fs::write(&p, vec![7u8; size as usize]).expect("write");
            sources.push(Source { path: p, size });
        }
        sources.push(Source {
            path: dir.path().join("gone"),
            size: 4096,
        });
        let plan = Plan {
            sources: &sources,
            start: (1, 8192),
            chunk: 8192,
            depth: 3,
        };
        let seen = Mutex::new(Vec::new());
        let p = read_all(&plan, &|p| seen.lock().unwrap().push(p.done_to)).expect("read");
        let seen = seen.into_inner().unwrap();
        assert!(
            seen.iter().all(|s| *s >= (1, 8192) && *s <= (4, 0)),
            "{seen:?}"
        );
        assert_eq!(p.total, 10_000 - 8192 + 3 * 8192 + 5 + 4096);
        // The missing file reads as nothing, and is passed.
        assert_eq!(p.bytes, 10_000 - 8192 + 3 * 8192 + 5);
        assert_eq!(p.done_to, (4, 0));
    }

    #[test]
    fn a_read_error_is_returned_not_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sources = vec![Source {
            path: dir.path().to_path_buf(),
            size: 8192,
        }];
        let plan = Plan {
            sources: &sources,
            start: (0, 0),
            chunk: 4096,
            depth: 2,
        };
        let e = read_all(&plan, &|_| {}).expect_err("a directory cannot be read");
        assert_eq!(e.source.raw_os_error(), Some(libc::EISDIR));
    }
}
