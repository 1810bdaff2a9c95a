//! Starting a child on a new PTY: our own `clone(2)`, the child's set-up,
//! the exec.
//!
//! Why not std's `Command`: it hands back a pid, and the pidfd can only be
//! opened after `spawn` returns. A host that ignores SIGCHLD (or reaps in
//! a SIGCHLD handler) may have had the child reaped by then: its pid is
//! free, and may already be someone else's. Here the child is created
//! with, in one system call:
//!
//! - `CLONE_PIDFD`: the pidfd comes with the child, so there is no moment
//!   at which the child exists and we hold only its pid; everything after
//!   goes through the pidfd (see [`crate::sys::process`]).
//! - `CLONE_VM | CLONE_VFORK`: the child borrows our memory until it execs,
//!   on a stack of its own, and we wait for that exec; nothing of the
//!   host's address space is copied, so a spawn costs the same from a host
//!   that uses gigabytes as from a small one.
//!
//! Why the usual exit signal (SIGCHLD): a child cloned without one is
//! invisible to `waitpid(-1)`, but `execve` gives it SIGCHLD back anyway
//! (Linux resets the exit signal on exec), so a host that reaps still
//! can; the crate copes with that instead (see the process module).
//!
//! The child runs only async-signal-safe system calls on values prepared
//! before the clone (every string, pointer array and descriptor), and
//! reports a failed set-up, `chdir` or `execve` by storing its stage and
//! errno in memory the parent reads after the vfork ends (the memory is
//! shared, and the parent resumes only once the child has exec'd or
//! exited), so those failures stay typed errors.

// The portable backend uses this module's `Spec`, `Child`, `Stage` and
// `SpawnError` only: the clone below is Linux's (see
// crate::sys::portable for its own spawn).
#![cfg_attr(bgterm_portable, allow(unused_imports))]

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use crate::sys::{check, process, pty};

/// What to start: every value already validated by the caller.
pub(crate) struct Spec<'a> {
    /// The absolute path of the program (the child changes to `cwd` before
    /// it execs, so a relative path would be looked up there).
    pub(crate) program: &'a Path,
    /// The argv, `argv[0]` included.
    pub(crate) argv: &'a [OsString],
    /// The child's whole environment.
    pub(crate) env: &'a [(OsString, OsString)],
    pub(crate) cwd: &'a PathBuf,
    pub(crate) rows: u16,
    pub(crate) cols: u16,
}

/// A started child and the descriptors that watch it.
pub(crate) struct Child {
    /// Our own non-blocking, close-on-exec descriptor for the PTY master.
    pub(crate) master: OwnedFd,
    /// Refers to the child for good: readable once it has exited; what we
    /// signal, wait for and reap it through. On the portable backend, the
    /// read end of its exit pipe (see [`crate::sys::backend`]).
    pub(crate) pidfd: OwnedFd,
    /// The child's pid, which is also its process-group and session id
    /// (for as long as the child is unreaped).
    pub(crate) pid: libc::pid_t,
    /// What the backend keeps for the session (see [`crate::sys::backend`]).
    pub(crate) backend: crate::sys::backend::Backend,
}

/// Which step of starting the child failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before the child existed, or its set-up (session, terminal,
    /// descriptors, signals).
    Setup,
    /// Changing to the working directory.
    Cwd,
    /// The `execve` itself.
    Exec,
}

/// Why a spawn failed, and at which step.
#[derive(Debug)]
pub(crate) struct SpawnError {
    pub(crate) stage: Stage,
    pub(crate) source: io::Error,
}

impl From<io::Error> for SpawnError {
    fn from(source: io::Error) -> SpawnError {
        SpawnError {
            stage: Stage::Setup,
            source,
        }
    }
}

/// The child's stack: its own, because with `CLONE_VM` it must not run on
/// the parent's. Small: the child only makes system calls.
#[cfg(not(bgterm_portable))]
const CHILD_STACK: usize = 64 * 1024;

/// Everything the child needs, prepared before the clone; the child reads
/// it through a raw pointer while the parent is suspended in `clone`.
#[cfg(not(bgterm_portable))]
struct ChildArgs {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    /// `/bin/sh program args...`, for a program without a `#!` line.
    sh_argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    slave: RawFd,
    /// Written by the child on failure: the [`Stage`] number, then the errno.
    failed_stage: AtomicI32,
    failed_errno: AtomicI32,
}

