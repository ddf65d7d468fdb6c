//! What is on a block device, read without writing: libblkid's own probe
//! (`blkid -p`), then every signature `wipefs -n` lists, because blkid's
//! first answer can miss one (a backup GPT at the end of a disk whose first
//! MiB was zeroed reads as blank). The whole-disk lock that formatting holds
//! lives here too, as a type.

use crate::config::Filesystem;
use crate::sys::lock;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Probe {
    /// No signature libblkid knows.
    Blank,
    /// A filesystem (or other superblock) on the whole device.
    Signature {
        fstype: String,
        uuid: Option<String>,
        label: Option<String>,
    },
    /// A partition table.
    PartitionTable { pttype: String },
    /// Several signatures that contradict each other.
    Ambiguous { signatures: Vec<String> },
    /// libblkid's probe found nothing, but wipefs lists signatures.
    Leftover { signatures: Vec<String> },
}

impl Probe {
    pub fn describe(&self) -> String {
        match self {
            Probe::Blank => "blank".into(),
            Probe::Signature { fstype, uuid, .. } => match uuid {
                Some(u) => format!("{fstype} (UUID {u})"),
                None => fstype.clone(),
            },
            Probe::PartitionTable { pttype } => format!("{pttype} partition table"),
            Probe::Ambiguous { signatures } if signatures.is_empty() => {
                "ambiguous signatures".into()
            }
            Probe::Ambiguous { signatures } => {
                format!("several signatures ({})", signatures.join(", "))
            }
            Probe::Leftover { signatures } => format!(
                "no signature at the start, but {} elsewhere",
                signatures.join(", ")
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("device {device}: running {tool}: {source}; hint: install util-linux, xfsprogs and e2fsprogs")]
    Spawn {
        device: PathBuf,
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("device {device}: {tool} failed ({status}): {stderr}")]
    Tool {
        device: PathBuf,
        tool: String,
        status: String,
        stderr: String,
    },
    #[error("device {device}: {op}: {source}")]
    Io {
        device: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("device {device}: after mkfs.{expected} the probe found {found}; refusing to go on")]
    NotFormatted {
        device: PathBuf,
        expected: Filesystem,
        found: String,
    },
    #[error(
        "device {device}: cannot read `{tool}` output ({detail}); hint: is util-linux intact?"
    )]
    Parse {
        device: PathBuf,
        tool: &'static str,
        detail: String,
    },
}

/// How long to wait for the whole-disk lock (udev's, see lock_whole_disk).
const DISK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Exclusive flock on the whole disk behind `device`, held while it lives.
pub struct DiskLock {
    _file: File,
}

pub fn lock_whole_disk(device: &Path) -> Result<DiskLock, ProbeError> {
    let disk = crate::discover::device::whole_disk(device).map_err(|source| ProbeError::Io {
        device: device.to_path_buf(),
        op: "finding the whole disk",
        source,
    })?;
    let file = File::open(&disk).map_err(|source| ProbeError::Io {
        device: disk.clone(),
        op: "opening to lock",
        source,
    })?;
    // udev holds it while it probes, moments; anyone else for long is a
    // tool at work on the disk, and waiting for it would hold the boot.
    let got = lock::flock_within(&file, lock::Access::Exclusive, DISK_WAIT, || {
        log::info!(
            "waiting for {} to let go of {}",
            lock::holder(&file),
            disk.display()
        )
    });
    match got {
        Ok(true) => Ok(DiskLock { _file: file }),
        Ok(false) => Err(ProbeError::Io {
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!(
                    "still held by {} after {}s; hint: another tool is at work on the disk (fuser -v {}); run datavol again once it has finished",
                    lock::holder(&file),
                    DISK_WAIT.as_secs(),
                    disk.display()
                ),
            ),
            device: disk,
            op: "taking its lock",
        }),
        Err(source) => Err(ProbeError::Io {
            device: disk,
            op: "flock",
            source,
        }),
    }
}

/// Parses `blkid -p -o export` output plus its exit code.
pub fn parse_blkid(code: Option<i32>, stdout: &str) -> Option<Probe> {
    match code {
        Some(2) => return Some(Probe::Blank),
        Some(8) => {
            return Some(Probe::Ambiguous {
                signatures: Vec::new(),
            })
        }
        Some(0) => {}
        _ => return None,
    }
    let kv: BTreeMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
    if let Some(pt) = kv.get("PTTYPE") {
        if let Some(t) = kv.get("TYPE") {
            return Some(Probe::Ambiguous {
                signatures: vec![format!("{pt} partition table"), t.to_string()],
            });
        }
        return Some(Probe::PartitionTable {
            pttype: pt.to_string(),
        });
    }
    match kv.get("TYPE") {
        Some(t) => Some(Probe::Signature {
            fstype: t.to_string(),
            uuid: kv.get("UUID").map(|s| s.to_string()),
            label: kv.get("LABEL").map(|s| s.to_string()),
        }),
        // exit 0 with neither: libblkid saw something it cannot name.
        None => Some(Probe::Ambiguous {
            signatures: Vec::new(),
        }),
    }
}

/// Runs `tool ARGS DEVICE`; a tool that cannot start is a typed error.
pub(crate) fn run(
    device: &Path,
    tool: &'static str,
    args: &[&str],
) -> Result<std::process::Output, ProbeError> {
    Command::new(tool)
        .args(args)
        .arg(device)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ProbeError::Spawn {
            device: device.to_path_buf(),
            tool: tool.into(),
            source,
        })
}

