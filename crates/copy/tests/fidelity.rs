//! Full-fidelity copies between loop-backed xfs and ext4 filesystems,
//! checked by verify_tree, by rsync and by an independent comparison.

mod common;

use common::*;
use datavol_copy::{copy_tree, survey, verify_tree, CopyOptions, Progress};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn fidelity(src_fs: &str, dst_fs: &str, workers: usize, dst_is_root: bool) {
    let a = LoopFs::new(src_fs);
    let b = LoopFs::new(dst_fs);
    let src = a.path("tree");
    let excludes = build_fixture(&src);
    build_long(&src, 24);
    build_deep(&src, 2100);
    let dst = if dst_is_root {
        b.mnt.clone()
    } else {
        let d = b.path("copy");
        std::fs::create_dir(&d).unwrap();
        d
    };

    let usage = survey(&src).expect("survey");
    assert!(usage.entries > 2400, "{usage:?}");

    let calls = Arc::new(AtomicU64::new(0));
    let last = Arc::new(std::sync::Mutex::new(Progress::default()));
    let cb = {
        let (calls, last) = (calls.clone(), last.clone());
        move |p: &Progress| {
            calls.fetch_add(1, Ordering::Relaxed);
            *last.lock().unwrap() = p.clone();
        }
    };
    let opts = CopyOptions {
        workers,
        progress: Some(&cb),
        progress_interval: Duration::from_millis(1),
        total_files: usage.entries,
        total_bytes: usage.allocated_bytes,
    };
    let stats = copy_tree(&src, &dst, &opts).expect("copy_tree");
    assert!(calls.load(Ordering::Relaxed) >= 1);
    let last = last.lock().unwrap().clone();
    // Every entry but the skipped socket is counted.
    assert_eq!(last.files, usage.entries - 1, "{last:?}");
    assert_eq!(last.total_files, usage.entries);

    assert_eq!(stats.skipped_sockets, 1, "{stats:?}");
    assert_eq!(stats.specials, 6, "{stats:?}"); // null, fakeloop, fifo, 2 whiteouts, fifo1
                                                // links: b/two, b/c/three, pair2, b/fifo2, b/sym2, bottom-link
    assert_eq!(stats.hardlinks, 6, "{stats:?}");
    assert!(stats.dirs > 2100 + 24);

    // Explicit atime survived (checked before anything reads the copy).
    let st = lstat(&dst.join("data/dense"));
    assert_eq!((st.st_atime, st.st_atime_nsec), (1_000_000_000, 1));
    assert_eq!(
        (st.st_mtime, st.st_mtime_nsec),
        (1_234_567_890, 123_456_789)
    );
    let st = lstat(&dst.join("symlinks/dangling"));
    assert_eq!(
        (st.st_atime, st.st_atime_nsec),
        (1_100_000_000, 999_999_999)
    );

    // The engine's own verification.
    let v = verify_tree(&src, &dst).expect("verify_tree");
    assert_eq!(v.hardlinks, 6);

    // Sparse file kept its holes.
    let s = lstat(&dst.join("data/sparse"));
    assert_eq!(s.st_size as u64, SPARSE_SIZE);
    assert!(
        s.st_blocks * 512 <= 4 << 20,
        "sparse copy allocated {} bytes",
        s.st_blocks * 512
    );
    let s = lstat(&dst.join("data/all-hole"));
    assert!(
        s.st_blocks * 512 <= 64 << 10,
        "hole-only file allocated {}",
        s.st_blocks * 512
    );

    // Special bits and capabilities (chown-then-chmod order).
    assert_eq!(lstat(&dst.join("modes/suid")).st_mode & 0o7777, 0o4755);
    assert_eq!(lstat(&dst.join("modes/cap-suid")).st_mode & 0o7777, 0o4755);
    assert_eq!(lstat(&dst.join("modes/sticky")).st_mode & 0o7777, 0o1777);
    assert_eq!(
        lgetxattr(&dst.join("modes/capfile"), "security.capability"),
        lgetxattr(&src.join("modes/capfile"), "security.capability")
    );
    assert!(lgetxattr(&dst.join("modes/cap-suid"), "security.capability").is_some());
    assert_eq!(
        lgetxattr(&dst.join("overlay/opaque"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    let wh = lstat(&dst.join("overlay/whiteout"));
    assert_eq!((wh.st_mode & libc::S_IFMT, wh.st_rdev), (libc::S_IFCHR, 0));
    assert!(!dst.join("sock").exists());
    let acl = run(
        "getfacl",
        &[std::ffi::OsStr::new("-n"), dst.join("acl").as_os_str()],
    );
    assert!(acl.contains("default:user:1002:r-x"), "{acl}");

    // Independent oracle 1: rsync (cannot handle paths beyond PATH_MAX; the
    // socket is skipped by design).
    let mut ex = excludes.clone();
    ex.push("/sock");
    let out = rsync_oracle(&src, &dst, &ex);
    assert!(out.trim().is_empty(), "rsync found differences:\n{out}");

    // Independent oracle 2: fd-relative comparison of the whole tree.
    let (diffs, n) = compare_trees(&src, &dst);
    assert!(diffs.is_empty(), "differences: {diffs:#?}");
    assert!(n >= usage.entries - 1);
}

#[test]
fn xfs_to_xfs() {
    fidelity("xfs", "xfs", 8, false);
}

#[test]
fn ext4_to_xfs_into_fs_root() {
    fidelity("ext4", "xfs", 4, true);
}

#[test]
fn xfs_to_ext4_sequential() {
    fidelity("xfs", "ext4", 1, false);
}

/// Many siblings, each a chain deeper than the walker's fd window: the walk
/// closes a directory in the middle of reading it and must resume at the
/// right entry (telldir/seekdir on ext4 hash order and XFS offsets).
fn wide_and_deep(src_fs: &str, dst_fs: &str) {
    let a = LoopFs::new(src_fs);
    let b = LoopFs::new(dst_fs);
    let src = a.path("w");
    std::fs::create_dir(&src).unwrap();
    for i in 0..300 {
        let mut p = src.join(format!("sibling-with-a-longish-name-{i:04}"));
        for _ in 0..40 {
            p = p.join("lvl");
        }
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("f"), format!("{i}")).unwrap();
        std::fs::write(src.join(format!("file-{i:04}")), format!("{i}")).unwrap();
    }
    let dst = b.path("w");
    std::fs::create_dir(&dst).unwrap();
    let stats = copy_tree(&src, &dst, &CopyOptions::default()).expect("copy");
    assert_eq!(stats.dirs, 300 * 41);
    assert_eq!(stats.files, 600);
    verify_tree(&src, &dst).expect("verify");
    let (diffs, n) = compare_trees(&src, &dst);
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(n, 300 * 41 + 600);
}

#[test]
fn wide_and_deep_ext4_to_xfs() {
    wide_and_deep("ext4", "xfs");
}

#[test]
fn wide_and_deep_xfs_to_ext4() {
    wide_and_deep("xfs", "ext4");
}

/// Many directories full of small files, copied by workers that create the
/// files: every directory's times and mode must still come out exact (its
/// metadata is applied after its last file exists). Repeated to shake out
/// ordering races.
#[test]
fn directory_times_survive_parallel_creation() {
    let a = LoopFs::new("xfs");
    let b = LoopFs::new("xfs");
    let src = a.path("many");
    std::fs::create_dir(&src).unwrap();
    for d in 0..150 {
        let dir = src.join(format!("dir{d:03}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..40 {
            std::fs::write(dir.join(format!("f{f:02}")), noise(f * 300, d as u64)).unwrap();
        }
        set_times(
            &dir,
            (1_500_000_000, d as i64),
            (1_600_000_000, 7 * d as i64 + 1),
        );
        chmod(&dir, if d % 3 == 0 { 0o555 } else { 0o2750 });
    }
    for round in 0..3 {
        let dst = b.path(&format!("round{round}"));
        std::fs::create_dir(&dst).unwrap();
        let opts = CopyOptions {
            workers: 8,
            ..CopyOptions::default()
        };
        let stats = copy_tree(&src, &dst, &opts).expect("copy");
        assert_eq!(stats.files, 150 * 40);
        verify_tree(&src, &dst).expect("verify");
        let (diffs, _) = compare_trees(&src, &dst);
        assert!(diffs.is_empty(), "round {round}: {diffs:?}");
    }
}
