//! The Prometheus text exposition format (0.0.4), as node_exporter's
//! textfile collector reads it: a HELP and a TYPE line per family, then its
//! samples, label values escaped, no timestamps.

use std::fmt::Write;

/// Every family `render` can write. The alerting rules and the dashboard in
/// packaging/monitoring/ may name only these: `cargo xtask test` reads this
/// list from here, and a test below holds it to what `render` writes.
pub const FAMILIES: &[&str] = &[
    "datavol_volume_ready",
    "datavol_volume_info",
    "datavol_migration_bytes",
    "datavol_migration_duration_seconds",
    "datavol_hidden_entries",
    "datavol_hidden_bytes",
    "datavol_seeds_total",
    "datavol_reseeds_total",
    "datavol_filesystem_grown_total",
    "datavol_sandbox_image_ready",
    "datavol_sandbox_image_restored_total",
    "datavol_sandbox_image_repinned_total",
    "datavol_last_run_timestamp_seconds",
    "datavol_last_run_exit_code",
];

/// What the metrics file says, gathered from the records (see mod.rs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub volumes: Vec<VolumeSample>,
    pub images: Vec<ImageSample>,
    pub runs: Vec<RunSample>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeSample {
    pub volume: String,
    /// ready, refused, timeout, failed; "unknown" before any apply saw it.
    pub state: String,
    pub device: String,
    pub filesystem: String,
    pub mount_point: String,
    /// Bytes and seconds of the migration the volume's marker records.
    pub migration: Option<(u64, f64)>,
    pub seeds: u64,
    pub reseeds: u64,
    pub grows: u64,
    /// Entries and bytes under the volume's directories on the root disk
    /// that its mount hides (the last look before a mount).
    pub hidden_entries: u64,
    pub hidden_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSample {
    pub image: String,
    /// Usable after the last check; None before any check.
    pub ready: Option<bool>,
    pub restored_total: u64,
    pub repinned_total: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSample {
    pub verb: String,
    pub finished_at: u64,
    pub exit_code: u8,
}

/// A sample value: integers as integers, floats in Go's spelling of the
/// special values.
enum Num {
    Int(u64),
    Float(f64),
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Int(n) => write!(f, "{n}"),
            Num::Float(x) if x.is_nan() => f.write_str("NaN"),
            Num::Float(x) if x.is_infinite() => f.write_str(if *x > 0.0 { "+Inf" } else { "-Inf" }),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// `\`, `"` and newlines escaped, as the format requires in label values.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

type Labels<'a> = Vec<(&'static str, &'a str)>;
/// Reads one of a volume's counters.
type Count = fn(&VolumeSample) -> u64;

fn one<'a>(key: &'static str, value: &'a str) -> Labels<'a> {
    vec![(key, value)]
}

/// One family: HELP, TYPE, samples; nothing at all without samples.
fn family<'a>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'a>, Num)>,
) {
    let mut body = String::new();
    for (labels, value) in samples {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
            .collect();
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        let _ = writeln!(body, "{name}{labels} {value}");
    }
    if !body.is_empty() {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{body}");
    }
}

/// The whole file.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    volumes(&mut out, &s.volumes);
    images(&mut out, &s.images);
    let runs = &s.runs;
    family(
        &mut out,
        "datavol_last_run_timestamp_seconds",
        "gauge",
        "When datavol last finished this verb, in seconds since the epoch.",
        runs.iter()
            .map(|r| (vec![("verb", r.verb.as_str())], Num::Int(r.finished_at))),
    );
    family(
        &mut out,
        "datavol_last_run_exit_code",
        "gauge",
        "Exit code of datavol's last run of this verb (0 done, 1 failure, 2 config, 3 refused, 4 device timeout).",
        runs.iter()
            .map(|r| (vec![("verb", r.verb.as_str())], Num::Int(u64::from(r.exit_code)))),
    );
    out
}

