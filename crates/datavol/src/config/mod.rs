//! Configuration: `datavol.toml` plus `conf.d/*.toml` drop-ins, merged key by
//! key in lexical order, then validated into typed [`Volume`]s. Every error
//! points at file:line:column, because a bad value here formats a disk.

use crate::discover::selector::{self, Selector};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub const MAIN_FILE: &str = "datavol.toml";
pub const DROPIN_DIR: &str = "conf.d";
pub const DEFAULT_SERVICES: [&str; 2] = ["containerd.service", "kubelet.service"];
/// Default mount point of a volume that serves `directories`.
pub const VOLUMES_DIR: &str = "/var/lib/datavol/volumes";
pub const DEFAULT_DEVICE_TIMEOUT: Duration = Duration::from_secs(90);
const MAX_DEVICE_TIMEOUT_SECS: u64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Raid {
    Raid0,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    Xfs,
    Ext4,
}

impl Filesystem {
    pub fn as_str(self) -> &'static str {
        match self {
            Filesystem::Xfs => "xfs",
            Filesystem::Ext4 => "ext4",
        }
    }
    pub fn max_label_len(self) -> usize {
        match self {
            Filesystem::Xfs => 12,
            Filesystem::Ext4 => 16,
        }
    }
}

impl Volume {
    /// Every path this volume mounts something on.
    pub fn claimed(&self) -> Vec<PathBuf> {
        let mut v = vec![self.mount_point.clone()];
        v.extend(self.directories.iter().cloned());
        v
    }

    /// Where each served directory's data lives, relative to the filesystem root.
    pub fn dir_subpath(dir: &Path) -> String {
        crate::systemd::unit::escape_path(dir).unwrap_or_else(|| "-".into())
    }

    /// The device selectors as configured, for messages.
    pub fn device_text(&self) -> String {
        self.device
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

impl fmt::Display for Filesystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated volume.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Volume {
    pub name: String,
    /// Alternatives in order; the first one present wins. With `raid`, every
    /// device they match is a member.
    pub device: Vec<Selector>,
    pub raid: Option<Raid>,
    pub filesystem: Filesystem,
    /// Where the filesystem is mounted. Without `directories` the data lives
    /// at its root; with them it defaults to /var/lib/datavol/volumes/<name>.
    pub mount_point: PathBuf,
    /// Directories served from this one volume by bind mounts, each migrated
    /// from its own old content into /<escaped path> on the filesystem.
    pub directories: Vec<PathBuf>,
    pub options: Vec<String>,
    pub migrate: bool,
    #[serde(serialize_with = "ser_secs")]
    pub device_timeout: Duration,
    pub required: bool,
    pub adopt_existing: bool,
    pub label: String,
    pub services: Vec<String>,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    pub volumes: Vec<Volume>,
    /// Files read, in merge order.
    pub files: Vec<PathBuf>,
}

/// Where in which file something went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{location}: {message}")]
    At { location: Location, message: String },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: cannot read: {source}; hint: check the path and that it is a readable file")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    volume: BTreeMap<String, Spanned<RawVolume>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawVolume {
    device: Option<Spanned<DeviceValue>>,
    filesystem: Option<Spanned<Filesystem>>,
    mount_point: Option<Spanned<String>>,
    directories: Option<Spanned<Vec<Spanned<String>>>>,
    raid: Option<Spanned<Raid>>,
    options: Option<Spanned<Vec<Spanned<String>>>>,
    migrate: Option<Spanned<bool>>,
    device_timeout: Option<Spanned<TimeoutValue>>,
    required: Option<Spanned<bool>>,
    adopt_existing: Option<Spanned<bool>>,
    label: Option<Spanned<String>>,
    services: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum DeviceValue {
    One(String),
    // Spans do not survive serde's untagged buffering; errors point at the list.
    Alternatives(Vec<String>),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum TimeoutValue {
    Seconds(i64),
    Text(String),
}

/// One file's text, kept so spans can be turned into line:column.
struct Source {
    path: PathBuf,
    text: String,
}

impl Source {
    fn locate(&self, offset: usize) -> Location {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: self.path.clone(),
            line,
            column,
        }
    }
}

/// A merged value remembers which file and span it came from.
#[derive(Clone)]
struct Origin<T> {
    value: T,
    src: usize,
    span: std::ops::Range<usize>,
}

#[derive(Default)]
struct Merged {
    decl: Option<(usize, std::ops::Range<usize>)>,
    device: Option<Origin<DeviceValue>>,
    filesystem: Option<Origin<Filesystem>>,
    mount_point: Option<Origin<String>>,
    directories: Option<Origin<Vec<Spanned<String>>>>,
    raid: Option<Origin<Raid>>,
    options: Option<Origin<Vec<Spanned<String>>>>,
    migrate: Option<Origin<bool>>,
    device_timeout: Option<Origin<TimeoutValue>>,
    required: Option<Origin<bool>>,
    adopt_existing: Option<Origin<bool>>,
    label: Option<Origin<String>>,
    services: Option<Origin<Vec<Spanned<String>>>>,
}

fn take<T>(slot: &mut Option<Origin<T>>, v: Option<Spanned<T>>, src: usize) {
    if let Some(s) = v {
        let span = s.span();
        *slot = Some(Origin {
            value: s.into_inner(),
            src,
            span,
        });
    }
}

/// The files that make up the config in `dir`, in merge order.
pub fn config_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    let main = dir.join(MAIN_FILE);
    if main.exists() {
        files.push(main);
    }
    let dropins = dir.join(DROPIN_DIR);
    match std::fs::read_dir(&dropins) {
        Ok(entries) => {
            let mut names = Vec::new();
            for e in entries {
                let e = e.map_err(|source| ConfigError::Read {
                    path: dropins.clone(),
                    source,
                })?;
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml") {
                    names.push(p);
                }
            }
            names.sort();
            files.extend(names);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ConfigError::Read {
                path: dropins,
                source,
            })
        }
    }
    Ok(files)
}

