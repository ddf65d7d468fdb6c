//! containerd's own CLI, `ctr`, run with a deadline. ctr ships with
//! containerd, so it is there whenever there is something to check, and it
//! keeps a gRPC and protobuf stack out of a binary that runs at every boot
//! before containerd and kubelet. Its table output is stable: the columns
//! read here have not changed since containerd 1.5.
//!
//! Every call shares one deadline (`[sandbox] timeout` from the start of
//! the check): a call still running then is killed with its whole process
//! group, so containerd's start never waits on a hung ctr.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// ctr's name; found on PATH (systemd gives services /usr/bin and /usr/sbin).
pub const PROGRAM: &str = "ctr";

/// How long one readiness probe may take before it is tried again.
const PROBE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CtrError {
    #[error("cannot run {PROGRAM}: {source}; hint: ctr ships with containerd: is containerd installed, with ctr on PATH?")]
    Spawn {
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within the {secs} s of [sandbox] timeout and was killed; hint: is containerd answering (systemctl status containerd)? Raise timeout only if it is slow, not stuck")]
    Timeout { command: String, secs: u64 },
    #[error("`{command}` failed ({status}): {stderr}; hint: run it by hand to see more, and check containerd (systemctl status containerd)")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
}

pub struct Ctr {
    namespace: String,
    deadline: Instant,
    timeout: Duration,
}

impl Ctr {
    /// Calls in `namespace`, all of them done within `timeout` from now.
    pub fn new(namespace: &str, timeout: Duration) -> Ctr {
        Ctr {
            namespace: namespace.to_string(),
            deadline: Instant::now() + timeout,
            timeout,
        }
    }

    /// ctr's stdout when it succeeds before the deadline.
    pub fn run(&self, args: &[&str]) -> Result<String, CtrError> {
        self.run_until(args, self.deadline, None)
    }

    /// Like [`Ctr::run`], with `input` as ctr's stdin (`images import -`
    /// reads the archive datavol checked, not whatever the path names later).
    pub fn run_with_input(&self, args: &[&str], input: std::fs::File) -> Result<String, CtrError> {
        self.run_until(args, self.deadline, Some(input))
    }

    /// Waits until containerd answers: under a unit of Type=simple,
    /// ExecStartPost may come before containerd's socket. It asks for the
    /// namespaces, not `ctr version`, which makes containerd write a UUID
    /// into its root directory.
    pub fn wait_ready(&self) -> Result<(), CtrError> {
        loop {
            let until = self.deadline.min(Instant::now() + PROBE);
            match self.run_until(&["namespaces", "ls", "-q"], until, None) {
                Ok(_) => return Ok(()),
                Err(e @ CtrError::Spawn { .. }) => return Err(e),
                Err(e) if Instant::now() + Duration::from_millis(500) >= self.deadline => {
                    return Err(e)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    fn command_line(&self, args: &[&str]) -> String {
        format!(
            "{PROGRAM} --namespace {} {}",
            self.namespace,
            args.join(" ")
        )
    }

    fn run_until(
        &self,
        args: &[&str],
        until: Instant,
        input: Option<std::fs::File>,
    ) -> Result<String, CtrError> {
        let command = self.command_line(args);
        let timeout = || CtrError::Timeout {
            command: command.clone(),
            secs: self.timeout.as_secs(),
        };
        if Instant::now() >= until {
            return Err(timeout());
        }
        log::debug!("running {command}");
        let mut child = Command::new(PROGRAM)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args)
            .stdin(input.map_or_else(Stdio::null, Stdio::from))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so a timeout kills whatever it started too.
            .process_group(0)
            .spawn()
            .map_err(|source| CtrError::Spawn { source })?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let status = match wait_until(&mut child, until) {
            Some(s) => s,
            None => {
                kill_group(&mut child);
                return Err(timeout());
            }
        };
        let (out, err) = (collect(stdout), collect(stderr));
        if status.success() {
            Ok(out)
        } else {
            Err(CtrError::Failed {
                command,
                status: status.to_string(),
                stderr: err.trim().replace('\n', "; "),
            })
        }
    }
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut p) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
    }
    rx
}

/// What the pipe held; nothing if something outside the group still holds it open.
fn collect(rx: mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default()
}

fn wait_until(child: &mut Child, until: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() >= until => return None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return None,
        }
    }
}

fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The `name==REF` filter that `ctr images ls|check` take. Config allows
/// no commas or spaces in a reference, and it starts with a letter or
/// digit, so it needs no quoting in containerd's filter syntax.
pub fn name_filter(image: &str) -> String {
    format!("name=={image}")
}

/// `image`'s line in `ctr images ls` or `ctr images check` output, split
/// into its columns, if it is listed.
fn line_of<'a>(out: &'a str, image: &str) -> Option<Vec<&'a str>> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.first() == Some(&image))
}

