//! Start an interactive program in the background, talk to it, print what
//! came back. Uses `python3` when it is installed, else `sh`.
//!
//! Run with: `cargo run --example quickstart`

use std::time::Duration;

use bgterm::{Command, SessionBuilder};

fn main() -> Result<(), bgterm::Error> {
    let (command, inputs): (Command, &[&str]) = if which("python3") {
        (
            ["python3", "-q", "-i"].into(),
            &["2 + 2\n", "import sys; print(sys.version_info[:2])\n", "exit()\n"],
        )
    } else {
        (
            ["sh", "-i"].into(),
            &["echo $((2 + 2))\n", "uname -s\n", "exit\n"],
        )
    };
    println!("starting {command}");
    // `term(Some("dumb"))` keeps line editors from painting escape codes.
    let sid = SessionBuilder::new(command).term(Some("dumb")).start()?;

    // Wait for the first prompt (up to 5 s; returns as soon as it appears).
    let startup = bgterm::poll(sid, Duration::from_secs(5))?;
    print!("{}", startup.text);

    for input in inputs {
        // Send a line, then collect the reply. Each call returns only what
        // arrived since the previous one.
        let mut out = bgterm::write_stdin(sid, input, Duration::from_secs(5))?;
        print!("{}", out.text);
        while out.running
            && !out.text.ends_with(">>> ")
            && !out.text.ends_with("$ ")
            && !out.text.ends_with("# ")
        {
            out = bgterm::poll(sid, Duration::from_millis(500))?;
            if out.text.is_empty() {
                break;
            }
            print!("{}", out.text);
        }
    }
    let status = bgterm::wait(sid, Some(Duration::from_secs(5)))?;
    println!(
        "\n[exited: {}]",
        status.map_or("still running".into(), |s| s.to_string())
    );
    bgterm::close(sid)?;
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
