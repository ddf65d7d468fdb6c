//! copy_tree: the walking thread creates directories, symlinks, devices,
//! FIFOs and hardlinks, and hands regular files (source opened) in batches
//! to a bounded pool of workers that create the destination file, copy the
//! data and apply the file's metadata.
//!
//! A directory's own metadata and times must be set after every entry in it
//! exists (post-order). When the walk leaves a directory whose files workers
//! are still creating, it parks what finalizing needs (dup'ed fds and the
//! source stat) in the directory's `DirState`; the worker that creates the
//! last pending file applies it.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use crate::file::{self, DataCtx};
use crate::meta::{self, Target};
use crate::shared::{self, Shared};
use crate::sys::{self, Stat};
use crate::walk::{self, Ctx, Descend, Visitor};
use crate::xattr::XNode;
use crate::{CopyError, CopyOptions, CopyStats};

struct FileJob {
    src: OwnedFd,
    dst: Dst,
    st: Stat,
    path: PathBuf,
}

enum Dst {
    /// Already created (hardlinked inodes, sequential mode).
    Open(OwnedFd),
    /// To be created by the worker as `name` in `dir`.
    Create {
        dir: Arc<OwnedFd>,
        name: CString,
        state: Arc<DirState>,
    },
}

/// What finalizing a directory needs once its last file exists.
struct Finish {
    src: OwnedFd,
    dst: OwnedFd,
    st: Stat,
    path: PathBuf,
}

/// A destination directory whose files workers may still be creating.
#[derive(Default)]
struct DirState {
    pending: AtomicUsize,
    finish: Mutex<Option<Finish>>,
}

impl DirState {
    /// A worker created (or failed to create) one of the pending files.
    fn created(&self) -> Result<(), CopyError> {
        if self.pending.fetch_sub(1, Ordering::SeqCst) != 1 {
            return Ok(());
        }
        let f = self.finish.lock().unwrap_or_else(|p| p.into_inner()).take();
        match f {
            Some(f) => finish(&f),
            None => Ok(()),
        }
    }
}

fn finish(f: &Finish) -> Result<(), CopyError> {
    meta::apply(
        &XNode::Fd(f.src.as_raw_fd()),
        &Target::Fd(f.dst.as_raw_fd()),
        &f.st,
    )
    .map_err(op_err(f.path.clone()))
}

/// Per directory level of the walk: its state, and (while files of it are
/// being queued) a shared fd of the destination directory.
struct Level {
    state: Arc<DirState>,
    dir: Option<Arc<OwnedFd>>,
}

fn dup_raw(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fd is open for the duration of this call (owned by the walk).
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()
}

/// A hardlinked inode already copied: where, and how many more links to expect.
struct LinkEntry {
    rel: Vec<u8>,
    remaining: u64,
}

fn io(path: PathBuf, op: &'static str) -> impl FnOnce(io::Error) -> CopyError {
    move |source| CopyError::Io { path, op, source }
}

fn op_err(path: PathBuf) -> impl FnOnce(meta::OpError) -> CopyError {
    move |(op, source)| CopyError::Io { path, op, source }
}

fn run_job(job: FileJob, sh: &Shared, data: &DataCtx, buf: &mut Vec<u8>) -> Result<(), CopyError> {
    let dst = match job.dst {
        Dst::Open(fd) => fd,
        Dst::Create { dir, name, state } => {
            let r = sys::openat(
                dir.as_raw_fd(),
                &name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                0o600,
            );
            drop(dir);
            let done = state.created();
            let fd = r.map_err(io(job.path.clone(), "create"))?;
            done?;
            fd
        }
    };
    let (s, d) = (job.src.as_raw_fd(), dst.as_raw_fd());
    let mut on_bytes = |n: u64| {
        sh.bytes.fetch_add(n, Ordering::Relaxed);
        sh.report(false);
    };
    file::copy_data(s, d, &job.st, data, buf, &mut on_bytes)
        .map_err(io(job.path.clone(), "copy data"))?;
    meta::apply(&XNode::Fd(s), &Target::Fd(d), &job.st).map_err(op_err(job.path))?;
    sh.files.fetch_add(1, Ordering::Relaxed);
    sh.report(false);
    Ok(())
}

