//! Event streams: `subscribe` hands out a crossbeam-channel receiver of a
//! session's events, so a program can `select!` over many sessions.
//!
//! Why a subscriber can never block the pump, yet is never left unaware: the
//! channel is bounded and the pump only ever `try_send`s. Two slots are kept
//! free at all times for the end of the stream, so when a subscriber falls
//! behind, the events that do not fit are counted and reported as one
//! [`SessionEvent::Missed`] as soon as there is room, and the final `Missed`
//! and the last event ([`SessionEvent::Exited`] or [`SessionEvent::Closed`])
//! always fit.
//!
//! Why `Closed` comes from the tap's drop: a session's taps are dropped when
//! it is closed (through any handle, by the last handle's drop, or by a
//! registry), and only then; a subscriber dropped before it sent `Exited`
//! says `Closed`. So every stream ends with exactly one of the two, with no
//! hook in the engine.

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::engine::decode::{DecodeErrors, TextDecoder};
use crate::engine::tap::{Event, Tap};
use crate::error::Result;
use crate::id::SessionId;
use crate::limits::DEFAULT_EVENT_CAPACITY;
use crate::session::handle::Session;
use crate::status::ExitStatus;

/// Something that happened to a session, as seen by a subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The child wrote output: bytes `start..end` of the stream, decoded.
    /// (Independent of the unread cursor: subscribing does not consume.)
    Output {
        /// The session.
        session: SessionId,
        /// Absolute offset of the first byte.
        start: u64,
        /// Absolute offset one past the last byte.
        end: u64,
        /// The text (a character split across chunks comes out whole).
        text: String,
    },
    /// The session's buffer dropped this many unread bytes (see
    /// [`PollResult::dropped_bytes`](crate::PollResult::dropped_bytes)).
    Dropped {
        /// The session.
        session: SessionId,
        /// Bytes dropped.
        bytes: u64,
    },
    /// The terminal was resized.
    Resized {
        /// The session.
        session: SessionId,
        /// New rows.
        rows: u16,
        /// New columns.
        cols: u16,
    },
    /// The child exited; no events follow.
    Exited {
        /// The session.
        session: SessionId,
        /// How it ended.
        status: ExitStatus,
    },
    /// The session was closed before its child's exit was seen (closing
    /// kills the child; [`Session::close`] returns how it ended). No events
    /// follow.
    Closed {
        /// The session.
        session: SessionId,
    },
    /// This subscriber fell behind and these events were not delivered.
    Missed {
        /// The session.
        session: SessionId,
        /// How many events were skipped.
        events: u64,
        /// How many output bytes those events carried.
        output_bytes: u64,
    },
}

impl SessionEvent {
    /// The session the event is about.
    #[must_use]
    pub fn session(&self) -> SessionId {
        match self {
            SessionEvent::Output { session, .. }
            | SessionEvent::Dropped { session, .. }
            | SessionEvent::Resized { session, .. }
            | SessionEvent::Exited { session, .. }
            | SessionEvent::Closed { session }
            | SessionEvent::Missed { session, .. } => *session,
        }
    }
}

/// The tap behind one subscription.
struct Subscriber {
    session: SessionId,
    tx: Sender<SessionEvent>,
    capacity: usize,
    decoder: TextDecoder,
    missed_events: u64,
    missed_bytes: u64,
    /// The last event (`Exited`) was offered: nothing more to say.
    ended: bool,
}

impl Subscriber {
    /// Sends if at least `keep_free` slots stay free afterwards; else counts
    /// the event as missed. Returns false once the receiver is gone.
    fn offer(&mut self, event: SessionEvent, keep_free: usize, bytes: u64) -> bool {
        if self.missed_events > 0 && self.tx.len() + 1 + keep_free <= self.capacity {
            let missed = SessionEvent::Missed {
                session: self.session,
                events: self.missed_events,
                output_bytes: self.missed_bytes,
            };
            match self.tx.try_send(missed) {
                Ok(()) => {
                    self.missed_events = 0;
                    self.missed_bytes = 0;
                }
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(_)) => {}
            }
        }
        if self.missed_events == 0 && self.tx.len() + 1 + keep_free <= self.capacity {
            match self.tx.try_send(event) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(_)) => {}
            }
        }
        self.missed_events += 1;
        self.missed_bytes += bytes;
        // A dropped receiver is noticed on a later attempt that finds room.
        true
    }
}

