//! A stand-in for systemd's D-Bus API, for tests that cannot boot systemd.
//! It serves the Manager calls datavol makes on a private dbus-daemon and
//! really mounts a `.mount` unit from the unit directory on StartUnit, then
//! emits JobRemoved, as systemd does. Every call is appended to a log file
//! so tests can assert what was (not) called.
//!
//! usage: systemd-double --bus ADDR --unit-dir DIR --log FILE [--active UNIT]...

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};
use zbus::{Connection, ObjectPath, OwnedObjectPath};

type States = Arc<Mutex<HashMap<String, String>>>;

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.freedesktop.systemd1")]
enum SdError {
    #[zbus(error)]
    ZBus(zbus::Error),
    NoSuchUnit(String),
    AlreadySubscribed(String),
}

struct Manager {
    states: States,
    unit_dir: String,
    log: Arc<Mutex<std::fs::File>>,
    next_job: u32,
    /// Like systemd, a second Subscribe from one client is an error.
    subscribers: std::collections::HashSet<String>,
}

fn note(log: &Arc<Mutex<std::fs::File>>, line: &str) {
    if let Ok(mut f) = log.lock() {
        let _ = writeln!(f, "{line}");
        let _ = f.flush();
    }
}

fn unit_path(name: &str) -> String {
    let esc: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("_{b:02x}")
            }
        })
        .collect();
    format!("/org/freedesktop/systemd1/unit/{esc}")
}

/// What systemd would do for a stop job of a .mount unit: unmount Where=.
fn stop_mount(unit_dir: &str, name: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(format!("{unit_dir}/{name}"))
        .map_err(|e| format!("{name}: {e}"))?;
    let where_ = text
        .lines()
        .find_map(|l| l.strip_prefix("Where="))
        .ok_or("no Where=")?;
    let st = Command::new("umount")
        .arg(where_)
        .status()
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("umount {where_}: {st}"))
    }
}

