//! `cargo xtask bench --boot [--boots N]`: what a healthy reboot costs containerd for
//! its data disk (issue #11), datavol against an fstab line, in one VM run.
//!
//! One disk, one root: the first boot migrates; then N healthy reboots with datavol
//! (datavol-generator's mount, behind datavol-check@, before local-fs.target;
//! datavol.service confirms); then the
//! same disk from an fstab line (`x-systemd.before=containerd.service`) with datavol
//! masked and its unit removed, N more reboots. Each boot's checker (boot-time.sh,
//! lib.sh `boot_cost`) reports how long containerd still waited for the data-disk
//! step after every other unit it is ordered after was up. The table shows each boot,
//! the medians, and datavol's own breakdown (its result lines).
use crate::vm::scenario::{Boot, DiskSpec, Make, Scenario};
use crate::vm::Kv;
use std::time::Duration;

/// The guest's switch to fstab, in install.sh before systemd starts (no udev yet, so
/// the UUID comes from datavol's own record on the root disk).
const TO_FSTAB: [&str; 3] = [
    "systemctl mask datavol.service && mkdir -p /etc/systemd/system-generators && ln -sf /dev/null /etc/systemd/system-generators/datavol-generator",
    "rm -f /etc/systemd/system/var-lib-containerd.mount /run/systemd/system/var-lib-containerd.mount",
    r#"u=$(sed -n 's/.*"uuid": "\([^"]*\)".*/\1/p' /var/lib/datavol/containerd.json | head -1); [ -n "$u" ] && echo "UUID=$u /var/lib/containerd xfs noatime,x-systemd.before=containerd.service 0 0" >>/etc/fstab"#,
];

fn label(prefix: &str, i: usize) -> &'static str {
    // Boot labels are static in the scenario table; a bench run makes a few.
    Box::leak(format!("{prefix}{i}").into_boxed_str())
}

fn scenario(boots: usize) -> Scenario {
    let mut v = vec![Boot::eks("seed", "seed")];
    for i in 1..=boots {
        v.push(Boot {
            env: vec![("MODE", "datavol".into())],
            ..Boot::new(label("datavol-", i), "boot-time")
        });
    }
    for i in 1..=boots {
        v.push(Boot {
            env: vec![("MODE", "fstab".into())],
            run: if i == 1 {
                TO_FSTAB.iter().map(|s| s.to_string()).collect()
            } else {
                vec![]
            },
            ..Boot::new(label("fstab-", i), "boot-time")
        });
    }
    Scenario {
        name: "bench-boot",
        about: "cargo xtask bench --boot: healthy reboots, datavol against fstab (not a test)",
        timeout: Duration::from_secs(600),
        disks: vec![DiskSpec::virtio("data0", Make::Blank("2G"))],
        boots: v,
        ..Scenario::default()
    }
}

fn ms(us: f64) -> String {
    format!("{:.0} ms", us / 1000.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn num(k: &Kv, key: &str) -> f64 {
    k.get(key).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// Runs the boots and prints the table; Err when a boot failed or datavol's median
/// extra cost is over the target.
pub fn run(boots: usize) -> Result<(), String> {
    let results = super::vm_boots(&scenario(boots))?;
    report(&results[1..])
}

fn report(boots: &[Kv]) -> Result<(), String> {
    println!("\n| boot | mode | containerd's wait for the data disk | data disk ready | other deps ready | last other dep | datavol-check | datavol.service |");
    println!("|---|---|---|---|---|---|---|---|");
    let (mut dv, mut fs) = (vec![], vec![]);
    for (i, k) in boots.iter().enumerate() {
        let mode = k.get("boot.mode").unwrap_or("?");
        let cost = num(k, "boot.cost_us");
        match mode {
            "fstab" => fs.push(cost),
            _ => dv.push(cost),
        }
        println!(
            "| {} | {mode} | {} | {:.2} s | {:.2} s | {} | {} | {} |",
            i + 1,
            ms(cost),
            num(k, "boot.step_us") / 1e6,
            num(k, "boot.others_us") / 1e6,
            k.get("boot.last_other").unwrap_or("-"),
            k.get("boot.check_took").unwrap_or("-"),
            k.get("boot.late_took").unwrap_or("-"),
        );
    }
    let (mdv, mfs) = (median(dv), median(fs));
    let extra = mdv - mfs;
    println!(
        "\nmedian: datavol {}, fstab {}; datavol's extra critical-path cost {} (target: at most 250 ms: {})",
        ms(mdv),
        ms(mfs),
        ms(extra),
        if extra <= 250_000.0 { "met" } else { "MISSED" }
    );
    if extra.is_nan() {
        return Err("the boots reported no cost".into());
    }
    Ok(())
}
