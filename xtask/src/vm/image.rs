//! The cached Debian 12 test images, one per containerd version: built once, rebuilt
//! only when their recipe changes.
//!
//! Recipe = xtask/vm/build-rootfs.sh, fetch-extras.sh, build-oci.sh, guest/** (files
//! baked into the image), containerd/<version>/** (its config), payload/checks/bake.sh
//! (the baking boot), the mirror URL, the containerd version and RECIPE_VERSION below.
//! Their hash names the cache directory. A guest of another arch (arch.rs) adds its
//! wrapper script and its name to the hash, and keeps its images in directories of its
//! own prefix; x86_64's keys are what they always were.
use super::arch::Arch;
use super::payload::Payload;
use super::qemu::{self, Exit, Machine};
use super::util::{remove_dir_all, secs, sha256_bytes, Kv};
use crate::util::{run_logged, workspace_root};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Bump when the Rust side of the image build changes in a way that matters.
const RECIPE_VERSION: &str = "1";
pub const PAUSE_IMAGE: &str = "localhost/kubernetes/pause:latest";

/// The containerd a guest runs. Each has its own image, configured as nodeadm
/// configures that version on EKS AL2023.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Containerd {
    /// bookworm's 1.6 (CRI config version 2, `sandbox_image`).
    #[default]
    V1,
    /// sid's 2.x over bookworm (CRI config version 3, `pinned_images`).
    V2,
}

impl Containerd {
    /// As the recipe names it (`xtask/vm/containerd/<this>/`, fetch-extras.sh).
    pub fn version(self) -> &'static str {
        match self {
            Containerd::V1 => "1.6",
            Containerd::V2 => "2",
        }
    }
}

/// The cache dir's prefix of an image: the arch's (`image-` for x86_64, so the 1.6
/// image keeps its old name), then `c2-` for containerd 2.
fn dir_prefix(arch: Arch, c: Containerd) -> String {
    let v = match c {
        Containerd::V1 => "",
        Containerd::V2 => "c2-",
    };
    format!("{}{v}", arch.image_prefix())
}

/// Whether a cache entry is (or is being built as) an image of `arch` and `c`: its
/// prefix, then a key with no `-` (the longer prefixes of the others have one more).
fn owns(arch: Arch, c: Containerd, name: &str) -> bool {
    name.strip_prefix(&dir_prefix(arch, c))
        .is_some_and(|rest| !rest.contains('-'))
}

