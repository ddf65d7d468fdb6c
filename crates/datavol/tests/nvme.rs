//! Identify Controller data laid out as the NVMe spec and EC2 put it:
//! VID at byte 0 (little endian), serial 4..24, model 24..64 (ASCII, space
//! padded), and for EBS the mapping name in the first 32 bytes of the
//! vendor-specific area at 3072.

use datavol::discover::nvme::{parse_identify, Controller, IDENTIFY_LEN};
use datavol::discover::selector::{self, Selector};

fn pad(dst: &mut [u8], s: &str, fill: u8) {
    dst.fill(fill);
    dst[..s.len()].copy_from_slice(s.as_bytes());
}

fn identify(vid: u16, serial: &str, model: &str, vs_bdev: Option<&str>) -> Vec<u8> {
    let mut d = vec![0u8; IDENTIFY_LEN];
    d[0..2].copy_from_slice(&vid.to_le_bytes());
    d[2..4].copy_from_slice(&vid.to_le_bytes()); // SSVID
    pad(&mut d[4..24], serial, b' ');
    pad(&mut d[24..64], model, b' ');
    pad(&mut d[64..72], "1.0", b' '); // firmware revision
    if let Some(b) = vs_bdev {
        pad(&mut d[3072..3104], b, b' ');
    }
    d
}

#[test]
fn ebs_with_short_name() {
    let d = identify(
        0x1d0f,
        "vol0123456789abcdef0",
        "Amazon Elastic Block Store",
        Some("xvdb"),
    );
    assert_eq!(
        parse_identify(&d),
        Some(Controller::Ebs {
            volume_id: "vol-0123456789abcdef0".into(),
            bdev: Some("xvdb".into())
        })
    );
}

#[test]
fn ebs_with_dev_prefix_and_padding() {
    let d = identify(
        0x1d0f,
        "vol0abc",
        "Amazon Elastic Block Store",
        Some("/dev/xvdb"),
    );
    let c = parse_identify(&d).unwrap();
    assert_eq!(
        c,
        Controller::Ebs {
            volume_id: "vol-0abc".into(),
            bdev: Some("xvdb".into())
        }
    );
    assert!(selector::matches_controller(
        &Selector::Ebs("xvdb".into()),
        &c
    ));
    assert!(selector::matches_controller(
        &Selector::Ebs("sdb".into()),
        &c
    ));
    assert!(!selector::matches_controller(
        &Selector::Ebs("xvdc".into()),
        &c
    ));
    assert!(selector::matches_controller(
        &Selector::EbsVolume("vol-0abc".into()),
        &c
    ));
    assert!(!selector::matches_controller(&Selector::InstanceStore, &c));
}

#[test]
fn ebs_root_volume_with_nul_padding() {
    let mut d = identify(0x1d0f, "vol0root", "Amazon Elastic Block Store", None);
    d[3072..3081].copy_from_slice(b"/dev/xvda");
    let c = parse_identify(&d).unwrap();
    assert_eq!(
        c,
        Controller::Ebs {
            volume_id: "vol-0root".into(),
            bdev: Some("xvda".into())
        }
    );
}

#[test]
fn instance_store() {
    let d = identify(
        0x1d0f,
        "AWS1A2B3C4D5E6F7G8H",
        "Amazon EC2 NVMe Instance Storage",
        None,
    );
    let c = parse_identify(&d).unwrap();
    assert_eq!(
        c,
        Controller::InstanceStore {
            serial: "AWS1A2B3C4D5E6F7G8H".into()
        }
    );
    assert!(selector::matches_controller(&Selector::InstanceStore, &c));
    assert!(!selector::matches_controller(
        &Selector::Ebs("xvdb".into()),
        &c
    ));
}

#[test]
fn non_amazon_controller_is_neither() {
    // What QEMU's emulated controller reports (vendor 0x1b36, Red Hat).
    let d = identify(0x1b36, "data0", "QEMU NVMe Ctrl", Some("xvdb"));
    let c = parse_identify(&d).unwrap();
    assert!(
        matches!(
            c,
            Controller::Other {
                vendor_id: 0x1b36,
                ..
            }
        ),
        "{c:?}"
    );
    for s in [
        Selector::Ebs("xvdb".into()),
        Selector::EbsVolume("vol-data0".into()),
        Selector::InstanceStore,
    ] {
        assert!(
            !selector::matches_controller(&s, &c),
            "{s} matched a QEMU disk"
        );
    }
    // An Amazon vendor id with another model is not guessed at either.
    let d = identify(0x1d0f, "x", "Amazon Something New", Some("xvdb"));
    assert!(matches!(parse_identify(&d), Some(Controller::Other { .. })));
}

#[test]
fn short_data_is_refused() {
    assert_eq!(parse_identify(&[0u8; 100]), None);
}

#[test]
fn selector_syntax() {
    assert_eq!(
        selector::parse("ebs:xvdb"),
        Ok(Selector::Ebs("xvdb".into()))
    );
    assert_eq!(
        selector::parse("ebs:/dev/sdf"),
        Ok(Selector::Ebs("sdf".into()))
    );
    assert_eq!(
        selector::parse("ebs-volume:vol-0abc"),
        Ok(Selector::EbsVolume("vol-0abc".into()))
    );
    assert_eq!(
        selector::parse("ebs-volume:vol0abc"),
        Ok(Selector::EbsVolume("vol-0abc".into()))
    );
    assert_eq!(
        selector::parse("uuid:ABC-1"),
        Ok(Selector::Uuid("abc-1".into()))
    );
    assert_eq!(
        selector::parse("label:cache"),
        Ok(Selector::Label("cache".into()))
    );
    assert_eq!(
        selector::parse("instance-store"),
        Ok(Selector::InstanceStore)
    );
    assert!(matches!(
        selector::parse("/dev/disk/by-id/x"),
        Ok(Selector::Path(_))
    ));
    for bad in [
        "ebs:",
        "ebs:xv db",
        "xvdb",
        "/dev/../etc/passwd",
        "uuid:",
        "ebs-volume:abc",
        "nvme:1",
    ] {
        assert!(selector::parse(bad).is_err(), "{bad} accepted");
    }
}
