//! The server's sessions and what each tool does, as plain blocking code on
//! the library's public API (the async side calls it off its threads).
//!
//! Every wait here ends by a deadline no later than the server's ceiling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgterm::{CursorKeys, Error, ExitStatus, Pattern, PollResult, Session, SessionBuilder, SessionEvent};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::params::*;
use crate::shell::{self, Pending, Progress};
use crate::text::{self, Cleaner, Held};

/// Default for `max_output_bytes`.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 * 1024;
/// Most bytes one call takes from a session's buffer; what is left is
/// reported as `remaining_bytes`.
const READ_LIMIT: usize = 1 << 20;
/// Default quiet period ending a wait that has no `until`.
const DEFAULT_SETTLE_MS: u64 = 100;
/// Default wait of write_stdin, send_keys and read_output.
const DEFAULT_YIELD_MS: u64 = 2000;
/// Default wait for a session's first output.
const DEFAULT_START_YIELD_MS: u64 = 300;
/// Default run_command timeout.
const DEFAULT_RUN_TIMEOUT_MS: u64 = 10_000;
/// Default wait_for_text timeout.
const DEFAULT_WAIT_MS: u64 = 10_000;
/// The name of the shell run_command starts on first use.
const SHELL_NAME: &str = "shell";

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

/// Where a command run by `run_command` is.
enum Run {
    Idle,
    /// Sent and not yet seen to finish (timed out): read_output resumes it.
    Running(Pending),
    /// A call is reading it right now.
    Driving,
}

struct EntryState {
    last_used: Instant,
    cleaner: Cleaner,
    /// The unread cursor after this server's last read.
    cursor: u64,
    run: Run,
}

/// One open session.
pub struct Entry {
    id: u64,
    session: Session,
    name: Option<String>,
    st: Mutex<EntryState>,
}

/// All open sessions and the settings.
pub struct Core {
    pub cfg: Config,
    table: Mutex<BTreeMap<u64, Arc<Entry>>>,
    /// Where long commands are written for the shell to source.
    spool: Mutex<Option<PathBuf>>,
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

/// What a read collected, before cleaning and cutting.
struct Collected {
    text: String,
    running: bool,
    status: Option<ExitStatus>,
    dropped: u64,
    remaining: usize,
    matched: Option<bool>,
    /// For a session running a command: it finished, with this code.
    command_exit: Option<i32>,
    command_running: bool,
    /// A command's output, already cleaned and held in bounded memory
    /// (then `text` is unused).
    held: Option<Held>,
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
            command_exit: None,
            command_running: false,
            held: None,
            cursor: r.end_offset,
        }
    }
}

fn regex(p: &str) -> Result<Pattern, String> {
    Pattern::regex(p).map_err(|e| e.to_string())
}

impl Core {
    pub fn new(cfg: Config) -> Core {
        Core {
            cfg,
            table: Mutex::new(BTreeMap::new()),
            spool: Mutex::new(None),
        }
    }

