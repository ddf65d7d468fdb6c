//! The host's side of the scenarios: fixtures that make a disk image before the first
//! boot, and checks of the images and results after a boot. Scenarios name them in
//! their table (scenarios.rs); they run between boots, on files qemu has closed.
use super::ctx::Ctx;
use super::qemu::blank_disk;
use super::util::{blkid, sha256_file, state_phase, CopyMount, Kv, LoopMount};
use crate::util::run;
use std::fs;
use std::path::Path;
use std::process::Command;

/// Host-side view of the data disk after a migration: xfs with the UUID the guest saw,
/// datavol's committed state on it, and the canary's big file.
pub fn migrated(ctx: &mut Ctx, label: &str, data: &Path, res: &Kv) {
    let b = blkid(data);
    ctx.expect(
        b.get("TYPE") == Some("xfs"),
        format!("{label}: host: data disk is {:?}, want xfs", b.get("TYPE")),
    );
    ctx.expect(
        b.get("UUID").is_some() && b.get("UUID") == res.get("data.uuid"),
        format!(
            "{label}: host: data disk UUID {:?}, guest saw {:?}",
            b.get("UUID"),
            res.get("data.uuid")
        ),
    );
    match CopyMount::new(data, &ctx.dir) {
        Ok(m) => {
            let state = fs::read_to_string(m.dir.join(".datavol/state.json")).unwrap_or_default();
            let phase = state_phase(&state);
            ctx.expect(
                phase.as_deref() == Some("committed"),
                format!(
                    "{label}: host: .datavol/state.json on the disk: phase {phase:?}: {state:?}"
                ),
            );
            let big = fs::metadata(m.dir.join("vmtest-canary/a/big.bin"))
                .map(|m| m.len())
                .unwrap_or(0);
            ctx.expect(
                big == 24 << 20,
                format!("{label}: host: vmtest-canary/a/big.bin is {big} bytes"),
            );
        }
        Err(e) => ctx.fail(format!(
            "{label}: host: cannot mount a copy of the data disk: {e}"
        )),
    }
}

// ---------------------------------------------------------------- fixtures

/// A blank xfs: what the EKS user data mounted over /var/lib/containerd.
pub fn blank_xfs(_: &mut Ctx, data: &Path) -> Result<(), String> {
    blank_disk(data, "4G")?;
    run(Command::new("mkfs.xfs").args(["-q", "-f"]).arg(data))?;
    Ok(())
}

/// Someone else's files, for the foreign-* scenarios.
fn foreign_tree(ctx: &Ctx) -> Result<std::path::PathBuf, String> {
    let tree = ctx.path("foreign-tree");
    let _ = fs::remove_dir_all(&tree);
    let err = |e: std::io::Error| format!("{}: {e}", tree.display());
    fs::create_dir_all(tree.join("images/layers")).map_err(err)?;
    fs::write(tree.join("README"), "someone else's data\n").map_err(err)?;
    for i in 0..50 {
        fs::write(
            tree.join(format!("images/layers/l{i}")),
            vec![i as u8; 1000 * i],
        )
        .map_err(err)?;
    }
    Ok(tree)
}

/// An ext4 datavol did not make, with files (`mkfs.ext4 -d`). Records its checksum.
pub fn foreign_ext4(ctx: &mut Ctx, data: &Path) -> Result<(), String> {
    let tree = foreign_tree(ctx)?;
    let _ = fs::remove_file(data);
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "foreign", "-d"])
        .arg(&tree)
        .arg(data)
        .arg("512M"))?;
    remember_foreign(ctx, data, "ext4")
}

/// An xfs (the configured type) datavol did not make, with files. Records its checksum.
pub fn foreign_xfs(ctx: &mut Ctx, data: &Path) -> Result<(), String> {
    let tree = foreign_tree(ctx)?;
    blank_disk(data, "1G")?;
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f", "-L", "foreign"])
        .arg(data))?;
    {
        let m = LoopMount::new(data, &ctx.path("foreign-mnt"), "rw")?;
        run(Command::new("cp").arg("-a").arg(tree.join(".")).arg(&m.dir))?;
    }
    remember_foreign(ctx, data, "xfs")
}

