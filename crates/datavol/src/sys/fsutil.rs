//! Durable writes and atomic renames: temp file in the same directory,
//! fsync, rename, fsync the directory. A crash leaves either the old file or
//! the new one, never half.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The same error, with the path it is about in front (std's io errors name none).
pub fn named(p: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

/// Opens `path` for reading only if it is a regular file: no link is
/// followed and a FIFO or device never blocks the open, so a file someone
/// replaced by a pipe or a link to /dev/zero cannot hang a boot. Anything
/// else is an `InvalidInput` error naming the path and what it is.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => not_regular(path, "symbolic link"),
            _ => e,
        })?;
    let ft = file.metadata()?.file_type();
    if ft.is_file() {
        return Ok(file);
    }
    Err(not_regular(path, file_kind(ft)))
}

/// What a file is, for messages.
pub fn file_kind(ft: std::fs::FileType) -> &'static str {
    if ft.is_file() {
        "regular file"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symbolic link"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

fn not_regular(path: &Path, what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "{} is a {what}, not a regular file; refusing to read or replace it",
            path.display()
        ),
    )
}

/// The whole of a regular file (see [`open_regular`]).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    open_regular(path)?.read_to_end(&mut data)?;
    Ok(data)
}

/// Atomically replaces `path` with `data` (mode `mode`). Returns false and
/// writes nothing when the file already holds exactly `data`. Something
/// other than a regular file at `path` is an error, left alone.
pub fn write_if_changed(path: &Path, data: &[u8], mode: u32) -> std::io::Result<bool> {
    match read_regular(path) {
        Ok(existing) if existing == data => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Err(e),
        // Unreadable but regular: replacing it is what a fresh write would do.
        Err(_) => {}
    }
    write_atomic(path, data, mode)?;
    Ok(true)
}

pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no parent")
    })?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    // Whatever a crashed run (or anyone) left at the temp name goes first:
    // the file is made anew, so a FIFO there cannot block the open.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        // Exactly `mode`, whatever the umask: node_exporter reads the
        // metrics file as another user.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Renames `from` to `to` in one atomic step, failing (EEXIST) rather than
/// replacing anything already at `to`. The error is the bare OS error:
/// callers say what was being moved where.
pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let f = std::ffi::CString::new(from.as_os_str().as_bytes())?;
    let t = std::ffi::CString::new(to.as_os_str().as_bytes())?;
    // libc, not nix: nix only offers renameat2 on glibc targets.
    // SAFETY: both are valid NUL-terminated paths owned by this frame.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Creates `dir` and any missing parents, fsyncing each parent it touched.
pub fn create_dir_durable(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durable(parent, 0o755)?;
    }
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: &Path, what: &str) {
        let e = read_regular(p).expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains(&p.display().to_string()) && msg.contains(what),
            "{msg}"
        );
    }

    #[test]
    fn only_a_regular_file_is_read_and_nothing_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        std::fs::write(&file, b"data").expect("write");
        assert_eq!(read_regular(&file).expect("read"), b"data");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        refused(&fifo, "a FIFO");
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        refused(&zero, "a symbolic link");
        refused(Path::new("/dev/null"), "a character device");
        refused(dir.path(), "a directory");
        let missing = read_regular(&dir.path().join("missing")).expect_err("missing");
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_fifo_is_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("datavol.prom");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        let e = write_if_changed(&fifo, b"x", 0o644).expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
        let ft = std::fs::symlink_metadata(&fifo).expect("stat").file_type();
        assert!(ft.is_fifo(), "the FIFO was replaced");
        let file = dir.path().join("new");
        // A FIFO where this process's temp file goes does not block it.
        let tmp = dir.path().join(format!(".new.tmp{}", std::process::id()));
        nix::unistd::mkfifo(&tmp, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
        assert!(write_if_changed(&file, b"x", 0o644).expect("write"));
        assert!(!tmp.exists(), "temp file left behind");
        assert!(!write_if_changed(&file, b"x", 0o644).expect("same"));
    }
}