impl Tap for Subscriber {
    fn event(&mut self, event: &Event<'_>) -> bool {
        let session = self.session;
        match *event {
            Event::Output { offset, bytes } => {
                if self.missed_events > 0 {
                    // The text stream has a hole: a held partial character
                    // can no longer be completed.
                    self.decoder.reset();
                }
                let text = self.decoder.decode(bytes).unwrap_or_default();
                let e = SessionEvent::Output {
                    session,
                    start: offset,
                    end: offset + bytes.len() as u64,
                    text,
                };
                self.offer(e, 2, bytes.len() as u64)
            }
            Event::Dropped { bytes } => self.offer(SessionEvent::Dropped { session, bytes }, 2, 0),
            Event::Resize { rows, cols } => self.offer(SessionEvent::Resized { session, rows, cols }, 2, 0),
            Event::Exit { status } => {
                // The two reserved slots: a final Missed (if any) and this.
                self.offer(SessionEvent::Exited { session, status }, 0, 0);
                self.ended = true;
                false
            }
            Event::Input { .. } => true,
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        // Dropped without the exit: the session was closed (or the receiver
        // is gone, and then this send fails harmlessly). The two reserved
        // slots take a final Missed and this.
        if !self.ended {
            let session = self.session;
            self.offer(SessionEvent::Closed { session }, 0, 0);
        }
    }
}

impl Session {
    /// A receiver of this session's events from now on, with room for
    /// [`DEFAULT_EVENT_CAPACITY`] undelivered events. See
    /// [`subscribe_with_capacity`](Self::subscribe_with_capacity).
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn subscribe(&self) -> Result<Receiver<SessionEvent>> {
        self.subscribe_with_capacity(DEFAULT_EVENT_CAPACITY)
    }

    /// A receiver of this session's events from now on: output (with its
    /// offsets), buffer drops and resizes, then exactly one last event,
    /// after which the channel disconnects. Subscribing does not move the
    /// unread cursor.
    ///
    /// The last event is, in every ending:
    ///
    /// - [`SessionEvent::Exited`] with the child's status, once the child
    ///   has exited and all its output was sent as events (if it had
    ///   already exited when you subscribed, that is the only event);
    /// - [`SessionEvent::Closed`] if the session is closed first, through
    ///   any handle, by dropping its last handle, or by its registry.
    ///
    /// A receiver never sees the channel disconnect without one of these
    /// first (unless it dropped events itself, such as with `try_iter` and
    /// a `take`).
    ///
    /// A subscriber that stops reading never slows the session: events that
    /// do not fit in `capacity` (at least 3) are counted and reported as one
    /// [`SessionEvent::Missed`], and the last event is always delivered. Dropping
    /// the receiver unsubscribes; the session notices at the next event for
    /// which the channel has room, so a receiver dropped while its channel
    /// was full keeps its (at most `capacity`) queued events in memory until
    /// the session exits or closes.
    ///
    /// ```
    /// use bgterm::crossbeam_channel::{never, select};
    /// use bgterm::{Session, SessionEvent};
    ///
    /// let a = Session::start("read x; echo A-$x")?;
    /// let b = Session::start("read x; echo B-$x")?;
    /// let (mut ea, mut eb) = (a.subscribe()?, b.subscribe()?);
    /// a.send("1\n")?;
    /// b.send("2\n")?;
    /// let mut seen = String::new();
    /// let mut running = 2;
    /// while running > 0 {
    ///     let (event, which) = select! {
    ///         recv(ea) -> e => (e, 0),
    ///         recv(eb) -> e => (e, 1),
    ///     };
    ///     match event {
    ///         Ok(SessionEvent::Output { text, .. }) => seen += &text,
    ///         // The last event of a stream: the exit, or a close (if another
    ///         // thread closed the session). Stop selecting that stream.
    ///         Ok(SessionEvent::Exited { .. } | SessionEvent::Closed { .. }) => {
    ///             running -= 1;
    ///             if which == 0 { ea = never() } else { eb = never() }
    ///         }
    ///         Ok(_) => {}
    ///         Err(_) => unreachable!("every stream ends with Exited or Closed before it disconnects"),
    ///     }
    /// }
    /// assert!(seen.contains("A-1") && seen.contains("B-2"));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn subscribe_with_capacity(&self, capacity: usize) -> Result<Receiver<SessionEvent>> {
        let capacity = capacity.max(3);
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let session = self.id();
        let subscriber = Subscriber {
            session,
            tx: tx.clone(),
            capacity,
            decoder: TextDecoder::new(self.encoding(), DecodeErrors::Replace),
            missed_events: 0,
            missed_bytes: 0,
            ended: false,
        };
        self.with_state(|g| {
            match g.exit() {
                // Nothing more will happen: say so; dropping `tx` disconnects.
                Some(status) => {
                    let _ = tx.try_send(SessionEvent::Exited { session, status });
                    let mut subscriber = subscriber;
                    subscriber.ended = true;
                }
                None => g.add_tap(Box::new(subscriber)),
            }
            Ok(())
        })?;
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscriber(capacity: usize) -> (Subscriber, Receiver<SessionEvent>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let s = Subscriber {
            session: SessionId::from_u64(3),
            tx,
            capacity,
            decoder: TextDecoder::new(encoding_rs::UTF_8, DecodeErrors::Replace),
            missed_events: 0,
            missed_bytes: 0,
            ended: false,
        };
        (s, rx)
    }

