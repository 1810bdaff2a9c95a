//! tmux key names to the bytes a terminal sends: a pure parser, no I/O
//! (see [`encode_keys`] for the names and rules).

use crate::error::{Error, Result};

/// How the terminal encodes the cursor keys (arrows, `Home`, `End`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CursorKeys {
    /// `ESC [ A` for Up: the terminal's state until a program changes it.
    #[default]
    Normal,
    /// `ESC O A` for Up: a program turned on DECCKM (`CSI ? 1 h`).
    Application,
}

/// Translates tmux key names (and literal text) into the input an xterm
/// would send for those key presses: `["C-c"]`, `["Up", "Enter"]`,
/// `["ls -l", "Enter"]`. Each element is one of:
///
/// - a **key name**, as tmux spells it and case-insensitive: `Enter`, `Tab`,
///   `BTab`, `Escape`, `BSpace`, `Space`, `Up`, `Down`, `Left`, `Right`,
///   `Home`, `End`, `PageUp` (`PgUp`, `PPage`), `PageDown` (`PgDn`,
///   `NPage`), `Insert` (`IC`), `Delete` (`DC`), `F1` to `F12`;
/// - a **single character**, sent as itself;
/// - either of those after **modifiers** `C-` (Ctrl), `M-` (Meta/Alt) and
///   `S-` (Shift), in any order and combination (`C-c`, `M-x`, `C-M-a`,
///   `S-Up`, `C-Left`), or `^` for Ctrl (`^C`);
/// - **literal text**, sent as it is: anything else that does not look like
///   a key name (`ls -l`, `exit`, `:wq`, `print(1)`).
///
/// A capitalised word made only of letters and digits (`Entr`, `PgUpp`,
/// `F13`) looks like a key name, so if it is not one it is an
/// [`Error::UnknownKey`] naming it, rather than typed as text; so is a
/// modifier on something that is not a key (`C-foo`). Nothing is sent when
/// any element is wrong. Send text that starts with a capital letter with
/// [`Session::send`](crate::Session::send) or
/// [`write_stdin`](crate::write_stdin).
///
/// Cursor keys (arrows, `Home`, `End`) depend on the terminal's cursor-key
/// mode, which a program sets with DECCKM (`CSI ? 1 h`): full-screen
/// programs and line editors such as readline turn on
/// [`CursorKeys::Application`], where an arrow is `ESC O A` instead of
/// `ESC [ A`. [`Session::send_keys`](crate::Session::send_keys) reads the
/// mode from the session's screen. Modified special keys use xterm's
/// `CSI 1 ; m X` and `CSI n ; m ~` forms.
///
/// ```
/// use bgterm::{CursorKeys, encode_keys};
///
/// assert_eq!(encode_keys(["C-c"], CursorKeys::Normal)?, "\x03");
/// assert_eq!(encode_keys(["Up", "Enter"], CursorKeys::Normal)?, "\x1b[A\r");
/// assert_eq!(encode_keys(["Up"], CursorKeys::Application)?, "\x1bOA");
/// assert_eq!(encode_keys(["ls -l", "Enter"], CursorKeys::Normal)?, "ls -l\r");
/// assert_eq!(encode_keys(["M-x", "S-Up"], CursorKeys::Normal)?, "\x1bx\x1b[1;2A");
///
/// let err = encode_keys(["Enter", "Entr"], CursorKeys::Normal).unwrap_err();
/// assert!(matches!(err, bgterm::Error::UnknownKey { ref key } if key == "Entr"));
/// # Ok::<(), bgterm::Error>(())
/// ```
///
/// The result is text rather than bytes: every key encodes to ASCII control
/// characters and escape sequences, and literal text stays as given, so
/// [`Session::send_keys`](crate::Session::send_keys) can encode it in the
/// session's encoding.
///
/// # Errors
///
/// [`Error::UnknownKey`] naming the first element that is neither a key
/// name, a (modified) single character nor literal text; nothing of the
/// list is returned then.
pub fn encode_keys<I, S>(keys: I, cursor: CursorKeys) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for key in keys {
        let key = key.as_ref();
        encode_one(key, cursor, &mut out).map_err(|()| Error::UnknownKey { key: key.to_string() })?;
    }
    Ok(out)
}

