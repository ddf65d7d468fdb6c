//! The few systemd Manager calls datavol needs, over D-Bus with zbus.
//!
//! Where: `DBUS_SYSTEM_BUS_ADDRESS` when set (the tests' bus), else the
//! system bus. One transport: nothing that runs before dbus.socket talks to
//! systemd (the healthy reboot is datavol-generator's, generator.rs).

use std::pin::Pin;
use std::time::Duration;
use zbus::export::futures_core::Stream;
use zbus::message::Type;
use zbus::{Connection, MatchRule, MessageStream, OwnedObjectPath};

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("connecting to systemd ({via}): {source}; hint: is systemd (or dbus) running? DBUS_SYSTEM_BUS_ADDRESS picks another bus")]
    Connect {
        via: String,
        #[source]
        source: zbus::Error,
    },
    #[error("systemd {call} {unit}: {source}")]
    Call {
        call: &'static str,
        unit: String,
        #[source]
        source: zbus::Error,
    },
    #[error("systemd {call} {unit}: no answer within {secs}s; hint: `systemctl list-jobs` shows what it waits for")]
    Timeout {
        call: &'static str,
        unit: String,
        secs: u64,
    },
    #[error("systemd {call} {unit}: the job ended with result {result:?}; hint: `journalctl -u {unit}` says why")]
    JobFailed {
        call: &'static str,
        unit: String,
        result: String,
    },
}

pub struct Systemd {
    conn: Connection,
    /// systemd answers a second Subscribe on one connection with an error.
    subscribed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// Runs `fut` on a thread of its own so a hung bus cannot hang the boot.
fn with_timeout<T: Send + 'static>(
    call: &'static str,
    unit: &str,
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, BusError>> + Send + 'static,
) -> Result<T, BusError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(zbus::block_on(fut));
    });
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(BusError::Timeout {
            call,
            unit: unit.to_string(),
            secs: timeout.as_secs(),
        })
    })
}

const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long datavol.service waits for dbus.socket to listen.
const BUS_WAIT: Duration = Duration::from_secs(90);

const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

