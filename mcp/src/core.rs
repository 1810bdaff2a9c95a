//! The server's sessions and what each tool does, as plain blocking code on
//! the library's public API (the async side calls it off its threads).
//!
//! Turns are the library's: `run_command` is [`Session::run_with`] on a
//! shell started with [`SessionBuilder::for_run`], and a REPL session's
//! `write_stdin` is [`Repl::eval`]; a timeout leaves the turn open, and the
//! reading tools resume it ([`Session::run_resume`], [`Repl::resume`]).
//!
//! Every wait here ends by a deadline no later than the server's ceiling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgterm::{
    Command, CursorKeys, Error, ExitStatus, Pattern, PollResult, Repl, ReplBuilder, RunOptions, RunOutput,
    RunPartial, Session, SessionBuilder, SessionEvent, TextCleaner,
};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::params::*;
use crate::shell;
use crate::text;
use crate::turns::{self, Fresh, Kind, Preset, Track};

/// Default for `max_output_bytes`.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 * 1024;
/// Most bytes one call takes from a session's buffer; what is left is
/// reported as `remaining_bytes`.
const READ_LIMIT: usize = 1 << 20;
/// Default quiet period ending a wait that has no `until`.
const DEFAULT_SETTLE_MS: u64 = 100;
/// Default wait of write_stdin, send_keys and read_output.
const DEFAULT_YIELD_MS: u64 = 2000;
/// Default wait of a REPL turn (write_stdin on a REPL session).
const DEFAULT_REPL_YIELD_MS: u64 = 10_000;
/// Default wait for a session's first output.
const DEFAULT_START_YIELD_MS: u64 = 300;
/// Default wait for a REPL's first prompt.
const DEFAULT_REPL_START_MS: u64 = 10_000;
/// Default run_command timeout.
const DEFAULT_RUN_TIMEOUT_MS: u64 = 10_000;
/// Default wait_for_text timeout.
const DEFAULT_WAIT_MS: u64 = 10_000;
/// Default `line_count` of a page.
const DEFAULT_PAGE_LINES: usize = 200;
/// Room kept in a page for its footer line (the range, the next page).
const PAGE_FOOTER_ROOM: usize = 256;
/// The name of the shell run_command starts on first use.
const SHELL_NAME: &str = "shell";
/// Start of the library's invisible prompt mark that ends a command
/// (OSC 133 "command finished"): woken on while a run is followed with
/// `until`, to see the command end.
const PROMPT_MARK: &str = "\x1b]133;D;";
/// How long, after a prompt mark, the library's runner is given to report
/// the command's end (it may be the prompt of one line of several).
const MARK_GRACE: Duration = Duration::from_millis(200);

/// Server-wide settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most open sessions; at the cap, starting one prunes.
    pub max_sessions: usize,
    /// Ceiling of every wait.
    pub max_wait: Duration,
    /// Programs that may be started (basename or path); `None`: any.
    pub allow: Option<Vec<String>>,
    /// Programs that may not be started.
    pub deny: Vec<String>,
    /// Working directories must lie under this one.
    pub cwd_root: Option<PathBuf>,
}

/// A tool's successful answer: text for the model, fields for programs.
pub struct Reply {
    pub text: String,
    pub data: Value,
}

/// A tool's failure: the message names the bad session, pattern or key.
pub type ToolResult = Result<Reply, String>;

struct EntryState {
    last_used: Instant,
    /// Cleans the stream of a plain session's reads.
    cleaner: TextCleaner,
    /// The unread cursor after this server's last read.
    cursor: u64,
    /// The session's last turn (run_command's command, a REPL input).
    track: Option<Track>,
}

/// One open session.
pub struct Entry {
    id: u64,
    session: Session,
    name: Option<String>,
    /// A REPL session: its turns. Locked while a call waits for a turn.
    repl: Option<Mutex<Repl>>,
    st: Mutex<EntryState>,
}

/// All open sessions and the settings.
pub struct Core {
    pub cfg: Config,
    table: Mutex<BTreeMap<u64, Arc<Entry>>>,
    /// Where long commands are written for the shell to source.
    spool: Mutex<Option<PathBuf>>,
    /// Held while the default shell is looked up or created: concurrent
    /// first calls make one shell.
    shell_lock: Mutex<()>,
}

