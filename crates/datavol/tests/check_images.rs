//! `datavol check-images` against a stand-in `ctr` on PATH (containerd
//! cannot run on the test host; the VM rig runs the real one). The stand-in
//! keeps a store of image records in files, prints what containerd's ctr
//! prints, records every call, and can fail or hang on any subcommand.

mod common;
use common::prom;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const PAUSE: &str = "localhost/kubernetes/pause:latest";

/// ctr's table output for the store under $FAKE_CTR; `mode-<op>` files
/// make an operation fail or hang (its sleeper's pid in `sleeper`).
const FAKE_CTR: &str = r#"#!/bin/sh
S=${FAKE_CTR:?}
echo "$*" >> "$S/calls"
[ "$1" = --namespace ] && shift 2
op=$1; shift
[ "$op" = images ] && { op=$1; shift; }
case $(cat "$S/mode-$op" 2>/dev/null) in
  hang) sleep 1000 & echo $! > "$S/sleeper"; wait; exit 1 ;;
  fail) echo "ctr: simulated $op failure" >&2; exit 1 ;;
esac
key() { printf '%s' "$1" | tr '/:' '%+'; }
case $op in
namespaces) echo k8s.io ;;
ls)
  ref=${1#name==}; f="$S/images/$(key "$ref")"
  echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"
  [ -f "$f" ] && echo "$ref application/vnd.oci.image.index.v1+json sha256:1f0c 739.5 KiB linux/amd64 $(cat "$f")"
  ;;
check)
  ref=${1#name==}; f="$S/images/$(key "$ref")"
  if [ -f "$f" ]; then
    echo "REF TYPE DIGEST STATUS SIZE UNPACKED"
    if [ -f "$f.incomplete" ]; then st="incomplete (1/3)"; else st="complete (3/3)"; fi
    echo "$ref application/vnd.oci.image.index.v1+json sha256:1f0c $st 739.5 KiB/739.5 KiB true"
  fi
  ;;
import)
  # The names an OCI archive's index.json gives (ctr export, build-oci.sh).
  if [ "$1" = - ]; then cat > "$S/imported.tar"; else cp "$1" "$S/imported.tar"; fi
  tar -xOf "$S/imported.tar" ./index.json | grep -o '"io.containerd.image.name":"[^"]*"' | cut -d'"' -f4 > "$S/imported"
  while read -r ref; do
    echo "unpacking $ref (sha256:1f0c)...done"
    f="$S/images/$(key "$ref")"; [ -f "$f" ] || echo - > "$f"; rm -f "$f.incomplete"
  done < "$S/imported"
  ;;
label)
  f="$S/images/$(key "$1")"
  [ -f "$f" ] || { echo "ctr: image \"$1\": not found" >&2; exit 1; }
  old=$(cat "$f"); if [ "$old" = - ]; then new=$2; else new="$old,$2"; fi
  echo "$new" > "$f"; echo "$new"
  ;;
