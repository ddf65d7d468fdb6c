//! verify_tree must catch every kind of damage; copy_tree and survey must
//! refuse what they cannot do faithfully.

mod common;

use common::*;
use datavol_copy::{copy_dir_metadata, copy_tree, survey, verify_tree, CopyError, CopyOptions};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{symlink, FileExt};
use std::path::{Path, PathBuf};

fn small_tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::write(root.join("sub/file"), noise(100_000, 5)).unwrap();
    fs::write(root.join("sub/deeper/x"), b"x").unwrap();
    lsetxattr(&root.join("sub/file"), "user.k", b"value");
    fs::write(root.join("linked1"), b"linked").unwrap();
    fs::hard_link(root.join("linked1"), root.join("sub/linked2")).unwrap();
    symlink("sub/file", root.join("sym")).unwrap();
    mknod(&root.join("wh"), libc::S_IFCHR, 0, 0);
}

fn fresh_copy(src: &Path, dst_fs: &LoopFs, name: &str) -> PathBuf {
    let d = dst_fs.path(name);
    fs::create_dir(&d).unwrap();
    copy_tree(src, &d, &CopyOptions::default()).expect("copy");
    verify_tree(src, &d).expect("fresh copy verifies");
    d
}

/// Restores the times of `p` (a mutation must show only what it changed).
fn keep_times<T>(p: &Path, f: impl FnOnce() -> T) -> T {
    let st = lstat(p);
    let r = f();
    set_times(
        p,
        (st.st_atime, st.st_atime_nsec),
        (st.st_mtime, st.st_mtime_nsec),
    );
    r
}

