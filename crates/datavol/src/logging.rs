//! Logs go to the journal, with DATAVOL_VOLUME, DATAVOL_DEVICE and
//! DATAVOL_STAGE fields, when datavol runs under systemd; to stderr otherwise.

use log::kv::{Key, Value, VisitSource};
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

/// Logs with the volume, device and stage attached as structured fields.
#[macro_export]
macro_rules! vlog {
    ($lvl:ident, $vol:expr, $dev:expr, $stage:expr, $($arg:tt)+) => {
        log::$lvl!(
            datavol_volume = $vol,
            datavol_device = $dev,
            datavol_stage = $stage;
            $($arg)+
        )
    };
}

struct StderrLog;

struct Fields(String);

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let k = key.as_str().trim_start_matches("datavol_");
        let v = value.to_string();
        if !v.is_empty() {
            self.0.push_str(&format!("{k}={v} "));
        }
        Ok(())
    }
}

impl Log for StderrLog {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let mut f = Fields(String::new());
        let _ = r.key_values().visit(&mut f);
        let lvl = match r.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            _ => "",
        };
        let fields = if f.0.is_empty() {
            String::new()
        } else {
            format!("[{}] ", f.0.trim_end())
        };
        let _ = writeln!(std::io::stderr(), "datavol: {lvl}{fields}{}", r.args());
    }
    fn flush(&self) {}
}

/// Journal when stderr is connected to it (a systemd service), else stderr.
pub fn init(verbose: bool) {
    let level = if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let journal = systemd_journal_logger::connected_to_journal()
        .then(systemd_journal_logger::JournalLog::new)
        .and_then(Result::ok);
    let installed = match journal {
        Some(j) => log::set_boxed_logger(Box::new(j.with_syslog_identifier("datavol".to_string()))),
        None => log::set_boxed_logger(Box::new(StderrLog)),
    };
    if installed.is_ok() {
        log::set_max_level(level);
    }
}
