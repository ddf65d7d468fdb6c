//! The metrics file a guest copied out to its share (`out/datavol-<label>.prom`), read
//! on the host by the Prometheus Python client's parser, the same script the crate's
//! tests use, and checked against what the boot did.
use super::ctx::Ctx;
use super::util::Kv;
use crate::preflight::needs::PYTHON;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

const PARSER: &str = include_str!("../../../crates/datavol/tests/prom_parse.py");
const PAUSE: &str = "localhost/kubernetes/pause:latest";

/// Every family the parser found.
struct Families(Value);

impl Families {
    /// The value of the sample `name` with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .as_array()?
            .iter()
            .flat_map(|f| f["samples"].as_array().into_iter().flatten())
            .find(|s| {
                s["name"] == name
                    && s["labels"].as_object().is_some_and(|l| {
                        l.len() == labels.len()
                            && labels
                                .iter()
                                .all(|(k, v)| l.get(*k) == Some(&Value::from(*v)))
                    })
            })
            .and_then(|s| s["value"].as_f64())
    }

    /// The labels of the first sample of `name`.
    fn labels(&self, name: &str) -> Option<&serde_json::Map<String, Value>> {
        self.0
            .as_array()?
            .iter()
            .flat_map(|f| f["samples"].as_array().into_iter().flatten())
            .find(|s| s["name"] == name)?["labels"]
            .as_object()
    }
}

fn parse(text: &str) -> Result<Families, String> {
    let mut child = Command::new(PYTHON)
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("{PYTHON}: {e}; hint: cargo xtask setup installs python3-prometheus-client")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("writing to the parser: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("the parser: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the Prometheus parser rejects it: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout)
        .map(Families)
        .map_err(|e| format!("the parser's output: {e}"))
}

/// The boot's copy of the metrics file, parsed; a failure when it is missing or
/// does not parse.
fn read(ctx: &mut Ctx, label: &str) -> Option<Families> {
    read_out(ctx, label, &format!("datavol-{label}.prom"))
}

/// A file of the boot's `out/`, parsed as the exposition format.
fn read_out(ctx: &mut Ctx, label: &str, file: &str) -> Option<Families> {
    let path = ctx.path(&format!("{label}-share/out/{file}"));
    let parsed = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|t| parse(&t));
    match parsed {
        Ok(f) => Some(f),
        Err(e) => {
            ctx.fail(format!("{label}: host: metrics file: {e}"));
            None
        }
    }
}

fn expect_value(
    ctx: &mut Ctx,
    label: &str,
    f: &Families,
    name: &str,
    labels: &[(&str, &str)],
    want: f64,
) {
    let got = f.value(name, labels);
    ctx.expect(
        got == Some(want),
        format!("{label}: host: {name}{labels:?} is {got:?}, want {want}"),
    );
}

/// After the migration: the volume ready, the bytes it copied (the canary alone has
/// 24 MiB), apply's run recent by the guest's clock and successful, the image checked.
pub fn after_migration(ctx: &mut Ctx, results: &[Kv]) {
    let Some(f) = read(ctx, "boot1") else { return };
    let c = [("volume", "containerd")];
    expect_value(ctx, "boot1", &f, "datavol_volume_ready", &c, 1.0);
    expect_value(ctx, "boot1", &f, "datavol_seeds_total", &c, 1.0);
    let bytes = f.value("datavol_migration_bytes", &c).unwrap_or_default();
    ctx.expect(
        bytes > f64::from(24u32 << 20),
        format!("boot1: host: datavol_migration_bytes is {bytes}, the canary alone has 24 MiB"),
    );
    let state = f
        .labels("datavol_volume_info")
        .and_then(|l| l.get("state"))
        .cloned();
    ctx.expect(
        state == Some(Value::from("ready")),
        format!("boot1: host: datavol_volume_info state is {state:?}"),
    );
    ran_ok(ctx, "boot1", &f, results, "apply");
    expect_value(
        ctx,
        "boot1",
        &f,
        "datavol_sandbox_image_ready",
        &[("image", PAUSE)],
        1.0,
    );
    if let Some(b) = f.value("datavol_migration_bytes", &c) {
        ctx.notes
            .push(format!("boot1: datavol_migration_bytes {b}"));
    }
}

/// What node_exporter served (the guest's `out/scrape.txt`, node-exporter scenario):
/// the whole page parses, the textfile collector read datavol.prom without an error,
/// and datavol's series carry the seeding run's values.
pub fn scraped(ctx: &mut Ctx, results: &[Kv]) {
    let label = "boot";
    let Some(f) = read_out(ctx, label, "scrape.txt") else {
        return;
    };
    expect_value(ctx, label, &f, "node_textfile_scrape_error", &[], 0.0);
    let c = [("volume", "containerd")];
    expect_value(ctx, label, &f, "datavol_volume_ready", &c, 1.0);
    expect_value(ctx, label, &f, "datavol_seeds_total", &c, 1.0);
    let bytes = f.value("datavol_migration_bytes", &c).unwrap_or_default();
    ctx.expect(
        bytes > f64::from(24u32 << 20),
        format!("{label}: host: scraped datavol_migration_bytes is {bytes}, the canary alone has 24 MiB"),
    );
    ran_ok(ctx, label, &f, results, "apply");
    ctx.notes.push(format!(
        "{label}: node_exporter served datavol_migration_bytes {bytes}"
    ));
}

/// After the restore: counted once, the image ready, the volume still ready.
pub fn after_restore(ctx: &mut Ctx, results: &[Kv]) {
    let Some(f) = read(ctx, "boot2") else { return };
    let img = [("image", PAUSE)];
    expect_value(
        ctx,
        "boot2",
        &f,
        "datavol_sandbox_image_restored_total",
        &img,
        1.0,
    );
    expect_value(ctx, "boot2", &f, "datavol_sandbox_image_ready", &img, 1.0);
    expect_value(
        ctx,
        "boot2",
        &f,
        "datavol_volume_ready",
        &[("volume", "containerd")],
        1.0,
    );
    ran_ok(ctx, "boot2", &f, results, "check-images");
}

/// After the loss without an archive: not ready, still counted once, and (required =
/// false) check-images exited 0.
pub fn after_loss(ctx: &mut Ctx, results: &[Kv]) {
    let Some(f) = read(ctx, "boot3") else { return };
    let img = [("image", PAUSE)];
    expect_value(ctx, "boot3", &f, "datavol_sandbox_image_ready", &img, 0.0);
    expect_value(
        ctx,
        "boot3",
        &f,
        "datavol_sandbox_image_restored_total",
        &img,
        1.0,
    );
    ran_ok(ctx, "boot3", &f, results, "check-images");
}

/// `verb` last ran in this boot (within ten minutes before the checker's clock) and
/// exited 0.
fn ran_ok(ctx: &mut Ctx, label: &str, f: &Families, results: &[Kv], verb: &str) {
    let now = results
        .last()
        .and_then(|r| r.get("guest.now"))
        .and_then(|v| v.parse::<f64>().ok());
    let at = f.value("datavol_last_run_timestamp_seconds", &[("verb", verb)]);
    ctx.expect(
        matches!((at, now), (Some(a), Some(n)) if a <= n && n - a < 600.0),
        format!("{label}: host: datavol_last_run_timestamp_seconds{{verb={verb}}} is {at:?}, the guest's clock said {now:?}"),
    );
    expect_value(
        ctx,
        label,
        f,
        "datavol_last_run_exit_code",
        &[("verb", verb)],
        0.0,
    );
}
