//! Helpers every task uses: where the workspace and the target dir are, the root check,
//! and one way to run a command (`run`, `run_logged`, `run_shown`), whose errors name the
//! command line, its exit status and what it printed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The cargo target directory in use (CARGO_TARGET_DIR, else ./target).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// `cargo` (the one running xtask, when there is one), in the workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Fails unless this runs as root; `what` names the task for the message.
pub fn require_root(what: &str) -> Result<(), String> {
    let uid = run(Command::new("id").arg("-u"))?;
    if uid.trim() != "0" {
        return Err(format!(
            "{what} needs root (loop devices, mounts, rpm --root, apt-get); run it as root"
        ));
    }
    Ok(())
}

/// The command line, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Why a command could not start, with the Debian package to install when the program
/// is missing.
fn spawn_error(cmd: &Command, e: std::io::Error) -> String {
    let prog = cmd.get_program().to_string_lossy().into_owned();
    let name = prog.rsplit('/').next().unwrap_or(&prog);
    let hint = match crate::preflight::package_of(name) {
        Some(pkg) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("; hint: apt-get install {pkg}, or run cargo xtask setup")
        }
        _ => String::new(),
    };
    format!("{}: {e}{hint}", describe(cmd))
}

/// Runs a command (no stdin), returns its stdout. The error carries the command line,
/// the exit status, stderr, and stdout when there was any (rpm -V and validators report
/// there).
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(cmd, e))?;
    if !out.status.success() {
        return Err(failed(cmd, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn failed(cmd: &Command, out: &Output) -> String {
    let mut s = format!(
        "{} failed ({}): {}",
        describe(cmd),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.trim().is_empty() {
        s.push_str("\nstdout: ");
        s.push_str(stdout.trim());
    }
    s
}

/// Runs a command with stdout and stderr appended to `log`.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<(), String> {
    let f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let f2 = f
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let st = cmd
        .stdin(Stdio::null())
        .stdout(f)
        .stderr(f2)
        .status()
        .map_err(|e| spawn_error(cmd, e))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({st}); see {}",
            describe(cmd),
            log.display()
        ))
    }
}

/// Runs a command with its output on this terminal (builds, apt-get): the user watches it.
pub fn run_shown(cmd: &mut Command) -> Result<(), String> {
    let st = cmd.status().map_err(|e| spawn_error(cmd, e))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({st})", describe(cmd)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_command_status_and_output() {
        let e = run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap_err();
        assert!(
            e.starts_with("sh -c echo out; echo err >&2; exit 3 failed"),
            "{e}"
        );
        assert!(e.contains("exit status: 3"), "{e}");
        assert!(e.contains("err") && e.contains("stdout: out"), "{e}");
        assert_eq!(run(Command::new("echo").arg("hi")).unwrap(), "hi\n");
    }

    #[test]
    fn a_missing_program_names_its_package() {
        let e = run(&mut Command::new("mkfs.xfs-not-here")).unwrap_err();
        assert!(e.contains("mkfs.xfs-not-here"), "{e}");
        let e = spawn_error(
            &Command::new("/usr/sbin/mkfs.xfs"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(e.contains("apt-get install xfsprogs"), "{e}");
    }
}