/// Loads and validates the installed config under `dir`. No file at all is an
/// empty config: the packaged default does nothing.
pub fn load_dir(dir: &Path) -> Result<Config, ConfigError> {
    let files = config_files(dir)?;
    load_files(&files)
}

/// Loads, merges (later files win, key by key) and validates `files`.
pub fn load_files(files: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut sources = Vec::new();
    for path in files {
        check_trust(path)?;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        sources.push(Source {
            path: path.clone(),
            text,
        });
    }
    parse_sources(&sources).map(|volumes| Config {
        volumes,
        files: files.to_vec(),
    })
}

/// Parses in-memory text; for tests and `validate` of piped input.
pub fn parse_str(path: &Path, text: &str) -> Result<Vec<Volume>, ConfigError> {
    parse_sources(&[Source {
        path: path.to_path_buf(),
        text: text.to_string(),
    }])
}

/// The file decides which disk gets formatted, so only root may be able to write it.
fn check_trust(path: &Path) -> Result<(), ConfigError> {
    let md = std::fs::metadata(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !md.is_file() {
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message: "not a regular file".into(),
        });
    }
    if md.uid() != 0 {
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message: format!(
                "owned by uid {}, not root; refusing a config that decides which disk is formatted; hint: chown root:root and chmod 0644 it",
                md.uid()
            ),
        });
    }
    if md.mode() & 0o022 != 0 {
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message: format!(
                "mode {:04o} is group- or world-writable; refusing it; hint: chmod go-w it",
                md.mode() & 0o7777
            ),
        });
    }
    Ok(())
}

