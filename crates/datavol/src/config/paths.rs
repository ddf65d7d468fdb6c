//! Path rules: what a mount point or served directory may look like, and the
//! systemd name it gets. A path that passes here round-trips through a unit
//! file unchanged: no specifiers, escapes, spaces or non-ASCII.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Escapes an absolute path exactly like `systemd-escape --path`.
/// Returns None for paths systemd refuses (relative, or containing "..").
pub fn escape_path(path: &Path) -> Option<String> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.first() != Some(&b'/') {
        return None;
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in bytes.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Some("-".into());
    }
    let joined = parts.join(&b'/');
    let mut out = String::with_capacity(joined.len());
    for (i, &b) in joined.iter().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'.' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    Some(out)
}

/// What is wrong with a path, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub what: String,
    pub hint: String,
}

fn refuse(what: String, hint: &str) -> Refusal {
    Refusal {
        what,
        hint: hint.to_string(),
    }
}

/// The characters a path may hold besides A-Z a-z 0-9.
pub const PATH_SPECIALS: &str = "/._-+:@";

const CHARS_HINT: &str = "a .mount unit cannot carry it unchanged; use a path of A-Z a-z 0-9 and / . _ - + : @ (rename the directory, or bind-mount it from such a path)";

/// The first character a unit file cannot carry as is, and why.
fn bad_char(raw: &str) -> Option<String> {
    let c = raw
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || PATH_SPECIALS.contains(c)))?;
    Some(match c {
        c if c.is_control() => "contains control characters (newline, tab, ...)".to_string(),
        '%' => "contains \"%\", which systemd reads as a specifier".to_string(),
        '\\' => "contains a backslash, which systemd reads as an escape".to_string(),
        c if c.is_whitespace() => "contains whitespace".to_string(),
        c if !c.is_ascii() => format!("contains the non-ASCII character {c:?}"),
        c => format!("contains {c:?}"),
    })
}

/// Syntax every configured path must have: absolute, normalised, and made of
/// characters a unit file carries unchanged. `key` names it in the message.
pub fn check_syntax(key: &str, raw: &str) -> Result<(), Refusal> {
    if raw.is_empty() {
        return Err(refuse(
            format!("{key} is empty"),
            "give an absolute path such as /var/lib/containerd",
        ));
    }
    if let Some(why) = bad_char(raw) {
        return Err(refuse(format!("{key} {raw:?} {why}"), CHARS_HINT));
    }
    if !raw.starts_with('/') {
        return Err(refuse(
            format!("{key} {raw:?} must be an absolute path"),
            "start it with /, e.g. /var/lib/containerd",
        ));
    }
    let dotted = raw.split('/').any(|c| c == "." || c == "..");
    if raw.contains("//") || (raw.len() > 1 && raw.ends_with('/')) || dotted {
        return Err(refuse(
            format!("{key} {raw:?} must be normalised: no \"//\", no trailing \"/\", no \".\" or \"..\""),
            "write the path the way `realpath -s` prints it",
        ));
    }
    Ok(())
}

/// How much of the tree under a system path is refused.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    Exact,
    Below,
}

const OVER_SYSTEM: &str =
    "name the service's own directory, e.g. /var/lib/containerd, not a system directory or its parent";
const PSEUDO: &str = "choose a directory on a persistent filesystem, e.g. /var/lib/containerd";
const TEMPORARY: &str =
    "temporary directories are cleaned at boot and by systemd-tmpfiles; choose the service's own directory";

