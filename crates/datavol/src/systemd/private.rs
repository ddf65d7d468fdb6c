//! systemd's own socket, `/run/systemd/private`: the peer-to-peer D-Bus
//! link systemctl uses as root. It answers from the first moment of boot,
//! before dbus.service exists, which is when datavol-early.service runs.
//!
//! Why not zbus here: systemd stamps every message on this socket with the
//! sender `org.freedesktop.systemd1`, a well-known name where the D-Bus spec
//! (and zbus's parser) want a unique one, so zbus rejects every reply. The
//! few calls datavol makes are small: zbus still builds the outgoing
//! messages; this module reads the replies and signals itself, taking from
//! each only the fields it needs. Blocking, one thread, bounded by timeouts.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub const PATH: &str = "/run/systemd/private";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

#[derive(Debug, thiserror::Error)]
pub enum PrivateError {
    #[error("{PATH}: {0}")]
    Io(#[from] std::io::Error),
    #[error("{PATH}: {0}")]
    Protocol(String),
    #[error("{name}: {message}")]
    Method { name: String, message: String },
    #[error("building a message: {0}")]
    Build(#[from] zbus::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{PATH}: systemd closed the connection")]
    Closed,
}

/// One message read off the socket: the header fields datavol looks at, and the body.
#[derive(Debug, Default)]
struct Incoming {
    kind: u8,
    reply_serial: Option<u32>,
    member: Option<String>,
    error_name: Option<String>,
    signature: String,
    body: Vec<u8>,
}

/// A little-endian D-Bus reader over one buffer: a whole message, or its
/// body (which starts 8-aligned), so alignment counts from the buffer's start.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn align(&mut self, n: usize) {
        self.at = self.at.div_ceil(n) * n;
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], PrivateError> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| PrivateError::Protocol("message shorter than its fields".into()))?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, PrivateError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, PrivateError> {
        self.align(4);
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// A string or object path: u32 length, bytes, NUL.
    fn string(&mut self) -> Result<String, PrivateError> {
        let n = self.u32()? as usize;
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.take(1)?;
        Ok(s)
    }
    /// A signature: u8 length, bytes, NUL.
    fn signature(&mut self) -> Result<String, PrivateError> {
        let n = self.u8()? as usize;
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.take(1)?;
        Ok(s)
    }
}

/// Parses one whole message (header, fields, body) from `b`.
fn parse(b: &[u8]) -> Result<Incoming, PrivateError> {
    if b.first() != Some(&b'l') {
        return Err(PrivateError::Protocol("not a little-endian message".into()));
    }
    let mut r = Reader { b, at: 1 };
    let mut m = Incoming {
        kind: r.u8()?,
        ..Incoming::default()
    };
    r.take(2)?; // flags, version
    let body_len = r.u32()? as usize;
    r.u32()?; // serial
    let fields_len = r.u32()? as usize;
    let end = r.at + fields_len;
    while r.at < end {
        r.align(8);
        let code = r.u8()?;
        let sig = r.signature()?;
        match (code, sig.as_str()) {
            (5, "u") => m.reply_serial = Some(r.u32()?),
            (3, "s") => m.member = Some(r.string()?),
            (4, "s") => m.error_name = Some(r.string()?),
            (8, "g") => m.signature = r.signature()?,
            (_, "s" | "o") => {
                r.string()?;
            }
            (_, "g") => {
                r.signature()?;
            }
            (_, "u") => {
                r.u32()?;
            }
            (c, s) => {
                return Err(PrivateError::Protocol(format!(
                    "header field {c} of type {s}"
                )))
            }
        }
    }
    r.align(8);
    m.body = r.take(body_len)?.to_vec();
    Ok(m)
}

pub struct Private {
    sock: UnixStream,
    buf: Vec<u8>,
    /// Signals read while waiting for a reply, kept for a JobRemoved wait.
    pending: Vec<Incoming>,
    /// systemd refuses a second Subscribe on one connection.
    subscribed: bool,
}

fn uid_hex() -> String {
    nix::unistd::geteuid()
        .as_raw()
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A re-executing systemd drops the socket: Closed lets the caller retry.
fn closed_or_io(e: std::io::Error) -> PrivateError {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
            PrivateError::Closed
        }
        _ => e.into(),
    }
}

impl Private {
    pub fn available() -> bool {
        nix::unistd::geteuid().is_root() && Path::new(PATH).exists()
    }

