//! The shell behind `run_command`: the automation environment it starts
//! with, its argv, the one line it runs first, and the spool file for a
//! command too long for the terminal's line limit.
//!
//! Running commands is the library's [`bgterm::Session::run_with`] on a
//! shell started with [`bgterm::SessionBuilder::for_run`]: it reports
//! completion and `$?` through invisible prompt marks, turns the echo and
//! the line editor off (so tabs and `!` reach the shell as typed), and
//! leaves no prompt unread.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Environment for the shell the server starts: plain output, no pagers,
/// a UTF-8 locale, lines starting with a space kept out of history (the
/// spool line). Each can be overridden by `run_command`'s `env`.
pub const AUTOMATION_ENV: &[(&str, &str)] = &[
    ("TERM", "dumb"),
    ("NO_COLOR", "1"),
    ("PAGER", "cat"),
    ("GIT_PAGER", "cat"),
    ("MANPAGER", "cat"),
    ("SYSTEMD_PAGER", "cat"),
    ("LESS", "-FRX"),
    ("LANG", "C.UTF-8"),
    ("LC_ALL", "C.UTF-8"),
    ("HISTCONTROL", "ignorespace"),
];

/// The shell `run_command` starts: bash without startup files (so a
/// user's prompt theme or aliases cannot interfere), else `sh`.
pub fn default_shell() -> Vec<String> {
    let bash = ["/bin/bash", "/usr/bin/bash"]
        .iter()
        .find(|p| Path::new(p).exists());
    match bash {
        Some(b) => vec![
            (*b).to_string(),
            "--noprofile".into(),
            "--norc".into(),
            "-i".into(),
        ],
        None => vec!["/bin/sh".into(), "-i".into()],
    }
}

/// The first command run in the shell the server starts (through the
/// library's runner, before the caller's): an empty line, so that the
/// runner's set-up (prompt marks; echo, line editing, history expansion and
/// job control off, so background jobs stay in the session's process
/// group and closing the session ends them too) is done, and checked, when
/// the shell is started rather than in the caller's first command.
pub const INIT: &str = "";

/// Writes `command` to a new private file in `spool` (mode 0600, created
/// exclusively) and returns the short line that runs it: sources it,
/// removes it, and leaves `$?` the command's status. For a command the
/// terminal would refuse as one line ([`bgterm::Error::LineTooLong`]).
///
/// # Errors
///
/// The file's, as text naming it.
pub fn spool_line(command: &str, spool: &Path) -> Result<(String, std::path::PathBuf), String> {
    let path = spool.join(format!("cmd-{}.sh", nonce()));
    let mut text = command.to_string();
    text.push('\n');
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.flush()))
        .map_err(|e| {
            format!(
                "cannot write the long command to {:?}: {e}",
                path.display().to_string()
            )
        })?;
    let p = path.display().to_string().replace('\'', r"'\''");
    // `eval` expands `$__bgmcp_s` before it runs, so the unset does not
    // lose it, and `(exit N)` leaves `$?` the command's status.
    let line = format!(" . '{p}'; __bgmcp_s=$?; rm -f -- '{p}'; eval \"unset __bgmcp_s; (exit $__bgmcp_s)\"");
    Ok((line, path))
}

/// A fresh random nonce (hex).
pub fn nonce() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No randomness: time and a counter still differ per call.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        b = (t ^ N
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .rotate_left(32))
        .to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spool_file_is_private_and_the_line_short() {
        let dir = std::env::temp_dir().join(format!("bgterm-mcp-test-{}", nonce()));
        std::fs::create_dir(&dir).unwrap();
        let cmd = format!("echo {}", "x".repeat(10_000));
        let (line, path) = spool_line(&cmd, &dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), cmd + "\n");
        assert!(line.len() < 400 && !line.contains('\n'), "{line}");
        assert!(line.starts_with(' '));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 16);
    }
}
