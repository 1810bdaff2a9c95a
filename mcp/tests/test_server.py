"""End-to-end tests of the bgterm-mcp server: the real built binary driven by
the real Python MCP client SDK (`mcp` from PyPI).

Run after `cargo build -p bgterm-mcp`:  python3 -m pytest mcp/tests -q
The binary is target/debug/bgterm-mcp, or $BGTERM_MCP_BIN.
"""

import asyncio
import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import jsonschema
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

try:  # mcp 1.x
    from mcp.shared.exceptions import McpError
except ImportError:  # mcp 2.x
    from mcp.shared.exceptions import MCPError as McpError

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("BGTERM_MCP_BIN") or str(ROOT / "target" / "debug" / "bgterm-mcp")

TOOLS = {
    "start_session", "run_command", "write_stdin", "read_output", "wait_for_text",
    "capture_screen", "send_keys", "list_sessions", "session_info", "search_output",
    "resize_session", "stop_session", "close_session",
}


def setup_module():
    assert os.access(BIN, os.X_OK), f"{BIN} is not built: run `cargo build -p bgterm-mcp` first"


def skipped(why):
    sys.stderr.write(f"SKIPPED: {why}\n")
    pytest.skip(why)


@contextlib.asynccontextmanager
async def server(*args, errlog=None):
    params = StdioServerParameters(command=BIN, args=list(args))
    log = errlog or open(os.devnull, "w")
    try:
        async with stdio_client(params, errlog=log) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                yield s
    finally:
        if errlog is None:
            log.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def call(s, tool, **args):
    res = await s.call_tool(tool, args)
    text = "".join(c.text for c in res.content if c.type == "text")
    return res, text


async def ok(s, tool, **args):
    res, text = await call(s, tool, **args)
    assert not res.isError, f"{tool} {args} failed: {text}"
    assert res.structuredContent is not None, f"{tool}: no structured content"
    return res.structuredContent, text


async def err(s, tool, **args):
    res, text = await call(s, tool, **args)
    assert res.isError, f"{tool} {args} should fail, got: {text}"
    return text


def pid_gone_within(pid, seconds):
    """True once `pid` no longer exists, waiting on its pidfd (no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], seconds)
        if not ready:
            return False
    finally:
        os.close(fd)
    # Readable pidfd: the process exited; it must also be reaped (no zombie).
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state != "Z":
            return False
        # A zombie waits for its parent's reap: wait on the parent's pidfd.
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        try:
            pfd = os.pidfd_open(ppid)
        except ProcessLookupError:
            continue
        try:
            select.select([pfd], [], [], min(0.5, max(0.0, deadline - time.monotonic())))
        finally:
            os.close(pfd)
    return False


def server_children():
    """Pids of bgterm-mcp processes that are children of this test process."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            exe = os.readlink(d / "exe")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and exe.endswith("bgterm-mcp"):
            out.append(int(d.name))
    return out


# ---------------------------------------------------------------- tools/list


def test_list_tools_and_validate_schemas():
    async def go():
        params = StdioServerParameters(command=BIN, args=[])
        async with stdio_client(params, errlog=open(os.devnull, "w")) as (r, w):
            async with ClientSession(r, w) as s:
                t0 = time.perf_counter()
                init = await s.initialize()
                init_ms = (time.perf_counter() - t0) * 1e3
                assert "run_command" in init.instructions and "until" in init.instructions
                assert "capture_screen" in init.instructions
                listed = await s.list_tools()
                names = {t.name for t in listed.tools}
                assert names == TOOLS
                size = len(json.dumps([t.model_dump(mode="json", exclude_none=True) for t in listed.tools]))
                assert size <= 15 * 1024, f"tools/list is {size} bytes"
                for t in listed.tools:
                    assert t.description, t.name
                    jsonschema.Draft202012Validator.check_schema(t.inputSchema)
                    assert t.inputSchema.get("type") == "object", t.name
                # Arguments that fit a schema pass, ones that do not fail it.
                rc = next(t for t in listed.tools if t.name == "run_command").inputSchema
                jsonschema.validate({"command": "ls", "session": 3, "timeout_ms": 5}, rc)
                jsonschema.validate({"command": "ls", "session": "shell"}, rc)
                with pytest.raises(jsonschema.ValidationError):
                    jsonschema.validate({"session": 3}, rc)
                with pytest.raises(jsonschema.ValidationError):
                    jsonschema.validate({"command": "ls", "timeout_ms": "soon"}, rc)
                return init_ms

    init_ms = run(go())
    sys.stderr.write(f"initialize took {init_ms:.1f} ms\n")


# ------------------------------------------------------------- run_command


