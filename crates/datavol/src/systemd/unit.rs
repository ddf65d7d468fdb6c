//! systemd `.mount` units: the name (`systemd-escape --path`), the text, and a
//! durable write that leaves an identical file alone.

// The name rule is config's: it validates paths with it.
use crate::config::{escape_path, Volume};
use crate::sys::fsutil;
use std::path::{Path, PathBuf};

/// Where mount units go unless `--unit-dir` says otherwise. /run, not /etc:
/// every later boot's mount is datavol-generator's (/run/systemd/generator),
/// and a unit in /etc would shadow it (unit precedence is /etc > /run >
/// generator). A healthy reboot keeps the generator's mount and writes none.
pub const DEFAULT_UNIT_DIR: &str = "/run/systemd/system";
/// Where datavol before the generator wrote its units; they are removed
/// (recognised by their header) so the generator's take over.
pub const LEGACY_UNIT_DIR: &str = "/etc/systemd/system";
const HEADER: &str = "# Written by datavol for volume ";
/// datavol creates a flag here once a volume is verified this boot. The mount
/// unit's condition on it stops anything that pulls the unit in early from
/// mounting an unchecked (say, blank instance-store) disk before datavol ran.
pub const READY_DIR: &str = "/run/datavol/ready";

/// `/var/lib/containerd` -> `var-lib-containerd.mount`.
pub fn mount_unit_name(mount_point: &Path) -> Option<String> {
    escape_path(mount_point).map(|s| format!("{s}.mount"))
}

/// Everything the rendered unit depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub volume: String,
    pub uuid: String,
    /// What= of a device mount: the path the caller chose for the device it
    /// checked (discover/links.rs `what_for`), never looked up here.
    pub device: PathBuf,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub options: Vec<String>,
    pub before: Vec<String>,
    /// A bind mount of a directory of another datavol mount, instead of the device.
    pub bind_from: Option<BindFrom>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindFrom {
    pub source: PathBuf,
    /// The volume's own mount unit: bound parent first.
    pub requires: String,
}

impl MountSpec {
    pub fn new(vol: &Volume, uuid: &str, device: &Path) -> Self {
        MountSpec {
            volume: vol.name.clone(),
            uuid: uuid.to_string(),
            device: device.to_path_buf(),
            mount_point: vol.mount_point.clone(),
            fstype: vol.filesystem.as_str().to_string(),
            options: vol.options.clone(),
            before: vol.services.clone(),
            bind_from: None,
        }
    }

    /// The volume's own mount when it serves directories: private, so the
    /// bind mounts of its subdirectories do not multiply mounts across peers.
    pub fn volume_root(vol: &Volume, uuid: &str, device: &Path) -> Self {
        let mut s = Self::new(vol, uuid, device);
        s.options.push("private".into());
        s
    }

    /// A bind mount of `dir` from its subdirectory of the volume.
    pub fn bind(vol: &Volume, uuid: &str, dir: &Path, parent_unit: &str) -> Self {
        let mut s = Self::new(vol, uuid, Path::new(""));
        s.mount_point = dir.to_path_buf();
        s.options = Vec::new();
        s.bind_from = Some(BindFrom {
            source: vol.mount_point.join(Volume::dir_subpath(dir)),
            requires: parent_unit.to_string(),
        });
        s
    }

    pub fn ready_flag(&self) -> Option<PathBuf> {
        mount_unit_name(&self.mount_point).map(|n| Path::new(READY_DIR).join(n))
    }
}

