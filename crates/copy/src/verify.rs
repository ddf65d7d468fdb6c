//! verify_tree: walks the source mirrored by the destination and compares
//! every entry (type, owner, mode, size, rdev, symlink target, xattrs,
//! hardlink structure, mtime), compares regular file contents byte by byte
//! in a small worker pool, and looks for destination entries that the
//! source lacks.

use std::collections::HashMap;
use std::ffi::CStr;
use std::fmt::Write as _;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::Mutex;

use crate::shared;
use crate::sys::{self, DirStream, Stat};
use crate::walk::{self, Ctx, Descend, Visitor};
use crate::xattr::{self, XNode};
use crate::{CopyError, CopyStats};

const LOG_CAP: u64 = 100;
const WORKERS: usize = 4;
const CHUNK: usize = 1 << 20;

#[derive(Default)]
struct Diffs {
    count: u64,
    first: Option<String>,
}

#[derive(Default)]
struct Report {
    diffs: Mutex<Diffs>,
    error: Mutex<Option<CopyError>>,
}

impl Report {
    fn diff(&self, path: &Path, what: &str) {
        let mut d = self.diffs.lock().unwrap_or_else(|p| p.into_inner());
        d.count += 1;
        let msg = format!("{}: {what}", path.display());
        if d.count <= LOG_CAP {
            log::error!("verify: {msg}");
        } else if d.count == LOG_CAP + 1 {
            log::error!("verify: more differences, not logging them");
        }
        if d.first.is_none() {
            d.first = Some(msg);
        }
    }

    fn fail(&self, e: CopyError) {
        let mut g = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(e);
        }
    }
}

struct ContentJob {
    src: OwnedFd,
    dst: OwnedFd,
    size: i64,
    path: PathBuf,
}