fn parse_sources(sources: &[Source]) -> Result<Vec<Volume>, ConfigError> {
    let mut merged: BTreeMap<String, Merged> = BTreeMap::new();
    for (i, src) in sources.iter().enumerate() {
        let raw: RawFile = toml::from_str(&src.text).map_err(|e| {
            let off = e.span().map_or(0, |s| s.start);
            ConfigError::At {
                location: src.locate(off),
                message: e.message().trim().to_string(),
            }
        })?;
        for (name, vol) in raw.volume {
            let span = vol.span();
            let v = vol.into_inner();
            let m = merged.entry(name).or_default();
            if m.decl.is_none() {
                m.decl = Some((i, span));
            }
            take(&mut m.device, v.device, i);
            take(&mut m.filesystem, v.filesystem, i);
            take(&mut m.mount_point, v.mount_point, i);
            take(&mut m.directories, v.directories, i);
            take(&mut m.raid, v.raid, i);
            take(&mut m.options, v.options, i);
            take(&mut m.migrate, v.migrate, i);
            take(&mut m.device_timeout, v.device_timeout, i);
            take(&mut m.required, v.required, i);
            take(&mut m.adopt_existing, v.adopt_existing, i);
            take(&mut m.label, v.label, i);
            take(&mut m.services, v.services, i);
        }
    }
    let mut volumes: Vec<(Volume, Location)> = Vec::new();
    for (name, m) in merged {
        let (v, loc) = validate_volume(sources, &name, m)?;
        let mine = v.claimed();
        for (i, a) in mine.iter().enumerate() {
            if let Some(b) = mine[i + 1..].iter().find(|b| overlaps(a, b)) {
                return Err(ConfigError::At {
                    location: loc,
                    message: format!(
                        "volume {name:?}: {} and {} overlap; hint: list each directory once, none inside another or inside mount_point",
                        a.display(),
                        b.display()
                    ),
                });
            }
        }
        for (other, _) in &volumes {
            for a in &mine {
                if let Some(b) = other.claimed().iter().find(|b| overlaps(a, b)) {
                    return Err(ConfigError::At {
                        location: loc,
                        message: format!(
                            "volume {name:?}: {} overlaps volume {:?} at {}; hint: give each volume its own, non-nested paths",
                            a.display(),
                            other.name,
                            b.display()
                        ),
                    });
                }
            }
        }
        volumes.push((v, loc));
    }
    Ok(volumes.into_iter().map(|(v, _)| v).collect())
}

fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn at<T>(sources: &[Source], o: &Origin<T>) -> Location {
    sources[o.src].locate(o.span.start)
}

fn err_at<T>(sources: &[Source], o: &Origin<T>, volume: &str, msg: String) -> ConfigError {
    ConfigError::At {
        location: at(sources, o),
        message: format!("volume {volume:?}: {msg}"),
    }
}