def test_bash_run_command_exit_codes_cd_and_status():
    async def go():
        async with server() as s:
            d, text = await ok(s, "run_command", command="echo 7")
            assert (d["output"], d["exit_code"], d["running"]) == ("7\n", 0, False)
            assert text == "7\n" and len(text.encode()) <= 20
            d, text = await ok(s, "run_command", command="false")
            assert d["exit_code"] == 1 and "[exit code 1]" in text
            d, _ = await ok(s, "run_command", command="echo $?")
            assert d["output"] == "1\n", "$? after a command must be that command's status"
            d, _ = await ok(s, "run_command", command="(exit 7); echo $?")
            assert d["output"] == "7\n"
            d, _ = await ok(s, "run_command", command="sh -c 'exit 3'")
            assert d["exit_code"] == 3
            with tempfile.TemporaryDirectory() as tmp:
                await ok(s, "run_command", command=f"cd '{tmp}'")
                d, _ = await ok(s, "run_command", command="pwd")
                assert d["output"] == os.path.realpath(tmp) + "\n"
            await ok(s, "run_command", command="X='it''s'; Y=\"a b\"")
            d, _ = await ok(s, "run_command", command='echo "$X|$Y"')
            assert d["output"] == "its|a b\n"
            d, _ = await ok(s, "run_command", command="for i in 1 2\ndo echo line$i\ndone")
            assert d["output"] == "line1\nline2\n"
            d, _ = await ok(s, "run_command", command="printf 'no newline'")
            assert d["output"] == "no newline"
            # The automation environment, and colours stripped if a program ignores it.
            d, _ = await ok(s, "run_command", command='echo "$TERM $NO_COLOR $PAGER $GIT_PAGER"')
            assert d["output"] == "dumb 1 cat cat\n"
            d, _ = await ok(s, "run_command", command=r"printf '\033[31mred\033[0m\n'")
            assert d["output"] == "red\n"
            d, _ = await ok(s, "run_command", command=r"printf '\033[31mred\033[0m\n'", raw=True)
            assert d["output"] == "\x1b[31mred\x1b[0m\n"  # as sent, line ends as "\n" (the library's runner)
            # History holds the commands as given, nothing of the runner (its
            # setup, the server's init line, spool lines).
            d, _ = await ok(s, "run_command", command="history | grep -v 'history |' | grep -c -e __bg -e 'set +m' || true")
            assert d["output"].strip() == "0"
            # Big output: head, tail and the elided count.
            d, text = await ok(s, "run_command", command="seq 1 20000", max_output_bytes=1000)
            assert d["output"].startswith("1\n2\n") and d["output"].endswith("19999\n20000\n")
            assert d["elided_bytes"] > 100000 and f"[... {d['elided_bytes']} bytes elided ...]" in d["output"]
            assert len(d["output"].encode()) <= 1000
            # Many quick commands in a row: every answer exact (reads split
            # the markers at random places).
            for i in range(300):
                d, _ = await ok(s, "run_command", command=f"echo {i}")
                assert d["output"] == f"{i}\n", (i, d)
            # Output far bigger than the server holds: bounded memory, head and
            # tail kept, every byte accounted for.
            d, _ = await ok(s, "run_command", command="yes | head -c 10000000", timeout_ms=25000)
            out = d["output"]
            assert out.startswith("y\ny\n") and out.endswith("y\ny\n") and d["exit_code"] == 0
            marker = f"\n[... {d['elided_bytes']} bytes elided ...]\n"
            assert out.count("bytes elided") == 1 and marker in out
            if d["dropped_bytes"] == 0:
                assert len(out) - len(marker) + d["elided_bytes"] == 10_000_000
            else:
                sys.stderr.write(f"note: {d['dropped_bytes']} bytes dropped by the session buffer\n")
                assert len(out) - len(marker) + d["elided_bytes"] < 10_000_000
            # Long commands (over the terminal's 4095-byte line limit) go
            # through a private file, right after another command too.
            for n in (3000, 5000, 20000, 20000):
                d, _ = await ok(s, "run_command", command="echo " + "x" * n + " | wc -c")
                assert d["output"] == f"{n + 1}\n", (n, d)
            d, _ = await ok(s, "run_command", command="cd /\n" + "true\n" * 2000 + "L=long; echo $L; (exit 6)")
            assert (d["output"], d["exit_code"]) == ("long\n", 6)
            d, _ = await ok(s, "run_command", command="echo $? $PWD; ls -d ${TMPDIR:-/tmp}/bgterm-mcp-*/cmd-* 2>/dev/null | wc -l")
            assert d["output"] == "6 /\n0\n", "the long command ran in the shell and its file is gone"
            # A slow command: returns when it ends, not on a polling tick.
            d, _ = await ok(s, "run_command", command="sleep 1; echo done")
            assert d["output"] == "done\n" and 1000 <= d["duration_ms"] < 1100, d

    run(go())


