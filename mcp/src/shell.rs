//! The persistent shell behind `run_command`: the automation environment it
//! starts with, and running one command to completion with its exit code,
//! a timeout that leaves it running (the caller resumes with
//! `read_output`), and `$?` kept for the user's next command.
//!
//! How completion is detected (as the library's `Session::run` does): the
//! command is sent on one line, quoted for `eval`, between two `printf`
//! calls that print a begin and an end marker, the end marker carrying the
//! command's status. Each marker is joined by `printf` from separate words
//! (`printf '%s_%s\n' __BGMCP_B 1f2e...`), so the terminal's echo of the
//! typed line, which shows the words apart, can never match the printed
//! marker, and a fresh random nonce per command keeps old markers from
//! matching. After the end marker the status is restored with a function
//! that `return`s it, so `$?` at the next command is the command's status,
//! not `printf`'s (it is also restored before the command, so `echo $?`
//! shows the previous command's status). The line starts with a space, which keeps it out of
//! history in the shell the server starts (`HISTCONTROL=ignorespace`).
//!
//! Kept in one module so it can later be swapped for a library version.

use std::path::Path;
use std::time::{Duration, Instant};

use bgterm::{ExitStatus, Session};

use crate::text::Held;

/// Environment for the shell the server starts: plain output, no pagers,
/// a UTF-8 locale, history kept free of the wrapper lines. Each can be
/// overridden by `run_command`'s `env`.
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
    ("PS1", "$ "),
    ("PROMPT_COMMAND", PROMPT_COMMAND),
    ("PS2", "> "),
];

/// Run by bash before each prompt: if a command line ended without printing
/// its end marker (Ctrl-C makes an interactive shell drop the rest of the
/// line), prints it with the line's status, so an interrupted command is
/// seen to end (status 130). Bash keeps `$?` across it.
pub const PROMPT_COMMAND: &str = "__bgmcp_s=$?; if [ -n \"${__bgmcp_n-}\" ]; then \
    printf '%s_%s_%s\\n' __BGMCP_E \"$__bgmcp_n\" \"$__bgmcp_s\"; __bgmcp_n=; fi";

/// The shell `run_command` starts: bash without startup files (so a
/// user's prompt theme or aliases cannot interfere), else `sh`.
pub fn default_shell() -> Vec<String> {
    let bash = ["/bin/bash", "/usr/bin/bash"]
        .iter()
        .find(|p| std::path::Path::new(p).exists());
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

/// The first line sent to the shell the server starts: job control off, so
/// background jobs stay in the session's process group and closing the
/// session ends them too (bash turns it on for an interactive shell
/// whatever its command line says). Its echo is discarded by the next
/// command's begin marker.
pub const INIT: &str = " set +m\n";

/// A command sent to a shell and not yet seen to finish.
#[derive(Debug)]
pub struct Pending {
    begin: String,
    end: String,
    /// The begin marker's line has been seen: `acc` holds command output.
    begun: bool,
    /// Output not yet returned: before `begun`, everything since the
    /// command was sent (the echo); after, the command's output.
    acc: String,
    /// When the command was sent.
    pub started: Instant,
    /// Output bytes the session's buffer dropped while the command ran.
    pub dropped_bytes: u64,
}

/// How far a command got in one [`drive`].
#[derive(Debug)]
pub enum Progress {
    /// It finished: the rest of its output and its exit code.
    Done { output: Held, exit_code: i32 },
    /// Still running when the wait ended: the output since the last call.
    Running { output: Held },
    /// The shell itself exited (say the command was `exit 3`).
    ShellExited { output: Held, status: ExitStatus },
}

/// One line that runs `command` in the shell, marked with `nonce`.
pub fn wrap(command: &str, nonce: &str) -> String {
    let quoted = command.replace('\'', r"'\''");
    wrap_run(&format!("eval '{quoted}'"), nonce)
}

/// One line that runs the shell code `run`, marked with `nonce`.
fn wrap_run(run: &str, nonce: &str) -> String {
    // `$?` is saved first and restored before the command, so the command
    // sees the previous command's status, and restored again at the end.
    // `__bgmcp_n` tells [`PROMPT_COMMAND`] a command is under way.
    format!(
        " __bgmcp_s=$?; __bgmcp_r() {{ return \"$1\"; }}; __bgmcp_n={nonce}; printf '%s_%s\\n' __BGMCP_B {nonce}; \
         __bgmcp_r \"$__bgmcp_s\"; {run}; __bgmcp_s=$?; \
         printf '%s_%s_%s\\n' __BGMCP_E {nonce} \"$__bgmcp_s\"; __bgmcp_n=; __bgmcp_r \"$__bgmcp_s\"\n"
    )
}

/// Longest wrapped line typed into the shell. A longer command is written
/// to a file that the line sources instead: while the shell runs a command
/// its terminal is in canonical mode, where the kernel keeps at most 4095
/// bytes of an unfinished line, and the next command may arrive then.
const INLINE_MAX: usize = 2048;

/// The line that runs `command`: typed inline, or for a long one sourced
/// from a file in `spool` (private to this server) that it then removes.
fn line_for(command: &str, nonce: &str, spool: &Path) -> Result<String, String> {
    let inline = wrap(command, nonce);
    if inline.len() <= INLINE_MAX {
        return Ok(inline);
    }
    let path = spool.join(format!("cmd-{nonce}.sh"));
    let mut text = command.to_string();
    text.push('\n');
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()).map(|()| f))
            .map_err(|e| {
                format!(
                    "cannot write the long command to {:?}: {e}",
                    path.display().to_string()
                )
            })?;
        f.flush().map_err(|e| e.to_string())?;
    }
    let p = path.display().to_string().replace('\'', r"'\''");
    Ok(wrap_run(
        &format!(". '{p}'; __bgmcp_s=$?; rm -f -- '{p}'; __bgmcp_r \"$__bgmcp_s\""),
        nonce,
    ))
}

