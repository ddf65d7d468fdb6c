//! MESSAGE_IDs of the lines that end a run or a check. The package ships
//! packaging/datavol.catalog, which explains each id to `journalctl -x`:
//! what happened and what to do. The ids are fixed: never change one.

use crate::error::Failure;
use log::Level;

pub const READY: &str = "5e1a9d2ed68c4d6e923a65614012caeb";
pub const REFUSED: &str = "6cf64220e070422eaf5f45555d781662";
pub const TIMEOUT: &str = "daf6ccdeba30493284d9eafc003769ee";
pub const FAILED: &str = "c94f0e76a6484164a262f66660a21270";
pub const CONFIG: &str = "370ff81f92084ea7ac9ef5b5c7d64ec8";
pub const IMAGE_RESTORED: &str = "a0a18eac5c5542c9805795d1c7d96f36";
pub const IMAGE_MISSING: &str = "904e7f648524440aa1bcb3a62f8201c4";
pub const HIDDEN: &str = "3b82d644ee0a4ae8b039bc0f8bc04bab";

/// Every id, with the name tests and docs use for it.
pub const ALL: &[(&str, &str)] = &[
    ("ready", READY),
    ("refused", REFUSED),
    ("timeout", TIMEOUT),
    ("failed", FAILED),
    ("config", CONFIG),
    ("image-restored", IMAGE_RESTORED),
    ("image-missing", IMAGE_MISSING),
    ("hidden-content", HIDDEN),
];

pub fn for_failure(f: Failure) -> &'static str {
    match f {
        Failure::Config => CONFIG,
        Failure::Refused => REFUSED,
        Failure::DeviceTimeout => TIMEOUT,
        Failure::Failed => FAILED,
    }
}

/// A volume's last line (stage `result`), carrying the id `journalctl -x`
/// explains.
pub fn volume_result(level: Level, id: &str, volume: &str, device: &str, msg: &str) {
    log::log!(
        level,
        datavol_volume = volume,
        datavol_device = device,
        datavol_stage = "result",
        message_id = id;
        "{msg}"
    );
}

/// Content a mount over a directory hides (stage `hidden`), with its id;
/// before the mount, or before the refusal to mount.
pub fn hidden(volume: &str, device: &str, msg: &str) {
    log::log!(
        Level::Warn,
        datavol_volume = volume,
        datavol_device = device,
        datavol_stage = "hidden",
        message_id = HIDDEN;
        "{msg}"
    );
}

/// A sandbox image's verdict (stage `sandbox`), with its id.
pub fn image_result(level: Level, id: &str, image: &str, msg: &str) {
    log::log!(
        level,
        datavol_image = image,
        datavol_stage = "sandbox",
        message_id = id;
        "{msg}"
    );
}

#[cfg(test)]
mod tests {
    use super::ALL;

    const CATALOG: &str = include_str!("../../../packaging/datavol.catalog");

    /// The catalog explains exactly these ids, each once, each with a
    /// subject and text; journalctl's own parser checks the syntax in
    /// tests/signals.rs.
    #[test]
    fn catalog_explains_every_id() {
        let headers: Vec<&str> = CATALOG
            .lines()
            .filter_map(|l| l.strip_prefix("-- "))
            .collect();
        let mut ids: Vec<&str> = ALL.iter().map(|(_, id)| *id).collect();
        let mut listed = headers.clone();
        ids.sort();
        listed.sort();
        assert_eq!(listed, ids, "packaging/datavol.catalog's ids");
        for (name, id) in ALL {
            assert!(
                id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}"
            );
            let entry = CATALOG
                .split("\n-- ")
                .find(|e| e.trim_start_matches("-- ").starts_with(id))
                .unwrap_or_default();
            assert!(entry.contains("\nSubject: "), "{name}: no subject");
            assert!(
                entry.contains("Documentation: man:datavol"),
                "{name}: no documentation link"
            );
            assert!(entry.lines().count() > 8, "{name}: too short:\n{entry}");
        }
    }
}