def test_timeout_then_read_output_completes_it_and_busy_is_refused():
    async def go():
        async with server() as s:
            d, text = await ok(s, "run_command", command="echo first; sleep 1; echo second; exit_code_is() { :; }; false",
                               timeout_ms=200)
            assert d["running"] is True and d["exit_code"] is None
            assert d["output"] == "first\n", d
            assert "read_output" in text
            sid = d["session"]
            busy = await err(s, "run_command", command="echo no")
            assert "busy" in busy and str(sid) in busy
            d2, _ = await ok(s, "read_output", session=sid, yield_ms=10000)
            assert d2["output"] == "second\n"
            assert (d2["command_running"], d2["command_exit_code"]) == (False, 1)
            d3, _ = await ok(s, "run_command", command="echo $?")
            assert d3["output"] == "1\n"
            # A command that reads input: answer it with write_stdin, which follows the command.
            d, _ = await ok(s, "run_command", command='read -r x; echo "got $x"', timeout_ms=200)
            assert d["running"]
            d, _ = await ok(s, "write_stdin", session=sid, text="hello\n", yield_ms=10000)
            assert d["command_exit_code"] == 0 and d["output"].endswith("got hello\n"), d
            # Interrupting a timed-out command with C-c, then the shell is usable again.
            d, _ = await ok(s, "run_command", command="sleep 30", timeout_ms=100)
            assert d["running"]
            # Ctrl-C drops the rest of the shell's line; the prompt hook still reports the end.
            d, _ = await ok(s, "send_keys", session=sid, keys=["C-c"], yield_ms=10000)
            assert d["command_running"] is False and d["command_exit_code"] == 130, d
            d, _ = await ok(s, "run_command", command="echo after")
            assert d["output"] == "after\n"

    run(go())


def test_exit_in_run_command_reports_the_shell_exit_and_a_new_shell_follows():
    async def go():
        async with server() as s:
            d, _ = await ok(s, "run_command", command="echo bye; exit 4")
            # (bash says "exit" as it leaves)
            assert d["running"] is False and d["exit_code"] == 4 and d["output"].startswith("bye\n"), d
            d2, _ = await ok(s, "run_command", command="echo again")
            assert d2["output"] == "again\n" and d2["session"] != d["session"]

    run(go())


def test_run_command_keeps_tabs_and_bangs_and_leaves_no_prompt_unread():
    if not shutil.which("make"):
        skipped("make not installed")

    async def go():
        async with server() as s:
            with tempfile.TemporaryDirectory() as tmp:
                # A Makefile written by a here-document: the recipe's tab must
                # reach the file (no line editor completing on it).
                cmd = f"cd '{tmp}' && cat > Makefile <<'EOF'\nall:\n\techo built-ok\nEOF\nmake -s"
                d, _ = await ok(s, "run_command", command=cmd)
                assert (d["exit_code"], d["output"]) == (0, "echo built-ok\nbuilt-ok\n") or \
                    (d["exit_code"], d["output"]) == (0, "built-ok\n"), d
                d, _ = await ok(s, "run_command", command="printf '%s\\n' \"a\tb\" | od -c | head -1")
                assert "\\t" in d["output"], d
            # No history expansion: `!` is literal, as in a script.
            d, _ = await ok(s, "run_command", command="echo 'one'; echo \"hi!!\" !! x!y")
            assert d["output"] == "one\nhi!! !! x!y\n", d
            # Text that looks like a marker cannot end a command early.
            d, _ = await ok(s, "run_command",
                            command="printf '__BGMCP_E_0_0\\n\\033]133;D;0;aid=fake\\007'; echo real-end")
            assert d["output"].endswith("real-end\n") and d["exit_code"] == 0, d
            # The prompt is never left unread: nothing stale for read_output.
            d, _ = await ok(s, "run_command", command="echo x")
            r, text = await ok(s, "read_output", session=d["session"], yield_ms=300)
            assert r["output"] == "" and text == "", r
            d, _ = await ok(s, "run_command", command="sleep 0.3; echo y", timeout_ms=50)
            assert d["running"]
            r, _ = await ok(s, "read_output", session=d["session"], yield_ms=10000)
            assert r["output"] == "y\n" and r["command_exit_code"] == 0, r
            r, _ = await ok(s, "read_output", session=d["session"], yield_ms=300)
            assert r["output"] == "", r
            # `until` while following a running command: returns at the match,
            # with the matched output; the rest follows.
            d, _ = await ok(s, "run_command", command="echo s1; sleep 0.3; echo s2; sleep 0.3; echo fin",
                            timeout_ms=100)
            r, _ = await ok(s, "read_output", session=d["session"], until="s2", yield_ms=10000)
            # (The line end after the match may still be on its way: a
            # lone "\r" is held until its "\n" comes, then follows.)
            assert r["matched"] is True and r["command_running"] is True, r
            assert (d["output"] + r["output"]).rstrip("\n") == "s1\ns2", (d, r)
            r2, _ = await ok(s, "read_output", session=d["session"], yield_ms=10000)
            assert r2["command_exit_code"] == 0, r2
            assert d["output"] + r["output"] + r2["output"] == "s1\ns2\nfin\n", (d, r, r2)

    run(go())


def test_concurrent_first_run_commands_make_one_shell_and_one_is_busy():
    async def go():
        async with server() as s:
            a, b = await asyncio.gather(
                call(s, "run_command", command="sleep 1; echo first-cmd"),
                call(s, "run_command", command="sleep 1; echo second-cmd"),
            )
            results = [a, b]
            answered = [r for r in results if not r[0].isError]
            refused = [r for r in results if r[0].isError]
            assert len(answered) == 1 and len(refused) == 1, [r[1] for r in results]
            out = answered[0][0].structuredContent["output"]
            running = "first-cmd" if out == "first-cmd\n" else "second-cmd"
            assert out == f"{running}-placeholder\n".replace("-placeholder", ""), out
            msg = refused[0][1]
            assert "busy" in msg and running in msg and "nothing was sent" in msg, msg
            lst, _ = await ok(s, "list_sessions")
            assert [x["name"] for x in lst["sessions"]] == ["shell"], lst
            d, _ = await ok(s, "run_command", command="echo after")
            assert d["output"] == "after\n"

    run(go())