*) echo "fake ctr: unknown $op" >&2; exit 2 ;;
esac
exit 0
"#;

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    /// A store holding `images` (ref, labels), the stand-in ctr, and an
    /// archive that brings the pause image.
    fn new(images: &[(&str, &str)]) -> Node {
        // Not under /tmp, nor a checkout a CI user may own: every directory
        // above the archive must be root's alone, as /run is.
        let dir = tempfile::Builder::new()
            .prefix("datavol-check-images")
            .tempdir_in("/run")
            .expect("tempdir in /run (run as root)");
        let n = Node { dir };
        for d in ["bin", "store/images", "etc", "state", "textfile"] {
            std::fs::create_dir_all(n.path(d)).expect("mkdir");
        }
        let ctr = n.path("bin/ctr");
        std::fs::write(&ctr, FAKE_CTR).expect("write fake ctr");
        std::fs::set_permissions(&ctr, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for (image, labels) in images {
            n.add_image(image, labels);
        }
        n.write_archive(&n.path("pause.tar"), &[PAUSE]);
        n
    }

    /// An image archive as `ctr images export` writes it (EKS's
    /// cache-pause-container): an OCI layout whose index.json names each
    /// image, and docker's manifest.json with the same names.
    fn write_archive(&self, at: &std::path::Path, names: &[&str]) {
        let dir = tempfile::tempdir_in(self.dir.path()).expect("tempdir");
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).expect("mkdir");
        std::fs::write(dir.path().join("blobs/sha256/00"), "{}").expect("blob");
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("layout");
        let manifests: Vec<_> = names
            .iter()
            .map(|n| serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:00", "size": 2,
                "annotations": {"io.containerd.image.name": n, "org.opencontainers.image.ref.name": "latest"},
            }))
            .collect();
        let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
        std::fs::write(dir.path().join("index.json"), index.to_string()).expect("index");
        let docker =
            serde_json::json!([{"Config": "blobs/sha256/00", "RepoTags": names, "Layers": []}]);
        std::fs::write(dir.path().join("manifest.json"), docker.to_string()).expect("manifest");
        let st = Command::new("tar")
            .args([
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "-C",
            ])
            .arg(dir.path())
            .arg("-cf")
            .arg(at)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success(), "tar failed");
        std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }

    /// datavol.toml with [metrics] and, unless empty, this [sandbox] body.
    fn configure(&self, sandbox: &str) {
        let mut cfg = format!(
            "[metrics]\ntextfile_dir = \"{}\"\n",
            self.path("textfile").display()
        );
        if !sandbox.is_empty() {
            cfg.push_str(&format!("[sandbox]\n{sandbox}\n"));
        }
        let p = self.path("etc/datavol.toml");
        std::fs::write(&p, cfg).expect("write config");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }

    /// The EKS values, with a short timeout and `extra` keys.
    fn eks(&self, extra: &str) -> String {
        format!(
            "images = [\"{PAUSE}\"]\narchive = \"{}\"\nnamespace = \"k8s.io\"\ntimeout = {}\n{extra}",
            self.path("pause.tar").display(),
            timeout()
        )
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn image_file(&self, image: &str) -> PathBuf {
        self.path("store/images")
            .join(image.replace('/', "%").replace(':', "+"))
    }

    fn add_image(&self, image: &str, labels: &str) {
        std::fs::write(self.image_file(image), format!("{labels}\n")).expect("add image");
    }

    fn labels(&self, image: &str) -> Option<String> {
        std::fs::read_to_string(self.image_file(image))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn set_mode(&self, op: &str, mode: &str) {
        std::fs::write(self.path(&format!("store/mode-{op}")), mode).expect("mode");
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.path("store/calls")).unwrap_or_default()
    }

    /// Runs check-images; (exit code, stderr, seconds it took).
    fn check_images(&self) -> (Option<i32>, String, f64) {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        self.check_images_with(&path)
    }

    fn check_images_with(&self, path: &str) -> (Option<i32>, String, f64) {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_datavol"))
            .arg("--config-dir")
            .arg(self.path("etc"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("check-images")
            .env("PATH", path)
            .env("FAKE_CTR", self.path("store"))
            .env_remove("JOURNAL_STREAM")
            .output()
            .expect("run datavol");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err, t.elapsed().as_secs_f64())
    }

    fn metrics(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("textfile/datavol.prom"))
            .expect("check-images wrote the metrics file");
        prom::parse(&text)
    }

    fn metric(&self, name: &str) -> Option<f64> {
        prom::value(&self.metrics(), name, &[("image", PAUSE)])
    }

    /// The exit code the metrics file gives check-images' last run.
    fn exit_code_metric(&self) -> Option<f64> {
        prom::value(
            &self.metrics(),
            "datavol_last_run_exit_code",
            &[("verb", "check-images")],
        )
    }

    fn record(&self) -> serde_json::Value {
        let p = self.path("state/runs/check-images.json");
        serde_json::from_slice(&std::fs::read(&p).expect("check-images left its record"))
            .expect("record is JSON")
    }
}

fn node_with(extra: &str, images: &[(&str, &str)]) -> Node {
    let n = Node::new(images);
    n.configure(&n.eks(extra));
    n
}

/// check-images' `timeout` in the tests' config: 3 s, scaled like every bound
/// under emulation (tests/common `within`).
fn timeout() -> u64 {
    common::within(3.0).round() as u64
}

const PINNED: &str = "io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned";

#[test]
fn without_sandbox_it_does_nothing() {
    let n = Node::new(&[]);
    n.configure("");
    let (code, err, secs) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(n.calls(), "", "ctr was called");
    assert!(!n.path("state/runs").exists(), "a record was written");
    assert!(!n.path("textfile/datavol.prom").exists());
    assert!(secs < common::within(1.0), "took {secs:.2}s");
}