/// The units a volume needs, each with the filesystem path its mount must
/// show: apply writes them, the generator emits them, check raises their flags.
/// `device` is the What= path of the checked disk (apply/mount.rs `what`).
pub fn specs(
    vol: &Volume,
    uuid: &str,
    device: &Path,
) -> Result<Vec<(MountSpec, PathBuf)>, UnitError> {
    if vol.directories.is_empty() {
        return Ok(vec![(
            MountSpec::new(vol, uuid, device),
            PathBuf::from("/"),
        )]);
    }
    let parent = mount_unit_name(&vol.mount_point).ok_or_else(|| UnitError::BadPath {
        volume: vol.name.clone(),
        path: vol.mount_point.clone(),
    })?;
    let mut v = vec![(
        MountSpec::volume_root(vol, uuid, device),
        PathBuf::from("/"),
    )];
    for d in &vol.directories {
        v.push((
            MountSpec::bind(vol, uuid, d, &parent),
            Path::new("/").join(Volume::dir_subpath(d)),
        ));
    }
    Ok(v)
}

#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    #[error("volume {volume}: mount point {path} cannot be named as a systemd unit; hint: use a normalised absolute path")]
    BadPath { volume: String, path: PathBuf },
    #[error("volume {volume}: refusing to write {what:?} into a unit file: it holds a character that could inject a directive")]
    Unsafe { volume: String, what: String },
    #[error("volume {volume}: writing unit {path}: {source}; hint: the unit directory must be writable by root")]
    Write {
        volume: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The config validated these already; this is the last line of defence.
fn safe(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_control())
}

fn safe_uuid(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

pub fn render(spec: &MountSpec) -> Result<String, UnitError> {
    let unsafe_err = |what: &str| UnitError::Unsafe {
        volume: spec.volume.clone(),
        what: what.to_string(),
    };
    let where_ = spec
        .mount_point
        .to_str()
        .filter(|s| safe(s) && !s.contains(' '))
        .ok_or_else(|| unsafe_err(&spec.mount_point.to_string_lossy()))?;
    if !safe_uuid(&spec.uuid) {
        return Err(unsafe_err(&spec.uuid));
    }
    for s in spec
        .options
        .iter()
        .chain(&spec.before)
        .chain([&spec.fstype])
    {
        if !safe(s) || s.contains(' ') {
            return Err(unsafe_err(s));
        }
    }
    if !crate::config::valid_name(&spec.volume) {
        return Err(unsafe_err(&spec.volume));
    }
    let device = spec.device.to_string_lossy();
    if spec.bind_from.is_none()
        && (!safe(&device) || device.contains(' ') || !spec.device.is_absolute())
    {
        return Err(unsafe_err(&device));
    }
    if let Some(b) = &spec.bind_from {
        let src = b.source.to_string_lossy();
        if !safe(&src) || src.contains(' ') || !b.source.is_absolute() {
            return Err(unsafe_err(&src));
        }
        if !crate::config::valid_unit_name(&b.requires) {
            return Err(unsafe_err(&b.requires));
        }
    }
    let flag = spec.ready_flag().ok_or_else(|| UnitError::BadPath {
        volume: spec.volume.clone(),
        path: spec.mount_point.clone(),
    })?;
    let mut u = String::new();
    u.push_str(&format!(
        "{HEADER}{}. Do not edit: datavol rewrites it.\n",
        spec.volume
    ));
    u.push_str("# datavol.service starts this unit after it checked the disk; it must not\n");
    u.push_str("# be ordered after datavol.service, or that start would deadlock.\n");
    u.push_str("[Unit]\n");
    u.push_str(&format!(
        "Description=datavol volume {} on {}\n",
        spec.volume, where_
    ));
    u.push_str("Documentation=man:datavol(8)\n");
    if let Some(b) = &spec.bind_from {
        u.push_str(&format!("Requires={}\nAfter={}\n", b.requires, b.requires));
    }
    if !spec.before.is_empty() {
        u.push_str(&format!("Before={}\n", spec.before.join(" ")));
    }
    u.push_str(&format!("ConditionPathExists={}\n", flag.display()));
    u.push_str("\n[Mount]\n");
    match &spec.bind_from {
        None => {
            u.push_str(&format!("What={device}\n"));
            u.push_str(&format!("Where={where_}\n"));
            u.push_str(&format!("Type={}\n", spec.fstype));
            if !spec.options.is_empty() {
                u.push_str(&format!("Options={}\n", spec.options.join(",")));
            }
        }
        Some(b) => {
            u.push_str(&format!("What={}\n", b.source.display()));
            u.push_str(&format!("Where={where_}\n"));
            u.push_str("Type=none\nOptions=bind\n");
        }
    }
    Ok(u)
}

/// Removes the unit an older datavol left for `spec` in `legacy_dir`, where
/// it would shadow the generator's; a file datavol did not write is left.
/// Returns whether one was removed (systemd must then reload).
pub fn remove_legacy(legacy_dir: &Path, spec: &MountSpec) -> Result<bool, UnitError> {
    let Some(name) = mount_unit_name(&spec.mount_point) else {
        return Ok(false);
    };
    let path = legacy_dir.join(name);
    let ours = std::fs::read(&path).is_ok_and(|b| b.starts_with(HEADER.as_bytes()));
    if !ours {
        return Ok(false);
    }
    let werr = |source| UnitError::Write {
        volume: spec.volume.clone(),
        path: path.clone(),
        source,
    };
    std::fs::remove_file(&path).map_err(werr)?;
    fsutil::sync_dir(legacy_dir).map_err(werr)?;
    Ok(true)
}

/// The unit directories systemd prefers to datavol-generator's
/// (/run/systemd/generator): a unit of the same name in one of them is
/// loaded instead of datavol's. nodeadm's `storage.volumes` and
/// setup-local-disks write theirs to /etc/systemd/system.
pub const SHADOWING_DIRS: [&str; 2] = ["/etc/systemd/system", DEFAULT_UNIT_DIR];

/// A mount unit for a path of datavol's that datavol did not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignUnit {
    /// The path the unit mounts (one of the volume's).
    pub path: PathBuf,
    /// The unit file.
    pub unit: PathBuf,
    /// What it mounts: its What=, "masked", or why it could not be read.
    pub what: String,
}

