//! Small host-side helpers of the VM rig: hashing, files, key=value results, mounts of
//! disk images. Running commands is crate::util::run.
use crate::util::run;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn sha256_bytes(data: &[u8]) -> Result<String, String> {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("sha256sum: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("sha256sum: no stdin")?
        .write_all(data)
        .map_err(|e| format!("sha256sum: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("sha256sum: {e}"))?;
    let s = String::from_utf8_lossy(&out.stdout);
    Ok(s.split_whitespace().next().unwrap_or_default().to_string())
}

pub fn sha256_file(path: &Path) -> Result<String, String> {
    let s = run(Command::new("sha256sum").arg(path))?;
    Ok(s.split_whitespace().next().unwrap_or_default().to_string())
}

pub fn write_file(path: &Path, contents: impl AsRef<[u8]>, mode: u32) -> Result<(), String> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn copy_file(src: &Path, dst: &Path, mode: u32) -> Result<(), String> {
    let data = fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?;
    write_file(dst, data, mode)
}

pub fn remove_dir_all(path: &Path) -> Result<(), String> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("remove {}: {e}", path.display())),
    }
}

/// Parses `key=value` lines (later lines win on lookup).
#[derive(Default, Debug, Clone)]
pub struct Kv(pub Vec<(String, String)>);

impl Kv {
    pub fn parse(text: &str) -> Kv {
        Kv(text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect())
    }
    pub fn load(path: &Path) -> Kv {
        Kv::parse(&fs::read_to_string(path).unwrap_or_default())
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `blkid -p -o export` of an image file: TYPE, UUID, ... (empty when blank).
pub fn blkid(path: &Path) -> Kv {
    let out = Command::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(path)
        .output();
    match out {
        Ok(o) => Kv::parse(&String::from_utf8_lossy(&o.stdout)),
        Err(_) => Kv::default(),
    }
}

/// A loop mount of a throwaway copy of a disk image; unmounted and deleted on drop.
pub struct CopyMount {
    pub dir: PathBuf,
    copy: PathBuf,
}

impl CopyMount {
    pub fn new(image: &Path, work: &Path) -> Result<CopyMount, String> {
        let copy = work.join("inspect-copy.img");
        let dir = work.join("inspect-mnt");
        let _ = Command::new("umount")
            .arg(&dir)
            .stderr(Stdio::null())
            .status();
        run(Command::new("cp")
            .arg("--sparse=always")
            .arg(image)
            .arg(&copy))?;
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Read-write on the copy, so a dirty log (after a power cut) can be replayed.
        if let Err(e) = run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&copy)
            .arg(&dir))
        {
            let _ = fs::remove_file(&copy);
            return Err(e);
        }
        Ok(CopyMount { dir, copy })
    }
}

impl Drop for CopyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = fs::remove_dir(&self.dir);
        let _ = fs::remove_file(&self.copy);
    }
}

/// Seconds with one decimal.
pub fn secs(d: std::time::Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The value of datavol's state.json `"phase"` (or `"state"`) key, without a JSON parser.
pub fn state_phase(json: &str) -> Option<String> {
    for key in ["\"phase\"", "\"state\""] {
        if let Some(i) = json.find(key) {
            let rest = json[i + key.len()..]
                .trim_start()
                .strip_prefix(':')?
                .trim_start()
                .strip_prefix('"')?;
            return Some(rest[..rest.find('"')?].to_string());
        }
    }
    None
}

/// A loop mount of an image this rig made, with the given options; unmounted on drop.
pub struct LoopMount {
    pub dir: PathBuf,
}

impl LoopMount {
    pub fn new(image: &Path, dir: &Path, options: &str) -> Result<LoopMount, String> {
        let _ = Command::new("umount")
            .arg(dir)
            .stderr(Stdio::null())
            .status();
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        run(Command::new("mount")
            .args(["-o", &format!("loop,{options}")])
            .arg(image)
            .arg(dir))?;
        Ok(LoopMount {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = fs::remove_dir(&self.dir);
    }
}
