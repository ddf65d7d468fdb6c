//! Test support: loop-backed filesystems, a fixture tree with every case the
//! engine must handle, and an oracle independent of the engine (rsync plus a
//! small fd-relative comparison written here).
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails loudly unless the test can really run.
pub fn require_env() {
    // SAFETY: plain getter.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests must run as root"
    );
    for tool in [
        "losetup",
        "mkfs.xfs",
        "mkfs.ext4",
        "rsync",
        "setfacl",
        "mount",
        "umount",
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false)
            || ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .any(|d| Path::new(d).join(tool).is_file());
        assert!(
            found,
            "required tool {tool} is missing (apt-get install xfsprogs e2fsprogs rsync acl)"
        );
    }
    assert!(
        Path::new("/dev/loop-control").exists(),
        "loop devices are not available"
    );
}

pub fn run(cmd: &str, args: &[&OsStr]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A filesystem on its own loop device, mounted in a temp dir; torn down on drop.
pub struct LoopFs {
    pub mnt: PathBuf,
    dev: Option<String>,
    mounted: bool,
    _dir: tempfile::TempDir,
}

impl LoopFs {
    pub fn new(fstype: &str) -> LoopFs {
        LoopFs::with_size(fstype, 1 << 30)
    }

    pub fn with_size(fstype: &str, bytes: u64) -> LoopFs {
        require_env();
        let dir = tempfile::Builder::new()
            .prefix("dvcopy-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let img = dir.path().join("img");
        let f = fs::File::create(&img).expect("create image");
        f.set_len(bytes).expect("size image");
        drop(f);
        let mnt = dir.path().join("mnt");
        fs::create_dir(&mnt).expect("mkdir mnt");
        let mut me = LoopFs {
            mnt,
            dev: None,
            mounted: false,
            _dir: dir,
        };
        let dev = run("losetup", &[os("--find"), os("--show"), img.as_os_str()])
            .trim()
            .to_string();
        assert!(dev.starts_with("/dev/loop"), "losetup gave {dev:?}");
        me.dev = Some(dev.clone());
        match fstype {
            "xfs" => run("mkfs.xfs", &[os("-q"), os("-f"), os(&dev)]),
            "ext4" => run("mkfs.ext4", &[os("-q"), os("-F"), os(&dev)]),
            other => panic!("unknown fs {other}"),
        };
        run(
            "mount",
            &[os("-t"), os(fstype), os(&dev), me.mnt.as_os_str()],
        );
        me.mounted = true;
        me
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if self.mounted {
            let ok = Command::new("umount")
                .arg(&self.mnt)
                .status()
                .map(|s| s.success());
            if ok.ok() != Some(true) {
                let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
            }
        }
        if let Some(dev) = &self.dev {
            let _ = Command::new("losetup").arg("-d").arg(dev).status();
        }
    }
}

/// Unmounts a path on drop.
pub struct MountGuard(pub PathBuf);
impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

pub fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("nul in path")
}

fn check(r: libc::c_int, what: &str) {
    assert!(r >= 0, "{what}: {}", std::io::Error::last_os_error());
}

pub fn lsetxattr(p: &Path, name: &str, value: &[u8]) {
    let n = CString::new(name).expect("name");
    // SAFETY: valid pointers.
    let r = unsafe {
        libc::lsetxattr(
            cpath(p).as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    check(r, &format!("lsetxattr {} {name}", p.display()));
}

pub fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let n = CString::new(name).expect("name");
    let mut buf = vec![0u8; 65536];
    // SAFETY: valid pointers.
    let r = unsafe {
        libc::lgetxattr(
            cpath(p).as_ptr(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if r < 0 {
        return None;
    }
    buf.truncate(r as usize);
    Some(buf)
}

pub fn mknod(p: &Path, mode: u32, major: u32, minor: u32) {
    // SAFETY: valid path.
    let r = unsafe { libc::mknod(cpath(p).as_ptr(), mode, libc::makedev(major, minor)) };
    check(r, &format!("mknod {}", p.display()));
}

pub fn lchown(p: &Path, uid: u32, gid: u32) {
    // SAFETY: valid path.
    check(
        unsafe { libc::lchown(cpath(p).as_ptr(), uid, gid) },
        "lchown",
    );
}

pub fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

pub fn set_times(p: &Path, atime: (i64, i64), mtime: (i64, i64)) {
    let ts = [
        libc::timespec {
            tv_sec: atime.0,
            tv_nsec: atime.1,
        },
        libc::timespec {
            tv_sec: mtime.0,
            tv_nsec: mtime.1,
        },
    ];
    // SAFETY: valid path and array.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            cpath(p).as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    check(r, &format!("utimensat {}", p.display()));
}

pub fn lstat(p: &Path) -> libc::stat {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid pointers.
    check(
        unsafe { libc::lstat(cpath(p).as_ptr(), st.as_mut_ptr()) },
        &format!("lstat {}", p.display()),
    );
    // SAFETY: lstat succeeded.
    unsafe { st.assume_init() }
}

fn write_file(p: &Path, data: &[u8]) {
    let mut f = fs::File::create(p).expect("create");
    f.write_all(data).expect("write");
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn openat_dir(dirfd: RawFd, name: &CStr, create: bool) -> OwnedFd {
    if create {
        // SAFETY: valid name.
        check(
            unsafe { libc::mkdirat(dirfd, name.as_ptr(), 0o755) },
            "mkdirat",
        );
    }
    // SAFETY: valid name.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    check(fd, "openat dir");
    // SAFETY: fresh fd.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn create_at(dirfd: RawFd, name: &CStr, data: &[u8]) {
    // SAFETY: valid name.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o644,
        )
    };
    check(fd, "create at");
    // SAFETY: fresh fd.
    let mut f = unsafe { fs::File::from_raw_fd(fd) };
    f.write_all(data).expect("write at");
}

pub const SPARSE_SIZE: u64 = 1 << 30;

/// Builds the fixture below `root` (created here). Returns the parts that an
/// rsync oracle cannot handle (paths longer than PATH_MAX) for exclusion.
pub fn build_fixture(root: &Path) -> Vec<&'static str> {
    fs::create_dir(root).expect("mkdir root");
    lsetxattr(root, "user.root", b"top");
    chmod(root, 0o750);
    lchown(root, 0, 42);

    // Ownership and special mode bits.
    let modes = root.join("modes");
    fs::create_dir(&modes).unwrap();
    let suid = modes.join("suid");
    write_file(&suid, b"#!/bin/sh\necho suid\n");
    lchown(&suid, 0, 0);
    chmod(&suid, 0o4755);
    let sgid = modes.join("sgid");
    write_file(&sgid, b"sgid\n");
    lchown(&sgid, 1000, 1000);
    chmod(&sgid, 0o2711);
    let both = modes.join("suid-sgid-user");
    write_file(&both, b"x");
    lchown(&both, 4242, 4343);
    chmod(&both, 0o6750);
    let sticky = modes.join("sticky");
    fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    let sgiddir = modes.join("sgid-dir");
    fs::create_dir(&sgiddir).unwrap();
    lchown(&sgiddir, 1234, 5678);
    chmod(&sgiddir, 0o2775);
    let none = modes.join("no-perms");
    write_file(&none, b"");
    chmod(&none, 0o000);
    let userns = modes.join("userns-owned");
    write_file(&userns, b"owned by a mapped id\n");
    lchown(&userns, 100000, 100000);
    let readonly = modes.join("readonly-dir");
    fs::create_dir(&readonly).unwrap();
    write_file(&readonly.join("inside"), b"in a 0555 dir\n");
    chmod(&readonly, 0o555);

    // File capabilities: a v2 security.capability blob (cap_net_raw,cap_net_bind_service+ep),
    // set after chown/chmod as setcap would.
    let cap = modes.join("capfile");
    write_file(&cap, b"#!/bin/true\n");
    chmod(&cap, 0o755);
    let mut blob = Vec::new();
    blob.extend_from_slice(&(0x0200_0000u32 | 1).to_le_bytes()); // VFS_CAP_REVISION_2 | EFFECTIVE
    let permitted: u32 = (1 << 13) | (1 << 10); // CAP_NET_RAW, CAP_NET_BIND_SERVICE
    blob.extend_from_slice(&permitted.to_le_bytes()); // permitted lo
    blob.extend_from_slice(&0u32.to_le_bytes()); // inheritable lo
    blob.extend_from_slice(&0u32.to_le_bytes()); // permitted hi
    blob.extend_from_slice(&0u32.to_le_bytes()); // inheritable hi
    lsetxattr(&cap, "security.capability", &blob);
    // A setuid file that also has a capability.
    let capsuid = modes.join("cap-suid");
    write_file(&capsuid, b"#!/bin/true\n");
    lchown(&capsuid, 0, 0);
    chmod(&capsuid, 0o4755);
    lsetxattr(&capsuid, "security.capability", &blob);

    // xattrs in every namespace.
    let xa = root.join("xattrs");
    fs::create_dir(&xa).unwrap();
    let f = xa.join("file");
    write_file(&f, b"has xattrs\n");
    lsetxattr(&f, "user.small", b"v");
    lsetxattr(&f, "user.empty", b"");
    lsetxattr(&f, "user.binary", &[0, 1, 2, 255, 0]);
    lsetxattr(&f, "user.big", &noise(3000, 7));
    lsetxattr(&f, "trusted.secret", b"t");
    lsetxattr(
        &f,
        "security.selinux",
        b"system_u:object_r:container_file_t:s0\0",
    );
    lsetxattr(&xa, "user.dirattr", b"on a dir");
    lsetxattr(
        &xa,
        "security.selinux",
        b"system_u:object_r:container_var_lib_t:s0\0",
    );
    let sl = xa.join("symlink-with-xattrs");
    symlink("file", &sl).unwrap();
    lsetxattr(&sl, "trusted.on-symlink", b"yes");
    lsetxattr(
        &sl,
        "security.selinux",
        b"system_u:object_r:container_file_t:s0\0",
    );
    lchown(&sl, 777, 888);

    // POSIX ACLs via setfacl (system.posix_acl_access/default).
    let acl = root.join("acl");
    fs::create_dir(&acl).unwrap();
    let af = acl.join("file");
    write_file(&af, b"acl\n");
    run(
        "setfacl",
        &[os("-m"), os("u:1001:rwx,g:2002:r-x,m::rwx"), af.as_os_str()],
    );
    run(
        "setfacl",
        &[
            os("-m"),
            os("u:1001:rwx"),
            os("-d"),
            os("-m"),
            os("u:1002:r-x,g:2003:rwx"),
            acl.as_os_str(),
        ],
    );
    let inherited = acl.join("inherits");
    write_file(&inherited, b"default acl applied\n");

    // overlayfs: opaque dir, redirect, whiteout (char 0:0).
    let ov = root.join("overlay");
    fs::create_dir_all(ov.join("opaque")).unwrap();
    lsetxattr(&ov.join("opaque"), "trusted.overlay.opaque", b"y");
    write_file(&ov.join("opaque").join("kept"), b"k");
    fs::create_dir(ov.join("redirected")).unwrap();
    lsetxattr(
        &ov.join("redirected"),
        "trusted.overlay.redirect",
        b"/old/place",
    );
    mknod(&ov.join("whiteout"), libc::S_IFCHR, 0, 0);
    mknod(&ov.join("opaque").join("wh2"), libc::S_IFCHR, 0, 0);
    lsetxattr(
        &ov.join("opaque").join("wh2"),
        "trusted.overlay.whiteout",
        b"",
    );

    // Device nodes, fifo, socket.
    let dev = root.join("dev");
    fs::create_dir(&dev).unwrap();
    mknod(&dev.join("null"), libc::S_IFCHR | 0o666, 1, 3);
    mknod(&dev.join("fakeloop"), libc::S_IFBLK | 0o660, 7, 250);
    lchown(&dev.join("fakeloop"), 0, 6);
    mknod(&dev.join("fifo"), libc::S_IFIFO | 0o640, 0, 0);
    lchown(&dev.join("fifo"), 33, 33);
    let sock = root.join("sock");
    let l = std::os::unix::net::UnixListener::bind(&sock).expect("bind socket");
    drop(l);

    // Hardlinks across directories, and of a fifo and a symlink.
    let ln = root.join("links");
    fs::create_dir_all(ln.join("a")).unwrap();
    fs::create_dir_all(ln.join("b/c")).unwrap();
    write_file(&ln.join("a/one"), b"one inode, three names\n");
    lsetxattr(&ln.join("a/one"), "user.linked", b"1");
    fs::hard_link(ln.join("a/one"), ln.join("b/two")).unwrap();
    fs::hard_link(ln.join("a/one"), ln.join("b/c/three")).unwrap();
    write_file(&ln.join("a/pair1"), b"");
    fs::hard_link(ln.join("a/pair1"), ln.join("pair2")).unwrap();
    mknod(&ln.join("fifo1"), libc::S_IFIFO | 0o600, 0, 0);
    fs::hard_link(ln.join("fifo1"), ln.join("b/fifo2")).unwrap();
    symlink("one", ln.join("a/sym1")).unwrap();
    // link() does not follow symlinks on Linux.
    fs::hard_link(ln.join("a/sym1"), ln.join("b/sym2")).unwrap();
    assert_eq!(
        lstat(&ln.join("b/sym2")).st_mode & libc::S_IFMT,
        libc::S_IFLNK
    );
    write_file(&ln.join("a/lonely"), b"nlink 1\n");

    // Sparse and dense data.
    let data = root.join("data");
    fs::create_dir(&data).unwrap();
    {
        let f = fs::File::create(data.join("sparse")).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(&noise(65536, 1), 0).unwrap();
        f.write_all_at(&noise(65536, 2), 300 << 20).unwrap();
        f.write_all_at(&noise(4096, 3), SPARSE_SIZE - 4096).unwrap();
        f.set_len(SPARSE_SIZE).unwrap();
        let g = fs::File::create(data.join("hole-at-end")).unwrap();
        g.write_all_at(b"start", 0).unwrap();
        g.set_len(50 << 20).unwrap();
        let h = fs::File::create(data.join("all-hole")).unwrap();
        h.set_len(10 << 20).unwrap();
    }
    write_file(&data.join("dense"), &noise(24 << 20, 9));
    write_file(&data.join("odd-size"), &noise(1_048_577, 11));
    write_file(&data.join("empty"), b"");
    for i in 0..200 {
        write_file(
            &data.join(format!("small{i:03}")),
            &noise(i * 37 + 1, i as u64),
        );
    }

    // Names that are not UTF-8, with newlines, spaces.
    let names = root.join("names");
    fs::create_dir(&names).unwrap();
    write_file(
        &names.join(OsStr::from_bytes(b"caf\xe9")),
        b"latin-1 name\n",
    );
    fs::create_dir(names.join(OsStr::from_bytes(b"dir\xff\xfe"))).unwrap();
    write_file(
        &names.join(OsStr::from_bytes(b"dir\xff\xfe/in\x80side")),
        b"x",
    );
    write_file(&names.join("new\nline and space"), b"y");
    write_file(&names.join("-leading-dash"), b"z");

    // Symlinks: absolute, dangling, pointing outside, to a dir, long target.
    let sym = root.join("symlinks");
    fs::create_dir(&sym).unwrap();
    symlink("/etc/passwd", sym.join("absolute")).unwrap();
    symlink("does/not/exist", sym.join("dangling")).unwrap();
    symlink("../../../../../../etc", sym.join("outside")).unwrap();
    symlink("..", sym.join("parent")).unwrap();
    symlink("x".repeat(1000), sym.join("long-target")).unwrap();
    symlink(OsStr::from_bytes(b"caf\xe9"), sym.join("nonutf8-target")).unwrap();
    lchown(&sym.join("absolute"), 1234, 4321);

    // Explicit nanosecond times (files first, then their directories).
    set_times(
        &data.join("dense"),
        (1_000_000_000, 1),
        (1_234_567_890, 123_456_789),
    );
    set_times(
        &sym.join("dangling"),
        (1_100_000_000, 999_999_999),
        (1_200_000_000, 5),
    );
    set_times(&dev.join("fifo"), (1_300_000_000, 7), (1_300_000_001, 8));
    set_times(&sym, (1_400_000_000, 0), (1_400_000_000, 424_242_424));

    vec!["/long", "/deep"]
}

/// A chain of `levels` directories with 250-byte names (path far beyond
/// PATH_MAX), built fd-relative, with two hardlinked files at the bottom.
pub fn build_long(root: &Path, levels: usize) {
    fs::create_dir(root.join("long")).unwrap();
    let mut fd = openat_dir(libc::AT_FDCWD, &cpath(&root.join("long")), false);
    for i in 0..levels {
        let name = CString::new(format!("{i:03}{}", "L".repeat(247))).unwrap();
        fd = openat_dir(fd.as_raw_fd(), &name, true);
    }
    create_at(fd.as_raw_fd(), c"bottom", b"far away\n");
    // SAFETY: valid names.
    check(
        unsafe {
            libc::linkat(
                fd.as_raw_fd(),
                c"bottom".as_ptr(),
                fd.as_raw_fd(),
                c"bottom-link".as_ptr(),
                0,
            )
        },
        "linkat",
    );
    // SAFETY: valid names.
    check(
        unsafe { libc::symlinkat(c"bottom".as_ptr(), fd.as_raw_fd(), c"sym".as_ptr()) },
        "symlinkat",
    );
}

/// A chain `depth` directories deep, with a file every 100 levels.
pub fn build_deep(root: &Path, depth: usize) {
    fs::create_dir(root.join("deep")).unwrap();
    let mut fd = openat_dir(libc::AT_FDCWD, &cpath(&root.join("deep")), false);
    for i in 0..depth {
        if i % 100 == 0 {
            create_at(fd.as_raw_fd(), c"f", format!("level {i}\n").as_bytes());
        }
        fd = openat_dir(fd.as_raw_fd(), c"d", true);
    }
    create_at(fd.as_raw_fd(), c"leaf", b"bottom of the deep tree\n");
}

/// `rsync -aHAXn --checksum --itemize-changes --numeric-ids`: must print nothing.
pub fn rsync_oracle(src: &Path, dst: &Path, excludes: &[&str]) -> String {
    let mut s = src.as_os_str().to_owned();
    s.push("/");
    let mut d = dst.as_os_str().to_owned();
    d.push("/");
    // XFS lists its on-disk ACLs as trusted.SGI_ACL_*; -A compares the ACLs
    // themselves, so those names are excluded from the xattr comparison.
    let mut args: Vec<std::ffi::OsString> = [
        "-aHAXn",
        "--checksum",
        "--itemize-changes",
        "--numeric-ids",
        "--filter=-x trusted.SGI_ACL_*",
    ]
    .iter()
    .map(|a| a.into())
    .collect();
    for e in excludes {
        args.push(format!("--exclude={e}").into());
    }
    args.push(s);
    args.push(d);
    let refs: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run("rsync", &refs)
}

// ---- An independent fd-relative tree comparison (recursive; run on a big stack). ----

fn xattrs_at(dirfd: RawFd, name: &CStr) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut p = format!("/proc/self/fd/{dirfd}/").into_bytes();
    p.extend_from_slice(name.to_bytes());
    let p = CString::new(p).unwrap();
    let mut list = vec![0u8; 65536];
    // SAFETY: valid buffers.
    let n = unsafe { libc::llistxattr(p.as_ptr(), list.as_mut_ptr().cast(), list.len()) };
    assert!(n >= 0, "llistxattr: {}", std::io::Error::last_os_error());
    list.truncate(n as usize);
    let mut out = Vec::new();
    // trusted.SGI_ACL_* is XFS's on-disk copy of the POSIX ACLs, which are
    // compared as system.posix_acl_*; other filesystems do not have it.
    for attr in list
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty() && !a.starts_with(b"trusted.SGI_ACL_"))
    {
        let an = CString::new(attr).unwrap();
        let mut v = vec![0u8; 65536];
        // SAFETY: valid buffers.
        let m = unsafe { libc::lgetxattr(p.as_ptr(), an.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        assert!(m >= 0, "lgetxattr");
        v.truncate(m as usize);
        out.push((attr.to_vec(), v));
    }
    out.sort();
    out
}

fn stat_at(dirfd: RawFd, name: &CStr) -> libc::stat {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid pointers.
    check(
        unsafe {
            libc::fstatat(
                dirfd,
                name.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
        "fstatat",
    );
    // SAFETY: success.
    unsafe { st.assume_init() }
}

fn names_of(dirfd: RawFd) -> Vec<CString> {
    let fd = openat_dir(dirfd, c".", false);
    // SAFETY: fd is a directory; DIR takes ownership.
    let dir = unsafe { libc::fdopendir(std::os::fd::IntoRawFd::into_raw_fd(fd)) };
    assert!(!dir.is_null());
    let mut v = Vec::new();
    loop {
        // SAFETY: dir valid.
        let e = unsafe { libc::readdir64(dir) };
        if e.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated.
        let n = unsafe { CStr::from_ptr((*e).d_name.as_ptr()) };
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            v.push(n.to_owned());
        }
    }
    // SAFETY: dir valid.
    unsafe { libc::closedir(dir) };
    v.sort();
    v
}

fn read_at(dirfd: RawFd, name: &CStr) -> Vec<u8> {
    // SAFETY: valid name.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    check(fd, "open for read");
    // SAFETY: fresh fd.
    let mut f = unsafe { fs::File::from_raw_fd(fd) };
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut v).unwrap();
    v
}

fn readlink_at(dirfd: RawFd, name: &CStr) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    // SAFETY: valid buffer.
    let n = unsafe { libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(n >= 0);
    buf.truncate(n as usize);
    buf
}

struct Cmp {
    diffs: Vec<String>,
    inodes: HashMap<u64, u64>,
    entries: u64,
}

fn cmp_entry(c: &mut Cmp, path: &str, a: &libc::stat, b: &libc::stat) -> bool {
    let mut same = true;
    let mut d = |what: String| {
        c.diffs.push(format!("{path}: {what}"));
        same = false;
    };
    if a.st_mode != b.st_mode && (a.st_mode & libc::S_IFMT) != libc::S_IFLNK {
        d(format!("mode {:o} vs {:o}", a.st_mode, b.st_mode));
    }
    if (a.st_mode & libc::S_IFMT) != (b.st_mode & libc::S_IFMT) {
        d("type".into());
        return false;
    }
    if (a.st_uid, a.st_gid) != (b.st_uid, b.st_gid) {
        d(format!(
            "owner {}:{} vs {}:{}",
            a.st_uid, a.st_gid, b.st_uid, b.st_gid
        ));
    }
    if (a.st_mtime, a.st_mtime_nsec) != (b.st_mtime, b.st_mtime_nsec) {
        d(format!(
            "mtime {}.{} vs {}.{}",
            a.st_mtime, a.st_mtime_nsec, b.st_mtime, b.st_mtime_nsec
        ));
    }
    let t = a.st_mode & libc::S_IFMT;
    if t == libc::S_IFREG && a.st_size != b.st_size {
        d("size".into());
    }
    if (t == libc::S_IFCHR || t == libc::S_IFBLK) && a.st_rdev != b.st_rdev {
        d("rdev".into());
    }
    if t != libc::S_IFDIR && a.st_nlink > 1 {
        match c.inodes.get(&a.st_ino) {
            Some(&bi) if bi != b.st_ino => d("hardlink group".into()),
            Some(_) => {}
            None => {
                c.inodes.insert(a.st_ino, b.st_ino);
            }
        }
    }
    if t != libc::S_IFDIR && b.st_nlink != a.st_nlink {
        d(format!("nlink {} vs {}", a.st_nlink, b.st_nlink));
    }
    same
}

fn cmp_dir(c: &mut Cmp, a: RawFd, b: RawFd, path: &str) {
    let na = names_of(a);
    let nb = names_of(b);
    let skip_sockets: Vec<&CString> = na
        .iter()
        .filter(|n| stat_at(a, n).st_mode & libc::S_IFMT == libc::S_IFSOCK)
        .collect();
    let na_kept: Vec<&CString> = na.iter().filter(|n| !skip_sockets.contains(n)).collect();
    let nb_refs: Vec<&CString> = nb.iter().collect();
    if na_kept != nb_refs {
        c.diffs.push(format!(
            "{path}: entries differ: {na_kept:?} vs {nb_refs:?}"
        ));
    }
    for n in na_kept {
        if !nb.contains(n) {
            continue;
        }
        c.entries += 1;
        let p = format!("{path}/{}", n.to_string_lossy());
        let sa = stat_at(a, n);
        let sb = stat_at(b, n);
        if !cmp_entry(c, &p, &sa, &sb) {
            continue;
        }
        if xattrs_at(a, n) != xattrs_at(b, n) {
            c.diffs.push(format!("{p}: xattrs"));
        }
        match sa.st_mode & libc::S_IFMT {
            libc::S_IFREG if read_at(a, n) != read_at(b, n) => {
                c.diffs.push(format!("{p}: content"));
            }
            libc::S_IFLNK if readlink_at(a, n) != readlink_at(b, n) => {
                c.diffs.push(format!("{p}: link target"));
            }
            libc::S_IFDIR => {
                let fa = openat_dir(a, n, false);
                let fb = openat_dir(b, n, false);
                cmp_dir(c, fa.as_raw_fd(), fb.as_raw_fd(), &p);
            }
            _ => {}
        }
    }
}

/// Compares a chain of directories named "d" (as built by `build_deep`)
/// level by level, keeping only the current level's fds open. Returns the
/// differences and the number of levels.
pub fn compare_chain(a: &Path, b: &Path) -> (Vec<String>, u64) {
    let mut c = Cmp {
        diffs: Vec::new(),
        inodes: HashMap::new(),
        entries: 0,
    };
    let mut fa = openat_dir(libc::AT_FDCWD, &cpath(a), false);
    let mut fb = openat_dir(libc::AT_FDCWD, &cpath(b), false);
    let mut level = 0u64;
    loop {
        level += 1;
        let (na, nb) = (names_of(fa.as_raw_fd()), names_of(fb.as_raw_fd()));
        if na != nb {
            c.diffs.push(format!("level {level}: {na:?} vs {nb:?}"));
            break;
        }
        let mut next = None;
        for n in &na {
            let p = format!("level {level}/{}", n.to_string_lossy());
            let (sa, sb) = (stat_at(fa.as_raw_fd(), n), stat_at(fb.as_raw_fd(), n));
            if !cmp_entry(&mut c, &p, &sa, &sb) {
                continue;
            }
            if xattrs_at(fa.as_raw_fd(), n) != xattrs_at(fb.as_raw_fd(), n) {
                c.diffs.push(format!("{p}: xattrs"));
            }
            if sa.st_mode & libc::S_IFMT == libc::S_IFDIR {
                next = Some(n.clone());
            } else if read_at(fa.as_raw_fd(), n) != read_at(fb.as_raw_fd(), n) {
                c.diffs.push(format!("{p}: content"));
            }
        }
        let Some(n) = next else { break };
        fa = openat_dir(fa.as_raw_fd(), &n, false);
        fb = openat_dir(fb.as_raw_fd(), &n, false);
    }
    (c.diffs, level)
}

/// Compares only the non-directory entries directly inside `a` and `b`.
pub fn compare_files(a: &Path, b: &Path) -> (Vec<String>, u64) {
    let mut c = Cmp {
        diffs: Vec::new(),
        inodes: HashMap::new(),
        entries: 0,
    };
    let fa = openat_dir(libc::AT_FDCWD, &cpath(a), false);
    let fb = openat_dir(libc::AT_FDCWD, &cpath(b), false);
    for n in names_of(fa.as_raw_fd()) {
        let sa = stat_at(fa.as_raw_fd(), &n);
        if sa.st_mode & libc::S_IFMT == libc::S_IFDIR {
            continue;
        }
        c.entries += 1;
        let sb = stat_at(fb.as_raw_fd(), &n);
        let p = n.to_string_lossy().into_owned();
        if cmp_entry(&mut c, &p, &sa, &sb)
            && read_at(fa.as_raw_fd(), &n) != read_at(fb.as_raw_fd(), &n)
        {
            c.diffs.push(format!("{p}: content"));
        }
    }
    (c.diffs, c.entries)
}

/// Differences between two trees (sockets in `a` are expected to be absent
/// in `b`). Recursive with one fd per level on each side: raises the soft fd
/// limit to the hard one.
pub fn compare_trees(a: &Path, b: &Path) -> (Vec<String>, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let (a, b) = (a.to_path_buf(), b.to_path_buf());
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || {
            let mut c = Cmp {
                diffs: Vec::new(),
                inodes: HashMap::new(),
                entries: 0,
            };
            let sa = lstat(&a);
            let sb = lstat(&b);
            cmp_entry(&mut c, ".", &sa, &sb);
            let fa = openat_dir(libc::AT_FDCWD, &cpath(&a), false);
            let fb = openat_dir(libc::AT_FDCWD, &cpath(&b), false);
            let pa = CString::new(".").unwrap();
            if xattrs_at(fa.as_raw_fd(), &pa) != xattrs_at(fb.as_raw_fd(), &pa) {
                c.diffs.push(".: xattrs".into());
            }
            cmp_dir(&mut c, fa.as_raw_fd(), fb.as_raw_fd(), ".");
            (c.diffs, c.entries)
        })
        .expect("spawn")
        .join()
        .expect("compare thread")
}
