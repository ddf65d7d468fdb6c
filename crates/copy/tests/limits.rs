//! A 5000-deep tree with many files copies and verifies with a small fd
//! limit (its own test process, so the limit affects nothing else).

mod common;

use common::*;
use datavol_copy::{copy_tree, verify_tree, CopyOptions};
use std::fs;

#[test]
fn deep_tree_with_few_fds() {
    let a = LoopFs::new("xfs");
    let b = LoopFs::new("ext4");
    let src = a.path("src");
    fs::create_dir(&src).unwrap();
    build_deep(&src, 5000);
    for i in 0..300 {
        fs::write(src.join(format!("f{i}")), noise(70_000, i)).unwrap();
    }
    let dst = b.path("dst");
    fs::create_dir(&dst).unwrap();

    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = 256;
    // SAFETY: plain setrlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);

    let opts = CopyOptions {
        workers: 8,
        ..CopyOptions::default()
    };
    let stats = copy_tree(&src, &dst, &opts).expect("copy with 256 fds");
    assert_eq!(stats.dirs, 5001);
    assert_eq!(stats.files, 300 + 51);
    let v = verify_tree(&src, &dst).expect("verify with 256 fds");
    assert_eq!(v.dirs, 5001);
    // Independent check of the chain, level by level, holding few fds.
    let (diffs, levels) = compare_chain(&src.join("deep"), &dst.join("deep"));
    assert!(diffs.is_empty(), "{diffs:?}");
    assert_eq!(levels, 5001);
    let (diffs, _) = compare_files(&src, &dst);
    assert!(diffs.is_empty(), "{diffs:?}");
}