def test_whole_output_is_pageable_by_line():
    async def go():
        async with server() as s:
            d, text = await ok(s, "run_command", command="seq 1 20000", max_output_bytes=1000)
            page = d["elided_lines"]
            assert page["total_lines"] == 20000 and page["tool"] == "read_output", page
            first, count = page["from_line"], page["line_count"]
            assert 100 < first < 400 and count > 19000, page
            assert f"read_output session={d['session']} from_line={first} line_count={count}" in text
            r, _ = await ok(s, "read_output", session=d["session"], from_line=first, line_count=5)
            assert r["output"] == "".join(f"{i}\n" for i in range(first, first + 5)), r
            assert (r["total_lines"], r["line_count"]) == (20000, 5)
            r, _ = await ok(s, "read_output", session=d["session"], from_line=19999, line_count=50)
            assert r["output"] == "19999\n20000\n" and r["line_count"] == 2
            # Past the answer's size: as many whole lines as fit, and where the
            # next page starts; following the pages gives every line once.
            got, start, pages = "", 1, 0
            while start is not None:
                r, text = await ok(s, "read_output", session=d["session"], from_line=start,
                                   line_count=20001 - start, max_output_bytes=20000)
                assert len(r["output"]) <= 20000 and r["elided_bytes"] == 0, r["line_count"]
                assert r["output"].endswith("\n")
                got += r["output"]
                start, pages = r["next_from_line"], pages + 1
                if start is not None:
                    assert f"from_line={start}" in text
            assert got == "".join(f"{i}\n" for i in range(1, 20001)) and pages > 3
            # Nothing to page in a session that ran no command.
            c, _ = await ok(s, "start_session", argv=["cat"], yield_ms=0)
            msg = await err(s, "read_output", session=c["session"], from_line=1)
            assert "no command output" in msg

    run(go())


def test_repl_sessions_answer_with_exactly_the_reply():
    if not shutil.which("python3"):
        skipped("python3 not installed")

    async def go():
        async with server() as s:
            d, text = await ok(s, "start_session", argv=["python3"], name="py")
            assert d["repl"] is True and "write_stdin" in text
            for inp, want in [("print(6 * 7)", "42\n"), ("1 + 1\n", "2\n"), ("x = 5", ""),
                              ("def f(n):\n    return n * x\n\nf(3)", "15\n"),
                              ("print('a\\tb', end='')", "a\tb")]:
                r, text = await ok(s, "write_stdin", session="py", text=inp)
                assert r["output"] == want and text == want, (inp, r)
                assert r["turn_open"] is False
            r, _ = await ok(s, "write_stdin", session="py", text="1/0")
            assert r["output"].endswith("ZeroDivisionError: division by zero\n") and ">>>" not in r["output"]
            # A turn that outlasts the wait stays open; read_output resumes it.
            r, text = await ok(s, "write_stdin", session="py",
                               text="import time; print('early'); time.sleep(0.5); print('late')", yield_ms=100)
            assert r["turn_open"] is True and "still open" in text, r
            r2, _ = await ok(s, "read_output", session="py", yield_ms=10000)
            assert r2["turn_open"] is False and r["output"] + r2["output"] == "early\nlate\n", (r, r2)
            # C-c interrupts a running turn; the REPL answers again after.
            r, _ = await ok(s, "write_stdin", session="py", text="time.sleep(60)", yield_ms=200)
            assert r["turn_open"] is True
            r, _ = await ok(s, "send_keys", session="py", keys=["C-c"], yield_ms=10000)
            assert r["output"].endswith("KeyboardInterrupt\n") and r["turn_open"] is False, r
            r, _ = await ok(s, "write_stdin", session="py", text="x + 1")
            assert r["output"] == "6\n"
            # The other tools work on a REPL session.
            scr, text = await ok(s, "capture_screen", session="py")
            assert "6" in text
            lst, _ = await ok(s, "list_sessions")
            assert [x["repl"] for x in lst["sessions"] if x["name"] == "py"] == [True]
            r, _ = await ok(s, "read_output", session="py", yield_ms=100)
            assert r["output"] == ""
            await ok(s, "close_session", session="py")
            # Any program with a prompt the caller names.
            d, _ = await ok(s, "start_session", command="while printf 'calc> ' && read -r x; do echo $((x * 2)); done",
                            prompt="calc> ")
            r, _ = await ok(s, "write_stdin", session=d["session"], text="21")
            assert r["output"] == "42\n", r
            for prog, inp, want in [("node", "1 + 2", "3\n"), ("sqlite3", "select 6 * 7;", "42\n")]:
                if not shutil.which(prog):
                    continue
                d, _ = await ok(s, "start_session", argv=[prog])
                assert d["repl"] is True, prog
                r, _ = await ok(s, "write_stdin", session=d["session"], text=inp)
                assert r["output"] == want, (prog, r)
            msg = await err(s, "start_session", argv=["cat"], repl=True)
            assert "prompt" in msg

    run(go())