#[derive(Clone)]
pub struct Image {
    pub arch: Arch,
    pub dir: PathBuf,
    pub raw: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

impl Image {
    fn at(arch: Arch, dir: PathBuf) -> Image {
        Image {
            arch,
            raw: dir.join("image.raw"),
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
            dir,
        }
    }
}

pub fn recipe_dir() -> PathBuf {
    workspace_root().join("xtask/vm")
}

/// The Debian mirror this machine's apt uses (DATAVOL_VM_MIRROR overrides).
pub fn mirror() -> String {
    if let Ok(m) = std::env::var("DATAVOL_VM_MIRROR") {
        return m;
    }
    if let Ok(s) = fs::read_to_string("/etc/apt/sources.list.d/debian.sources") {
        if let Some(u) = s.lines().find_map(|l| l.strip_prefix("URIs:")) {
            if let Some(u) = u.split_whitespace().next() {
                return u.to_string();
            }
        }
    }
    if let Ok(s) = fs::read_to_string("/etc/apt/sources.list") {
        for l in s.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() >= 3 && w[0] == "deb" && !w[1].starts_with('[') && w[2] == "bookworm" {
                return w[1].to_string();
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

pub fn cache_key(arch: Arch, c: Containerd) -> Result<String, String> {
    let r = recipe_dir();
    let mut files = vec![
        r.join("build-rootfs.sh"),
        r.join("fetch-extras.sh"),
        r.join("build-oci.sh"),
        r.join("payload/checks/bake.sh"),
    ];
    walk(&r.join("guest"), &mut files);
    walk(&r.join("containerd").join(c.version()), &mut files);
    let mut buf = format!(
        "version={RECIPE_VERSION}\nmirror={}\ncontainerd={}\n",
        mirror(),
        c.version()
    )
    .into_bytes();
    if let Some(w) = arch.recipe_wrapper() {
        buf.extend_from_slice(format!("arch={}\n", arch.name()).as_bytes());
        files.push(r.join(w));
    }
    for f in files {
        let data = fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let rel = f.strip_prefix(&r).unwrap_or(&f);
        buf.extend_from_slice(format!("{}\0{}\0", rel.display(), data.len()).as_bytes());
        buf.extend_from_slice(&data);
    }
    Ok(sha256_bytes(&buf)?[..16].to_string())
}

/// Returns the cached image of containerd `c` for `arch` and the current recipe,
/// building it if needed.
pub fn ensure(cache: &Path, arch: Arch, c: Containerd, force: bool) -> Result<Image, String> {
    let key = cache_key(arch, c)?;
    let prefix = dir_prefix(arch, c);
    let dir = cache.join(format!("{prefix}{key}"));
    if !force && dir.join("ok").exists() {
        return Ok(Image::at(arch, dir));
    }
    eprintln!(
        "vm-test: building {} image {key} (containerd {}) in {} (mirror {})",
        arch.name(),
        c.version(),
        dir.display(),
        mirror()
    );
    let start = Instant::now();
    let tmp = cache.join(format!("{prefix}build.tmp"));
    remove_dir_all(&tmp)?;
    fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let log = tmp.join("build.log");
    let rootfs = tmp.join("rootfs");
    let extras = tmp.join("extras");
    let r = recipe_dir();
    // The generic scripts, or this arch's wrapper around them (its first argument: which).
    let script = |generic: &str, mode: &str| -> Vec<PathBuf> {
        match arch.recipe_wrapper() {
            None => vec![r.join(generic)],
            Some(w) => vec![r.join(w), PathBuf::from(mode)],
        }
    };
    // Under qemu-user, debootstrap's second stage and apt take several times longer.
    let limit = if arch.may_use_kvm() { "900" } else { "2700" };

    run_logged(
        Command::new("timeout")
            .args(["--kill-after=10", "300", "bash"])
            .arg(r.join("fetch-extras.sh"))
            .arg(&extras)
            .arg(mirror())
            .arg(c.version()),
        &log,
    )?;
    run_logged(
        // A stuck mirror must not eat CI's whole budget.
        Command::new("timeout")
            .args(["--kill-after=10", limit, "bash"])
            .args(script("build-rootfs.sh", "rootfs"))
            .arg(&rootfs)
            .arg(mirror())
            .arg(r.join("guest"))
            .arg(&extras)
            .arg(r.join("containerd").join(c.version()).join("config.toml")),
        &log,
    )?;
    remove_dir_all(&extras)?;
    eprintln!("vm-test:   rootfs done after {}", secs(start.elapsed()));
    run_logged(
        Command::new("bash")
            .args(script("build-oci.sh", "oci"))
            .arg(rootfs.join("bin/busybox"))
            .arg(tmp.join("pause.tar"))
            .arg(PAUSE_IMAGE),
        &log,
    )?;
    let img = Image::at(arch, tmp.clone());
    for (pat, dst) in [("vmlinuz-", &img.kernel), ("initrd.img-", &img.initrd)] {
        let src = fs::read_dir(rootfs.join("boot"))
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(pat))
            })
            .ok_or(format!("no /boot/{pat}* in the rootfs"))?;
        fs::copy(&src, dst).map_err(|e| format!("{}: {e}", src.display()))?;
    }
    run_logged(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "vmroot", "-d"])
            .arg(&rootfs)
            .arg(&img.raw)
            .arg("4G"),
        &log,
    )?;
    remove_dir_all(&rootfs)?;

    bake(&img, cache, &tmp)?;
    fs::write(
        tmp.join("ok"),
        format!("built in {}\n", secs(start.elapsed())),
    )
    .map_err(|e| e.to_string())?;

    // Replace any older image of this containerd (and any half-built one).
    if let Ok(rd) = fs::read_dir(cache) {
        for e in rd.flatten() {
            if owns(arch, c, &e.file_name().to_string_lossy()) && e.path() != tmp {
                remove_dir_all(&e.path())?;
            }
        }
    }
    fs::rename(&tmp, &dir).map_err(|e| e.to_string())?;
    eprintln!("vm-test: image {key} built in {}", secs(start.elapsed()));
    Ok(Image::at(arch, dir))
}

