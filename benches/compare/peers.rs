//! The Rust peers, driven the way their own documentation drives them, so
//! that each workload can run them in rotation with raw and bgterm.
//!
//! - **expectrl** (0.9): `Session::spawn(Command)`, `send`, `expect(..)`
//!   (its default greedy expect, which polls the PTY without blocking),
//!   `expect(Eof)` to drain, `get_process().wait()` to reap.
//! - **rexpect** (0.7): `session::spawn_command(Command, Some(timeout))`,
//!   `send` + `flush`, `exp_string`, `exp_eof`, `process().wait()`. Its
//!   reader thread forwards the output byte by byte over a channel and its
//!   `exp_*` calls check that channel every 100 ms: that is what it costs.
//! - **portable-pty** (0.9): the way wezterm and Codex use it:
//!   `native_pty_system().openpty(..)`, `slave.spawn_command(..)`, the slave
//!   dropped, `try_clone_reader()` read by a dedicated thread into an 8 KiB
//!   buffer whose chunks go over a channel, `take_writer()` for input,
//!   `child.kill()` + `child.wait()` to stop one child. The idle sessions
//!   are closed by dropping the writer and the master (the writer sends
//!   EOF: `cat` ends) and `child.wait()`: `kill()` first sends SIGHUP and
//!   sleeps 50 ms before it looks again, which would measure 50 ms per
//!   session.
//!
//! ptyprocess (under expectrl) and rexpect turn the terminal's echo off
//! when they start a child; portable-pty leaves it on. Every child leads
//! its own session, and is registered with `cleanup` while unreaped when
//! its pid is known (rexpect does not expose it: its children get the
//! hangup when the bench exits and its master closes).

use std::io::{Read as _, Write as _};
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::BoxResult;
use crate::cleanup::{self, Slot};

/// One peer library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Expectrl,
    Rexpect,
    PortablePty,
}

/// Every peer, in the order of the table's columns.
pub const ALL: [Peer; 3] = [Peer::Expectrl, Peer::Rexpect, Peer::PortablePty];

/// How long any single expectation of a peer may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The drain's bound (100 MB through the slowest peer).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Expectrl => "expectrl",
            Peer::Rexpect => "rexpect",
            Peer::PortablePty => "portable-pty",
        }
    }

    /// How many echo trips this peer makes of the `wanted`: rexpect's
    /// `exp_string` sleeps 100 ms whenever the answer is not already in,
    /// so it makes fewer (the row's note says how many).
    pub fn echo_trips(self, wanted: usize) -> usize {
        match self {
            Peer::Rexpect => wanted.min(40),
            _ => wanted,
        }
    }

    /// Runs `argv` to its end, reading all of its output; returns the
    /// number of bytes read.
    pub fn drain(self, argv: &[&str]) -> BoxResult<u64> {
        match self {
            Peer::Expectrl => {
                let mut s = ex::spawn(argv)?;
                s.p.set_expect_timeout(Some(DRAIN_TIMEOUT));
                let all = expectrl::Expect::expect(&mut s.p, expectrl::Eof)?;
                let n = all.as_bytes().len() as u64;
                s.reap()?;
                Ok(n)
            }
            Peer::Rexpect => {
                let mut p = rx::spawn(argv, DRAIN_TIMEOUT)?;
                // exp_eof returns the output as a String of one char per
                // byte.
                let n = p.exp_eof()?.chars().count() as u64;
                p.process().wait()?;
                Ok(n)
            }
            Peer::PortablePty => {
                let s = pp::spawn(argv)?;
                let mut n = 0u64;
                let deadline = Instant::now() + DRAIN_TIMEOUT;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match s.rx.recv_timeout(left) {
                        Ok(chunk) => n += chunk.len() as u64,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            return Err("portable-pty drain: timed out".into());
                        }
                    }
                }
                s.wait()?;
                Ok(n)
            }
        }
    }

    /// Starts `argv` (which prints `ready` and then echoes one byte per
    /// byte), then times `warmup + trips` one-byte round trips; pushes the
    /// last `trips` in µs.
    pub fn echo(
        self,
        argv: &[&str],
        ready: &str,
        warmup: usize,
        trips: usize,
        out: &mut Vec<f64>,
    ) -> BoxResult<()> {
        match self {
            Peer::Expectrl => {
                use expectrl::Expect as _;
                let mut s = ex::spawn(argv)?;
                s.p.set_expect_timeout(Some(TIMEOUT));
                s.p.expect(ready)?;
                for i in 0..warmup + trips {
                    let t = Instant::now();
                    s.p.send("x")?;
                    let m = s.p.expect("x")?;
                    if !m.before().is_empty() {
                        return Err(format!("expectrl echo: stray {:?}", m.before()).into());
                    }
                    if i >= warmup {
                        out.push(t.elapsed().as_secs_f64() * 1e6);
                    }
                }
                s.kill()
            }
            Peer::Rexpect => {
                let mut p = rx::spawn(argv, TIMEOUT)?;
                p.exp_string(ready)?;
                for i in 0..warmup + trips {
                    let t = Instant::now();
                    p.send("x")?;
                    p.flush()?;
                    let before = p.exp_string("x")?;
                    if !before.is_empty() {
                        return Err(format!("rexpect echo: stray {before:?}").into());
                    }
                    if i >= warmup {
                        out.push(t.elapsed().as_secs_f64() * 1e6);
                    }
                }
                rx::kill(&mut p)
            }
            Peer::PortablePty => {
                let mut s = pp::spawn(argv)?;
                s.read_until(ready.as_bytes(), TIMEOUT)?;
                for i in 0..warmup + trips {
                    let t = Instant::now();
                    s.write(b"x")?;
                    s.read_until(b"x", TIMEOUT)?;
                    if i >= warmup {
                        out.push(t.elapsed().as_secs_f64() * 1e6);
                    }
                }
                s.kill()
            }
        }
    }

    /// Starts `argv`, waits for its exit and reaps it.
    pub fn spawn_reap(self, argv: &[&str]) -> BoxResult<()> {
        match self {
            Peer::Expectrl => ex::spawn(argv)?.reap(),
            Peer::Rexpect => {
                let p = rx::spawn(argv, TIMEOUT)?;
                p.process().wait()?;
                Ok(())
            }
            Peer::PortablePty => {
                let mut s = pp::spawn(argv)?;
                s.child_wait()?;
                Ok(())
            }
        }
    }

    /// Starts an idle `cat` that [`Idle::ping`] can check.
    pub fn idle_cat(self) -> BoxResult<Box<dyn Idle>> {
        Ok(match self {
            Peer::Expectrl => {
                let mut s = ex::spawn(&["cat"])?;
                s.p.set_expect_timeout(Some(TIMEOUT));
                Box::new(s)
            }
            Peer::Rexpect => Box::new(rx::Idle(rx::spawn(&["cat"], TIMEOUT)?)),
            Peer::PortablePty => Box::new(pp::spawn(&["cat"])?),
        })
    }
}