# ------------------------------------------------------------ REPL, until


def test_python_repl_through_write_stdin_until():
    if not shutil.which("python3"):
        skipped("python3 not installed")

    async def go():
        async with server() as s:
            # repl=false: a plain session, driven by `until` (REPL mode has its own test).
            d, _ = await ok(s, "start_session", argv=["python3", "-q", "-i"], name="py", repl=False,
                            until=r">>> $", yield_ms=10000)
            assert d["matched"] is True and d["output"].endswith(">>> ")
            t0 = time.perf_counter()
            d, text = await ok(s, "write_stdin", session="py", text="print(6 * 7)\n", until=r">>> $",
                               yield_ms=20000)
            took = time.perf_counter() - t0
            assert d["matched"] is True and "42\n" in d["output"], d
            assert took < 5, f"until should return at the prompt, took {took:.1f} s"
            # Output that takes a while: until waits for it, no polling needed.
            d, _ = await ok(s, "write_stdin", session="py",
                            text="import time; time.sleep(0.5); print('slow')\n", until=r">>> $", yield_ms=20000)
            assert "slow\n" in d["output"] and d["matched"]
            # until that never matches: returns at yield_ms with matched=false.
            t0 = time.perf_counter()
            d, _ = await ok(s, "write_stdin", session="py", text="1+1\n", until="NEVER_PRINTED", yield_ms=300)
            assert d["matched"] is False and "2\n" in d["output"]
            assert 0.29 < time.perf_counter() - t0 < 5
            # wait_for_text on output, and the already_there flag.
            # (printed 0.3 s after the input, so the write_stdin below, which
            # returns at once, cannot have taken it)
            await ok(s, "write_stdin", session="py", text="time.sleep(0.3); print('marker' + '-x')\n", yield_ms=0)
            d, _ = await ok(s, "wait_for_text", session="py", patterns=["nope", "marker-x"], timeout_ms=10000)
            assert d["matched"] and d["index"] == 1 and d["pattern"] == "marker-x"
            d, _ = await ok(s, "wait_for_text", session="py", patterns=["zzz"], timeout_ms=100)
            assert d["matched"] is False and d["reason"] == "timeout"
            # Text that arrived before the call (unread) is found and flagged.
            # (printed 0.3 s after the start, so start_session's read, which
            # returns at once, cannot have taken it)
            e, _ = await ok(s, "start_session", command="sleep 0.3; echo first-line; echo second-line; exec cat",
                            yield_ms=0)
            w, _ = await ok(s, "wait_for_text", session=e["session"], patterns=["second-line"], source="screen",
                            timeout_ms=10000)
            assert w["matched"]  # the screen does not consume output
            w, _ = await ok(s, "wait_for_text", session=e["session"], patterns=["first-line"], timeout_ms=10000)
            assert w["matched"] and w["already_there"] is True, w
            w, _ = await ok(s, "wait_for_text", session=e["session"], patterns=["first-line"], timeout_ms=100)
            assert w["matched"] is False, "a match is consumed: it does not match again"
            assert d["matched"] is False and d["reason"] == "timeout"
            # read_output with dropped/remaining accounting.
            d, _ = await ok(s, "read_output", session="py", yield_ms=0)
            assert d["dropped_bytes"] == 0 and d["remaining_bytes"] == 0
            await ok(s, "write_stdin", session="py", text="exit()\n", yield_ms=5000, until="NEVER")
            info, _ = await ok(s, "session_info", session="py")
            assert info["state"] == "exited" and info["exit_code"] == 0

    run(go())


# ------------------------------------------------------------ TUI screens


def test_vim_through_send_keys_and_capture_screen():
    if not shutil.which("vim"):
        skipped("vim not installed")

    async def go():
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "note.txt")
            async with server() as s:
                d, _ = await ok(s, "start_session", argv=["vim", "-u", "NONE", "-N", "-n", path],
                                rows=20, cols=60, name="vim", yield_ms=0)
                d, _ = await ok(s, "wait_for_text", session="vim", patterns=["note.txt"], source="screen",
                                timeout_ms=10000)
                assert d["matched"] and d["alternate_screen"] is True
                d, _ = await ok(s, "send_keys", session="vim", keys=["i", "hello from mcp", "Escape"], yield_ms=0)
                # A full-screen program is answered with its rendered screen.
                assert d["view"] == "screen" and len(d["output"].splitlines()) >= 10, d
                d, _ = await ok(s, "wait_for_text", session="vim", patterns=["hello from mcp"], source="screen",
                                timeout_ms=10000)
                assert d["matched"]
                scr, text = await ok(s, "capture_screen", session="vim")
                assert scr["alternate_screen"] is True and (scr["rows"], scr["cols"]) == (20, 60)
                assert text.splitlines()[0] == "hello from mcp"
                assert scr["cursor"][0] == 0
                await ok(s, "resize_session", session="vim", rows=30, cols=100)
                scr, _ = await ok(s, "capture_screen", session="vim")
                assert (scr["rows"], scr["cols"]) == (30, 100)
                await ok(s, "send_keys", session="vim", keys=[":wq", "Enter"], yield_ms=5000, until="NEVER")
                info, _ = await ok(s, "session_info", session="vim")
                assert info["state"] == "exited" and info["exit_code"] == 0
            assert Path(path).read_text() == "hello from mcp\n"

    run(go())