#[test]
fn a_present_pinned_image_is_left_alone() {
    let n = node_with("", &[(PAUSE, PINNED)]);
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    let calls = n.calls();
    assert!(
        calls.contains(&format!("--namespace k8s.io images ls name=={PAUSE}")),
        "{calls}"
    );
    assert!(
        calls.contains(&format!("images check name=={PAUSE}")),
        "{calls}"
    );
    assert!(
        !calls.contains("import") && !calls.contains("label"),
        "{calls}"
    );
    assert!(
        err.contains("present in namespace k8s.io, complete and pinned"),
        "{err}"
    );
    assert_eq!(n.record()["images"][0]["state"], "present");
    assert_eq!(n.metric("datavol_sandbox_image_ready"), Some(1.0));
    assert_eq!(n.metric("datavol_sandbox_image_restored_total"), Some(0.0));
}

#[test]
fn an_unpinned_image_is_pinned_again() {
    let n = node_with("", &[(PAUSE, "io.cri-containerd.image=managed")]);
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    assert!(!n.calls().contains("import"), "{}", n.calls());
    assert!(n
        .labels(PAUSE)
        .is_some_and(|l| l.contains("io.cri-containerd.pinned=pinned")));
    assert!(
        err.contains("warning:") && err.contains("had lost its pin"),
        "{err}"
    );
    assert_eq!(n.record()["images"][0]["state"], "repinned");
    assert_eq!(n.metric("datavol_sandbox_image_repinned_total"), Some(1.0));
    assert_eq!(n.metric("datavol_sandbox_image_restored_total"), Some(0.0));
}

#[test]
fn a_missing_image_is_imported_pinned_and_counted() {
    let n = node_with("", &[]);
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    let calls = n.calls();
    // From the handle datavol checked, not from the path.
    assert!(calls.contains("images import -"), "{calls}");
    assert!(
        calls.contains(&format!(
            "images label {PAUSE} io.cri-containerd.pinned=pinned"
        )),
        "{calls}"
    );
    assert_eq!(
        n.labels(PAUSE).as_deref(),
        Some("io.cri-containerd.pinned=pinned")
    );
    assert!(
        err.contains("was missing from containerd's store (namespace k8s.io); imported it from"),
        "{err}"
    );
    let rec = n.record();
    assert_eq!(rec["images"][0]["state"], "restored");
    assert!(
        rec["images"][0]["last_restored_at"].as_u64().is_some(),
        "{rec}"
    );
    assert_eq!(n.metric("datavol_sandbox_image_restored_total"), Some(1.0));
    assert_eq!(n.metric("datavol_sandbox_image_ready"), Some(1.0));

    // The next check finds it in place; the count stays.
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(n.calls().matches("images import").count(), 1);
    assert_eq!(n.record()["images"][0]["state"], "present");
    assert_eq!(n.metric("datavol_sandbox_image_restored_total"), Some(1.0));
    assert_eq!(n.exit_code_metric(), Some(0.0));
}

#[test]
fn an_incomplete_image_is_imported_again() {
    let n = node_with("", &[(PAUSE, PINNED)]);
    std::fs::write(format!("{}.incomplete", n.image_file(PAUSE).display()), "").expect("mark");
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    assert!(n.calls().contains("images import"), "{}", n.calls());
    assert!(err.contains("was incomplete (content missing)"), "{err}");
    assert_eq!(n.record()["images"][0]["state"], "restored");
}

fn assert_missing(n: &Node, err: &str, needle: &str) {
    assert!(err.contains("error:") && err.contains(needle), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let rec = n.record();
    assert_eq!(rec["images"][0]["state"], "missing", "{rec}");
    assert!(
        rec["images"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains(needle)),
        "{rec}"
    );
    assert_eq!(n.metric("datavol_sandbox_image_ready"), Some(0.0));
}

#[test]
fn a_failed_import_fails_containerd_only_when_required() {
    for (required, want) in [(false, 0), (true, 1)] {
        let n = node_with(&format!("required = {required}"), &[]);
        n.set_mode("import", "fail");
        let (code, err, _) = n.check_images();
        assert_eq!(code, Some(want), "required = {required}: {err}");
        assert_missing(&n, &err, "simulated import failure");
        assert!(!n.calls().contains("label"), "{}", n.calls());
        assert_eq!(n.exit_code_metric(), Some(f64::from(want)));
        if !required {
            assert!(err.contains("containerd keeps running"), "{err}");
        }
    }
}

#[test]
fn a_hung_ctr_is_killed_at_the_timeout() {
    let n = node_with("required = true", &[]);
    n.set_mode("import", "hang");
    let (code, err, secs) = n.check_images();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        secs < timeout() as f64 + common::within(2.5),
        "took {secs:.1}s with timeout = {}",
        timeout()
    );
    assert_missing(
        &n,
        &err,
        &format!("did not finish within the {} s", timeout()),
    );
    // The whole process group went: nothing of ctr's is left running.
    let sleeper = std::fs::read_to_string(n.path("store/sleeper")).expect("the hang started");
    let pid = sleeper.trim().parse::<i32>().expect("pid");
    std::thread::sleep(Duration::from_millis(200));
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"));
    assert!(!alive || zombie, "ctr's child {pid} survived the timeout");
}