/// The baking boot: imports the pause stand-in into containerd (k8s.io namespace) and
/// records the canary tree's manifests, writing straight into the raw image.
fn bake(img: &Image, cache: &Path, work: &Path) -> Result<(), String> {
    let r = recipe_dir();
    let mut p = Payload::new(&work.join("bake-share"))?;
    p.share_file("pause.tar", &work.join("pause.tar"))?;
    install_checker(
        &mut p,
        &fs::read_to_string(r.join("payload/checks/bake.sh")).map_err(|e| e.to_string())?,
        &[],
    )?;
    p.finish()?;
    let m = Machine {
        arch: img.arch,
        kernel: img.kernel.clone(),
        initrd: img.initrd.clone(),
        accel: accel(cache, img),
        root: img.raw.clone(),
        disks: vec![],
        share: p.dir.clone(),
        console: work.join("bake-console.log"),
        timeout: Duration::from_secs(300),
        mem_mb: 1024,
        qmp: None,
        product_uuid: None,
    };
    let o = m.boot(None)?;
    let res = Kv::load(&p.out().join("result.txt"));
    let failed: Vec<String> = res
        .0
        .iter()
        .filter(|(k, v)| k.starts_with("check.") && v != "ok")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if o.exit != Exit::PoweredOff || res.get("done") != Some("1") || !failed.is_empty() {
        return Err(format!(
            "baking boot failed ({:?} after {}): {}; see {}",
            o.exit,
            secs(o.took),
            failed.join("; "),
            m.console.display()
        ));
    }
    for f in ["canary.content", "canary.mtimes"] {
        let _ = fs::copy(p.out().join(f), work.join(f));
    }
    eprintln!("vm-test:   baking boot took {}", secs(o.took));
    Ok(())
}

/// The accelerator for booting `img`: KVM is probed (once) only for the host's arch.
pub fn accel(cache: &Path, img: &Image) -> String {
    if img.arch.may_use_kvm() {
        qemu::accel(&cache.join("accel"), &img.kernel)
    } else {
        "tcg".into()
    }
}

/// Installs lib.sh, the CRI client, the scenario's check script and the checker unit
/// into a payload.
/// The checker runs after `multi-user.target` and the units in `after`, then powers off.
pub fn install_checker(p: &mut Payload, script: &str, after: &[&str]) -> Result<(), String> {
    let r = recipe_dir();
    p.copy(
        &r.join("payload/lib.sh"),
        "/usr/local/lib/vmtest/lib.sh",
        0o644,
    )?;
    p.copy(
        &r.join("payload/cri.py"),
        "/usr/local/lib/vmtest/cri.py",
        0o755,
    )?;
    p.file("/usr/local/lib/vmtest/check.sh", script, 0o755)?;
    let unit = format!(
        "[Unit]\nDescription=VM test checker\nAfter=multi-user.target containerd.service datavol.service {}\n\n\
         [Service]\nType=oneshot\nExecStart=-/bin/bash /usr/local/lib/vmtest/check.sh\n\
         ExecStart=/bin/systemctl poweroff --no-block\nStandardOutput=journal+console\n\
         StandardError=journal+console\nTimeoutStartSec=900\n\n[Install]\nWantedBy=multi-user.target\n",
        after.join(" ")
    );
    p.file("/etc/systemd/system/vmtest-check.service", &unit, 0o644)?;
    p.enable("/etc/systemd/system/vmtest-check.service", &unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_dirs_do_not_overlap() {
        let all = [
            (Arch::X86_64, Containerd::V1, "image-0123abcd"),
            (Arch::X86_64, Containerd::V2, "image-c2-0123abcd"),
            (Arch::Aarch64, Containerd::V1, "image-aarch64-0123abcd"),
            (Arch::Aarch64, Containerd::V2, "image-aarch64-c2-0123abcd"),
        ];
        for (a, c, mine) in all {
            assert_eq!(format!("{}0123abcd", dir_prefix(a, c)), mine);
            for (_, _, name) in all {
                assert_eq!(owns(a, c, name), name == mine, "{a:?} {c:?} {name}");
            }
        }
    }
}
