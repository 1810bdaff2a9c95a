//! The terminal screen: what a person would see, and the scrollback as
//! numbered lines, parsed lazily off the hot path.
//!
//! - [`attach`]: the tap that sets output aside and answers queries, and
//!   the per-session slot holding the screen once activated.
//! - [`model`]: the parsed terminal (avt) and its numbered lines.
//! - [`view`]: captures, the viewport, `info`, keys, resize.
//! - [`search`]: lines matching a pattern.
//! - [`keys`] and [`query`]: tmux key names, terminal queries. Pure.
//!
//! The emulator is avt (the asciinema terminal): it gives the retained
//! scrollback as lines (the absolute numbering exposed here), reflows on
//! resize, reports evicted lines (so a pinned viewport stays on its text)
//! and decodes in the session's encoding. It was chosen over vt100 after
//! measuring both; the figures are in the README's performance section.
//!
//! # Keeping the parse off the hot path
//!
//! A parser runs at about 40% of the speed a PTY delivers output, so it
//! must not run on the pump thread for every byte. The screen's tap (called
//! by the pump, under the state lock) only *appends* each output chunk to a
//! bounded pending buffer and scans it for queries with `memchr`; resizes
//! are recorded at their offset in the stream. The parse runs on the
//! caller's thread when a view is asked for (`display`, `capture_range`,
//! `info`, `search`, `send_keys`, ...), under the screen's own lock, not
//! the session's state lock, so the pump keeps pumping meanwhile.
//!
//! Lock order: state → model → pending. The tap takes the pending lock (and, only
//! when a query arrived, the model lock); callers take the state lock
//! briefly, release it, then model → pending. Nobody takes the state lock
//! while holding the model lock.
//!
//! # Queries
//!
//! When a chunk contains a cursor-position, status or device-attributes
//! query, the tap catches the parse up to the end of that query (so the
//! reported cursor is where the program's cursor was at that moment) and
//! leaves the answer for the pump to queue as input, right after the
//! chunk. Only queries that arrive while the screen is active are
//! answered; old ones found when it is activated are not (the program has
//! most likely stopped waiting, and a late answer would be typed into
//! whatever reads next).
//!
//! # Gaps
//!
//! The pending buffer holds at most as many bytes as the session's ring
//! (`max_buffer_bytes`, but at least [`MIN_SCREEN_BACKLOG`]). When output
//! outruns the views, the oldest pending bytes are skipped and counted
//! (`SessionInfo::unrendered_bytes`); the same happens when the screen is
//! activated after the ring has already dropped output. At a gap the parse
//! aborts any escape sequence in progress (CAN), starts a fresh line if the
//! cursor is not at the start of one, and carries on with the retained
//! bytes on top of the screen as it was: earlier lines stay in the history,
//! the skipped output is simply absent, and the first line after the gap
//! may begin mid-line. Full-screen programs repaint, so their screen is
//! right again after their next redraw. A session whose screen is active
//! from the start (`SessionBuilder::screen(true)`) and viewed at least once
//! per `max_buffer_bytes` of output never has a gap, whatever the ring
//! drops: the tap sees every byte.

pub(crate) mod attach;
pub(crate) mod keys;
pub(crate) mod model;
pub(crate) mod query;
pub(crate) mod search;
pub(crate) mod view;

pub(crate) use attach::configure;