/// A fresh random nonce (hex).
pub fn nonce() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No randomness: time and a counter still differ per command.
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

/// Sends `command` to the shell `session` and returns its pending state.
/// A long command goes through a file in `spool`.
///
/// # Errors
///
/// The library's errors for sending input (exited session, ...), or the
/// spool file's.
pub fn start(session: &Session, command: &str, spool: &Path) -> Result<Pending, String> {
    let nonce = nonce();
    let line = line_for(command, &nonce, spool)?;
    session.send(&line).map_err(|e| e.to_string())?;
    Ok(Pending::new(&nonce))
}

impl Pending {
    /// A command marked with `nonce`, sent now.
    fn new(nonce: &str) -> Pending {
        Pending {
            begin: format!("__BGMCP_B_{nonce}"),
            end: format!("__BGMCP_E_{nonce}_"),
            begun: false,
            acc: String::new(),
            started: Instant::now(),
            dropped_bytes: 0,
        }
    }
}

/// Most bytes one read takes from the session while a command runs.
const READ_CHUNK: usize = 1 << 20;

/// Reads the shell's output until the command finishes, `deadline`
/// passes, or `stop` says the new output is what the caller waits for.
/// Event-driven: each read returns the moment output arrives. The command's
/// output goes through `tr` (the cleaner), chunk by chunk, into bounded
/// memory ([`Held`]).
///
/// Returns the progress and the session's unread-cursor offset after the
/// last read.
///
/// # Errors
///
/// The library's read errors (a closed session).
pub fn drive(
    session: &Session,
    p: &mut Pending,
    deadline: Instant,
    stop: Option<&dyn Fn(&str) -> bool>,
    tr: &mut dyn FnMut(&str) -> String,
) -> bgterm::Result<(Progress, u64)> {
    let mut cursor;
    let mut out = Held::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let r = session.poll_with_limit(left, READ_CHUNK)?;
        cursor = r.end_offset;
        p.dropped_bytes += r.dropped_bytes;
        p.acc.push_str(&r.text);
        let mut chunk = String::new();
        let done = scan(p, &mut chunk);
        if !chunk.is_empty() {
            out.push(&tr(&chunk));
        }
        if let Some(exit_code) = done {
            return Ok((
                Progress::Done {
                    output: out,
                    exit_code,
                },
                cursor,
            ));
        }
        if let Some(status) = r.exit_status {
            if r.remaining_bytes == 0 {
                if p.begun {
                    out.push(&tr(&std::mem::take(&mut p.acc)));
                }
                return Ok((Progress::ShellExited { output: out, status }, cursor));
            }
            continue;
        }
        if r.remaining_bytes > 0 {
            continue;
        }
        if stop.is_some_and(|f| f(out.as_str())) || Instant::now() >= deadline {
            return Ok((Progress::Running { output: out }, cursor));
        }
    }
}

