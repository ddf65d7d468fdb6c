//! One config file's text and the values in it, each with its span, so that
//! every error can say file:line:column. Typed getters turn a value of the
//! wrong type into a message that names the key and shows how to write it.

use super::paths::Refusal;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use toml::de::DeValue;
use toml::Spanned;

/// Where in which file something is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One file's text, kept so spans can be turned into line:column.
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn locate(&self, offset: usize) -> Location {
        let before = self.text.get(..offset).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: self.path.clone(),
            line,
            column,
        }
    }
}

/// Something wrong inside a table; the caller adds which table. Without a
/// location it is about the table itself (a missing key).
#[derive(Debug)]
pub struct Problem {
    pub at: Option<Location>,
    pub what: String,
    pub hint: String,
}

impl Problem {
    pub fn missing(key: &str, hint: &str) -> Problem {
        Problem {
            at: None,
            what: format!("missing required key `{key}`"),
            hint: hint.to_string(),
        }
    }
}

pub type Value<'a> = Spanned<DeValue<'a>>;

/// A key's value as the last file that set it wrote it.
pub struct Field<'a> {
    pub key: &'static str,
    pub src: &'a Source,
    pub value: &'a Value<'a>,
}

/// A string inside a value, with where it stands.
pub struct Item<'a> {
    pub text: &'a str,
    pub at: Location,
}

impl<'a> Field<'a> {
    pub fn at(&self) -> Location {
        self.src.locate(self.value.span().start)
    }

    pub fn problem(&self, what: String, hint: &str) -> Problem {
        self.problem_at(self.at(), what, hint)
    }

    pub fn problem_at(&self, at: Location, what: String, hint: &str) -> Problem {
        Problem {
            at: Some(at),
            what,
            hint: hint.to_string(),
        }
    }

    pub fn refused(&self, at: Location, r: Refusal) -> Problem {
        Problem {
            at: Some(at),
            what: r.what,
            hint: r.hint,
        }
    }

    /// The value as written in the file, for messages.
    fn raw(&self, v: &Value<'_>) -> &'a str {
        self.src.text.get(v.span()).unwrap_or("?")
    }

    fn wrong_type(&self, v: &Value<'_>, want: &str, example: &str) -> Problem {
        let what = format!(
            "{} must be {want}, not {} {}",
            self.key,
            v.get_ref().type_str(),
            self.raw(v)
        );
        self.problem_at(
            self.src.locate(v.span().start),
            what,
            &format!("write {} = {example}", self.key),
        )
    }

    pub fn bool(&self) -> Result<bool, Problem> {
        self.value
            .get_ref()
            .as_bool()
            .ok_or_else(|| self.wrong_type(self.value, "true or false", "true (no quotes)"))
    }

    fn item(&self, v: &'a Value<'a>, example: &str) -> Result<Item<'a>, Problem> {
        match v.get_ref() {
            DeValue::String(s) => Ok(Item {
                text: s.as_ref(),
                at: self.src.locate(v.span().start),
            }),
            _ => Err(self.wrong_type(v, "a string", example)),
        }
    }

    pub fn string(&self, example: &str) -> Result<Item<'a>, Problem> {
        self.item(self.value, example)
    }

    /// A list of strings; `example` shows a valid list.
    pub fn strings(&self, example: &str) -> Result<Vec<Item<'a>>, Problem> {
        let DeValue::Array(a) = self.value.get_ref() else {
            return Err(self.wrong_type(self.value, "a list of strings", example));
        };
        a.iter().map(|v| self.item(v, example)).collect()
    }

    /// One string, or a list of them.
    pub fn string_or_strings(&self, example: &str) -> Result<Vec<Item<'a>>, Problem> {
        match self.value.get_ref() {
            DeValue::Array(_) => self.strings(example),
            _ => self.item(self.value, example).map(|i| vec![i]),
        }
    }

    /// Whole seconds: an integer, or a string with a unit ("90s", "2min").
    pub fn seconds(&self, max: u64) -> Result<Duration, Problem> {
        let raw = self.raw(self.value);
        let key = self.key;
        let whole = || {
            self.problem(
                format!("{key} {raw} must be whole seconds, e.g. 90, \"90s\" or \"2min\""),
                &format!("write {key} = 90 or {key} = \"2min\""),
            )
        };
        let secs = match self.value.get_ref() {
            DeValue::Integer(n) => {
                let n = i64::from_str_radix(n.as_str(), n.radix()).map_err(|_| whole())?;
                u64::try_from(n).map_err(|_| {
                    self.problem(
                        format!("{key} {n} must not be negative"),
                        "use 0 not to wait at all",
                    )
                })?
            }
            DeValue::String(t) => parse_duration(t).ok_or_else(whole)?,
            _ => return Err(whole()),
        };
        if secs > max {
            return Err(self.problem(
                format!("{key} {secs}s is over the {max}s limit; a boot should not wait that long"),
                &format!("use at most {key} = {max}"),
            ));
        }
        Ok(Duration::from_secs(secs))
    }
}

/// "90", "90s", "2min" or "2m" as seconds.
fn parse_duration(t: &str) -> Option<u64> {
    let t = t.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("min") {
        (n, 60)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60)
    } else {
        (t, 1)
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .map(|n| n.saturating_mul(mult))
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The hint for an unknown name: the closest known one, then all `kind`s.
pub fn did_you_mean(word: &str, kind: &str, known: &[&str]) -> String {
    let close = known
        .iter()
        .map(|k| (distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min();
    let all = known.join(", ");
    match close {
        Some((_, k)) => format!("did you mean `{k}`? the {kind} are: {all}"),
        None => format!("the {kind} are: {all}"),
    }
}