/// Opens a PTY and starts `spec` on it, leading its own session with the
/// PTY as controlling terminal. Set-up, `chdir` and exec failures are
/// reported here, with their stage.
#[cfg(not(bgterm_portable))]
pub(crate) fn spawn(spec: &Spec<'_>) -> Result<Child, SpawnError> {
    let (master, slave) = pty::openpty(spec.rows, spec.cols)?;
    let cstr = |s: &[u8]| CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
    let program = cstr(spec.program.as_os_str().as_bytes())?;
    let cwd = cstr(spec.cwd.as_os_str().as_bytes())?;
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| cstr(a.as_bytes()))
        .collect::<io::Result<_>>()?;
    let env: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| {
            let mut kv = Vec::with_capacity(k.len() + v.len() + 1);
            kv.extend_from_slice(k.as_bytes());
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstr(&kv)
        })
        .collect::<io::Result<_>>()?;
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // What `execvp` does for a file the kernel does not recognise as a
    // program (ENOEXEC: a script without `#!`): `/bin/sh file args...`.
    let sh_argv_ptrs: Vec<*const libc::c_char> = [SH.as_ptr(), program.as_ptr()]
        .into_iter()
        .chain(argv.iter().skip(1).map(|c| c.as_ptr()))
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let env_ptrs: Vec<*const libc::c_char> = env
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let args = ChildArgs {
        program: program.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        sh_argv: sh_argv_ptrs.as_ptr(),
        envp: env_ptrs.as_ptr(),
        cwd: cwd.as_ptr(),
        slave: slave.as_raw_fd(),
        failed_stage: AtomicI32::new(0),
        failed_errno: AtomicI32::new(0),
    };
    let stack = Stack::new()?;
    let (pid, pidfd) = clone_child(&args, &stack)?;
    drop(stack);
    // The parent's copy of the slave: closed now, so the master reports
    // EOF once every holder in the child is gone.
    drop(slave);
    // The vfork is over: the child has exec'd, or stored why not and
    // exited.
    let stage = args.failed_stage.load(Ordering::Acquire);
    if stage != 0 {
        let errno = args.failed_errno.load(Ordering::Acquire);
        // It exited at once: reap it (a host that reaps may have done so;
        // `reap` copes with that).
        let _ = process::reap(pidfd.as_fd());
        return Err(SpawnError {
            stage: match stage {
                STAGE_CWD => Stage::Cwd,
                STAGE_EXEC => Stage::Exec,
                _ => Stage::Setup,
            },
            source: io::Error::from_raw_os_error(errno),
        });
    }
    Ok(Child {
        master,
        pidfd,
        pid,
        backend: crate::sys::backend::Backend,
    })
}

/// The shell `execvp` falls back to.
#[cfg(not(bgterm_portable))]
const SH: &std::ffi::CStr = c"/bin/sh";

#[cfg(not(bgterm_portable))]
const STAGE_SETUP: i32 = 1;
#[cfg(not(bgterm_portable))]
const STAGE_CWD: i32 = 2;
#[cfg(not(bgterm_portable))]
const STAGE_EXEC: i32 = 3;

/// The clone itself, with every signal blocked in this thread around it:
/// a handler of the host must never run in the child, which shares our
/// memory until it execs (the child resets the dispositions, then unblocks).
#[cfg(not(bgterm_portable))]
fn clone_child(args: &ChildArgs, stack: &Stack) -> io::Result<(libc::pid_t, OwnedFd)> {
    // SAFETY (whole block): sigset operations on local values; `clone`
    // gets a valid entry point, the top of a mapped stack of our own, and
    // `args`, which outlives the child's use of it (CLONE_VFORK suspends
    // this thread until the child has exec'd or exited); the pidfd is
    // written to `pidfd` (CLONE_PIDFD, through the parent_tid argument).
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut pidfd: libc::c_int = -1;
        // The low byte is the exit signal: see the module docs.
        let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
        let pid = libc::clone(
            child_main,
            stack.top(),
            flags,
            (args as *const ChildArgs).cast_mut().cast(),
            &mut pidfd as *mut libc::c_int,
        );
        let err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid == -1 {
            return Err(err);
        }
        Ok((pid, OwnedFd::from_raw_fd(pidfd)))
    }
}