struct CopyVisitor<'s, 'a> {
    sh: &'s Shared<'a>,
    data: &'s DataCtx,
    tx: Option<SyncSender<Vec<FileJob>>>,
    /// Jobs collected for the next hand-off (one wake-up per batch).
    batch: Vec<FileJob>,
    batch_bytes: u64,
    batch_max: usize,
    buf: Vec<u8>,
    links: HashMap<(u64, u64), LinkEntry>,
    dst_root: RawFd,
    dst_root_id: (u64, u64),
    stats: CopyStats,
    /// One per directory level being walked (the root first).
    levels: Vec<Level>,
}

impl CopyVisitor<'_, '_> {
    fn link(&self, rel: &[u8], dst: RawFd, name: &CStr) -> io::Result<()> {
        let old = sys::cstring(rel)?;
        match sys::linkat(self.dst_root, &old, dst, name) {
            Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => {}
            r => return r,
        }
        // Too long for one path: walk to the directory holding the first link.
        let mut parts: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
        let last = parts.pop().unwrap_or_default();
        let mut dir: Option<OwnedFd> = None;
        for p in parts {
            let c = sys::cstring(p)?;
            let base = dir.as_ref().map_or(self.dst_root, |d| d.as_raw_fd());
            dir = Some(sys::open_dir(base, &c)?);
        }
        let base = dir.as_ref().map_or(self.dst_root, |d| d.as_raw_fd());
        sys::linkat(base, &sys::cstring(last)?, dst, name)
    }

    fn submit(&mut self, job: FileJob) -> Result<(), CopyError> {
        if self.tx.is_none() {
            return run_job(job, self.sh, self.data, &mut self.buf);
        }
        self.batch_bytes += job.st.st_size.max(0) as u64;
        self.batch.push(job);
        if self.batch.len() >= self.batch_max || self.batch_bytes >= shared::BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the collected jobs to the pool.
    fn flush(&mut self) -> Result<(), CopyError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let jobs = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_max));
        self.batch_bytes = 0;
        match &self.tx {
            Some(tx) => {
                if tx.send(jobs).is_err() {
                    // Workers are gone: only after an error was recorded.
                    return Err(self.sh.take_err().unwrap_or_else(|| CopyError::Io {
                        path: PathBuf::new(),
                        op: "queue file copy",
                        source: io::Error::other("worker pool stopped"),
                    }));
                }
                Ok(())
            }
            None => {
                for job in jobs {
                    run_job(job, self.sh, self.data, &mut self.buf)?;
                }
                Ok(())
            }
        }
    }
}

