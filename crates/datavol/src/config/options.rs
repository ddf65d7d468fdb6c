//! Mount options: only options of the filesystem itself. Anything that
//! changes what or how datavol mounts, or that only fstab and mount(8)
//! understand, is refused with what to do instead.

use super::paths::Refusal;

const LOOP: &str =
    "it mounts a file or part of a disk through a loop device; name the disk in `device` instead";
const FSTAB: &str = "it is an fstab option that does nothing in a .mount unit datavol starts itself; remove it (required = false already lets the node boot without the volume)";
const USERS: &str = "it lets ordinary users mount the volume; remove it";
const PROPAGATION: &str =
    "datavol sets mount propagation itself (private for a volume with directories); remove it";
const WHAT: &str = "datavol mounts the device itself, read-write; remove it";

/// Option names (the part before any "=") refused, and the hint for each.
const REFUSED: &[(&str, &str)] = &[
    ("remount", WHAT),
    ("bind", WHAT),
    ("rbind", WHAT),
    ("move", WHAT),
    (
        "ro",
        "datavol writes its marker and the copy onto the volume; remove it",
    ),
    ("loop", LOOP),
    ("offset", LOOP),
    ("sizelimit", LOOP),
    ("user", USERS),
    ("users", USERS),
    ("owner", USERS),
    ("group", USERS),
    ("auto", FSTAB),
    ("noauto", FSTAB),
    ("nofail", FSTAB),
    ("_netdev", FSTAB),
    ("comment", FSTAB),
    ("helper", FSTAB),
    ("uhelper", FSTAB),
    ("shared", PROPAGATION),
    ("rshared", PROPAGATION),
    ("private", PROPAGATION),
    ("rprivate", PROPAGATION),
    ("slave", PROPAGATION),
    ("rslave", PROPAGATION),
    ("unbindable", PROPAGATION),
    ("runbindable", PROPAGATION),
];

/// Why option `s` is refused, if it is.
pub fn check(s: &str) -> Result<(), Refusal> {
    let refuse = |what: &str, hint: &str| {
        Err(Refusal {
            what: format!("option {s:?} {what}"),
            hint: hint.to_string(),
        })
    };
    if s.is_empty() {
        return refuse("is empty", "remove the empty element");
    }
    let allowed = |b: u8| {
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'.' | b':' | b'/' | b'+')
    };
    if !s.bytes().all(allowed) {
        return refuse(
            "may only contain A-Z a-z 0-9 _ - = . : / +",
            "one option per list element, no commas or spaces: options = [\"noatime\", \"prjquota\"]",
        );
    }
    if s.starts_with("x-") || s.starts_with("X-") {
        return refuse(
            "is an fstab-only option that does nothing in a .mount unit",
            "remove it; datavol orders and starts the unit itself",
        );
    }
    let name = s.split_once('=').map_or(s, |(n, _)| n);
    match REFUSED.iter().find(|(n, _)| *n == name) {
        Some((_, hint)) => refuse(
            "changes what datavol mounts or is not a filesystem option",
            hint,
        ),
        None => Ok(()),
    }
}
