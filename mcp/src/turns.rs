//! Turns: a command `run_command` runs (the library's
//! [`bgterm::Session::run_with`]) or an input a REPL session evaluates (the
//! library's [`bgterm::Repl::eval`]). The server keeps no runner of its
//! own; this module keeps what the model has seen of a turn, the turn's
//! whole output for paging by line, and which programs get a REPL.

use std::path::Path;
use std::time::Instant;

/// Bytes of the start of a command's output the server keeps.
pub const RUN_HEAD_BYTES: usize = 8 << 20;
/// Bytes of the end of a command's output the server keeps.
pub const RUN_TAIL_BYTES: usize = 8 << 20;

/// A REPL the server starts through the library's presets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preset {
    Python,
    IPython,
    Node,
    /// sqlite3, on a database file if one is named.
    Sqlite3(Option<String>),
}

/// The preset for a program started as `words` (an argv, or a command line
/// of plain words): Python, IPython, Node.js or SQLite started for
/// interactive use, with no script, code or options the preset cannot
/// keep. `None`: start it as a plain session.
pub fn preset_for(words: &[String]) -> Option<Preset> {
    let (program, args) = words.split_first()?;
    let name = Path::new(program).file_name()?.to_str()?;
    let only = |ok: &[&str]| args.iter().all(|a| ok.contains(&a.as_str()));
    let python = name == "python"
        || name == "python3"
        || name
            .strip_prefix("python3.")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
    match name {
        _ if python => only(&["-q", "-i", "-u", "-B"]).then_some(Preset::Python),
        "ipython" | "ipython3" => only(&["-i", "--simple-prompt", "--no-banner"]).then_some(Preset::IPython),
        "node" | "nodejs" => only(&["-i", "--interactive"]).then_some(Preset::Node),
        "sqlite3" => match args {
            [] => Some(Preset::Sqlite3(None)),
            [db] if !db.starts_with('-') => Some(Preset::Sqlite3(Some(db.clone()))),
            _ => None,
        },
        _ => None,
    }
}

/// A shell command line as words, if it is only plain words (no quoting,
/// expansion or operators), so it can be judged as an argv.
pub fn plain_words(line: &str) -> Option<Vec<String>> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c);
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    (!words.is_empty() && words.iter().all(|w| w.chars().all(plain))).then_some(words)
}

/// Which library runner a turn is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Run,
    Repl,
}

/// The last turn of a session: its whole output so far (cleaned, and as
/// the terminal sent it), and how much of it the model has been given.
#[derive(Debug)]
pub struct Track {
    pub kind: Kind,
    /// The command or input.
    pub what: String,
    pub started: Instant,
    /// Not finished yet: reads resume it.
    pub open: bool,
    clean: String,
    raw: String,
    sent_clean: usize,
    sent_raw: usize,
    /// Where the output the server did not keep was (in `clean` and
    /// `raw`): the marker line that stands for it.
    gap: Option<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// Bytes of output the server did not keep (in the middle).
    pub not_kept: u64,
    /// Bytes of output the library's runner never saw (it fell behind).
    pub missed: u64,
}

/// What a turn has new for the model.
#[derive(Debug)]
pub struct Fresh<'a> {
    /// The new text.
    pub text: &'a str,
    /// Where it starts in the whole output (cleaned or raw, as asked).
    pub offset: usize,
    /// The whole output it is part of.
    pub whole: &'a str,
    /// The marker standing for output not kept, within `whole`.
    pub gap: Option<std::ops::Range<usize>>,
}

impl Track {
    pub fn new(kind: Kind, what: &str) -> Track {
        Track {
            kind,
            what: what.to_string(),
            started: Instant::now(),
            open: true,
            clean: String::new(),
            raw: String::new(),
            sent_clean: 0,
            sent_raw: 0,
            gap: None,
            not_kept: 0,
            missed: 0,
        }
    }

    /// The whole output so far: `raw` as the library gave it (its first
    /// `head` bytes, then `not_kept` bytes left out, then the rest), and
    /// `clean` its cleaned text (`None`: clean it here).
    pub fn set(&mut self, raw: &str, head: usize, not_kept: u64, clean: Option<String>) {
        self.not_kept = not_kept;
        if not_kept == 0 {
            self.raw = raw.to_string();
            self.clean = clean.unwrap_or_else(|| bgterm::clean_text(raw));
            self.gap = None;
            return;
        }
        let head = raw.floor_char_boundary(head);
        let m = gap_marker(not_kept);
        let (h, t) = raw.split_at(head);
        self.raw = format!("{h}{m}{t}");
        let (ch, ct) = (bgterm::clean_text(h), bgterm::clean_text(t));
        self.clean = format!("{ch}{m}{ct}");
        self.gap = Some((ch.len()..ch.len() + m.len(), h.len()..h.len() + m.len()));
    }

