//! Every child the bench starts is killed, even when the run is cut short.
//!
//! Each child leads its own process group; its pid goes into a fixed table
//! of atomics while it is unreaped. A panic hook and a SIGINT / SIGTERM /
//! SIGHUP handler SIGKILL every group in the table (atomic loads and
//! `killpg` are async-signal-safe), then the signal is re-raised with its
//! default action. Normal paths reap through `Drop` (raw children) or
//! `Session::close` / drop (bgterm sessions).

use std::sync::atomic::{AtomicI32, Ordering};

const SLOTS: usize = 4096;
static GROUPS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];

/// One registered process group; [`Slot::release`] it before reaping, so
/// that a signal handler never signals a pid that may have been reused.
#[derive(Debug)]
pub struct Slot(Option<usize>);

/// Registers process group `pgid` for emergency cleanup.
pub fn register(pgid: i32) -> Slot {
    for (i, g) in GROUPS.iter().enumerate() {
        if g.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Slot(Some(i));
        }
    }
    panic!("more than {SLOTS} children at once");
}

impl Slot {
    /// Forgets the group (call before the child is reaped).
    pub fn release(&mut self) {
        if let Some(i) = self.0.take() {
            GROUPS[i].store(0, Ordering::SeqCst);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

/// SIGKILLs every registered group. Async-signal-safe.
pub fn kill_all() {
    for g in &GROUPS {
        let pgid = g.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: killpg has no memory-safety preconditions.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    kill_all();
    // SAFETY: restoring the default action and re-raising are
    // async-signal-safe; the process then ends as the signal says.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Installs the panic hook and the signal handlers.
pub fn install() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_all();
        previous(info);
    }));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `on_signal` only does async-signal-safe work.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}
