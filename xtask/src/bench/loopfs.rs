//! Loop-backed XFS filesystems for the bench: each fixture on its own, and the
//! destination re-made before every run.
use super::io;
use crate::util::run;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A loop-backed XFS filesystem; unmounted and detached on drop.
pub struct LoopFs {
    img: PathBuf,
    pub mnt: PathBuf,
    dev: String,
    mounted: bool,
}

impl LoopFs {
    pub fn new(dir: &Path, name: &str, gib: u64) -> Result<LoopFs, String> {
        let img = dir.join(format!("{name}.img"));
        let f = io(fs::File::create(&img), "create image")?;
        io(f.set_len(gib << 30), "size image")?;
        drop(f);
        let mnt = dir.join(name);
        io(fs::create_dir_all(&mnt), "mkdir mount point")?;
        let dev = run(Command::new("losetup")
            .args(["--find", "--show", "--direct-io=on"])
            .arg(&img))?
        .trim()
        .to_string();
        if !dev.starts_with("/dev/loop") {
            return Err(format!("losetup gave {dev:?}"));
        }
        let mut fs = LoopFs {
            img,
            mnt,
            dev,
            mounted: false,
        };
        fs.remake()?;
        Ok(fs)
    }

    /// Fresh, empty filesystem.
    pub fn remake(&mut self) -> Result<(), String> {
        if self.mounted {
            run(Command::new("umount").arg(&self.mnt))?;
            self.mounted = false;
        }
        // Right after umount, udev may still hold the device open for a probe.
        let mut tries = 0;
        loop {
            match run(Command::new("mkfs.xfs").args(["-q", "-f", &self.dev])) {
                Ok(_) => break,
                Err(e) if tries < 20 && e.contains("busy") => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
        run(Command::new("mount")
            .args(["-t", "xfs", &self.dev])
            .arg(&self.mnt))?;
        self.mounted = true;
        Ok(())
    }

    /// Unmounts and detaches it, and hands over its image file (for the VM to attach).
    pub fn into_image(mut self) -> Result<PathBuf, String> {
        run(Command::new("umount").arg(&self.mnt))?;
        self.mounted = false;
        run(Command::new("losetup").args(["-d", &self.dev]))?;
        self.dev.clear();
        Ok(std::mem::take(&mut self.img))
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.mnt).status();
        }
        if !self.dev.is_empty() {
            let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
        }
        if !self.img.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.img);
        }
    }
}

/// The bench's work dir under /var/tmp; removed on drop unless --keep.
pub struct WorkDir {
    pub path: PathBuf,
    pub keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

pub fn drop_caches() -> Result<(), String> {
    run(&mut Command::new("sync"))?;
    io(fs::write("/proc/sys/vm/drop_caches", "3\n"), "drop caches")
}

/// Allocated bytes of a tree (what must really be written).
pub fn allocated(path: &Path) -> Result<u64, String> {
    let out = run(Command::new("du").args(["-s", "-B1"]).arg(path))?;
    out.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("du output {out:?}"))
}