/// Modifier keys held with a key.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Mods {
    ctrl: bool,
    meta: bool,
    shift: bool,
}

impl Mods {
    fn any(self) -> bool {
        self.ctrl || self.meta || self.shift
    }

    /// xterm's modifier parameter: 1 + Shift(1) + Alt(2) + Ctrl(4).
    fn param(self) -> u8 {
        1 + u8::from(self.shift) + 2 * u8::from(self.meta) + 4 * u8::from(self.ctrl)
    }
}

/// The keys that have names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Named {
    /// A key that sends one character (Enter, Tab, ...).
    Char(char),
    /// Shift-Tab.
    BackTab,
    /// Arrows, Home, End: `CSI X`, `SS3 X` in application mode.
    Cursor(char),
    /// F1-F4: `SS3 X`.
    Ss3(char),
    /// Insert, Delete, PageUp, PageDown, F5-F12: `CSI n ~`.
    Tilde(u8),
}

/// Looks a name up, ignoring case (as tmux does).
fn named(name: &str) -> Option<Named> {
    use Named::*;
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "enter" => Char('\r'),
        "tab" => Char('\t'),
        "btab" => BackTab,
        "escape" => Char('\x1b'),
        "bspace" => Char('\x7f'),
        "space" => Char(' '),
        "up" => Cursor('A'),
        "down" => Cursor('B'),
        "right" => Cursor('C'),
        "left" => Cursor('D'),
        "home" => Cursor('H'),
        "end" => Cursor('F'),
        "pageup" | "pgup" | "ppage" => Tilde(5),
        "pagedown" | "pgdn" | "npage" => Tilde(6),
        "insert" | "ic" => Tilde(2),
        "delete" | "dc" => Tilde(3),
        "f1" => Ss3('P'),
        "f2" => Ss3('Q'),
        "f3" => Ss3('R'),
        "f4" => Ss3('S'),
        "f5" => Tilde(15),
        "f6" => Tilde(17),
        "f7" => Tilde(18),
        "f8" => Tilde(19),
        "f9" => Tilde(20),
        "f10" => Tilde(21),
        "f11" => Tilde(23),
        "f12" => Tilde(24),
        _ => return None,
    })
}

/// Splits leading modifiers (`C-`, `M-`, `S-`, any case, or `^`) off a
/// token. Returns `None` if a modifier is not followed by anything.
fn split_mods(token: &str) -> Option<(Mods, &str)> {
    let mut mods = Mods::default();
    let mut rest = token;
    loop {
        let b = rest.as_bytes();
        if b.len() >= 2 && b[1] == b'-' && matches!(b[0], b'C' | b'c' | b'M' | b'm' | b'S' | b's') {
            if b.len() == 2 {
                return None; // "C-" with nothing to hold it on
            }
            match b[0].to_ascii_uppercase() {
                b'C' => mods.ctrl = true,
                b'M' => mods.meta = true,
                _ => mods.shift = true,
            }
            rest = &rest[2..];
        } else if b.len() >= 2 && b[0] == b'^' {
            mods.ctrl = true;
            rest = &rest[1..];
        } else {
            return Some((mods, rest));
        }
    }
}

/// The control character Ctrl+`c` produces, as on an xterm.
fn control(c: char) -> Option<char> {
    let code = match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        '@' | ' ' | '2' => 0,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' | '~' => 0x1e,
        '_' | '7' | '/' | '-' => 0x1f,
        '?' | '8' => 0x7f,
        _ => return None,
    };
    Some(code as char)
}

/// Whether a token that is not a key name still looks like one: a
/// capitalised word of ASCII letters and digits.
fn looks_like_a_name(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_uppercase()) && token.chars().all(|c| c.is_ascii_alphanumeric())
}

fn encode_one(token: &str, cursor: CursorKeys, out: &mut String) -> Result<(), ()> {
    let (mods, base) = split_mods(token).ok_or(())?;
    if let Some(key) = named(base) {
        encode_named(key, mods, cursor, out);
        return Ok(());
    }
    let mut chars = base.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return encode_char(c, mods, out);
    }
    if mods.any() || base.is_empty() || looks_like_a_name(base) {
        return Err(());
    }
    out.push_str(base);
    Ok(())
}