fn exit_fields(status: Option<ExitStatus>) -> (Option<i32>, Option<i32>) {
    (
        status.and_then(ExitStatus::code),
        status.and_then(ExitStatus::signal),
    )
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A wait of `ms` from now, bounded by `ceiling`.
fn deadline(ms: u64, ceiling: Duration) -> Instant {
    Instant::now() + Duration::from_millis(ms).min(ceiling)
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// What a plain read collected, before cleaning and cutting.
struct Collected {
    text: String,
    running: bool,
    status: Option<ExitStatus>,
    dropped: u64,
    remaining: usize,
    matched: Option<bool>,
    /// The unread cursor after the read (one past what it returned).
    cursor: u64,
}

impl Collected {
    fn from_poll(r: PollResult, matched: Option<bool>) -> Collected {
        Collected {
            text: r.text,
            running: r.running,
            status: r.exit_status,
            dropped: r.dropped_bytes,
            remaining: r.remaining_bytes,
            matched,
            cursor: r.end_offset,
        }
    }
}

/// How far a turn got in one call.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// It finished (a command's exit code; none for a REPL reply).
    Done(Option<i32>),
    /// Still running when the wait ended.
    Open,
    /// The shell or program exited.
    Exited(ExitStatus),
}

/// What a call asks of a REPL's turn.
enum ReplAct<'a> {
    /// Evaluate this input as a new turn.
    Eval(&'a str),
    /// Keep waiting for the open turn.
    Resume,
    /// Ctrl-C, then wait for the prompt.
    Interrupt,
    /// Send this to the program (it reads input), then keep waiting.
    Input(&'a str),
}

/// A turn's new output, cut for the model.
struct Shown {
    text: String,
    elided: u64,
    /// How to page the elided lines (read_output's arguments).
    page: Option<Value>,
    hint: String,
}

/// Cuts `f` to `max` bytes; when the middle goes, says which lines it held
/// in the turn's whole output and how to read them.
fn shape(id: u64, f: &Fresh<'_>, max: usize, not_kept: u64) -> Shown {
    // Room for a marker that counts more than this text (output not kept).
    let cut = text::head_tail(f.text, if f.gap.is_some() { max - 12 } else { max });
    let Some((a, b)) = cut.gap else {
        return Shown {
            text: cut.text,
            elided: 0,
            page: None,
            hint: String::new(),
        };
    };
    let (ga, gb) = (f.offset + a, f.offset + b);
    let mut elided = cut.elided as u64;
    let mut out = cut.text;
    if let Some(g) = &f.gap
        && g.start >= ga
        && g.end <= gb
    {
        // The marker of output not kept is within the cut: count those bytes.
        elided = elided - g.len() as u64 + not_kept;
        out = format!(
            "{}{}{}",
            &f.text[..a],
            text::marker(elided as usize),
            &f.text[b..]
        );
    }
    let from = text::line_at(f.whole, ga);
    let to = text::line_at(f.whole, gb.saturating_sub(1)).max(from);
    let total = text::line_count(f.whole);
    let count = to - from + 1;
    Shown {
        text: out,
        elided,
        page: Some(json!({
            "tool": "read_output", "session": id, "from_line": from, "line_count": count, "total_lines": total,
        })),
        hint: format!(
            "\n[elided: lines {from}-{to} of {total}; read_output session={id} from_line={from} line_count={count} shows them]"
        ),
    }
}

/// Appends the paging hint (a line of its own) to a reply's text.
fn push_hint(text: &mut String, hint: &str) {
    if text.is_empty() || text.ends_with('\n') {
        text.push_str(hint.trim_start_matches('\n'));
    } else {
        text.push_str(hint);
    }
}

fn regex(p: &str) -> Result<Pattern, String> {
    Pattern::regex(p).map_err(|e| e.to_string())
}

fn run_options(deadline: Instant) -> RunOptions {
    RunOptions::new()
        .timeout(Some(left(deadline)))
        .head_bytes(turns::RUN_HEAD_BYTES)
        .tail_bytes(turns::RUN_TAIL_BYTES)
}

impl Core {
    pub fn new(cfg: Config) -> Core {
        Core {
            cfg,
            table: Mutex::new(BTreeMap::new()),
            spool: Mutex::new(None),
            shell_lock: Mutex::new(()),
        }
    }

    fn ceiling(&self, ms: Option<u64>, default: u64) -> Instant {
        deadline(ms.unwrap_or(default), self.cfg.max_wait)
    }

    fn resolve(&self, r: &SessionRef) -> Result<Arc<Entry>, String> {
        let table = self.table.lock();
        let found = match r {
            SessionRef::Id(n) => table.get(n),
            SessionRef::Name(s) => match s.parse::<u64>() {
                Ok(n) => table.get(&n),
                Err(_) => table.values().find(|e| e.name.as_deref() == Some(s.as_str())),
            },
        };
        let e = found.cloned().ok_or_else(|| {
            format!(
                "unknown session {r}: no open session has that id or name (list_sessions shows the open ones)"
            )
        })?;
        e.st.lock().last_used = Instant::now();
        Ok(e)
    }

    /// Closes and reaps every session (shutdown), and removes the spool.
    pub fn close_all(&self) -> usize {
        let all: Vec<_> = std::mem::take(&mut *self.table.lock()).into_values().collect();
        for e in &all {
            let _ = e.session.close();
        }
        if let Some(dir) = self.spool.lock().take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        all.len()
    }

    /// This server's private directory for long commands (made on first
    /// use, mode 0700).
    fn spool(&self) -> Result<PathBuf, String> {
        let mut spool = self.spool.lock();
        if let Some(d) = &*spool {
            return Ok(d.clone());
        }
        let dir = std::env::temp_dir().join(format!("bgterm-mcp-{}-{}", std::process::id(), shell::nonce()));
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&dir)
            .map_err(|e| {
                format!(
                    "cannot create the spool directory {:?}: {e}",
                    dir.display().to_string()
                )
            })?;
        *spool = Some(dir.clone());
        Ok(dir)
    }

    // ---- guard rails ----

    fn check_program(&self, program: &str) -> Result<(), String> {
        let base = Path::new(program)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        let listed = |l: &[String]| l.iter().any(|p| p == program || *p == base);
        if listed(&self.cfg.deny) {
            return Err(format!(
                "program {program:?} is denied by this server's --deny list"
            ));
        }
        if let Some(allow) = &self.cfg.allow
            && !listed(allow)
        {
            return Err(format!(
                "program {program:?} is not in this server's --allow list ({})",
                allow.join(", ")
            ));
        }
        Ok(())
    }

    fn check_cwd(&self, cwd: Option<&str>) -> Result<Option<PathBuf>, String> {
        let Some(root) = &self.cfg.cwd_root else {
            return Ok(cwd.map(PathBuf::from));
        };
        let dir = cwd.map(PathBuf::from).unwrap_or_else(|| root.clone());
        let dir = if dir.is_relative() { root.join(dir) } else { dir };
        let canon = dir
            .canonicalize()
            .map_err(|e| format!("bad working directory {:?}: {e}", dir.display().to_string()))?;
        if !canon.starts_with(root) {
            return Err(format!(
                "working directory {:?} is outside this server's --cwd-root {:?}",
                canon.display().to_string(),
                root.display().to_string()
            ));
        }
        Ok(Some(canon))
    }

    /// Makes room for one more session: exited ones first, then the least
    /// recently used. Returns the ids closed.
    fn prune(&self, table: &mut BTreeMap<u64, Arc<Entry>>) -> Vec<u64> {
        let mut pruned = Vec::new();
        while table.len() >= self.cfg.max_sessions.max(1) {
            let victim = table
                .values()
                .min_by_key(|e| {
                    let exited = matches!(e.session.try_wait(), Ok(Some(_)) | Err(_));
                    (!exited, e.st.lock().last_used)
                })
                .map(|e| e.id);
            let Some(id) = victim else { break };
            if let Some(e) = table.remove(&id) {
                let _ = e.session.close();
                pruned.push(id);
            }
        }
        pruned
    }

    fn check_name(table: &BTreeMap<u64, Arc<Entry>>, name: Option<&str>) -> Result<(), String> {
        if let Some(n) = name {
            if n.parse::<u64>().is_ok() {
                return Err(format!(
                    "invalid name {n:?}: a name must not be a number (numbers are ids)"
                ));
            }
            if table.values().any(|e| e.name.as_deref() == Some(n)) {
                return Err(format!("name {n:?} is already used by an open session"));
            }
        }
        Ok(())
    }

    fn spawn(
        &self,
        b: SessionBuilder,
        name: Option<String>,
        program: &str,
    ) -> Result<(Arc<Entry>, Vec<u64>), String> {
        self.check_program(program)?;
        let mut table = self.table.lock();
        Self::check_name(&table, name.as_deref())?;
        let b = match &name {
            Some(n) => b.name(n),
            None => b,
        };
        // Bad input is refused before anything is pruned.
        let session = b.screen(true).spawn().map_err(|e| e.to_string())?;
        Ok(self.insert(&mut table, session, name, None))
    }

    /// Adds a started session to the table (pruning first at the cap).
    fn insert(
        &self,
        table: &mut BTreeMap<u64, Arc<Entry>>,
        session: Session,
        name: Option<String>,
        repl: Option<Repl>,
    ) -> (Arc<Entry>, Vec<u64>) {
        // One over the cap for a moment: prune with the new one left out.
        let pruned = if table.len() >= self.cfg.max_sessions.max(1) {
            self.prune(table)
        } else {
            Vec::new()
        };
        let cursor = session.output_offset().unwrap_or(0);
        let e = Arc::new(Entry {
            id: session.id().get(),
            session,
            name,
            repl: repl.map(Mutex::new),
            st: Mutex::new(EntryState {
                last_used: Instant::now(),
                cleaner: TextCleaner::new(),
                cursor,
                track: None,
            }),
        });
        table.insert(e.id, Arc::clone(&e));
        (e, pruned)
    }

    // ---- plain reading ----

    /// Waits as `wait` says for output from `from` on (the offset before
    /// the input this call sent), returning everything unread.
    fn collect(
        &self,
        e: &Entry,
        wait: &WaitOpts,
        from: u64,
        default_yield: u64,
    ) -> Result<Collected, String> {
        let deadline = self.ceiling(wait.yield_ms, default_yield);
        let until = wait.until.as_deref().map(regex).transpose()?;
        let s = &e.session;
        let c = if let Some(pat) = until {
            let cursor = e.st.lock().cursor;
            match s.wait_for_from_deadline(from, pat, Some(deadline)) {
                Ok(m) => {
                    // Part of the match may already have been read.
                    let skip = cursor.saturating_sub(m.match_start) as usize;
                    let mut text = m.before;
                    text.push_str(m.text.get(skip..).unwrap_or(""));
                    let rest = s.read_with_limit(READ_LIMIT).map_err(|e| e.to_string())?;
                    text.push_str(&rest.text);
                    let mut c = Collected::from_poll(rest, Some(true));
                    c.text = text;
                    c.dropped += m.dropped_bytes;
                    c
                }
                Err(Error::WaitTimeout { .. } | Error::ExitedBeforeMatch { .. }) => Collected::from_poll(
                    s.read_with_limit(READ_LIMIT).map_err(|e| e.to_string())?,
                    Some(false),
                ),
                Err(err) => return Err(err.to_string()),
            }
        } else {
            let settle = Duration::from_millis(wait.settle_ms.unwrap_or(DEFAULT_SETTLE_MS));
            Collected::from_poll(
                s.poll_quiet_with_limit(left(deadline), settle, READ_LIMIT)
                    .map_err(|e| e.to_string())?,
                None,
            )
        };
        e.st.lock().cursor = c.cursor;
        Ok(c)
    }

    /// Cleans and cuts `raw` for the model (a plain session's stream).
    fn shape(&self, e: &Entry, raw: &str, out: &OutputOpts) -> Result<(String, usize), String> {
        let max = max_output(out)?;
        let clean = if out.raw {
            raw.to_string()
        } else {
            e.st.lock().cleaner.push(raw)
        };
        let cut = text::head_tail(&clean, max);
        Ok((cut.text, cut.elided))
    }

    /// The answer to a plain read. A program on the alternate screen (a
    /// full-screen program) is answered with its rendered screen.
    fn output_reply(&self, e: &Entry, c: Collected, out: &OutputOpts) -> ToolResult {
        let (mut output, mut elided) = self.shape(e, &c.text, out)?;
        let mut view = "stream";
        if !out.raw
            && let Ok(info) = e.session.info()
            && info.alternate_screen
        {
            let (screen, _) = self.screen_text(e)?;
            let cut = text::head_tail(&screen, max_output(out)?);
            (output, elided, view) = (cut.text, cut.elided, "screen");
        }
        let (exit_code, signal) = exit_fields(c.status);
        let mut text = output.clone();
        if view == "screen" {
            text.insert_str(0, "[full-screen program: its rendered screen]\n");
        }
        if !c.running {
            text.push_str(&format!(
                "\n[session exited: {}]",
                c.status.map(|s| s.to_string()).unwrap_or_default()
            ));
        }
        let mut data = json!({
            "session": e.id,
            "output": output,
            "view": view,
            "running": c.running,
            "exit_code": exit_code,
            "signal": signal,
            "dropped_bytes": c.dropped,
            "remaining_bytes": c.remaining,
            "elided_bytes": elided,
        });
        if let Some(m) = c.matched {
            data["matched"] = json!(m);
        }
        Ok(Reply { text, data })
    }

    // ---- turns ----

    /// The kind of the session's open turn, if one is open.
    fn open_turn(&self, e: &Entry) -> Option<Kind> {
        e.st.lock().track.as_ref().filter(|t| t.open).map(|t| t.kind)
    }

    fn busy(&self, e: &Entry, command: &str) -> String {
        // The open turn names the command as the caller gave it (the
        // library knows a long one by its spool line).
        let (command, since) = match e.st.lock().track.as_ref().filter(|t| t.open) {
            Some(t) => (
                t.what.clone(),
                format!(" (started {:.1} s ago)", t.started.elapsed().as_secs_f64()),
            ),
            None => (command.to_string(), String::new()),
        };
        format!(
            "session {} is busy: the command {command:?} is still running{since}; nothing was sent. \
             Call read_output on session {} to follow it, or send_keys [\"C-c\"] to interrupt it",
            e.id, e.id
        )
    }

    /// Records what the library's runner returned in the session's track
    /// (a new one for a new command `fresh`).
    fn run_step(&self, e: &Entry, r: bgterm::Result<RunOutput>, fresh: Option<&str>) -> Result<Step, String> {
        // A partial output's parts, as the runner's result has them.
        let parts = |p: RunPartial| (p.output, p.head_bytes, p.elided_bytes, p.missed_bytes);
        let ((raw, head, not_kept, missed), step) = match r {
            Ok(out) => {
                e.st.lock().cursor = out.end_offset;
                let step = Step::Done(Some(out.exit_code));
                (
                    (out.output, out.head_bytes, out.elided_bytes, out.missed_bytes),
                    step,
                )
            }
            Err(Error::RunTimeout { partial, .. }) => (parts(*partial), Step::Open),
            Err(Error::RunShellExited { status, output, .. }) => (parts(*output), Step::Exited(status)),
            Err(Error::RunStatus { output, .. }) => (parts(*output), Step::Done(None)),
            Err(Error::RunBusy { command, .. }) => return Err(self.busy(e, &command)),
            Err(Error::RunIncomplete { command, .. }) => {
                if let Some(t) = e.st.lock().track.as_mut() {
                    t.open = false;
                }
                return Err(format!(
                    "session {}: the command is incomplete (an unclosed quote, bracket or block: the shell asked \
                     for more input), so it was cancelled with Ctrl-C: {command:?}",
                    e.id
                ));
            }
            Err(Error::UnsupportedShell { program, reason, .. }) => {
                return Err(format!(
                    "session {} cannot run commands: {program:?} is not a shell run_command can use ({reason}); \
                     leave out `session` to use the server's shell",
                    e.id
                ));
            }
            Err(err) => return Err(err.to_string()),
        };
        let mut st = e.st.lock();
        if let Some(cmd) = fresh {
            st.track = Some(Track::new(Kind::Run, cmd));
        }
        let t = st.track.get_or_insert_with(|| Track::new(Kind::Run, ""));
        t.set(&raw, head, not_kept, None);
        t.missed = missed;
        t.open = matches!(step, Step::Open);
        Ok(step)
    }

    /// Runs `command` in the shell of `e` as a new turn, through a spool
    /// file when it is too long for the terminal's line limit.
    fn run_start(&self, e: &Entry, command: &str, deadline: Instant) -> Result<Step, String> {
        let r = match e.session.run_with(command, &run_options(deadline)) {
            Err(Error::LineTooLong { .. }) => {
                let (line, path) = shell::spool_line(command, &self.spool()?)?;
                let r = e.session.run_with(&line, &run_options(deadline));
                let sent = matches!(
                    &r,
                    Ok(_) | Err(Error::RunTimeout { .. } | Error::RunShellExited { .. })
                );
                if !sent {
                    let _ = std::fs::remove_file(&path);
                }
                r
            }
            r => r,
        };
        self.run_step(e, r, Some(command))
    }

    /// Follows the open run of `e` until it ends, `deadline`, or (with
    /// `stop`) output since `from` matches one of `stop`; with `interrupt`,
    /// sends Ctrl-C first. Returns the step and the index of the stop
    /// pattern that matched; `None` if no run was open after all.
    fn follow_run(
        &self,
        e: &Entry,
        deadline: Instant,
        stop: Option<&[Pattern]>,
        mut from: u64,
        interrupt: bool,
    ) -> Result<Option<(Step, Option<usize>)>, String> {
        let done = |r: bgterm::Result<RunOutput>, index: Option<usize>| match r {
            Err(Error::NoPendingRun { .. }) => {
                if let Some(t) = e.st.lock().track.as_mut() {
                    t.open = false;
                }
                Ok(None)
            }
            r => self.run_step(e, r, None).map(|s| Some((s, index))),
        };
        if interrupt {
            return done(e.session.run_interrupt(Some(left(deadline))), None);
        }
        let Some(stop) = stop else {
            return done(e.session.run_resume(Some(left(deadline))), None);
        };
        let mut pats = stop.to_vec();
        pats.push(Pattern::literal(PROMPT_MARK));
        loop {
            match e
                .session
                .wait_for_from_deadline(from, pats.clone(), Some(deadline))
            {
                Ok(m) if m.index < stop.len() => {
                    // The runner's collector sees output a moment after the
                    // stream does: give it until the match shows in what it
                    // collected (bounded by MARK_GRACE).
                    let until = Instant::now() + MARK_GRACE.min(left(deadline));
                    loop {
                        let r = e.session.run_resume(Some(Duration::ZERO));
                        if !matches!(r, Err(Error::RunTimeout { .. })) {
                            return done(r, Some(m.index));
                        }
                        let step = self.run_step(e, r, None)?;
                        let seen =
                            e.st.lock()
                                .track
                                .as_ref()
                                .is_some_and(|t| stop[m.index].is_match(t.unsent()));
                        if seen || Instant::now() >= until {
                            return Ok(Some((step, Some(m.index))));
                        }
                        std::thread::yield_now();
                    }
                }
                Ok(m) => {
                    // A prompt: the command's end, or that of one of its lines.
                    let r = e.session.run_resume(Some(MARK_GRACE.min(left(deadline))));
                    if !matches!(r, Err(Error::RunTimeout { .. })) || left(deadline).is_zero() {
                        return done(r, None);
                    }
                    from = m.match_end;
                }
                Err(Error::WaitTimeout { .. } | Error::ExitedBeforeMatch { .. }) => {
                    return done(e.session.run_resume(Some(Duration::ZERO)), None);
                }
                Err(err) => return Err(err.to_string()),
            }
        }
    }

    /// One step of a REPL session's turn. `None`: no turn was open to
    /// resume.
    fn repl_turn(&self, e: &Entry, act: ReplAct<'_>, deadline: Instant) -> Result<Option<Step>, String> {
        let Some(lock) = &e.repl else {
            return Err(format!("session {} is not a REPL session", e.id));
        };
        let Some(mut repl) = lock.try_lock() else {
            return Err(format!(
                "session {} is busy: another call is waiting for its turn; nothing was sent",
                e.id
            ));
        };
        let t = left(deadline);
        let (r, fresh) = match act {
            ReplAct::Eval(input) => (repl.eval(input, t), Some(input.to_string())),
            ReplAct::Resume => (repl.resume(t), None),
            ReplAct::Interrupt => {
                let fresh = (!repl.is_busy()).then(|| "^C".to_string());
                (repl.interrupt(t), fresh)
            }
            ReplAct::Input(s) => {
                e.session.send(s).map_err(|e| e.to_string())?;
                (repl.resume(t), None)
            }
        };
        drop(repl);
        let (raw, clean, step) = match r {
            Ok(reply) => (reply.raw, reply.text, Step::Done(None)),
            Err(Error::ReplTimeout { partial, raw, .. }) => (raw, partial, Step::Open),
            Err(Error::ReplExited {
                status, output, raw, ..
            }) => (raw, output, Step::Exited(status)),
            Err(Error::ReplIdle { .. }) => {
                if let Some(t) = e.st.lock().track.as_mut() {
                    t.open = false;
                }
                return Ok(None);
            }
            Err(err @ Error::ReplIncomplete { .. }) => {
                if let Some(t) = e.st.lock().track.as_mut() {
                    t.open = false;
                }
                return Err(err.to_string());
            }
            Err(err) => return Err(err.to_string()),
        };
        let mut st = e.st.lock();
        if let Ok(o) = e.session.output_offset() {
            st.cursor = o;
        }
        if let Some(what) = fresh {
            st.track = Some(Track::new(Kind::Repl, &what));
        }
        let t = st.track.get_or_insert_with(|| Track::new(Kind::Repl, ""));
        let n = raw.len();
        t.set(&raw, n, 0, Some(clean));
        t.open = matches!(step, Step::Open);
        Ok(Some(step))
    }

    /// The new output of the session's turn, cut for the model; with the
    /// turn's kind and the bytes its runner missed.
    fn present(&self, e: &Entry, out: &OutputOpts) -> Result<(Shown, Kind, u64), String> {
        let max = max_output(out)?;
        let mut st = e.st.lock();
        let Some(t) = st.track.as_mut() else {
            return Err(format!("session {}: no turn to report", e.id));
        };
        let (kind, missed, not_kept) = (t.kind, t.missed, t.not_kept);
        let f = t.fresh(out.raw);
        Ok((shape(e.id, &f, max, not_kept), kind, missed))
    }

    /// The answer of write_stdin, send_keys, read_output and wait_for_text
    /// for a turn: the same fields as a plain read, plus the turn's.
    fn turn_reply(&self, e: &Entry, step: Step, out: &OutputOpts, matched: Option<bool>) -> ToolResult {
        let (shown, kind, missed) = self.present(e, out)?;
        let status = match step {
            Step::Exited(s) => Some(s),
            _ => None,
        };
        let (exit_code, signal) = exit_fields(status);
        let mut text = shown.text.clone();
        let sep = |t: &str| {
            if t.is_empty() || t.ends_with('\n') {
                ""
            } else {
                "\n"
            }
        };
        match (kind, step) {
            (Kind::Run, Step::Done(Some(code))) if code != 0 => {
                text.push_str(&format!("{}[command exit code {code}]", sep(&text)));
            }
            (Kind::Run, Step::Open) => {
                text.push_str(&format!(
                    "{}[command still running: read_output on session {} keeps waiting; send_keys [\"C-c\"] interrupts]",
                    sep(&text),
                    e.id
                ));
            }
            (Kind::Repl, Step::Open) => {
                text.push_str(&format!(
                    "{}[no prompt yet: the turn is still open; read_output on session {} keeps waiting, write_stdin \
                     sends input to the running code, send_keys [\"C-c\"] interrupts]",
                    sep(&text),
                    e.id
                ));
            }
            (_, Step::Exited(s)) => text.push_str(&format!("{}[session exited: {s}]", sep(&text))),
            _ => {}
        }
        push_hint(&mut text, &shown.hint);
        let mut data = json!({
            "session": e.id,
            "output": shown.text,
            "view": "stream",
            "running": status.is_none(),
            "exit_code": exit_code,
            "signal": signal,
            "dropped_bytes": missed,
            "remaining_bytes": 0,
            "elided_bytes": shown.elided,
        });
        match kind {
            Kind::Run => {
                data["command_running"] = json!(matches!(step, Step::Open));
                data["command_exit_code"] = json!(match step {
                    Step::Done(c) => c,
                    Step::Exited(s) => s.python_returncode(),
                    Step::Open => None,
                });
            }
            Kind::Repl => {
                data["repl"] = json!(true);
                data["turn_open"] = json!(matches!(step, Step::Open));
            }
        }
        if let Some(m) = matched {
            data["matched"] = json!(m);
        }
        if let Some(p) = shown.page {
            data["elided_lines"] = p;
        }
        Ok(Reply { text, data })
    }

    // ---- tools ----

    pub fn start_session(&self, p: StartSession) -> ToolResult {
        max_output(&p.out)?;
        let (command, program, shown, words): (Command, String, String, Option<Vec<String>>) =
            match (&p.command, &p.argv) {
                (Some(c), None) => (
                    Command::from(c.as_str()),
                    "sh".to_string(),
                    c.clone(),
                    turns::plain_words(c),
                ),
                (None, Some(a)) if !a.is_empty() => (
                    Command::from(a.clone()),
                    a[0].clone(),
                    a.join(" "),
                    Some(a.clone()),
                ),
                (None, Some(_)) => {
                    return Err("invalid argv: empty; give the program and its arguments".into());
                }
                (Some(_), Some(_)) => return Err("give either command or argv, not both".into()),
                (None, None) => return Err("missing command: give command (a shell string) or argv".into()),
            };
        if let Some(u) = &p.until {
            regex(u)?; // a bad pattern starts nothing
        }
        let preset = match p.repl {
            Some(false) => None,
            _ => words.as_deref().and_then(turns::preset_for),
        };
        if p.repl == Some(false) && (p.prompt.is_some() || p.continuation.is_some()) {
            return Err("prompt and continuation make a REPL session: leave out repl=false".into());
        }
        if p.continuation.is_some() && p.prompt.is_none() {
            return Err("continuation needs prompt (the program's primary prompt)".into());
        }
        if p.repl == Some(true) && preset.is_none() && p.prompt.is_none() {
            return Err(format!(
                "repl=true: the server knows no prompt for {shown:?}; give `prompt` (the text the program \
                 prints when it waits for input), or start python3, ipython, node or sqlite3"
            ));
        }
        if p.prompt.is_some() || preset.is_some() {
            // A preset runs its program directly: check it by name too.
            if let (Some(_), Some(w)) = (&preset, &words) {
                self.check_program(&w[0])?;
            }
            return self.start_repl(&p, command, &program, &shown, preset);
        }
        let mut b = SessionBuilder::new(command);
        if let Some(cwd) = self.check_cwd(p.cwd.as_deref())? {
            b = b.cwd(cwd);
        }
        for (k, v) in p.env.iter().flatten() {
            b = b.env(k, v);
        }
        if p.rows.is_some() || p.cols.is_some() {
            b = b.size(
                p.rows.unwrap_or(bgterm::DEFAULT_ROWS),
                p.cols.unwrap_or(bgterm::DEFAULT_COLS),
            );
        }
        if let Some(t) = &p.term {
            b = b.term(Some(t));
        }
        let (e, pruned) = self.spawn(b, p.name.clone(), &program)?;
        let wait = WaitOpts {
            yield_ms: p.yield_ms,
            until: p.until.clone(),
            settle_ms: None,
        };
        let c = self.collect(&e, &wait, 0, DEFAULT_START_YIELD_MS)?;
        let mut r = self.output_reply(&e, c, &p.out)?;
        self.started(&e, &mut r, &shown, &pruned);
        Ok(r)
    }

    fn started(&self, e: &Entry, r: &mut Reply, shown: &str, pruned: &[u64]) {
        r.text = format!("session {} pid {} started\n{}", e.id, e.session.pid(), r.text);
        r.data["pid"] = json!(e.session.pid());
        r.data["name"] = json!(e.name);
        r.data["command"] = json!(shown);
        r.data["pruned"] = json!(pruned);
        if !pruned.is_empty() {
            r.text
                .push_str(&format!("\n[session cap reached: closed sessions {pruned:?}]"));
        }
    }

    /// Starts a REPL session through the library's [`ReplBuilder`]: a
    /// preset, or the caller's command with its `prompt`.
    fn start_repl(
        &self,
        p: &StartSession,
        command: Command,
        program: &str,
        shown: &str,
        preset: Option<Preset>,
    ) -> ToolResult {
        self.check_program(program)?;
        Self::check_name(&self.table.lock(), p.name.as_deref())?;
        let mut rb = match (preset, &p.prompt) {
            (_, Some(prompt)) => {
                let mut rb = ReplBuilder::new(command, prompt.as_str());
                if let Some(c) = &p.continuation {
                    rb = rb.continuation(c.as_str());
                }
                rb
            }
            (Some(Preset::Python), None) => ReplBuilder::python(),
            (Some(Preset::IPython), None) => ReplBuilder::ipython(),
            (Some(Preset::Node), None) => ReplBuilder::node(),
            (Some(Preset::Sqlite3(db)), None) => match db {
                Some(db) => ReplBuilder::sqlite3().arg(db),
                None => ReplBuilder::sqlite3(),
            },
            (None, None) => return Err("internal error: no prompt for the REPL".into()),
        };
        let cwd = self.check_cwd(p.cwd.as_deref())?;
        let env: Vec<(String, String)> = p
            .env
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (name, size, term) = (p.name.clone(), (p.rows, p.cols), p.term.clone());
        rb = rb.session(move |mut b| {
            b = b.screen(true);
            if let Some(n) = name {
                b = b.name(n);
            }
            if let Some(c) = cwd {
                b = b.cwd(c);
            }
            for (k, v) in env {
                b = b.env(k, v);
            }
            if size.0.is_some() || size.1.is_some() {
                b = b.size(
                    size.0.unwrap_or(bgterm::DEFAULT_ROWS),
                    size.1.unwrap_or(bgterm::DEFAULT_COLS),
                );
            }
            if let Some(t) = term {
                b = b.term(Some(t.as_str()));
            }
            b
        });
        let wait =
            Duration::from_millis(p.yield_ms.unwrap_or(DEFAULT_REPL_START_MS).max(1)).min(self.cfg.max_wait);
        let repl = rb.start_timeout(wait).spawn().map_err(|err| match err {
            Error::WaitTimeout { waited, tail, .. } => format!(
                "{shown:?} did not show its prompt within {} ms (raise yield_ms, or give the right `prompt`, or \
                 repl=false for a plain session); its output's end: {:?}",
                waited.as_millis(),
                bgterm::clean_text(&tail)
            ),
            other => other.to_string(),
        })?;
        let session = repl.session().clone();
        let banner = repl.banner().to_string();
        let prompt = repl.prompt().to_string();
        let (e, pruned) = {
            let mut table = self.table.lock();
            self.insert(&mut table, session, p.name.clone(), Some(repl))
        };
        let cut = text::head_tail(&banner, max_output(&p.out)?);
        let mut r = Reply {
            text: format!(
                "{}[REPL at its prompt: write_stdin evaluates one input and returns exactly its reply]",
                if cut.text.is_empty() || cut.text.ends_with('\n') {
                    cut.text.clone()
                } else {
                    format!("{}\n", cut.text)
                }
            ),
            data: json!({
                "session": e.id, "output": cut.text, "view": "stream", "running": true, "exit_code": null,
                "signal": null, "dropped_bytes": 0, "remaining_bytes": 0, "elided_bytes": cut.elided,
                "repl": true, "prompt": prompt,
            }),
        };
        self.started(&e, &mut r, shown, &pruned);
        Ok(r)
    }

    /// The default shell (made on first use, one at a time), or the session
    /// the call names.
    fn shell_entry(&self, p: &RunCommand) -> Result<(Arc<Entry>, Vec<u64>), String> {
        if let Some(r) = &p.session {
            return Ok((self.resolve(r)?, Vec::new()));
        }
        let _one_at_a_time = self.shell_lock.lock();
        let existing = self
            .table
            .lock()
            .values()
            .find(|e| e.name.as_deref() == Some(SHELL_NAME))
            .cloned();
        if let Some(e) = existing {
            if matches!(e.session.try_wait(), Ok(None)) {
                e.st.lock().last_used = Instant::now();
                return Ok((e, Vec::new()));
            }
            // The old shell has exited (say `exit`): a fresh one takes its name.
            self.table.lock().remove(&e.id);
            let _ = e.session.close();
        }
        let argv = shell::default_shell();
        let mut b = SessionBuilder::new(argv.clone()).term(None);
        for (k, v) in shell::AUTOMATION_ENV {
            b = b.env(k, v);
        }
        for (k, v) in p.env.iter().flatten() {
            b = b.env(k, v);
        }
        if let Some(cwd) = self.check_cwd(p.cwd.as_deref())? {
            b = b.cwd(cwd);
        }
        let b = b.size(bgterm::DEFAULT_ROWS, 200).for_run();
        let (e, pruned) = self.spawn(b, Some(SHELL_NAME.into()), &argv[0])?;
        match e.session.run(shell::INIT, Some(self.cfg.max_wait)) {
            Ok(out) => e.st.lock().cursor = out.end_offset,
            Err(err) => {
                self.table.lock().remove(&e.id);
                let _ = e.session.close();
                return Err(format!("the shell did not start: {err}"));
            }
        }
        Ok((e, pruned))
    }

    pub fn run_command(&self, p: RunCommand) -> ToolResult {
        let max = max_output(&p.out)?;
        let (e, pruned) = self.shell_entry(&p)?;
        if e.repl.is_some() {
            return Err(format!(
                "session {} is a REPL session: write_stdin evaluates its input",
                e.id
            ));
        }
        if let Ok(Some(status)) = e.session.try_wait() {
            return Err(format!(
                "session {} has exited ({status}); it takes no more commands",
                e.id
            ));
        }
        let started = Instant::now();
        let deadline = self.ceiling(p.timeout_ms, DEFAULT_RUN_TIMEOUT_MS);
        let step = self.run_start(&e, &p.command, deadline)?;
        let (shown, _, missed) = self.present(&e, &p.out)?;
        debug_assert!(shown.text.len() <= max);
        let (running, exit_code) = match step {
            Step::Open => (true, None),
            Step::Done(code) => (false, code),
            Step::Exited(s) => (false, s.python_returncode()),
        };
        let mut text = shown.text.clone();
        let exited = matches!(step, Step::Exited(_));
        if !text.is_empty() && !text.ends_with('\n') && (running || exited || exit_code != Some(0)) {
            text.push('\n');
        }
        match step {
            Step::Open => text.push_str(&format!(
                "[still running after {} ms: call read_output on session {} to continue, or send_keys [\"C-c\"]]",
                started.elapsed().as_millis(),
                e.id
            )),
            Step::Exited(s) => text.push_str(&format!("[the shell exited: {s}]")),
            Step::Done(c) if c != Some(0) => {
                text.push_str(&format!("[exit code {}]", c.map_or("unknown".into(), |c| c.to_string())));
            }
            Step::Done(_) => {}
        }
        push_hint(&mut text, &shown.hint);
        let mut data = json!({
            "session": e.id,
            "output": shown.text,
            "exit_code": exit_code,
            "running": running,
            "duration_ms": ms(started.elapsed()),
            "elided_bytes": shown.elided,
            "dropped_bytes": missed,
            "pruned": pruned,
        });
        if let Some(p) = shown.page {
            data["elided_lines"] = p;
        }
        Ok(Reply { text, data })
    }

    pub fn write_stdin(&self, p: WriteStdin) -> ToolResult {
        let e = self.resolve(&p.session)?;
        let keys = match &p.keys {
            Some(k) => self.encode(&e, k)?,
            None => String::new(),
        };
        if e.repl.is_some() {
            return self.repl_input(&e, p.text.as_deref().unwrap_or(""), &keys, &p.wait, &p.out);
        }
        let mut input = p.text.clone().unwrap_or_default();
        input.push_str(&keys);
        self.send_and_collect(&e, &input, &p.wait, &p.out)
    }

    pub fn send_keys(&self, p: SendKeys) -> ToolResult {
        let e = self.resolve(&p.session)?;
        if p.keys.is_empty() {
            return Err("invalid keys: empty list; give key names such as [\"Enter\"] or [\"C-c\"]".into());
        }
        let input = self.encode(&e, &p.keys)?;
        if e.repl.is_some() {
            return self.repl_input(&e, "", &input, &p.wait, &p.out);
        }
        self.send_and_collect(&e, &input, &p.wait, &p.out)
    }

    fn encode(&self, e: &Entry, keys: &[String]) -> Result<String, String> {
        let mode = match e.session.info() {
            Ok(i) if i.application_cursor => CursorKeys::Application,
            _ => CursorKeys::Normal,
        };
        bgterm::encode_keys(keys, mode).map_err(|err| match err {
            Error::UnknownKey { key } => format!(
                "unknown key {key:?}: use tmux key names (Enter, Tab, Escape, BSpace, Up, Down, Left, Right, \
                 Home, End, PageUp, PageDown, F1-F12, C-x, M-x, S-x) or literal text"
            ),
            other => other.to_string(),
        })
    }

    /// Input to a REPL session: `text` alone is one turn (evaluated, or
    /// sent to the running code while a turn is open); Ctrl-C alone
    /// interrupts; other keys are typed as they are.
    fn repl_input(&self, e: &Entry, text: &str, keys: &str, wait: &WaitOpts, out: &OutputOpts) -> ToolResult {
        max_output(out)?; // a bad value sends nothing
        if let Some(u) = &wait.until {
            regex(u)?;
        }
        let deadline = self.ceiling(wait.yield_ms, DEFAULT_REPL_YIELD_MS);
        let open = self.open_turn(e).is_some();
        let input = format!("{text}{keys}");
        let act = if keys == "\x03" && text.is_empty() {
            ReplAct::Interrupt
        } else if !keys.is_empty() && !open {
            // Keys at the prompt (history, completion): typed, read plainly.
            return self.send_and_collect(e, &input, wait, out);
        } else if open {
            ReplAct::Input(&input)
        } else {
            ReplAct::Eval(text)
        };
        self.repl_reply(e, act, deadline, out, None)
    }

    fn repl_reply(
        &self,
        e: &Entry,
        act: ReplAct<'_>,
        deadline: Instant,
        out: &OutputOpts,
        matched: Option<bool>,
    ) -> ToolResult {
        match self.repl_turn(e, act, deadline)? {
            Some(step) => self.turn_reply(e, step, out, matched),
            None => Err(format!("session {}: no turn is open", e.id)),
        }
    }

    fn send_and_collect(&self, e: &Entry, input: &str, wait: &WaitOpts, out: &OutputOpts) -> ToolResult {
        max_output(out)?; // a bad value sends nothing
        let until = wait.until.as_deref().map(regex).transpose()?; // a bad pattern sends nothing
        let from = e.session.output_offset().map_err(|e| e.to_string())?;
        if self.open_turn(e) == Some(Kind::Run) {
            // A command run_command left running: the input is for it, and
            // the answer follows it (Ctrl-C alone: the runner interrupts it).
            let interrupt = input == "\x03";
            if !interrupt {
                e.session.send(input).map_err(|e| e.to_string())?;
            }
            let deadline = self.ceiling(wait.yield_ms, DEFAULT_YIELD_MS);
            let stop = until.map(|u| vec![u]);
            if let Some((step, index)) = self.follow_run(e, deadline, stop.as_deref(), from, interrupt)? {
                return self.turn_reply(e, step, out, stop.map(|_| index.is_some()));
            }
            let c = self.collect(e, wait, from, DEFAULT_YIELD_MS)?;
            return self.output_reply(e, c, out);
        }
        e.session.send(input).map_err(|e| e.to_string())?;
        let c = self.collect(e, wait, from, DEFAULT_YIELD_MS)?;
        self.output_reply(e, c, out)
    }

    pub fn read_output(&self, p: ReadOutput) -> ToolResult {
        let e = self.resolve(&p.session)?;
        max_output(&p.out)?; // a bad value reads nothing
        if p.from_line.is_some() || p.line_count.is_some() {
            return self.page(&e, &p);
        }
        let from = e.st.lock().cursor;
        match self.open_turn(&e) {
            Some(Kind::Run) => {
                let deadline = self.ceiling(p.wait.yield_ms, DEFAULT_YIELD_MS);
                let stop = p.wait.until.as_deref().map(regex).transpose()?.map(|u| vec![u]);
                if let Some((step, index)) = self.follow_run(&e, deadline, stop.as_deref(), from, false)? {
                    return self.turn_reply(&e, step, &p.out, stop.map(|_| index.is_some()));
                }
            }
            Some(Kind::Repl) => {
                let deadline = self.ceiling(p.wait.yield_ms, DEFAULT_REPL_YIELD_MS);
                if let Some(step) = self.repl_turn(&e, ReplAct::Resume, deadline)? {
                    return self.turn_reply(&e, step, &p.out, None);
                }
            }
            None => {}
        }
        let c = self.collect(&e, &p.wait, from, DEFAULT_YIELD_MS)?;
        self.output_reply(&e, c, &p.out)
    }

    /// Lines of the session's last turn's whole output, as many whole
    /// lines of those asked for as fit in one answer.
    fn page(&self, e: &Entry, p: &ReadOutput) -> ToolResult {
        let max = max_output(&p.out)?;
        let from = p.from_line.unwrap_or(1).max(1);
        let count = p.line_count.unwrap_or(DEFAULT_PAGE_LINES);
        let st = e.st.lock();
        let Some(t) = &st.track else {
            return Err(format!(
                "session {} has no command output to page: from_line/line_count page the output of the last \
                 run_command (or REPL input) in a session",
                e.id
            ));
        };
        let whole = t.whole(p.out.raw);
        let total = text::line_count(whole);
        let lines = text::lines(whole, from, count);
        // As many whole lines as fit in one answer (room kept for the
        // footer); the footer says where the next page starts.
        let fit = text::whole_lines_within(&lines, max.saturating_sub(PAGE_FOOTER_ROOM));
        let got = text::line_count(fit);
        // (Only a single line longer than the answer is cut.)
        let cut = text::head_tail(fit, max.saturating_sub(PAGE_FOOTER_ROOM));
        let mut text = cut.text.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let last = from + got.max(1) - 1;
        let wanted_last = (from + count.max(1) - 1).min(total);
        let next = (got > 0 && last < wanted_last).then_some(last + 1);
        text.push_str(&format!(
            "[lines {from}-{last} of {total} of the output of {:?}{}{}]",
            t.what,
            if t.open { "; still running" } else { "" },
            match next {
                Some(n) => format!(
                    "; the next page: read_output session={} from_line={n} line_count={}",
                    e.id,
                    wanted_last - n + 1
                ),
                None => String::new(),
            }
        ));
        Ok(Reply {
            text,
            data: json!({
                "session": e.id, "output": cut.text, "from_line": from, "line_count": got, "total_lines": total,
                "elided_bytes": cut.elided, "command": t.what, "command_running": t.open, "next_from_line": next,
            }),
        })
    }

    pub fn wait_for_text(&self, p: WaitForText) -> ToolResult {
        let e = self.resolve(&p.session)?;
        max_output(&p.out)?;
        if p.patterns.is_empty() {
            return Err("invalid patterns: empty list; give at least one".into());
        }
        let pats: Vec<Pattern> = if p.regex {
            p.patterns.iter().map(|s| regex(s)).collect::<Result<_, _>>()?
        } else {
            p.patterns.iter().map(Pattern::literal).collect()
        };
        let deadline = self.ceiling(p.timeout_ms, DEFAULT_WAIT_MS);
        let started = Instant::now();
        if p.source == Source::Screen {
            return self.wait_screen(&e, &pats, &p.patterns, deadline, started);
        }
        match self.open_turn(&e) {
            Some(Kind::Run) => {
                let from = e.st.lock().cursor;
                if let Some((step, index)) = self.follow_run(&e, deadline, Some(&pats), from, false)? {
                    let mut r = self.turn_reply(&e, step, &p.out, Some(index.is_some()))?;
                    self.describe_match(&mut r, index, &p.patterns, started);
                    return Ok(r);
                }
            }
            Some(Kind::Repl) => {
                if let Some(step) = self.repl_turn(&e, ReplAct::Resume, deadline)? {
                    let mut r = self.turn_reply(&e, step, &p.out, None)?;
                    let seen = r.data["output"].as_str().unwrap_or("").to_string();
                    let index = pats.iter().position(|x| x.is_match(&seen));
                    self.describe_match(&mut r, index, &p.patterns, started);
                    return Ok(r);
                }
            }
            None => {}
        }
        let at_start = e.session.output_offset().map_err(|e| e.to_string())?;
        let cursor = e.st.lock().cursor;
        match e.session.wait_for_from_deadline(cursor, pats, Some(deadline)) {
            Ok(m) => {
                let skip = cursor.saturating_sub(m.match_start) as usize;
                let mut consumed = m.before.clone();
                consumed.push_str(m.text.get(skip..).unwrap_or(""));
                e.st.lock().cursor = m.match_end.max(cursor);
                let (output, elided) = self.shape(&e, &consumed, &p.out)?;
                let already = m.match_end <= at_start;
                let mut r = Reply {
                    text: String::new(),
                    data: json!({
                        "session": e.id, "matched": true, "index": m.index,
                        "pattern": p.patterns[m.index], "match": m.text,
                        "already_there": already, "output": output, "elided_bytes": elided,
                        "waited_ms": ms(started.elapsed()),
                    }),
                };
                r.text = format!(
                    "matched pattern {} {:?}{}\n{}",
                    m.index,
                    p.patterns[m.index],
                    if already {
                        " (already in unread output)"
                    } else {
                        ""
                    },
                    output
                );
                Ok(r)
            }
            Err(Error::WaitTimeout { waited, tail, .. }) => Ok(self.no_match(&e, "timeout", waited, &tail)),
            Err(Error::ExitedBeforeMatch {
                waited, tail, status, ..
            }) => {
                let mut r = self.no_match(&e, "exited", waited, &tail);
                r.text.push_str(&format!("\n[session exited: {status}]"));
                Ok(r)
            }
            Err(err) => Err(err.to_string()),
        }
    }

    fn describe_match(&self, r: &mut Reply, index: Option<usize>, patterns: &[String], started: Instant) {
        r.data["matched"] = json!(index.is_some());
        r.data["index"] = json!(index);
        r.data["pattern"] = json!(index.map(|i| &patterns[i]));
        // Matched in the output of a command still running: new output.
        r.data["already_there"] = json!(false);
        r.data["waited_ms"] = json!(ms(started.elapsed()));
        let head = match index {
            Some(i) => format!("matched pattern {i} {:?}\n", patterns[i]),
            None => "no pattern matched before the timeout\n".to_string(),
        };
        r.text.insert_str(0, &head);
    }

    fn no_match(&self, e: &Entry, why: &str, waited: Duration, tail: &str) -> Reply {
        let tail = bgterm::clean_text(tail);
        Reply {
            text: format!(
                "no pattern matched ({why} after {} ms); the output's end:\n{tail}",
                waited.as_millis()
            ),
            data: json!({
                "session": e.id, "matched": false, "reason": why, "index": null,
                "waited_ms": ms(waited), "tail": tail,
            }),
        }
    }

    fn screen_text(&self, e: &Entry) -> Result<(String, bgterm::SessionInfo), String> {
        let info = e.session.info().map_err(|e| e.to_string())?;
        let cap = e
            .session
            .display(info.size.0 as usize)
            .map_err(|e| e.to_string())?;
        Ok((tidy_lines(&cap.lines), info))
    }

    fn wait_screen(
        &self,
        e: &Entry,
        pats: &[Pattern],
        names: &[String],
        deadline: Instant,
        started: Instant,
    ) -> ToolResult {
        // Subscribe before the first look, so no change slips between.
        let events = e.session.subscribe().map_err(|e| e.to_string())?;
        let mut first = true;
        loop {
            let (screen, info) = self.screen_text(e)?;
            if let Some(i) = pats.iter().position(|p| p.is_match(&screen)) {
                return Ok(Reply {
                    text: format!("matched pattern {i} {:?} on the screen\n{screen}", names[i]),
                    data: json!({
                        "session": e.id, "matched": true, "index": i, "pattern": names[i],
                        "already_there": first, "screen": screen,
                        "alternate_screen": info.alternate_screen, "waited_ms": ms(started.elapsed()),
                    }),
                });
            }
            first = false;
            let exited = !info.running;
            let timed_out = Instant::now() >= deadline;
            if exited || timed_out {
                return Ok(Reply {
                    text: format!(
                        "no pattern matched on the screen ({}); the screen:\n{screen}",
                        if exited { "the session exited" } else { "timeout" }
                    ),
                    data: json!({
                        "session": e.id, "matched": false, "index": null,
                        "reason": if exited { "exited" } else { "timeout" }, "screen": screen,
                        "alternate_screen": info.alternate_screen, "waited_ms": ms(started.elapsed()),
                    }),
                });
            }
            // Wake on the next change (or the deadline); drain a burst.
            match events.recv_deadline(deadline) {
                Ok(SessionEvent::Exited { .. }) | Ok(_) => while events.try_recv().is_ok() {},
                Err(_) => {}
            }
        }
    }

    pub fn capture_screen(&self, p: CaptureScreen) -> ToolResult {
        let e = self.resolve(&p.session)?;
        let info = e.session.info().map_err(|e| e.to_string())?;
        let cap = match (p.start, p.end) {
            (None, None) => e.session.display(info.size.0 as usize),
            (s, end) => e.session.capture_range(s.unwrap_or(0), end.unwrap_or(usize::MAX)),
        }
        .map_err(|e| e.to_string())?;
        let screen = tidy_lines(&cap.lines);
        let (exit_code, signal) = exit_fields(info.exit_status);
        Ok(Reply {
            text: screen.clone(),
            data: json!({
                "session": e.id, "screen": screen, "start_line": cap.start_line, "end_line": cap.end_line,
                "line_count": cap.line_count, "cursor": [info.cursor.0, info.cursor.1],
                "rows": info.size.0, "cols": info.size.1, "alternate_screen": info.alternate_screen,
                "running": info.running, "exit_code": exit_code, "signal": signal,
            }),
        })
    }

    fn summary(&self, e: &Entry) -> Value {
        let s = e.session.summary();
        let (state, status) = match s.state {
            bgterm::RunState::Running => ("running", None),
            bgterm::RunState::Exited(st) => ("exited", Some(st)),
            _ => ("closed", None),
        };
        let (exit_code, signal) = exit_fields(status);
        let (rows, cols) = e.session.size().unwrap_or((0, 0));
        let st = e.st.lock();
        let command_running = st.track.as_ref().is_some_and(|t| t.open);
        json!({
            "session": e.id, "name": e.name, "pid": s.pid, "command": s.command.to_string(),
            "cwd": s.cwd.display().to_string(), "state": state, "exit_code": exit_code, "signal": signal,
            "rows": rows, "cols": cols, "idle_ms": st.last_used.elapsed().as_millis() as u64,
            "command_running": command_running, "repl": e.repl.is_some(),
        })
    }

    pub fn list_sessions(&self) -> ToolResult {
        let entries: Vec<_> = self.table.lock().values().cloned().collect();
        let list: Vec<Value> = entries.iter().map(|e| self.summary(e)).collect();
        let mut text = String::new();
        for v in &list {
            text.push_str(&format!(
                "{} {} pid {} {}{} {}\n",
                v["session"],
                v["state"].as_str().unwrap_or(""),
                v["pid"],
                v["name"].as_str().map(|n| format!("[{n}] ")).unwrap_or_default(),
                v["exit_code"]
                    .as_i64()
                    .map(|c| format!("(exit {c})"))
                    .unwrap_or_default(),
                v["command"].as_str().unwrap_or("")
            ));
        }
        if list.is_empty() {
            text.push_str("no open sessions\n");
        }
        Ok(Reply {
            text,
            data: json!({ "sessions": list, "max_sessions": self.cfg.max_sessions }),
        })
    }

    pub fn session_info(&self, p: SessionOnly) -> ToolResult {
        let e = self.resolve(&p.session)?;
        let mut v = self.summary(&e);
        if let Ok(i) = e.session.info() {
            v["alternate_screen"] = json!(i.alternate_screen);
            v["cursor"] = json!([i.cursor.0, i.cursor.1]);
        }
        Ok(Reply {
            text: serde_json::to_string(&v).unwrap_or_default(),
            data: v,
        })
    }

    pub fn search_output(&self, p: SearchOutput) -> ToolResult {
        let pat = if p.regex {
            regex(&p.pattern)?
        } else {
            Pattern::literal(&p.pattern)
        };
        let entries: Vec<Arc<Entry>> = match &p.session {
            Some(r) => vec![self.resolve(r)?],
            None => self.table.lock().values().cloned().collect(),
        };
        let max = p.max_hits.unwrap_or(50);
        let mut hits = Vec::new();
        let mut total = 0usize;
        for e in &entries {
            let found = e.session.search(&pat).map_err(|e| e.to_string())?;
            total += found.len();
            for h in found {
                if hits.len() < max {
                    hits.push(
                        json!({ "session": e.id, "line": h.line, "text": bgterm::clean_text(&h.text) }),
                    );
                }
            }
        }
        let mut text = String::new();
        for h in &hits {
            text.push_str(&format!(
                "{}:{}: {}\n",
                h["session"],
                h["line"],
                h["text"].as_str().unwrap_or("")
            ));
        }
        if total > hits.len() {
            text.push_str(&format!("[{} more hits not shown]\n", total - hits.len()));
        }
        if total == 0 {
            text.push_str("no hits\n");
        }
        Ok(Reply {
            text,
            data: json!({ "hits": hits, "total": total }),
        })
    }

    pub fn resize_session(&self, p: ResizeSession) -> ToolResult {
        let e = self.resolve(&p.session)?;
        e.session.resize(p.rows, p.cols).map_err(|e| e.to_string())?;
        Ok(Reply {
            text: format!("session {} resized to {}x{}", e.id, p.rows, p.cols),
            data: json!({ "session": e.id, "rows": p.rows, "cols": p.cols }),
        })
    }

    pub fn stop_session(&self, p: StopSession) -> ToolResult {
        let e = self.resolve(&p.session)?;
        let grace = Duration::from_millis(p.grace_ms.unwrap_or(2000)).min(self.cfg.max_wait / 2);
        let stopped = e.session.stop(grace).map_err(|e| e.to_string())?;
        let how = match stopped.outcome {
            bgterm::StopOutcome::AlreadyExited => "already_exited",
            bgterm::StopOutcome::Terminated => "terminated",
            bgterm::StopOutcome::Killed => "killed",
            _ => "stopped",
        };
        let (exit_code, signal) = exit_fields(Some(stopped.status));
        Ok(Reply {
            text: format!("session {} stopped ({how}): {}", e.id, stopped.status),
            data: json!({ "session": e.id, "outcome": how, "exit_code": exit_code, "signal": signal }),
        })
    }

    pub fn close_session(&self, p: SessionOnly) -> ToolResult {
        let e = self.resolve(&p.session)?;
        self.table.lock().remove(&e.id);
        let status = e.session.close().map_err(|e| e.to_string())?;
        let (exit_code, signal) = exit_fields(Some(status));
        Ok(Reply {
            text: format!("session {} closed: {status}", e.id),
            data: json!({ "session": e.id, "exit_code": exit_code, "signal": signal }),
        })
    }
}

/// The call's `max_output_bytes`, checked.
fn max_output(out: &OutputOpts) -> Result<usize, String> {
    let max = out.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT_BYTES);
    if max < text::MIN_CUT_BYTES {
        return Err(format!(
            "invalid max_output_bytes {max}: must be at least {}",
            text::MIN_CUT_BYTES
        ));
    }
    Ok(max)
}

