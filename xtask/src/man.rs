//! `cargo xtask man [--check]`: builds the man pages datavol(8) and
//! datavol.toml(5) from their markdown sources in docs/ into target/man/.
//!
//! `--check` also fails when a page is stale: a subcommand, flag, positional
//! argument (in the SYNOPSIS) or exit code of `datavol --help` (and each
//! subcommand's help) missing from datavol(8), or documented there but gone
//! from the binary; a config key of the parser (the key tables in
//! crates/datavol/src/config/keys.rs) missing from datavol.toml(5) or the
//! other way round; or a page that `man` renders with warnings.
//!
//! The markdown is a small subset, converted here (no pandoc needed):
//! `# SECTION`, `## Subsection`, paragraphs, a term line followed by lines
//! starting `:   ` (a tagged paragraph, continued by lines indented 4 spaces),
//! `- ` bullets, fenced code blocks, `code`, **bold**, *italic*, `\*` for a
//! literal star, and `<!-- comments -->`.

use crate::util::{self, cargo, target_dir, workspace_root};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// (page name, section, source under the workspace root, title of the section)
pub const PAGES: [(&str, &str, &str, &str); 2] = [
    ("datavol", "8", "docs/datavol.8.md", "System Administration"),
    (
        "datavol.toml",
        "5",
        "docs/datavol.toml.5.md",
        "File Formats",
    ),
];

