//! The files recordings and transcripts write: what happens to one that
//! exists, and the rule that no two sinks of this process write one file.
//!
//! asciinema's convention, followed here: a file that already has content
//! is never replaced or extended unless that was asked for explicitly
//! ([`IfExists`]). An empty file, or one that is not a regular file (a
//! FIFO, `/dev/null`), has nothing to lose and is taken as it is.
//!
//! Why the checks happen twice: [`check`] refuses an existing file early
//! (when the [`Recording`](crate::Recording) or
//! [`Transcript`](crate::Transcript) is made), so the mistake shows where
//! it was made; [`open`] decides again, atomically, when the sink starts,
//! after everything else that could refuse the start has been checked. So
//! nothing is created or truncated for a request that fails, and a file
//! created for a start that fails after all is removed again.
//!
//! Why a registry of open files: two sinks writing one file interleave into
//! something no player can read, and a second "overwrite" would truncate a
//! file under a live writer (which then leaves a hole of NUL bytes). Every
//! file a sink writes is claimed by its device and inode (so two spellings
//! of one path, or a hard link, are the same file) until the sink's thread
//! lets it go.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::id::IfExists;
use crate::record::sink::Ending;
use crate::sys::fd::{self, Io};

/// Devices and inodes of the files this process's sinks are writing.
static ACTIVE: LazyLock<Mutex<HashSet<(u64, u64)>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// A claim on a file (see the module docs), released when dropped.
#[derive(Debug)]
pub(crate) struct Claim(Option<(u64, u64)>);

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(key) = self.0.take() {
            ACTIVE.lock().remove(&key);
        }
    }
}

/// Whether a file with these metadata holds something `IfExists::Refuse`
/// must protect: a regular file with content.
fn has_content(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_file() && meta.len() > 0
}

/// The early check, which touches nothing: refuses, with
/// [`Error::FileExists`], a file with content when `if_exists` is
/// [`IfExists::Refuse`], and with [`Error::File`] a file that could not be
/// created because its directory does not exist.
///
/// # Errors
///
/// [`Error::FileExists`], [`Error::File`].
pub(crate) fn check(path: &Path, if_exists: IfExists) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if if_exists == IfExists::Refuse && has_content(&meta) => Err(Error::FileExists {
            path: path.to_path_buf(),
        }),
        Ok(_) => Ok(()),
        Err(_) => {
            // Missing: its directory must be there for the start to create it.
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let source = match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => return Ok(()),
                Ok(_) => io::Error::from(io::ErrorKind::NotADirectory),
                Err(e) => e,
            };
            Err(Error::File {
                path: path.to_path_buf(),
                op: "creating",
                source,
            })
        }
    }
}

/// A file opened for a sink.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) file: SinkFile,
    /// The file had content and is appended to.
    pub(crate) appending: bool,
    /// Removes the file if it was created here and the start fails.
    pub(crate) undo: Undo,
}

/// Removes a file created for a sink whose start failed; does nothing once
/// [`disarm`](Undo::disarm)ed.
#[derive(Debug, Default)]
pub(crate) struct Undo(Option<PathBuf>);

impl Undo {
    /// The sink started: keep the file.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Opens `path` for a sink as `if_exists` says, and claims it. Opened
/// without blocking: a FIFO must have its reader already (else
/// [`Error::File`] with `ENXIO`), and is written without blocking (see
/// [`Ending`]).
///
/// # Errors
///
/// [`Error::FileExists`] for a file with content under
/// [`IfExists::Refuse`], [`Error::FileInUse`] if a sink of this process is
/// writing that file, [`Error::File`] if it cannot be opened.
pub(crate) fn open(path: &Path, if_exists: IfExists, ending: &Arc<Ending>) -> Result<Opened> {
    let file_err = |op: &'static str| {
        let path = path.to_path_buf();
        move |source: io::Error| Error::File { path, op, source }
    };
    // Held while deciding, so two sinks of this process cannot both take
    // one file.
    let mut active = ACTIVE.lock();
    // Created new here? Then nobody had it, and a failed start removes it.
    let (file, created) = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => (file, true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Opened without truncating: nothing changes until every check
            // has passed (and for an overwrite, until the sink starts).
            let file = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(file_err("opening"))?;
            (file, false)
        }
        Err(e) => return Err(file_err("creating")(e)),
    };
    let undo = Undo(created.then(|| path.to_path_buf()));
    let meta = file.metadata().map_err(file_err("reading"))?;
    let content = has_content(&meta);
    if content && if_exists == IfExists::Refuse {
        return Err(Error::FileExists {
            path: path.to_path_buf(),
        });
    }
    let ft = meta.file_type();
    // Only a regular file is sure to take every write at once; anything
    // else is written without blocking, waiting in `poll` (see `Ending`).
    let waits = if ft.is_file() {
        None
    } else {
        ending.arm().map_err(file_err("opening"))?;
        Some(Arc::clone(ending))
    };
    // Devices such as /dev/null may be shared; files and FIFOs may not.
    let key = (ft.is_file() || ft.is_fifo()).then(|| (meta.dev(), meta.ino()));
    if let Some(key) = key
        && !active.insert(key)
    {
        return Err(Error::FileInUse {
            path: path.to_path_buf(),
        });
    }
    let claim = Claim(key);
    drop(active);
    let appending = content && if_exists == IfExists::Append;
    Ok(Opened {
        file: SinkFile {
            file,
            truncate: content && if_exists == IfExists::Overwrite,
            append: appending,
            waits,
            progress: Instant::now(),
            _claim: claim,
        },
        appending,
        undo,
    })
}