fn validate_volume(
    sources: &[Source],
    name: &str,
    m: Merged,
) -> Result<(Volume, Location), ConfigError> {
    let (decl_src, decl_span) = m.decl.clone().unwrap_or((0, 0..0));
    let decl_loc = sources[decl_src].locate(decl_span.start);
    let missing = |key: &str, hint: &str| ConfigError::At {
        location: decl_loc.clone(),
        message: format!("volume {name:?}: missing required key `{key}`; hint: {hint}"),
    };
    if !valid_name(name) {
        return Err(ConfigError::At {
            location: decl_loc.clone(),
            message: format!("volume name {name:?} must be 1-32 characters of A-Z a-z 0-9 _ -"),
        });
    }

    let device_o = m.device.ok_or_else(|| {
        missing(
            "device",
            "device = \"/dev/xvdb\", \"ebs:xvdb\", a /dev/disk/by-* path, or a list of alternatives",
        )
    })?;
    let mut device = Vec::new();
    match &device_o.value {
        DeviceValue::One(text) => {
            device.push(selector::parse(text).map_err(|why| err_at(sources, &device_o, name, why))?)
        }
        DeviceValue::Alternatives(list) => {
            if list.is_empty() {
                return Err(err_at(
                    sources,
                    &device_o,
                    name,
                    "device list is empty".into(),
                ));
            }
            for item in list {
                device.push(
                    selector::parse(item).map_err(|why| err_at(sources, &device_o, name, why))?,
                );
            }
        }
    }

    let filesystem = m
        .filesystem
        .ok_or_else(|| missing("filesystem", "filesystem = \"xfs\" or \"ext4\""))?;

    let mut directories = Vec::new();
    let mut dirs_loc = None;
    if let Some(d) = &m.directories {
        dirs_loc = Some(at(sources, d));
        for item in &d.value {
            let raw = item.get_ref();
            let here = || sources[d.src].locate(item.span().start);
            let p = PathBuf::from(raw);
            let why = if raw.is_empty() || raw.chars().any(|c| c.is_control()) {
                Some("must be non-empty and contain no control characters".to_string())
            } else {
                bad_mount_point(&p, raw)
            };
            if let Some(why) = why {
                return Err(ConfigError::At {
                    location: here(),
                    message: format!("volume {name:?}: directories: {why}"),
                });
            }
            directories.push(p);
        }
        if directories.is_empty() {
            return Err(err_at(
                sources,
                d,
                name,
                "directories is empty; hint: leave it out and set mount_point instead".into(),
            ));
        }
    }

    let (mount_point, mp_loc) = match &m.mount_point {
        Some(mp) => {
            check_text(sources, mp, name, "mount_point")?;
            let p = PathBuf::from(&mp.value);
            if let Some(why) = bad_mount_point(&p, &mp.value) {
                return Err(err_at(sources, mp, name, why));
            }
            (p, at(sources, mp))
        }
        None if !directories.is_empty() => (
            Path::new(VOLUMES_DIR).join(name),
            dirs_loc.clone().unwrap_or_else(|| decl_loc.clone()),
        ),
        None => {
            return Err(missing(
                "mount_point",
                "mount_point = \"/var/lib/containerd\", or directories = [...] to serve several directories",
            ))
        }
    };

    let mut options = Vec::new();
    if let Some(o) = &m.options {
        for opt in &o.value {
            let s = opt.get_ref();
            if let Some(why) = bad_option(s) {
                return Err(ConfigError::At {
                    location: sources[o.src].locate(opt.span().start),
                    message: format!("volume {name:?}: option {s:?} {why}"),
                });
            }
            options.push(s.clone());
        }
    }

    let device_timeout = match &m.device_timeout {
        None => DEFAULT_DEVICE_TIMEOUT,
        Some(t) => parse_timeout(&t.value).map_err(|why| err_at(sources, t, name, why))?,
    };

    let label = match &m.label {
        None => default_label(name, filesystem.value),
        Some(l) => {
            let max = filesystem.value.max_label_len();
            if l.value.is_empty()
                || l.value.len() > max
                || !l
                    .value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(err_at(
                    sources,
                    l,
                    name,
                    format!(
                        "label {:?} must be 1-{max} characters of A-Z a-z 0-9 _ - for {}",
                        l.value, filesystem.value
                    ),
                ));
            }
            l.value.clone()
        }
    };

    let services = match &m.services {
        None => DEFAULT_SERVICES.iter().map(|s| s.to_string()).collect(),
        Some(o) => {
            let mut v = Vec::new();
            for s in &o.value {
                if !valid_unit_name(s.get_ref()) {
                    return Err(ConfigError::At {
                        location: sources[o.src].locate(s.span().start),
                        message: format!(
                            "volume {name:?}: {:?} is not a valid unit name (e.g. containerd.service)",
                            s.get_ref()
                        ),
                    });
                }
                v.push(s.get_ref().clone());
            }
            v
        }
    };

    Ok((
        Volume {
            name: name.to_string(),
            device,
            raid: m.raid.map(|r| r.value),
            filesystem: filesystem.value,
            mount_point,
            directories,
            options,
            migrate: m.migrate.is_none_or(|o| o.value),
            device_timeout,
            required: m.required.is_some_and(|o| o.value),
            adopt_existing: m.adopt_existing.is_some_and(|o| o.value),
            label,
            services,
        },
        mp_loc,
    ))
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The default filesystem label: "dv-" plus as much of the name as fits.
pub fn default_label(name: &str, fs: Filesystem) -> String {
    let mut l = format!("dv-{name}");
    l.truncate(fs.max_label_len());
    l
}

