//! The run's outcome, and the documented exit codes it maps to.

use std::process::ExitCode;

/// Exit codes, documented in datavol(8).
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const REFUSED: u8 = 3;
    pub const DEVICE_TIMEOUT: u8 = 4;
    pub const USAGE: u8 = 64;
}

/// How one volume (or the whole run) failed, in the order operators act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    Config,
    Refused,
    DeviceTimeout,
    Failed,
}

impl Failure {
    pub fn code(self) -> u8 {
        match self {
            Failure::Config => exit::CONFIG,
            Failure::Refused => exit::REFUSED,
            Failure::DeviceTimeout => exit::DEVICE_TIMEOUT,
            Failure::Failed => exit::FAILURE,
        }
    }
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}