/// SOURCE_DATE_EPOCH, else the time of the last git commit.
pub fn source_date_epoch() -> Result<u32, String> {
    if let Ok(s) = std::env::var("SOURCE_DATE_EPOCH") {
        return s
            .trim()
            .parse()
            .map_err(|_| format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds"));
    }
    let out = util::run(
        Command::new("git")
            .args(["log", "-1", "--format=%ct"])
            .current_dir(workspace_root()),
    )
    .map_err(|e| format!("{e}; set SOURCE_DATE_EPOCH"))?;
    out.trim()
        .parse()
        .map_err(|_| "git log -1 --format=%ct gave no time; set SOURCE_DATE_EPOCH".to_string())
}

/// YYYY-MM-DD of a Unix time (UTC), for the page footer.
pub fn ymd(epoch: u32) -> String {
    // Howard Hinnant's civil_from_days.
    let z = i64::from(epoch) / 86400 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut check_too = false;
    for a in args {
        match a.as_str() {
            "--check" => check_too = true,
            other => {
                return Err(format!(
                    "man: unknown argument {other:?}; usage: cargo xtask man [--check]"
                ))
            }
        }
    }
    let out = target_dir().join("man");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let pages = render_all()?;
    for (file, roff) in &pages {
        let p = out.join(file);
        std::fs::write(&p, roff).map_err(|e| format!("{}: {e}", p.display()))?;
        eprintln!("xtask man: wrote {}", p.display());
    }
    if check_too {
        check(None)?;
        for (file, _) in &pages {
            check_renders(&out.join(file))?;
        }
        eprintln!("xtask man: --check passed: the pages match the binary and the config parser, and render without warnings");
    }
    Ok(())
}

/// Every page as (file name, roff text), e.g. ("datavol.8", ...).
pub fn render_all() -> Result<Vec<(String, String)>, String> {
    let date = ymd(source_date_epoch()?);
    let version = env!("CARGO_PKG_VERSION");
    PAGES
        .iter()
        .map(|(name, sec, src, title)| {
            let path = workspace_root().join(src);
            let md =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let header = format!(
                // No hyphenation, left-aligned: flags and paths must stay whole.
                ".TH {} {sec} \"{date}\" \"datavol {version}\" \"{title}\"\n.nh\n.ad l\n",
                name.to_uppercase()
            );
            Ok((format!("{name}.{sec}"), header + &to_roff(&md)))
        })
        .collect()
}

// ---------------------------------------------------------------- markdown

#[derive(Debug, PartialEq)]
enum Block {
    Section(String),
    Subsection(String),
    Para(Vec<String>),
    Def { tag: String, body: Vec<String> },
    Bullets(Vec<Vec<String>>),
    Code(Vec<String>),
}

fn strip_comments(md: &str) -> String {
    let mut out = String::new();
    let mut rest = md;
    while let Some(i) = rest.find("<!--") {
        out.push_str(&rest[..i]);
        match rest[i..].find("-->") {
            Some(j) => rest = &rest[i + j + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse(md: &str) -> Vec<Block> {
    let md = strip_comments(md);
    let mut blocks = Vec::new();
    let mut chunk: Vec<String> = Vec::new();
    let mut code: Option<Vec<String>> = None;
    for line in md.lines() {
        if let Some(c) = code.as_mut() {
            if line.trim_start().starts_with("```") {
                blocks.push(Block::Code(code.take().unwrap_or_default()));
            } else {
                c.push(line.to_string());
            }
            continue;
        }
        if line.trim_start().starts_with("```") {
            flush(&mut chunk, &mut blocks);
            code = Some(Vec::new());
        } else if let Some(h) = line.strip_prefix("## ") {
            flush(&mut chunk, &mut blocks);
            blocks.push(Block::Subsection(h.trim().to_string()));
        } else if let Some(h) = line.strip_prefix("# ") {
            flush(&mut chunk, &mut blocks);
            blocks.push(Block::Section(h.trim().to_string()));
        } else if line.trim().is_empty() {
            flush(&mut chunk, &mut blocks);
        } else {
            chunk.push(line.to_string());
        }
    }
    flush(&mut chunk, &mut blocks);
    blocks
}

fn flush(chunk: &mut Vec<String>, blocks: &mut Vec<Block>) {
    if chunk.is_empty() {
        return;
    }
    let lines = std::mem::take(chunk);
    if lines[0].starts_with("- ") {
        let mut items: Vec<Vec<String>> = Vec::new();
        for l in lines {
            if let Some(t) = l.strip_prefix("- ") {
                items.push(vec![t.to_string()]);
            } else if let Some(last) = items.last_mut() {
                last.push(l.trim().to_string());
            }
        }
        blocks.push(Block::Bullets(items));
    } else if lines.len() > 1 && lines[1].starts_with(":   ") {
        let tag = lines[0].clone();
        let body = lines[1..]
            .iter()
            .map(|l| l.strip_prefix(":   ").unwrap_or(l).trim().to_string())
            .collect();
        blocks.push(Block::Def { tag, body });
    } else {
        blocks.push(Block::Para(
            lines.iter().map(|l| l.trim().to_string()).collect(),
        ));
    }
}

/// roff escapes for literal text: backslash, and minus signs that must stay ASCII.
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\e"),
            '-' => o.push_str("\\-"),
            _ => o.push(c),
        }
    }
    o
}

/// Inline markup: `code` and **bold** to bold, *italic* to italic.
fn inline(s: &str) -> String {
    let mut o = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let (mut code, mut bold, mut ital) = (false, false, false);
    let font = |bold: bool, ital: bool| -> &'static str {
        match (bold, ital) {
            (true, _) => "\\fB",
            (false, true) => "\\fI",
            (false, false) => "\\fR",
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if code {
            if c == '`' {
                code = false;
                o.push_str(font(bold, ital));
            } else {
                o.push_str(&escape(&c.to_string()));
            }
        } else if c == '\\' && i + 1 < chars.len() && "*`_\\".contains(chars[i + 1]) {
            o.push_str(&escape(&chars[i + 1].to_string()));
            i += 1;
        } else if c == '`' {
            code = true;
            o.push_str("\\fB");
        } else if c == '*' && chars.get(i + 1) == Some(&'*') {
            bold = !bold;
            o.push_str(font(bold, ital));
            i += 1;
        } else if c == '*' {
            ital = !ital;
            o.push_str(font(bold, ital));
        } else {
            o.push_str(&escape(&c.to_string()));
        }
        i += 1;
    }
    if code || bold || ital {
        o.push_str("\\fR");
    }
    o
}

/// A text line that roff must not take for a request.
fn text_line(s: &str) -> String {
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s.to_string()
    }
}

pub fn to_roff(md: &str) -> String {
    let mut o = String::new();
    for b in parse(md) {
        match b {
            Block::Section(h) => o.push_str(&format!(".SH \"{}\"\n", escape(&h.to_uppercase()))),
            Block::Subsection(h) => o.push_str(&format!(".SS \"{}\"\n", inline(&h))),
            Block::Para(lines) => {
                o.push_str(".PP\n");
                for l in lines {
                    o.push_str(&text_line(&inline(&l)));
                    o.push('\n');
                }
            }
            Block::Def { tag, body } => {
                o.push_str(".TP\n");
                o.push_str(&text_line(&inline(&tag)));
                o.push('\n');
                for l in body {
                    o.push_str(&text_line(&inline(&l)));
                    o.push('\n');
                }
            }
            Block::Bullets(items) => {
                for item in items {
                    o.push_str(".IP \\(bu 2\n");
                    for l in item {
                        o.push_str(&text_line(&inline(&l)));
                        o.push('\n');
                    }
                }
            }
            Block::Code(lines) => {
                o.push_str(".PP\n.RS 4\n.nf\n");
                for l in lines {
                    o.push_str(&text_line(&escape(&l)));
                    o.push('\n');
                }
                o.push_str(".fi\n.RE\n");
            }
        }
    }
    o
}

// ---------------------------------------------------------------- checks

/// What a page documents: for each (section, subsection), the tags of its
/// tagged paragraphs, and its plain text.
struct Doc {
    blocks: Vec<(String, String, Block)>,
}

impl Doc {
    fn load(src: &str) -> Result<Doc, String> {
        let path = workspace_root().join(src);
        let md = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (mut sec, mut sub) = (String::new(), String::new());
        let mut blocks = Vec::new();
        for b in parse(&md) {
            match &b {
                Block::Section(s) => {
                    sec = s.clone();
                    sub.clear();
                }
                Block::Subsection(s) => {
                    sub = s.clone();
                    // So that a subsection with nothing in it still counts.
                    blocks.push((sec.clone(), sub.clone(), Block::Para(Vec::new())));
                }
                _ => blocks.push((sec.clone(), sub.clone(), b)),
            }
        }
        Ok(Doc { blocks })
    }

    fn subsections_of(&self, section: &str) -> BTreeSet<String> {
        self.blocks
            .iter()
            .filter(|(s, sub, _)| s == section && !sub.is_empty())
            .map(|(_, sub, _)| sub.clone())
            .collect()
    }

    fn tags(&self, section: &str, sub: &str) -> Vec<String> {
        self.blocks
            .iter()
            .filter(|(s, ss, _)| s == section && ss == sub)
            .filter_map(|(_, _, b)| match b {
                Block::Def { tag, .. } => Some(tag.clone()),
                _ => None,
            })
            .collect()
    }

    fn text(&self, section: &str) -> String {
        let mut t = String::new();
        for (s, _, b) in &self.blocks {
            if s != section {
                continue;
            }
            match b {
                Block::Para(l) | Block::Code(l) => t.push_str(&l.join("\n")),
                Block::Def { tag, body } => {
                    t.push_str(tag);
                    t.push_str(&body.join("\n"));
                }
                _ => {}
            }
            t.push('\n');
        }
        t
    }
}

/// The `--long`/`-s` flags named in a piece of text.
fn flags_in(s: &str) -> BTreeSet<String> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| (w.starts_with("--") && w.len() > 2) || (w.len() == 2 && w.starts_with('-')))
        .filter(|w| {
            w.chars()
                .nth(1)
                .is_some_and(|c| c == '-' || c.is_ascii_alphabetic())
        })
        .map(str::to_string)
        .collect()
}

