//! Attaching a session's screen: the tap that sets output aside and
//! answers queries, and the per-session slot that holds the screen once
//! it is activated.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::engine::tap::{Event, Tap};
use crate::error::Result;
use crate::limits::{DEFAULT_SCROLLBACK_LINES, MIN_SCREEN_BACKLOG};
use crate::screen::model::{Model, Pending};
use crate::screen::query::QueryScanner;
use crate::session::handle::Session;

/// What a session keeps for its screen (a session extension): the
/// scrollback size asked for at start, and the screen once activated.
struct ScreenSlot {
    scrollback_lines: usize,
    screen: Mutex<Option<Arc<Screen>>>,
}

/// Sets the screen options of a session that is starting, and activates
/// the screen at once if asked (before the pump runs, so it sees every
/// byte).
pub(crate) fn configure(session: &Session, scrollback_lines: usize, active: bool) -> Result<()> {
    session.extension(|| ScreenSlot {
        scrollback_lines,
        screen: Mutex::new(None),
    });
    if active {
        activate(session)?;
    }
    Ok(())
}

/// The session's screen, activated now if it is not yet: its tap is
/// attached, and it starts from what the buffer retains.
pub(crate) fn activate(session: &Session) -> Result<Arc<Screen>> {
    let slot = session.extension(|| ScreenSlot {
        scrollback_lines: DEFAULT_SCROLLBACK_LINES,
        screen: Mutex::new(None),
    });
    let mut current = slot.screen.lock();
    if let Some(screen) = &*current {
        return Ok(Arc::clone(screen));
    }
    // Under the state lock: no output slips between the snapshot and the tap.
    let screen = session.with_state(|g| {
        let (rows, cols) = g.size();
        let (start, retained) = g.retained_from(0);
        let pending = Pending {
            bytes: retained.into(),
            start,
            resizes: VecDeque::new(),
            cap: g.capacity().max(MIN_SCREEN_BACKLOG),
        };
        let screen = Arc::new(Screen {
            pending: Mutex::new(pending),
            model: Mutex::new(Model::new(rows, cols, slot.scrollback_lines, g.encoding())),
        });
        g.add_tap(Box::new(ScreenTap {
            core: Arc::clone(&screen),
            scanner: QueryScanner::default(),
            reply: String::new(),
        }));
        Ok(screen)
    })?;
    *current = Some(Arc::clone(&screen));
    Ok(screen)
}

/// One session's screen: the output not parsed yet, and the parsed model.
///
/// Lock order: the session's state, then `model`, then `pending`.
pub(crate) struct Screen {
    pending: Mutex<Pending>,
    model: Mutex<Model>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Screen")
    }
}

impl Screen {
    /// Locks the model and brings it up to date with all pending output.
    pub(crate) fn sync(&self) -> parking_lot::MutexGuard<'_, Model> {
        let mut model = self.model.lock();
        model.catch_up(&self.pending, None);
        model
    }
}

/// The tap the pump calls: append, scan, answer queries.
struct ScreenTap {
    core: Arc<Screen>,
    scanner: QueryScanner,
    /// Answers to queries, for the pump to queue as input.
    reply: String,
}

impl Tap for ScreenTap {
    fn event(&mut self, event: &Event<'_>) -> bool {
        match *event {
            Event::Output { offset, bytes } => {
                let mut queries = Vec::new();
                self.scanner
                    .scan(bytes, |end, q| queries.push((offset + end as u64, q)));
                self.core.pending.lock().push(bytes);
                if !queries.is_empty() {
                    // Rare: parse up to each query to learn the cursor there.
                    let mut model = self.core.model.lock();
                    for (at, query) in queries {
                        model.catch_up(&self.core.pending, Some(at));
                        let (row, col) = model.cursor();
                        self.reply.push_str(&query.reply(row, col));
                    }
                }
            }
            Event::Resize { rows, cols } => {
                let mut feed = self.core.pending.lock();
                let at = feed.end();
                feed.resizes.push_back((at, rows, cols));
            }
            // The screen gets every output byte through `Output` itself.
            Event::Input { .. } | Event::Exit { .. } | Event::Dropped { .. } => {}
        }
        true
    }

    fn take_reply(&mut self) -> Option<Vec<u8>> {
        (!self.reply.is_empty()).then(|| std::mem::take(&mut self.reply).into_bytes())
    }
}
