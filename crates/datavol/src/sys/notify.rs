//! sd_notify(3) for datavol.service (`Type=notify`): a datagram to
//! `$NOTIFY_SOCKET` (a path, or an abstract name after `@`). READY=1 when
//! every volume is done; while a long copy progresses, STATUS= for
//! `systemctl status` and EXTEND_TIMEOUT_USEC= so the start timeout only
//! runs out on a copy that stopped moving. Without `$NOTIFY_SOCKET` (run by
//! hand) it does nothing, and it never fails a run.

use nix::sys::socket::{
    self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;
use std::time::Duration;

/// How long READY=1 waits for systemd to have read it: long enough for a
/// busy manager, short enough not to matter when it is gone.
const BARRIER_WAIT: Duration = Duration::from_secs(5);

/// Where `$NOTIFY_SOCKET` points; None for anything else (vsock: is for VMs).
fn address(var: &[u8]) -> Option<UnixAddr> {
    match var.first()? {
        b'@' => UnixAddr::new_abstract(&var[1..]).ok(),
        b'/' => UnixAddr::new(std::ffi::OsStr::from_bytes(var)).ok(),
        _ => None,
    }
}

fn target() -> Option<&'static UnixAddr> {
    static TARGET: OnceLock<Option<UnixAddr>> = OnceLock::new();
    TARGET
        .get_or_init(|| address(std::env::var_os("NOTIFY_SOCKET")?.as_bytes()))
        .as_ref()
}

/// One line of `systemctl status`: the protocol is line-based.
fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

/// The message that keeps the start alive for `within` from now.
pub fn keep_alive_message(within: Duration, status: &str) -> String {
    format!(
        "STATUS={}\nEXTEND_TIMEOUT_USEC={}\nWATCHDOG=1",
        one_line(status),
        within.as_micros()
    )
}

fn send(state: &str) {
    if let Some(addr) = target() {
        report(state, send_to(addr, state, &[]));
    }
}

fn report(state: &str, sent: nix::Result<()>) {
    if let Err(e) = sent {
        log::debug!("cannot notify systemd ({state:?}): {e}");
    }
}

fn send_to(addr: &UnixAddr, state: &str, fds: &[RawFd]) -> nix::Result<()> {
    let s = socket::socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let iov = [IoSlice::new(state.as_bytes())];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    socket::sendmsg(
        s.as_raw_fd(),
        &iov,
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        Some(addr),
    )
    .map(|_| ())
}

/// What `systemctl status` shows.
pub fn status(text: &str) {
    send(&format!("STATUS={}", one_line(text)));
}

/// Work is moving: the start may run `within` longer from now.
pub fn keep_alive(within: Duration, status: &str) {
    send(&keep_alive_message(within, status));
}

/// All done (`ready`: successfully, READY=1; otherwise only the status,
/// and the exit code tells systemd the rest). Waits, boundedly, until
/// systemd has read it: a process that exits first can leave it unread,
/// and a Type=notify service that exits 0 without READY=1 has failed.
pub fn finish(ready: bool, status: &str) {
    if let Some(addr) = target() {
        finish_to(addr, ready, status);
    }
}

/// [`finish`] to `addr`; whether systemd confirmed it in time.
fn finish_to(addr: &UnixAddr, ready: bool, status: &str) -> bool {
    let status = one_line(status);
    let state = if ready {
        format!("READY=1\nSTATUS={status}")
    } else {
        format!("STATUS={status}")
    };
    report(&state, send_to(addr, &state, &[]));
    barrier(addr)
}

/// BARRIER=1 with a pipe's write end: systemd closes it once it has
/// handled every message before it, and the read end then reports POLLHUP.
fn barrier(addr: &UnixAddr) -> bool {
    let Ok((r, w)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return false;
    };
    let sent = send_to(addr, "BARRIER=1", &[w.as_raw_fd()]);
    drop(w);
    if sent.is_err() {
        report("BARRIER=1", sent);
        return false;
    }
    let mut fds = [nix::poll::PollFd::new(
        r.as_fd(),
        nix::poll::PollFlags::empty(),
    )];
    let ms = u16::try_from(BARRIER_WAIT.as_millis()).unwrap_or(u16::MAX);
    match nix::poll::poll(&mut fds, ms) {
        Ok(0) => {
            log::debug!(
                "systemd did not confirm the notification within {}s",
                BARRIER_WAIT.as_secs()
            );
            false
        }
        Ok(_) => true,
        Err(e) => {
            log::debug!("waiting for systemd to read the notification: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_one_line_messages() {
        assert_eq!(
            keep_alive_message(Duration::from_secs(180), "copying volume a:\n1 of 2 MiB"),
            "STATUS=copying volume a: 1 of 2 MiB\nEXTEND_TIMEOUT_USEC=180000000\nWATCHDOG=1"
        );
    }

    #[test]
    fn reads_path_and_abstract_addresses() {
        let a = address(b"@/org/freedesktop/systemd1/notify").expect("abstract");
        assert_eq!(
            a.as_abstract(),
            Some(&b"/org/freedesktop/systemd1/notify"[..])
        );
        assert_eq!(a.path(), None);
        let p = address(b"/run/systemd/notify").expect("path");
        assert_eq!(p.path(), Some(std::path::Path::new("/run/systemd/notify")));
        assert!(address(b"vsock:2:1234").is_none());
        assert!(address(b"").is_none());
    }

    /// READY=1, then the barrier, at a socket bound at an abstract name
    /// as systemd binds its own; the barrier holds until the receiver has
    /// read it (and so dropped the descriptor).
    #[test]
    fn ready_reaches_an_abstract_socket_and_waits_for_the_barrier() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("datavol-notify-test-{}", std::process::id());
        let bound = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract address");
        let rx = std::os::unix::net::UnixDatagram::bind_addr(&bound).expect("bind");
        rx.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while let Ok(n) = rx.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                if got.len() == 2 {
                    break;
                }
            }
            got
        });
        let to = address(format!("@{name}").as_bytes()).expect("address");
        assert!(
            finish_to(&to, true, "2 volumes\nready"),
            "barrier not lifted"
        );
        assert_eq!(
            reader.join().expect("reader"),
            ["READY=1\nSTATUS=2 volumes ready", "BARRIER=1"]
        );
    }
}
