//! Start an interactive program in the background, talk to it, print what
//! came back. Uses `python3` when it is installed, else `sh`.
//!
//! Run with: `cargo run --example quickstart`

use std::time::Duration;

use bgterm::{Command, Patterns, SessionBuilder};

fn main() -> Result<(), bgterm::Error> {
    let (command, prompt, inputs): (Command, &str, &[&str]) = if which("python3") {
        (
            ["python3", "-q", "-i"].into(),
            ">>> ",
            &["2 + 2\n", "import sys; print(sys.version_info[:2])\n"],
        )
    } else {
        (["sh", "-i"].into(), "$ ", &["echo $((2 + 2))\n", "uname -s\n"])
    };
    let timeout = Some(Duration::from_secs(10));
    println!("starting {command}");
    // `TERM=dumb` keeps line editors from painting escape sequences, and a
    // fixed prompt makes the exchange easy to follow.
    let session = SessionBuilder::new(command)
        .term(Some("dumb"))
        .env("PS1", "$ ")
        .spawn()?;
    // Root's shells may prompt with "# ".
    let prompts: Patterns = [prompt, "# "].into();

    // 1. Wait for the first prompt: returns the moment it appears.
    let ready = session.wait_for_from(0, prompts.clone(), timeout)?;
    print!("{}{}", ready.before, ready.text);

    for input in inputs {
        // 2. Take the output offset, send a line, and wait for the next
        //    prompt from that offset: however fast the answer comes, it
        //    cannot be missed. `before` is everything printed in between.
        let at = session.output_offset()?;
        session.send(input)?;
        let answer = session.wait_for_from(at, prompts.clone(), timeout)?;
        print!("{}{}", answer.before, answer.text);
    }

    // 3. Ask it to quit, and wait for the exit (bounded, like every wait).
    session.send(if prompt == ">>> " { "exit()\n" } else { "exit\n" })?;
    let status = session.wait(timeout)?;
    print!("{}", session.read()?.text);
    println!("\n[{}]", status.map_or("still running".into(), |s| s.to_string()));
    // 4. Close: kills what is left, reaps the child, frees everything.
    session.close()?;
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
