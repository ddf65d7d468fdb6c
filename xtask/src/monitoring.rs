//! `cargo xtask monitoring` (and a step of `cargo xtask test`, `--no-vm`
//! too): what packaging/monitoring/ ships is checked against datavol
//! itself, in seconds.
//!
//! - `promtool check rules` on the alerting rules, `promtool test rules` on
//!   their unit tests; every alert fires in some test case and is absent in
//!   another; each has a severity, a summary, a description and a runbook
//!   that names a section docs/troubleshooting.md has;
//! - the dashboard is JSON with a datasource variable, every query names a
//!   datavol series and parses (`promtool check rules` on the queries as
//!   recording rules, template variables filled in);
//! - every `datavol_*` name in the three files is a family datavol writes:
//!   `FAMILIES` in crates/datavol/src/metrics/render.rs, which a test there
//!   holds to what `render` writes. Of node_exporter's own series the
//!   queries may use only [`NODE_SERIES`].

use crate::util::{self, workspace_root};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

pub const RULES: &str = "packaging/monitoring/datavol.rules.yml";
pub const RULES_TEST: &str = "packaging/monitoring/datavol.rules.test.yml";
pub const DASHBOARD: &str = "packaging/monitoring/datavol-dashboard.json";
const RENDER: &str = "crates/datavol/src/metrics/render.rs";
const TROUBLESHOOTING: &str = "docs/troubleshooting.md";

/// node_exporter's series the queries may join with: it is the exporter
/// that serves datavol.prom, so they share the target's labels.
const NODE_SERIES: &[&str] = &["node_boot_time_seconds"];

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!(
            "monitoring: unknown argument {a:?}; usage: cargo xtask monitoring"
        ));
    }
    crate::preflight::check(
        "cargo xtask monitoring",
        &[crate::preflight::needs::MONITORING],
    )?;
    check()
}

fn read(rel: &str) -> Result<String, String> {
    let p = workspace_root().join(rel);
    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
}

fn promtool(args: &[&str]) -> Result<String, String> {
    util::run(
        Command::new("promtool")
            .args(args)
            .current_dir(workspace_root()),
    )
}

pub fn check() -> Result<(), String> {
    let families = families(&read(RENDER)?)?;
    let rules = read(RULES)?;
    let tests = read(RULES_TEST)?;
    let dashboard = read(DASHBOARD)?;

    let checked = promtool(&["check", "rules", RULES])?;
    let exprs = rule_exprs(&rules);
    // The extractor below is no YAML parser: promtool's count keeps it honest.
    if !checked.contains(&format!("SUCCESS: {} rules found", exprs.len())) {
        return Err(format!(
            "{RULES}: found {} expr: keys, but promtool says:\n{checked}hint: write each expr as `expr: QUERY` or an indented `expr: |` block",
            exprs.len()
        ));
    }
    promtool(&["test", "rules", RULES_TEST])?;
    let alerts = alert_names(&rules);
    alerts_complete(&rules, alerts.len())?;
    alerts_tested(&alerts, &tests)?;
    runbooks(&rules, &read(TROUBLESHOOTING)?)?;

    let queries = dashboard_queries(&dashboard)?;
    let n_queries = queries.len();
    for (what, q) in &queries {
        if names_in(q, "datavol_").is_empty() {
            return Err(format!("{DASHBOARD}: {what} names no datavol series: {q}"));
        }
    }
    queries_parse(&queries)?;

    for (file, text) in [
        (RULES, &rules),
        (RULES_TEST, &tests),
        (DASHBOARD, &dashboard),
    ] {
        known_families(file, text, &families)?;
    }
    for (what, q) in exprs
        .iter()
        .map(|e| (RULES.to_string(), e.clone()))
        .chain(queries)
    {
        for n in names_in(&q, "node_") {
            if !NODE_SERIES.contains(&n.as_str()) {
                return Err(format!(
                    "{what}: {n} is not a series the rules may use (node_exporter's: {}); hint: add it to NODE_SERIES in xtask/src/monitoring.rs if node_exporter's default collectors export it",
                    NODE_SERIES.join(", ")
                ));
            }
        }
    }
    eprintln!(
        "xtask monitoring: {} alerts checked and unit-tested by promtool, {} dashboard queries parse; every series they name is one of datavol's {} families or node_exporter's",
        alerts.len(),
        n_queries,
        families.len()
    );
    Ok(())
}

