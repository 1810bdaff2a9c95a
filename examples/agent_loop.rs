//! An agent's shell tool: one long-lived bash, commands sent one at a time
//! through `run`, each with a time limit. A command that runs past its limit
//! is not lost: the agent gets the output so far and decides to keep
//! waiting (`run_resume`) or to stop it (`run_interrupt`). Big output comes
//! back as its head and tail with a count of what was left out; a command
//! that ends the shell gets a fresh one.
//!
//! Run with: `cargo run --example agent_loop` (uses `bash`, else `sh`).

use std::time::Duration;

use bgterm::{Error, RunOptions, Session, SessionBuilder};

/// What the agent decides when a command runs past its limit.
#[derive(Clone, Copy, Debug)]
enum OnTimeout {
    /// Wait this much longer, once.
    KeepWaiting(Duration),
    /// Stop it with Ctrl-C.
    Interrupt,
}

fn start_shell() -> Result<Session, Error> {
    let shell: &[&str] = if which("bash") {
        &["bash", "--norc", "--noprofile"]
    } else {
        &["sh"]
    };
    // `for_run`: the terminal's echo is off before the shell reads anything,
    // so no setup text ever shows. No history file: this is a tool, not a
    // person's shell.
    SessionBuilder::new(shell.to_vec())
        .env("HISTFILE", "/dev/null")
        .cwd(std::env::temp_dir())
        .for_run()
        .spawn()
}

/// One tool call: run `command`, at most `limit`, and report like an agent
/// tool would (status, output, what was elided).
fn tool_call(
    shell: &mut Session,
    command: &str,
    limit: Duration,
    on_timeout: OnTimeout,
) -> Result<(), Error> {
    println!("$ {command}");
    // Keep 60 bytes of each end: plenty for a model, and the count says
    // how much it did not see.
    let opts = RunOptions::new()
        .timeout(Some(limit))
        .head_bytes(60)
        .tail_bytes(60);
    let result = match shell.run_with(command, &opts) {
        Err(Error::RunTimeout { partial, waited, .. }) => {
            println!(
                "  [still running after {waited:.1?}; {} bytes so far: {:?}] -> {on_timeout:?}",
                partial.total_bytes, partial.output
            );
            match on_timeout {
                OnTimeout::KeepWaiting(more) => shell.run_resume(Some(more)),
                OnTimeout::Interrupt => shell.run_interrupt(Some(Duration::from_secs(10))),
            }
        }
        other => other,
    };
    match result {
        Ok(r) => {
            print!("{}", indent(r.head()));
            if r.elided_bytes > 0 {
                println!("  [... {} bytes elided ...]", r.elided_bytes);
            }
            print!("{}", indent(r.tail()));
            if !r.output.is_empty() && !r.output.ends_with('\n') {
                println!();
            }
            println!("  [exit {}]", r.exit_code);
        }
        Err(Error::RunShellExited { status, output, .. }) => {
            print!("{}", indent(&output.output));
            println!("  [the shell exited ({status}); starting a new one]");
            *shell = start_shell()?;
        }
        Err(e) => println!("  [error: {e}]"),
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let mut shell = start_shell()?;
    let quick = Duration::from_secs(10);
    let wait_more = OnTimeout::KeepWaiting(Duration::from_secs(10));
    tool_call(
        &mut shell,
        "mkdir -p bgterm-agent-demo && cd bgterm-agent-demo && pwd",
        quick,
        wait_more,
    )?;
    tool_call(
        &mut shell,
        "printf 'a\\nb\\n' > notes.txt; wc -l < notes.txt",
        quick,
        wait_more,
    )?;
    // A failing command, then its status from the shell itself.
    tool_call(&mut shell, "grep -q zebra notes.txt", quick, wait_more)?;
    tool_call(&mut shell, "echo \"grep said $?\"", quick, wait_more)?;
    // Slower than its limit: the agent keeps waiting for the same command.
    tool_call(
        &mut shell,
        "echo compiling; sleep 1; echo done",
        Duration::from_millis(300),
        wait_more,
    )?;
    // Never finishes on its own: the agent stops it; `$?` then says so.
    tool_call(
        &mut shell,
        "tail -f /dev/null",
        Duration::from_millis(300),
        OnTimeout::Interrupt,
    )?;
    tool_call(&mut shell, "echo \"interrupted: $?\"", quick, wait_more)?;
    // Far more output than anyone wants to read.
    tool_call(&mut shell, "seq 1 100000", quick, wait_more)?;
    // A command that ends the shell.
    tool_call(&mut shell, "exit 3", quick, wait_more)?;
    tool_call(&mut shell, "echo fresh shell, pid $$", quick, wait_more)?;
    tool_call(
        &mut shell,
        "rm -rf \"${TMPDIR:-/tmp}/bgterm-agent-demo\"",
        quick,
        wait_more,
    )?;
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}