/// One `--help` output: its subcommands and the flags of its Options section.
struct Help {
    commands: BTreeSet<String>,
    flags: BTreeSet<String>,
    /// Positional arguments, as clap names them (`FILES`, `SRC`).
    args: BTreeSet<String>,
    exit_codes: BTreeSet<String>,
}

fn parse_help(text: &str) -> Help {
    let mut h = Help {
        commands: BTreeSet::new(),
        flags: BTreeSet::new(),
        args: BTreeSet::new(),
        exit_codes: BTreeSet::new(),
    };
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = if line.starts_with("Commands") {
                "commands"
            } else if line.starts_with("Options") {
                "options"
            } else if line.starts_with("Arguments") {
                "arguments"
            } else {
                "other"
            };
            continue;
        }
        if line.trim().is_empty() {
            section = "";
        }
        if let Some(rest) = line.strip_prefix("Exit codes:") {
            for part in rest.split(',') {
                if let Some(n) = part.split_whitespace().next() {
                    if n.chars().all(|c| c.is_ascii_digit()) {
                        h.exit_codes.insert(n.to_string());
                    }
                }
            }
        }
        match section {
            "commands" => {
                if let Some(name) = line.split_whitespace().next() {
                    if name != "help" {
                        h.commands.insert(name.to_string());
                    }
                }
            }
            "arguments" => {
                // "  [FILES]...  text" / "  <SRC>"
                if let Some(spec) = line.split_whitespace().next() {
                    let name: String = spec
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        h.args.insert(name);
                    }
                }
            }
            "options" => {
                // "  -v, --verbose   text" / "      --config-dir <DIR>  text"
                let spec = line.trim_start().split("  ").next().unwrap_or("");
                h.flags.extend(flags_in(spec));
            }
            _ => {}
        }
    }
    h
}

fn help_of(bin: Option<&Path>, args: &[&str]) -> Result<String, String> {
    let mut cmd = match bin {
        Some(b) => Command::new(b),
        None => {
            let mut c = cargo();
            c.args(["run", "-q", "-p", "datavol", "--"]);
            c
        }
    };
    util::run(cmd.args(args))
}