/// From `ctr images ls`: whether `image` is listed, and whether one of its
/// labels is exactly `label` (labels are the last column, `k=v,k=v` or `-`;
/// the size column before them holds a space, so columns are not counted).
pub fn listed_with(out: &str, image: &str, label: &str) -> Option<bool> {
    let cols = line_of(out, image)?;
    Some(
        cols.iter()
            .skip(1)
            .any(|c| c.split(',').any(|l| l == label)),
    )
}

/// From `ctr images check`: whether `image`'s content is complete (its
/// status column says `complete (n/n)`, not `incomplete` or `unavailable`).
pub fn complete(out: &str, image: &str) -> bool {
    line_of(out, image).is_some_and(|cols| cols.get(3) == Some(&"complete"))
}

/// The references `ctr images import` says it unpacked, for messages.
pub fn imported_names(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("unpacking "))
        .filter_map(|l| l.split(" (").next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // As containerd 1.6/1.7 print them (tabwriter, padded with spaces).
    const LS: &str = "\
REF                               TYPE                                       DIGEST                                                                  SIZE      PLATFORMS   LABELS
localhost/kubernetes/pause:latest application/vnd.oci.image.index.v1+json sha256:1f0c5a6b2c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f 739.5 KiB linux/amd64 io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned
localhost/kubernetes/pause:old    application/vnd.oci.image.index.v1+json sha256:2f0c5a6b2c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f 739.5 KiB linux/amd64 -
";
    const CHECK: &str = "\
REF                               TYPE                                    DIGEST                                                                  STATUS         SIZE                UNPACKED
localhost/kubernetes/pause:latest application/vnd.oci.image.index.v1+json sha256:1f0c5a6b2c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f complete (3/3) 739.5 KiB/739.5 KiB true
localhost/kubernetes/pause:old    application/vnd.oci.image.index.v1+json sha256:2f0c5a6b2c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f incomplete (1/3) 1.2 KiB/739.5 KiB  false
localhost/kubernetes/pause:gone   application/vnd.oci.image.index.v1+json sha256:3f0c5a6b2c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f unavailable (0/?) 0.0 B/?           false
";

    #[test]
    fn reads_the_list() {
        let pin = "io.cri-containerd.pinned=pinned";
        assert_eq!(
            listed_with(LS, "localhost/kubernetes/pause:latest", pin),
            Some(true)
        );
        assert_eq!(
            listed_with(LS, "localhost/kubernetes/pause:old", pin),
            Some(false)
        );
        assert_eq!(listed_with(LS, "localhost/kubernetes/pause", pin), None);
        assert_eq!(listed_with("", "x", pin), None);
        // A label that only starts like the pin is not the pin.
        let other = "a T D 1 KiB p io.cri-containerd.pinned=pinnedX\n";
        assert_eq!(listed_with(other, "a", pin), Some(false));
    }

    // As containerd 2.1 prints them (the VM rig's containerd 2 image): the same
    // columns, plus the ID reference the CRI plugin keeps, with the same labels.
    const LS_2: &str = "\
REF                                                                     TYPE                                       DIGEST                                                                  SIZE    PLATFORMS   LABELS                                                          
localhost/kubernetes/pause:latest                                       application/vnd.oci.image.manifest.v1+json sha256:9a7fb92dc1352daea73c0d29cd0e0fa197363a905986604e348ade13e7d023fc 1.9 MiB linux/amd64 io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned 
sha256:d5b2aa7a517401c67a1cc3fe60874753ca5d4aa5661ae098de35f7dc270b23f0 application/vnd.oci.image.manifest.v1+json sha256:9a7fb92dc1352daea73c0d29cd0e0fa197363a905986604e348ade13e7d023fc 1.9 MiB linux/amd64 io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned 
";

    #[test]
    fn reads_the_list_of_containerd_2() {
        let pin = "io.cri-containerd.pinned=pinned";
        assert_eq!(
            listed_with(LS_2, "localhost/kubernetes/pause:latest", pin),
            Some(true)
        );
        assert_eq!(
            listed_with(
                LS_2,
                "sha256:d5b2aa7a517401c67a1cc3fe60874753ca5d4aa5661ae098de35f7dc270b23f0",
                pin
            ),
            Some(true)
        );
        assert_eq!(listed_with(LS_2, "localhost/kubernetes/pause", pin), None);
    }

    #[test]
    fn reads_the_check() {
        assert!(complete(CHECK, "localhost/kubernetes/pause:latest"));
        assert!(!complete(CHECK, "localhost/kubernetes/pause:old"));
        assert!(!complete(CHECK, "localhost/kubernetes/pause:gone"));
        assert!(!complete(CHECK, "registry.k8s.io/pause:3.9"));
    }

    #[test]
    fn reads_what_import_unpacked() {
        let out = "unpacking localhost/kubernetes/pause:latest (sha256:1f0c)...done\nunpacking x/y:1 (sha256:2)...done\n";
        assert_eq!(
            imported_names(out),
            ["localhost/kubernetes/pause:latest", "x/y:1"]
        );
    }
}
