//! [`AsyncRepl`]: a [`Repl`] whose turns are futures.

use std::time::{Duration, Instant};

use crate::asyncs::session::AsyncSession;
use crate::error::Result;
use crate::turn::repl::{Next, Repl, ReplBuilder, Reply, Turn, shell_options};

/// A [`Repl`] driven from async code: the same program, prompts and turns
/// (one implementation: the blocking form waits on the session's condvar,
/// this one awaits the same waits, woken by the session's pump), so no
/// runtime thread blocks.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> bgterm::Result<()> {
/// use std::time::Duration;
/// use bgterm::{AsyncRepl, ReplBuilder};
///
/// let t = Duration::from_secs(10);
/// let mut py = AsyncRepl::spawn(ReplBuilder::python()).await?;
/// let mut sh = AsyncRepl::spawn(ReplBuilder::sh()).await?;
/// let (a, b) = tokio::join!(py.eval("6 * 7", t), sh.eval("echo $((6 * 7))", t));
/// assert_eq!((a?.text, b?.text), ("42\n".to_string(), "42\n".to_string()));
/// # Ok(())
/// # }
/// ```
///
/// # Cancellation
///
/// A turn's future that is dropped before it completes (a `select!` whose
/// other branch won) leaves the turn open, as a timeout does: its input was
/// sent, nothing of its reply is lost, and [`resume`](Self::resume) (or
/// [`interrupt`](Self::interrupt)) finishes it; a new
/// [`eval`](Self::eval) is [`Error::ReplBusy`](crate::Error::ReplBusy)
/// until then.
#[derive(Debug)]
pub struct AsyncRepl {
    repl: Repl,
    session: AsyncSession,
}

impl From<Repl> for AsyncRepl {
    fn from(repl: Repl) -> AsyncRepl {
        let session = AsyncSession::from(repl.session().clone());
        AsyncRepl { repl, session }
    }
}

impl From<AsyncRepl> for Repl {
    fn from(repl: AsyncRepl) -> Repl {
        repl.repl
    }
}

impl AsyncRepl {
    /// Starts `builder`'s program and awaits its first prompt (see
    /// [`ReplBuilder::spawn`]).
    ///
    /// # Errors
    ///
    /// As for [`ReplBuilder::spawn`].
    pub async fn spawn(builder: ReplBuilder) -> Result<AsyncRepl> {
        let mut start = builder.prepare()?;
        let session = AsyncSession::from(start.session.clone());
        if start.is_shell() {
            session.run_with("", &start.shell_set_up()).await?;
            return Ok(AsyncRepl {
                repl: start.finish_shell(),
                session,
            });
        }
        let deadline = start.deadline;
        let mut from = 0;
        if let Some((initial, _)) = start.setup.clone() {
            let m = session
                .wait_for_from_deadline(from, initial.as_str(), deadline)
                .await?;
            from = start.sent_setup(&m)?;
            for _ in 0..start.prompts_in_setup() {
                let prompt = start.prompt().to_string();
                from = session
                    .wait_for_from_deadline(from, prompt, deadline)
                    .await?
                    .match_end;
            }
        }
        let prompt = start.prompt().to_string();
        let m = session.wait_for_from_deadline(from, prompt, deadline).await?;
        Ok(AsyncRepl {
            repl: start.finish(&m),
            session,
        })
    }

    /// The blocking form, for everything else ([`Repl::session`],
    /// [`Repl::banner`], ...).
    #[must_use]
    pub fn repl(&self) -> &Repl {
        &self.repl
    }

    /// Sends one input and awaits its reply, as [`Repl::eval`].
    ///
    /// # Errors
    ///
    /// As for [`Repl::eval`].
    pub async fn eval(&mut self, input: &str, timeout: Duration) -> Result<Reply> {
        if self.repl.is_shell() {
            let (command, stray, from) = self.repl.begin_shell_turn(input)?;
            let r = self.session.run_with(&command, &shell_options(timeout)).await;
            return self.repl.shell_reply(r, stray, from, &command);
        }
        let deadline = Instant::now().checked_add(timeout);
        let turn = self.repl.begin_eval(input)?;
        self.drive(turn, deadline).await
    }

    /// Keeps waiting for the open turn, as [`Repl::resume`].
    ///
    /// # Errors
    ///
    /// As for [`Repl::resume`].
    pub async fn resume(&mut self, timeout: Duration) -> Result<Reply> {
        if self.repl.is_shell() {
            let from = self.session.output_offset()?;
            let r = self.session.run_resume(Some(timeout)).await;
            return self.repl.shell_reply(r, String::new(), from, "");
        }
        let turn = self.repl.take_turn()?;
        self.drive(turn, Instant::now().checked_add(timeout)).await
    }

    /// Sends Ctrl-C and awaits the prompt, as [`Repl::interrupt`].
    ///
    /// # Errors
    ///
    /// As for [`Repl::interrupt`].
    pub async fn interrupt(&mut self, timeout: Duration) -> Result<Reply> {
        if self.repl.is_shell() && self.session.session().run_in_flight()?.is_some() {
            let from = self.session.output_offset()?;
            let r = self.session.run_interrupt(Some(timeout)).await;
            return self.repl.shell_reply(r, String::new(), from, "");
        }
        let deadline = Instant::now().checked_add(timeout);
        let turn = self.repl.begin_interrupt()?;
        self.drive(turn, deadline).await
    }

    /// The turn's steps, as the blocking form takes them, each wait
    /// awaited. While it awaits, the turn is parked in the `Repl`, so a
    /// dropped future leaves it open.
    async fn drive(&mut self, mut turn: Turn, deadline: Option<Instant>) -> Result<Reply> {
        loop {
            let (from, patterns, until) = self.repl.wait_spec(&turn, deadline);
            self.repl.park(turn);
            let waited = self.session.wait_for_from_deadline(from, patterns, until).await;
            turn = self.repl.take_turn()?;
            match self.repl.after_wait(turn, waited, deadline) {
                Next::Wait(t) => turn = t,
                Next::Done(result) => return result,
            }
        }
    }
}