/// System paths a volume must not be mounted on, with why and what to do.
const SYSTEM: &[(&str, Reach, &str, &str)] = &[
    ("/", Reach::Exact, "is the root directory", OVER_SYSTEM),
    ("/bin", Reach::Exact, "is a system directory", OVER_SYSTEM),
    (
        "/boot",
        Reach::Below,
        "holds the boot loader and kernels",
        OVER_SYSTEM,
    ),
    (
        "/dev",
        Reach::Below,
        "is on a pseudo filesystem (/dev)",
        PSEUDO,
    ),
    (
        "/etc",
        Reach::Below,
        "holds the system's configuration",
        OVER_SYSTEM,
    ),
    ("/home", Reach::Exact, "is a system directory", OVER_SYSTEM),
    ("/lib", Reach::Exact, "is a system directory", OVER_SYSTEM),
    ("/lib32", Reach::Exact, "is a system directory", OVER_SYSTEM),
    ("/lib64", Reach::Exact, "is a system directory", OVER_SYSTEM),
    (
        "/libx32",
        Reach::Exact,
        "is a system directory",
        OVER_SYSTEM,
    ),
    (
        "/proc",
        Reach::Below,
        "is on a pseudo filesystem (/proc)",
        PSEUDO,
    ),
    (
        "/root",
        Reach::Exact,
        "is root's home directory",
        OVER_SYSTEM,
    ),
    (
        "/run",
        Reach::Below,
        "is on a pseudo filesystem (/run); its content does not survive a reboot",
        PSEUDO,
    ),
    ("/sbin", Reach::Exact, "is a system directory", OVER_SYSTEM),
    (
        "/sys",
        Reach::Below,
        "is on a pseudo filesystem (/sys)",
        PSEUDO,
    ),
    ("/tmp", Reach::Exact, "is a temporary directory", TEMPORARY),
    (
        "/usr",
        Reach::Below,
        "holds the installed system",
        OVER_SYSTEM,
    ),
    ("/var", Reach::Exact, "is a system directory", OVER_SYSTEM),
    (
        "/var/cache",
        Reach::Exact,
        "is a system directory",
        OVER_SYSTEM,
    ),
    (
        "/var/lib",
        Reach::Exact,
        "is a system directory",
        OVER_SYSTEM,
    ),
    (
        "/var/log",
        Reach::Exact,
        "is a system directory",
        OVER_SYSTEM,
    ),
    (
        "/var/tmp",
        Reach::Exact,
        "is a temporary directory",
        TEMPORARY,
    ),
];

/// datavol's own state; only a volume's default mount point lives under it.
const DATAVOL_DIR: &str = "/var/lib/datavol";

/// Refuses system directories. `own_mount_point` is the one path under
/// /var/lib/datavol that is allowed: the volume's default mount point.
pub fn check_not_system(
    key: &str,
    p: &Path,
    own_mount_point: Option<&Path>,
) -> Result<(), Refusal> {
    for (sys, reach, why, hint) in SYSTEM {
        let hit = match reach {
            Reach::Exact => p == Path::new(sys),
            Reach::Below => p.starts_with(sys),
        };
        if hit {
            return Err(refuse(
                format!("{key} {} {why}; refusing to mount over it", p.display()),
                hint,
            ));
        }
    }
    if p.starts_with(DATAVOL_DIR) && own_mount_point != Some(p) {
        return Err(refuse(
            format!("{key} {} is under {DATAVOL_DIR}, where datavol keeps its own state", p.display()),
            "leave mount_point out: a volume with directories is mounted at /var/lib/datavol/volumes/NAME by default",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_systemd() {
        for (p, e) in [
            ("/var/lib/containerd", "var-lib-containerd"),
            ("/var/lib/my-dir", "var-lib-my\\x2ddir"),
            ("/", "-"),
            ("//a//b/", "a-b"),
            ("/a/./b", "a-b"),
            ("/.hidden/x", "\\x2ehidden-x"),
            ("/a/.b", "a-.b"),
            ("/a b/\u{fc}", "a\\x20b-\\xc3\\xbc"),
        ] {
            assert_eq!(escape_path(Path::new(p)).as_deref(), Some(e), "{p}");
        }
        assert_eq!(escape_path(Path::new("/a/../b")), None);
        assert_eq!(escape_path(Path::new("rel")), None);
    }
}