    fn ceiling(&self, ms: Option<u64>, default: u64) -> Instant {
        shell::deadline(ms.unwrap_or(default), self.cfg.max_wait)
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

    fn spawn(
        &self,
        b: SessionBuilder,
        name: Option<String>,
        program: &str,
    ) -> Result<(Arc<Entry>, Vec<u64>), String> {
        self.check_program(program)?;
        let mut table = self.table.lock();
        if let Some(n) = &name {
            if n.parse::<u64>().is_ok() {
                return Err(format!(
                    "invalid name {n:?}: a name must not be a number (numbers are ids)"
                ));
            }
            if table.values().any(|e| e.name.as_deref() == Some(n)) {
                return Err(format!("name {n:?} is already used by an open session"));
            }
        }
        let b = match &name {
            Some(n) => b.name(n),
            None => b,
        };
        // Bad input is refused before anything is pruned.
        let session = b.screen(true).spawn().map_err(|e| e.to_string())?;
        // One over the cap for a moment: prune with the new one left out.
        let pruned = if table.len() >= self.cfg.max_sessions.max(1) {
            self.prune(&mut table)
        } else {
            Vec::new()
        };
        let cursor = session.output_offset().unwrap_or(0);
        let e = Arc::new(Entry {
            id: session.id().get(),
            session,
            name,
            st: Mutex::new(EntryState {
                last_used: Instant::now(),
                cleaner: Cleaner::default(),
                cursor,
                run: Run::Idle,
            }),
        });
        table.insert(e.id, Arc::clone(&e));
        Ok((e, pruned))
    }

    // ---- reading ----

    /// Waits as `wait` says for output from `from` on (the offset before
    /// the input this call sent), returning everything unread.
    fn collect(
        &self,
        e: &Entry,
        wait: &WaitOpts,
        from: u64,
        default_yield: u64,
        raw: bool,
    ) -> Result<Collected, String> {
        let deadline = self.ceiling(wait.yield_ms, default_yield);
        let until = wait.until.as_deref().map(regex).transpose()?;
        // A command run_command left running: follow it, so its end marker
        // is seen by the shell logic and not handed out as output.
        if let Some(p) = self.take_running(e) {
            let stop = until.as_ref().map(|pat| move |t: &str| pat.is_match(t));
            return self.follow(
                e,
                p,
                deadline,
                stop.as_ref().map(|f| f as &dyn Fn(&str) -> bool),
                raw,
            );
        }
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
            let left = deadline.saturating_duration_since(Instant::now());
            let settle = Duration::from_millis(wait.settle_ms.unwrap_or(DEFAULT_SETTLE_MS));
            Collected::from_poll(
                s.poll_quiet_with_limit(left, settle, READ_LIMIT)
                    .map_err(|e| e.to_string())?,
                None,
            )
        };
        e.st.lock().cursor = c.cursor;
        Ok(c)
    }

    fn take_running(&self, e: &Entry) -> Option<Pending> {
        let mut st = e.st.lock();
        match std::mem::replace(&mut st.run, Run::Idle) {
            Run::Running(p) => {
                st.run = Run::Driving;
                Some(p)
            }
            other => {
                st.run = other;
                None
            }
        }
    }

    /// Drives a running command until it ends, `deadline`, or `stop` says
    /// its new output is what the caller waits for.
    fn follow(
        &self,
        e: &Entry,
        mut p: Pending,
        deadline: Instant,
        stop: Option<&dyn Fn(&str) -> bool>,
        raw: bool,
    ) -> Result<Collected, String> {
        let mut tr = |chunk: &str| {
            if raw {
                chunk.to_string()
            } else {
                e.st.lock().cleaner.clean(chunk)
            }
        };
        let r = shell::drive(&e.session, &mut p, deadline, stop, &mut tr);
        let dropped = std::mem::take(&mut p.dropped_bytes);
        let mut st = e.st.lock();
        let (progress, cursor) = match r {
            Ok(x) => x,
            Err(err) => {
                st.run = Run::Idle;
                return Err(err.to_string());
            }
        };
        st.cursor = cursor;
        let mut c = Collected {
            text: String::new(),
            running: true,
            status: None,
            dropped,
            remaining: 0,
            matched: None,
            command_exit: None,
            command_running: false,
            held: None,
            cursor,
        };
        match progress {
            Progress::Done { output, exit_code } => {
                st.run = Run::Idle;
                c.held = Some(output);
                c.command_exit = Some(exit_code);
            }
            Progress::Running { output } => {
                c.matched = stop.map(|f| f(output.as_str()));
                c.held = Some(output);
                c.command_running = true;
                st.run = Run::Running(p);
            }
            Progress::ShellExited { output, status } => {
                st.run = Run::Idle;
                c.held = Some(output);
                c.running = false;
                c.status = Some(status);
            }
        }
        Ok(c)
    }

    /// Cleans and cuts `raw` for the model.
    fn shape(&self, e: &Entry, raw: &str, out: &OutputOpts) -> Result<(String, usize), String> {
        let max = max_output(out)?;
        let clean = if out.raw {
            raw.to_string()
        } else {
            e.st.lock().cleaner.clean(raw)
        };
        Ok(text::head_tail(&clean, max))
    }

    /// [`shape`](Self::shape) of what a read collected: a command's held
    /// output is already clean and only cut.
    fn shape_collected(
        &self,
        e: &Entry,
        c: &mut Collected,
        out: &OutputOpts,
    ) -> Result<(String, usize), String> {
        match c.held.take() {
            Some(h) => Ok(h.cut(max_output(out)?)),
            None => self.shape(e, &c.text, out),
        }
    }

