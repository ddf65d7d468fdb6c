//! What the pre-warm reads first: containerd's content store, smallest
//! blob first. Every pod start reads its image's index, manifest and
//! config (CRI's image status, container create), and those are the
//! small blobs: a few hundred reads make all of them warm in seconds.
//! Then the layers, smallest first, so the most blobs are whole soonest
//! (a blob helps only once all of it is read; a big one is spread over
//! every read in flight anyway). Which image the first pod needs is not
//! known at boot, so there is no better order to guess.

use super::engine::Source;
use crate::config::Volume;
use crate::sys::fsutil::named;
use std::path::PathBuf;

/// Where containerd keeps its blobs, under its root directory.
pub const BLOBS: &str = "io.containerd.content.v1.content/blobs";

/// Where a containerd root directory may be on the volume: its root, and
/// each served directory's place on it.
pub fn roots(vol: &Volume) -> Vec<PathBuf> {
    let mut v = vec![vol.mount_point.clone()];
    for d in &vol.directories {
        v.push(vol.mount_point.join(Volume::dir_subpath(d)));
    }
    v
}

/// Every blob (`blobs/<algorithm>/<digest>`) under the roots, in the
/// order they are read.
pub fn blobs(roots: &[PathBuf]) -> std::io::Result<Vec<Source>> {
    let mut out = Vec::new();
    for root in roots {
        let dir = root.join(BLOBS);
        let algs = match std::fs::read_dir(&dir) {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(named(&dir, e)),
        };
        for alg in algs {
            let alg = alg.map_err(|e| named(&dir, e))?.path();
            if !std::fs::symlink_metadata(&alg).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            for blob in std::fs::read_dir(&alg).map_err(|e| named(&alg, e))? {
                let path = blob.map_err(|e| named(&alg, e))?.path();
                let m = std::fs::symlink_metadata(&path).map_err(|e| named(&path, e))?;
                if m.is_file() {
                    out.push(Source {
                        path,
                        size: m.len(),
                    });
                }
            }
        }
    }
    sort(&mut out);
    Ok(out)
}

/// Smallest first; the path breaks ties, so a resumed run sees the same order.
pub fn sort(v: &mut [Source]) {
    v.sort_by(|a, b| a.size.cmp(&b.size).then_with(|| a.path.cmp(&b.path)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_blob_first_across_roots_and_algorithms() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        for (root, alg, name, size) in [
            (&a, "sha256", "layer", 5000usize),
            (&a, "sha256", "config", 300),
            (&b, "sha512", "manifest", 900),
            (&b, "sha256", "index", 300),
        ] {
            let d = root.join(BLOBS).join(alg);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join(name), vec![0u8; size]).expect("write");
        }
        std::fs::create_dir_all(a.join(BLOBS).join("sha256/not-a-blob")).expect("mkdir");
        let got: Vec<(String, u64)> = blobs(&[a, b, dir.path().join("none")])
            .expect("list")
            .into_iter()
            .map(|s| {
                let name = s.path.file_name().unwrap().to_string_lossy().into_owned();
                (name, s.size)
            })
            .collect();
        let want = [
            ("config", 300),
            ("index", 300),
            ("manifest", 900),
            ("layer", 5000),
        ];
        let want: Vec<(String, u64)> = want.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        assert_eq!(got, want);
    }
}