fn remember_foreign(ctx: &mut Ctx, data: &Path, fstype: &str) -> Result<(), String> {
    let sha = sha256_file(data)?;
    ctx.facts.0.push(("foreign.sha256".into(), sha));
    ctx.facts.0.push(("foreign.type".into(), fstype.into()));
    Ok(())
}

/// An xfs (label imgcache) the host fills with the image's own /var/lib/containerd, as an
/// image-cache snapshot would be. Records its UUID.
pub fn image_cache(ctx: &mut Ctx, data: &Path) -> Result<(), String> {
    blank_disk(data, "4G")?;
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f", "-L", "imgcache"])
        .arg(data))?;
    let uuid = blkid(data).get("UUID").unwrap_or_default().to_string();
    ctx.facts.0.push(("imgcache.uuid".into(), uuid));
    let src = LoopMount::new(&ctx.image.raw, &ctx.path("image-ro"), "ro,noload")?;
    let dst = LoopMount::new(data, &ctx.path("data-rw"), "rw")?;
    run(Command::new("cp")
        .arg("-a")
        .arg(src.dir.join("var/lib/containerd/."))
        .arg(&dst.dir))?;
    Ok(())
}

/// An xfs made with ftype=0, as old mkfs defaults made it: its directory entries carry
/// no file type, which overlayfs needs. Records its checksum.
pub fn ftype0_xfs(ctx: &mut Ctx, data: &Path) -> Result<(), String> {
    blank_disk(data, "1G")?;
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f", "-m", "crc=0", "-n", "ftype=0", "-L", "imgcache"])
        .arg(data))?;
    remember_foreign(ctx, data, "xfs")
}

// ---------------------------------------------------------------- checks

/// After the cut, before the second boot: formatted, but not committed.
pub fn after_cut(ctx: &mut Ctx, _: &[Kv]) {
    if !ctx.failures.is_empty() {
        return;
    }
    let data = ctx.disk("data0");
    let b = blkid(&data);
    ctx.notes.push(format!(
        "after cut: data disk TYPE={:?} UUID={:?}",
        b.get("TYPE"),
        b.get("UUID")
    ));
    if let Ok(m) = CopyMount::new(&data, &ctx.dir) {
        let state = fs::read_to_string(m.dir.join(".datavol/state.json"))
            .unwrap_or_else(|e| format!("({e})"));
        let compact: String = state.split_whitespace().collect::<Vec<_>>().join(" ");
        ctx.notes
            .push(format!("after cut: .datavol/state.json: {compact}"));
        let phase = state_phase(&state);
        ctx.expect(
            phase.as_deref() != Some("committed"),
            format!("after cut: phase {phase:?}: the cut came too late"),
        );
        ctx.expect(
            phase.is_some(),
            "after cut: no state.json on the data disk: the cut came too early",
        );
    }
}

/// The foreign disk is byte for byte what the fixture made, and still its type.
/// Two disks with one filesystem UUID: datavol touched neither, so the clone is
/// still a byte-for-byte copy of the seeded disk.
pub fn clone_untouched(ctx: &mut Ctx, _: &[Kv]) {
    let (data, clone) = (ctx.disk("data0"), ctx.disk("clone0"));
    match (sha256_file(&data), sha256_file(&clone)) {
        (Ok(a), Ok(b)) => ctx.expect(
            a == b,
            format!("host: the seeded disk or its clone changed: sha256 {a} vs {b}"),
        ),
        (Err(e), _) | (_, Err(e)) => ctx.fail(format!("host: {e}")),
    }
}

