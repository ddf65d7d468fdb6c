//! Growing a mounted filesystem to fill its larger device (an EBS volume
//! after ModifyVolume, an array of bigger disks). classify planned it from
//! sysfs and the superblock; only then is anything spawned: `xfs_growfs`
//! on the mount point, `resize2fs` on the device, both online, neither
//! ever shrinks. The sizes before and after go to the journal, the marker
//! and the root disk's record.

use super::error::ApplyError;
use crate::config::{Filesystem, Volume};
use crate::discover::device::Device;
use crate::discover::superblock;
use crate::plan::grow::{self, Grow};
use crate::record::{history, marker};
use crate::vlog;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Grows the filesystem mounted at the volume's mount point, if it still
/// needs it, and records it.
pub fn grow(vol: &Volume, dev: &Device, plan: Grow, state_dir: &Path) -> Result<(), ApplyError> {
    let devs = dev.node.display().to_string();
    let name = vol.name.as_str();
    // The superblock classify read may predate a grow earlier in this boot
    // (xfs writes it back lazily); the mounted filesystem knows its size.
    let before = live_size(vol, dev)?;
    if grow::need(dev.size_bytes, before).is_none() {
        log::debug!("volume {name}: already {before} bytes; nothing to grow");
        return Ok(());
    }
    vlog!(
        info,
        name,
        devs.as_str(),
        "grow",
        "the device has {} bytes, the {} filesystem {before} (planned from {}): growing it online",
        dev.size_bytes,
        vol.filesystem,
        plan.from_bytes
    );
    let t = Instant::now();
    run_tool(vol, dev)?;
    let after = live_size(vol, dev)?;
    if after <= before {
        return Err(ApplyError::Grow {
            device: devs,
            tool: tool(vol.filesystem).0,
            why: format!("it succeeded, but the filesystem still has {after} bytes"),
        });
    }
    vlog!(
        info,
        name,
        devs.as_str(),
        "grow",
        "grew the filesystem from {before} to {after} bytes (device {}) in {:.1}s",
        dev.size_bytes,
        t.elapsed().as_secs_f64()
    );
    record(vol, before, after, state_dir)
}

fn record(vol: &Volume, before: u64, after: u64, state_dir: &Path) -> Result<(), ApplyError> {
    let root = vol.mount_point.as_path();
    let mut st = marker::read(root)?.ok_or_else(|| {
        ApplyError::Mount(format!(
            "{} has no datavol marker after the grow; hint: check what is mounted there",
            root.display()
        ))
    })?;
    st.grows += 1;
    st.last_grow = Some(marker::Grew {
        at: marker::now(),
        from_bytes: before,
        to_bytes: after,
    });
    marker::write(root, &st)?;
    if let Err(e) = history::record_grow(state_dir, &vol.name) {
        log::warn!("volume {}: could not record the grow: {e}", vol.name);
    }
    Ok(())
}

/// The tool and whether it takes the mount point (xfs) or the device.
fn tool(fs: Filesystem) -> (&'static str, bool) {
    match fs {
        Filesystem::Xfs => ("xfs_growfs", true),
        Filesystem::Ext4 => ("resize2fs", false),
    }
}

fn run_tool(vol: &Volume, dev: &Device) -> Result<(), ApplyError> {
    let (name, on_mount) = tool(vol.filesystem);
    let target = if on_mount {
        vol.mount_point.as_path()
    } else {
        dev.node.as_path()
    };
    let devs = dev.node.display().to_string();
    let out = Command::new(name)
        .arg(target)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ApplyError::Grow {
            device: devs.clone(),
            tool: name,
            why: format!("cannot run it: {e}"),
        })?;
    if !out.status.success() {
        return Err(ApplyError::Grow {
            device: devs,
            tool: name,
            why: format!(
                "{}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// The mounted filesystem's size now: xfs answers an ioctl; ext4 keeps its
/// superblock in the block device's page cache, so a read sees the
/// kernel's copy.
pub fn live_size(vol: &Volume, dev: &Device) -> Result<u64, ApplyError> {
    let io = |what: &str, e: std::io::Error| ApplyError::io(what, e);
    match vol.filesystem {
        Filesystem::Xfs => xfs_size(&vol.mount_point).map_err(|e| {
            io(
                &format!("XFS_IOC_FSGEOMETRY {}", vol.mount_point.display()),
                e,
            )
        }),
        Filesystem::Ext4 => superblock::read(&dev.node)
            .map_err(|e| {
                io(
                    &format!("reading the superblock of {}", dev.node.display()),
                    e,
                )
            })?
            .map(|sb| sb.size_bytes)
            .ok_or_else(|| {
                io(
                    &dev.node.display().to_string(),
                    std::io::Error::other("no ext4 superblock"),
                )
            }),
    }
}

/// struct xfs_fsop_geom_v1 (fs/xfs/libxfs/xfs_fs.h), all the call needs.
#[repr(C)]
#[derive(Default)]
struct XfsGeomV1 {
    blocksize: u32,
    rtextsize: u32,
    agblocks: u32,
    agcount: u32,
    logblocks: u32,
    sectsize: u32,
    inodesize: u32,
    imaxpct: u32,
    datablocks: u64,
    rtblocks: u64,
    rtextents: u64,
    logstart: u64,
    uuid: [u8; 16],
    sunit: u32,
    swidth: u32,
    version: i32,
    flags: u32,
    logsectsize: u32,
    rtsectsize: u32,
    dirblocksize: u32,
}

nix::ioctl_read!(xfs_fsgeometry_v1, b'X', 100, XfsGeomV1);

fn xfs_size(mount_point: &Path) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(mount_point)?;
    let mut g = XfsGeomV1::default();
    // SAFETY: the fd is open for this call and `g` is the struct the
    // ioctl's number encodes (its size included).
    unsafe { xfs_fsgeometry_v1(f.as_raw_fd(), &mut g) }.map_err(std::io::Error::from)?;
    Ok(g.datablocks.saturating_mul(u64::from(g.blocksize)))
}