fn encode_char(c: char, mods: Mods, out: &mut String) -> Result<(), ()> {
    let mut c = c;
    if mods.shift {
        c = c.to_ascii_uppercase();
    }
    if mods.ctrl {
        c = control(c).ok_or(())?;
    }
    if mods.meta {
        out.push('\x1b');
    }
    out.push(c);
    Ok(())
}

fn encode_named(key: Named, mods: Mods, cursor: CursorKeys, out: &mut String) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = match key {
        Named::Char(c) => {
            let c = match (c, mods.ctrl, mods.shift) {
                (' ', true, _) => '\0',
                ('\x7f', true, _) => '\x08',
                ('\t', _, true) => {
                    out.push_str(if mods.meta { "\x1b\x1b[Z" } else { "\x1b[Z" });
                    return;
                }
                _ => c,
            };
            if mods.meta {
                out.push('\x1b');
            }
            out.push(c);
            Ok(())
        }
        Named::BackTab => {
            out.push_str("\x1b[Z");
            Ok(())
        }
        Named::Cursor(x) if !mods.any() => match cursor {
            CursorKeys::Normal => write!(out, "\x1b[{x}"),
            CursorKeys::Application => write!(out, "\x1bO{x}"),
        },
        Named::Ss3(x) if !mods.any() => write!(out, "\x1bO{x}"),
        Named::Cursor(x) | Named::Ss3(x) => write!(out, "\x1b[1;{}{x}", mods.param()),
        Named::Tilde(n) if !mods.any() => write!(out, "\x1b[{n}~"),
        Named::Tilde(n) => write!(out, "\x1b[{n};{}~", mods.param()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(keys: &[&str]) -> Result<String> {
        encode_keys(keys, CursorKeys::Normal)
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("Enter", "\r"),
            ("enter", "\r"),
            ("ENTER", "\r"),
            ("Tab", "\t"),
            ("BTab", "\x1b[Z"),
            ("S-Tab", "\x1b[Z"),
            ("Escape", "\x1b"),
            ("BSpace", "\x7f"),
            ("C-BSpace", "\x08"),
            ("Space", " "),
            ("C-Space", "\0"),
            ("M-Enter", "\x1b\r"),
            ("Up", "\x1b[A"),
            ("Down", "\x1b[B"),
            ("Right", "\x1b[C"),
            ("Left", "\x1b[D"),
            ("Home", "\x1b[H"),
            ("End", "\x1b[F"),
            ("S-Up", "\x1b[1;2A"),
            ("M-Left", "\x1b[1;3D"),
            ("C-Right", "\x1b[1;5C"),
            ("C-S-Home", "\x1b[1;6H"),
            ("C-M-S-End", "\x1b[1;8F"),
            ("PageUp", "\x1b[5~"),
            ("PgUp", "\x1b[5~"),
            ("PPage", "\x1b[5~"),
            ("PageDown", "\x1b[6~"),
            ("PgDn", "\x1b[6~"),
            ("NPage", "\x1b[6~"),
            ("C-PageDown", "\x1b[6;5~"),
            ("Insert", "\x1b[2~"),
            ("IC", "\x1b[2~"),
            ("Delete", "\x1b[3~"),
            ("DC", "\x1b[3~"),
            ("F1", "\x1bOP"),
            ("F2", "\x1bOQ"),
            ("F3", "\x1bOR"),
            ("F4", "\x1bOS"),
            ("S-F1", "\x1b[1;2P"),
            ("F5", "\x1b[15~"),
            ("F6", "\x1b[17~"),
            ("F7", "\x1b[18~"),
            ("F8", "\x1b[19~"),
            ("F9", "\x1b[20~"),
            ("F10", "\x1b[21~"),
            ("F11", "\x1b[23~"),
            ("F12", "\x1b[24~"),
            ("C-F12", "\x1b[24;5~"),
            ("C-c", "\x03"),
            ("C-C", "\x03"),
            ("c-c", "\x03"),
            ("^C", "\x03"),
            ("^c", "\x03"),
            ("C-a", "\x01"),
            ("C-z", "\x1a"),
            ("C-d", "\x04"),
            ("C-@", "\0"),
            ("C-[", "\x1b"),
            ("C-\\", "\x1c"),
            ("C-]", "\x1d"),
            ("C-^", "\x1e"),
            ("C-_", "\x1f"),
            ("C-?", "\x7f"),
            ("M-x", "\x1bx"),
            ("m-x", "\x1bx"),
            ("M-X", "\x1bX"),
            ("C-M-a", "\x1b\x01"),
            ("M-C-a", "\x1b\x01"),
            ("S-a", "A"),
            ("M-é", "\x1bé"),
            ("C--", "\x1f"),
            ("a", "a"),
            ("Q", "Q"),
            (":", ":"),
            ("-", "-"),
            ("^", "^"),
            ("é", "é"),
            ("ls -l", "ls -l"),
            ("exit", "exit"),
            ("ls", "ls"),
            (":wq", ":wq"),
            ("print('hi')", "print('hi')"),
            ("-l", "-l"),
        ];
        for &(key, want) in cases {
            match enc(&[key]) {
                Ok(got) => assert_eq!(got, want, "key {key:?}"),
                Err(e) => panic!("key {key:?}: {e}"),
            }
        }
    }

    #[test]
    fn application_cursor_mode_changes_only_unmodified_cursor_keys() {
        let app = |k: &str| encode_keys([k], CursorKeys::Application).unwrap();
        assert_eq!(app("Up"), "\x1bOA");
        assert_eq!(app("Down"), "\x1bOB");
        assert_eq!(app("Right"), "\x1bOC");
        assert_eq!(app("Left"), "\x1bOD");
        assert_eq!(app("Home"), "\x1bOH");
        assert_eq!(app("End"), "\x1bOF");
        assert_eq!(app("C-Up"), "\x1b[1;5A");
        assert_eq!(app("PageUp"), "\x1b[5~");
        assert_eq!(app("Enter"), "\r");
    }

    #[test]
    fn sequences_concatenate() {
        assert_eq!(enc(&["C-c", "echo hi", "Enter"]).unwrap(), "\x03echo hi\r");
        assert_eq!(enc(&[]).unwrap(), "");
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        for bad in [
            "Entr", "F13", "F0", "PgUpp", "Hello", "C-foo", "M-Entr", "C-", "M-", "C-é", "S-", "", "C-c-",
        ] {
            match enc(&["Enter", bad, "Up"]) {
                Err(Error::UnknownKey { key }) => assert_eq!(key, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let msg = enc(&["Entr"]).unwrap_err().to_string();
        assert!(msg.contains("\"Entr\""), "{msg}");
    }

    proptest! {
        /// Any input: no panic; an error names an element of the input;
        /// success is the concatenation of the elements one by one.
        #[test]
        fn never_panics_and_is_compositional(keys in proptest::collection::vec(".{0,12}", 0..6)) {
            match encode_keys(&keys, CursorKeys::Normal) {
                Ok(all) => {
                    let one_by_one: String = keys
                        .iter()
                        .map(|k| encode_keys([k], CursorKeys::Normal).unwrap())
                        .collect();
                    prop_assert_eq!(all, one_by_one);
                }
                Err(Error::UnknownKey { key }) => prop_assert!(keys.contains(&key)),
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }

        /// Key-shaped input (modifiers and names) never panics either.
        #[test]
        fn key_shaped_input_never_panics(
            mods in proptest::collection::vec(prop_oneof![Just("C-"), Just("M-"), Just("S-"), Just("^"), Just("c-")], 0..4),
            base in prop_oneof![
                Just("Enter".to_string()), Just("Up".to_string()), Just("F12".to_string()),
                Just("PageDown".to_string()), Just("Tab".to_string()), Just("Space".to_string()),
                "[A-Za-z0-9]{0,3}", ".{0,2}",
            ],
            app in any::<bool>(),
        ) {
            let token = format!("{}{base}", mods.concat());
            let mode = if app { CursorKeys::Application } else { CursorKeys::Normal };
            if let Err(e) = encode_keys([&token], mode) {
                let named_it = matches!(e, Error::UnknownKey { ref key } if *key == token);
                prop_assert!(named_it, "{:?} for {:?}", e, token);
            }
        }
    }
}