    /// The cleaned output not given to the model yet (without marking it).
    pub fn unsent(&self) -> &str {
        self.clean.get(self.sent_clean..).unwrap_or("")
    }

    /// The whole output (cleaned, or raw).
    pub fn whole(&self, raw: bool) -> &str {
        if raw { &self.raw } else { &self.clean }
    }

    /// What the model has not been given yet, marked as given. Output the
    /// server stopped keeping in the meantime is shown as its marker.
    pub fn fresh(&mut self, raw: bool) -> Fresh<'_> {
        let (text, sent, gap) = if raw {
            (&self.raw, self.sent_raw, self.gap.as_ref().map(|g| g.1.clone()))
        } else {
            (
                &self.clean,
                self.sent_clean,
                self.gap.as_ref().map(|g| g.0.clone()),
            )
        };
        let mut from = if sent <= text.len() && text.is_char_boundary(sent) {
            sent
        } else {
            0
        };
        if let Some(g) = &gap
            && from > g.start
        {
            // The kept tail has moved on since the last read.
            from = g.start;
        }
        self.sent_clean = self.clean.len();
        self.sent_raw = self.raw.len();
        let (text, gap) = if raw {
            (&self.raw, self.gap.as_ref().map(|g| g.1.clone()))
        } else {
            (&self.clean, self.gap.as_ref().map(|g| g.0.clone()))
        };
        Fresh {
            text: &text[from..],
            offset: from,
            whole: text,
            gap,
        }
    }
}

/// The line standing for the middle of a command's output that the server
/// did not keep.
pub fn gap_marker(not_kept: u64) -> String {
    format!(
        "\n[... {not_kept} bytes not kept: the server keeps the first {} and the last {} MiB of a command's output ...]\n",
        RUN_HEAD_BYTES >> 20,
        RUN_TAIL_BYTES >> 20
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn presets_are_picked_by_program_name_and_harmless_arguments() {
        assert_eq!(preset_for(&w("python3")), Some(Preset::Python));
        assert_eq!(preset_for(&w("/usr/bin/python3 -q -i")), Some(Preset::Python));
        assert_eq!(preset_for(&w("python3.12")), Some(Preset::Python));
        assert_eq!(preset_for(&w("python3 script.py")), None);
        assert_eq!(preset_for(&w("python3 -c 1")), None);
        assert_eq!(preset_for(&w("python3.x")), None);
        assert_eq!(preset_for(&w("ipython")), Some(Preset::IPython));
        assert_eq!(preset_for(&w("node")), Some(Preset::Node));
        assert_eq!(preset_for(&w("node app.js")), None);
        assert_eq!(preset_for(&w("sqlite3")), Some(Preset::Sqlite3(None)));
        assert_eq!(
            preset_for(&w("sqlite3 db.sqlite")),
            Some(Preset::Sqlite3(Some("db.sqlite".into())))
        );
        assert_eq!(preset_for(&w("sqlite3 -json db")), None);
        assert_eq!(preset_for(&w("bash")), None);
        assert_eq!(plain_words("python3  -q"), Some(w("python3 -q")));
        assert_eq!(plain_words("python3 < x"), None);
        assert_eq!(plain_words("echo $HOME"), None);
    }

    #[test]
    fn fresh_gives_each_byte_once() {
        let mut t = Track::new(Kind::Run, "x");
        t.set("one\n", 4, 0, None);
        assert_eq!(t.fresh(false).text, "one\n");
        t.set("one\n\x1b[1mtwo\x1b[0m\n", 100, 0, None);
        let f = t.fresh(false);
        assert_eq!((f.text, f.offset), ("two\n", 4));
        assert_eq!(t.fresh(false).text, "");
        assert_eq!(t.fresh(true).text, "");
        t.set("one\n\x1b[1mtwo\x1b[0m\nthree\n", 100, 0, None);
        assert_eq!(t.fresh(true).text, "three\n");
    }

    #[test]
    fn output_not_kept_is_a_marker_line() {
        let mut t = Track::new(Kind::Run, "x");
        t.set("headtail", 4, 1000, None);
        let f = t.fresh(false);
        assert_eq!(f.text, format!("head{}tail", gap_marker(1000)));
        assert_eq!(f.gap, Some(4..4 + gap_marker(1000).len()));
        // The kept tail moved on: the next read starts at the marker.
        t.set("headTAIL", 4, 2000, None);
        assert_eq!(t.fresh(false).text, format!("{}TAIL", gap_marker(2000)));
    }
}
