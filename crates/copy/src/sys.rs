//! Thin fd-relative wrappers over libc. Everything here works on directory
//! fds plus single names, so path length never matters and symlinks are
//! never followed unless a caller asks for it.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub(crate) type Stat = libc::stat;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Retries a syscall on EINTR.
fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

pub(crate) fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub(crate) fn fstatat(dirfd: RawFd, name: &CStr) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<Stat>::uninit();
    // SAFETY: name is NUL-terminated, st is a valid out-pointer.
    cvt(unsafe {
        libc::fstatat(
            dirfd,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded and filled the struct.
    Ok(unsafe { st.assume_init() })
}

pub(crate) fn fstat(fd: RawFd) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<Stat>::uninit();
    // SAFETY: st is a valid out-pointer.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded.
    Ok(unsafe { st.assume_init() })
}

/// openat with O_NOFOLLOW|O_CLOEXEC always added.
pub(crate) fn openat(
    dirfd: RawFd,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let fd = retry(|| {
        // SAFETY: name is NUL-terminated.
        cvt(unsafe { libc::openat(dirfd, name.as_ptr(), flags, mode as libc::c_uint) })
    })?;
    // SAFETY: fd was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens for reading without touching atime where permitted.
pub(crate) fn open_read(dirfd: RawFd, name: &CStr, extra: libc::c_int) -> io::Result<OwnedFd> {
    match openat(dirfd, name, libc::O_RDONLY | libc::O_NOATIME | extra, 0) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            openat(dirfd, name, libc::O_RDONLY | extra, 0)
        }
        r => r,
    }
}

pub(crate) fn open_dir(dirfd: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    open_read(dirfd, name, libc::O_DIRECTORY)
}

pub(crate) fn mkdirat(dirfd: RawFd, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::mkdirat(dirfd, name.as_ptr(), mode) }).map(drop)
}

pub(crate) fn mknodat(
    dirfd: RawFd,
    name: &CStr,
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> io::Result<()> {
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::mknodat(dirfd, name.as_ptr(), mode, dev) }).map(drop)
}

pub(crate) fn symlinkat(target: &CStr, dirfd: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dirfd, name.as_ptr()) }).map(drop)
}

pub(crate) fn linkat(olddir: RawFd, old: &CStr, newdir: RawFd, new: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated.
    cvt(unsafe { libc::linkat(olddir, old.as_ptr(), newdir, new.as_ptr(), 0) }).map(drop)
}

/// Reads a symlink's target; `hint` is st_size.
pub(crate) fn readlinkat(dirfd: RawFd, name: &CStr, hint: usize) -> io::Result<CString> {
    let mut cap = hint.max(64) + 1;
    loop {
        let mut buf = vec![0u8; cap];
        // SAFETY: buf has cap bytes.
        let n = cvt_size(unsafe {
            libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), cap)
        })?;
        if n < cap {
            buf.truncate(n);
            return cstring(&buf);
        }
        cap *= 2;
    }
}

pub(crate) fn fchown(fd: RawFd, uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::fchown(fd, uid, gid) }).map(drop)
}

pub(crate) fn lchownat(
    dirfd: RawFd,
    name: &CStr,
    uid: libc::uid_t,
    gid: libc::gid_t,
) -> io::Result<()> {
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::fchownat(dirfd, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
        .map(drop)
}

pub(crate) fn fchmod(fd: RawFd, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::fchmod(fd, mode) }).map(drop)
}

/// chmod of a non-symlink entry we created ourselves.
pub(crate) fn fchmodat(dirfd: RawFd, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::fchmodat(dirfd, name.as_ptr(), mode, 0) }).map(drop)
}

pub(crate) fn times_of(st: &Stat) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ]
}

pub(crate) fn futimens(fd: RawFd, st: &Stat) -> io::Result<()> {
    let ts = times_of(st);
    // SAFETY: ts is a valid 2-element array.
    cvt(unsafe { libc::futimens(fd, ts.as_ptr()) }).map(drop)
}

pub(crate) fn lutimensat(dirfd: RawFd, name: &CStr, st: &Stat) -> io::Result<()> {
    let ts = times_of(st);
    // SAFETY: name is NUL-terminated, ts is a 2-element array.
    cvt(unsafe { libc::utimensat(dirfd, name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
        .map(drop)
}

pub(crate) fn ftruncate(fd: RawFd, len: i64) -> io::Result<()> {
    retry(|| {
        // SAFETY: plain syscall.
        cvt(unsafe { libc::ftruncate(fd, len) }).map(drop)
    })
}

/// lseek returning None on ENXIO (no more data / hole past EOF).
pub(crate) fn lseek(fd: RawFd, off: i64, whence: libc::c_int) -> io::Result<Option<i64>> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::lseek(fd, off, whence) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENXIO) {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(r))
}

pub(crate) fn pread(fd: RawFd, buf: &mut [u8], off: i64) -> io::Result<usize> {
    retry(|| {
        // SAFETY: buf is valid for buf.len() bytes.
        cvt_size(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off) })
    })
}