fn read_full(fd: RawFd, buf: &mut [u8], off: i64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = sys::pread(fd, &mut buf[got..], off + got as i64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

fn compare_content(job: &ContentJob, a: &mut Vec<u8>, b: &mut Vec<u8>, rep: &Report) {
    a.resize(CHUNK, 0);
    b.resize(CHUNK, 0);
    let (s, d) = (job.src.as_raw_fd(), job.dst.as_raw_fd());
    let mut off = 0i64;
    loop {
        let na = match read_full(s, a, off) {
            Ok(n) => n,
            Err(source) => {
                return rep.fail(CopyError::Io {
                    path: job.path.clone(),
                    op: "read",
                    source,
                })
            }
        };
        let nb = match read_full(d, b, off) {
            Ok(n) => n,
            Err(source) => {
                return rep.fail(CopyError::Io {
                    path: job.path.clone(),
                    op: "read copy",
                    source,
                })
            }
        };
        if a[..na] != b[..nb] {
            let at = a[..na]
                .iter()
                .zip(&b[..nb])
                .position(|(x, y)| x != y)
                .unwrap_or(na.min(nb));
            rep.diff(
                &job.path,
                &format!("content differs at byte {}", off + at as i64),
            );
            return;
        }
        if na < CHUNK {
            if off + (na as i64) < job.size {
                rep.diff(&job.path, "content shorter than its size");
            }
            return;
        }
        off += na as i64;
    }
}

struct LinkSeen {
    other: (u64, u64),
    remaining: u64,
}

/// Records that `from` maps to `to`; returns the conflicting mapping if any.
fn note_link(
    map: &mut HashMap<(u64, u64), LinkSeen>,
    from: (u64, u64),
    to: (u64, u64),
    nlink: u64,
) -> (bool, Option<(u64, u64)>) {
    match map.get_mut(&from) {
        Some(seen) => {
            let other = seen.other;
            seen.remaining = seen.remaining.saturating_sub(1);
            if seen.remaining == 0 {
                map.remove(&from);
            }
            (false, (other != to).then_some(other))
        }
        None => {
            if nlink > 1 {
                map.insert(
                    from,
                    LinkSeen {
                        other: to,
                        remaining: nlink - 1,
                    },
                );
            }
            (true, None)
        }
    }
}

struct VerifyVisitor<'r> {
    rep: &'r Report,
    tx: Option<SyncSender<Vec<ContentJob>>>,
    batch: Vec<ContentJob>,
    batch_bytes: u64,
    batch_max: usize,
    bufs: (Vec<u8>, Vec<u8>),
    src_links: HashMap<(u64, u64), LinkSeen>,
    dst_links: HashMap<(u64, u64), LinkSeen>,
    stats: CopyStats,
}

fn fmt_time(s: i64, ns: i64) -> String {
    format!("{s}.{ns:09}")
}

/// Compares the stat-level and xattr-level facts of two entries of the
/// same type; appends what differs to `out`.
fn compare_meta(
    s: &Stat,
    d: &Stat,
    snode: &XNode,
    dnode: &XNode,
    out: &mut Vec<String>,
) -> io::Result<()> {
    let ft = sys::file_type(s);
    if (s.st_uid, s.st_gid) != (d.st_uid, d.st_gid) {
        out.push(format!(
            "owner {}:{} != {}:{}",
            s.st_uid, s.st_gid, d.st_uid, d.st_gid
        ));
    }
    if ft != libc::S_IFLNK && s.st_mode != d.st_mode {
        out.push(format!("mode {:o} != {:o}", s.st_mode, d.st_mode));
    }
    if ft == libc::S_IFREG && s.st_size != d.st_size {
        out.push(format!("size {} != {}", s.st_size, d.st_size));
    }
    if (ft == libc::S_IFCHR || ft == libc::S_IFBLK) && s.st_rdev != d.st_rdev {
        out.push(format!(
            "rdev {}:{} != {}:{}",
            libc::major(s.st_rdev),
            libc::minor(s.st_rdev),
            libc::major(d.st_rdev),
            libc::minor(d.st_rdev)
        ));
    }
    if (s.st_mtime, s.st_mtime_nsec) != (d.st_mtime, d.st_mtime_nsec) {
        out.push(format!(
            "mtime {} != {}",
            fmt_time(s.st_mtime, s.st_mtime_nsec),
            fmt_time(d.st_mtime, d.st_mtime_nsec)
        ));
    }
    let sx = xattr::read_all(snode)?;
    let dx = xattr::read_all(dnode)?;
    if sx != dx {
        let mut msg = String::from("xattrs differ:");
        for (n, v) in &sx {
            match dx.iter().find(|(m, _)| m == n) {
                None => {
                    let _ = write!(msg, " {} missing;", n.to_string_lossy());
                }
                Some((_, w)) if w != v => {
                    let _ = write!(msg, " {} value differs;", n.to_string_lossy());
                }
                _ => {}
            }
        }
        for (n, _) in &dx {
            if !sx.iter().any(|(m, _)| m == n) {
                let _ = write!(msg, " {} extra;", n.to_string_lossy());
            }
        }
        out.push(msg);
    }
    Ok(())
}

fn io_err(path: PathBuf, op: &'static str) -> impl FnOnce(io::Error) -> CopyError {
    move |source| CopyError::Io { path, op, source }
}

impl VerifyVisitor<'_> {
    /// Reports destination entries the source lacks.
    fn extras(&mut self, cx: &Ctx) -> Result<(), CopyError> {
        let Some(dst) = cx.dst else { return Ok(()) };
        let fd = sys::open_dir(dst, c".").map_err(io_err(cx.path(None), "open copy"))?;
        let mut ds = DirStream::new(fd).map_err(io_err(cx.path(None), "opendir copy"))?;
        while let Some(name) = ds.next_entry() {
            let name = name.map_err(io_err(cx.path(None), "readdir copy"))?;
            match sys::fstatat(cx.src, &name) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    self.rep.diff(
                        &cx.path(Some(&name)),
                        "present in the copy but missing from the source",
                    );
                }
                Err(e) => return Err(io_err(cx.path(Some(&name)), "lstat")(e)),
            }
        }
        Ok(())
    }

    fn submit(&mut self, job: ContentJob) {
        self.batch_bytes += job.size.max(0) as u64;
        self.batch.push(job);
        if self.batch.len() >= self.batch_max || self.batch_bytes >= shared::BATCH_BYTES {
            self.flush();
        }
    }

    /// Hands the collected comparisons to the pool (or runs them here).
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let jobs = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_max));
        self.batch_bytes = 0;
        let jobs = match &self.tx {
            Some(tx) => match tx.send(jobs) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => jobs,
        };
        for job in &jobs {
            compare_content(job, &mut self.bufs.0, &mut self.bufs.1, self.rep);
        }
    }
}