/// Looks for the markers in what `p` has accumulated: drops the echo up to
/// the begin marker's line, then moves to `out` all command output that
/// cannot be part of the end marker. Returns the exit code once the end
/// marker's line is complete.
fn scan(p: &mut Pending, out: &mut String) -> Option<i32> {
    if !p.begun
        && let Some(at) = p.acc.find(&p.begin)
    {
        let rest = &p.acc[at + p.begin.len()..];
        // The line end is part of the marker; until it has arrived (a read
        // may end between `\r` and `\n`) wait for more.
        let rest = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n'));
        if let Some(rest) = rest {
            p.acc = rest.to_string();
            p.begun = true;
        }
    }
    if !p.begun {
        return None;
    }
    let found = p.acc.find(&p.end);
    if let Some(at) = found {
        let tail = &p.acc[at + p.end.len()..];
        if let Some(nl) = tail.find('\n') {
            let exit_code = tail[..nl].trim_end_matches('\r').parse().unwrap_or(-1);
            out.push_str(&p.acc[..at]);
            p.acc.clear();
            return Some(exit_code);
        }
    }
    // Hand out everything that cannot be part of the end marker, so a
    // timeout returns all the output so far: hold back a marker whose status
    // line has not ended yet, or a tail that could begin one.
    let keep = match found {
        Some(at) => p.acc.len() - at,
        None => partial_suffix(&p.acc, &p.end),
    };
    let give = p.acc.len() - keep;
    out.push_str(&p.acc[..give]);
    p.acc.drain(..give);
    None
}

/// Length of the longest suffix of `text` that could begin `marker` (a
/// line end and a partial marker, or a partial marker), to hold back.
fn partial_suffix(text: &str, marker: &str) -> usize {
    // The end marker is preceded by whatever the command printed; hold
    // back from the last place a prefix of it could start.
    let max = marker.len().min(text.len());
    (1..=max)
        .rev()
        .find(|&n| text.is_char_boundary(text.len() - n) && marker.starts_with(&text[text.len() - n..]))
        .unwrap_or(0)
}

/// A wait of `ms` from now, bounded by `ceiling`.
pub fn deadline(ms: u64, ceiling: Duration) -> Instant {
    Instant::now() + Duration::from_millis(ms).min(ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapped_line_never_contains_a_joined_marker() {
        let line = wrap("echo 'it''s'", "abc123");
        assert!(!line.contains("__BGMCP_B_abc123"));
        assert!(!line.contains("__BGMCP_E_abc123"));
        assert!(line.starts_with(' ') && line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn partial_suffix_holds_back_only_a_marker_prefix() {
        assert_eq!(partial_suffix("out\n__BGMCP_E_ab", "__BGMCP_E_abcd_"), 12);
        assert_eq!(partial_suffix("out\n", "__BGMCP_E_abcd_"), 0);
        assert_eq!(partial_suffix("x_", "__BGMCP_E_abcd_"), 1);
    }

    /// Feeds `chunks` one read at a time; the output handed out and the code.
    fn feed(chunks: &[&str]) -> (String, Option<i32>) {
        let mut p = Pending::new("ab12");
        let mut out = String::new();
        for c in chunks {
            p.acc.push_str(c);
            if let Some(code) = scan(&mut p, &mut out) {
                return (out, Some(code));
            }
        }
        (out, None)
    }

    #[test]
    fn markers_are_found_however_the_reads_split_them() {
        let whole = "echo-of-line\r\n__BGMCP_B_ab12\r\n44\r\n__BGMCP_E_ab12_3\r\n$ ";
        for cut in 1..whole.len() {
            let (out, code) = feed(&[&whole[..cut], &whole[cut..]]);
            assert_eq!((out.as_str(), code), ("44\r\n", Some(3)), "cut at {cut}");
        }
        for cut in 1..whole.len() - 1 {
            for cut2 in cut + 1..whole.len() {
                let (out, code) = feed(&[&whole[..cut], &whole[cut..cut2], &whole[cut2..]]);
                assert_eq!((out.as_str(), code), ("44\r\n", Some(3)), "cuts at {cut}, {cut2}");
            }
        }
    }

    #[test]
    fn unfinished_output_is_handed_out_but_never_a_marker() {
        let (out, code) = feed(&["__BGMCP_B_ab12\r\npartial\r\n__BGMCP_E_ab12_1"]);
        assert_eq!((out.as_str(), code), ("partial\r\n", None));
        let (out, code) = feed(&["__BGMCP_B_ab12\r\nline\r\n__BGMCP_"]);
        assert_eq!((out.as_str(), code), ("line\r\n", None));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 16);
    }
}