fn volumes(out: &mut String, vs: &[VolumeSample]) {
    family(
        out,
        "datavol_volume_ready",
        "gauge",
        "1 when datavol's last apply left the volume mounted as configured, else 0.",
        vs.iter().map(|v| {
            (
                one("volume", &v.volume),
                Num::Int(u64::from(v.state == "ready")),
            )
        }),
    );
    family(
        out,
        "datavol_volume_info",
        "gauge",
        "The volume as datavol's last apply left it; state is ready, refused, timeout, failed or unknown.",
        vs.iter().map(|v| {
            let labels = vec![
                ("volume", v.volume.as_str()),
                ("device", v.device.as_str()),
                ("filesystem", v.filesystem.as_str()),
                ("mount_point", v.mount_point.as_str()),
                ("state", v.state.as_str()),
            ];
            (labels, Num::Int(1))
        }),
    );
    family(
        out,
        "datavol_migration_bytes",
        "gauge",
        "Bytes copied by the migration recorded on the volume.",
        vs.iter().filter_map(|v| {
            v.migration
                .map(|(b, _)| (one("volume", &v.volume), Num::Int(b)))
        }),
    );
    family(
        out,
        "datavol_migration_duration_seconds",
        "gauge",
        "Seconds the copy of the migration recorded on the volume took.",
        vs.iter().filter_map(|v| {
            v.migration
                .map(|(_, s)| (one("volume", &v.volume), Num::Float(s)))
        }),
    );
    let counters: [(&str, &str, Count); 3] = [
        (
            "datavol_seeds_total",
            "Migrations of the volume onto a new filesystem, the first included.",
            |v| v.seeds,
        ),
        (
            "datavol_reseeds_total",
            "Migrations after the first: the volume's disk came back blank.",
            |v| v.reseeds,
        ),
        (
            "datavol_filesystem_grown_total",
            "Times datavol grew the volume's filesystem to fill a larger disk.",
            |v| v.grows,
        ),
    ];
    let gauges: [(&str, &str, Count); 2] = [
        (
            "datavol_hidden_entries",
            "Entries written under the volume's directories on the root disk since datavol copied them, hidden by its mount (0 when none).",
            |v| v.hidden_entries,
        ),
        (
            "datavol_hidden_bytes",
            "Bytes of those entries (0 when none).",
            |v| v.hidden_bytes,
        ),
    ];
    for (name, help, get) in gauges {
        family(
            out,
            name,
            "gauge",
            help,
            vs.iter()
                .map(|v| (one("volume", &v.volume), Num::Int(get(v)))),
        );
    }
    for (name, help, get) in counters {
        family(
            out,
            name,
            "counter",
            help,
            vs.iter()
                .map(|v| (one("volume", &v.volume), Num::Int(get(v)))),
        );
    }
}

fn images(out: &mut String, is: &[ImageSample]) {
    family(
        out,
        "datavol_sandbox_image_ready",
        "gauge",
        "1 when the last check found the sandbox image usable and pinned in containerd (or made it so), else 0.",
        is.iter()
            .filter_map(|i| i.ready.map(|r| (one("image", &i.image), Num::Int(u64::from(r))))),
    );
    family(
        out,
        "datavol_sandbox_image_restored_total",
        "counter",
        "Times datavol imported the sandbox image from its archive because containerd's store lacked it.",
        is.iter()
            .map(|i| (one("image", &i.image), Num::Int(i.restored_total))),
    );
    family(
        out,
        "datavol_sandbox_image_repinned_total",
        "counter",
        "Times datavol pinned the sandbox image again because it had lost its pin.",
        is.iter()
            .map(|i| (one("image", &i.image), Num::Int(i.repinned_total))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("/var/lib/containerd"), "/var/lib/containerd");
    }

    #[test]
    fn special_floats_in_go_spelling() {
        assert_eq!(Num::Float(f64::NAN).to_string(), "NaN");
        assert_eq!(Num::Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Num::Float(1.5).to_string(), "1.5");
        assert_eq!(Num::Float(1e21).to_string(), "1000000000000000000000");
    }

    /// FAMILIES is exactly what a file with every kind of sample holds, in order.
    #[test]
    fn families_lists_every_family_written() {
        let s = Snapshot {
            volumes: vec![VolumeSample {
                volume: "containerd".into(),
                state: "ready".into(),
                migration: Some((1, 0.5)),
                ..Default::default()
            }],
            images: vec![ImageSample {
                image: "pause".into(),
                ready: Some(true),
                ..Default::default()
            }],
            runs: vec![RunSample {
                verb: "apply".into(),
                ..Default::default()
            }],
        };
        let text = render(&s);
        let written: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert_eq!(written, FAMILIES, "{text}");
    }

    #[test]
    fn families_without_samples_are_left_out() {
        assert_eq!(render(&Snapshot::default()), "");
        let s = Snapshot {
            runs: vec![RunSample {
                verb: "apply".into(),
                finished_at: 7,
                exit_code: 3,
            }],
            ..Default::default()
        };
        let text = render(&s);
        assert!(text.contains("# TYPE datavol_last_run_exit_code gauge\ndatavol_last_run_exit_code{verb=\"apply\"} 3\n"), "{text}");
        assert!(!text.contains("datavol_volume"), "{text}");
    }
}
