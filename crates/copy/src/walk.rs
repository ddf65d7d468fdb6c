//! One streaming, iterative, fd-relative traversal of a source tree,
//! optionally mirrored by a destination tree (copy creates it, verify reads it).
//!
//! * No recursion: an explicit stack of frames, so depth is unlimited.
//! * Bounded fds: only the deepest `WINDOW` frames keep their directory fds
//!   open. A frame pushed out of the window remembers its readdir position
//!   (telldir) and is reopened on the way back up through `..` of its child,
//!   checked against the recorded device and inode.
//! * Never crosses a mount: every entry must be on the root's st_dev.
//! * Never follows a symlink: fstatat(AT_SYMLINK_NOFOLLOW), openat(O_NOFOLLOW).

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::{self, DirStream, Stat};
use crate::CopyError;

/// Frames whose fds stay open (two fds each when mirrored).
const WINDOW: usize = 32;

pub(crate) enum Descend {
    No,
    /// Descend into the directory; the visitor supplies the matching
    /// destination directory fd (None when not mirroring).
    Yes(Option<OwnedFd>),
}

/// Where the walk currently is.
pub(crate) struct Ctx<'a> {
    pub src: RawFd,
    pub dst: Option<RawFd>,
    names: &'a [CString],
    root: &'a Path,
}