impl Visitor for VerifyVisitor<'_> {
    fn entry(&mut self, cx: &Ctx, name: &CStr, s: &Stat) -> Result<Descend, CopyError> {
        let path = || cx.path(Some(name));
        let Some(dst) = cx.dst else {
            return Ok(Descend::No);
        };
        let d = match sys::fstatat(dst, name) {
            Ok(d) => d,
            Err(e)
                if e.raw_os_error() == Some(libc::ENOENT)
                    && sys::file_type(s) == libc::S_IFSOCK =>
            {
                log::warn!("verify: skipping socket {}", path().display());
                self.stats.skipped_sockets += 1;
                return Ok(Descend::No);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                self.rep.diff(&path(), "missing from the copy");
                return Ok(Descend::No);
            }
            Err(e) => return Err(io_err(path(), "lstat copy")(e)),
        };
        let ft = sys::file_type(s);
        if ft == libc::S_IFSOCK {
            // copy_tree skips sockets by design.
            log::warn!("verify: skipping socket {}", path().display());
            self.stats.skipped_sockets += 1;
            return Ok(Descend::No);
        }
        if ft != sys::file_type(&d) {
            self.rep.diff(
                &path(),
                &format!(
                    "type {} != {}",
                    sys::type_name(s.st_mode),
                    sys::type_name(d.st_mode)
                ),
            );
            return Ok(Descend::No);
        }
        let snode = XNode::at(cx.src, name).map_err(io_err(path(), "xattr path"))?;
        let dnode = XNode::at(dst, name).map_err(io_err(path(), "xattr path"))?;
        let mut out = Vec::new();
        compare_meta(s, &d, &snode, &dnode, &mut out).map_err(io_err(path(), "xattrs"))?;
        if ft == libc::S_IFLNK {
            let a = sys::readlinkat(cx.src, name, s.st_size.max(0) as usize)
                .map_err(io_err(path(), "readlink"))?;
            let b = sys::readlinkat(dst, name, d.st_size.max(0) as usize)
                .map_err(io_err(path(), "readlink copy"))?;
            if a != b {
                out.push(format!(
                    "symlink target {:?} != {:?}",
                    a.to_string_lossy(),
                    b.to_string_lossy()
                ));
            }
        }
        let mut first_link = true;
        if ft != libc::S_IFDIR && (s.st_nlink > 1 || d.st_nlink > 1) {
            let sid = (s.st_dev, s.st_ino);
            let did = (d.st_dev, d.st_ino);
            let (first_s, bad_s) = note_link(&mut self.src_links, sid, did, crate::sys::nlink(s));
            let (_, bad_d) = note_link(&mut self.dst_links, did, sid, crate::sys::nlink(&d));
            if bad_s.is_some() || bad_d.is_some() {
                out.push(
                    "hardlink structure differs (links to a different inode than its group)".into(),
                );
            }
            if !first_s {
                first_link = false;
                self.stats.hardlinks += 1;
            }
        }
        for w in &out {
            self.rep.diff(&path(), w);
        }
        match ft {
            libc::S_IFDIR => {
                self.stats.dirs += 1;
                let fd = sys::open_dir(dst, name).map_err(io_err(path(), "open copy"))?;
                return Ok(Descend::Yes(Some(fd)));
            }
            libc::S_IFREG if first_link => {
                self.stats.files += 1;
                self.stats.bytes += s.st_size.max(0) as u64;
                if s.st_size == d.st_size && s.st_size > 0 {
                    let sf = sys::open_read(cx.src, name, 0).map_err(io_err(path(), "open"))?;
                    let df = sys::open_read(dst, name, 0).map_err(io_err(path(), "open copy"))?;
                    self.submit(ContentJob {
                        src: sf,
                        dst: df,
                        size: s.st_size,
                        path: path(),
                    });
                }
            }
            libc::S_IFREG => {}
            libc::S_IFLNK => self.stats.symlinks += 1,
            _ => self.stats.specials += 1,
        }
        Ok(Descend::No)
    }

    fn leave(&mut self, cx: &Ctx, _st: &Stat) -> Result<(), CopyError> {
        self.extras(cx)
    }

    fn check(&mut self) -> Result<(), CopyError> {
        match self
            .rep
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

pub(crate) fn verify_tree(src: &Path, dst: &Path) -> Result<CopyStats, CopyError> {
    let sfd = sys::open_dir_path(src).map_err(io_err(src.into(), "open directory"))?;
    let dfd = sys::open_dir_path(dst).map_err(io_err(dst.into(), "open directory"))?;
    let s = sys::fstat(sfd.as_raw_fd()).map_err(io_err(src.into(), "stat"))?;
    let d = sys::fstat(dfd.as_raw_fd()).map_err(io_err(dst.into(), "stat"))?;
    let rep = Report::default();

    let mut out = Vec::new();
    compare_meta(
        &s,
        &d,
        &XNode::Fd(sfd.as_raw_fd()),
        &XNode::Fd(dfd.as_raw_fd()),
        &mut out,
    )
    .map_err(io_err(src.into(), "xattrs"))?;
    for w in &out {
        rep.diff(src, w);
    }

    let (res, stats) = std::thread::scope(|sc| {
        let mut v = VerifyVisitor {
            rep: &rep,
            tx: None,
            batch: Vec::new(),
            batch_bytes: 0,
            batch_max: shared::batch_size(WORKERS),
            bufs: (Vec::new(), Vec::new()),
            src_links: HashMap::new(),
            dst_links: HashMap::new(),
            stats: CopyStats::default(),
        };
        let (tx, rx) = shared::queue::<Vec<ContentJob>>(WORKERS);
        for _ in 0..WORKERS {
            let rx = rx.clone();
            let rep = &rep;
            sc.spawn(move || {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                while let Some(jobs) = shared::next_job(&rx) {
                    for job in &jobs {
                        compare_content(job, &mut a, &mut b, rep);
                    }
                }
            });
        }
        v.tx = Some(tx);
        let r = (|| {
            let s2 = sfd.try_clone().map_err(io_err(src.into(), "dup"))?;
            let d2 = dfd.try_clone().map_err(io_err(dst.into(), "dup"))?;
            walk::walk(src, s2, Some(d2), &mut v)?;
            v.flush();
            let cx = Ctx::root(sfd.as_raw_fd(), Some(dfd.as_raw_fd()), src);
            v.extras(&cx)
        })();
        v.tx = None;
        (r, std::mem::take(&mut v.stats))
    });
    res?;
    if let Some(e) = rep.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    let diffs = rep.diffs.into_inner().unwrap_or_else(|p| p.into_inner());
    if diffs.count > 0 {
        return Err(CopyError::Verify {
            count: diffs.count,
            first: diffs.first.unwrap_or_default(),
        });
    }
    Ok(stats)
}
