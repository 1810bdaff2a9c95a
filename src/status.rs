//! How a child process ended.

use std::fmt;

/// How a session's child process ended: a normal exit with a code, or death
/// by a signal. The two are kept apart (unlike a shell's `$?`, which folds a
/// signal into `128 + n`).
///
/// ```
/// use bgterm::ExitStatus;
/// assert!(ExitStatus::Exited(0).success());
/// assert_eq!(ExitStatus::Exited(17).code(), Some(17));
/// assert_eq!(ExitStatus::Signaled(9).signal(), Some(9));
/// // Python's convention, as bgterm's `exit_code` uses it:
/// assert_eq!(ExitStatus::Signaled(9).python_returncode(), -9);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// The process called `exit` with this code.
    Exited(i32),
    /// The process was killed by this signal number.
    Signaled(i32),
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
            ExitStatus::Signaled(_) => None,
        }
    }

    /// The signal that ended the process, or `None` if it exited normally.
    #[must_use]
    pub fn signal(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(_) => None,
            ExitStatus::Signaled(s) => Some(s),
        }
    }

    /// Python's `Popen.returncode` convention: the exit code, or minus the
    /// signal number. This is what [`PollResult::exit_code`](crate::PollResult::exit_code) holds.
    #[must_use]
    pub fn python_returncode(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => -s,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit code {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
        }
    }
}
