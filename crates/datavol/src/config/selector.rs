//! Device selectors as written in the config: the type, its syntax and how
//! it prints. Matching them against the machine's disks is discover's job.

use std::fmt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(into = "String")]
pub enum Selector {
    Path(PathBuf),
    /// `ebs:xvdb`: the block-device-mapping name.
    Ebs(String),
    /// `ebs-volume:vol-0123…`.
    EbsVolume(String),
    Uuid(String),
    Label(String),
    /// `instance-store`: the local NVMe instance-store disks.
    InstanceStore,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Path(p) => write!(f, "{}", p.display()),
            Selector::Ebs(n) => write!(f, "ebs:{n}"),
            Selector::EbsVolume(v) => write!(f, "ebs-volume:{v}"),
            Selector::Uuid(u) => write!(f, "uuid:{u}"),
            Selector::Label(l) => write!(f, "label:{l}"),
            Selector::InstanceStore => f.write_str("instance-store"),
        }
    }
}

impl From<Selector> for String {
    fn from(s: Selector) -> String {
        s.to_string()
    }
}

/// Why a selector does not parse; `hint` says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("device {0:?} contains a control character")]
    Control(String),
    #[error("{0:?} is not an EBS mapping name")]
    Ebs(String),
    #[error("{0:?} is not an EBS volume id")]
    EbsVolume(String),
    #[error("{0:?} is not a filesystem UUID")]
    Uuid(String),
    #[error("{0:?} is not a filesystem label")]
    Label(String),
    #[error("{0:?} is not a device selector")]
    Unknown(String),
}

impl ParseError {
    pub fn hint(&self) -> &'static str {
        match self {
            ParseError::Control(_) => "write the selector on one line, without tabs or escapes",
            ParseError::Ebs(_) => "an EBS name looks like ebs:xvdb or ebs:/dev/sdf",
            ParseError::EbsVolume(_) => {
                "an EBS volume id looks like ebs-volume:vol-0123456789abcdef0"
            }
            ParseError::Uuid(_) => "a UUID selector looks like uuid:0b1c2d3e-...",
            ParseError::Label(_) => "a label selector looks like label:data",
            ParseError::Unknown(_) => {
                "use a path under /dev/ (e.g. /dev/xvdb, /dev/disk/by-id/...), ebs:xvdb, ebs-volume:vol-..., uuid:..., label:... or instance-store"
            }
        }
    }
}

fn plain(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// Parses one selector.
pub fn parse(s: &str) -> Result<Selector, ParseError> {
    let bad = |f: fn(String) -> ParseError| Err(f(s.to_string()));
    if s.chars().any(|c| c.is_control()) {
        return bad(ParseError::Control);
    }
    if let Some(n) = s.strip_prefix("ebs:") {
        let n = n.strip_prefix("/dev/").unwrap_or(n);
        return match plain(n, b"") {
            true => Ok(Selector::Ebs(n.to_string())),
            false => bad(ParseError::Ebs),
        };
    }
    if let Some(v) = s.strip_prefix("ebs-volume:") {
        let v = v
            .strip_prefix("vol")
            .map(|r| r.trim_start_matches('-'))
            .unwrap_or("");
        return match plain(v, b"") {
            true => Ok(Selector::EbsVolume(format!("vol-{v}"))),
            false => bad(ParseError::EbsVolume),
        };
    }
    if let Some(u) = s.strip_prefix("uuid:") {
        return match plain(u, b"-") {
            true => Ok(Selector::Uuid(u.to_ascii_lowercase())),
            false => bad(ParseError::Uuid),
        };
    }
    if let Some(l) = s.strip_prefix("label:") {
        return match plain(l, b"-_.") {
            true => Ok(Selector::Label(l.to_string())),
            false => bad(ParseError::Label),
        };
    }
    if s == "instance-store" {
        return Ok(Selector::InstanceStore);
    }
    let p = Path::new(s);
    let dotted = p
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir));
    if s.starts_with("/dev/") && !dotted {
        return Ok(Selector::Path(p.to_path_buf()));
    }
    bad(ParseError::Unknown)
}

/// sdf and xvdf name the same EBS mapping on Nitro: both become "df".
pub fn ebs_mapping_key(name: &str) -> &str {
    name.trim_start_matches("xv").trim_start_matches('s')
}

impl Selector {
    /// Whether two selectors always name the same disk, whatever is attached.
    pub fn same_disk(&self, other: &Selector) -> bool {
        match (self, other) {
            (Selector::Ebs(a), Selector::Ebs(b)) => ebs_mapping_key(a) == ebs_mapping_key(b),
            _ => self == other,
        }
    }
}