#[test]
fn containerd_that_never_answers_costs_at_most_the_timeout() {
    let n = node_with("required = true", &[(PAUSE, PINNED)]);
    n.set_mode("namespaces", "fail");
    let (code, err, secs) = n.check_images();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        (timeout() as f64 - 1.0..2.0 * timeout() as f64).contains(&secs),
        "took {secs:.1}s with timeout = {}",
        timeout()
    );
    assert_missing(&n, &err, "containerd did not answer");
    assert!(
        n.calls().matches("namespaces ls").count() >= 2,
        "{}",
        n.calls()
    );
}

#[test]
fn an_archive_that_is_absent_or_lacks_the_image_says_so() {
    let n = node_with("", &[]);
    std::fs::remove_file(n.path("pause.tar")).expect("rm archive");
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    assert_missing(&n, &err, "pause.tar is not there");
    assert!(!n.calls().contains("import"), "{}", n.calls());

    let n = Node::new(&[]);
    n.configure(&format!("images = [\"{PAUSE}\"]"));
    let (_, err, _) = n.check_images();
    assert_missing(&n, &err, "no [sandbox] archive is configured");
}

#[test]
fn pinning_that_fails_is_an_error() {
    let n = node_with("", &[(PAUSE, "-")]);
    n.set_mode("label", "fail");
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    assert_missing(&n, &err, "pinning it failed");
}

/// Two images: one import serves both, each is pinned, each reported.
#[test]
fn one_import_for_every_missing_image() {
    let n = Node::new(&[]);
    let other = "registry.k8s.io/pause:3.9";
    n.write_archive(&n.path("pause.tar"), &[PAUSE, other]);
    let both = format!("images = [\"{PAUSE}\", \"{other}\"]");
    n.configure(&n.eks("").replace(&format!("images = [\"{PAUSE}\"]"), &both));
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        n.calls().matches("images import").count(),
        1,
        "{}",
        n.calls()
    );
    for image in [PAUSE, other] {
        assert!(
            n.labels(image).is_some_and(|l| l.contains("pinned=pinned")),
            "{image}"
        );
    }
    assert_eq!(err.matches("imported it from").count(), 2, "{err}");
}

#[test]
fn without_ctr_the_error_says_so() {
    let n = node_with("required = true", &[(PAUSE, PINNED)]);
    let (code, err, secs) = n.check_images_with(&n.path("store").display().to_string());
    assert_eq!(code, Some(1), "{err}");
    assert!(secs < common::within(2.0), "took {secs:.1}s");
    assert_missing(&n, &err, "cannot run ctr");
}

/// An unreadable config: nothing to check, and containerd runs on unless
/// the last apply recorded a required volume that is not mounted.
#[test]
fn a_config_error_fails_containerd_only_for_a_required_volume() {
    let n = node_with("", &[]);
    let dropin = n.path("etc/conf.d/50-userdata.toml");
    std::fs::create_dir_all(dropin.parent().unwrap()).expect("mkdir");
    std::fs::write(&dropin, "").expect("drop-in");
    std::fs::set_permissions(&dropin, std::fs::Permissions::from_mode(0o664)).expect("chmod");
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("50-userdata.toml: mode 0664")
            && err.contains("no volume is recorded as required")
            && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(n.calls(), "", "ctr was called without a config");

    let record = serde_json::json!({
        "verb": "apply", "finished_at": 1, "exit_code": 0,
        "volumes": [{
            "volume": "containerd", "state": "ready", "device": "/dev/xvdb",
            "filesystem": "xfs", "mount_point": n.path("node").display().to_string(),
            "required": true,
        }],
    });
    std::fs::create_dir_all(n.path("state/runs")).expect("mkdir");
    std::fs::write(n.path("state/runs/apply.json"), record.to_string()).expect("record");
    let (code, err, _) = n.check_images();
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("volume containerd (on") && err.contains("is not mounted as recorded"),
        "{err}"
    );
}