/// The mount units for `mount_point` under `root` (`/`, or the tests'
/// re-rooted tree) that datavol did not write, in the directories that
/// shadow its own. datavol's own carry its header, in either directory.
/// A file that cannot be read counts as foreign: fail closed.
pub fn foreign_units(root: &Path, mount_point: &Path) -> Vec<ForeignUnit> {
    let Some(name) = mount_unit_name(mount_point) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in SHADOWING_DIRS {
        let unit = root.join(dir.trim_start_matches('/')).join(&name);
        let masked = std::fs::read_link(&unit).is_ok_and(|t| t == Path::new("/dev/null"));
        let what = match std::fs::read(&unit) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !masked => continue,
            _ if masked => "masked (a link to /dev/null)".to_string(),
            Err(e) => format!("unreadable ({e})"),
            Ok(b) if b.starts_with(HEADER.as_bytes()) => continue,
            Ok(b) => what_of(&String::from_utf8_lossy(&b)),
        };
        found.push(ForeignUnit {
            path: mount_point.to_path_buf(),
            unit: Path::new(dir).join(&name),
            what,
        });
    }
    found
}

/// The What= of a mount unit's text, for the message.
fn what_of(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("What="))
        .next_back()
        .map_or_else(|| "no What=".to_string(), |w| w.trim().to_string())
}