def test_top_screen_wait_under_the_alternate_screen():
    if not shutil.which("top"):
        skipped("top not installed")

    async def go():
        async with server() as s:
            d, _ = await ok(s, "start_session", argv=["top", "-d", "0.5"], rows=24, cols=100, yield_ms=0)
            sid = d["session"]
            # (four rows after the header: a screen caught mid-redraw has fewer)
            d, _ = await ok(s, "wait_for_text", session=sid, patterns=[r"PID\s+USER.*(\n.*){4}"], regex=True,
                            source="screen", timeout_ms=10000)
            assert d["matched"] and d["screen"].count("\n") >= 10
            await ok(s, "send_keys", session=sid, keys=["q"], yield_ms=0)
            d, _ = await ok(s, "wait_for_text", session=sid, patterns=["NEVER"], source="screen", timeout_ms=10000)
            assert d["matched"] is False and d["reason"] == "exited"

    run(go())


# ------------------------------------------------------------- error paths


def test_every_error_path_is_a_tool_error_naming_the_bad_value():
    async def go():
        async with server() as s:
            for tool, extra in [("read_output", {}), ("write_stdin", {"text": "x"}), ("send_keys", {"keys": ["a"]}),
                                ("capture_screen", {}), ("session_info", {}), ("close_session", {}),
                                ("stop_session", {}), ("resize_session", {"rows": 5, "cols": 5}),
                                ("wait_for_text", {"patterns": ["a"]}), ("run_command", {"command": "true"})]:
                msg = await err(s, tool, session=999999, **extra)
                assert "999999" in msg and "unknown session" in msg, (tool, msg)
            msg = await err(s, "read_output", session="no-such-name")
            assert '"no-such-name"' in msg
            d, _ = await ok(s, "start_session", argv=["cat"], name="cat")
            msg = await err(s, "write_stdin", session="cat", text="x", until="(unclosed")
            assert "(unclosed" in msg
            msg = await err(s, "wait_for_text", session="cat", patterns=["ok", "[bad"], regex=True)
            assert "[bad" in msg
            msg = await err(s, "search_output", pattern="*oops", regex=True)
            assert "*oops" in msg
            msg = await err(s, "send_keys", session="cat", keys=["Enter", "Entr"])
            assert '"Entr"' in msg
            msg = await err(s, "write_stdin", session="cat", keys=["C-nope"])
            assert '"C-nope"' in msg
            msg = await err(s, "send_keys", session="cat", keys=[])
            assert "empty" in msg
            msg = await err(s, "resize_session", session="cat", rows=0, cols=80)
            assert "0x80" in msg
            msg = await err(s, "start_session", argv=["/no/such/program"])
            assert "/no/such/program" in msg
            msg = await err(s, "start_session", command="true", argv=["true"])
            assert "not both" in msg
            msg = await err(s, "start_session")
            assert "command" in msg
            msg = await err(s, "start_session", argv=["cat"], name="cat")
            assert '"cat"' in msg and "already" in msg
            msg = await err(s, "start_session", argv=["cat"], name="12")
            assert '"12"' in msg
            msg = await err(s, "start_session", argv=["cat"], cwd="/no/such/dir")
            assert "/no/such/dir" in msg
            msg = await err(s, "read_output", session="cat", max_output_bytes=10)
            assert "max_output_bytes 10" in msg
            msg = await err(s, "capture_screen", session="cat", start=10, end=2)
            assert "10" in msg
            msg = await err(s, "wait_for_text", session="cat", patterns=[])
            assert "empty" in msg
            # Arguments that do not fit the schema: rejected, the server lives on.
            for tool, args in [("run_command", {}), ("resize_session", {"session": "cat", "rows": "x", "cols": 1}),
                               ("write_stdin", {"session": "cat", "yield_ms": -5})]:
                try:
                    res = await s.call_tool(tool, args)
                except McpError as e:
                    assert str(e), tool
                else:
                    assert res.isError, (tool, args)
            d, _ = await ok(s, "run_command", command="echo still alive")
            assert d["output"] == "still alive\n"
            # A session that exited takes no more input, and says so.
            d, _ = await ok(s, "start_session", command="exit 5", yield_ms=2000)
            await ok(s, "wait_for_text", session=d["session"], patterns=["x"], timeout_ms=5000)
            msg = await err(s, "write_stdin", session=d["session"], text="x")
            assert "exited" in msg and str(d["session"]) in msg

    run(go())


# ---------------------------------------------------------- cap + pruning