/// The quoted names of `pub const FAMILIES` in render.rs.
fn families(render: &str) -> Result<BTreeSet<String>, String> {
    let start = render
        .find("pub const FAMILIES")
        .ok_or_else(|| format!("{RENDER} has no `pub const FAMILIES`; hint: the monitoring checks read datavol's series from it"))?;
    let body = &render[start..];
    let body = &body[..body.find("];").unwrap_or(body.len())];
    let names: BTreeSet<String> = body
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    if names.is_empty() || names.iter().any(|n| !n.starts_with("datavol_")) {
        return Err(format!(
            "{RENDER}: FAMILIES should list datavol_* names, found {names:?}"
        ));
    }
    Ok(names)
}

/// The metric-name-like tokens of `text` that start with `prefix`.
fn names_in(text: &str, prefix: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn known_families(file: &str, text: &str, families: &BTreeSet<String>) -> Result<(), String> {
    let unknown: Vec<String> = names_in(text, "datavol_")
        .into_iter()
        .filter(|n| !families.contains(n))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{file} names {}, which datavol does not write (its families: {}); hint: use a name from FAMILIES in {RENDER}",
        unknown.join(", "),
        families.iter().cloned().collect::<Vec<_>>().join(", ")
    ))
}

/// Each `expr:` of the rules file: inline, or the block indented below it.
fn rule_exprs(rules: &str) -> Vec<String> {
    let lines: Vec<&str> = rules.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(value) = l.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if !value.starts_with(['|', '>']) {
            out.push(value.to_string());
            continue;
        }
        let indent = l.len() - l.trim_start().len();
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|b| b.trim().is_empty() || b.len() - b.trim_start().len() > indent)
            .map(|b| b.trim())
            .collect();
        out.push(block.join("\n").trim().to_string());
    }
    out
}

fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert:"))
        .map(|n| n.trim().to_string())
        .collect()
}

/// Every alert carries the labels and annotations an operator reads.
fn alerts_complete(rules: &str, alerts: usize) -> Result<(), String> {
    for key in ["severity:", "summary:", "description:", "hint:", "runbook:"] {
        let n = rules
            .lines()
            .filter(|l| l.trim_start().starts_with(key))
            .count();
        if n != alerts {
            return Err(format!(
                "{RULES}: {alerts} alerts but {n} `{key}` lines; hint: every alert needs a severity label and summary, description, hint and runbook annotations"
            ));
        }
    }
    Ok(())
}

