//! The config decides which disk gets formatted, so only root may be able to
//! change it: each file, the config directory and conf.d. A file is opened
//! once, without following a link, and checked and read through that handle,
//! so what is checked is what is read.

use super::ConfigError;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

fn refuse(path: &Path, what: String, hint: &str) -> ConfigError {
    ConfigError::File {
        path: path.to_path_buf(),
        what,
        hint: hint.to_string(),
    }
}

pub(super) fn read_err(path: &Path, source: std::io::Error) -> ConfigError {
    ConfigError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Root-owned and not writable by group or others.
fn check_owner(path: &Path, md: &Metadata, fix: &str) -> Result<(), ConfigError> {
    if md.uid() != 0 {
        return Err(refuse(
            path,
            format!(
                "owned by uid {}, not root; refusing a config that decides which disk is formatted",
                md.uid()
            ),
            &format!("chown root:root it and {fix} it"),
        ));
    }
    if md.mode() & 0o022 != 0 {
        return Err(refuse(
            path,
            format!(
                "mode {:04o} is group- or world-writable; refusing it",
                md.mode() & 0o7777
            ),
            "chmod go-w it",
        ));
    }
    Ok(())
}

/// A directory the config is read from: root's, and only root's to change.
pub fn check_dir(path: &Path) -> Result<(), ConfigError> {
    let md = std::fs::metadata(path).map_err(|e| read_err(path, e))?;
    if !md.is_dir() {
        return Err(refuse(
            path,
            "not a directory".into(),
            "make it a directory owned by root, mode 0755",
        ));
    }
    check_owner(path, &md, "chmod 0755")
}

/// Opens `path` once (no link followed, no blocking on a FIFO), checks the
/// handle and reads from it.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path);
    let mut file: File =
        match opened {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(refuse(
                path,
                "is a symbolic link; refusing to follow it".into(),
                "put the file itself there (cp --remove-destination TARGET LINK), owned by root",
            )),
            Err(e) => return Err(read_err(path, e)),
        };
    let md = file.metadata().map_err(|e| read_err(path, e))?;
    if !md.is_file() {
        return Err(refuse(
            path,
            "not a regular file".into(),
            "a config file must be a plain file owned by root, mode 0644",
        ));
    }
    check_owner(path, &md, "chmod 0644")?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| read_err(path, e))?;
    Ok(text)
}
