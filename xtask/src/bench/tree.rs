//! The bench's fixture trees, made the same every time (a fixed seed): a containerd-like
//! tree of a given `Shape`, and the many-files tree.
use super::io;
use crate::util::run;
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, FileExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The size of a containerd-like tree: snapshots × files per snapshot, two
/// dense blobs and one sparse blob (a quarter of it data).
#[derive(Clone, Copy)]
pub struct Shape {
    pub snapshots: u64,
    pub files_per: u64,
    pub blob_dense: u64,
    pub blob_sparse: u64,
}

pub const FULL: Shape = Shape {
    snapshots: 40,
    files_per: 2500,
    blob_dense: 512 << 20,
    blob_sparse: 1 << 30,
};
pub const SMALL: Shape = Shape {
    snapshots: 8,
    files_per: 1250,
    blob_dense: 64 << 20,
    blob_sparse: 256 << 20,
};
/// Small enough for a copy under qemu TCG, where the CPU is ~10x slower.
pub const DELAYED: Shape = Shape {
    snapshots: 2,
    files_per: 1500,
    blob_dense: 16 << 20,
    blob_sparse: 64 << 20,
};

/// Deterministic pseudo-random generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn write_noise(path: &Path, len: u64, rng: &mut Rng, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut f = io(fs::File::create(path), "create file")?;
    let mut left = len;
    while left > 0 {
        let n = left.min(4 << 20) as usize;
        buf.resize(n, 0);
        rng.fill(&mut buf[..n]);
        io(f.write_all(&buf[..n]), "write file")?;
        left -= n as u64;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

const TOPS: [&str; 5] = ["usr", "etc", "var", "opt", "lib"];
const MIDS: [&str; 10] = [
    "lib",
    "share",
    "bin",
    "python3",
    "site-packages",
    "include",
    "doc",
    "locale",
    "x86_64",
    "node_modules",
];

/// The containerd-like tree: content store blobs, a metadata db, and snapshots of
/// rootfs-like trees with hardlinks across dirs, symlinks, whiteouts (char 0:0),
/// trusted.overlay.opaque dirs, user.* xattrs and file capabilities.
/// Returns (files, dirs) created.
pub fn build_containerd(root: &Path, shape: Shape) -> Result<(u64, u64), String> {
    let mut t = Tree {
        root,
        rng: Rng(0x5eed_1234_abcd_ef01),
        buf: Vec::new(),
        dump: String::new(),
        whiteouts: Vec::new(),
        files: 0,
        dirs: 0,
    };
    t.blobs(shape)?;
    for s in 1..=shape.snapshots {
        t.snapshot(s, shape.files_per)?;
    }
    t.finish()?;
    Ok((t.files, t.dirs))
}

/// A tree being built. The order of the random draws is the fixture: keep it.
struct Tree<'a> {
    root: &'a Path,
    rng: Rng,
    buf: Vec<u8>,
    /// xattrs to set at the end, in `setfattr --restore` format.
    dump: String,
    whiteouts: Vec<PathBuf>,
    files: u64,
    dirs: u64,
}

