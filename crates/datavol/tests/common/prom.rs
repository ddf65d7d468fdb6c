//! The reference parser of the Prometheus text format: the official Python
//! client's (Debian's python3-prometheus-client), run on the text; its
//! families come back as JSON.

use std::io::Write;
use std::process::{Command, Stdio};

/// Debian's interpreter, which sees Debian's python3-prometheus-client
/// (a python3 earlier on PATH, such as pyenv's, would not).
pub const PYTHON: &str = "/usr/bin/python3";

const SCRIPT: &str = include_str!("../prom_parse.py");

/// Every family the parser finds in `text`; panics, with the parser's own
/// message, when it rejects the text.
pub fn parse(text: &str) -> serde_json::Value {
    let mut child = Command::new(PYTHON)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{PYTHON}: {e}; hint: apt-get install python3 python3-prometheus-client (cargo xtask setup)")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to the parser");
    let out = child.wait_with_output().expect("run the parser");
    assert!(
        out.status.success(),
        "the Prometheus parser rejected the text: {}\nhint: if prometheus_client is missing, apt-get install python3-prometheus-client\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parser output is JSON")
}

/// The value of the sample `name` with exactly `labels`, if present.
pub fn value(families: &serde_json::Value, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    families
        .as_array()?
        .iter()
        .flat_map(|f| f["samples"].as_array().into_iter().flatten())
        .find(|s| s["name"] == name && s["labels"].as_object() == Some(&want))
        .and_then(|s| s["value"].as_f64())
}

/// The family `name` (counters without their `_total`, as the parser names them).
pub fn family<'a>(families: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    families.as_array()?.iter().find(|f| f["name"] == name)
}