    /// Connects and authenticates (SASL EXTERNAL, as the root it runs as).
    pub fn connect(timeout: Duration) -> Result<Private, PrivateError> {
        let mut sock = UnixStream::connect(PATH)?;
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        sock.write_all(format!("\0AUTH EXTERNAL {}\r\n", uid_hex()).as_bytes())?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            sock.read_exact(&mut byte)?;
            line.push(byte[0]);
        }
        if !line.starts_with(b"OK ") {
            return Err(PrivateError::Protocol(format!(
                "authentication refused: {}",
                String::from_utf8_lossy(&line).trim()
            )));
        }
        sock.write_all(b"BEGIN\r\n")?;
        Ok(Private {
            sock,
            buf: Vec::new(),
            pending: Vec::new(),
            subscribed: false,
        })
    }

    /// Reads until one whole message is buffered, and returns it; past
    /// `deadline`, a Timeout that names the caller's whole `timeout`.
    fn read_message(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Incoming, PrivateError> {
        loop {
            if self.buf.len() >= 16 {
                let le = |at: usize| {
                    u32::from_le_bytes([
                        self.buf[at],
                        self.buf[at + 1],
                        self.buf[at + 2],
                        self.buf[at + 3],
                    ]) as usize
                };
                let (body, fields) = (le(4), le(12));
                let total = (16 + fields).div_ceil(8) * 8 + body;
                if self.buf.len() >= total {
                    let m = parse(&self.buf[..total]);
                    self.buf.drain(..total);
                    if let Ok(m) = &m {
                        log::debug!(
                            "{PATH}: got type {} member {:?} reply to {:?}",
                            m.kind,
                            m.member,
                            m.reply_serial
                        );
                    }
                    return m;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PrivateError::Timeout(timeout));
            }
            self.sock.set_read_timeout(Some(left))?;
            let mut chunk = [0u8; 8192];
            let n = match self.sock.read(&mut chunk) {
                Ok(0) => return Err(PrivateError::Closed),
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(PrivateError::Timeout(timeout))
                }
                Err(e) => return Err(closed_or_io(e)),
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a method call and waits for its reply's body (an error reply is an Err).
    fn call<B>(
        &mut self,
        path: &str,
        iface: &str,
        member: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<Incoming, PrivateError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let msg = zbus::Message::method_call(path, member)
            .interface(iface)
            .build(body)?;
        let serial = msg.primary_header().serial_num().get();
        log::debug!("{PATH}: {member} {path} as message {serial}");
        self.sock
            .write_all(msg.data().bytes())
            .map_err(closed_or_io)?;
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.read_message(deadline, timeout)?;
            if m.reply_serial != Some(serial) {
                if m.kind == 4 {
                    self.pending.push(m);
                }
                continue;
            }
            if m.kind == 3 {
                let message = Reader { b: &m.body, at: 0 }.string().unwrap_or_default();
                return Err(PrivateError::Method {
                    name: m.error_name.unwrap_or_default(),
                    message,
                });
            }
            return Ok(m);
        }
    }

    /// Subscribe, once per connection.
    pub fn subscribe_once(&mut self, timeout: Duration) -> Result<(), PrivateError> {
        if !self.subscribed {
            self.call(MANAGER_PATH, MANAGER, "Subscribe", &(), timeout)?;
            self.subscribed = true;
        }
        Ok(())
    }

    pub fn reload(&mut self, timeout: Duration) -> Result<(), PrivateError> {
        self.call(MANAGER_PATH, MANAGER, "Reload", &(), timeout)
            .map(|_| ())
    }

    /// GetUnit's object path, or None for a unit systemd has not loaded.
    pub fn get_unit(
        &mut self,
        unit: &str,
        timeout: Duration,
    ) -> Result<Option<String>, PrivateError> {
        match self.call(MANAGER_PATH, MANAGER, "GetUnit", &(unit,), timeout) {
            Ok(m) => Ok(Some(Reader { b: &m.body, at: 0 }.string()?)),
            Err(PrivateError::Method { name, .. })
                if name == "org.freedesktop.systemd1.NoSuchUnit" =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A unit's ActiveState, read fresh.
    pub fn active_state(
        &mut self,
        unit: &str,
        timeout: Duration,
    ) -> Result<Option<String>, PrivateError> {
        let Some(path) = self.get_unit(unit, timeout)? else {
            return Ok(None);
        };
        let m = self.call(
            &path,
            "org.freedesktop.DBus.Properties",
            "Get",
            &("org.freedesktop.systemd1.Unit", "ActiveState"),
            timeout,
        )?;
        let mut r = Reader { b: &m.body, at: 0 };
        let sig = r.signature()?;
        if sig != "s" {
            return Err(PrivateError::Protocol(format!("ActiveState of type {sig}")));
        }
        Ok(Some(r.string()?))
    }

    /// StartUnit(unit, "replace"), not waiting for the job.
    pub fn start_unit_nowait(&mut self, unit: &str, timeout: Duration) -> Result<(), PrivateError> {
        self.call(
            MANAGER_PATH,
            MANAGER,
            "StartUnit",
            &(unit, "replace"),
            timeout,
        )
        .map(|_| ())
    }

    /// StartUnit/StopUnit(unit, "replace"), then the job's result from its JobRemoved.
    pub fn run_job(
        &mut self,
        method: &str,
        unit: &str,
        timeout: Duration,
    ) -> Result<String, PrivateError> {
        let deadline = Instant::now() + timeout;
        let m = self.call(MANAGER_PATH, MANAGER, method, &(unit, "replace"), timeout)?;
        let job = Reader { b: &m.body, at: 0 }.string()?;
        loop {
            let m = match self.pending.pop() {
                Some(m) => m,
                None => self.read_message(deadline, timeout)?,
            };
            if m.kind != 4 || m.member.as_deref() != Some("JobRemoved") || m.signature != "uoss" {
                continue;
            }
            let mut r = Reader { b: &m.body, at: 0 };
            r.u32()?;
            if r.string()? == job {
                r.string()?;
                return r.string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JobRemoved signal as systemd sends it on this socket, sender included.
    fn job_removed() -> Vec<u8> {
        let job = zbus::ObjectPath::try_from("/org/freedesktop/systemd1/job/7").unwrap();
        // zbus only builds a unique sender: one as long as systemd's name,
        // then systemd's name in its place, as the socket delivers it.
        let stand_in = ":1.aaaaaaaaaaaaaaaaaaaaa";
        let systemd = "org.freedesktop.systemd1";
        assert_eq!(stand_in.len(), systemd.len());
        let msg = zbus::Message::signal(MANAGER_PATH, MANAGER, "JobRemoved")
            .sender(stand_in)
            .build(&(7u32, job, "a.mount", "done"))
            .unwrap();
        let mut b = msg.data().bytes().to_vec();
        let at = b
            .windows(stand_in.len())
            .position(|w| w == stand_in.as_bytes())
            .unwrap();
        b[at..at + systemd.len()].copy_from_slice(systemd.as_bytes());
        assert!(
            zbus::Message::signal(MANAGER_PATH, MANAGER, "JobRemoved")
                .sender(systemd)
                .build(&())
                .is_err(),
            "zbus now takes a well-known sender: use it here"
        );
        b
    }

    #[test]
    fn reads_a_signal_body() {
        let m = parse(&job_removed()).unwrap();
        assert_eq!(m.kind, 4);
        assert_eq!(m.member.as_deref(), Some("JobRemoved"));
        assert_eq!(m.signature, "uoss");
        let mut r = Reader { b: &m.body, at: 0 };
        assert_eq!(r.u32().unwrap(), 7);
        assert_eq!(r.string().unwrap(), "/org/freedesktop/systemd1/job/7");
        assert_eq!(r.string().unwrap(), "a.mount");
        assert_eq!(r.string().unwrap(), "done");
    }

    /// The caller retries only on Timeout or Closed: a dropped socket must be Closed.
    #[test]
    fn a_dropped_connection_is_closed() {
        let (sock, peer) = UnixStream::pair().unwrap();
        let mut p = Private {
            sock,
            buf: Vec::new(),
            pending: Vec::new(),
            subscribed: false,
        };
        let mut peer = peer;
        let mut first = [0u8; 1];
        let asked = std::thread::spawn(move || peer.read_exact(&mut first));
        let r = p.active_state("a.mount", Duration::from_secs(5));
        asked.join().unwrap().unwrap();
        assert!(matches!(r, Err(PrivateError::Closed)), "{r:?}");
        let r = p.active_state("a.mount", Duration::from_secs(5));
        assert!(matches!(r, Err(PrivateError::Closed)), "{r:?}");
    }

    #[test]
    fn a_short_message_is_an_error_not_a_panic() {
        let b = job_removed();
        for n in [0, 1, 12, 20, b.len() - 1] {
            assert!(parse(&b[..n]).is_err(), "{n}");
        }
    }
}
