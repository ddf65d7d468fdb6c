//! Serialises concurrent runs: an flock on a file under /run, taken with a
//! bound. Nothing on the boot path may wait for ever: a lock still held
//! when the bound runs out is an error that says who holds it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const DEFAULT_LOCK: &str = "/run/datavol/lock";

/// How long a run waits for the run lock: a status or a pre-warm holds it
/// for moments, so a minute only runs out when another apply is migrating,
/// which can take far longer than anyone should wait blind.
pub const RUN_WAIT: Duration = Duration::from_secs(60);

/// How long a run waits for the records lock: it is held only while a few
/// small files are written, and check-images waits for it while containerd
/// starts.
pub const RECORDS_WAIT: Duration = Duration::from_secs(5);

const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock {path}: {source}; hint: /run must be writable by root")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "lock {path}: still held by {holder} after {}s; gave up waiting; hint: another datavol run is at work (`systemctl status datavol.service` shows what it is doing); run this again once it has finished",
        waited.as_secs()
    )]
    Busy {
        path: PathBuf,
        holder: String,
        waited: Duration,
    },
}

pub struct RunLock {
    _file: File,
}

/// Who takes the lock: apply changes disks, plan and status only look,
/// but must not look halfway through an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// apply: alone.
    Exclusive,
    /// plan, status: alongside each other, never during an apply.
    Shared,
}

/// Takes the run lock with `access`, waiting at most [`RUN_WAIT`].
pub fn take(path: &Path, access: Access) -> Result<RunLock, LockError> {
    take_within(path, access, RUN_WAIT)
}

/// Takes the lock with `access`, waiting at most `wait` for another holder.
pub fn take_within(path: &Path, access: Access, wait: Duration) -> Result<RunLock, LockError> {
    let err = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        // Not a link, and a FIFO put there fails the open (ENXIO), never blocks it.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(err)?;
    let got = flock_within(&file, access, wait, || {
        log::info!(
            "{} holds {}; waiting up to {}s for it to finish",
            holder(&file),
            path.display(),
            wait.as_secs()
        )
    })
    .map_err(err)?;
    if !got {
        return Err(LockError::Busy {
            path: path.to_path_buf(),
            holder: holder(&file),
            waited: wait,
        });
    }
    Ok(RunLock { _file: file })
}

/// Takes an flock on `file`, polling for at most `wait`; false when it is
/// still held by another then. `waiting` runs once, if it has to wait.
pub fn flock_within(
    file: &File,
    access: Access,
    wait: Duration,
    waiting: impl FnOnce(),
) -> std::io::Result<bool> {
    let op = match access {
        Access::Exclusive => libc::LOCK_EX,
        Access::Shared => libc::LOCK_SH,
    } | libc::LOCK_NB;
    let start = Instant::now();
    let mut waiting = Some(waiting);
    // SAFETY: flock on a caller's open fd; LOCK_NB never blocks.
    while unsafe { libc::flock(file.as_raw_fd(), op) } != 0 {
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => {}
            _ => return Err(e),
        }
        if start.elapsed() >= wait {
            return Ok(false);
        }
        if let Some(w) = waiting.take() {
            w();
        }
        std::thread::sleep(POLL);
    }
    Ok(true)
}

/// Who holds the flock on `file`, from /proc/locks: the process that took
/// it and its command line, as far as the kernel still knows them.
pub fn holder(file: &File) -> String {
    use std::os::unix::fs::MetadataExt;
    let who = file.metadata().ok().and_then(|md| {
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        holder_pid(&locks, md.dev(), md.ino())
    });
    match who {
        Some(pid) => {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let words: Vec<String> = c
                        .split(|b| *b == 0)
                        .filter(|w| !w.is_empty())
                        .map(|w| String::from_utf8_lossy(w).into_owned())
                        .collect();
                    words.join(" ")
                })
                .unwrap_or_default();
            if cmd.is_empty() {
                format!("pid {pid}")
            } else {
                format!("pid {pid} ({cmd})")
            }
        }
        None => "another process".into(),
    }
}

/// The pid of an FLOCK line of /proc/locks on (`dev`, `ino`). Lines read
/// `1: FLOCK  ADVISORY  WRITE 1234 00:19:567 0 EOF`; blocked waiters carry
/// a `->` and are skipped.
fn holder_pid(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let want = format!("{:02x}:{:02x}:{ino}", libc::major(dev), libc::minor(dev));
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&want.as_str()))
            .then(|| f.get(4)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_given_up_with_its_holder_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lock");
        let _held = take_within(&path, Access::Exclusive, Duration::ZERO).expect("free");
        // A second open file description: flock conflicts even within a process.
        let t = Instant::now();
        let e = take_within(&path, Access::Shared, Duration::from_millis(200))
            .err()
            .expect("busy");
        assert!(t.elapsed() < Duration::from_secs(5));
        let msg = e.to_string();
        assert!(
            msg.contains(&path.display().to_string())
                && msg.contains(&format!("pid {}", std::process::id()))
                && msg.contains("hint:"),
            "{msg}"
        );
    }

    #[test]
    fn a_fifo_for_a_lock_fails_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lock");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let e = take_within(&path, Access::Exclusive, Duration::ZERO)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("lock "), "{e}");
    }

    #[test]
    fn shared_holders_share() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lock");
        let _a = take_within(&path, Access::Shared, Duration::ZERO).expect("first");
        let _b = take_within(&path, Access::Shared, Duration::ZERO).expect("second");
    }

    #[test]
    fn reads_proc_locks() {
        let locks = "1: FLOCK  ADVISORY  WRITE 1234 00:19:567 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 99 00:19:567 0 EOF\n\
                     2: POSIX  ADVISORY  WRITE 77 fd:01:567 0 EOF\n\
                     3: FLOCK  ADVISORY  READ 4321 fd:01:567 0 EOF\n";
        let dev = libc::makedev(0xfd, 1);
        assert_eq!(holder_pid(locks, dev, 567), Some(4321));
        assert_eq!(holder_pid(locks, libc::makedev(0, 0x19), 567), Some(1234));
        assert_eq!(holder_pid(locks, dev, 568), None);
    }
}
