//! The reactor: one thread, one epoll, serving every session's pump.
//!
//! Why one thread for all sessions rather than one each: a thread per
//! session costs a stack mapping and a scheduler entry, counts against a
//! container's `pids.max`, and makes every spawn slower (the host forks a
//! process holding them all). Here 1000 idle sessions cost one thread and
//! no CPU: the reactor sleeps in `epoll_wait` until a descriptor is ready
//! or an exit's drain grace runs out.
//!
//! Fairness: a pump reads at most [`READ_CHUNK`] bytes per turn, so a
//! session that streams output is served once per turn like every other
//! ready session; input and wake-ups of the others are never starved. The
//! PTY masters are watched edge-triggered (see
//! [`Mode::Stream`](crate::sys::fd::Mode::Stream)): a pump that stopped
//! with more to do asks to be run [`again`](Pump::again), and is, on the
//! next turn, after the sessions that were reported ready.
//!
//! Lifetime: the thread starts with the first session and ends, joined,
//! when the last one closes, so nothing of ours outlives the sessions.
//! [`serve`] hands a pump over; [`Served::finish`] (after the core is
//! closed) waits until the reactor has let go of it.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::engine::pump::{Interest, Pump, READ_CHUNK, Ready, Watch};
use crate::sys::fd::{Epoll, EventFd, Mode, Readiness};

/// The reactor while any session is served.
struct Running {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
    sessions: usize,
    /// The process whose thread this is: a fork child has a copy of this
    /// state but no reactor thread.
    pid: u32,
}

/// What the reactor thread shares with [`serve`] and [`Served::finish`].
struct Shared {
    epoll: Epoll,
    /// Wakes the reactor: pumps arrived, or it should stop.
    ctl: EventFd,
    inbox: Mutex<Inbox>,
}

#[derive(Default)]
struct Inbox {
    pumps: Vec<(Pump, Arc<Done>)>,
    stop: bool,
}

/// Set by the reactor once it has dropped a pump.
#[derive(Default)]
struct Done {
    done: Mutex<bool>,
    cv: Condvar,
}

static REACTOR: Mutex<Option<Running>> = Mutex::new(None);

/// A pump the reactor serves; [`finish`](Self::finish) it after closing
/// its core.
pub(crate) struct Served {
    done: Arc<Done>,
    /// The process that handed the pump over.
    pid: u32,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Served")
    }
}

/// Hands `pump` to the reactor (starting the reactor thread if this is the
/// only session).
pub(crate) fn serve(pump: Pump) -> std::io::Result<Served> {
    let mut reactor = REACTOR.lock();
    let pid = std::process::id();
    if reactor.as_ref().is_some_and(|r| r.pid != pid)
        && let Some(inherited) = reactor.take()
    {
        // A fork child: the parent's reactor thread does not exist here,
        // and its sessions are the parent's. Forget it (never join or
        // signal it) and start this process's own.
        std::mem::forget(inherited);
    }
    let mut carried = 0;
    if reactor.as_ref().is_some_and(|r| r.thread.is_finished())
        && let Some(dead) = reactor.take()
    {
        // Only after a bug unwound the reactor (its sessions were told):
        // start afresh, still counting the sessions not yet finished.
        carried = dead.sessions;
        let _ = dead.thread.join();
    }
    if reactor.is_none() {
        let shared = Arc::new(Shared {
            epoll: Epoll::new()?,
            ctl: EventFd::new()?,
            inbox: Mutex::new(Inbox::default()),
        });
        shared.epoll.add(shared.ctl.fd(), CTL, Mode::Read)?;
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("bgterm-reactor".into())
            .stack_size(256 * 1024)
            .spawn(move || run(&for_thread))?;
        *reactor = Some(Running {
            shared,
            thread,
            sessions: carried,
            pid,
        });
    }
    let running = reactor.as_mut().unwrap_or_else(|| unreachable!("started above"));
    let done = Arc::new(Done::default());
    running.shared.inbox.lock().pumps.push((pump, Arc::clone(&done)));
    running.sessions += 1;
    running.shared.ctl.signal();
    Ok(Served { done, pid })
}

impl Served {
    /// Waits until the reactor has dropped the pump (its core must be
    /// closed, and its wake fd signalled, first), then stops and joins the
    /// reactor thread if no session is left.
    pub(crate) fn finish(self) {
        if self.pid != std::process::id() {
            // In a fork child: the pump is served by the parent's reactor,
            // which is not in this process. Nothing here to wait for.
            return;
        }
        let mut done = self.done.done.lock();
        while !*done {
            // The reactor never blocks on anything but epoll, which the
            // close's wake-up interrupts: this wait is short.
            self.done.cv.wait(&mut done);
        }
        drop(done);
        let mut reactor = REACTOR.lock();
        let last = reactor.as_mut().is_some_and(|r| {
            r.sessions -= 1;
            r.sessions == 0
        });
        if last && let Some(running) = reactor.take() {
            running.shared.inbox.lock().stop = true;
            running.shared.ctl.signal();
            // Joined under the lock, so a session started meanwhile gets a
            // fresh reactor rather than this ending one.
            let _ = running.thread.join();
        }
    }
}

