//! Configuration: `datavol.toml` plus `conf.d/*.toml` drop-ins, merged key by
//! key in lexical order, then validated into typed [`Volume`]s. Every error
//! points at file:line:column, because a bad value here formats a disk.
//!
//! keys.rs declares every key once; paths.rs and options.rs hold the rules
//! for paths and mount options; trust.rs who may write the files;
//! cross.rs the checks across volumes; selector.rs the device selector syntax.

mod cross;
mod keys;
mod options;
pub mod paths;
pub mod selector;
mod source;
pub mod trust;

pub use keys::{
    default_label, default_services, valid_name, valid_unit_name, Key, DEFAULT_DEVICE_TIMEOUT,
    METRICS_KEYS, SANDBOX_KEYS, VOLUME_KEYS,
};
pub use paths::escape_path;
pub use selector::Selector;
pub use source::Location;

use keys::VolumeDraft;
use source::{did_you_mean, Field, Source, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::de::DeTable;

pub const MAIN_FILE: &str = "datavol.toml";
pub const DROPIN_DIR: &str = "conf.d";
/// Default mount point of a volume that serves `directories`.
pub const VOLUMES_DIR: &str = "/var/lib/datavol/volumes";

/// What to do when a directory's root-disk content changed since datavol
/// copied it (a boot ran without the disk): mount over it with a warning,
/// or refuse to hide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HiddenPolicy {
    Warn,
    Refuse,
}

impl HiddenPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            HiddenPolicy::Warn => "warn",
            HiddenPolicy::Refuse => "refuse",
        }
    }
}

/// The directory whose degraded-boot content is a cache (images are pulled
/// again); everything else is data.
pub const CACHE_DIR: &str = "/var/lib/containerd";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Raid {
    Raid0,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
    /// mkfs may discard the disk's blocks (slow on some EBS volumes).
    pub discard_at_format: bool,
    /// Grow the filesystem when the disk grew.
    pub grow: bool,
    /// Read every block once, for a disk restored from a snapshot.
    pub prewarm: bool,
    /// `hidden_content`; None: by directory (hidden_policy).
    pub hidden_content: Option<HiddenPolicy>,
}

impl Volume {
    /// The policy for content written under `dir` since it was copied: as
    /// configured, else warn for containerd's cache and refuse for the rest.
    pub fn hidden_policy(&self, dir: &Path) -> HiddenPolicy {
        match self.hidden_content {
            Some(p) => p,
            None if dir == Path::new(CACHE_DIR) => HiddenPolicy::Warn,
            None => HiddenPolicy::Refuse,
        }
    }

    /// Every path this volume mounts something on.
    pub fn claimed(&self) -> Vec<PathBuf> {
        let mut v = vec![self.mount_point.clone()];
        v.extend(self.directories.iter().cloned());
        v
    }

    /// Where each served directory's data lives, relative to the filesystem root.
    pub fn dir_subpath(dir: &Path) -> String {
        escape_path(dir).unwrap_or_else(|| "-".into())
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

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// `[sandbox]`: the pod sandbox images that must be in containerd's store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Sandbox {
    pub images: Vec<String>,
    pub archive: Option<PathBuf>,
    pub namespace: String,
    pub required: bool,
    #[serde(serialize_with = "ser_secs")]
    pub timeout: Duration,
}

/// `[metrics]`: where datavol leaves node_exporter textfile metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Metrics {
    pub textfile_dir: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    pub volumes: Vec<Volume>,
    /// Files read, in merge order.
    pub files: Vec<PathBuf>,
    pub sandbox: Option<Sandbox>,
    pub metrics: Option<Metrics>,
}

/// Which table an error is about; prints as the start of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    File,
    Volume(String),
    Table(&'static str),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::File => Ok(()),
            Scope::Volume(n) => write!(f, "volume {n:?}: "),
            Scope::Table(t) => write!(f, "[{t}]: "),
        }
    }
}

