//! What to run: a shell command line or an argv list.

use std::ffi::OsString;
use std::fmt;

/// The program a session runs.
///
/// A string runs through `/bin/sh -c`, like Python bgterm's `shell=True`
/// default for strings; a list is an argv run directly, with no shell and no
/// quoting surprises. Both convert with `into()`:
///
/// ```
/// use bgterm::Command;
/// assert_eq!(Command::from("echo hi | tr a-z A-Z"), Command::Shell("echo hi | tr a-z A-Z".into()));
/// assert_eq!(Command::from(["python3", "-q"]), Command::Argv(vec!["python3".into(), "-q".into()]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// A command line for `/bin/sh -c`.
    Shell(String),
    /// A program and its arguments, run without a shell. The program is
    /// looked up on `PATH` unless it contains a `/`.
    Argv(Vec<OsString>),
}

impl Command {
    /// The argv this command executes: `["/bin/sh", "-c", line]` for a
    /// shell command.
    pub(crate) fn argv(&self) -> Vec<OsString> {
        match self {
            Command::Shell(line) => vec!["/bin/sh".into(), "-c".into(), line.into()],
            Command::Argv(v) => v.clone(),
        }
    }

    /// This command run through the shell: the words of an argv are joined
    /// with spaces, unquoted, so the shell expands them.
    pub(crate) fn into_shell(self) -> Command {
        match self {
            Command::Shell(_) => self,
            Command::Argv(v) => Command::Shell(
                v.iter()
                    .map(|w| w.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
    }

    /// This command run without a shell: a line is taken as the program
    /// name, as Python's `Popen(str, shell=False)` does.
    pub(crate) fn into_argv(self) -> Command {
        match self {
            Command::Shell(line) => Command::Argv(vec![line.into()]),
            Command::Argv(_) => self,
        }
    }
}

/// Joins words into one `sh` command line, quoting where needed.
fn join_quoted(words: &[OsString]) -> String {
    words
        .iter()
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes one word for `sh` with single quotes.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Shell(line) => f.write_str(line),
            Command::Argv(v) => f.write_str(&join_quoted(v)),
        }
    }
}

impl From<&str> for Command {
    fn from(line: &str) -> Command {
        Command::Shell(line.to_string())
    }
}

impl From<String> for Command {
    fn from(line: String) -> Command {
        Command::Shell(line)
    }
}

impl From<&String> for Command {
    fn from(line: &String) -> Command {
        Command::Shell(line.clone())
    }
}

impl<S: Into<OsString> + Clone> From<&[S]> for Command {
    fn from(argv: &[S]) -> Command {
        Command::Argv(argv.iter().cloned().map(Into::into).collect())
    }
}

impl<S: Into<OsString>, const N: usize> From<[S; N]> for Command {
    fn from(argv: [S; N]) -> Command {
        Command::Argv(argv.into_iter().map(Into::into).collect())
    }
}

impl<S: Into<OsString>> From<Vec<S>> for Command {
    fn from(argv: Vec<S>) -> Command {
        Command::Argv(argv.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_joins_into_a_shell_line_unquoted() {
        let c = Command::from(["echo", "$((6*7))", "*.rs"]).into_shell();
        assert_eq!(c, Command::Shell("echo $((6*7)) *.rs".into()));
    }

    #[test]
    fn display_quotes_argv_words() {
        let c = Command::from(["printf", "%s\\n", "it's", "a b", ""]);
        assert_eq!(c.to_string(), r"printf '%s\n' 'it'\''s' 'a b' ''");
    }

    #[test]
    fn shell_line_becomes_a_program_name() {
        assert_eq!(Command::from("python3").into_argv(), Command::from(["python3"]));
    }

    #[test]
    fn display_shows_a_runnable_line() {
        assert_eq!(Command::from(vec!["echo", "a b"]).to_string(), "echo 'a b'");
        assert_eq!(Command::from("ls -l").to_string(), "ls -l");
    }
}