    fn output_reply(&self, e: &Entry, mut c: Collected, out: &OutputOpts) -> ToolResult {
        let (output, elided) = self.shape_collected(e, &mut c, out)?;
        let (exit_code, signal) = exit_fields(c.status);
        let mut text = output.clone();
        if let Some(code) = c.command_exit {
            if code != 0 {
                text.push_str(&format!("\n[command exit code {code}]"));
            }
        } else if c.command_running {
            text.push_str("\n[command still running]");
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
        if c.command_exit.is_some() || c.command_running {
            data["command_running"] = json!(c.command_running);
            data["command_exit_code"] = json!(c.command_exit);
        }
        Ok(Reply { text, data })
    }

    // ---- tools ----

    pub fn start_session(&self, p: StartSession) -> ToolResult {
        max_output(&p.out)?;
        let (mut b, program, shown) = match (&p.command, &p.argv) {
            (Some(c), None) => (SessionBuilder::new(c.as_str()), "sh".to_string(), c.clone()),
            (None, Some(a)) if !a.is_empty() => (SessionBuilder::new(a.clone()), a[0].clone(), a.join(" ")),
            (None, Some(_)) => return Err("invalid argv: empty; give the program and its arguments".into()),
            (Some(_), Some(_)) => return Err("give either command or argv, not both".into()),
            (None, None) => return Err("missing command: give command (a shell string) or argv".into()),
        };
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
        if let Some(u) = &p.until {
            regex(u)?; // a bad pattern starts nothing
        }
        let (e, pruned) = self.spawn(b, p.name.clone(), &program)?;
        let wait = WaitOpts {
            yield_ms: p.yield_ms,
            until: p.until.clone(),
            settle_ms: None,
        };
        let c = self.collect(&e, &wait, 0, DEFAULT_START_YIELD_MS, p.out.raw)?;
        let mut r = self.output_reply(&e, c, &p.out)?;
        r.text = format!("session {} pid {} started\n{}", e.id, e.session.pid(), r.text);
        r.data["pid"] = json!(e.session.pid());
        r.data["name"] = json!(e.name);
        r.data["command"] = json!(shown);
        r.data["pruned"] = json!(pruned);
        if !pruned.is_empty() {
            r.text
                .push_str(&format!("\n[session cap reached: closed sessions {pruned:?}]"));
        }
        Ok(r)
    }

    fn shell_entry(&self, p: &RunCommand) -> Result<(Arc<Entry>, Vec<u64>), String> {
        if let Some(r) = &p.session {
            return Ok((self.resolve(r)?, Vec::new()));
        }
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
        let b = b.size(bgterm::DEFAULT_ROWS, 200);
        let (e, pruned) = self.spawn(b, Some(SHELL_NAME.into()), &argv[0])?;
        e.session.send(shell::INIT).map_err(|e| e.to_string())?;
        Ok((e, pruned))
    }

    pub fn run_command(&self, p: RunCommand) -> ToolResult {
        max_output(&p.out)?;
        let (e, pruned) = self.shell_entry(&p)?;
        {
            let mut st = e.st.lock();
            match &st.run {
                Run::Idle => st.run = Run::Driving,
                Run::Running(pend) => {
                    return Err(format!(
                        "session {} is busy: a command started {:.1} s ago is still running; \
                         call read_output to follow it, or send_keys [\"C-c\"] to interrupt it",
                        e.id,
                        pend.started.elapsed().as_secs_f64()
                    ));
                }
                Run::Driving => {
                    return Err(format!(
                        "session {} is busy: another call is running a command in it",
                        e.id
                    ));
                }
            }
        }
        if let Ok(Some(status)) = e.session.try_wait() {
            e.st.lock().run = Run::Idle;
            return Err(format!(
                "session {} has exited ({status}); it takes no more commands",
                e.id
            ));
        }
        let started = Instant::now();
        let pend = match self
            .spool()
            .and_then(|dir| shell::start(&e.session, &p.command, &dir))
        {
            Ok(x) => x,
            Err(err) => {
                e.st.lock().run = Run::Idle;
                return Err(err);
            }
        };
        let deadline = self.ceiling(p.timeout_ms, DEFAULT_RUN_TIMEOUT_MS);
        let mut c = self.follow(&e, pend, deadline, None, p.out.raw)?;
        let running = c.command_running;
        let exit_code = c
            .command_exit
            .or_else(|| c.status.and_then(ExitStatus::python_returncode));
        let (output, elided) = self.shape_collected(&e, &mut c, &p.out)?;
        let mut text = output.clone();
        if !text.is_empty() && !text.ends_with('\n') && (running || !c.running || exit_code != Some(0)) {
            text.push('\n');
        }
        if running {
            text.push_str(&format!(
                "[still running after {} ms: call read_output on session {} to continue, or send_keys [\"C-c\"]]",
                started.elapsed().as_millis(),
                e.id
            ));
        } else if !c.running {
            text.push_str(&format!(
                "[the shell exited: {}]",
                c.status.map(|s| s.to_string()).unwrap_or_default()
            ));
        } else if exit_code != Some(0) {
            text.push_str(&format!("[exit code {}]", exit_code.unwrap_or(-1)));
        }
        Ok(Reply {
            text,
            data: json!({
                "session": e.id,
                "output": output,
                "exit_code": if running { None } else { exit_code },
                "running": running,
                "duration_ms": ms(started.elapsed()),
                "elided_bytes": elided,
                "dropped_bytes": c.dropped,
                "pruned": pruned,
            }),
        })
    }

    pub fn write_stdin(&self, p: WriteStdin) -> ToolResult {
        let e = self.resolve(&p.session)?;
        let mut input = p.text.clone().unwrap_or_default();
        if let Some(keys) = &p.keys {
            input.push_str(&self.encode(&e, keys)?);
        }
        self.send_and_collect(&e, &input, &p.wait, &p.out)
    }

    pub fn send_keys(&self, p: SendKeys) -> ToolResult {
        let e = self.resolve(&p.session)?;
        if p.keys.is_empty() {
            return Err("invalid keys: empty list; give key names such as [\"Enter\"] or [\"C-c\"]".into());
        }
        let input = self.encode(&e, &p.keys)?;
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

    fn send_and_collect(&self, e: &Entry, input: &str, wait: &WaitOpts, out: &OutputOpts) -> ToolResult {
        max_output(out)?; // a bad value sends nothing
        if let Some(u) = &wait.until {
            regex(u)?; // a bad pattern sends nothing
        }
        let from = e.session.output_offset().map_err(|e| e.to_string())?;
        e.session.send(input).map_err(|e| e.to_string())?;
        let c = self.collect(e, wait, from, DEFAULT_YIELD_MS, out.raw)?;
        self.output_reply(e, c, out)
    }

    pub fn read_output(&self, p: ReadOutput) -> ToolResult {
        let e = self.resolve(&p.session)?;
        max_output(&p.out)?; // a bad value reads nothing
        let from = e.st.lock().cursor;
        let c = self.collect(&e, &p.wait, from, DEFAULT_YIELD_MS, p.out.raw)?;
        self.output_reply(&e, c, &p.out)
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
        match p.source {
            Source::Screen => self.wait_screen(&e, &pats, &p.patterns, deadline, started),
            Source::Output => {
                if let Some(pend) = self.take_running(&e) {
                    let stop = |t: &str| pats.iter().any(|x| x.is_match(t));
                    let mut c = self.follow(&e, pend, deadline, Some(&stop), p.out.raw)?;
                    let seen = c.held.as_ref().map(|h| h.as_str()).unwrap_or("");
                    let index = pats.iter().position(|x| x.is_match(seen));
                    c.matched = Some(index.is_some());
                    let mut r = self.output_reply(&e, c, &p.out)?;
                    self.describe_match(&mut r, index, &p.patterns, started);
                    return Ok(r);
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
                    Err(Error::WaitTimeout { waited, tail, .. }) => {
                        Ok(self.no_match(&e, "timeout", waited, &tail))
                    }
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
        let tail = text::clean(tail);
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
        json!({
            "session": e.id, "name": e.name, "pid": s.pid, "command": s.command.to_string(),
            "cwd": s.cwd.display().to_string(), "state": state, "exit_code": exit_code, "signal": signal,
            "rows": rows, "cols": cols, "idle_ms": st.last_used.elapsed().as_millis() as u64,
            "command_running": matches!(st.run, Run::Running(_) | Run::Driving),
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
                    hits.push(json!({ "session": e.id, "line": h.line, "text": text::clean(&h.text) }));
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