pub fn foreign_untouched(ctx: &mut Ctx, _: &[Kv]) {
    let data = ctx.disk("data0");
    let before = ctx
        .facts
        .get("foreign.sha256")
        .unwrap_or_default()
        .to_string();
    let fstype = ctx
        .facts
        .get("foreign.type")
        .unwrap_or_default()
        .to_string();
    match sha256_file(&data) {
        Ok(after) => ctx.expect(
            before == after,
            format!("host: foreign disk changed: sha256 {before} -> {after}"),
        ),
        Err(e) => ctx.fail(format!("host: {e}")),
    }
    let t = blkid(&data);
    ctx.expect(
        t.get("TYPE") == Some(fstype.as_str()),
        format!("host: foreign disk is now {:?}", t.get("TYPE")),
    );
}

/// The adopted disk kept the UUID the host gave it.
pub fn adopted_uuid(ctx: &mut Ctx, results: &[Kv]) {
    let uuid = ctx
        .facts
        .get("imgcache.uuid")
        .unwrap_or_default()
        .to_string();
    let got = results.last().and_then(|r| r.get("data.uuid"));
    ctx.expect(
        got == Some(uuid.as_str()),
        format!("adopted disk UUID {got:?}, host made {uuid}"),
    );
}

/// The blank disk that replaced the first one got a filesystem of its own.
pub fn new_uuid(ctx: &mut Ctx, results: &[Kv]) {
    let u1 = results.first().and_then(|r| r.get("data.uuid"));
    let u2 = results.last().and_then(|r| r.get("data.uuid"));
    ctx.expect(
        u2.is_some() && u1 != u2,
        format!("reseeded disk UUID {u2:?}, first disk {u1:?}"),
    );
}

/// Both NVMe disks are members of datavol's array.
pub fn raid_members(ctx: &mut Ctx, _: &[Kv]) {
    for serial in ["inst0", "inst1"] {
        let path = ctx.disk(serial);
        let t = blkid(&path);
        ctx.expect(
            t.get("TYPE") == Some("linux_raid_member"),
            format!(
                "host: {} is {:?}, want linux_raid_member",
                path.display(),
                t.get("TYPE")
            ),
        );
    }
}

/// The held disk and the NVMe disk were never written: still all zeroes on the host.
pub fn never_written(ctx: &mut Ctx, _: &[Kv]) {
    for serial in ["nvme0", "held"] {
        let path = ctx.disk(serial);
        let t = blkid(&path);
        ctx.expect(
            t.0.is_empty(),
            format!("host: {} is no longer blank: {t:?}", path.display()),
        );
    }
}

/// Between the grow scenario's boots: both data disks grow, as with an EBS
/// ModifyVolume (qemu-img resize of the files qemu has closed).
pub fn enlarge_disks(ctx: &mut Ctx, _: &[Kv]) {
    for (serial, size) in [("data0", "6G"), ("data1", "2G")] {
        let p = ctx.disk(serial);
        if let Err(e) = run(Command::new("qemu-img")
            .args(["resize", "-q", "-f", "raw"])
            .arg(&p)
            .arg(size))
        {
            ctx.fail(format!("host: enlarging {}: {e}", p.display()));
        }
    }
}

/// After the grow: each filesystem is larger than in boot 1, and near its disk's size.
pub fn grown(ctx: &mut Ctx, results: &[Kv]) {
    let (Some(r1), Some(r2)) = (results.first(), results.last()) else {
        return ctx.fail("grow: no results".to_string());
    };
    for (key, disk) in [("data0.fs_bytes", 6u64 << 30), ("data1.fs_bytes", 2 << 30)] {
        let n = |r: &Kv| r.get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let (before, after) = (n(r1), n(r2));
        ctx.notes
            .push(format!("{key}: {before} -> {after} (disk {disk})"));
        ctx.expect(
            before > 0 && after > before && disk - after.min(disk) < 64 << 20,
            format!("{key}: {before} -> {after} bytes on a {disk}-byte disk"),
        );
    }
}
