//! Validating a [`SessionBuilder`] and starting its child (see
//! [`crate::sys::spawn`] for the OS side).
//!
//! Why validate before spawning: a bad cwd or program would otherwise
//! surface as a bare OS error from the child's set-up, or as a child that
//! dies at once. Checking here turns each into a typed error that names the
//! bad value, before any process exists.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::limits::MAX_SCROLLBACK_LINES;
use crate::session::builder::{EnvOp, SessionBuilder, valid_size};
use crate::session::command::Command;
use crate::sys::process;
use crate::sys::spawn::{self, Child};

/// A started child, and what it was started as.
pub(crate) struct Spawned {
    /// The child and the descriptors that watch it.
    pub(crate) child: Child,
    /// What was run, after applying `shell(...)`.
    pub(crate) command: Command,
    /// The directory it runs in.
    pub(crate) cwd: PathBuf,
    /// The `TERM` in its environment, if any.
    pub(crate) term: Option<String>,
}

/// Validates the options, resolves the program and starts the child.
pub(crate) fn spawn(b: &SessionBuilder) -> Result<Spawned> {
    if !valid_size(b.rows, b.cols) {
        return Err(Error::InvalidSize {
            rows: b.rows,
            cols: b.cols,
        });
    }
    if b.max_buffer_bytes == 0 {
        return Err(Error::InvalidBufferSize { bytes: 0 });
    }
    if b.scrollback_lines > MAX_SCROLLBACK_LINES {
        return Err(Error::InvalidScrollback {
            lines: b.scrollback_lines,
        });
    }
    let command = match b.shell {
        Some(true) => b.command.clone().into_shell(),
        Some(false) => b.command.clone().into_argv(),
        None => b.command.clone(),
    };
    let argv = command.argv();
    if argv.first().is_none_or(|p| p.is_empty())
        || matches!(&command, Command::Shell(l) if l.trim().is_empty())
    {
        return Err(Error::EmptyCommand);
    }
    for arg in &argv {
        if arg.as_bytes().contains(&0) {
            return Err(Error::InvalidArgument {
                arg: arg.to_string_lossy().into_owned(),
            });
        }
    }
    let cwd = match &b.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|source| Error::BadCwd {
            cwd: PathBuf::from("."),
            source,
        })?,
    };
    match std::fs::metadata(&cwd) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::BadCwd {
                cwd,
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        Err(source) => return Err(Error::BadCwd { cwd, source }),
    }
    let env = final_env(b)?;
    let path_var = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_os_str());
    let term = env
        .iter()
        .find(|(k, _)| k == "TERM")
        .map(|(_, v)| v.to_string_lossy().into_owned());
    let resolved = resolve_program(&argv[0], &cwd, path_var)?;

    let program = argv[0].to_string_lossy().into_owned();
    let spawn_err = |source: io::Error| Error::Spawn {
        program: program.clone(),
        source,
    };
    // Absolute, because the child changes to `cwd` before it execs.
    let resolved = std::path::absolute(&resolved).map_err(spawn_err)?;
    let child = crate::sys::backend::spawn(&spawn::Spec {
        program: &resolved,
        argv: &argv,
        env: &env,
        cwd: &cwd,
        rows: b.rows,
        cols: b.cols,
    })
    .map_err(|e| match e.stage {
        // Checked above, but it can vanish (or lose its permissions) before
        // the child changes into it.
        spawn::Stage::Cwd => Error::BadCwd {
            cwd: cwd.clone(),
            source: e.source,
        },
        spawn::Stage::Setup | spawn::Stage::Exec => spawn_err(e.source),
    })?;
    Ok(Spawned {
        child,
        command,
        cwd,
        term,
    })
}

/// The child's whole environment, validated.
fn final_env(b: &SessionBuilder) -> Result<Vec<(OsString, OsString)>> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| k != "COLUMNS" && k != "LINES")
        .collect();
    if let Some(term) = &b.term {
        env.retain(|(k, _)| k != "TERM");
        env.push(("TERM".into(), term.into()));
    }
    for op in &b.env {
        match op {
            EnvOp::Set(k, v) => {
                validate_env(k, v)?;
                env.retain(|(ek, _)| ek != k);
                env.push((k.clone(), v.clone()));
            }
            EnvOp::Remove(k) => env.retain(|(ek, _)| ek != k),
            EnvOp::Clear => {
                env.clear();
                if let Some(term) = &b.term {
                    env.push(("TERM".into(), term.into()));
                }
            }
        }
    }
    Ok(env)
}

fn validate_env(key: &OsStr, value: &OsStr) -> Result<()> {
    let reason = if key.is_empty() {
        Some("the name is empty")
    } else if key.as_bytes().contains(&b'=') {
        Some("the name contains '='")
    } else if key.as_bytes().contains(&0) {
        Some("the name contains a NUL byte")
    } else if value.as_bytes().contains(&0) {
        Some("the value contains a NUL byte")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidEnv {
            key: key.to_string_lossy().into_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Finds the file `program` names, as `execvp` would, or says why not.
fn resolve_program(program: &OsStr, cwd: &Path, path_var: Option<&OsStr>) -> Result<PathBuf> {
    let name = program.to_string_lossy().into_owned();
    if program.as_bytes().contains(&b'/') {
        let path = cwd.join(program);
        return check_candidate(&path).unwrap_or(Err(Error::ProgramNotFound {
            program: name,
            searched: None,
        }));
    }
    let search = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let mut first_refusal = None;
    for dir in std::env::split_paths(search) {
        let candidate = cwd.join(dir).join(program);
        match check_candidate(&candidate) {
            Some(Ok(path)) => return Ok(path),
            Some(Err(e)) => {
                first_refusal.get_or_insert(e);
            }
            None => {}
        }
    }
    Err(first_refusal.unwrap_or(Error::ProgramNotFound {
        program: name,
        searched: Some(search.to_string_lossy().into_owned()),
    }))
}

/// `None` if nothing is at `path`; otherwise whether it can be executed.
fn check_candidate(path: &Path) -> Option<Result<PathBuf>> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() && process::is_executable(path) {
        Some(Ok(path.to_path_buf()))
    } else {
        Some(Err(Error::NotExecutable {
            path: path.to_path_buf(),
        }))
    }
}