/// Each alert fires in some test case, and is expected absent in another.
fn alerts_tested(alerts: &[String], tests: &str) -> Result<(), String> {
    let cases: Vec<&str> = tests.split("- eval_time:").skip(1).collect();
    for a in alerts {
        let of_alert: Vec<&str> = cases
            .iter()
            .copied()
            .filter(|c| c.lines().any(|l| l.trim() == format!("alertname: {a}")))
            .collect();
        let fires = of_alert.iter().any(|c| c.contains("exp_labels:"));
        let quiet = of_alert.iter().any(|c| c.contains("exp_alerts: []"));
        if !fires || !quiet {
            return Err(format!(
                "{RULES_TEST}: alert {a} has no test case where it {}; hint: add an alert_rule_test for it",
                if fires { "is absent (exp_alerts: [])" } else { "fires (exp_labels)" }
            ));
        }
    }
    Ok(())
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces
/// to dashes.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn runbooks(rules: &str, doc: &str) -> Result<(), String> {
    let anchors: BTreeSet<String> = doc
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect();
    for l in rules.lines() {
        let Some(v) = l.trim_start().strip_prefix("runbook:") else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        let anchor = v
            .strip_prefix(&format!("{TROUBLESHOOTING}#"))
            .ok_or_else(|| format!("{RULES}: runbook {v:?} should be {TROUBLESHOOTING}#SECTION"))?;
        if !anchors.contains(anchor) {
            return Err(format!(
                "{RULES}: runbook {v:?}: {TROUBLESHOOTING} has no such section (its sections: {}); hint: point it at a heading there",
                anchors.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(())
}

fn panels(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(panels(p));
    }
    out
}

/// The dashboard's structure, and its queries (panel targets and template
/// variables), each with where it is.
fn dashboard_queries(text: &str) -> Result<Vec<(String, String)>, String> {
    let d: Value =
        serde_json::from_str(text).map_err(|e| format!("{DASHBOARD} is not valid JSON: {e}"))?;
    if !d["schemaVersion"].is_u64() || !d["uid"].is_string() || !d["title"].is_string() {
        return Err(format!(
            "{DASHBOARD}: a Grafana dashboard has a schemaVersion, a uid and a title"
        ));
    }
    let vars = d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !vars
        .iter()
        .any(|v| v["type"] == "datasource" && v["name"] == "datasource")
    {
        return Err(format!(
            "{DASHBOARD}: no `datasource` variable of type datasource; hint: panels pick Prometheus through ${{datasource}}"
        ));
    }
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for p in panels(&d) {
        let title = p["title"].as_str().unwrap_or("?");
        if !ids.insert(p["id"].as_u64()) {
            return Err(format!(
                "{DASHBOARD}: panel {title:?} repeats id {}",
                p["id"]
            ));
        }
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() || p["datasource"]["uid"] != "${datasource}" {
            return Err(format!(
                "{DASHBOARD}: panel {title:?} needs targets and the datasource ${{datasource}}"
            ));
        }
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_default();
            if expr.trim().is_empty() {
                return Err(format!(
                    "{DASHBOARD}: panel {title:?} has a target without expr"
                ));
            }
            out.push((format!("panel {title:?}"), expr.to_string()));
        }
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        let q = v["definition"].as_str().unwrap_or_default();
        out.push((format!("variable {}", v["name"]), q.to_string()));
    }
    Ok(out)
}

/// As recording rules in a scratch file, for promtool's parser: template
/// variables filled in, `label_values(M, L)` as M.
fn queries_parse(queries: &[(String, String)]) -> Result<(), String> {
    let mut yml = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, q)) in queries.iter().enumerate() {
        let mut q = q.clone();
        for (var, value) in [
            ("$__rate_interval", "5m"),
            ("$__interval", "1m"),
            ("$__range", "1d"),
            ("$job", ".*"),
            ("$instance", ".*"),
            ("$volume", ".*"),
        ] {
            q = q.replace(var, value);
        }
        if let Some(inner) = q.strip_prefix("label_values(") {
            q = inner.rsplit_once(',').map_or(inner, |(m, _)| m).to_string();
        }
        yml.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::Value::String(q)
        ));
    }
    let dir = std::env::temp_dir().join(format!("datavol-monitoring-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join("dashboard-queries.yml");
    let result = std::fs::write(&file, &yml)
        .map_err(|e| format!("{}: {e}", file.display()))
        .and_then(|()| util::run(Command::new("promtool").args(["check", "rules"]).arg(&file)));
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|_| ()).map_err(|e| {
        // promtool names the rule: say which panel's query that is.
        let which = e
            .split("dashboard:query_")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| queries.get(i))
            .map_or(String::new(), |(what, q)| format!(" ({what}: {q})"));
        format!("{DASHBOARD}: a query does not parse{which}: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_families_from_the_renderer() {
        let f = families(&read(RENDER).unwrap()).unwrap();
        assert!(f.contains("datavol_volume_ready"), "{f:?}");
        assert!(f.contains("datavol_last_run_exit_code"), "{f:?}");
        assert!(families("fn x() {}").is_err());
    }

    #[test]
    fn names_stop_at_punctuation() {
        let n = names_in(
            r#"sum(datavol_a{x="y"}) / datavol_b_total[5m] datavol:rec datavol.prom DATAVOL_STAGE"#,
            "datavol_",
        );
        assert_eq!(
            n.into_iter().collect::<Vec<_>>(),
            ["datavol_a", "datavol_b_total"]
        );
    }

    #[test]
    fn exprs_inline_and_in_blocks() {
        let y = "      - alert: A\n        expr: up == 0\n        for: 5m\n      - alert: B\n        expr: |\n          a\n            or b\n\n        for: 1m\n";
        assert_eq!(rule_exprs(y), ["up == 0", "a\nor b"]);
    }

    #[test]
    fn github_anchors() {
        assert_eq!(
            slug(" 3. Refusals, and how to clear each"),
            "3-refusals-and-how-to-clear-each"
        );
        assert_eq!(
            slug(" The sandbox image: restored, or missing"),
            "the-sandbox-image-restored-or-missing"
        );
    }

    #[test]
    fn every_alert_needs_a_firing_and_a_quiet_case() {
        let t = "- eval_time: 1m\n  alertname: A\n  exp_alerts:\n    - exp_labels: {}\n- eval_time: 2m\n  alertname: A\n  exp_alerts: []\n";
        assert!(alerts_tested(&["A".into()], t).is_ok());
        let e = alerts_tested(&["B".into()], t).unwrap_err();
        assert!(e.contains("alert B") && e.contains("fires"), "{e}");
    }
}