fn compare(
    problems: &mut Vec<String>,
    what: &str,
    page: &str,
    actual: &BTreeSet<String>,
    documented: &BTreeSet<String>,
) {
    for m in actual.difference(documented) {
        problems.push(format!("{what} {m} is not documented in {page}"));
    }
    for m in documented.difference(actual) {
        problems.push(format!(
            "{page} documents {what} {m}, which datavol no longer has"
        ));
    }
}

const PAGE8: &str = "docs/datavol.8.md";
const PAGE5: &str = "docs/datavol.toml.5.md";

/// Compares the pages with the binary's help (`bin`, or `cargo run -p
/// datavol`) and with the config parser; errors list every difference.
pub fn check(bin: Option<&Path>) -> Result<(), String> {
    let mut problems = Vec::new();
    check_page8(bin, &mut problems)?;
    check_page5(&mut problems)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "man pages are stale:\n  {}\nhint: edit docs/datavol.8.md or docs/datavol.toml.5.md",
            problems.join("\n  ")
        ))
    }
}

/// datavol(8) against `datavol --help` and each subcommand's help.
fn check_page8(bin: Option<&Path>, problems: &mut Vec<String>) -> Result<(), String> {
    let doc = Doc::load(PAGE8)?;
    let top = parse_help(&help_of(bin, &["--help"])?);
    if top.commands.is_empty() || top.flags.is_empty() {
        return Err("man --check: could not find Commands/Options in `datavol --help`".into());
    }
    compare(
        problems,
        "subcommand",
        PAGE8,
        &top.commands,
        &doc.subsections_of("COMMANDS"),
    );
    let synopsis = doc.text("SYNOPSIS");
    for c in &top.commands {
        if !synopsis.contains(&format!("**{c}**")) {
            problems.push(format!(
                "subcommand {c} is missing from the SYNOPSIS of {PAGE8}"
            ));
        }
    }
    let global_doc: BTreeSet<String> = doc
        .tags("OPTIONS", "")
        .iter()
        .flat_map(|t| flags_in(t))
        .collect();
    compare(problems, "global option", PAGE8, &top.flags, &global_doc);
    for c in &top.commands {
        check_subcommand(bin, &doc, &top, c, problems)?;
    }
    let codes_doc: BTreeSet<String> = doc
        .tags("EXIT STATUS", "")
        .into_iter()
        .map(|t| t.trim().to_string())
        .collect();
    if top.exit_codes.is_empty() {
        problems.push("`datavol --help` no longer lists its exit codes".into());
    }
    compare(problems, "exit code", PAGE8, &top.exit_codes, &codes_doc);
    for section in ["FILES", "LOGGING", "EXAMPLES"] {
        if doc.text(section).trim().is_empty() {
            problems.push(format!("{PAGE8} has no {section} section"));
        }
    }
    Ok(())
}

/// One subcommand's own options and arguments against its COMMANDS entry and its
/// SYNOPSIS line.
fn check_subcommand(
    bin: Option<&Path>,
    doc: &Doc,
    top: &Help,
    c: &str,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    let sub = parse_help(&help_of(bin, &[c, "--help"])?);
    // -h/--help is global in clap but not listed as such; it is documented once.
    let own: BTreeSet<String> = sub
        .flags
        .difference(&top.flags)
        .filter(|f| *f != "-h" && *f != "--help")
        .cloned()
        .collect();
    let documented: BTreeSet<String> = doc
        .tags("COMMANDS", c)
        .iter()
        .flat_map(|t| flags_in(t))
        .collect();
    compare(
        problems,
        &format!("option of `datavol {c}`"),
        PAGE8,
        &own,
        &documented,
    );
    let synopsis = doc.text("SYNOPSIS");
    let line = synopsis
        .lines()
        .find(|l| l.contains(&format!("**{c}**")))
        .unwrap_or("");
    for arg in &sub.args {
        let singular = arg.strip_suffix('S').unwrap_or(arg);
        if !line.contains(&format!("*{arg}*")) && !line.contains(&format!("*{singular}*")) {
            problems.push(format!(
                "argument {arg} of `datavol {c}` is missing from its SYNOPSIS line in {PAGE8}"
            ));
        }
    }
    let documented_cmds = doc.subsections_of("COMMANDS");
    for f in &own {
        if documented_cmds.contains(c) && !synopsis.contains(&format!("`{f}`")) {
            problems.push(format!(
                "option {f} of `datavol {c}` is missing from the SYNOPSIS of {PAGE8}"
            ));
        }
    }
    Ok(())
}