pub(crate) fn pwrite_all(fd: RawFd, mut buf: &[u8], mut off: i64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = retry(|| {
            // SAFETY: buf is valid for buf.len() bytes.
            cvt_size(unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), off) })
        })?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        buf = &buf[n..];
        off += n as i64;
    }
    Ok(())
}

pub(crate) fn copy_file_range(
    src: RawFd,
    off_in: &mut i64,
    dst: RawFd,
    off_out: &mut i64,
    len: usize,
) -> io::Result<usize> {
    retry(|| {
        // SAFETY: offsets are valid pointers to i64 (loff_t).
        cvt_size(unsafe { libc::copy_file_range(src, off_in, dst, off_out, len, 0) })
    })
}

/// sendfile from `src` at `*off` to `dst` at its file position.
pub(crate) fn sendfile(dst: RawFd, src: RawFd, off: &mut i64, len: usize) -> io::Result<usize> {
    retry(|| {
        // SAFETY: off points to a valid off_t.
        cvt_size(unsafe { libc::sendfile(dst, src, off, len) })
    })
}

pub(crate) fn seek_set(fd: RawFd, off: i64) -> io::Result<()> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::lseek(fd, off, libc::SEEK_SET) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn fadvise_sequential(fd: RawFd) {
    // SAFETY: plain syscall; advice only, errors are irrelevant.
    unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_SEQUENTIAL) };
}

/// True if the mode is a directory.
pub(crate) fn is_dir(st: &Stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

pub(crate) fn file_type(st: &Stat) -> libc::mode_t {
    st.st_mode & libc::S_IFMT
}

pub(crate) fn type_name(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symlink",
        libc::S_IFCHR => "char device",
        libc::S_IFBLK => "block device",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "unknown type",
    }
}

/// A readdir stream owning its directory fd; can remember and restore its
/// position so that the fd may be closed and reopened later.
pub(crate) struct DirStream {
    dir: std::ptr::NonNull<libc::DIR>,
}

// SAFETY: a DIR is only used by the thread that owns the DirStream.
unsafe impl Send for DirStream {}

impl DirStream {
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
        use std::os::fd::IntoRawFd;
        let raw = fd.into_raw_fd();
        // SAFETY: raw is an owned directory fd; on success DIR owns it.
        let p = unsafe { libc::fdopendir(raw) };
        match std::ptr::NonNull::new(p) {
            Some(dir) => Ok(DirStream { dir }),
            None => {
                let e = io::Error::last_os_error();
                // SAFETY: fdopendir failed, so we still own raw.
                drop(unsafe { OwnedFd::from_raw_fd(raw) });
                Err(e)
            }
        }
    }

    pub(crate) fn fd(&self) -> RawFd {
        // SAFETY: dir is a valid open DIR.
        unsafe { libc::dirfd(self.dir.as_ptr()) }
    }

    /// Next entry other than "." and "..", copied out.
    pub(crate) fn next_entry(&mut self) -> Option<io::Result<CString>> {
        loop {
            // SAFETY: errno is thread-local; clearing it distinguishes end from error.
            unsafe { *libc::__errno_location() = 0 };
            // SAFETY: dir is a valid open DIR.
            let ent = unsafe { libc::readdir64(self.dir.as_ptr()) };
            if ent.is_null() {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(0) | None => None,
                    _ => Some(Err(e)),
                };
            }
            // SAFETY: d_name is NUL-terminated inside the returned dirent.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            let b = name.to_bytes();
            if b == b"." || b == b".." {
                continue;
            }
            return Some(Ok(name.to_owned()));
        }
    }

    pub(crate) fn tell(&self) -> libc::c_long {
        // SAFETY: dir is valid.
        unsafe { libc::telldir(self.dir.as_ptr()) }
    }

    pub(crate) fn seek(&mut self, pos: libc::c_long) {
        // SAFETY: dir is valid; pos came from telldir on the same directory.
        unsafe { libc::seekdir(self.dir.as_ptr(), pos) }
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: dir is valid and closed exactly once.
        unsafe { libc::closedir(self.dir.as_ptr()) };
    }
}

impl AsRawFd for DirStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

/// True if the directory has no entries besides "." and "..".
pub(crate) fn dir_is_empty(fd: RawFd) -> io::Result<bool> {
    let dup = open_dir(fd, c".")?;
    let mut ds = DirStream::new(dup)?;
    match ds.next_entry() {
        None => Ok(true),
        Some(Ok(_)) => Ok(false),
        Some(Err(e)) => Err(e),
    }
}

/// Opens a directory given by path (following symlinks in the path).
pub(crate) fn open_dir_path(p: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = cstring(p.as_os_str().as_bytes())?;
    let fd = retry(|| {
        // SAFETY: c is NUL-terminated.
        cvt(unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })
    })?;
    // SAFETY: fd was just returned by open.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `st_nlink` as u64: `nlink_t` is u64 on x86_64 but u32 on aarch64.
#[allow(clippy::useless_conversion)]
pub(crate) fn nlink(st: &libc::stat) -> u64 {
    u64::from(st.st_nlink)
}