/// Runs check-images on a node whose archive `spoil` made untrustworthy
/// (the config then names `archive`): nothing is imported, the image stays
/// missing, and the error names the file, what is wrong and a fix.
fn refused(what: &str, spoil: impl Fn(&Node) -> PathBuf, needle: &str) {
    let n = Node::new(&[]);
    let archive = spoil(&n);
    let eks = n.eks("").replace(
        &n.path("pause.tar").display().to_string(),
        &archive.display().to_string(),
    );
    n.configure(&eks);
    let (code, err, secs) = n.check_images();
    assert_eq!(code, Some(0), "{what}: {err}");
    assert!(secs < common::within(2.0), "{what}: took {secs:.1}s");
    assert!(
        !n.calls().contains("import"),
        "{what}: imported: {}",
        n.calls()
    );
    assert_missing(&n, &err, needle);
    assert!(
        err.contains(&format!("the [sandbox] archive {}", archive.display())),
        "{what}: {err}"
    );
}

fn mode(m: u32) -> impl Fn(&Node) -> PathBuf {
    move |n: &Node| {
        let p = n.path("pause.tar");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
        p
    }
}

#[test]
fn an_archive_with_mode_0666_is_not_imported() {
    refused(
        "mode 0666",
        mode(0o666),
        "pause.tar: mode 0666 is group- or world-writable; refusing it; hint: chmod go-w it",
    );
}

#[test]
fn an_archive_with_mode_0664_is_not_imported() {
    refused(
        "mode 0664",
        mode(0o664),
        "mode 0664 is group- or world-writable",
    );
}

#[test]
fn an_archive_owned_by_nobody_is_not_imported() {
    refused(
        "owned by nobody",
        |n| {
            let p = n.path("pause.tar");
            std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
            p
        },
        "pause.tar: owned by uid 65534, not root; refusing an archive whose image every pod sandbox runs; hint: chown root:root it",
    );
}

#[test]
fn an_archive_behind_a_symlink_is_not_imported() {
    refused(
        "a symlink",
        |n| {
            let p = n.path("link.tar");
            std::os::unix::fs::symlink(n.path("pause.tar"), &p).unwrap();
            p
        },
        "link.tar: is a symbolic link; refusing to follow it",
    );
}

#[test]
fn an_archive_behind_a_symlinked_directory_is_not_imported() {
    refused(
        "behind a symlinked directory",
        |n| {
            std::os::unix::fs::symlink(n.path("."), n.path("via")).unwrap();
            n.path("via/pause.tar")
        },
        "via: is a symbolic link on the way to",
    );
}

#[test]
fn an_archive_in_a_directory_others_may_write_is_not_imported() {
    refused(
        "in a directory others may write",
        |n| {
            std::fs::create_dir(n.path("shared")).unwrap();
            std::fs::set_permissions(n.path("shared"), std::fs::Permissions::from_mode(0o777))
                .unwrap();
            std::fs::rename(n.path("pause.tar"), n.path("shared/pause.tar")).unwrap();
            n.path("shared/pause.tar")
        },
        "cannot be trusted:",
    );
}

#[test]
fn a_fifo_archive_is_not_imported() {
    refused(
        "a FIFO",
        |n| {
            let p = n.path("fifo.tar");
            nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
            p
        },
        "fifo.tar: not a regular file; hint:",
    );
}

#[test]
fn an_archive_holding_another_image_is_refused() {
    refused(
        "another image besides",
        |n| {
            let p = n.path("pause.tar");
            n.write_archive(&p, &[PAUSE, "registry.k8s.io/pause:3.9", "docker.io/library/busybox:latest"]);
            p
        },
        "holds images that are not in [sandbox] images: registry.k8s.io/pause:3.9, docker.io/library/busybox:latest; `ctr images import` would import and re-tag them too",
    );
}

#[test]
fn a_file_that_is_not_an_image_archive_is_refused() {
    refused(
        "not an image archive",
        |n| {
            let p = n.path("pause.tar");
            std::fs::write(&p, format!("{PAUSE}\n")).unwrap();
            p
        },
        "is not a tar archive datavol can read",
    );
}
