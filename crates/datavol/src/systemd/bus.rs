//! The few systemd Manager calls datavol needs, over D-Bus with zbus.
//! `DBUS_SYSTEM_BUS_ADDRESS` picks the bus, as for any system-bus client.

use std::pin::Pin;
use std::time::Duration;
use zbus::export::futures_core::Stream;
use zbus::{Connection, OwnedObjectPath};

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait Manager {
    fn subscribe(&self) -> zbus::Result<()>;
    fn reload(&self) -> zbus::Result<()>;
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
pub trait Unit {
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("connecting to the system bus: {0}; hint: is dbus running? DBUS_SYSTEM_BUS_ADDRESS picks another bus")]
    Connect(#[source] zbus::Error),
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

impl Systemd {
    pub fn connect() -> Result<Self, BusError> {
        let conn = with_timeout("connect", "", CALL_TIMEOUT, async {
            Connection::system().await.map_err(BusError::Connect)
        })?;
        Ok(Systemd {
            conn,
            subscribed: Default::default(),
        })
    }

    /// ActiveState of `unit`, or None when systemd has not loaded it.
    pub fn active_state(&self, unit: &str) -> Result<Option<String>, BusError> {
        let conn = self.conn.clone();
        let u = unit.to_string();
        with_timeout("GetUnit", unit, CALL_TIMEOUT, async move {
            let err = |source| BusError::Call {
                call: "GetUnit",
                unit: u.clone(),
                source,
            };
            let mgr = ManagerProxy::new(&conn).await.map_err(err)?;
            let path = match mgr.get_unit(&u).await {
                Ok(p) => p,
                Err(zbus::Error::MethodError(name, _, _))
                    if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(err(e)),
            };
            // systemd does not always signal property changes: read fresh.
            let unit_proxy = UnitProxy::builder(&conn)
                .path(path)
                .cache_properties(zbus::proxy::CacheProperties::No)
                .build()
                .await
                .map_err(err)?;
            unit_proxy.active_state().await.map(Some).map_err(err)
        })
    }

    pub fn reload(&self) -> Result<(), BusError> {
        let conn = self.conn.clone();
        with_timeout("Reload", "", Duration::from_secs(300), async move {
            let err = |source| BusError::Call {
                call: "Reload",
                unit: String::new(),
                source,
            };
            let mgr = ManagerProxy::new(&conn).await.map_err(err)?;
            mgr.reload().await.map_err(err)
        })
    }

    /// StartUnit(unit, "replace") and wait for its job to end.
    pub fn start_unit(&self, unit: &str, timeout: Duration) -> Result<(), BusError> {
        self.run_job("StartUnit", unit, timeout)
    }

    pub fn stop_unit(&self, unit: &str, timeout: Duration) -> Result<(), BusError> {
        self.run_job("StopUnit", unit, timeout)
    }

    fn run_job(&self, call: &'static str, unit: &str, timeout: Duration) -> Result<(), BusError> {
        let conn = self.conn.clone();
        let subscribed = self.subscribed.clone();
        let u = unit.to_string();
        let result = with_timeout(call, unit, timeout, async move {
            let err = |source| BusError::Call {
                call,
                unit: u.clone(),
                source,
            };
            let mgr = ManagerProxy::new(&conn).await.map_err(err)?;
            // Marked only once Subscribe succeeded: a failed one is retried.
            if !subscribed.load(std::sync::atomic::Ordering::SeqCst) {
                match mgr.subscribe().await {
                    Ok(()) => {}
                    Err(zbus::Error::MethodError(name, _, _))
                        if name.as_str() == "org.freedesktop.systemd1.AlreadySubscribed" => {}
                    Err(e) => return Err(err(e)),
                }
                subscribed.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            // The stream must exist before the job does, or its end can be missed.
            let mut removed = mgr.receive_job_removed().await.map_err(err)?;
            let job = match call {
                "StopUnit" => mgr.stop_unit(&u, "replace").await,
                _ => mgr.start_unit(&u, "replace").await,
            }
            .map_err(err)?;
            log::debug!("{call} {u}: job {}", job.as_str());
            while let Some(sig) = next(&mut removed).await {
                let args = sig.args().map_err(err)?;
                if args.job.as_str() == job.as_str() {
                    return Ok(args.result);
                }
            }
            Err(err(zbus::Error::Failure(
                "JobRemoved stream ended before the job did".into(),
            )))
        })?;
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
            None => Err(BusError::Connect(zbus::Error::Failure(
                "not connected".into(),
            ))),
        }
    }
}