/// The child, from the clone to the exec. Never returns.
#[cfg(not(bgterm_portable))]
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildArgs` the parent passed, alive while the
    // parent is suspended; only async-signal-safe system calls follow.
    unsafe {
        let args = &*(arg as *const ChildArgs);
        if child_setup(args.slave).is_err() {
            fail(args, STAGE_SETUP);
        }
        if libc::chdir(args.cwd) == -1 {
            fail(args, STAGE_CWD);
        }
        libc::execve(args.program, args.argv, args.envp);
        if *libc::__errno_location() == libc::ENOEXEC {
            libc::execve(SH.as_ptr(), args.sh_argv, args.envp);
            // Report why the program itself could not run.
            *libc::__errno_location() = libc::ENOEXEC;
        }
        fail(args, STAGE_EXEC)
    }
}

/// In the child: stores the failed `stage` and the current errno for the
/// parent, and exits.
#[cfg(not(bgterm_portable))]
fn fail(args: &ChildArgs, stage: i32) -> ! {
    // SAFETY: reading errno and `_exit` are async-signal-safe.
    let errno = unsafe { *libc::__errno_location() };
    args.failed_errno.store(errno, Ordering::Relaxed);
    args.failed_stage.store(stage, Ordering::Release);
    // SAFETY: ends the child without running any of the host's exit code.
    unsafe { libc::_exit(127) }
}

/// The child's set-up after the clone, in this order: default dispositions
/// for every caught signal (a host handler must not run here, in the
/// host's memory) and for the signals a caller may have ignored, an empty
/// signal mask, a new session (so the child leads its own process group),
/// the PTY as controlling terminal and on fds 0, 1 and 2, and close-on-exec
/// on every descriptor above stderr (so nothing the parent left
/// inheritable leaks into the program).
///
/// # Safety
///
/// Call only in the child after the clone (it is async-signal-safe: plain
/// system calls, no allocation, no locks), with `slave` the PTY slave.
#[cfg(not(bgterm_portable))]
unsafe fn child_setup(slave: RawFd) -> io::Result<()> {
    // SAFETY (whole block): only async-signal-safe system calls on values
    // owned by this function.
    unsafe {
        default_signals();
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        check(libc::setsid())?;
        check(libc::ioctl(slave, libc::TIOCSCTTY, 0))?;
        // Above stderr first, so that dup2 below always makes a new
        // descriptor (dup2 onto itself would leave close-on-exec set).
        let high = check(libc::fcntl(slave, libc::F_DUPFD, 3))?;
        for target in 0..3 {
            check(libc::dup2(high, target))?;
        }
        cloexec_above_stderr();
    }
    Ok(())
}

/// The kernel's `struct sigaction` (what `rt_sigaction(2)` takes), the
/// same on x86-64 and arm64.
#[cfg(target_os = "linux")]
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Marks every descriptor above stderr close-on-exec, so nothing the
/// parent left inheritable leaks into the program: `close_range` where
/// Linux has it (5.11+), else one by one. Shared by both backends'
/// set-ups.
///
/// # Safety
///
/// Call only in a child between its creation and its exec (it is
/// async-signal-safe: plain system calls, no allocation, no locks).
pub(crate) unsafe fn cloexec_above_stderr() {
    // SAFETY (whole block): only async-signal-safe system calls on values
    // owned by this function.
    unsafe {
        #[cfg(target_os = "linux")]
        let closed = libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
        // Elsewhere: the loop below (no close_range with CLOEXEC).
        #[cfg(not(target_os = "linux"))]
        let closed = -1;
        if closed == -1 {
            let mut lim: libc::rlimit = std::mem::zeroed();
            let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                lim.rlim_cur.min(1 << 20) as libc::c_int
            } else {
                1024
            };
            for fd in 3..max {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
}

/// Every signal's disposition back to the default where a host may have
/// changed it: a caught signal (a host handler must never run in the
/// child) and the signals a caller may have ignored, which an exec would
/// keep. Shared by both backends' set-ups.
///
/// # Safety
///
/// Call only in a child between its creation and its exec (it is
/// async-signal-safe: plain system calls, no allocation, no locks).
pub(crate) unsafe fn default_signals() {
    // SAFETY (whole block): only async-signal-safe system calls on values
    // owned by this function.
    unsafe {
        // Every signal number there is (sigaction refuses the others).
        for sig in 1..65 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                // The C library refuses its reserved signals (32 and 33 in
                // glibc); the host may still have left them ignored, which
                // an exec keeps. On Linux, straight to the kernel.
                #[cfg(target_os = "linux")]
                reset_reserved(sig);
                continue;
            }
            let reset = matches!(
                sig,
                libc::SIGCHLD
                    | libc::SIGHUP
                    | libc::SIGINT
                    | libc::SIGQUIT
                    | libc::SIGTERM
                    | libc::SIGALRM
                    | libc::SIGPIPE
            ) || (old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN);
            if reset {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
}

/// In the child: a signal the C library will not touch, set to its
/// default if it is ignored or caught. (The portable backend's set-up on
/// Linux uses it too.)
///
/// # Safety
///
/// Call only in a child between its creation and its exec, as the
/// set-ups that call it do (it is async-signal-safe).
#[cfg(target_os = "linux")]
pub(crate) unsafe fn reset_reserved(sig: libc::c_int) {
    // SAFETY: rt_sigaction with kernel-layout structs we own and the
    // kernel's sigset size (8 bytes).
    unsafe {
        let mut old: KernelSigaction = std::mem::zeroed();
        let got = libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            std::ptr::null::<KernelSigaction>(),
            &mut old as *mut KernelSigaction,
            8usize,
        );
        if got == 0 && old.handler != libc::SIG_DFL {
            let dfl: KernelSigaction = std::mem::zeroed();
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
    }
}

/// A mapped stack for the child, with a guard page below it.
#[cfg(not(bgterm_portable))]
struct Stack {
    base: *mut libc::c_void,
    len: usize,
}

#[cfg(not(bgterm_portable))]
impl Stack {
    fn new() -> io::Result<Stack> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let len = CHILD_STACK + page;
        // SAFETY: a fresh anonymous private mapping, owned by the Stack.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Stack { base, len };
        // The lowest page is the guard: an overflow faults instead of
        // writing into whatever lies below.
        // SAFETY: the first page of our own mapping.
        check(unsafe { libc::mprotect(base, page, libc::PROT_NONE) })?;
        Ok(stack)
    }

    /// The initial stack pointer (stacks grow down; page-aligned, so
    /// 16-byte aligned as the ABI wants).
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of our mapping.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

#[cfg(not(bgterm_portable))]
impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; the child no longer runs
        // on it (it has exec'd or exited when clone returns).
        unsafe { libc::munmap(self.base, self.len) };
    }
}