/// What systemd would do for a start job of a .mount unit.
fn start_mount(unit_dir: &str, name: &str) -> Result<bool, String> {
    let text = std::fs::read_to_string(format!("{unit_dir}/{name}"))
        .map_err(|e| format!("{name}: {e}"))?;
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
    };
    if let Some(c) = get("ConditionPathExists") {
        if !std::path::Path::new(&c).exists() {
            return Ok(false);
        }
    }
    let what = get("What").ok_or("no What=")?;
    let where_ = get("Where").ok_or("no Where=")?;
    let dev = match what.strip_prefix("/dev/disk/by-uuid/") {
        Some(uuid) => {
            let out = Command::new("blkid")
                .args(["-t", &format!("UUID={uuid}"), "-o", "device"])
                .output()
                .map_err(|e| e.to_string())?;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .ok_or(format!("no device with UUID {uuid}"))?
                .to_string()
        }
        // The tests' /dev/disk links live under DATAVOL_ROOT.
        None => match (
            what.strip_prefix("/dev/disk/"),
            std::env::var_os("DATAVOL_ROOT"),
        ) {
            (Some(rel), Some(root)) => {
                std::fs::canonicalize(std::path::Path::new(&root).join("dev/disk").join(rel))
                    .map_err(|e| format!("{what}: {e}"))?
                    .display()
                    .to_string()
            }
            _ => what,
        },
    };
    std::fs::create_dir_all(&where_).map_err(|e| e.to_string())?;
    let mut cmd = Command::new("mount");
    if let Some(t) = get("Type") {
        cmd.args(["-t", &t]);
    }
    if let Some(o) = get("Options") {
        cmd.args(["-o", &o]);
    }
    let st = cmd
        .arg(&dev)
        .arg(&where_)
        .status()
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(true)
    } else {
        Err(format!("mount {dev} {where_}: {st}"))
    }
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl Manager {
    fn subscribe(&mut self, #[zbus(header)] hdr: zbus::message::Header<'_>) -> Result<(), SdError> {
        note(&self.log, "Subscribe");
        let who = hdr.sender().map(|s| s.to_string()).unwrap_or_default();
        if !self.subscribers.insert(who) {
            return Err(SdError::AlreadySubscribed(
                "Client is already subscribed.".into(),
            ));
        }
        Ok(())
    }

    fn reload(&self) {
        note(&self.log, "Reload");
    }

    async fn get_unit(
        &self,
        name: &str,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<OwnedObjectPath, SdError> {
        note(&self.log, &format!("GetUnit {name}"));
        let known = self
            .states
            .lock()
            .map(|s| s.contains_key(name))
            .unwrap_or(false);
        if !known {
            return Err(SdError::NoSuchUnit(format!("Unit {name} not loaded.")));
        }
        let path = unit_path(name);
        let _ = conn
            .object_server()
            .at(
                path.as_str(),
                UnitObj {
                    name: name.to_string(),
                    states: self.states.clone(),
                },
            )
            .await;
        OwnedObjectPath::try_from(path).map_err(SdError::ZBus)
    }

    async fn start_unit(
        &mut self,
        name: &str,
        mode: &str,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<OwnedObjectPath, SdError> {
        note(&self.log, &format!("StartUnit {name} {mode}"));
        self.job(conn, name, true).await
    }

    async fn stop_unit(
        &mut self,
        name: &str,
        mode: &str,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<OwnedObjectPath, SdError> {
        note(&self.log, &format!("StopUnit {name} {mode}"));
        self.job(conn, name, false).await
    }

    #[zbus(signal)]
    async fn job_removed(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        id: u32,
        job: ObjectPath<'_>,
        unit: &str,
        result: &str,
    ) -> zbus::Result<()>;
}

impl Manager {
    async fn job(
        &mut self,
        conn: &Connection,
        name: &str,
        start: bool,
    ) -> Result<OwnedObjectPath, SdError> {
        self.next_job += 1;
        let id = self.next_job;
        let job = format!("/org/freedesktop/systemd1/job/{id}");
        let path = OwnedObjectPath::try_from(job.clone()).map_err(SdError::ZBus)?;
        let unit = name.to_string();
        let states = self.states.clone();
        let unit_dir = self.unit_dir.clone();
        let log = self.log.clone();
        let conn = conn.clone();
        let upath = unit_path(name);
        // Serve the unit object so GetUnit callers can read ActiveState.
        let _ = conn
            .object_server()
            .at(
                upath.as_str(),
                UnitObj {
                    name: unit.clone(),
                    states: states.clone(),
                },
            )
            .await;
        std::thread::spawn(move || {
            // Let the method reply go out first, as systemd's does.
            std::thread::sleep(std::time::Duration::from_millis(30));
            let result = if !start {
                let stopped = if unit.ends_with(".mount") {
                    stop_mount(&unit_dir, &unit)
                } else {
                    Ok(())
                };
                states
                    .lock()
                    .map(|mut s| s.insert(unit.clone(), "inactive".into()))
                    .ok();
                match stopped {
                    Ok(()) => "done".to_string(),
                    Err(e) => {
                        note(&log, &format!("umount failed {unit}: {e}"));
                        "failed".into()
                    }
                }
            } else if unit.ends_with(".mount") {
                match start_mount(&unit_dir, &unit) {
                    Ok(true) => {
                        states
                            .lock()
                            .map(|mut s| s.insert(unit.clone(), "active".into()))
                            .ok();
                        "done".into()
                    }
                    Ok(false) => {
                        note(&log, &format!("condition failed {unit}"));
                        "done".into()
                    }
                    Err(e) => {
                        note(&log, &format!("mount failed {unit}: {e}"));
                        "failed".into()
                    }
                }
            } else {
                states
                    .lock()
                    .map(|mut s| s.insert(unit.clone(), "active".into()))
                    .ok();
                "done".into()
            };
            note(&log, &format!("JobRemoved {id} {unit} {result}"));
            let Ok(jp) = ObjectPath::try_from(job.as_str()) else {
                return;
            };
            let body = (id, jp, unit.as_str(), result.as_str());
            let _ = zbus::block_on(conn.emit_signal(
                None::<&str>,
                "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager",
                "JobRemoved",
                &(body.0, body.1, body.2, body.3),
            ));
        });
        Ok(path)
    }
}

struct UnitObj {
    name: String,
    states: States,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Unit")]
impl UnitObj {
    #[zbus(property)]
    fn active_state(&self) -> String {
        self.states
            .lock()
            .ok()
            .and_then(|s| s.get(&self.name).cloned())
            .unwrap_or_else(|| "inactive".into())
    }
}

fn main() {
    let mut bus = None;
    let mut unit_dir = None;
    let mut log = None;
    let mut states = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bus" => bus = args.next(),
            "--unit-dir" => unit_dir = args.next(),
            "--log" => log = args.next(),
            "--active" => {
                if let Some(u) = args.next() {
                    states.insert(u, "active".to_string());
                }
            }
            other => {
                eprintln!("systemd-double: unknown argument {other}");
                std::process::exit(64);
            }
        }
    }
    let (Some(bus), Some(unit_dir), Some(log)) = (bus, unit_dir, log) else {
        eprintln!("usage: systemd-double --bus ADDR --unit-dir DIR --log FILE [--active UNIT]...");
        std::process::exit(64);
    };
    let log_file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        Ok(f) => Arc::new(Mutex::new(f)),
        Err(e) => {
            eprintln!("systemd-double: {log}: {e}");
            std::process::exit(1);
        }
    };
    let mgr = Manager {
        states: Arc::new(Mutex::new(states)),
        unit_dir,
        log: log_file.clone(),
        next_job: 0,
        subscribers: Default::default(),
    };
    let result = zbus::block_on(async move {
        let conn = zbus::connection::Builder::address(bus.as_str())
            .serve_at("/org/freedesktop/systemd1", mgr)
            .name("org.freedesktop.systemd1")
            .build()
            .await?;
        note(&log_file, "ready");
        std::future::pending::<()>().await;
        drop(conn);
        Ok::<(), zbus::Error>(())
    });
    if let Err(e) = result {
        eprintln!("systemd-double: {e}");
        std::process::exit(1);
    }
}