/// The token of the reactor's own wake fd.
const CTL: u64 = u64::MAX;

/// Which of a session's descriptors a token names (its low two bits).
const WAKE: u64 = 0;
const MASTER: u64 = 1;
const PIDFD: u64 = 2;

fn token(slot: usize, which: u64) -> u64 {
    ((slot as u64) << 2) | which
}

/// A served pump and what it is registered for.
struct Entry {
    pump: Pump,
    done: Arc<Done>,
    /// How the master is registered.
    master: Watch,
    pidfd: bool,
    /// Listed in [`Sessions::draining`].
    draining: bool,
    /// Listed in [`Sessions::again`].
    again: bool,
}

impl Entry {
    /// Brings the epoll registration in line with what the pump wants.
    /// Registration cannot fail for open descriptors; if it did, the
    /// descriptor would simply not be watched.
    fn register(&mut self, epoll: &Epoll, slot: usize) {
        let want: Interest = self.pump.interest();
        let core = Arc::clone(self.pump.core());
        if want.master != self.master {
            let fd = core.master();
            let mode = |w: Watch| match w {
                Watch::Stream { write } => Some(Mode::Stream { write }),
                Watch::Edge => Some(Mode::Edge),
                Watch::Off => None,
            };
            let _ = match (mode(self.master), mode(want.master)) {
                (None, Some(m)) => epoll.add(fd, token(slot, MASTER), m),
                (Some(_), Some(m)) => epoll.modify(fd, token(slot, MASTER), m),
                (Some(_), None) => epoll.delete(fd),
                (None, None) => Ok(()),
            };
            self.master = want.master;
        }
        // A waiter may read the PTY itself only while its reads need none
        // of the pump's handling: the terminal streams (no sink holds
        // output back), the child lives, and the pump left nothing unread
        // (see `direct`). Input is the pump's either way.
        let direct = matches!(want.master, Watch::Stream { .. }) && want.pidfd && !self.pump.again();
        if core.reader().allow(direct) {
            core.kick_direct();
        }
        if want.pidfd != self.pidfd {
            let fd = core.pidfd();
            let _ = if want.pidfd {
                epoll.add(fd, token(slot, PIDFD), Mode::Read)
            } else {
                epoll.delete(fd)
            };
            self.pidfd = want.pidfd;
        }
    }

    /// Removes every registration, drops the pump and tells the closer.
    fn release(mut self, epoll: &Epoll) {
        self.pump.announce();
        let core = Arc::clone(self.pump.core());
        let _ = epoll.delete(core.wake_fd().fd());
        if core.reader().allow(false) {
            core.kick_direct();
        }
        if self.master != Watch::Off {
            let _ = epoll.delete(core.master());
        }
        if self.pidfd {
            let _ = epoll.delete(core.pidfd());
        }
        drop(self.pump);
        drop(core);
        self.done.set();
    }
}

impl Done {
    fn set(&self) {
        *self.done.lock() = true;
        self.cv.notify_all();
    }
}

/// The sessions the reactor serves.
struct Sessions<'a> {
    shared: &'a Shared,
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// Slots whose pump may be draining an exit (few at any time): the
    /// only ones whose timers are looked at.
    draining: Vec<usize>,
    /// Slots whose pump asked to run again (see [`Pump::again`]).
    again: Vec<usize>,
}

