//! Logs go to the journal, with DATAVOL_VOLUME, DATAVOL_DEVICE and
//! DATAVOL_STAGE fields, when datavol runs under systemd; to stderr otherwise.
//! Every journal entry also names the unit datavol runs in
//! (OBJECT_SYSTEMD_UNIT, see sys/cgroup.rs), so `journalctl -u` finds it
//! even when datavol exited before journald looked at its cgroup.

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
        // The catalog id is for journalctl -x, not for a terminal.
        if !v.is_empty() && k != "message_id" {
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
        Some(j) => {
            let unit = crate::sys::cgroup::own_unit().map(|u| ("OBJECT_SYSTEMD_UNIT", u));
            let j = j
                .with_syslog_identifier("datavol".to_string())
                .with_extra_fields(unit);
            log::set_boxed_logger(Box::new(j))
        }
        None => log::set_boxed_logger(Box::new(StderrLog)),
    };
    if installed.is_ok() {
        log::set_max_level(level);
    }
}