/// libblkid's answer alone (`blkid -p`).
fn blkid(device: &Path) -> Result<Probe, ProbeError> {
    let out = run(device, "blkid", &["-p", "-o", "export"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_blkid(out.status.code(), &stdout).ok_or_else(|| ProbeError::Tool {
        device: device.to_path_buf(),
        tool: "blkid -p".into(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

#[derive(serde::Deserialize)]
struct Wipefs {
    signatures: Vec<WipefsSig>,
}

#[derive(serde::Deserialize)]
struct WipefsSig {
    #[serde(rename = "type")]
    kind: String,
    offset: String,
}

/// Every signature `wipefs -n -J` reports, as "TYPE at OFFSET".
pub fn parse_wipefs(json: &str) -> Result<Vec<(String, String)>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let w: Wipefs = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok(w.signatures
        .into_iter()
        .map(|s| (s.kind, s.offset))
        .collect())
}

fn wipefs(device: &Path) -> Result<Vec<(String, String)>, ProbeError> {
    let out = run(
        device,
        "wipefs",
        &["--no-act", "--json", "-O", "TYPE,OFFSET"],
    )?;
    let tool_err = |status: String| ProbeError::Tool {
        device: device.to_path_buf(),
        tool: "wipefs --no-act".into(),
        status,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    };
    if !out.status.success() {
        return Err(tool_err(out.status.to_string()));
    }
    parse_wipefs(&String::from_utf8_lossy(&out.stdout)).map_err(|detail| ProbeError::Parse {
        device: device.to_path_buf(),
        tool: "wipefs --no-act --json",
        detail,
    })
}

/// libblkid's answer, checked against every signature wipefs lists: a
/// signature blkid did not report makes the device leftover or ambiguous.
pub fn combine(primary: Probe, all: &[(String, String)]) -> Probe {
    let named = |(t, off): &(String, String)| {
        if t == "gpt" || t == "PMBR" {
            format!("{t} at {off} (a partition table)")
        } else {
            format!("{t} at {off}")
        }
    };
    let expected = match &primary {
        Probe::Signature { fstype, .. } => Some(fstype.as_str()),
        Probe::PartitionTable { pttype } => Some(pttype.as_str()),
        _ => None,
    };
    let others: Vec<String> = all
        .iter()
        .filter(|(t, _)| {
            Some(t.as_str()) != expected
                // wipefs calls a GPT disk's protective MBR "PMBR".
                && !(t == "PMBR" && expected == Some("gpt"))
        })
        .map(named)
        .collect();
    match primary {
        Probe::Blank if !others.is_empty() => Probe::Leftover { signatures: others },
        Probe::Ambiguous { signatures } if signatures.is_empty() => Probe::Ambiguous {
            signatures: all.iter().map(named).collect(),
        },
        p @ (Probe::Signature { .. } | Probe::PartitionTable { .. }) if !others.is_empty() => {
            let mut signatures = vec![p.describe()];
            signatures.extend(others);
            Probe::Ambiguous { signatures }
        }
        p => p,
    }
}

/// Everything on the device, read without writing.
pub fn probe(device: &Path) -> Result<Probe, ProbeError> {
    let primary = blkid(device)?;
    Ok(combine(primary, &wipefs(device)?))
}

/// libblkid's answer only: for re-reading the UUID right after mkfs.
pub fn probe_blkid(device: &Path) -> Result<Probe, ProbeError> {
    blkid(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blkid_outcomes() {
        assert_eq!(parse_blkid(Some(2), ""), Some(Probe::Blank));
        assert_eq!(
            parse_blkid(Some(8), ""),
            Some(Probe::Ambiguous { signatures: vec![] })
        );
        assert_eq!(
            parse_blkid(
                Some(0),
                "DEVNAME=/dev/loop0\nUUID=ab-cd\nTYPE=xfs\nLABEL=dv-x\n"
            ),
            Some(Probe::Signature {
                fstype: "xfs".into(),
                uuid: Some("ab-cd".into()),
                label: Some("dv-x".into())
            })
        );
        assert_eq!(
            parse_blkid(Some(0), "PTUUID=1\nPTTYPE=gpt\n"),
            Some(Probe::PartitionTable {
                pttype: "gpt".into()
            })
        );
        assert_eq!(parse_blkid(Some(4), ""), None);
    }

    #[test]
    fn a_backup_gpt_alone_is_not_blank() {
        let all =
            parse_wipefs(r#"{"signatures": [{"type": "gpt", "offset": "0x3fffe00"}]}"#).unwrap();
        assert_eq!(
            combine(Probe::Blank, &all),
            Probe::Leftover {
                signatures: vec!["gpt at 0x3fffe00 (a partition table)".into()]
            }
        );
        assert_eq!(combine(Probe::Blank, &[]), Probe::Blank);
        assert_eq!(parse_wipefs("").unwrap(), vec![]);
    }

    #[test]
    fn a_filesystem_with_a_second_signature_is_ambiguous() {
        let xfs = Probe::Signature {
            fstype: "xfs".into(),
            uuid: Some("u".into()),
            label: None,
        };
        assert_eq!(
            combine(xfs.clone(), &[("xfs".into(), "0x0".into())]),
            xfs.clone()
        );
        let both = combine(
            xfs,
            &[
                ("xfs".into(), "0x0".into()),
                ("gpt".into(), "0x3fffe00".into()),
            ],
        );
        assert!(
            matches!(both, Probe::Ambiguous { ref signatures } if signatures.len() == 2),
            "{both:?}"
        );
        let gpt = Probe::PartitionTable {
            pttype: "gpt".into(),
        };
        assert_eq!(
            combine(
                gpt.clone(),
                &[
                    ("gpt".into(), "0x200".into()),
                    ("gpt".into(), "0x3fffe00".into()),
                    ("PMBR".into(), "0x1fe".into())
                ]
            ),
            gpt
        );
    }
}