/// An idle `cat` session of a peer.
pub trait Idle {
    /// Types `ping` + newline.
    fn send_ping(&mut self) -> BoxResult<()>;
    /// Waits (bounded) for `cat`'s answer to the ping.
    fn answered(&mut self) -> BoxResult<()>;
    /// Stops and reaps the child.
    fn close(self: Box<Self>) -> BoxResult<()>;
}

fn command(argv: &[&str]) -> Command {
    let mut c = Command::new(argv[0]);
    c.args(&argv[1..]);
    c
}

mod ex {
    use expectrl::Expect as _;
    use expectrl::process::unix::Signal;
    use expectrl::session::OsSession;

    use super::*;

    pub struct Ex {
        // Released before every reap.
        slot: Slot,
        pub p: OsSession,
    }

    pub fn spawn(argv: &[&str]) -> BoxResult<Ex> {
        let p = expectrl::Session::spawn(command(argv))?;
        let slot = cleanup::register(p.get_process().pid().as_raw());
        Ok(Ex { slot, p })
    }

    impl Ex {
        pub fn reap(mut self) -> BoxResult<()> {
            self.slot.release();
            self.p.get_process().wait()?;
            Ok(())
        }

        pub fn kill(mut self) -> BoxResult<()> {
            self.p.get_process_mut().kill(Signal::SIGKILL)?;
            self.reap()
        }
    }

    impl Idle for Ex {
        fn send_ping(&mut self) -> BoxResult<()> {
            self.p.send_line("ping")?;
            Ok(())
        }

        fn answered(&mut self) -> BoxResult<()> {
            // Echo is off: the only "ping" is cat's.
            self.p.expect("ping\r\n")?;
            Ok(())
        }

        fn close(self: Box<Self>) -> BoxResult<()> {
            (*self).kill()
        }
    }
}

mod rx {
    use rexpect::process::Signal;
    use rexpect::session::PtySession;

    use super::*;

    pub fn spawn(argv: &[&str], timeout: Duration) -> BoxResult<PtySession> {
        Ok(rexpect::session::spawn_command(
            command(argv),
            Some(timeout.as_millis() as u64),
        )?)
    }

    /// SIGKILL and reap (rexpect's own `exit()` polls every 100 ms).
    pub fn kill(p: &mut PtySession) -> BoxResult<()> {
        p.process_mut().signal(Signal::SIGKILL)?;
        p.process().wait()?;
        Ok(())
    }

    pub struct Idle(pub PtySession);

    impl super::Idle for Idle {
        fn send_ping(&mut self) -> BoxResult<()> {
            self.0.send_line("ping")?;
            Ok(())
        }

        fn answered(&mut self) -> BoxResult<()> {
            // Echo is off: the only "ping" is cat's.
            self.0.exp_string("ping\r\n")?;
            Ok(())
        }

        fn close(mut self: Box<Self>) -> BoxResult<()> {
            kill(&mut self.0)
        }
    }
}

mod pp {
    use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