fn expect_verify_error(src: &Path, dst: &Path, needle: &str) {
    match verify_tree(src, dst) {
        Err(CopyError::Verify { count, first }) => {
            assert!(count >= 1);
            assert!(first.contains(needle), "expected {needle:?} in {first:?}");
        }
        other => panic!("expected a verify error mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn verify_detects_damage() {
    let a = LoopFs::new("xfs");
    let b = LoopFs::new("xfs");
    let src = a.path("src");
    small_tree(&src);

    // A changed byte, same size and times.
    let d = fresh_copy(&src, &b, "byte");
    let f = d.join("sub/file");
    keep_times(&f, || {
        let file = fs::OpenOptions::new().write(true).open(&f).unwrap();
        let mut old = [0u8; 1];
        fs::File::open(&f)
            .unwrap()
            .read_exact_at(&mut old, 54_321)
            .unwrap();
        file.write_all_at(&[old[0] ^ 0x40], 54_321).unwrap();
    });
    expect_verify_error(&src, &d, "content differs at byte 54321");

    // A changed xattr value.
    let d = fresh_copy(&src, &b, "xattr");
    lsetxattr(&d.join("sub/file"), "user.k", b"other");
    expect_verify_error(&src, &d, "user.k value differs");

    // A changed mode.
    let d = fresh_copy(&src, &b, "mode");
    chmod(&d.join("sub/deeper/x"), 0o600);
    expect_verify_error(&src, &d, "mode");

    // A changed mtime (by one nanosecond).
    let d = fresh_copy(&src, &b, "mtime");
    let st = lstat(&d.join("sub/deeper/x"));
    set_times(
        &d.join("sub/deeper/x"),
        (st.st_atime, st.st_atime_nsec),
        (st.st_mtime, (st.st_mtime_nsec + 1) % 1_000_000_000),
    );
    expect_verify_error(&src, &d, "mtime");

    // A broken hardlink: same content and metadata, separate inode.
    let d = fresh_copy(&src, &b, "link");
    let l2 = d.join("sub/linked2");
    keep_times(&d.join("sub"), || {
        let st = lstat(&l2);
        let tmp = d.join("sub/tmp");
        fs::copy(&l2, &tmp).unwrap();
        lchown(&tmp, st.st_uid, st.st_gid);
        chmod(&tmp, st.st_mode & 0o7777);
        set_times(
            &tmp,
            (st.st_atime, st.st_atime_nsec),
            (st.st_mtime, st.st_mtime_nsec),
        );
        fs::rename(&tmp, &l2).unwrap();
    });
    expect_verify_error(&src, &d, "hardlink");

    // An extra file in the copy.
    let d = fresh_copy(&src, &b, "extra");
    keep_times(&d.join("sub/deeper"), || {
        fs::write(d.join("sub/deeper/extra"), b"").unwrap()
    });
    expect_verify_error(&src, &d, "missing from the source");

    // A file missing from the copy.
    let d = fresh_copy(&src, &b, "missing");
    keep_times(&d.join("sub"), || {
        fs::remove_file(d.join("sub/file")).unwrap()
    });
    expect_verify_error(&src, &d, "missing from the copy");

    // A retargeted symlink.
    let d = fresh_copy(&src, &b, "symlink");
    keep_times(&d, || {
        let st = lstat(&d.join("sym"));
        fs::remove_file(d.join("sym")).unwrap();
        symlink("sub/fil_", d.join("sym")).unwrap();
        set_times(
            &d.join("sym"),
            (st.st_atime, st.st_atime_nsec),
            (st.st_mtime, st.st_mtime_nsec),
        );
    });
    expect_verify_error(&src, &d, "symlink target");

    // A changed owner and a whiteout turned into a different device.
    let d = fresh_copy(&src, &b, "owner");
    lchown(&d.join("sym"), 1, 1);
    expect_verify_error(&src, &d, "owner");
    let d = fresh_copy(&src, &b, "rdev");
    keep_times(&d, || {
        let st = lstat(&d.join("wh"));
        fs::remove_file(d.join("wh")).unwrap();
        mknod(&d.join("wh"), libc::S_IFCHR, 0, 1);
        set_times(
            &d.join("wh"),
            (st.st_atime, st.st_atime_nsec),
            (st.st_mtime, st.st_mtime_nsec),
        );
    });
    expect_verify_error(&src, &d, "rdev");

    // Damage to the root's own metadata.
    let d = fresh_copy(&src, &b, "root");
    lsetxattr(&d, "user.new", b"1");
    expect_verify_error(&src, &d, "user.new extra");
}

#[test]
fn refuses_non_empty_destination() {
    let a = LoopFs::new("xfs");
    let b = LoopFs::new("ext4");
    let src = a.path("src");
    small_tree(&src);
    // ext4's root holds lost+found: not empty.
    match copy_tree(&src, &b.mnt, &CopyOptions::default()) {
        Err(CopyError::DestNotEmpty(p)) => assert_eq!(p, b.mnt),
        other => panic!("expected DestNotEmpty, got {other:?}"),
    }
    let d = b.path("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join(".hidden"), b"").unwrap();
    assert!(matches!(
        copy_tree(&src, &d, &CopyOptions::default()),
        Err(CopyError::DestNotEmpty(_))
    ));
    // Nothing was written.
    assert_eq!(fs::read_dir(&d).unwrap().count(), 1);

    // A destination inside the source.
    let inside = src.join("sub/target");
    fs::create_dir(&inside).unwrap();
    assert!(matches!(
        copy_tree(&src, &inside, &CopyOptions::default()),
        Err(CopyError::DestInsideSource(_))
    ));
}

#[test]
fn refuses_submounts() {
    let a = LoopFs::new("xfs");
    let b = LoopFs::new("xfs");
    let src = a.path("src");
    small_tree(&src);

    // Another filesystem (tmpfs) mounted inside.
    let mp = src.join("sub/deeper/mnt");
    fs::create_dir(&mp).unwrap();
    run(
        "mount",
        &[
            OsStr::new("-t"),
            OsStr::new("tmpfs"),
            OsStr::new("none"),
            mp.as_os_str(),
        ],
    );
    let guard = MountGuard(mp.clone());
    match survey(&src) {
        Err(CopyError::Submount(s, m)) => {
            assert_eq!(s, src);
            assert_eq!(m, mp);
        }
        other => panic!("expected Submount, got {other:?}"),
    }
    let d = b.path("d1");
    fs::create_dir(&d).unwrap();
    assert!(matches!(
        copy_tree(&src, &d, &CopyOptions::default()),
        Err(CopyError::Submount(..))
    ));
    drop(guard);

    // A bind mount of the same filesystem (same st_dev) inside.
    let bind = src.join("sub/bound");
    fs::create_dir(&bind).unwrap();
    run(
        "mount",
        &[
            OsStr::new("--bind"),
            src.join("sub/deeper").as_os_str(),
            bind.as_os_str(),
        ],
    );
    let guard = MountGuard(bind.clone());
    assert!(matches!(survey(&src), Err(CopyError::Submount(..))));
    let d = b.path("d2");
    fs::create_dir(&d).unwrap();
    assert!(matches!(
        copy_tree(&src, &d, &CopyOptions::default()),
        Err(CopyError::Submount(..))
    ));
    drop(guard);

    // Without mounts, all is well again.
    let u = survey(&src).expect("survey");
    assert_eq!(u.entries, 10); // 8 from small_tree plus the two mount point dirs
    let d = b.path("d3");
    fs::create_dir(&d).unwrap();
    copy_tree(&src, &d, &CopyOptions::default()).expect("copy");
    verify_tree(&src, &d).expect("verify");
}

#[test]
fn dir_metadata_only() {
    let a = LoopFs::new("xfs");
    let src = a.path("s");
    let dst = a.path("t");
    fs::create_dir(&src).unwrap();
    fs::create_dir(&dst).unwrap();
    lchown(&src, 321, 654);
    chmod(&src, 0o2710);
    lsetxattr(&src, "trusted.overlay.opaque", b"y");
    lsetxattr(&src, "user.a", b"b");
    run(
        "setfacl",
        &[OsStr::new("-m"), OsStr::new("u:77:rwx"), src.as_os_str()],
    );
    set_times(&src, (5, 6), (7, 8));
    // Something the target has and the source lacks must go.
    lsetxattr(&dst, "user.stale", b"old");
    copy_dir_metadata(&src, &dst).expect("copy_dir_metadata");
    let (s, t) = (lstat(&src), lstat(&dst));
    assert_eq!(
        (t.st_uid, t.st_gid, t.st_mode),
        (s.st_uid, s.st_gid, s.st_mode)
    );
    assert_eq!(
        (t.st_mtime, t.st_mtime_nsec, t.st_atime, t.st_atime_nsec),
        (7, 8, 5, 6)
    );
    assert_eq!(
        lgetxattr(&dst, "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(lgetxattr(&dst, "user.a").as_deref(), Some(&b"b"[..]));
    assert_eq!(lgetxattr(&dst, "user.stale"), None);
    assert_eq!(
        lgetxattr(&dst, "system.posix_acl_access"),
        lgetxattr(&src, "system.posix_acl_access")
    );
    verify_tree(&src, &dst).expect("empty dirs with the same metadata verify");
}

/// A destination that fills up: the error comes back (no hang, no panic),
/// with parallel workers and sequentially.
#[test]
fn full_destination_fails_cleanly() {
    let a = LoopFs::new("xfs");
    let b = LoopFs::with_size("ext4", 64 << 20);
    let src = a.path("src");
    fs::create_dir(&src).unwrap();
    for i in 0..40 {
        fs::write(src.join(format!("f{i:02}")), noise(3 << 20, i)).unwrap();
    }
    for (i, workers) in [8usize, 1].into_iter().enumerate() {
        let d = b.path(&format!("d{i}"));
        fs::create_dir(&d).unwrap();
        let opts = CopyOptions {
            workers,
            ..CopyOptions::default()
        };
        match copy_tree(&src, &d, &opts) {
            Err(CopyError::Io { source, op, path }) => {
                assert_eq!(
                    source.raw_os_error(),
                    Some(libc::ENOSPC),
                    "{op} {path:?}: {source}"
                )
            }
            other => panic!("expected ENOSPC, got {other:?}"),
        }
        fs::remove_dir_all(&d).unwrap();
    }
}

/// The progress callback is throttled to the interval (plus one final call).
#[test]
fn progress_is_throttled() {
    let a = LoopFs::new("xfs");
    let src = a.path("src");
    fs::create_dir(&src).unwrap();
    for i in 0..2000 {
        fs::write(src.join(format!("f{i}")), b"x").unwrap();
    }
    let dst = a.path("dst");
    fs::create_dir(&dst).unwrap();
    let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let cb = {
        let times = times.clone();
        move |p: &datavol_copy::Progress| times.lock().unwrap().push((p.elapsed, p.files))
    };
    let opts = CopyOptions {
        progress: Some(&cb),
        progress_interval: std::time::Duration::from_secs(3600),
        ..CopyOptions::default()
    };
    copy_tree(&src, &dst, &opts).expect("copy");
    let t = times.lock().unwrap();
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].1, 2000);
}
