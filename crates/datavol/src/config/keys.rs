//! The keys of each table, declared once: name, one line of documentation and
//! the validator that turns the merged value (or its absence) into a typed
//! field. Parsing, merging, unknown-key errors and `cargo xtask man --check`
//! all read these tables. Validators run in table order, so a key may use
//! the keys above it (label after filesystem, services after directories).

use super::paths::{self, Refusal};
use super::source::{Field, Location, Problem};
use super::{
    options, selector, Filesystem, HiddenPolicy, Metrics, Raid, Sandbox, Volume, VOLUMES_DIR,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_DEVICE_TIMEOUT: Duration = Duration::from_secs(90);
pub const DEFAULT_SANDBOX_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_NAMESPACE: &str = "k8s.io";
const MAX_TIMEOUT_SECS: u64 = 3600;

/// One key of a table whose validated form is built in a `D`.
pub struct Key<D> {
    pub name: &'static str,
    pub doc: &'static str,
    pub check: fn(&mut D, Option<&Field<'_>>) -> Result<(), Problem>,
}

/// The key names of a table, for unknown-key hints.
pub fn names<D>(keys: &[Key<D>]) -> Vec<&'static str> {
    keys.iter().map(|k| k.name).collect()
}

/// A volume being validated, with where its paths and selectors were written.
pub struct VolumeDraft {
    pub vol: Volume,
    pub device_at: Vec<Location>,
    pub mount_at: Option<Location>,
    pub dirs_at: Vec<Location>,
    dirs_field_at: Option<Location>,
}

impl VolumeDraft {
    pub fn new(name: &str) -> VolumeDraft {
        VolumeDraft {
            vol: Volume {
                name: name.to_string(),
                device: Vec::new(),
                raid: None,
                // Placeholders: the validators of these keys set or refuse them.
                filesystem: Filesystem::Xfs,
                mount_point: PathBuf::new(),
                directories: Vec::new(),
                options: Vec::new(),
                migrate: true,
                device_timeout: DEFAULT_DEVICE_TIMEOUT,
                required: false,
                adopt_existing: false,
                label: String::new(),
                services: Vec::new(),
                discard_at_format: false,
                grow: true,
                prewarm: false,
                hidden_content: None,
            },
            device_at: Vec::new(),
            mount_at: None,
            dirs_at: Vec::new(),
            dirs_field_at: None,
        }
    }
}

/// A boolean key: its value, or `default` when it is not set.
fn flag(f: Option<&Field<'_>>, default: bool) -> Result<bool, Problem> {
    f.map_or(Ok(default), Field::bool)
}

pub const VOLUME_KEYS: &[Key<VolumeDraft>] = &[
    Key {
        name: "device",
        doc: "which disk: a selector, or a list of alternatives",
        check: device,
    },
    Key {
        name: "raid",
        doc: "\"raid0\": stripe every disk the selectors match",
        check: raid,
    },
    Key {
        name: "filesystem",
        doc: "xfs or ext4",
        check: filesystem,
    },
    Key {
        name: "directories",
        doc: "several directories served from this volume by bind mounts",
        check: directories,
    },
    Key {
        name: "mount_point",
        doc: "where the filesystem is mounted",
        check: mount_point,
    },
    Key {
        name: "options",
        doc: "mount options, one per element",
        check: mount_options,
    },
    Key {
        name: "migrate",
        doc: "copy the old content onto a new filesystem (default true)",
        check: |d, f| {
            d.vol.migrate = flag(f, true)?;
            Ok(())
        },
    },
    Key {
        name: "device_timeout",
        doc: "how long to wait for the disk (default 90 s)",
        check: |d, f| {
            d.vol.device_timeout =
                f.map_or(Ok(DEFAULT_DEVICE_TIMEOUT), |f| f.seconds(MAX_TIMEOUT_SECS))?;
            Ok(())
        },
    },
    Key {
        name: "required",
        doc: "containerd must not start without the volume (default false)",
        check: |d, f| {
            d.vol.required = flag(f, false)?;
            Ok(())
        },
    },
    Key {
        name: "adopt_existing",
        doc: "mount a filesystem datavol did not make (default false)",
        check: |d, f| {
            d.vol.adopt_existing = flag(f, false)?;
            Ok(())
        },
    },
    Key {
        name: "label",
        doc: "the label of a filesystem datavol makes (default dv-NAME)",
        check: label,
    },
    Key {
        name: "services",
        doc: "units that use the directory (default: by directory)",
        check: services,
    },
    Key {
        name: "discard_at_format",
        doc: "let mkfs discard the disk's blocks (default false)",
        check: |d, f| {
            d.vol.discard_at_format = flag(f, false)?;
            Ok(())
        },
    },
    Key {
        name: "grow",
        doc: "grow the filesystem to the disk's size (default true)",
        check: |d, f| {
            d.vol.grow = flag(f, true)?;
            Ok(())
        },
    },
    Key {
        name: "prewarm",
        doc: "read every block of a disk restored from a snapshot (default false)",
        check: |d, f| {
            d.vol.prewarm = flag(f, false)?;
            Ok(())
        },
    },
    Key {
        name: "hidden_content",
        doc: "content written under the directory since it was copied: warn or refuse (default warn for /var/lib/containerd, else refuse)",
        check: hidden_content,
    },
];

fn hidden_content(d: &mut VolumeDraft, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let Some(f) = f else { return Ok(()) };
    d.vol.hidden_content = Some(match f.string("\"warn\"")?.text {
        "warn" => HiddenPolicy::Warn,
        "refuse" => HiddenPolicy::Refuse,
        other => {
            return Err(f.problem(
                format!("hidden_content {other:?} is not a policy"),
                "hidden_content = \"warn\" (mount, say what is hidden) or \"refuse\" (do not mount over it)",
            ))
        }
    });
    Ok(())
}

fn device(d: &mut VolumeDraft, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let f = f.ok_or_else(|| {
        Problem::missing(
            "device",
            "device = \"/dev/xvdb\", \"ebs:xvdb\", a /dev/disk/by-* path, or a list of alternatives",
        )
    })?;
    let items = f.string_or_strings("\"/dev/xvdb\" or [\"ebs:xvdb\", \"/dev/xvdb\"]")?;
    if items.is_empty() {
        return Err(f.problem(
            "device list is empty".into(),
            "name at least one selector: device = [\"ebs:xvdb\", \"/dev/xvdb\"]",
        ));
    }
    for it in items {
        let sel = selector::parse(it.text)
            .map_err(|e| f.problem_at(it.at.clone(), e.to_string(), e.hint()))?;
        d.vol.device.push(sel);
        d.device_at.push(it.at);
    }
    Ok(())
}

fn raid(d: &mut VolumeDraft, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let Some(f) = f else { return Ok(()) };
    let it = f.string("\"raid0\"")?;
    d.vol.raid = match it.text {
        "raid0" => Some(Raid::Raid0),
        other => {
            return Err(f.problem(
                format!("raid {other:?} is not supported"),
                "raid = \"raid0\", or leave raid out for one disk",
            ))
        }
    };
    Ok(())
}

fn filesystem(d: &mut VolumeDraft, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let hint = "filesystem = \"xfs\" or \"ext4\"";
    let f = f.ok_or_else(|| Problem::missing("filesystem", hint))?;
    d.vol.filesystem = match f.string("\"xfs\"")?.text {
        "xfs" => Filesystem::Xfs,
        "ext4" => Filesystem::Ext4,
        other => return Err(f.problem(format!("filesystem {other:?} is not supported"), hint)),
    };
    Ok(())
}

/// A path for a mount unit: syntax first, then not a system directory.
fn unit_path(key: &str, raw: &str, own_mount_point: Option<&Path>) -> Result<PathBuf, Refusal> {
    paths::check_syntax(key, raw)?;
    let p = PathBuf::from(raw);
    paths::check_not_system(key, &p, own_mount_point)?;
    Ok(p)
}

fn directories(d: &mut VolumeDraft, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let Some(f) = f else { return Ok(()) };
    let items = f.strings("[\"/var/lib/containerd\", \"/var/lib/kubelet\"]")?;
    if items.is_empty() {
        return Err(f.problem(
            "directories is empty".into(),
            "leave it out and set mount_point instead",
        ));
    }
    for it in items {
        let p = unit_path("directory", it.text, None).map_err(|r| f.refused(it.at.clone(), r))?;
        d.vol.directories.push(p);
        d.dirs_at.push(it.at);
    }
    d.dirs_field_at = Some(f.at());
    Ok(())
}

fn mount_point(d: &mut VolumeDraft, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let default = Path::new(VOLUMES_DIR).join(&d.vol.name);
    let Some(f) = f else {
        if d.vol.directories.is_empty() {
            return Err(Problem::missing(
                "mount_point",
                "mount_point = \"/var/lib/containerd\", or directories = [...] to serve several directories",
            ));
        }
        d.vol.mount_point = default;
        d.mount_at = d.dirs_field_at.clone();
        return Ok(());
    };
    let it = f.string("\"/var/lib/containerd\"")?;
    d.vol.mount_point = unit_path("mount_point", it.text, Some(&default))
        .map_err(|r| f.refused(it.at.clone(), r))?;
    d.mount_at = Some(it.at);
    Ok(())
}

fn mount_options(d: &mut VolumeDraft, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let Some(f) = f else { return Ok(()) };
    for it in f.strings("[\"noatime\", \"prjquota\"]")? {
        options::check(it.text).map_err(|r| f.refused(it.at.clone(), r))?;
        d.vol.options.push(it.text.to_string());
    }
    Ok(())
}

fn label(d: &mut VolumeDraft, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let fs = d.vol.filesystem;
    let Some(f) = f else {
        d.vol.label = default_label(&d.vol.name, fs);
        return Ok(());
    };
    let l = f.string("\"dv-data\"")?.text;
    let max = fs.max_label_len();
    let plain = l
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if l.is_empty() || l.len() > max || !plain {
        return Err(f.problem(
            format!("label {l:?} must be 1-{max} characters of A-Z a-z 0-9 _ - for {fs}"),
            &format!(
                "leave label out for the default {:?}",
                default_label(&d.vol.name, fs)
            ),
        ));
    }
    d.vol.label = l.to_string();
    Ok(())
}

/// The services known to use a directory, by the directory's path.
const SERVICES_OF: &[(&str, &str)] = &[
    ("/var/lib/containerd", "containerd.service"),
    ("/var/lib/kubelet", "kubelet.service"),
    ("/var/lib/docker", "docker.service"),
];

/// The default `services`: those of each served directory, in order.
pub fn default_services(vol: &Volume) -> Vec<String> {
    let dirs: Vec<&Path> = match vol.directories.is_empty() {
        true => vec![vol.mount_point.as_path()],
        false => vol.directories.iter().map(PathBuf::as_path).collect(),
    };
    let mut out: Vec<String> = Vec::new();
    for dir in dirs {
        for (p, s) in SERVICES_OF {
            if dir == Path::new(p) && !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
    }
    out
}

fn services(d: &mut VolumeDraft, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let Some(f) = f else {
        d.vol.services = default_services(&d.vol);
        return Ok(());
    };
    for it in f.strings("[\"containerd.service\"]")? {
        if !valid_unit_name(it.text) {
            return Err(f.problem_at(
                it.at,
                format!("{:?} is not a valid unit name", it.text),
                "name a unit with its suffix, e.g. containerd.service",
            ));
        }
        d.vol.services.push(it.text.to_string());
    }
    Ok(())
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

pub const SANDBOX_KEYS: &[Key<Sandbox>] = &[
    Key {
        name: "images",
        doc: "the pod sandbox images that must be present",
        check: images,
    },
    Key {
        name: "archive",
        doc: "an image archive to import them from",
        check: |s, f| {
            s.archive = f
                .map(|f| plain_path(f, "\"/opt/datavol/sandbox.tar\""))
                .transpose()?;
            Ok(())
        },
    },
    Key {
        name: "namespace",
        doc: "the containerd namespace (default k8s.io)",
        check: namespace,
    },
    Key {
        name: "required",
        doc: "fail when the images cannot be made present (default false)",
        check: |s, f| {
            s.required = flag(f, false)?;
            Ok(())
        },
    },
    Key {
        name: "timeout",
        doc: "how long to wait for containerd (default 60 s)",
        check: |s, f| {
            s.timeout = f.map_or(Ok(DEFAULT_SANDBOX_TIMEOUT), |f| f.seconds(MAX_TIMEOUT_SECS))?;
            Ok(())
        },
    },
];

/// An absolute path that is not a mount point: syntax only.
fn plain_path(f: &Field<'_>, example: &str) -> Result<PathBuf, Problem> {
    let it = f.string(example)?;
    paths::check_syntax(f.key, it.text).map_err(|r| f.refused(it.at.clone(), r))?;
    Ok(PathBuf::from(it.text))
}

/// Plausible image reference: registry/name[:tag][@digest], no spaces or controls.
fn plausible_image(s: &str) -> bool {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"._-/:@+".contains(&b);
    s.len() <= 512
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(ok)
        && !s.ends_with(['/', ':', '@'])
}

fn images(s: &mut Sandbox, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let example = "[\"registry.k8s.io/pause:3.9\"]";
    let f = f.ok_or_else(|| Problem::missing("images", &format!("images = {example}")))?;
    let items = f.strings(example)?;
    if items.is_empty() {
        return Err(f.problem(
            "images is empty".into(),
            &format!("images = {example}, or leave [sandbox] out"),
        ));
    }
    for it in items {
        if !plausible_image(it.text) {
            return Err(f.problem_at(
                it.at,
                format!("{:?} is not an image reference", it.text),
                "write it as containerd names it, e.g. registry.k8s.io/pause:3.9 (no spaces)",
            ));
        }
        s.images.push(it.text.to_string());
    }
    Ok(())
}

/// containerd's namespace rule: alphanumeric words joined by . _ or -.
fn valid_namespace(n: &str) -> bool {
    n.len() <= 76
        && !n.is_empty()
        && n.split(['.', '_', '-'])
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn namespace(s: &mut Sandbox, f: Option<&Field<'_>>) -> Result<(), Problem> {
    let Some(f) = f else {
        s.namespace = DEFAULT_NAMESPACE.to_string();
        return Ok(());
    };
    let it = f.string("\"k8s.io\"")?;
    if !valid_namespace(it.text) {
        return Err(f.problem(
            format!("namespace {:?} is not a containerd namespace", it.text),
            "letters and digits, joined by . _ or -, e.g. k8s.io",
        ));
    }
    s.namespace = it.text.to_string();
    Ok(())
}

pub const METRICS_KEYS: &[Key<Metrics>] = &[Key {
    name: "textfile_dir",
    doc: "node_exporter's textfile collector directory",
    check: |m, f| {
        let example = "\"/var/lib/node_exporter/textfile_collector\"";
        let f = f.ok_or_else(|| {
            Problem::missing("textfile_dir", &format!("textfile_dir = {example}"))
        })?;
        m.textfile_dir = plain_path(f, example)?;
        Ok(())
    },
}];