impl Visitor for CopyVisitor<'_, '_> {
    fn entry(&mut self, cx: &Ctx, name: &CStr, st: &Stat) -> Result<Descend, CopyError> {
        let path = || cx.path(Some(name));
        let Some(dst) = cx.dst else {
            return Err(CopyError::Io {
                path: path(),
                op: "copy",
                source: io::Error::other("no destination directory"),
            });
        };
        let ft = sys::file_type(st);
        let key = (st.st_dev, st.st_ino);
        let linked = ft != libc::S_IFDIR && ft != libc::S_IFSOCK && st.st_nlink > 1;
        if linked {
            if let Some(le) = self.links.get(&key) {
                self.link(&le.rel, dst, name).map_err(io(path(), "link"))?;
                self.stats.hardlinks += 1;
                let remaining = le.remaining.saturating_sub(1);
                if remaining == 0 {
                    self.links.remove(&key);
                } else if let Some(le) = self.links.get_mut(&key) {
                    le.remaining = remaining;
                }
                self.sh.files.fetch_add(1, Ordering::Relaxed);
                self.sh.report(false);
                return Ok(Descend::No);
            }
        }
        let mut descend = Descend::No;
        match ft {
            libc::S_IFDIR => {
                if key == self.dst_root_id {
                    return Err(CopyError::DestInsideSource(path()));
                }
                sys::mkdirat(dst, name, 0o700).map_err(io(path(), "mkdir"))?;
                let fd = sys::open_dir(dst, name).map_err(io(path(), "open new directory"))?;
                self.stats.dirs += 1;
                descend = Descend::Yes(Some(fd));
            }
            libc::S_IFREG => {
                let s = sys::open_read(cx.src, name, 0).map_err(io(path(), "open"))?;
                // Hardlinked inodes are created here, so that later links
                // can be made at once; so is everything in sequential mode.
                let d = if linked || self.tx.is_none() {
                    Dst::Open(
                        sys::openat(
                            dst,
                            name,
                            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                            0o600,
                        )
                        .map_err(io(path(), "create"))?,
                    )
                } else {
                    let Some(level) = self.levels.last_mut() else {
                        return Err(CopyError::Io {
                            path: path(),
                            op: "copy",
                            source: io::Error::other("no directory level"),
                        });
                    };
                    let dir = match &level.dir {
                        Some(d) => d.clone(),
                        None => {
                            let d = Arc::new(dup_raw(dst).map_err(io(path(), "dup"))?);
                            level.dir = Some(d.clone());
                            d
                        }
                    };
                    level.state.pending.fetch_add(1, Ordering::SeqCst);
                    Dst::Create {
                        dir,
                        name: name.to_owned(),
                        state: level.state.clone(),
                    }
                };
                self.stats.files += 1;
                self.stats.bytes += st.st_size.max(0) as u64;
                self.submit(FileJob {
                    src: s,
                    dst: d,
                    st: *st,
                    path: path(),
                })?;
            }
            libc::S_IFLNK => {
                let target = sys::readlinkat(cx.src, name, st.st_size.max(0) as usize)
                    .map_err(io(path(), "readlink"))?;
                sys::symlinkat(&target, dst, name).map_err(io(path(), "symlink"))?;
                let src_node = XNode::at(cx.src, name).map_err(io(path(), "xattr path"))?;
                meta::apply(&src_node, &Target::At(dst, name), st).map_err(op_err(path()))?;
                self.stats.symlinks += 1;
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                sys::mknodat(dst, name, ft | 0o600, st.st_rdev).map_err(io(path(), "mknod"))?;
                let src_node = XNode::at(cx.src, name).map_err(io(path(), "xattr path"))?;
                meta::apply(&src_node, &Target::At(dst, name), st).map_err(op_err(path()))?;
                self.stats.specials += 1;
            }
            libc::S_IFSOCK => {
                log::warn!("skipping socket {}", path().display());
                self.stats.skipped_sockets += 1;
                return Ok(Descend::No);
            }
            _ => {
                return Err(CopyError::Io {
                    path: path(),
                    op: "copy",
                    source: io::Error::other(format!("unknown file type {:o}", st.st_mode)),
                })
            }
        }
        if linked {
            self.links.insert(
                key,
                LinkEntry {
                    rel: cx.rel(name),
                    remaining: crate::sys::nlink(st) - 1,
                },
            );
        }
        if ft != libc::S_IFREG {
            self.sh.files.fetch_add(1, Ordering::Relaxed);
            self.sh.report(false);
        }
        if let Descend::Yes(_) = descend {
            // Jobs hold their own reference to this level's fd; dropping ours
            // keeps open fds bounded however deep the walk goes.
            if let Some(level) = self.levels.last_mut() {
                level.dir = None;
            }
            self.levels.push(Level {
                state: Arc::default(),
                dir: None,
            });
        }
        Ok(descend)
    }

    fn leave(&mut self, cx: &Ctx, st: &Stat) -> Result<(), CopyError> {
        let Some(dst) = cx.dst else {
            return Err(CopyError::Io {
                path: cx.path(None),
                op: "copy",
                source: io::Error::other("no destination directory"),
            });
        };
        let Some(level) = self.levels.pop() else {
            return Err(CopyError::Io {
                path: cx.path(None),
                op: "copy",
                source: io::Error::other("directory levels out of step"),
            });
        };
        drop(level.dir);
        let state = level.state;
        let mut parked = state.finish.lock().unwrap_or_else(|p| p.into_inner());
        if state.pending.load(Ordering::SeqCst) == 0 {
            drop(parked);
            return meta::apply(&XNode::Fd(cx.src), &Target::Fd(dst), st)
                .map_err(op_err(cx.path(None)));
        }
        // Files are still being created in it: the last one finalizes it.
        *parked = Some(Finish {
            src: dup_raw(cx.src).map_err(io(cx.path(None), "dup"))?,
            dst: dup_raw(dst).map_err(io(cx.path(None), "dup"))?,
            st: *st,
            path: cx.path(None),
        });
        Ok(())
    }

