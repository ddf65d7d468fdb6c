//! The `[sandbox]` archive is imported as root, and its image is what every
//! pod sandbox runs, so it is trusted like the config (config/trust.rs):
//! owned by root, not group- or world-writable, no symbolic link and no
//! directory anyone else may change on its path, opened once without
//! following a link or blocking, a regular file. `ctr images import`
//! imports every image an archive holds and re-tags existing images with
//! those names, so the archive may name only the configured images: its
//! `index.json` (OCI, what `ctr images export` writes) and `manifest.json`
//! (docker's) are read from the same handle that is then given to ctr.

use super::tar;
use crate::config::trust::{self, OpenError, Untrusted};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

const WHY: &str = "an archive whose image every pod sandbox runs";
/// containerd's own name for an image; ctr import prefers it.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI name, used by ctr when the containerd one is absent.
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The archive, checked, positioned at its start for `ctr images import -`;
/// or an error that names it, says what is wrong and how to fix it.
pub fn open(archive: &Path, images: &[String], namespace: &str) -> Result<File, String> {
    let show = archive.display();
    let untrusted = |u: Untrusted| {
        let at = if u.path == archive {
            String::new()
        } else {
            format!(" cannot be trusted: {}", u.path.display())
        };
        format!(
            "the [sandbox] archive {show}{at}: {}; hint: {}",
            u.what, u.hint
        )
    };
    trust::check_path(archive, WHY).map_err(untrusted)?;
    let (mut file, _) = trust::open_trusted(archive, WHY).map_err(|e| match e {
        OpenError::Untrusted(u) => untrusted(u),
        OpenError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
            "the [sandbox] archive {show} is not there; hint: check the path (EKS AL2023 AMIs ship /etc/eks/pause.tar), or re-create it with `ctr -n {namespace} images export`"
        ),
        OpenError::Io(e) => format!("the [sandbox] archive {show} cannot be opened: {e}; hint: check the path and its permissions"),
    })?;
    let one_image = format!(
        "hint: ship an archive that holds only the sandbox image: `ctr -n {namespace} images export {show} {}`",
        images.join(" ")
    );
    let entries = tar::find(&mut file, &["index.json", "manifest.json"])
        .map_err(|e| format!("the [sandbox] archive {show} {e}; not importing it; {one_image}"))?;
    let names = names(&entries)
        .map_err(|e| format!("the [sandbox] archive {show}: {e}; not importing it; {one_image}"))?;
    let foreign = foreign(&names, images);
    if !foreign.is_empty() {
        return Err(format!(
            "the [sandbox] archive {show} holds images that are not in [sandbox] images: {}; `ctr images import` would import and re-tag them too, so it is not imported; {one_image}",
            foreign.join(", ")
        ));
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| {
        format!("the [sandbox] archive {show} cannot be read: {e}; hint: check the disk")
    })?;
    Ok(file)
}

/// What the archive's index and docker manifest call each image they
/// hold; docker's names are in its short form (`pause:3.9`) and marked.
#[derive(Debug, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub docker: bool,
}

/// Every image name in the archive's index.json and manifest.json, each
/// file there once; an image without a name, or no index at all, is an error.
pub fn names(entries: &[(String, Vec<u8>)]) -> Result<Vec<Named>, String> {
    let mut out = Vec::new();
    for file in ["index.json", "manifest.json"] {
        let mut found = entries.iter().filter(|(n, _)| n == file);
        let Some((_, data)) = found.next() else {
            continue;
        };
        if found.next().is_some() {
            return Err(format!("it holds {file} twice"));
        }
        let v: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| format!("its {file} is not JSON ({e})"))?;
        if file == "index.json" {
            out.extend(index_names(&v)?);
        } else {
            out.extend(docker_names(&v)?);
        }
    }
    if out.is_empty() {
        return Err("it names no image (no index.json or manifest.json that names one)".into());
    }
    Ok(out)
}

/// Each manifest's name as ctr import takes it: containerd's, else the OCI one.
fn index_names(v: &serde_json::Value) -> Result<Vec<Named>, String> {
    let manifests = v["manifests"]
        .as_array()
        .ok_or("its index.json has no manifests list")?;
    manifests
        .iter()
        .map(|m| {
            let a = &m["annotations"];
            [CONTAINERD_NAME, OCI_REF_NAME]
                .iter()
                .find_map(|k| a[k].as_str().filter(|s| !s.is_empty()))
                .map(|n| Named {
                    name: n.to_string(),
                    docker: false,
                })
                .ok_or_else(|| {
                    format!("its index.json holds an image with no name ({CONTAINERD_NAME})")
                })
        })
        .collect()
}