def test_session_cap_prunes_exited_then_least_recently_used():
    async def go():
        async with server("--max-sessions", "3") as s:
            a, _ = await ok(s, "start_session", argv=["cat"], yield_ms=0)
            b, _ = await ok(s, "start_session", command="exit 0", yield_ms=0)
            await ok(s, "wait_for_text", session=b["session"], patterns=["x"], timeout_ms=5000)  # until it exits
            c, _ = await ok(s, "start_session", argv=["cat"], yield_ms=0)
            d, text = await ok(s, "start_session", argv=["cat"], yield_ms=0)
            assert d["pruned"] == [b["session"]], "the exited session goes first"
            assert "cap" in text
            await ok(s, "session_info", session=a["session"])  # a is now more recent than c
            e, _ = await ok(s, "start_session", argv=["cat"], yield_ms=0)
            assert e["pruned"] == [c["session"]], "then the least recently used"
            assert pid_gone_within(c["pid"], 10), "a pruned session's process is reaped"
            lst, _ = await ok(s, "list_sessions")
            ids = sorted(x["session"] for x in lst["sessions"])
            assert ids == sorted([a["session"], d["session"], e["session"]])
            assert lst["max_sessions"] == 3
            msg = await err(s, "read_output", session=c["session"])
            assert str(c["session"]) in msg

    run(go())


# ------------------------------------------------------ no orphans, audit


def test_client_disconnect_leaves_no_process_behind():
    async def go():
        log = tempfile.TemporaryFile(mode="w+")
        async with server(errlog=log) as s:
            pids = []
            d, _ = await ok(s, "start_session", command="sleep 1000", yield_ms=0)
            pids.append(d["pid"])
            d, _ = await ok(s, "start_session", command="sleep 1000 & sleep 1000", yield_ms=0)
            pids.append(d["pid"])
            d, _ = await ok(s, "run_command", command="echo $$")
            pids.append(int(d["output"]))
            d, _ = await ok(s, "run_command", command="sleep 1000 & echo $!")
            pids.append(int(d["output"].split()[-1]))  # after bash's "[1] PID" job line
            d, _ = await ok(s, "run_command", command="nohup sleep 1000 >/dev/null 2>&1 & echo $!")
            pids.append(int(d["output"].split()[-1]))
            d, _ = await ok(s, "write_stdin", session=d["session"], text="secret-password\n", yield_ms=0)
            servers = server_children()
            assert len(servers) == 1, servers
        # stdin closed: the server closes every session and exits.
        assert pid_gone_within(servers[0], 10), "server did not exit on stdin EOF"
        for pid in pids:
            assert pid_gone_within(pid, 10), f"process {pid} outlived the server"
        log.seek(0)
        audit = log.read()
        assert "tool=write_stdin" in audit and "tool=run_command" in audit
        assert "secret-password" not in audit and "<16 bytes sha256:" in audit
        assert "closed 3 session(s)" in audit  # two started + the shell

    run(go())


def test_sigterm_closes_every_session():
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([BIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def send(msg):
            proc.stdin.write((json.dumps(msg) + "\n").encode())
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        try:
            r = send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "0"}}})
            assert r["result"]["serverInfo"]["name"] == "bgterm-mcp"
            proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
            r = send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "start_session", "arguments": {"command": "sleep 1000", "yield_ms": 0}}})
            pid = r["result"]["structuredContent"]["pid"]
            proc.send_signal(sig)
            assert proc.wait(10) == 0
            assert pid_gone_within(pid, 10), f"session process survived {sig.name}"
            assert b"closed 1 session(s)" in proc.stderr.read()
        finally:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ HTTP


