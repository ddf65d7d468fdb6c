//! Which systemd unit this process runs in, read from /proc/self/cgroup.
//!
//! journald attributes a native-protocol message to a unit by reading the
//! sender's cgroup when the message arrives; a process that exits at once
//! is often gone by then. The logger therefore names the unit itself in
//! OBJECT_SYSTEMD_UNIT, which `journalctl -u` matches for root's messages.

use std::path::Path;

/// Unit types a process can run in (slices only group them).
const PROCESS_UNITS: &[&str] = &[".service", ".scope", ".socket", ".mount", ".swap"];

/// The unit this process runs in, if systemd placed it in one.
pub fn own_unit() -> Option<String> {
    let text = std::fs::read_to_string(Path::new("/proc/self/cgroup")).ok()?;
    unit_from_cgroup(&text)
}

/// The unit named by a /proc/PID/cgroup text: the unified hierarchy's
/// `0::` line, else the v1 `name=systemd` line; its first path component
/// that is not a slice (deeper ones are the unit's own sub-cgroups).
pub fn unit_from_cgroup(text: &str) -> Option<String> {
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .or_else(|| {
            text.lines()
                .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p))
        })?;
    let first = path
        .split('/')
        .filter(|c| !c.is_empty())
        .find(|c| !c.ends_with(".slice"))?;
    // systemd prefixes a cgroup name with "_" when it could clash with the
    // kernel's own files.
    let name = first.strip_prefix('_').unwrap_or(first);
    valid_unit(name).then(|| name.to_string())
}

fn valid_unit(name: &str) -> bool {
    name.len() <= 255
        && PROCESS_UNITS
            .iter()
            .any(|s| name.len() > s.len() && name.ends_with(s))
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.\\@".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::unit_from_cgroup;

    #[test]
    fn units_from_cgroup_lines() {
        let cases = [
            ("0::/system.slice/datavol.service\n", Some("datavol.service")),
            // check-images, run by containerd's drop-in as ExecStartPost.
            ("0::/system.slice/containerd.service\n", Some("containerd.service")),
            (
                "0::/system.slice/system-datavol\\x2dprewarm.slice/datavol-prewarm@containerd.service\n",
                Some("datavol-prewarm@containerd.service"),
            ),
            // A delegated unit's own sub-cgroup still names the unit.
            ("0::/system.slice/containerd.service/payload\n", Some("containerd.service")),
            ("0::/user.slice/user-0.slice/session-4.scope\n", Some("session-4.scope")),
            ("0::/init.scope\n", Some("init.scope")),
            ("0::/system.slice/_cgroup.service\n", Some("cgroup.service")),
            // cgroup v1 (hybrid): the name=systemd hierarchy.
            (
                "12:memory:/x\n1:name=systemd:/system.slice/datavol.service\n",
                Some("datavol.service"),
            ),
            ("0::/\n", None),
            ("0::/system.slice\n", None),
            // A container's own hierarchy: no unit at all.
            ("0::/docker/0123abcd\n", None),
            ("", None),
            ("9:name=systemd:/\n0::/\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(unit_from_cgroup(text).as_deref(), want, "{text:?}");
        }
    }
}
