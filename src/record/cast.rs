//! The asciicast v2 file format: writing events, and repairing a file that
//! was cut short.
//!
//! A cast is one JSON object per line: first a header
//! (`{"version": 2, "width": .., "height": .., ...}`), then one event per
//! line, `[time, code, data]`, where time is seconds since the recording
//! started, code is `"o"` (output), `"i"` (input) or `"r"` (resize, data
//! `"COLSxROWS"`), and data is a string. Because every event is a whole
//! line, a file cut short is valid up to its last complete line, and
//! [`repair_cast`] can restore it by dropping the partial tail.

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// The kinds of event this crate writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    Output,
    Input,
    Resize,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::Output => "o",
            Code::Input => "i",
            Code::Resize => "r",
        }
    }
}

/// Appends one event line (with its newline) to `out`.
///
/// The time is written as seconds with exactly six decimals, computed from
/// whole microseconds, so it is exact and never goes backwards when the
/// durations do not.
pub(crate) fn push_event(out: &mut String, at: Duration, code: Code, data: &str) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "[{}.{:06}, \"{}\", ",
        at.as_secs(),
        at.subsec_micros(),
        code.as_str()
    );
    // Serialising a str cannot fail; serde_json escapes exactly what JSON
    // requires (quotes, backslashes, control characters).
    out.push_str(&json_string(data));
    out.push_str("]\n");
}

/// A JSON string literal for `s`.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The header line (with its newline), keys in the order the format's
/// documentation lists them.
pub(crate) fn header_line(
    cols: u16,
    rows: u16,
    timestamp: u64,
    command: &str,
    title: Option<&str>,
    term: Option<&str>,
) -> String {
    let mut h = format!(
        "{{\"version\": 2, \"width\": {cols}, \"height\": {rows}, \"timestamp\": {timestamp}, \"command\": {}",
        json_string(command)
    );
    if let Some(title) = title {
        h.push_str(", \"title\": ");
        h.push_str(&json_string(title));
    }
    h.push_str(", \"env\": {");
    if let Some(term) = term {
        h.push_str("\"TERM\": ");
        h.push_str(&json_string(term));
    }
    h.push_str("}}\n");
    h
}

/// What [`repair_cast`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Valid events kept after the header.
    pub events: u64,
    /// Bytes cut from the end (a partial or invalid line and all after it).
    pub removed_bytes: u64,
    /// Whether the file was changed at all (also true when only a missing
    /// final newline was added).
    pub changed: bool,
}

/// Repairs an asciicast v2 file that was cut short (a crash, a full disk):
/// keeps the header and every complete, valid event line up to the first
/// line that is partial or invalid, and truncates the file there. A file
/// that is already valid is left as it is.
///
/// The file is read as a stream, so its size does not matter.
///
/// ```
/// let path = std::env::temp_dir().join(format!("bgterm-doc-repair-{}.cast", std::process::id()));
/// std::fs::write(&path, "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.5, \"o\", \"hi\"]\n[0.7, \"o\", \"cut sh")?;
/// let report = bgterm::repair_cast(&path)?;
/// assert_eq!((report.events, report.removed_bytes), (1, 18));
/// assert!(std::fs::read_to_string(&path)?.ends_with("[0.5, \"o\", \"hi\"]\n"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::File`] if the file cannot be opened, read or truncated;
/// [`Error::NotACast`] if its first line is not an asciicast v2 header
/// (nothing would be worth keeping).
pub fn repair_cast(path: impl AsRef<Path>) -> Result<RepairReport> {
    let path = path.as_ref();
    let file_err = |op: &'static str| {
        let path: PathBuf = path.to_path_buf();
        move |source: io::Error| Error::File { path, op, source }
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(file_err("opening"))?;
    let len = file.metadata().map_err(file_err("reading"))?.len();
    let scan = scan(BufReader::new(&mut file)).map_err(file_err("reading"))?;
    let keep = match scan {
        Scan::NotACast(reason) => {
            return Err(Error::NotACast {
                path: path.to_path_buf(),
                reason,
            });
        }
        Scan::Valid(keep) => keep,
    };
    let mut changed = false;
    if keep.end < len {
        file.set_len(keep.end).map_err(file_err("truncating"))?;
        changed = true;
    }
    if keep.needs_newline {
        file.seek(SeekFrom::Start(keep.end))
            .map_err(file_err("writing"))?;
        file.write_all(b"\n").map_err(file_err("writing"))?;
        changed = true;
    }
    if changed {
        file.sync_all().map_err(file_err("writing"))?;
    }
    Ok(RepairReport {
        events: keep.events,
        removed_bytes: len - keep.end,
        changed,
    })
}

/// Where a recording appended to the cast at `path` continues its clock:
/// the time of the cast's last event.
///
/// # Errors
///
/// [`Error::NotACast`] if the file is not a whole asciicast v2 file (no
/// header, or a partial or invalid line that [`repair_cast`] would trim),
/// [`Error::File`] if it cannot be read.
pub(crate) fn append_offset(path: &Path) -> Result<Duration> {
    let file_err = |source| Error::File {
        path: path.to_path_buf(),
        op: "reading",
        source,
    };
    let file = std::fs::File::open(path).map_err(file_err)?;
    let len = file.metadata().map_err(file_err)?.len();
    let not_a_cast = |reason| Error::NotACast {
        path: path.to_path_buf(),
        reason,
    };
    match scan(BufReader::new(file)).map_err(file_err)? {
        Scan::NotACast(reason) => Err(not_a_cast(reason)),
        Scan::Valid(keep) if keep.end < len || keep.needs_newline => Err(not_a_cast(
            "it ends in a partial or invalid line, which repair_cast would trim",
        )),
        // Whole microseconds, as written: never a hair before the last event.
        Scan::Valid(keep) => Ok(Duration::from_micros((keep.last_time * 1e6).round() as u64)),
    }
}