/// Waits up to `timeout` for the system bus socket to exist.
fn wait_for_bus(timeout: Duration) -> bool {
    let start = std::time::Instant::now();
    while !std::path::Path::new(SYSTEM_BUS).exists() {
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

impl Systemd {
    pub fn connect() -> Result<Self, BusError> {
        let explicit = std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_some();
        if !explicit && !wait_for_bus(BUS_WAIT) {
            log::warn!(
                "{SYSTEM_BUS} did not appear within {}s; trying anyway",
                BUS_WAIT.as_secs()
            );
        }
        let conn = with_timeout("connect", "", CALL_TIMEOUT, async move {
            Connection::system()
                .await
                .map_err(|source| BusError::Connect {
                    via: "the system bus".into(),
                    source,
                })
        })?;
        Ok(Systemd {
            conn,
            subscribed: Default::default(),
        })
    }

    /// ActiveState of `unit`, or None when systemd has not loaded it.
    pub fn active_state(&self, unit: &str) -> Result<Option<String>, BusError> {
        bus_active_state(self.conn.clone(), unit)
    }

    pub fn reload(&self) -> Result<(), BusError> {
        bus_call(&self.conn, "Reload", "", RELOAD_TIMEOUT, ())
    }

    /// StartUnit(unit, "replace") and wait for its job to end.
    pub fn start_unit(&self, unit: &str, timeout: Duration) -> Result<(), BusError> {
        self.run_job("StartUnit", unit, timeout)
    }

    /// StartUnit(unit, "replace") without waiting for its job: systemd has
    /// queued it when this returns (a background job nothing waits for).
    pub fn start_unit_nowait(&self, unit: &str) -> Result<(), BusError> {
        let args = (unit.to_string(), "replace");
        bus_call(&self.conn, "StartUnit", unit, CALL_TIMEOUT, args)
    }

    pub fn stop_unit(&self, unit: &str, timeout: Duration) -> Result<(), BusError> {
        self.run_job("StopUnit", unit, timeout)
    }

    fn run_job(&self, call: &'static str, unit: &str, timeout: Duration) -> Result<(), BusError> {
        let result = bus_run_job(
            self.conn.clone(),
            self.subscribed.clone(),
            call,
            unit,
            timeout,
        )?;
        if result == "done" {
            Ok(())
        } else {
            Err(BusError::JobFailed {
                call,
                unit: unit.to_string(),
                result,
            })
        }
    }
}

const RELOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// A Manager call whose reply datavol does not read.
fn bus_call<B>(
    conn: &Connection,
    call: &'static str,
    unit: &str,
    timeout: Duration,
    args: B,
) -> Result<(), BusError>
where
    B: serde::Serialize + zbus::zvariant::DynamicType + Send + Sync + 'static,
{
    let conn = conn.clone();
    let u = unit.to_string();
    with_timeout(call, unit, timeout, async move {
        conn.call_method(Some(SYSTEMD), MANAGER_PATH, Some(MANAGER), call, &args)
            .await
            .map(|_| ())
            .map_err(|source| BusError::Call {
                call,
                unit: u,
                source,
            })
    })
}

fn bus_active_state(conn: Connection, unit: &str) -> Result<Option<String>, BusError> {
    let u = unit.to_string();
    with_timeout("GetUnit", unit, CALL_TIMEOUT, async move {
        let err = |source| BusError::Call {
            call: "GetUnit",
            unit: u.clone(),
            source,
        };
        let reply = conn
            .call_method(
                Some(SYSTEMD),
                MANAGER_PATH,
                Some(MANAGER),
                "GetUnit",
                &(u.as_str(),),
            )
            .await;
        let path: OwnedObjectPath = match reply {
            Ok(m) => m.body().deserialize().map_err(err)?,
            Err(zbus::Error::MethodError(name, _, _))
                if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" =>
            {
                return Ok(None)
            }
            Err(e) => return Err(err(e)),
        };
        // Read fresh: systemd does not always signal property changes.
        let reply = conn
            .call_method(
                Some(SYSTEMD),
                path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.freedesktop.systemd1.Unit", "ActiveState"),
            )
            .await
            .map_err(err)?;
        let v: zbus::OwnedVariant = reply.body().deserialize().map_err(err)?;
        String::try_from(v).map(Some).map_err(err)
    })
}

/// Subscribe (once), open the JobRemoved stream, call, wait for the job's end.
fn bus_run_job(
    conn: Connection,
    subscribed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    call: &'static str,
    unit: &str,
    timeout: Duration,
) -> Result<String, BusError> {
    let u = unit.to_string();
    with_timeout(call, unit, timeout, async move {
        let err = |source| BusError::Call {
            call,
            unit: u.clone(),
            source,
        };
        // Marked only once Subscribe succeeded: a failed one is retried.
        if !subscribed.load(std::sync::atomic::Ordering::SeqCst) {
            match conn
                .call_method(Some(SYSTEMD), MANAGER_PATH, Some(MANAGER), "Subscribe", &())
                .await
            {
                Ok(_) => {}
                Err(zbus::Error::MethodError(name, _, _))
                    if name.as_str() == "org.freedesktop.systemd1.AlreadySubscribed" => {}
                Err(e) => return Err(err(e)),
            }
            subscribed.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        // The stream must exist before the job does, or its end can be missed.
        let rule = MatchRule::builder()
            .msg_type(Type::Signal)
            .sender(SYSTEMD)
            .path(MANAGER_PATH)
            .interface(MANAGER)
            .member("JobRemoved")
            .build()
            .map_err(err)?;
        let mut removed = MessageStream::for_match_rule(rule, &conn, None)
            .await
            .map_err(err)?;
        let reply = conn
            .call_method(
                Some(SYSTEMD),
                MANAGER_PATH,
                Some(MANAGER),
                call,
                &(u.as_str(), "replace"),
            )
            .await
            .map_err(err)?;
        let job: OwnedObjectPath = reply.body().deserialize().map_err(err)?;
        log::debug!("{call} {u}: job {}", job.as_str());
        while let Some(msg) = next(&mut removed).await {
            let msg = msg.map_err(err)?;
            let (_id, removed_job, _unit, result): (u32, OwnedObjectPath, String, String) =
                msg.body().deserialize().map_err(err)?;
            if removed_job == job {
                return Ok(result);
            }
        }
        Err(err(zbus::Error::Failure(
            "JobRemoved stream ended before the job did".into(),
        )))
    })
}

/// Connected on first use, so a healthy run never touches the bus.
#[derive(Default)]
pub struct Bus {
    conn: Option<Systemd>,
}

impl Bus {
    pub fn new() -> Self {
        Bus { conn: None }
    }

    pub fn get(&mut self) -> Result<&Systemd, BusError> {
        if self.conn.is_none() {
            self.conn = Some(Systemd::connect()?);
        }
        match &self.conn {
            Some(c) => Ok(c),
            None => Err(BusError::Connect {
                via: String::new(),
                source: zbus::Error::Failure("not connected".into()),
            }),
        }
    }
}