impl Sessions<'_> {
    /// Takes the pumps handed over. Returns false when the reactor should
    /// stop (asked to, and serving nothing).
    fn admit(&mut self) -> bool {
        self.shared.ctl.clear();
        let mut inbox = self.shared.inbox.lock();
        for (mut pump, done) in inbox.pumps.drain(..) {
            if !pump.start() {
                // Closed before it was ever served.
                drop(pump);
                done.set();
                continue;
            }
            let slot = self.free.pop().unwrap_or_else(|| {
                self.slots.push(None);
                self.slots.len() - 1
            });
            let wake = self
                .shared
                .epoll
                .add(pump.core().wake_fd().fd(), token(slot, WAKE), Mode::Read);
            let mut entry = Entry {
                pump,
                done,
                master: Watch::Off,
                pidfd: false,
                draining: false,
                again: false,
            };
            if wake.is_err() {
                // Unwatchable: end it (its closer is told) rather than
                // leave a session nobody serves.
                let _ = self.shared.epoll.delete(entry.pump.core().wake_fd().fd());
                drop(entry.pump);
                entry.done.set();
                self.free.push(slot);
                continue;
            }
            entry.pump.core().reader().attach();
            entry.register(&self.shared.epoll, slot);
            self.slots[slot] = Some(entry);
        }
        !(inbox.stop && self.slots.iter().all(Option::is_none))
    }

    /// After a pump ran: re-register it, note a drain, or release it.
    fn settle(&mut self, slot: usize, alive: bool, now: Instant) {
        if !alive {
            if let Some(entry) = self.slots[slot].take() {
                entry.release(&self.shared.epoll);
                self.free.push(slot);
            }
            return;
        }
        if let Some(entry) = self.slots[slot].as_mut() {
            entry.register(&self.shared.epoll, slot);
            if !entry.draining && entry.pump.timeout(now).is_some() {
                entry.draining = true;
                self.draining.push(slot);
            }
            if !entry.again && entry.pump.again() {
                entry.again = true;
                self.again.push(slot);
            }
        }
    }

    /// Runs the pumps that asked to run again, once each (those still
    /// asking are listed for the next turn); lists in `ran` the slots it
    /// ran.
    fn run_again(&mut self, buf: &mut [u8], ran: &mut Vec<usize>) {
        ran.clear();
        ran.append(&mut self.again);
        for &slot in ran.iter() {
            let Some(entry) = self.slots[slot].as_mut() else {
                continue; // released since
            };
            entry.again = false;
            let alive = entry.pump.handle(Ready::default(), buf);
            self.settle(slot, alive, Instant::now());
        }
    }

    /// Wakes the waiters of the output the pumps in `slots` published.
    fn announce(&mut self, slots: impl Iterator<Item = usize>) {
        for slot in slots {
            if let Some(entry) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                entry.pump.announce();
            }
        }
    }

    /// Ticks the pumps whose exit drain is due; returns how long until the
    /// next one is (`None`: none is draining).
    fn tick_due(&mut self, now: Instant) -> Option<std::time::Duration> {
        let mut next = None;
        let mut i = 0;
        while i < self.draining.len() {
            let slot = self.draining[i];
            let timeout = self.slots[slot].as_ref().and_then(|e| e.pump.timeout(now));
            match timeout {
                Some(t) if t.is_zero() => {
                    let alive = self.slots[slot].as_mut().is_some_and(|e| e.pump.tick());
                    self.settle(slot, alive, now);
                    // Re-examined on the next pass (it may drain no more).
                    i += 1;
                }
                Some(t) => {
                    next = Some(next.map_or(t, |n: std::time::Duration| n.min(t)));
                    i += 1;
                }
                None => {
                    if let Some(e) = self.slots[slot].as_mut() {
                        e.draining = false;
                    }
                    self.draining.swap_remove(i);
                }
            }
        }
        next
    }
}

impl Drop for Sessions<'_> {
    /// Only if the reactor thread unwinds (a bug): tell every closer, so
    /// that no `close` waits forever for a reactor that is gone.
    fn drop(&mut self) {
        for entry in self.slots.drain(..).flatten() {
            entry.done.set();
        }
        for (_, done) in self.shared.inbox.lock().pumps.drain(..) {
            done.set();
        }
    }
}

/// The reactor thread.
fn run(shared: &Shared) {
    let mut sessions = Sessions {
        shared,
        slots: Vec::new(),
        free: Vec::new(),
        draining: Vec::new(),
        again: Vec::new(),
    };
    let mut ready: Vec<Readiness> = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut timeout = None;
    let mut ran_again = Vec::new();
    loop {
        ready.clear();
        if shared.epoll.wait(&mut ready, timeout).is_err() {
            // Only resource exhaustion can make epoll_wait fail here.
            continue;
        }
        for r in &ready {
            if r.token == CTL {
                if !sessions.admit() {
                    return;
                }
                continue;
            }
            let slot = (r.token >> 2) as usize;
            let Some(entry) = sessions.slots.get_mut(slot).and_then(Option::as_mut) else {
                continue; // released earlier in this batch
            };
            let which = r.token & 3;
            let report = Ready {
                woken: which == WAKE,
                readable: which == MASTER && r.readable,
                hangup: which == MASTER && r.hangup,
                writable: which == MASTER && r.writable,
                exited: which == PIDFD,
            };
            let alive = entry.pump.handle(report, &mut buf);
            sessions.settle(slot, alive, Instant::now());
        }
        sessions.run_again(&mut buf, &mut ran_again);
        // The turn is done: wake the waiters (see `Pump::announce`).
        let served = ready
            .iter()
            .filter(|r| r.token != CTL)
            .map(|r| (r.token >> 2) as usize);
        sessions.announce(served.chain(ran_again.iter().copied()));
        timeout = sessions.tick_due(Instant::now());
        if !sessions.again.is_empty() {
            // Work is waiting: look for reports without sleeping.
            timeout = Some(std::time::Duration::ZERO);
        }
    }
}