/// datavol.toml(5) against the config parser's keys.
fn check_page5(problems: &mut Vec<String>) -> Result<(), String> {
    let doc5 = Doc::load(PAGE5)?;
    // Volume keys are the KEYS section's own entries; other tables' keys
    // are under a subsection named like the table, e.g. "[sandbox]".
    for (table, keys) in config_keys()? {
        let sub = if table == "VOLUME_KEYS" {
            String::new()
        } else {
            format!("[{}]", table.trim_end_matches("_KEYS").to_ascii_lowercase())
        };
        let documented: BTreeSet<String> = doc5
            .tags("KEYS", &sub)
            .iter()
            .map(|t| t.trim().trim_matches('`').to_string())
            .collect();
        let what = format!("config key of {table}");
        compare(problems, &what, PAGE5, &keys, &documented);
    }
    Ok(())
}

/// The config tables' keys, read from the parser's key tables: for each
/// `const NAME_KEYS: &[Key<...>] = &[ ... ];`, the `name: "..."` of each row.
fn config_keys() -> Result<Vec<(String, BTreeSet<String>)>, String> {
    let path = workspace_root().join("crates/datavol/src/config/keys.rs");
    let src = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut tables = Vec::new();
    for (i, _) in src.match_indices("pub const ") {
        let decl = &src[i + "pub const ".len()..];
        let Some((name, rest)) = decl.split_once(": &[Key<") else {
            continue;
        };
        if !name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            continue;
        }
        // The table ends at the first line that closes it, "];" or "}];".
        let body: String = rest
            .lines()
            .take_while(|l| !l.starts_with("];") && !l.starts_with("}];"))
            .collect();
        let keys: BTreeSet<String> = body
            .split("name: \"")
            .skip(1)
            .filter_map(|k| k.split_once('"').map(|(k, _)| k.to_string()))
            .collect();
        tables.push((name.to_string(), keys));
    }
    let volume = tables.iter().find(|(n, _)| n == "VOLUME_KEYS");
    if volume.is_none_or(|(_, k)| k.len() < 5) || tables.len() < 3 {
        return Err(format!(
            "found only {tables:?} in {}; update xtask/src/man.rs",
            path.display()
        ));
    }
    Ok(tables)
}

/// `man -l` renders the page, with no warning from groff.
pub fn check_renders(page: &Path) -> Result<(), String> {
    let out = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .output()
        .map_err(|e| {
            format!(
                "man -l {}: {e}; hint: apt-get install man-db",
                page.display()
            )
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stderr.trim().is_empty() {
        return Err(format!(
            "man -l {} failed or warned:\n{stderr}",
            page.display()
        ));
    }
    if !stdout.contains("NAME") || stdout.lines().count() < 20 {
        return Err(format!("man -l {} rendered almost nothing", page.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_the_subset() {
        let r = to_roff(
            "# NAME\n\nx - y\n\n## sub\n\n`--flag` *N*\n:   text with **bold**\n    more\n\n- a\n  b\n- c\n\n```\n.dot \\ -x\n```\n",
        );
        assert_eq!(
            r,
            ".SH \"NAME\"\n.PP\nx \\- y\n.SS \"sub\"\n.TP\n\\fB\\-\\-flag\\fR \\fIN\\fR\ntext with \\fBbold\\fR\nmore\n.IP \\(bu 2\na\nb\n.IP \\(bu 2\nc\n.PP\n.RS 4\n.nf\n\\&.dot \\e \\-x\n.fi\n.RE\n"
        );
    }

    #[test]
    fn parses_clap_help() {
        let h = parse_help("Commands:\n  apply  Do\n  help   Print\n\nArguments:\n  [FILES]...  \n  <SRC>  Source\n\nOptions:\n      --config-dir <DIR>  Dir [default: /x]\n  -v, --verbose           Log\n\nExit codes: 0 ok, 1 failure, 64 usage.\n");
        assert_eq!(h.args, BTreeSet::from(["FILES".into(), "SRC".into()]));
        assert_eq!(h.commands, BTreeSet::from(["apply".to_string()]));
        assert_eq!(
            h.flags,
            BTreeSet::from(["--config-dir".into(), "-v".into(), "--verbose".into()])
        );
        assert_eq!(
            h.exit_codes,
            BTreeSet::from(["0".into(), "1".into(), "64".into()])
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(ymd(0), "1970-01-01");
        assert_eq!(ymd(1_795_670_513), "2026-11-26");
        assert_eq!(ymd(951_782_400), "2000-02-29");
    }
}
