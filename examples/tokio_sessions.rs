//! Several sessions driven at once from one tokio thread: `join!` runs
//! shell commands in two sessions concurrently, `select!` races a wait
//! against a timer and a stream of events, and no wait blocks the thread.
//!
//! Run with: `cargo run --example tokio_sessions --features tokio`

use std::time::Duration;

use bgterm::{AsyncSession, Pattern, SessionEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), bgterm::Error> {
    let timeout = Some(Duration::from_secs(10));

    // Two shells, one command each, awaited together.
    let (a, b) = (AsyncSession::start(["sh"])?, AsyncSession::start(["sh"])?);
    let (ra, rb) = tokio::join!(
        a.run("sleep 0.3; echo slow from $$", timeout),
        b.run("echo fast from $$; exit_code() { return 4; }; exit_code", timeout),
    );
    let (ra, rb) = (ra?, rb?);
    print!("a: {}", ra.output);
    println!("b: {} (exit code {})", rb.output.trim_end(), rb.exit_code);

    // A wait against a timer: the timer wins, the wait is dropped, and
    // nothing it saw is lost.
    let ticker =
        AsyncSession::start("i=0; while [ $i -lt 5 ]; do i=$((i+1)); echo tick $i; sleep 0.1; done")?;
    tokio::select! {
        m = ticker.wait_for("tick 99", None) => println!("unexpected: {m:?}"),
        () = tokio::time::sleep(Duration::from_millis(250)) => println!("timer first, as expected"),
    }
    // Everything since the start is still unread.
    let m = ticker
        .wait_for_from(0, Pattern::regex(r"tick 5\r?\n")?, timeout)
        .await?;
    println!("then, unread all along:\n{}{}", m.before, m.text.trim_end());

    // A stream of events, while another session is waited for: whichever
    // comes first.
    let talker = AsyncSession::start("read name; echo hello $name")?;
    let mut events = talker.events()?;
    talker.send("world\n")?;
    let quiet = AsyncSession::start(["cat"])?;
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Some(SessionEvent::Output { text, .. }) => print!("talker: {text}"),
                Some(SessionEvent::Exited { status, .. }) => println!("talker: {status}"),
                Some(_) => {}
                None => break, // the stream ends after the exit
            },
            r = quiet.poll(Duration::from_secs(10)) => println!("quiet said {:?}", r?.text),
        }
    }
    for s in [a, b, ticker, talker, quiet] {
        s.close()?;
    }
    Ok(())
}