@contextlib.contextmanager
def http_server(*extra):
    token = "test-token-0123456789abcdef"
    proc = subprocess.Popen([BIN, "--http", "127.0.0.1:0", "--token", token, *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 10
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            m = re.search(r"at (http://\S+/mcp)", line)
            url = m and m.group(1)
        assert url, "the HTTP server did not announce its address"
        yield url, token
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        finally:
            proc.kill()


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def test_http_needs_the_token_checks_origin_and_works_with_it():
    with http_server() as (url, token):
        auth = {"Authorization": f"Bearer {token}"}
        r = httpx.post(url, json=INIT, headers=JSON_HEADERS, timeout=10)
        assert r.status_code == 401
        r = httpx.post(url, json=INIT, headers={**JSON_HEADERS, "Authorization": "Bearer wrong-token-xxxxxxxx"},
                       timeout=10)
        assert r.status_code == 401
        r = httpx.post(url, json=INIT, headers={**JSON_HEADERS, **auth, "Origin": "https://evil.example"},
                       timeout=10)
        assert r.status_code == 403
        r = httpx.post(url, json=INIT, headers={**JSON_HEADERS, **auth, "Host": "evil.example"}, timeout=10)
        assert r.status_code == 403
        r = httpx.post(url, content=b"x" * (2 << 20), headers={**JSON_HEADERS, **auth}, timeout=10)
        assert r.status_code == 413
        r = httpx.post(url, json=INIT, headers={**JSON_HEADERS, **auth, "Origin": "http://localhost:1234"},
                       timeout=10)
        assert r.status_code == 200

        async def go():
            async with httpx.AsyncClient(headers=auth, timeout=30) as client, \
                    streamable_http_client(url, http_client=client) as streams:
                async with ClientSession(streams[0], streams[1]) as s:
                    await s.initialize()
                    names = {t.name for t in (await s.list_tools()).tools}
                    assert names == TOOLS
                    d, text = await ok(s, "run_command", command="echo over http")
                    assert text == "over http\n" and d["exit_code"] == 0

        run(go())


def test_http_refuses_a_non_loopback_address_without_allow_remote():
    r = subprocess.run([BIN, "--http", "0.0.0.0:0"], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "--allow-remote" in r.stderr


def test_guard_rails_allow_deny_and_cwd_root():
    async def go():
        with tempfile.TemporaryDirectory() as root:
            os.mkdir(os.path.join(root, "sub"))
            async with server("--allow", "cat,bash,sh", "--deny", "sh", "--cwd-root", root) as s:
                msg = await err(s, "start_session", argv=["python3"])
                assert '"python3"' in msg and "allow" in msg
                msg = await err(s, "start_session", command="echo hi")
                assert '"sh"' in msg and "denied" in msg
                msg = await err(s, "start_session", argv=["cat"], cwd="/")
                assert "outside" in msg
                await ok(s, "start_session", argv=["cat"], cwd="sub")
                d, _ = await ok(s, "run_command", command="pwd")
                assert d["output"] == os.path.realpath(root) + "\n"

    run(go())


def test_every_wait_ends_by_the_server_ceiling():
    async def go():
        async with server("--max-wait-ms", "500") as s:
            for tool, args in [
                ("run_command", {"command": "sleep 3", "timeout_ms": 60000}),
                ("read_output", {"session": "shell", "yield_ms": 60000}),
            ]:
                t0 = time.perf_counter()
                d, _ = await ok(s, tool, **args)
                took = time.perf_counter() - t0
                assert 0.45 < took < 3, (tool, took)
            assert d["command_running"] is True
            c, _ = await ok(s, "start_session", argv=["cat"], yield_ms=0)
            for tool, args in [
                ("write_stdin", {"session": c["session"], "text": "x", "until": "NEVER", "yield_ms": 60000}),
                ("wait_for_text", {"session": c["session"], "patterns": ["NEVER"], "timeout_ms": 60000}),
                ("wait_for_text", {"session": c["session"], "patterns": ["NEVER"], "source": "screen",
                                   "timeout_ms": 60000}),
            ]:
                t0 = time.perf_counter()
                await ok(s, tool, **args)
                took = time.perf_counter() - t0
                assert 0.45 < took < 3, (tool, took)

    run(go())


def test_search_stop_and_close():
    async def go():
        async with server() as s:
            d, _ = await ok(s, "run_command", command="echo needle-123; echo hay")
            hits, text = await ok(s, "search_output", pattern="needle-\\d+", regex=True)
            assert any(h["session"] == d["session"] and h["text"].startswith("needle-123") for h in hits["hits"]), hits
            assert hits["total"] >= 1 and "needle-123" in text
            none, text = await ok(s, "search_output", pattern="not-there-at-all", session=d["session"])
            assert none["total"] == 0 and "no hits" in text
            sl, _ = await ok(s, "start_session", argv=["sleep", "100"], yield_ms=0)
            st, _ = await ok(s, "stop_session", session=sl["session"], grace_ms=5000)
            assert st["outcome"] == "terminated" and st["signal"] == 15, st
            info, _ = await ok(s, "session_info", session=sl["session"])
            assert info["state"] == "exited" and info["signal"] == 15
            trap, _ = await ok(s, "start_session", command="trap '' TERM; echo armed; exec sleep 100",
                               until="armed", yield_ms=10000)
            st, _ = await ok(s, "stop_session", session=trap["session"], grace_ms=200)
            assert st["outcome"] == "killed" and st["signal"] == 9, st
            cl, _ = await ok(s, "close_session", session=sl["session"])
            assert cl["signal"] == 15
            await ok(s, "close_session", session=trap["session"])  # reaps it (kept until closed)
            assert pid_gone_within(trap["pid"], 10) and pid_gone_within(sl["pid"], 10)
            lst, _ = await ok(s, "list_sessions")
            assert sl["session"] not in [x["session"] for x in lst["sessions"]]

    run(go())


def test_disconnect_with_a_call_still_waiting_ends_it_at_once():
    proc = subprocess.Popen([BIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def send(msg):
        proc.stdin.write((json.dumps(msg) + "\n").encode())
        proc.stdin.flush()

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "t", "version": "0"}}})
        assert json.loads(proc.stdout.readline())["id"] == 1
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
              "params": {"name": "start_session", "arguments": {"command": "echo up; exec sleep 1000",
                                                                "until": "up", "yield_ms": 10000}}})
        started = json.loads(proc.stdout.readline())["result"]["structuredContent"]
        pid = started["pid"]
        # A call that waits 20 s; the client goes away while it waits (the
        # answer to a later call shows the server has taken it).
        send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
              "params": {"name": "wait_for_text", "arguments": {"session": started["session"], "patterns": ["never"],
                                                                "timeout_ms": 20000}}})
        send({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
              "params": {"name": "list_sessions", "arguments": {}}})
        assert json.loads(proc.stdout.readline())["id"] == 4  # id 3 is still waiting
        t0 = time.monotonic()
        proc.stdin.close()
        assert proc.wait(10) == 0
        assert time.monotonic() - t0 < 3, "the waiting call held the shutdown"
        assert pid_gone_within(pid, 10)
    finally:
        proc.kill()
        proc.wait()