/// A sink's file: truncated (for an overwrite) or positioned at its end
/// (for an append) on the sink's thread, when the sink starts writing, and
/// released from the claims when the sink's thread drops it.
#[derive(Debug)]
pub(crate) struct SinkFile {
    file: File,
    truncate: bool,
    append: bool,
    /// Not a regular file: written without blocking, waiting with this.
    waits: Option<Arc<Ending>>,
    /// When it last took a write.
    progress: Instant,
    _claim: Claim,
}

impl SinkFile {
    /// Readies the file on the sink's thread: the overwrite's truncation or
    /// the append's seek, once.
    fn ready(&mut self) -> io::Result<()> {
        use std::io::Seek as _;
        if std::mem::take(&mut self.truncate) {
            self.file.set_len(0)?;
        }
        if std::mem::take(&mut self.append) {
            self.file.seek(io::SeekFrom::End(0))?;
        }
        Ok(())
    }
}

impl Write for SinkFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.ready()?;
        let Some(ending) = &self.waits else {
            return self.file.write(buf);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match fd::write(self.file.as_fd(), buf)? {
                Io::Done(n) => {
                    self.progress = Instant::now();
                    return Ok(n);
                }
                Io::WouldBlock => ending.wait_writable(self.file.as_fd(), self.progress)?,
                Io::Closed => return Err(io::Error::from(io::ErrorKind::BrokenPipe)),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.ready()?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending() -> Arc<Ending> {
        Arc::new(Ending::default())
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("bgterm-unit-file-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_file_with_content_is_refused_and_untouched() {
        let p = temp("refuse");
        std::fs::write(&p, "keep").unwrap();
        assert!(matches!(
            check(&p, IfExists::Refuse),
            Err(Error::FileExists { .. })
        ));
        assert!(matches!(
            open(&p, IfExists::Refuse, &ending()),
            Err(Error::FileExists { .. })
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"keep");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn an_overwrite_truncates_only_when_writing_starts_and_claims_the_file() {
        let p = temp("overwrite");
        std::fs::write(&p, "old content").unwrap();
        let mut o = open(&p, IfExists::Overwrite, &ending()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"old content", "not yet");
        let link = temp("overwrite-link");
        let _ = std::fs::remove_file(&link);
        std::fs::hard_link(&p, &link).unwrap();
        assert!(
            matches!(open(&link, IfExists::Overwrite, &ending()), Err(Error::FileInUse { path }) if path == link),
            "the same inode under another name is the same file"
        );
        o.file.flush().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        let Opened { file, undo, .. } = o;
        undo.disarm();
        drop(file);
        assert!(
            open(&p, IfExists::Overwrite, &ending()).is_ok(),
            "released with the file"
        );
        std::fs::remove_file(&p).unwrap();
        std::fs::remove_file(&link).unwrap();
    }

    #[test]
    fn a_file_created_for_a_failed_start_is_removed() {
        let p = temp("undo");
        let _ = std::fs::remove_file(&p);
        let o = open(&p, IfExists::Refuse, &ending()).unwrap();
        assert!(p.exists());
        drop(o);
        assert!(!p.exists());
    }
}