/// Screen lines with trailing blanks removed, and trailing empty lines.
fn tidy_lines(lines: &[String]) -> String {
    let mut v: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_says_which_lines_it_left_out() {
        let mut t = Track::new(Kind::Run, "seq 1 1000");
        let whole: String = (1..=1000).map(|i| format!("{i}\n")).collect();
        t.set(&whole, whole.len(), 0, None);
        let f = t.fresh(false);
        let s = shape(7, &f, 300, 0);
        assert!(s.text.len() <= 300);
        let page = s.page.unwrap();
        let (from, count) = (
            page["from_line"].as_u64().unwrap() as usize,
            page["line_count"].as_u64().unwrap() as usize,
        );
        assert_eq!(page["total_lines"], 1000);
        // The lines named hold every elided byte, and no line shown whole.
        let (head, tail) = s.text.split_once(&text::marker(s.elided as usize)).unwrap();
        assert!(head.len() + s.elided as usize + tail.len() == whole.len());
        let (ga, gb) = (head.len(), whole.len() - tail.len());
        assert!(text::lines(&whole, from, count).contains(&whole[ga..gb]));
        assert!(from + count - 1 <= 1000);
        assert_eq!(from, text::line_count(head) + usize::from(head.ends_with('\n')));
        assert!(s.hint.contains(&format!("from_line={from} line_count={count}")));
    }

    #[test]
    fn output_not_kept_is_counted_in_the_cut() {
        let mut t = Track::new(Kind::Run, "yes");
        let half = "y\n".repeat(5000);
        let raw = format!("{half}{half}");
        t.set(&raw, half.len(), 1_000_000, None);
        let f = t.fresh(false);
        let s = shape(1, &f, 1000, 1_000_000);
        assert!(s.text.len() <= 1000, "{}", s.text.len());
        assert_eq!(s.text.matches("bytes elided").count(), 1);
        assert!(s.text.contains(&text::marker(s.elided as usize)));
        let shown = s.text.len() - text::marker(s.elided as usize).len();
        assert_eq!(
            shown as u64 + s.elided,
            raw.len() as u64 + 1_000_000,
            "every byte accounted for"
        );
        // No cut: the marker of what was not kept stays as it is.
        let s = shape(1, &t.fresh(false), 1 << 20, 1_000_000);
        assert_eq!(s.elided, 0);
        assert!(s.text.contains("1000000 bytes not kept"));
    }
}