impl Tree<'_> {
    /// Content store blobs: two dense, one sparse (data every 4 MiB of 16 MiB); the db.
    fn blobs(&mut self, shape: Shape) -> Result<(), String> {
        let blobs = self
            .root
            .join("io.containerd.content.v1.content/blobs/sha256");
        io(fs::create_dir_all(&blobs), "mkdir blobs")?;
        for i in 0..2u64 {
            let name = format!("{:064x}", 0xb10b_0000 + i);
            write_noise(
                &blobs.join(name),
                shape.blob_dense,
                &mut self.rng,
                &mut self.buf,
            )?;
        }
        let f = io(
            fs::File::create(blobs.join(format!("{:064x}", 0x5a55e))),
            "create sparse blob",
        )?;
        let mut chunk = vec![0u8; 4 << 20];
        let mut off = 0u64;
        while off < shape.blob_sparse {
            self.rng.fill(&mut chunk);
            io(f.write_all_at(&chunk, off), "write sparse blob")?;
            off += 16 << 20;
        }
        io(f.set_len(shape.blob_sparse), "size sparse blob")?;
        let db = self.root.join("io.containerd.metadata.v1.bolt");
        io(fs::create_dir_all(&db), "mkdir")?;
        write_noise(&db.join("meta.db"), 8 << 20, &mut self.rng, &mut self.buf)
    }

    /// Snapshot `s`: a rootfs-like tree of `files_per` entries.
    fn snapshot(&mut self, s: u64, files_per: u64) -> Result<(), String> {
        let snap = self.root.join(format!(
            "io.containerd.snapshotter.v1.overlayfs/snapshots/{s}"
        ));
        let fsroot = snap.join("fs");
        io(fs::create_dir_all(&fsroot), "mkdir snapshot")?;
        io(fs::create_dir_all(snap.join("work")), "mkdir work")?;
        let mut made: Vec<PathBuf> = Vec::new();
        let mut i = 0;
        while i < files_per {
            let d = self.directory(&fsroot)?;
            // A burst of 5..40 entries in it.
            let burst = 5 + self.rng.below(36);
            for _ in 0..burst {
                if i >= files_per {
                    break;
                }
                i += 1;
                self.entry(&d, i, &mut made)?;
            }
        }
        Ok(())
    }

    /// A directory 3..8 levels deep; one in twenty new ones is opaque.
    fn directory(&mut self, fsroot: &Path) -> Result<PathBuf, String> {
        let depth = 3 + self.rng.below(6);
        let mut d = fsroot.join(TOPS[self.rng.below(TOPS.len() as u64) as usize]);
        for _ in 1..depth {
            d = d.join(format!(
                "{}{}",
                MIDS[self.rng.below(MIDS.len() as u64) as usize],
                self.rng.below(4)
            ));
        }
        if !d.exists() {
            io(fs::create_dir_all(&d), "mkdir tree")?;
            self.dirs += depth;
            if self.rng.below(20) == 0 {
                let rel = d.strip_prefix(self.root).unwrap_or(&d);
                let _ = writeln!(
                    self.dump,
                    "# file: {}\ntrusted.overlay.opaque=\"y\"\n",
                    rel.display()
                );
            }
        }
        Ok(d)
    }

    /// Entry `i` in `d`: a hardlink to an earlier file, a symlink, a whiteout (made at
    /// the end) or a file.
    fn entry(&mut self, d: &Path, i: u64, made: &mut Vec<PathBuf>) -> Result<(), String> {
        let name = d.join(format!(
            "f{i:05}.{}",
            ["so", "py", "txt", "conf", "js"][self.rng.below(5) as usize]
        ));
        let r = self.rng.below(1000);
        if r < 30 && !made.is_empty() {
            // A hardlink to an earlier file, often in another directory.
            let t = &made[self.rng.below(made.len() as u64) as usize];
            return io(fs::hard_link(t, &name), "hardlink");
        }
        if r < 80 {
            let target = format!("../lib/target{}", self.rng.below(100));
            return io(symlink(target, &name), "symlink");
        }
        if r < 85 {
            self.whiteouts.push(name);
            return Ok(());
        }
        self.file(&name)?;
        made.push(name);
        Ok(())
    }

    /// A file of mostly small sizes; one in ten gets a user.* xattr, a few a capability.
    fn file(&mut self, name: &Path) -> Result<(), String> {
        let b = self.rng.below(1000);
        let size = if b < 750 {
            self.rng.below(4096)
        } else if b < 950 {
            4096 + self.rng.below(28 << 10)
        } else if b < 995 {
            (32 << 10) + self.rng.below(224 << 10)
        } else {
            (256 << 10) + self.rng.below(768 << 10)
        };
        write_noise(name, size, &mut self.rng, &mut self.buf)?;
        self.files += 1;
        let rel = name.strip_prefix(self.root).unwrap_or(name).to_path_buf();
        if self.rng.below(10) == 0 {
            let _ = writeln!(
                self.dump,
                "# file: {}\nuser.checksum=\"{:016x}\"\n",
                rel.display(),
                self.rng.next()
            );
        } else if self.rng.below(200) == 0 {
            let mut cap = Vec::new();
            cap.extend_from_slice(&0x0200_0001u32.to_le_bytes());
            cap.extend_from_slice(&(1u32 << 13).to_le_bytes());
            cap.extend_from_slice(&[0u8; 12]);
            let _ = writeln!(
                self.dump,
                "# file: {}\nsecurity.capability={}\n",
                rel.display(),
                hex(&cap)
            );
        }
        Ok(())
    }

    /// Whiteouts (char 0:0), as overlayfs leaves them in upper layers; then the xattrs.
    fn finish(&mut self) -> Result<(), String> {
        for w in &self.whiteouts {
            run(Command::new("mknod").arg(w).args(["c", "0", "0"]))?;
            self.files += 1;
        }
        let dump_path = self.root.join("xattrs.dump");
        io(fs::write(&dump_path, &self.dump), "write xattr dump")?;
        let restored = run(Command::new("setfattr")
            .arg(format!("--restore={}", dump_path.display()))
            .current_dir(self.root));
        io(fs::remove_file(&dump_path), "remove dump")?;
        restored.map(|_| ())
    }
}

/// The many-files tree: `n` files, 1000 per directory, one in ten 1 KiB.
pub fn build_million(root: &Path, n: u64) -> Result<(), String> {
    let data = [0x5au8; 1024];
    for i in 0..n {
        let d = root.join(format!(
            "d{:03}/e{:03}",
            i / 1_000_000 % 1000,
            i / 1000 % 1000
        ));
        if i % 1000 == 0 {
            io(fs::create_dir_all(&d), "mkdir")?;
        }
        let f = d.join(format!("file{:04}", i % 1000));
        if i % 10 == 0 {
            io(fs::write(&f, data), "write")?;
        } else {
            io(fs::File::create(&f), "create")?;
        }
    }
    Ok(())
}
