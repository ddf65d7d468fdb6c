//! `datavol identify`: what each NVMe disk's controller says it is.

use crate::error::Failure;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(devices: &[PathBuf], json: bool) -> ExitCode {
    let devs = if devices.is_empty() {
        crate::discover::selector::all_nvme()
    } else {
        devices.to_vec()
    };
    let mut out = Vec::new();
    let mut ok = true;
    for d in &devs {
        match crate::discover::nvme::identify(d) {
            Ok(data) => out.push((
                d.display().to_string(),
                crate::discover::nvme::parse_identify(&data),
            )),
            Err(e) => {
                ok = false;
                log::error!(
                    "{}: NVMe Identify Controller failed: {e}; hint: is it an NVMe device?",
                    d.display()
                );
            }
        }
    }
    if json {
        let v: Vec<_> = out
            .iter()
            .map(|(d, c)| serde_json::json!({ "device": d, "controller": c }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        if out.is_empty() && ok {
            println!("no NVMe disks");
        }
        for (d, c) in &out {
            match c {
                Some(crate::discover::nvme::Controller::Ebs { volume_id, bdev }) => println!(
                    "{d}: EBS volume {volume_id}, attached as {}",
                    bdev.as_deref().unwrap_or("(no mapping name)")
                ),
                Some(crate::discover::nvme::Controller::InstanceStore { serial }) => {
                    println!("{d}: instance store, serial {serial}")
                }
                Some(crate::discover::nvme::Controller::Other { vendor_id, model, serial }) => println!(
                    "{d}: not EBS, not instance store: vendor {vendor_id:#06x}, model {model:?}, serial {serial:?}"
                ),
                None => println!("{d}: short Identify data"),
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        Failure::Failed.exit_code()
    }
}