impl Scope {
    /// "keys of a volume", for the unknown-key hint.
    fn keys_noun(&self) -> String {
        match self {
            Scope::File => "keys".into(),
            Scope::Volume(_) => "keys of a volume".into(),
            Scope::Table(t) => format!("keys of [{t}]"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{location}: {scope}{what}; hint: {hint}")]
    At {
        location: Location,
        scope: Scope,
        what: String,
        hint: String,
    },
    #[error("{path}: {what}; hint: {hint}")]
    File {
        path: PathBuf,
        what: String,
        hint: String,
    },
    #[error("{path}: cannot read: {source}; hint: check the path and that it is a readable file")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The files that make up the config in `dir`, in merge order; the
/// directories must be root's alone, like the files.
pub fn config_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    use trust::read_err;
    let mut files = Vec::new();
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(read_err(dir, e)),
        Ok(_) => trust::check_dir(dir)?,
    }
    // A dangling link is still a file the admin meant: trust::read_file refuses it.
    let main = dir.join(MAIN_FILE);
    match std::fs::symlink_metadata(&main) {
        Ok(_) => files.push(main),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(read_err(&main, e)),
    }
    let dropins = dir.join(DROPIN_DIR);
    let entries = match std::fs::read_dir(&dropins) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(read_err(&dropins, e)),
    };
    trust::check_dir(&dropins)?;
    let mut names = Vec::new();
    for e in entries {
        let p = e.map_err(|e| read_err(&dropins, e))?.path();
        if is_dropin(&p) {
            names.push(p);
        } else {
            log::info!(
                "{}: skipped: only names that end in .toml and do not start with a dot are read from {DROPIN_DIR}/",
                p.display()
            );
        }
    }
    names.sort();
    files.extend(names);
    Ok(files)
}

/// Whether a name in conf.d/ is a drop-in: `*.toml`, not a dot-file. An
/// editor's lock file (`.#x.toml`, often a dangling link) or backup
/// (`x.toml~`, `x.toml.rpmsave`) must not make the whole config unreadable.
fn is_dropin(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| !n.starts_with('.') && n.ends_with(".toml"))
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
        sources.push(Source {
            path: path.clone(),
            text: trust::read_file(path)?,
        });
    }
    parse_sources(&sources)
}

/// Parses in-memory text; for tests and `validate` of piped input.
pub fn parse_str(path: &Path, text: &str) -> Result<Vec<Volume>, ConfigError> {
    parse_config_str(path, text).map(|c| c.volumes)
}

/// Like [`parse_str`], with the tables that are not volumes.
pub fn parse_config_str(path: &Path, text: &str) -> Result<Config, ConfigError> {
    parse_sources(&[Source {
        path: path.to_path_buf(),
        text: text.to_string(),
    }])
}

/// The top-level tables.
const TABLES: &[&str] = &["volume", "sandbox", "metrics"];

/// One table's keys after merging: each from the last file that set it.
struct Table<'a> {
    /// Where the table was first declared, for errors about the whole table.
    decl: Location,
    values: BTreeMap<&'static str, (&'a Source, &'a Value<'a>)>,
}

#[derive(Default)]
struct Merged<'a> {
    volumes: BTreeMap<String, Table<'a>>,
    sandbox: Option<Table<'a>>,
    metrics: Option<Table<'a>>,
}

fn parse_sources(sources: &[Source]) -> Result<Config, ConfigError> {
    let mut trees = Vec::new();
    for src in sources {
        let tree = DeTable::parse(&src.text).map_err(|e| ConfigError::At {
            location: src.locate(e.span().map_or(0, |s| s.start)),
            scope: Scope::File,
            what: e.message().trim().to_string(),
            hint: "fix the TOML syntax there (strings in double quotes, one key per line)".into(),
        })?;
        trees.push((src, tree));
    }
    let mut merged = Merged::default();
    for (src, tree) in &trees {
        merge_file(&mut merged, src, tree.get_ref())?;
    }
    validate(merged, sources)
}

/// `v` as a table, or an error that says how to write one.
fn as_table<'a>(
    src: &Source,
    v: &'a Value<'a>,
    scope: &Scope,
    what: &str,
    example: &str,
) -> Result<&'a DeTable<'a>, ConfigError> {
    v.get_ref().as_table().ok_or_else(|| ConfigError::At {
        location: src.locate(v.span().start),
        scope: scope.clone(),
        what: format!("{what} must be a table, not {}", v.get_ref().type_str()),
        hint: format!("write it as {example}"),
    })
}

fn merge_file<'a>(
    merged: &mut Merged<'a>,
    src: &'a Source,
    tree: &'a DeTable<'a>,
) -> Result<(), ConfigError> {
    for (k, v) in tree.iter() {
        match k.get_ref().as_ref() {
            "volume" => merge_volumes(merged, src, v)?,
            "sandbox" => merge_table(&mut merged.sandbox, SANDBOX_KEYS, "sandbox", src, v)?,
            "metrics" => merge_table(&mut merged.metrics, METRICS_KEYS, "metrics", src, v)?,
            other => {
                return Err(ConfigError::At {
                    location: src.locate(k.span().start),
                    scope: Scope::File,
                    what: format!("unknown table `{other}`"),
                    hint: did_you_mean(other, "tables", TABLES),
                })
            }
        }
    }
    Ok(())
}

