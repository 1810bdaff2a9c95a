//! Bad input gets a typed error naming the bad value, never a panic, and
//! leaves other sessions untouched.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::Duration;

use bgterm::{Error, ExitStatus, Registry, Session, SessionBuilder, SessionId};
use common::{LONG, expect};

#[test]
fn unknown_and_closed_ids_are_named() {
    let registry = Registry::new();
    let ghost = SessionId::from_u64(u64::MAX);
    for result in [
        registry.read(ghost).map(|_| ()),
        registry.poll(ghost, Duration::ZERO).map(|_| ()),
        registry.write_stdin(ghost, "x", Duration::ZERO).map(|_| ()),
        registry.wait(ghost, Some(Duration::ZERO)).map(|_| ()),
        registry.kill(ghost),
        registry.terminate(ghost),
        registry.close(ghost).map(|_| ()),
    ] {
        match result {
            Err(e @ Error::UnknownSession { id }) => {
                assert_eq!(id, ghost);
                assert!(e.to_string().contains(&u64::MAX.to_string()), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    let id = registry.start(["cat"]).unwrap();
    registry.close(id).unwrap();
    assert!(matches!(registry.read(id), Err(Error::UnknownSession { id: i }) if i == id));
    assert!(matches!(registry.close(id), Err(Error::UnknownSession { id: i }) if i == id));
}

#[test]
fn global_functions_use_the_global_registry() {
    let sid = bgterm::start_session(["cat"]).unwrap();
    assert!(bgterm::list_sessions().contains(&sid));
    let out = bgterm::write_stdin(sid, "hey\n", LONG).unwrap();
    // The echo, and perhaps already (some of) cat's copy.
    assert!(
        out.text.starts_with("hey") && "hey\r\nhey\r\n".starts_with(&out.text),
        "{out:?}"
    );
    bgterm::kill(sid).unwrap();
    assert_eq!(
        bgterm::wait(sid, Some(LONG)).unwrap(),
        Some(ExitStatus::Signaled(libc::SIGKILL))
    );
    bgterm::close(sid).unwrap();
    assert!(!bgterm::list_sessions().contains(&sid));
    assert!(matches!(bgterm::read(sid), Err(Error::UnknownSession { id }) if id == sid));
}

#[test]
fn missing_program_is_named() {
    let err = Session::start(["definitely-not-a-program-xyz", "arg"]).unwrap_err();
    match &err {
        Error::ProgramNotFound { program, searched } => {
            assert_eq!(program, "definitely-not-a-program-xyz");
            // Our PATH, which the child inherits.
            assert_eq!(searched.as_deref(), std::env::var("PATH").ok().as_deref());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("definitely-not-a-program-xyz"));
    let err = Session::start(["/no/such/dir/prog"]).unwrap_err();
    assert!(
        matches!(err, Error::ProgramNotFound { ref program, searched: None } if program == "/no/such/dir/prog")
    );
}

#[test]
fn non_executable_program_is_named() {
    let dir = std::env::temp_dir().join(format!("bgterm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not-exec.sh");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    let err = Session::start([file.to_str().unwrap()]).unwrap_err();
    assert!(
        matches!(err, Error::NotExecutable { ref path } if *path == file),
        "{err:?}"
    );
    // A directory is not a program either.
    let err = Session::start([dir.to_str().unwrap()]).unwrap_err();
    assert!(
        matches!(err, Error::NotExecutable { ref path } if *path == dir),
        "{err:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_cwd_is_named() {
    let err = SessionBuilder::new("pwd")
        .cwd("/no/such/dir")
        .spawn()
        .unwrap_err();
    match &err {
        Error::BadCwd { cwd, .. } => assert_eq!(cwd.to_str(), Some("/no/such/dir")),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("/no/such/dir"));
    let err = SessionBuilder::new("pwd").cwd("/etc/passwd").spawn().unwrap_err();
    match &err {
        Error::BadCwd { cwd, source } => {
            assert_eq!(cwd.to_str(), Some("/etc/passwd"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotADirectory);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_options_are_refused_before_anything_starts() {
    // Each bad option, the error it gets, and what its message names.
    type Check = fn(&Error) -> bool;
    let cases: Vec<(SessionBuilder, Check, &str)> = vec![
        (
            SessionBuilder::new("true").env("A\0B", "x"),
            |e| matches!(e, Error::InvalidEnv { key, .. } if key == "A\0B"),
            "A\\0B",
        ),
        (
            SessionBuilder::new("true").env("GOOD", "x\0y"),
            |e| matches!(e, Error::InvalidEnv { key, .. } if key == "GOOD"),
            "GOOD",
        ),
        (
            SessionBuilder::new("true").env("A=B", "x"),
            |e| matches!(e, Error::InvalidEnv { key, .. } if key == "A=B"),
            "A=B",
        ),
        (
            SessionBuilder::new("true").env("", "x"),
            |e| matches!(e, Error::InvalidEnv { key, .. } if key.is_empty()),
            "empty",
        ),
        (
            SessionBuilder::new("true").size(0, 80),
            |e| matches!(e, Error::InvalidSize { rows: 0, cols: 80 }),
            "0x80",
        ),
        (
            SessionBuilder::new("true").size(24, 0),
            |e| matches!(e, Error::InvalidSize { rows: 24, cols: 0 }),
            "24x0",
        ),
        (
            SessionBuilder::new("true").max_buffer_bytes(0),
            |e| matches!(e, Error::InvalidBufferSize { bytes: 0 }),
            "max_buffer_bytes 0",
        ),
        (
            SessionBuilder::new(["echo", "a\0b"]),
            |e| matches!(e, Error::InvalidArgument { arg } if arg == "a\0b"),
            "a\\0b",
        ),
        (
            SessionBuilder::new(""),
            |e| matches!(e, Error::EmptyCommand),
            "empty command",
        ),
        (
            SessionBuilder::new(Vec::<String>::new()),
            |e| matches!(e, Error::EmptyCommand),
            "empty command",
        ),
    ];
    for (builder, is_expected, needle) in cases {
        let err = builder.spawn().unwrap_err();
        assert!(is_expected(&err), "{err:?} is not the error for {needle:?}");
        let msg = err.to_string();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }
}

/// Text that the session's encoding cannot represent is refused whole
/// with a typed error naming the character and the encoding; nothing of
/// that write reaches the child.
#[test]
fn text_the_encoding_cannot_represent_is_refused_and_nothing_is_sent() {
    let s = SessionBuilder::new(r"stty -echo; echo READY; cat")
        .encoding(bgterm::encoding_rs::SHIFT_JIS)
        .spawn()
        .unwrap();
    assert_eq!(expect(&s, "READY\r\n"), "READY\r\n");
    match s.send("caf\u{e9}\n") {
        Err(Error::Unencodable {
            id,
            encoding,
            character,
        }) => assert_eq!((id, encoding, character), (s.id(), "Shift_JIS", '\u{e9}')),
        other => panic!("{other:?}; the child got {:?}", s.poll(LONG).map(|r| r.text)),
    }
    // Not even the encodable "caf" was sent: cat's next line is "ok" alone.
    s.send("ok\n").unwrap();
    assert_eq!(expect(&s, "ok\r\n"), "ok\r\n");
}

#[test]
fn errors_leave_other_sessions_working() {
    let s = Session::start(["cat"]).unwrap();
    let err = Session::start(["no-such-program-abc"]).unwrap_err();
    assert!(
        matches!(err, Error::ProgramNotFound { ref program, .. } if program == "no-such-program-abc"),
        "{err:?}"
    );
    let err = SessionBuilder::new("true").size(0, 0).spawn().unwrap_err();
    assert!(matches!(err, Error::InvalidSize { rows: 0, cols: 0 }), "{err:?}");
    let err = s.resize(0, 1).unwrap_err();
    assert!(matches!(err, Error::InvalidSize { rows: 0, cols: 1 }), "{err:?}");
    s.send("still here\n").unwrap();
    assert_eq!(
        expect(&s, "still here\r\nstill here\r\n"),
        "still here\r\nstill here\r\n"
    );
}

#[test]
fn error_sources_are_kept() {
    use std::error::Error as _;
    let err = SessionBuilder::new("pwd")
        .cwd("/no/such/dir")
        .spawn()
        .unwrap_err();
    let source = err.source().expect("io cause");
    let io = source
        .downcast_ref::<std::io::Error>()
        .unwrap_or_else(|| panic!("not an io::Error: {source}"));
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound, "{io}");
    assert!(source.to_string().contains("No such file"), "{source}");
}