/// Values end up in unit files: a control character could inject a directive.
fn check_text(
    sources: &[Source],
    o: &Origin<String>,
    volume: &str,
    key: &str,
) -> Result<(), ConfigError> {
    if o.value.is_empty() || o.value.chars().any(|c| c.is_control()) {
        return Err(err_at(
            sources,
            o,
            volume,
            format!(
                "{key} must be non-empty and contain no control characters (newline, tab, ...)"
            ),
        ));
    }
    Ok(())
}

fn has_dot_components(p: &Path) -> bool {
    p.components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
}

fn bad_mount_point(p: &Path, raw: &str) -> Option<String> {
    if !p.is_absolute() {
        return Some(format!("mount_point {raw:?} must be an absolute path"));
    }
    if raw.contains("//") || (raw.len() > 1 && raw.ends_with('/')) || has_dot_components(p) {
        return Some(format!(
            "mount_point {raw:?} must be normalised: no \"//\", no trailing \"/\", no \".\" or \"..\""
        ));
    }
    const FORBIDDEN: [&str; 12] = [
        "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/run", "/sbin", "/sys", "/usr",
        "/var",
    ];
    if FORBIDDEN.iter().any(|f| p == Path::new(f)) {
        return Some(format!(
            "mount_point {raw:?} is a system directory; refusing to mount over it"
        ));
    }
    for pseudo in ["/proc", "/sys", "/dev", "/run"] {
        if p.starts_with(pseudo) {
            return Some(format!(
                "mount_point {raw:?} is on a pseudo filesystem ({pseudo}); its content does not survive a reboot"
            ));
        }
    }
    None
}

fn bad_option(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("is empty");
    }
    if !s.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'.' | b':' | b'/' | b'+')
    }) {
        return Some("may only contain A-Z a-z 0-9 _ - = . : / + (one option per list element, no commas or spaces)");
    }
    if s.starts_with("x-systemd.") || s.starts_with("x-") {
        return Some("is an fstab-only option that does nothing in a .mount unit");
    }
    None
}

/// Accepts the unit name shapes datavol needs to talk about (services, targets, mounts).
pub fn valid_unit_name(s: &str) -> bool {
    let Some((stem, suffix)) = s.rsplit_once('.') else {
        return false;
    };
    matches!(
        suffix,
        "service" | "socket" | "target" | "mount" | "scope" | "slice"
    ) && !stem.is_empty()
        && s.len() <= 255
        && stem.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_' | b'.' | b'\\' | b'@')
        })
}

fn parse_timeout(v: &TimeoutValue) -> Result<Duration, String> {
    let secs = match v {
        TimeoutValue::Seconds(n) => {
            u64::try_from(*n).map_err(|_| format!("device_timeout {n} must not be negative"))?
        }
        TimeoutValue::Text(t) => {
            let t = t.trim();
            let (num, mult) = if let Some(n) = t.strip_suffix("min") {
                (n, 60)
            } else if let Some(n) = t.strip_suffix('s') {
                (n, 1)
            } else if let Some(n) = t.strip_suffix('m') {
                (n, 60)
            } else {
                (t, 1)
            };
            num.trim()
                .parse::<u64>()
                .map_err(|_| {
                    format!("device_timeout {t:?} must be seconds, e.g. 90, \"90s\" or \"2min\"")
                })?
                .saturating_mul(mult)
        }
    };
    if secs > MAX_DEVICE_TIMEOUT_SECS {
        return Err(format!(
            "device_timeout {secs}s is over the {MAX_DEVICE_TIMEOUT_SECS}s limit; a boot should not wait that long"
        ));
    }
    Ok(Duration::from_secs(secs))
}