fn merge_volumes<'a>(
    merged: &mut Merged<'a>,
    src: &'a Source,
    v: &'a Value<'a>,
) -> Result<(), ConfigError> {
    for (name, vt) in as_table(src, v, &Scope::File, "volume", "[volume.NAME]")? {
        let scope = Scope::Volume(name.get_ref().to_string());
        let t = as_table(src, vt, &scope, "a volume", "[volume.NAME]")?;
        let slot = merged
            .volumes
            .entry(name.get_ref().to_string())
            .or_insert_with(|| Table::new(src, vt));
        merge_keys(slot, &keys::names(VOLUME_KEYS), src, t, &scope)?;
    }
    Ok(())
}

fn merge_table<'a, D>(
    slot: &mut Option<Table<'a>>,
    keys: &[Key<D>],
    name: &'static str,
    src: &'a Source,
    v: &'a Value<'a>,
) -> Result<(), ConfigError> {
    let scope = Scope::Table(name);
    let t = as_table(src, v, &scope, name, &format!("[{name}]"))?;
    let table = slot.get_or_insert_with(|| Table::new(src, v));
    merge_keys(table, &keys::names(keys), src, t, &scope)
}

impl<'a> Table<'a> {
    fn new(src: &Source, v: &Value<'_>) -> Table<'a> {
        Table {
            decl: src.locate(v.span().start),
            values: BTreeMap::new(),
        }
    }
}

/// Later files win key by key; a key no table declares is an error.
fn merge_keys<'a>(
    table: &mut Table<'a>,
    names: &[&'static str],
    src: &'a Source,
    t: &'a DeTable<'a>,
    scope: &Scope,
) -> Result<(), ConfigError> {
    for (k, v) in t.iter() {
        let key: &str = k.get_ref();
        let Some(name) = names.iter().find(|n| **n == key) else {
            return Err(ConfigError::At {
                location: src.locate(k.span().start),
                scope: scope.clone(),
                what: format!("unknown key `{key}`"),
                hint: did_you_mean(key, &scope.keys_noun(), names),
            });
        };
        table.values.insert(name, (src, v));
    }
    Ok(())
}

/// Runs each key's validator, in table order, on the merged value.
fn check_keys<D>(
    keys: &[Key<D>],
    draft: &mut D,
    table: &Table<'_>,
    scope: &Scope,
) -> Result<(), ConfigError> {
    for k in keys {
        let field = table.values.get(k.name).map(|(src, value)| Field {
            key: k.name,
            src,
            value,
        });
        (k.check)(draft, field.as_ref()).map_err(|p| ConfigError::At {
            location: p.at.unwrap_or_else(|| table.decl.clone()),
            scope: scope.clone(),
            what: p.what,
            hint: p.hint,
        })?;
    }
    Ok(())
}

fn validate(merged: Merged<'_>, sources: &[Source]) -> Result<Config, ConfigError> {
    let mut drafts: Vec<VolumeDraft> = Vec::new();
    for (name, table) in &merged.volumes {
        let scope = Scope::Volume(name.clone());
        if !valid_name(name) {
            return Err(ConfigError::At {
                location: table.decl.clone(),
                scope,
                what: "the volume name must be 1-32 characters of A-Z a-z 0-9 _ -".into(),
                hint: "rename the table, e.g. [volume.containerd]".into(),
            });
        }
        let mut d = VolumeDraft::new(name);
        check_keys(VOLUME_KEYS, &mut d, table, &scope)?;
        cross::check_own_paths(&d)?;
        for earlier in &drafts {
            cross::check_pair(earlier, &d)?;
        }
        drafts.push(d);
    }
    let sandbox = optional_table(SANDBOX_KEYS, merged.sandbox.as_ref(), "sandbox")?;
    let metrics = optional_table(METRICS_KEYS, merged.metrics.as_ref(), "metrics")?;
    Ok(Config {
        volumes: drafts.into_iter().map(|d| d.vol).collect(),
        files: sources.iter().map(|s| s.path.clone()).collect(),
        sandbox,
        metrics,
    })
}

fn optional_table<D: Default>(
    keys: &[Key<D>],
    table: Option<&Table<'_>>,
    name: &'static str,
) -> Result<Option<D>, ConfigError> {
    let Some(table) = table else { return Ok(None) };
    let mut d = D::default();
    check_keys(keys, &mut d, table, &Scope::Table(name))?;
    Ok(Some(d))
}
