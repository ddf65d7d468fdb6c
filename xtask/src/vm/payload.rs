//! The per-boot payload: a host directory shared into the guest over 9p.
//! `root/` is copied onto the guest's / by the PID 1 shim before systemd starts (so files
//! are in place as if a package had installed them), then `install.sh`'s extra lines run.
//! The checker writes its results to `out/`.
use super::util::{copy_file, remove_dir_all, write_file};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

pub struct Payload {
    pub dir: PathBuf,
    extra: Vec<String>,
}

impl Payload {
    pub fn new(dir: &Path) -> Result<Payload, String> {
        remove_dir_all(dir)?;
        for sub in ["root", "out"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        Ok(Payload {
            dir: dir.to_path_buf(),
            extra: Vec::new(),
        })
    }

    pub fn out(&self) -> PathBuf {
        self.dir.join("out")
    }

    fn at(&self, guest_path: &str) -> PathBuf {
        self.dir
            .join("root")
            .join(guest_path.trim_start_matches('/'))
    }

    pub fn file(
        &self,
        guest_path: &str,
        contents: impl AsRef<[u8]>,
        mode: u32,
    ) -> Result<(), String> {
        write_file(&self.at(guest_path), contents, mode)
    }

    pub fn copy(&self, host: &Path, guest_path: &str, mode: u32) -> Result<(), String> {
        copy_file(host, &self.at(guest_path), mode)
    }

    pub fn symlink(&self, target: &str, guest_path: &str) -> Result<(), String> {
        let p = self.at(guest_path);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let _ = fs::remove_file(&p);
        symlink(target, &p).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// A file that goes to the share itself (not onto the guest's /), e.g. an image tarball.
    pub fn share_file(&self, name: &str, host: &Path) -> Result<(), String> {
        copy_file(host, &self.dir.join(name), 0o644)
    }

    /// A shell line run by install.sh after the copy (still before systemd starts).
    pub fn run(&mut self, line: &str) {
        self.extra.push(line.to_string());
    }

    /// `systemctl enable`, offline: the wants/requires symlinks of the unit's [Install] section,
    /// made in /etc/systemd/system as systemctl would. `unit_path` is the guest path of the unit,
    /// `text` its contents.
    pub fn enable(&self, unit_path: &str, text: &str) -> Result<(), String> {
        let name = Path::new(unit_path)
            .file_name()
            .ok_or_else(|| format!("{unit_path}: not a unit file path"))?
            .to_string_lossy()
            .into_owned();
        let mut in_install = false;
        let mut n = 0;
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                in_install = l == "[Install]";
                continue;
            }
            if !in_install {
                continue;
            }
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            let suffix = match k.trim() {
                "WantedBy" => "wants",
                "RequiredBy" => "requires",
                "UpheldBy" => "upholds",
                "Alias" => {
                    for a in v.split_whitespace() {
                        self.symlink(unit_path, &format!("/etc/systemd/system/{a}"))?;
                    }
                    continue;
                }
                _ => continue,
            };
            for t in v.split_whitespace() {
                self.symlink(
                    unit_path,
                    &format!("/etc/systemd/system/{t}.{suffix}/{name}"),
                )?;
                n += 1;
            }
        }
        if n == 0 {
            return Err(format!(
                "{unit_path}: [Install] has no WantedBy=/RequiredBy=, cannot enable"
            ));
        }
        Ok(())
    }

    /// Writes install.sh. Call last.
    pub fn finish(&self) -> Result<(), String> {
        let mut s = String::from("#!/bin/sh\nset -e\ncp -a /mnt/vmtest/root/. /\n");
        for l in &self.extra {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str("sync\n");
        write_file(&self.dir.join("install.sh"), s, 0o755)
    }
}