struct Keep {
    /// Offset just past the last valid line (before any missing newline).
    end: u64,
    /// The time of the last valid event (0 if none).
    last_time: f64,
    /// The last valid line lacks its newline.
    needs_newline: bool,
    events: u64,
}

enum Scan {
    NotACast(&'static str),
    Valid(Keep),
}

/// Finds where the valid part of a cast ends.
fn scan(mut r: impl BufRead) -> io::Result<Scan> {
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(Scan::NotACast("the file is empty"));
    }
    let header: serde_json::Value = match serde_json::from_slice(trim_newline(&line)) {
        Ok(v) => v,
        Err(_) => return Ok(Scan::NotACast("the first line is not a JSON object")),
    };
    if header.get("version").and_then(serde_json::Value::as_u64) != Some(2) {
        return Ok(Scan::NotACast("the header's version is not 2"));
    }
    let mut keep = Keep {
        end: n as u64,
        last_time: 0.0,
        needs_newline: !line.ends_with(b"\n"),
        events: 0,
    };
    let mut last_time = 0.0f64;
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(Scan::Valid(keep));
        }
        match parse_event(trim_newline(&line)) {
            Some(t) if t >= last_time && !keep.needs_newline => {
                last_time = t;
                keep.last_time = t;
                keep.end += n as u64;
                keep.events += 1;
                keep.needs_newline = !line.ends_with(b"\n");
            }
            _ => return Ok(Scan::Valid(keep)),
        }
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// The time of a valid event line `[time, "code", "data"]`.
fn parse_event(line: &[u8]) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let a = v.as_array()?;
    match a.as_slice() {
        [t, code, data] if code.is_string() && data.is_string() => t.as_f64().filter(|t| *t >= 0.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_json_line_each_with_exact_times() {
        let mut s = String::new();
        push_event(
            &mut s,
            Duration::from_micros(1_500_000),
            Code::Output,
            "a\"b\\c\r\n\u{1b}[0m€",
        );
        push_event(&mut s, Duration::from_micros(7), Code::Resize, "100x30");
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v, serde_json::json!([1.5, "o", "a\"b\\c\r\n\u{1b}[0m€"]));
        assert!(lines[0].starts_with("[1.500000, \"o\", "));
        assert_eq!(lines[1], "[0.000007, \"r\", \"100x30\"]");
    }

    #[test]
    fn header_has_the_required_fields() {
        let h = header_line(80, 24, 1_700_000_000, "sh -c 'x'", Some("t"), Some("xterm"));
        assert!(h.ends_with('\n') && h.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&h).unwrap();
        assert_eq!(v["version"], 2);
        assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(80), Some(24)));
        assert_eq!(v["timestamp"], 1_700_000_000u64);
        assert_eq!(v["command"], "sh -c 'x'");
        assert_eq!(v["title"], "t");
        assert_eq!(v["env"]["TERM"], "xterm");
        assert!(h.starts_with("{\"version\": 2, \"width\": 80, "), "{h}");
        let bare: serde_json::Value =
            serde_json::from_str(&header_line(1, 2, 3, "\"q\"", None, None)).unwrap();
        assert_eq!(bare["command"], "\"q\"");
        assert!(bare.get("title").is_none());
    }

    fn scan_str(s: &str) -> Scan {
        scan(s.as_bytes()).unwrap()
    }

    #[test]
    fn scan_keeps_the_valid_prefix() {
        let h = "{\"version\": 2, \"width\": 2, \"height\": 2}\n";
        let e1 = "[0.1, \"o\", \"a\"]\n";
        let e2 = "[0.2, \"i\", \"b\"]\n";
        // Table: file content, expected (kept length, events, needs newline)
        let cases: Vec<(String, (usize, u64, bool))> = vec![
            (format!("{h}{e1}{e2}"), (h.len() + e1.len() + e2.len(), 2, false)),
            (
                format!("{h}{e1}[0.2, \"o\", \"cu"),
                (h.len() + e1.len(), 1, false),
            ),
            (format!("{h}{e1}[0.2, \"o\""), (h.len() + e1.len(), 1, false)),
            (format!("{h}{e1}\n{e2}"), (h.len() + e1.len(), 1, false)),
            (format!("{h}{e1}garbage\n{e2}"), (h.len() + e1.len(), 1, false)),
            (format!("{h}[0.5, \"o\", \"x\"]\n{e1}"), (h.len() + 16, 1, false)), // time went back
            (format!("{h}{}", e1.trim_end()), (h.len() + e1.len() - 1, 1, true)),
            (h.trim_end().to_string(), (h.len() - 1, 0, true)),
            (format!("{h}[0.1, \"o\", 5]\n"), (h.len(), 0, false)),
        ];
        for (content, (end, events, newline)) in cases {
            match scan_str(&content) {
                Scan::Valid(k) => {
                    assert_eq!(
                        (k.end as usize, k.events, k.needs_newline),
                        (end, events, newline),
                        "{content:?}"
                    )
                }
                Scan::NotACast(r) => panic!("{content:?}: {r}"),
            }
        }
    }

    #[test]
    fn scan_refuses_a_file_without_a_header() {
        for content in ["", "not json\n", "[0.1, \"o\", \"a\"]\n", "{\"version\": 1}\n"] {
            assert!(matches!(scan_str(content), Scan::NotACast(_)), "{content:?}");
        }
    }
}