/// Writes the unit durably; returns whether anything changed.
pub fn write(unit_dir: &Path, spec: &MountSpec) -> Result<(PathBuf, bool), UnitError> {
    let name = mount_unit_name(&spec.mount_point).ok_or_else(|| UnitError::BadPath {
        volume: spec.volume.clone(),
        path: spec.mount_point.clone(),
    })?;
    let text = render(spec)?;
    let path = unit_dir.join(&name);
    let werr = |source| UnitError::Write {
        volume: spec.volume.clone(),
        path: path.clone(),
        source,
    };
    fsutil::create_dir_durable(unit_dir, 0o755).map_err(werr)?;
    let changed = fsutil::write_if_changed(&path, text.as_bytes(), 0o644).map_err(werr)?;
    Ok((path, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_refuses_injection() {
        let mut s = MountSpec {
            volume: "containerd".into(),
            uuid: "0b1c2d3e-aaaa-bbbb-cccc-000000000000".into(),
            device: "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123".into(),
            mount_point: "/var/lib/containerd".into(),
            fstype: "xfs".into(),
            options: vec!["noatime".into()],
            before: vec!["containerd.service".into()],
            bind_from: None,
        };
        assert!(render(&s).is_ok());
        s.options = vec!["noatime\nExecStartPre=/bin/evil".into()];
        assert!(matches!(render(&s), Err(UnitError::Unsafe { .. })));
        s.options = vec![];
        s.uuid = "x\n[Service]".into();
        assert!(matches!(render(&s), Err(UnitError::Unsafe { .. })));
        s.uuid = "0b1c2d3e-aaaa-bbbb-cccc-000000000000".into();
        s.device = "/dev/vdb\nExecStartPre=/bin/evil".into();
        assert!(matches!(render(&s), Err(UnitError::Unsafe { .. })));
        s.device = "vdb".into();
        assert!(matches!(render(&s), Err(UnitError::Unsafe { .. })));
    }

    #[test]
    fn a_unit_datavol_did_not_write_is_foreign() {
        let root = tempfile::tempdir().expect("tempdir");
        let mp = Path::new("/var/lib/containerd");
        assert_eq!(foreign_units(root.path(), mp), vec![]);
        let etc = root.path().join("etc/systemd/system");
        let run = root.path().join("run/systemd/system");
        std::fs::create_dir_all(&etc).expect("mkdir");
        std::fs::create_dir_all(&run).expect("mkdir");
        // datavol's own, in either directory, is not foreign.
        let ours = render(&MountSpec {
            volume: "containerd".into(),
            uuid: "0b1c2d3e-aaaa-bbbb-cccc-000000000000".into(),
            device: "/dev/vdb".into(),
            mount_point: mp.into(),
            fstype: "xfs".into(),
            options: vec![],
            before: vec![],
            bind_from: None,
        })
        .expect("renders");
        std::fs::write(run.join("var-lib-containerd.mount"), &ours).expect("write");
        std::fs::write(etc.join("var-lib-containerd.mount"), &ours).expect("write");
        assert_eq!(foreign_units(root.path(), mp), vec![]);
        // nodeadm's storage.volumes unit (ebs_storage.go, PR #2759).
        std::fs::write(
            etc.join("var-lib-containerd.mount"),
            "[Unit]\nDescription=Mount EBS volume on /var/lib/containerd\n\n[Mount]\nWhat=UUID=1234\nWhere=/var/lib/containerd\nType=xfs\n",
        )
        .expect("write");
        let f = foreign_units(root.path(), mp);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            f[0].unit,
            Path::new("/etc/systemd/system/var-lib-containerd.mount")
        );
        assert_eq!(f[0].what, "UUID=1234");
        // A masked unit would stop datavol's mount too.
        std::fs::remove_file(run.join("var-lib-containerd.mount")).expect("rm");
        std::os::unix::fs::symlink("/dev/null", run.join("var-lib-containerd.mount"))
            .expect("symlink");
        let f = foreign_units(root.path(), mp);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[1].what.starts_with("masked"), "{f:?}");
    }

    #[test]
    fn what_is_the_device_path_given() {
        let s = MountSpec {
            volume: "containerd".into(),
            uuid: "0b1c2d3e-aaaa-bbbb-cccc-000000000000".into(),
            device: "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123".into(),
            mount_point: "/var/lib/containerd".into(),
            fstype: "xfs".into(),
            options: vec![],
            before: vec![],
            bind_from: None,
        };
        let u = render(&s).expect("renders");
        assert!(
            u.contains("\nWhat=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123\n"),
            "{u}"
        );
        assert!(!u.contains("by-uuid"), "{u}");
    }
}
