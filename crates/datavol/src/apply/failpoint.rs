//! Failpoints: named points where tests and the VM rig crash or pause
//! datavol (the `fail` crate; compiled in only with the `failpoints` feature).

/// A named point where tests and the VM rig can crash or pause datavol.
/// `FAILPOINTS=name=return` aborts the process on the spot, like a power cut.
pub fn failpoint(name: &str) {
    #[cfg(feature = "failpoints")]
    log::info!("failpoint {name}");
    fail::fail_point!(name, |_| {
        log::error!("failpoint {name}: aborting to simulate a crash");
        std::process::abort()
    });
    let _ = name;
}
