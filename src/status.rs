//! How a child process ended.

use std::fmt;

/// How a session's child process ended: a normal exit with a code, or death
/// by a signal. The two are kept apart (unlike a shell's `$?`, which folds a
/// signal into `128 + n`).
///
/// A third outcome, [`Unknown`](Self::Unknown), exists for hosts that reap
/// children behind the crate's back (see "Hosts that reap children" in the
/// crate docs): the child ended, but the kernel no longer has its status.
/// The crate never makes one up. The enum is `#[non_exhaustive]`: match it
/// with a wildcard arm.
///
/// ```
/// use bgterm::ExitStatus;
/// assert!(ExitStatus::Exited(0).success());
/// assert_eq!(ExitStatus::Exited(17).code(), Some(17));
/// assert_eq!(ExitStatus::Signaled(9).signal(), Some(9));
/// // Python's convention, as bgterm's `exit_code` uses it:
/// assert_eq!(ExitStatus::Signaled(9).python_returncode(), Some(-9));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExitStatus {
    /// The process called `exit` with this code.
    Exited(i32),
    /// The process was killed by this signal number.
    Signaled(i32),
    /// The process ended, but how is not known: something other than this
    /// crate reaped it (a host that sets SIGCHLD to `SIG_IGN`, or reaps in
    /// a SIGCHLD handler) before the crate looked, on a kernel that does
    /// not keep the status for the pidfd (Linux 6.15 and later do, and then
    /// the real status is reported instead).
    Unknown,
}

impl ExitStatus {
    /// True for `Exited(0)`.
    #[must_use]
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    /// The exit code, or `None` if a signal ended the process.
    #[must_use]
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(c) => Some(c),
            ExitStatus::Signaled(_) | ExitStatus::Unknown => None,
        }
    }

    /// The signal that ended the process, or `None` if it exited normally
    /// (or how is unknown).
    #[must_use]
    pub fn signal(self) -> Option<i32> {
        match self {
            ExitStatus::Signaled(s) => Some(s),
            ExitStatus::Exited(_) | ExitStatus::Unknown => None,
        }
    }

    /// Python's `Popen.returncode` convention: the exit code, or minus the
    /// signal number; `None` for [`Unknown`](Self::Unknown) (Python would
    /// say 0, a success nobody saw). This is what
    /// [`PollResult::exit_code`](crate::PollResult::exit_code) holds.
    ///
    /// ```
    /// use bgterm::ExitStatus;
    /// assert_eq!(ExitStatus::Exited(3).python_returncode(), Some(3));
    /// assert_eq!(ExitStatus::Unknown.python_returncode(), None);
    /// assert!(!ExitStatus::Unknown.success());
    /// ```
    #[must_use]
    pub fn python_returncode(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(c) => Some(c),
            ExitStatus::Signaled(s) => Some(-s),
            ExitStatus::Unknown => None,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit code {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
            ExitStatus::Unknown => f.write_str("exit status unknown (reaped outside bgterm)"),
        }
    }
}