impl<'a> Ctx<'a> {
    /// Context of the root directory itself.
    pub(crate) fn root(src: RawFd, dst: Option<RawFd>, root: &'a Path) -> Ctx<'a> {
        Ctx {
            src,
            dst,
            names: &[],
            root,
        }
    }

    /// Full source path of the current directory, or of `name` inside it.
    pub(crate) fn path(&self, name: Option<&CStr>) -> PathBuf {
        let mut p = self.root.to_path_buf();
        for n in self.names {
            p.push(OsStr::from_bytes(n.to_bytes()));
        }
        if let Some(n) = name {
            p.push(OsStr::from_bytes(n.to_bytes()));
        }
        p
    }

    /// Path of `name` relative to the root, as bytes.
    pub(crate) fn rel(&self, name: &CStr) -> Vec<u8> {
        let mut v = Vec::new();
        for n in self.names {
            v.extend_from_slice(n.to_bytes());
            v.push(b'/');
        }
        v.extend_from_slice(name.to_bytes());
        v
    }
}

pub(crate) trait Visitor {
    /// Called for every entry of every directory, with its lstat.
    fn entry(&mut self, cx: &Ctx, name: &CStr, st: &Stat) -> Result<Descend, CopyError>;
    /// Called after all entries of a descended directory (not the root).
    /// `cx` is the directory itself; `st` is its source stat.
    fn leave(&mut self, cx: &Ctx, st: &Stat) -> Result<(), CopyError>;
    /// Polled between entries; return an error to stop the walk.
    fn check(&mut self) -> Result<(), CopyError> {
        Ok(())
    }
}

struct Frame {
    src: Option<DirStream>,
    dst: Option<OwnedFd>,
    pos: libc::c_long,
    st: Stat,
    dst_id: (u64, u64),
    mirrored: bool,
}

fn io_err(path: PathBuf, op: &'static str) -> impl FnOnce(io::Error) -> CopyError {
    move |source| CopyError::Io { path, op, source }
}

fn internal(path: PathBuf, what: &str) -> CopyError {
    CopyError::Io {
        path,
        op: "walk",
        source: io::Error::other(what.to_string()),
    }
}

/// Walks the tree below `src` (whose path is `root`, used for messages).
pub(crate) fn walk(
    root: &Path,
    src: OwnedFd,
    dst: Option<OwnedFd>,
    v: &mut impl Visitor,
) -> Result<(), CopyError> {
    let st = sys::fstat(src.as_raw_fd()).map_err(io_err(root.into(), "stat"))?;
    let root_dev = st.st_dev;
    let stream = DirStream::new(src).map_err(io_err(root.into(), "opendir"))?;
    let mut frames = vec![Frame {
        src: Some(stream),
        dst,
        pos: 0,
        st,
        dst_id: (0, 0),
        mirrored: false,
    }];
    let mut names: Vec<CString> = Vec::new();
    // frames[first_open..] have open fds.
    let mut first_open = 0usize;

    loop {
        v.check()?;
        let top = frames.len() - 1;
        let (src_fd, dst_fd) = {
            let f = &frames[top];
            match &f.src {
                Some(s) => (s.fd(), f.dst.as_ref().map(|d| d.as_raw_fd())),
                None => {
                    let cx = Ctx {
                        src: -1,
                        dst: None,
                        names: &names,
                        root,
                    };
                    return Err(internal(cx.path(None), "directory fd not open"));
                }
            }
        };
        let next = match frames[top].src.as_mut() {
            Some(s) => s.next_entry(),
            None => None,
        };
        match next {
            None => {
                let Some(f) = frames.pop() else { break };
                if frames.is_empty() {
                    break;
                }
                {
                    let cx = Ctx {
                        src: src_fd,
                        dst: dst_fd,
                        names: &names,
                        root,
                    };
                    v.leave(&cx, &f.st)?;
                }
                let parent = frames.len() - 1;
                if parent < first_open {
                    names.pop();
                    let cx = Ctx {
                        src: -1,
                        dst: None,
                        names: &names,
                        root,
                    };
                    reopen(&mut frames[parent], &f, &cx)?;
                    first_open = parent;
                } else {
                    names.pop();
                }
            }
            Some(Err(e)) => {
                let cx = Ctx {
                    src: src_fd,
                    dst: dst_fd,
                    names: &names,
                    root,
                };
                return Err(io_err(cx.path(None), "readdir")(e));
            }
            Some(Ok(name)) => {
                let cx = Ctx {
                    src: src_fd,
                    dst: dst_fd,
                    names: &names,
                    root,
                };
                let est =
                    sys::fstatat(src_fd, &name).map_err(io_err(cx.path(Some(&name)), "lstat"))?;
                if est.st_dev != root_dev {
                    return Err(CopyError::Submount(root.into(), cx.path(Some(&name))));
                }
                let Descend::Yes(child_dst) = v.entry(&cx, &name, &est)? else {
                    continue;
                };
                if !sys::is_dir(&est) {
                    return Err(internal(cx.path(Some(&name)), "descend into non-directory"));
                }
                let fd = sys::open_dir(src_fd, &name)
                    .map_err(io_err(cx.path(Some(&name)), "open directory"))?;
                let dst2 = sys::fstat(fd.as_raw_fd())
                    .map_err(io_err(cx.path(Some(&name)), "stat directory"))?;
                if dst2.st_dev != root_dev {
                    return Err(CopyError::Submount(root.into(), cx.path(Some(&name))));
                }
                if dst2.st_ino != est.st_ino {
                    return Err(internal(
                        cx.path(Some(&name)),
                        "directory replaced while walking",
                    ));
                }
                let stream = DirStream::new(fd).map_err(io_err(cx.path(Some(&name)), "opendir"))?;
                frames.push(Frame {
                    src: Some(stream),
                    dst: child_dst,
                    pos: 0,
                    st: dst2,
                    dst_id: (0, 0),
                    mirrored: false,
                });
                names.push(name);
                if frames.len() - first_open > WINDOW {
                    let f = &mut frames[first_open];
                    if let Some(s) = f.src.take() {
                        f.pos = s.tell();
                    }
                    if let Some(d) = f.dst.take() {
                        let cx = Ctx {
                            src: -1,
                            dst: None,
                            names: &names[..first_open],
                            root,
                        };
                        let dst_st = sys::fstat(d.as_raw_fd())
                            .map_err(io_err(cx.path(None), "stat destination directory"))?;
                        f.dst_id = (dst_st.st_dev, dst_st.st_ino);
                        f.mirrored = true;
                    }
                    first_open += 1;
                }
            }
        }
    }
    Ok(())
}

/// Reopens `parent` (closed) through `..` of its just-finished child.
fn reopen(parent: &mut Frame, child: &Frame, cx: &Ctx) -> Result<(), CopyError> {
    let Some(cs) = &child.src else {
        return Err(internal(cx.path(None), "child directory fd not open"));
    };
    let fd = sys::open_dir(cs.fd(), c"..").map_err(io_err(cx.path(None), "reopen directory"))?;
    let st = sys::fstat(fd.as_raw_fd()).map_err(io_err(cx.path(None), "stat directory"))?;
    if (st.st_dev, st.st_ino) != (parent.st.st_dev, parent.st.st_ino) {
        return Err(internal(cx.path(None), "directory moved while walking"));
    }
    let mut stream = DirStream::new(fd).map_err(io_err(cx.path(None), "opendir"))?;
    stream.seek(parent.pos);
    parent.src = Some(stream);
    if parent.mirrored {
        let Some(cd) = &child.dst else {
            return Err(internal(cx.path(None), "child destination fd not open"));
        };
        let fd = sys::open_dir(cd.as_raw_fd(), c"..")
            .map_err(io_err(cx.path(None), "reopen destination directory"))?;
        let st = sys::fstat(fd.as_raw_fd())
            .map_err(io_err(cx.path(None), "stat destination directory"))?;
        if (st.st_dev, st.st_ino) != parent.dst_id {
            return Err(internal(
                cx.path(None),
                "destination directory moved while copying",
            ));
        }
        parent.dst = Some(fd);
        parent.mirrored = false;
    }
    Ok(())
}