    fn output(offset: u64, bytes: &[u8]) -> Event<'_> {
        Event::Output { offset, bytes }
    }

    fn texts(rx: &Receiver<SessionEvent>) -> Vec<String> {
        rx.try_iter()
            .map(|e| match e {
                SessionEvent::Output { text, start, .. } => format!("{start}:{text}"),
                SessionEvent::Missed {
                    events, output_bytes, ..
                } => format!("missed {events}/{output_bytes}"),
                SessionEvent::Exited { status, .. } => format!("exit {status}"),
                SessionEvent::Closed { .. } => "closed".to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_full_channel_counts_what_it_missed_and_keeps_two_slots_for_the_end() {
        let (mut s, rx) = subscriber(4);
        // Two slots are usable while the stream runs; two stay free.
        for (i, chunk) in [&b"ab"[..], b"cde", b"f", b"gh"].iter().enumerate() {
            assert!(s.event(&output(i as u64 * 10, chunk)));
        }
        assert_eq!(rx.len(), 2);
        assert_eq!((s.missed_events, s.missed_bytes), (2, 3));
        assert!(!s.event(&Event::Exit {
            status: ExitStatus::Exited(0)
        }));
        assert_eq!(texts(&rx), ["0:ab", "10:cde", "missed 2/3", "exit exit code 0"]);
    }

    #[test]
    fn the_missed_count_is_delivered_first_once_there_is_room() {
        let (mut s, rx) = subscriber(4);
        for (i, chunk) in [&b"a"[..], b"b", b"cc"].iter().enumerate() {
            assert!(s.event(&output(i as u64, chunk)));
        }
        assert_eq!(texts(&rx), ["0:a", "1:b"], "the third did not fit");
        assert!(s.event(&output(4, b"d")));
        assert_eq!(texts(&rx), ["missed 1/2", "4:d"]);
        assert_eq!((s.missed_events, s.missed_bytes), (0, 0));
    }

    #[test]
    fn a_subscriber_dropped_before_the_exit_says_closed_even_when_full() {
        let (mut s, rx) = subscriber(4);
        for (i, chunk) in [&b"a"[..], b"b", b"c"].iter().enumerate() {
            assert!(s.event(&output(i as u64, chunk)));
        }
        drop(s); // what closing the session does to its taps
        assert_eq!(texts(&rx), ["0:a", "1:b", "missed 1/1", "closed"]);
        assert!(rx.recv().is_err(), "then the channel disconnects");
        let (mut s, rx) = subscriber(4);
        assert!(!s.event(&Event::Exit {
            status: ExitStatus::Exited(0)
        }));
        drop(s);
        assert_eq!(texts(&rx), ["exit exit code 0"], "after the exit, no Closed");
    }

    #[test]
    fn a_dropped_receiver_unsubscribes_at_the_next_event_with_room() {
        let (mut s, rx) = subscriber(3);
        drop(rx);
        assert!(!s.event(&output(0, b"x")));
    }

    #[test]
    fn after_a_gap_a_split_character_is_not_glued_to_unrelated_bytes() {
        let (mut s, rx) = subscriber(3);
        let e = "é".as_bytes();
        assert!(s.event(&output(0, &e[..1])));
        assert!(s.event(&output(1, b"x")), "counted as missed");
        let _ = rx.try_iter().count();
        assert!(s.event(&output(2, &e[1..])));
        let got = texts(&rx);
        assert!(!got.iter().any(|t| t.contains('é')), "{got:?}");
    }
}