    use super::*;

    pub struct Pp {
        slot: Slot,
        child: Box<dyn Child + Send + Sync>,
        writer: Option<Box<dyn std::io::Write + Send>>,
        master: Option<Box<dyn MasterPty + Send>>,
        pub rx: mpsc::Receiver<Vec<u8>>,
        reader: Option<JoinHandle<()>>,
        seen: Vec<u8>,
    }

    pub fn spawn(argv: &[&str]) -> BoxResult<Pp> {
        let pair = native_pty_system().openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })?;
        let mut cmd = CommandBuilder::new(argv[0]);
        cmd.args(&argv[1..]);
        if let Ok(dir) = std::env::current_dir() {
            cmd.cwd(dir);
        }
        let child = pair.slave.spawn_command(cmd)?;
        let slot = cleanup::register(child.process_id().ok_or("portable-pty: no pid")? as i32);
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader()?;
        let writer = pair.master.take_writer()?;
        let (tx, rx) = mpsc::channel();
        // Codex's reader: a blocking read into 8 KiB, each chunk sent on.
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
        Ok(Pp {
            slot,
            child,
            writer: Some(writer),
            master: Some(pair.master),
            rx,
            reader: Some(reader),
            seen: Vec::new(),
        })
    }

    impl Pp {
        /// Receives chunks until the unread output holds `marker`, and
        /// consumes up to its end.
        pub fn read_until(&mut self, marker: &[u8], timeout: Duration) -> BoxResult<()> {
            let deadline = Instant::now() + timeout;
            loop {
                if let Some(at) = self.seen.windows(marker.len()).position(|w| w == marker) {
                    self.seen.drain(..at + marker.len());
                    return Ok(());
                }
                let left = deadline.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(left) {
                    Ok(chunk) => self.seen.extend_from_slice(&chunk),
                    Err(e) => {
                        return Err(format!("portable-pty: no {marker:?} ({e}); saw {:?}", self.seen).into());
                    }
                }
            }
        }

        pub fn write(&mut self, data: &[u8]) -> BoxResult<()> {
            let w = self.writer.as_mut().ok_or("portable-pty: writer dropped")?;
            w.write_all(data)?;
            w.flush()?;
            Ok(())
        }

        pub fn child_wait(&mut self) -> BoxResult<()> {
            self.slot.release();
            self.child.wait()?;
            Ok(())
        }

        /// Reaps the exited child and joins the reader (which has seen
        /// the end of output).
        pub fn wait(mut self) -> BoxResult<()> {
            self.child_wait()?;
            self.join();
            Ok(())
        }

        pub fn kill(mut self) -> BoxResult<()> {
            self.child.kill()?;
            self.wait_after_kill()
        }

        fn wait_after_kill(&mut self) -> BoxResult<()> {
            self.child_wait()?;
            self.join();
            Ok(())
        }

        fn join(&mut self) {
            if let Some(h) = self.reader.take() {
                // The child is reaped and the slave closed: the reader's
                // next read reports the end (EIO) and the thread returns.
                let _ = h.join();
            }
        }
    }

    impl Idle for Pp {
        fn send_ping(&mut self) -> BoxResult<()> {
            self.write(b"ping\n")
        }

        fn answered(&mut self) -> BoxResult<()> {
            // Echo is on: the line discipline's echo, then cat's answer.
            self.read_until(b"ping\r\nping\r\n", TIMEOUT)
        }

        fn close(mut self: Box<Self>) -> BoxResult<()> {
            // The writer's drop sends a newline and EOF: cat ends.
            drop(self.writer.take());
            drop(self.master.take());
            self.wait_after_kill()
        }
    }
}

/// A peer's figure in one row of the table, or why there is none.
#[derive(Clone, Debug)]
pub enum Cell {
    Value(f64),
    /// A figure with a footnote (e.g. measured on fewer samples).
    Noted(f64, String),
    Not(String),
}

/// What one peer gathered over a workload's rounds: its samples, or the
/// first error that stopped it (it is then left out of later rounds).
pub struct Tally {
    pub samples: Vec<f64>,
    pub failed: Option<String>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            samples: Vec::new(),
            failed: None,
        }
    }

    /// Runs one measurement unless an earlier one failed; an error is
    /// kept (not propagated): a peer that cannot do a workload gets a
    /// reason in the table, and the others go on.
    pub fn run(&mut self, peer: Peer, what: &str, f: impl FnOnce(&mut Vec<f64>) -> BoxResult<()>) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = f(&mut self.samples) {
            eprintln!("  {what} {}: FAILED: {e}", peer.name());
            self.failed = Some(format!("failed: {e}"));
        }
    }

    /// The cell for `stat` of the samples.
    pub fn cell(&self, stat: impl FnOnce(&[f64]) -> f64) -> Cell {
        match &self.failed {
            Some(why) => Cell::Not(why.clone()),
            None if self.samples.is_empty() => Cell::Not("no samples".into()),
            None => Cell::Value(stat(&self.samples)),
        }
    }
}