fn docker_names(v: &serde_json::Value) -> Result<Vec<Named>, String> {
    let list = v.as_array().ok_or("its manifest.json is not a list")?;
    let mut out = Vec::new();
    for m in list {
        let tags = m["RepoTags"].as_array().filter(|t| !t.is_empty());
        let tags = tags.ok_or("its manifest.json holds an image with no RepoTags")?;
        for t in tags {
            let name = t
                .as_str()
                .ok_or("its manifest.json has a RepoTag that is not a string")?;
            out.push(Named {
                name: name.to_string(),
                docker: true,
            });
        }
    }
    Ok(out)
}

/// A docker-style name in full, as containerd reads manifest.json:
/// `pause:3.9` is `docker.io/library/pause:3.9`, a missing tag `latest`.
pub fn docker_full(name: &str) -> String {
    let (domain, rest) = match name.split_once('/') {
        Some((d, r)) if d.contains(['.', ':']) || d == "localhost" => (d, r.to_string()),
        _ => ("docker.io", name.to_string()),
    };
    let rest = if domain == "docker.io" && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    };
    let last = rest.rsplit('/').next().unwrap_or(&rest);
    let tagged = last.contains([':', '@']);
    format!("{domain}/{rest}{}", if tagged { "" } else { ":latest" })
}

/// The names that are not configured images, each once.
pub fn foreign(names: &[Named], images: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let ok = if n.docker {
            let full = docker_full(&n.name);
            images.iter().any(|i| docker_full(i) == full)
        } else {
            images.contains(&n.name)
        };
        if !ok && !out.contains(&n.name) {
            out.push(n.name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: &str = "localhost/kubernetes/pause:latest";

    /// index.json as `ctr images export` and the VM rig's build-oci.sh write it.
    fn index(names: &[&str]) -> Vec<u8> {
        let m: Vec<_> = names
            .iter()
            .map(|n| serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:00", "size": 1, "annotations": {CONTAINERD_NAME: n, OCI_REF_NAME: "latest"}}))
            .collect();
        serde_json::json!({"schemaVersion": 2, "manifests": m})
            .to_string()
            .into_bytes()
    }

    fn entries(files: &[(&str, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
        files
            .iter()
            .map(|(n, d)| (n.to_string(), d.clone()))
            .collect()
    }

    fn check(files: &[(&str, Vec<u8>)], images: &[&str]) -> Result<Vec<String>, String> {
        let images: Vec<String> = images.iter().map(|s| s.to_string()).collect();
        names(&entries(files)).map(|n| foreign(&n, &images))
    }

    #[test]
    fn only_configured_images_pass() {
        let docker = br#"[{"Config":"blobs/sha256/00","RepoTags":["localhost/kubernetes/pause:latest"],"Layers":[]}]"#.to_vec();
        let eks = [("index.json", index(&[PAUSE])), ("manifest.json", docker)];
        assert_eq!(check(&eks, &[PAUSE]), Ok(vec![]));
        let two = [("index.json", index(&[PAUSE, "registry.k8s.io/pause:3.9"]))];
        assert_eq!(
            check(&two, &[PAUSE]),
            Ok(vec!["registry.k8s.io/pause:3.9".into()])
        );
        // docker's short names are read as containerd reads them.
        let short = [(
            "manifest.json",
            br#"[{"RepoTags":["pause:3.9","busybox"]}]"#.to_vec(),
        )];
        assert_eq!(
            check(&short, &["docker.io/library/pause:3.9"]),
            Ok(vec!["busybox".into()])
        );
        // An OCI name alone is what ctr would name the image (with its own prefix).
        let bare = [(
            "index.json",
            br#"{"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}"#
                .to_vec(),
        )];
        assert_eq!(check(&bare, &[PAUSE]), Ok(vec!["latest".into()]));
    }

    #[test]
    fn an_archive_it_cannot_account_for_is_refused() {
        assert!(check(&[], &[PAUSE]).is_err(), "no index");
        let unnamed = [(
            "index.json",
            br#"{"manifests":[{"digest":"sha256:00"}]}"#.to_vec(),
        )];
        assert!(check(&unnamed, &[PAUSE]).is_err());
        let twice = [
            ("index.json", index(&[PAUSE])),
            ("index.json", index(&["x/y:1"])),
        ];
        assert!(check(&twice, &[PAUSE]).is_err());
        let untagged = [("manifest.json", br#"[{"RepoTags":[]}]"#.to_vec())];
        assert!(check(&untagged, &[PAUSE]).is_err());
        assert!(check(&[("index.json", b"nope".to_vec())], &[PAUSE]).is_err());
    }

    #[test]
    fn docker_names_in_full() {
        assert_eq!(docker_full("pause:3.9"), "docker.io/library/pause:3.9");
        assert_eq!(docker_full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(docker_full("user/img"), "docker.io/user/img:latest");
        assert_eq!(docker_full(PAUSE), PAUSE);
        assert_eq!(
            docker_full("localhost:5000/p@sha256:00"),
            "localhost:5000/p@sha256:00"
        );
    }
}