    fn check(&mut self) -> Result<(), CopyError> {
        if self.sh.aborted() {
            return Err(self.sh.take_err().unwrap_or_else(|| CopyError::Io {
                path: PathBuf::new(),
                op: "copy",
                source: io::Error::other("aborted"),
            }));
        }
        Ok(())
    }
}

fn open_root(p: &Path) -> Result<OwnedFd, CopyError> {
    sys::open_dir_path(p).map_err(io(p.into(), "open directory"))
}

fn dup(fd: &OwnedFd, p: &Path) -> Result<OwnedFd, CopyError> {
    fd.try_clone().map_err(io(p.into(), "dup"))
}

pub(crate) fn copy_tree(
    src: &Path,
    dst: &Path,
    opts: &CopyOptions,
) -> Result<CopyStats, CopyError> {
    let src_fd = open_root(src)?;
    let dst_fd = open_root(dst)?;
    if !sys::dir_is_empty(dst_fd.as_raw_fd()).map_err(io(dst.into(), "read directory"))? {
        return Err(CopyError::DestNotEmpty(dst.into()));
    }
    crate::mounts::check_no_submounts(src)?;
    let src_st = sys::fstat(src_fd.as_raw_fd()).map_err(io(src.into(), "stat"))?;
    let dst_st = sys::fstat(dst_fd.as_raw_fd()).map_err(io(dst.into(), "stat"))?;
    let dst_root_id = (dst_st.st_dev, dst_st.st_ino);
    if (src_st.st_dev, src_st.st_ino) == dst_root_id {
        return Err(CopyError::DestInsideSource(dst.into()));
    }

    let sh = Shared::new(
        opts.progress,
        opts.progress_interval,
        opts.total_files,
        opts.total_bytes,
    );
    let data = DataCtx::default();
    let workers = opts.workers;
    let stats = std::thread::scope(|s| {
        let mut v = CopyVisitor {
            sh: &sh,
            data: &data,
            tx: None,
            batch: Vec::new(),
            batch_bytes: 0,
            batch_max: shared::batch_size(workers),
            buf: Vec::new(),
            links: HashMap::new(),
            dst_root: dst_fd.as_raw_fd(),
            dst_root_id,
            stats: CopyStats::default(),
            levels: vec![Level {
                state: Arc::default(),
                dir: None,
            }],
        };
        if workers > 1 {
            let (tx, rx) = shared::queue::<Vec<FileJob>>(workers);
            for _ in 0..workers {
                let rx = rx.clone();
                let (sh, data) = (&sh, &data);
                s.spawn(move || {
                    let mut buf = Vec::new();
                    while let Some(jobs) = shared::next_job(&rx) {
                        for job in jobs {
                            if sh.aborted() {
                                continue;
                            }
                            if let Err(e) = run_job(job, sh, data, &mut buf) {
                                sh.fail(e);
                            }
                        }
                    }
                });
            }
            v.tx = Some(tx);
        }
        let r = (|| {
            let s2 = dup(&src_fd, src)?;
            let d2 = dup(&dst_fd, dst)?;
            walk::walk(src, s2, Some(d2), &mut v)?;
            v.flush()
        })();
        if let Err(e) = r {
            sh.fail(e);
        }
        // Closing the queue lets the workers finish; the scope joins them.
        v.tx = None;
        v.levels.clear();
        std::mem::take(&mut v.stats)
    });
    if let Some(e) = sh.take_err() {
        return Err(e);
    }
    meta::apply(
        &XNode::Fd(src_fd.as_raw_fd()),
        &Target::Fd(dst_fd.as_raw_fd()),
        &src_st,
    )
    .map_err(op_err(dst.into()))?;
    sh.report(true);
    Ok(stats)
}

pub(crate) fn copy_dir_metadata(src: &Path, dst: &Path) -> Result<(), CopyError> {
    let s = open_root(src)?;
    let d = open_root(dst)?;
    let st = sys::fstat(s.as_raw_fd()).map_err(io(src.into(), "stat"))?;
    meta::apply(&XNode::Fd(s.as_raw_fd()), &Target::Fd(d.as_raw_fd()), &st)
        .map_err(op_err(dst.into()))
}
