//! The config decides which disk gets formatted, so only root may be able to
//! change it: each file, the config directory and conf.d. A file is opened
//! once, without following a link, and checked and read through that handle,
//! so what is checked is what is read.
//!
//! The same checks guard the `[sandbox]` archive (sandbox/archive.rs),
//! whose image every pod sandbox runs: [`open_trusted`] and [`check_path`].

use super::ConfigError;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// Why a file or directory cannot be trusted, and how to fix it.
#[derive(Debug)]
pub struct Untrusted {
    pub path: PathBuf,
    pub what: String,
    pub hint: String,
}

impl From<Untrusted> for ConfigError {
    fn from(u: Untrusted) -> ConfigError {
        ConfigError::File {
            path: u.path,
            what: u.what,
            hint: u.hint,
        }
    }
}

fn untrusted(path: &Path, what: String, hint: &str) -> Untrusted {
    Untrusted {
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

/// Root-owned and not writable by group or others; `why` says what the
/// file decides, `fix` the mode to give it.
pub fn check_owner(path: &Path, md: &Metadata, why: &str, fix: &str) -> Result<(), Untrusted> {
    if md.uid() != 0 {
        return Err(untrusted(
            path,
            format!("owned by uid {}, not root; refusing {why}", md.uid()),
            &format!("chown root:root it and {fix} it"),
        ));
    }
    if md.mode() & 0o022 != 0 {
        return Err(untrusted(
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

const CONFIG_WHY: &str = "a config that decides which disk is formatted";

/// A directory the config is read from: root's, and only root's to change.
pub fn check_dir(path: &Path) -> Result<(), ConfigError> {
    let md = std::fs::metadata(path).map_err(|e| read_err(path, e))?;
    if !md.is_dir() {
        return Err(untrusted(
            path,
            "not a directory".into(),
            "make it a directory owned by root, mode 0755",
        )
        .into());
    }
    Ok(check_owner(path, &md, CONFIG_WHY, "chmod 0755")?)
}

/// Why a file could not be opened as a trusted one.
#[derive(Debug)]
pub enum OpenError {
    Untrusted(Untrusted),
    Io(std::io::Error),
}

/// Opens `path` once (no link followed, no blocking on a FIFO) and checks
/// through the handle that it is a regular file, root's alone to change.
pub fn open_trusted(path: &Path, why: &str) -> Result<(File, Metadata), OpenError> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(OpenError::Untrusted(untrusted(
                path,
                "is a symbolic link; refusing to follow it".into(),
                "put the file itself there (cp --remove-destination TARGET LINK), owned by root",
            )))
        }
        Err(e) => return Err(OpenError::Io(e)),
    };
    let md = file.metadata().map_err(OpenError::Io)?;
    if !md.is_file() {
        return Err(OpenError::Untrusted(untrusted(
            path,
            "not a regular file".into(),
            "it must be a plain file owned by root, mode 0644",
        )));
    }
    check_owner(path, &md, why, "chmod 0644").map_err(OpenError::Untrusted)?;
    Ok((file, md))
}

/// Every directory from / down to `path`'s parent, each looked at without
/// following it: no symbolic link, owned by root, not group- or
/// world-writable, so nobody but root can swap what the path names.
pub fn check_path(path: &Path, why: &str) -> Result<(), Untrusted> {
    if !path.is_absolute() {
        return Err(untrusted(
            path,
            "is not an absolute path".into(),
            "give the full path from /",
        ));
    }
    let mut at = PathBuf::from("/");
    let parent = path.parent().unwrap_or(Path::new("/"));
    let mut dirs = vec![at.clone()];
    for c in parent.components() {
        match c {
            Component::Normal(n) => {
                at.push(n);
                dirs.push(at.clone());
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(untrusted(
                    path,
                    "has a `..` in it".into(),
                    "give the path without `..`",
                ))
            }
        }
    }
    for d in dirs {
        let md = std::fs::symlink_metadata(&d)
            .map_err(|e| untrusted(&d, format!("cannot be looked at: {e}"), "check the path"))?;
        if md.file_type().is_symlink() {
            return Err(untrusted(
                &d,
                format!(
                    "is a symbolic link on the way to {}; refusing to follow it",
                    path.display()
                ),
                "name the real path, with no link in it",
            ));
        }
        if !md.is_dir() {
            return Err(untrusted(&d, "not a directory".into(), "check the path"));
        }
        check_owner(&d, &md, why, "chmod 0755")?;
    }
    Ok(())
}

/// Opens `path` once, checks the handle and reads from it.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    let (mut file, _) = open_trusted(path, CONFIG_WHY).map_err(|e| match e {
        OpenError::Untrusted(u) => u.into(),
        OpenError::Io(e) => read_err(path, e),
    })?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| read_err(path, e))?;
    Ok(text)
}
