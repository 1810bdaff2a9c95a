//! A REPL-driven test: check a SQL schema in sqlite3 and a function in
//! Python by talking to the real interpreters through `Repl`, one input
//! and one exact reply at a time.
//!
//! ```sh
//! cargo run --example repl_test
//! ```
//!
//! Prints one line per check and exits with status 1 if any reply was not
//! the expected one (2 if an interpreter is not installed).

use std::process::ExitCode;
use std::time::Duration;

use bgterm::{Error, Repl};

/// Each turn gets this long; a turn that takes longer fails its check.
const TURN: Duration = Duration::from_secs(10);

/// Counts passed and failed checks.
#[derive(Default)]
struct Checks {
    passed: usize,
    failed: usize,
}

impl Checks {
    /// Sends `input` and compares the reply with `want`.
    fn expect(&mut self, repl: &mut Repl, input: &str, want: &str) {
        let got = match repl.eval(input, TURN) {
            Ok(reply) => reply.text,
            Err(e) => format!("<error: {e}>"),
        };
        let first = input.lines().next().unwrap_or_default();
        if got == want {
            self.passed += 1;
            println!("ok    {first}");
        } else {
            self.failed += 1;
            println!("FAIL  {first}\n      want {want:?}\n      got  {got:?}");
        }
    }
}

fn start(what: &str, repl: Result<Repl, Error>) -> Option<Repl> {
    match repl {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("SKIPPED: {what}: {e}");
            None
        }
    }
}

fn main() -> ExitCode {
    let mut checks = Checks::default();
    let mut missing = false;

    // sqlite3: a schema, a constraint, a query over several lines.
    if let Some(mut db) = start("sqlite3", Repl::sqlite3()) {
        checks.expect(
            &mut db,
            "create table item(name text primary key, qty integer not null check (qty >= 0));",
            "",
        );
        checks.expect(
            &mut db,
            "insert into item values ('apple', 3), ('pear', 0), ('plum', 12);",
            "",
        );
        checks.expect(
            &mut db,
            "select name, qty\n  from item\n where qty > 0\n order by qty desc;",
            "plum|12\napple|3\n",
        );
        checks.expect(
            &mut db,
            "insert into item values ('fig', -1);",
            "Runtime error: CHECK constraint failed: qty >= 0 (19)\n",
        );
        checks.expect(&mut db, "select count(*) from item;", "3\n");
    } else {
        missing = true;
    }

    // Python: define a function in the session, then test it.
    if let Some(mut py) = start("python3", Repl::python()) {
        checks.expect(
            &mut py,
            "def slug(title):\n    words = title.lower().split()\n    return '-'.join(w.strip('.,!?') for w in words)",
            "",
        );
        checks.expect(&mut py, "slug('Hello, World!')", "'hello-world'\n");
        checks.expect(
            &mut py,
            "print(slug('  Many   spaces here '))",
            "many-spaces-here\n",
        );
        checks.expect(
            &mut py,
            "slug(None)",
            "Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\n  File \"<stdin>\", line 2, in slug\nAttributeError: 'NoneType' object has no attribute 'lower'\n",
        );
    } else {
        missing = true;
    }

    println!("{} passed, {} failed", checks.passed, checks.failed);
    if checks.failed > 0 {
        ExitCode::from(1)
    } else if missing {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
