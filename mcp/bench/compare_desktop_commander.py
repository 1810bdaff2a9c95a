#!/usr/bin/env python3
"""bgterm-mcp against Desktop Commander (@wonderwhy-er/desktop-commander), side
by side: one MCP client (the Python SDK), one process, the same scenarios on
each server, each with the tools that server offers for them; the whole run
is repeated (--runs, default 2) and every run is reported.

Scenarios:
1. REPL turns: start python3 as an interactive session, 50 turns alternating
   `print(i*i)` and `i*i`, then four harder inputs (output that looks like a
   prompt, blank lines in output, a traceback, a 5000-character line).
2. Shell commands: 50 x `echo $i`, then five with tabs, `!` and non-zero
   exit codes, then 8 x `echo $i` right after a REPL is killed with the
   server's own tool.
3. TUIs: vim on a new file (start, type a word, quit) and interactive top.
4. Big output: `seq 1 200000`, then lines 100000-100010 of it.

"Exact" is strict: the text content the model receives is exactly the reply
(`"49\n"`) with no echo, no prompt, nothing around it. Desktop Commander
always wraps a reply in fixed framing (a "Process started with PID ..." or
"Input executed in process ..." header, a status line after it), so for it
the table also counts the payload inside that framing, compared exactly
with the reply as it presents replies (it trims them: `"49"`). bgterm-mcp's
only framing is its "[exit code N]" line after a failed command, which is
part of the expected text. Exit codes count where the server reports them.

Measured per server: initialize time, tools/list size, per-call latency
(p50/p99) per scenario, and bytes of the text content returned to the model.

Not part of CI. Setup (Desktop Commander runs with HOME pointing to a
temporary directory, its telemetry off in both its config and
DESKTOP_COMMANDER_DISABLE_TELEMETRY, its feature-flag fetch pointed at a
closed loopback port; --ignore-scripts skips its install-tracking
postinstall and the puppeteer browser download):

    cargo build --release -p bgterm-mcp
    PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix /tmp/dc --ignore-scripts \\
        @wonderwhy-er/desktop-commander@0.2.52
    python3 -m pip install 'mcp==1.30.0'
    python3 mcp/bench/compare_desktop_commander.py

The raw numbers and every answer's text are written to --json (default
/tmp/bgterm-vs-desktop-commander.json).
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench_common import pct, text_of, total_bytes

ROOT = Path(__file__).resolve().parents[2]
DC_ENTRY = "/tmp/dc/node_modules/@wonderwhy-er/desktop-commander/dist/index.js"
N = 50
SEQ = 200000
PAGE_FROM, PAGE_COUNT = 100000, 11
AFTER_KILL = 8
# One interpreter for both (a login shell may not see a PATH shim).
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else shutil.which("python3") or "python3"

# (input, exact reply). The 50 counted turns come first.
REPL_TURNS = [(f"print({i}*{i})" if i % 2 == 0 else f"{i}*{i}", f"{i * i}\n") for i in range(N)]
REPL_HARD = [
    ("print('>>> x')", ">>> x\n"),
    ("print('a\\n\\nb')", "a\n\nb\n"),
    ("1/0", 'Traceback (most recent call last):\n  File "<stdin>", line 1, in <module>\n'
            "ZeroDivisionError: division by zero\n"),
    ("print('x'*5000)", "x" * 5000 + "\n"),
]
# (command, output, exit code)
SHELL_HARD = [
    ("printf 'a\\tb\\n'", "a\tb\n", 0),
    ("echo 'wow!'", "wow!\n", 0),
    ('echo "x!y"', "x!y\n", 0),
    ("sh -c 'echo err >&2; exit 3'", "err\n", 3),
    ("false", "", 1),
]




def tui_view(text, name):
    """What a TUI answer shows: a rendered screen is plain text (no escape
    sequences) with vim's `~` rows as lines of their own, showing `name`."""
    tildes = sum(1 for line in text.splitlines() if line.rstrip() == "~")
    return {
        "has_escape_sequences": "\x1b" in text,
        "tilde_rows": tildes,
        "shows": name in text,
        "rendered": "\x1b" not in text and tildes >= 10 and name in text,
    }


class Recorder:
    def __init__(self):
        self.calls = {}

    async def call(self, s, label, tool, args):
        t0 = time.perf_counter()
        res = await s.call_tool(tool, args)
        ms = (time.perf_counter() - t0) * 1e3
        self.calls.setdefault(label, []).append(
            {"tool": tool, "ms": ms, "text_bytes": len(text_of(res).encode()), "total_bytes": total_bytes(res),
             "error": bool(res.isError)})
        return res, ms


async def scenario(params, adapter, out, work):
    rec = Recorder()
    log = open(os.devnull, "w")
    t_spawn = time.perf_counter()
    try:
        async with stdio_client(params, errlog=log) as (r, w):
            async with ClientSession(r, w) as s:
                t0 = time.perf_counter()
                await s.initialize()
                out["initialize_ms"] = (time.perf_counter() - t0) * 1e3
                out["spawn_to_ready_ms"] = (time.perf_counter() - t_spawn) * 1e3
                tools = await s.list_tools()
                out["tools"] = len(tools.tools)
                out["tools_list_bytes"] = len(json.dumps(
                    [t.model_dump(mode="json", exclude_none=True) for t in tools.tools]))
                await repl_scenario(s, rec, adapter, out)
                await shell_scenario(s, rec, adapter, out, work)
                await adapter.vim(s, rec, out, work)
                await adapter.top(s, rec, out)
                await big_scenario(s, rec, adapter, out)
    except BaseExceptionGroup as eg:
        # Desktop Commander may still send a log notification while the
        # client shuts down; nothing measured is lost.
        if not all(isinstance(e, anyio.BrokenResourceError) for e in eg.exceptions):
            raise
    finally:
        log.close()
    for label, calls in rec.calls.items():
        ms = [c["ms"] for c in calls]
        out.setdefault("calls", {})[label] = {
            "n": len(calls),
            "p50_ms": pct(ms, 50),
            "p99_ms": pct(ms, 99),
            "worst_ms": max(ms),
            "text_bytes_median": sorted(c["text_bytes"] for c in calls)[len(calls) // 2],
            "text_bytes_sum": sum(c["text_bytes"] for c in calls),
            "total_bytes_median": sorted(c["total_bytes"] for c in calls)[len(calls) // 2],
            "errors": sum(c["error"] for c in calls),
        }
        if len(calls) <= 20:
            out["calls"][label]["each"] = [[c["tool"], round(c["ms"], 2), c["text_bytes"]] for c in calls]


async def repl_scenario(s, rec, adapter, out):
    _, ms = await adapter.repl_start(s, rec)
    out["repl_start_ms"] = ms
    whole = payload = 0
    answers = []
    for inp, want in REPL_TURNS:
        res, _ = await rec.call(s, "repl_turn", *adapter.repl_call(inp))
        text = text_of(res)
        answers.append(text)
        whole += text == want
        payload += adapter.repl_payload(text) == adapter.repl_form(want)
    out["repl_exact_whole"] = whole
    out["repl_exact_payload"] = payload
    out["repl_answer_7"] = answers[7]
    hard = []
    for inp, want in REPL_HARD:
        res, _ = await rec.call(s, "repl_hard", *adapter.repl_call(inp))
        text = text_of(res)
        hard.append({"input": inp, "answer": text if len(text) < 400 else text[:200] + "...",
                     "exact_whole": text == want,
                     "exact_payload": adapter.repl_payload(text) == adapter.repl_form(want)})
    out["repl_hard"] = hard
    await adapter.repl_close(s)


async def shell_scenario(s, rec, adapter, out, work):
    await adapter.shell_start(s, rec, work)
    whole = payload = 0
    answers = []
    for i in range(N):
        res, _ = await rec.call(s, "echo", *adapter.run_call(f"echo {i}"))
        text = text_of(res)
        answers.append(text)
        whole += text == f"{i}\n"
        payload += adapter.run_payload(text) == f"{i}\n"
    out["echo_exact_whole"] = whole
    out["echo_exact_payload"] = payload
    out["echo_not_exact"] = {i: a for i, a in enumerate(answers) if adapter.run_payload(a) != f"{i}\n"}
    out["echo_answer_7"] = answers[7]
    hard = []
    for cmd, want, code in SHELL_HARD:
        res, _ = await rec.call(s, "shell_hard", *adapter.run_call(cmd))
        text = text_of(res)
        got_code, code_in_answer = await adapter.exit_code(s, rec, res)
        hard.append({"command": cmd, "answer": text, "exact_whole": text == adapter.run_expected(want, code),
                     "exact_payload": adapter.run_payload(text) == want,
                     "exit_code": got_code, "exit_code_right": got_code == code,
                     "exit_code_in_answer": code_in_answer})
    out["shell_hard"] = hard
    # Right after a REPL is killed with the server's own tool.
    await adapter.repl_start(s, rec)
    await adapter.repl_kill(s)
    after = 0
    for i in range(AFTER_KILL):
        res, _ = await rec.call(s, "echo_after_kill", *adapter.run_call(f"echo {i}"))
        after += adapter.run_payload(text_of(res)) == f"{i}\n"
    out["echo_after_kill_exact"] = after


async def big_scenario(s, rec, adapter, out):
    res, ms = await rec.call(s, "big", *adapter.run_call(f"seq 1 {SEQ}"))
    text = text_of(res)
    out["big_ms"] = ms
    out["big_text_bytes"] = len(text.encode())
    out["big_says_how"] = adapter.says_how_to_page(text)
    out["big_answer_head"] = text[:160]
    out["big_answer_tail"] = text[-400:]
    res, ms = await rec.call(s, "page", *adapter.page_call(res, PAGE_FROM, PAGE_COUNT))
    text = text_of(res)
    want = "".join(f"{n}\n" for n in range(PAGE_FROM, PAGE_FROM + PAGE_COUNT))
    out["page_ms"] = ms
    out["page_answer"] = text
    out["page_exact_whole"] = text == want
    out["page_exact_payload"] = adapter.page_payload(text) == want


class Bgterm:
    name = "bgterm-mcp"

    def __init__(self):
        self.repl = self.shell = None

    # REPL: the whole text is the reply.
    async def repl_start(self, s, rec):
        res, ms = await rec.call(s, "repl_start", "start_session", {"argv": [PYTHON]})
        self.repl = res.structuredContent["session"]
        return res, ms

    def repl_call(self, inp):
        return "write_stdin", {"session": self.repl, "text": inp}

    def repl_payload(self, text):
        return text

    def repl_form(self, want):
        return want

    async def repl_close(self, s):
        await s.call_tool("close_session", {"session": self.repl})

    async def repl_kill(self, s):
        await s.call_tool("close_session", {"session": self.repl})

    # Shell: the whole text is the output, then "[exit code N]" if not 0.
    async def shell_start(self, s, rec, work):
        res, _ = await rec.call(s, "shell_start", "run_command", {"command": "true", "cwd": work})
        self.shell = res.structuredContent["session"]

    def run_call(self, command):
        return "run_command", {"command": command, "timeout_ms": 30000}

    def run_expected(self, output, code):
        if code == 0:
            return output
        return output + ("" if output == "" or output.endswith("\n") else "\n") + f"[exit code {code}]"

    def run_payload(self, text):
        return re.sub(r"\[exit code -?\d+\]$", "", text)

    async def exit_code(self, s, rec, res):
        m = re.search(r"\[exit code (-?\d+)\]$", text_of(res))
        return (int(m.group(1)) if m else 0), True

    def says_how_to_page(self, text):
        return bool(re.search(r"read_output session=\d+ from_line=\d+ line_count=\d+", text))

    def page_call(self, res, first, count):
        return "read_output", {"session": self.shell, "from_line": first, "line_count": count}

    def page_payload(self, text):
        return re.sub(r"\[lines \d+-\d+ of \d+ of the output of .*\]$", "", text)

    # TUIs: started on their own terminal; answers are the rendered screen.
    async def vim(self, s, rec, out, work):
        name = "bgterm-note.txt"
        res, _ = await rec.call(s, "tui", "start_session",
                                {"argv": ["vim", "-u", "NONE", "-N", "-n", os.path.join(work, name)],
                                 "yield_ms": 0})
        sid = res.structuredContent["session"]
        # vim writes the file name on the last row before the `~` rows:
        # wait for the last `~` row above it, or a capture may catch the
        # screen half drawn.
        res, _ = await rec.call(s, "tui", "wait_for_text",
                                {"session": sid, "patterns": [r'~ *\n".*' + re.escape(name)], "regex": True,
                                 "source": "screen", "timeout_ms": 10000})
        out["vim_wait_found"] = bool(res.structuredContent.get("matched"))
        res, _ = await rec.call(s, "tui", "capture_screen", {"session": sid})
        out["vim_start"] = tui_view(text_of(res), name)
        res, _ = await rec.call(s, "tui", "send_keys", {"session": sid, "keys": ["i", "hello", "Escape"]})
        text = text_of(res)
        out["vim_typed_answer"] = text
        out["vim_typed"] = tui_view(text, "hello")
        await rec.call(s, "tui", "send_keys", {"session": sid, "keys": [":q!", "Enter"]})
        await s.call_tool("close_session", {"session": sid})

    async def top(self, s, rec, out):
        res, _ = await rec.call(s, "tui", "start_session", {"argv": ["top"], "yield_ms": 0})
        sid = res.structuredContent["session"]
        res, _ = await rec.call(s, "tui", "wait_for_text",
                                {"session": sid, "patterns": ["load average"], "source": "screen",
                                 "timeout_ms": 10000})
        res, _ = await rec.call(s, "tui", "capture_screen", {"session": sid})
        text = text_of(res)
        out["top_answer"] = text[:300]
        out["top_rendered"] = "\x1b" not in text and "load average" in text and "PID" in text
        await rec.call(s, "tui", "send_keys", {"session": sid, "keys": ["q"]})
        await s.call_tool("close_session", {"session": sid})


class DesktopCommander:
    """Its tools: start_process (a new `bash -l -c` on pipes for each
    command), interact_with_process, read_process_output, force_terminate.
    Waiting is its own: start_process's timeout_ms (it returns early at the
    process's exit or a detected prompt), interact_with_process's
    wait_for_prompt (default on, 8000 ms)."""

    name = "Desktop Commander"
    STARTED = re.compile(r"\AProcess started with PID (\d+) \(shell: [^)]*\)\nInitial output:\n(.*)\Z", re.S)
    EXECUTED = re.compile(r"\A✅ Input executed in process \d+:\n\n📤 Output:\n(.*?)"
                          r"(?:\n\n\n🔄 Process \d+ is waiting for input \(detected: \"[^\"]*\"\))?\Z", re.S)
    PAGE = re.compile(r"\A\[Reading \d+ lines from line \d+ \(total: \d+ lines, \d+ remaining\)\]\n\n(.*?)"
                      r"(?:\n✅ Process completed with exit code -?\d+ \(runtime: [\d.]+s\))?\Z", re.S)

    def __init__(self):
        self.repl = None

    def pid(self, res):
        m = self.STARTED.match(text_of(res))
        return int(m.group(1)) if m else None

    async def repl_start(self, s, rec):
        res, ms = await rec.call(s, "repl_start", "start_process", {"command": f"{PYTHON} -i", "timeout_ms": 10000})
        self.repl = self.pid(res)
        return res, ms

    def repl_call(self, inp):
        return "interact_with_process", {"pid": self.repl, "input": inp}

    def repl_payload(self, text):
        m = self.EXECUTED.match(text)
        return m.group(1) if m else None

    def repl_form(self, want):
        return want.strip()  # it trims every reply

    async def repl_close(self, s):
        # exit() ends it; with no prompt after it, the call waits out timeout_ms.
        await s.call_tool("interact_with_process", {"pid": self.repl, "input": "exit()", "timeout_ms": 3000})

    async def repl_kill(self, s):
        # SIGINT, then SIGKILL a second later if it is still there.
        await s.call_tool("force_terminate", {"pid": self.repl})

    async def shell_start(self, s, rec, work):
        pass  # no shell to start: each start_process is a new shell

    def run_call(self, command):
        return "start_process", {"command": command, "timeout_ms": 30000}

    def run_expected(self, output, code):
        return output

    def run_payload(self, text):
        m = self.STARTED.match(text)
        return m.group(2) if m else None

    async def exit_code(self, s, rec, res):
        # Not in start_process's answer: read_process_output on the finished
        # process says it.
        m = re.search(r"exit code (-?\d+)", text_of(res))
        if m:
            return int(m.group(1)), True
        pid = self.pid(res)
        if pid is None:
            return None, False
        r, _ = await rec.call(s, "exit_code_read", "read_process_output", {"pid": pid, "timeout_ms": 1000})
        m = re.search(r"Process completed with exit code (-?\d+)", text_of(r))
        return (int(m.group(1)) if m else None), False

    def says_how_to_page(self, text):
        return "read_process_output" in text

    def page_call(self, res, first, count):
        return "read_process_output", {"pid": self.pid(res), "offset": first - 1, "length": count}

    def page_payload(self, text):
        m = self.PAGE.match(text)
        return m.group(1) + "\n" if m else None

    async def vim(self, s, rec, out, work):
        name = "dc-note.txt"
        res, _ = await rec.call(s, "tui", "start_process",
                                {"command": f"vim -u NONE -N -n {os.path.join(work, name)}", "timeout_ms": 3000})
        pid = self.pid(res)
        out["vim_start"] = tui_view(text_of(res), name)
        res, _ = await rec.call(s, "tui", "interact_with_process",
                                {"pid": pid, "input": "ihello\x1b", "timeout_ms": 2000})
        text = text_of(res)
        out["vim_typed_answer"] = text
        out["vim_typed"] = tui_view(text, "hello")
        await rec.call(s, "tui", "interact_with_process", {"pid": pid, "input": ":q!", "timeout_ms": 2000})
        await s.call_tool("force_terminate", {"pid": pid})

    async def top(self, s, rec, out):
        res, _ = await rec.call(s, "tui", "start_process", {"command": "top", "timeout_ms": 3000})
        text = text_of(res)
        out["top_answer"] = text[:300]
        out["top_rendered"] = "\x1b" not in text and "load average" in text and "PID" in text
        pid = self.pid(res)
        if pid is not None:
            await s.call_tool("force_terminate", {"pid": pid})


def fmt(x, nd=1):
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def rows(r):
    c = r["calls"]
    hard_r = r["repl_hard"]
    hard_s = r["shell_hard"]

    def lat(label):
        return f'{fmt(c[label]["p50_ms"], 2)} / {fmt(c[label]["p99_ms"], 2)}'

    def vim(v):
        if v["rendered"]:
            return f'yes ({v["tilde_rows"]} `~` rows)'
        return "no: raw escape sequences" if v["has_escape_sequences"] else "no"

    return [
        ("initialize (ms)", fmt(r["initialize_ms"])),
        ("tools / tools/list bytes", f'{r["tools"]} / {r["tools_list_bytes"]}'),
        ("1. start python3 (ms)", fmt(r["repl_start_ms"])),
        (f"1. REPL turn p50 / p99 (ms, n={N})", lat("repl_turn")),
        ("1. REPL exact: whole text", f'{r["repl_exact_whole"]}/{N}'),
        ("1. REPL exact: payload in its framing", f'{r["repl_exact_payload"]}/{N}'),
        ("1. REPL answer text bytes (median)", c["repl_turn"]["text_bytes_median"]),
        ("1. harder inputs exact (whole / payload)",
         f'{sum(h["exact_whole"] for h in hard_r)}/{len(hard_r)} / {sum(h["exact_payload"] for h in hard_r)}/{len(hard_r)}'),
        (f"2. `echo $i` p50 / p99 (ms, n={N})", lat("echo")),
        ("2. echo exact: whole text", f'{r["echo_exact_whole"]}/{N}'),
        ("2. echo exact: payload in its framing", f'{r["echo_exact_payload"]}/{N}'),
        ("2. echo answer text bytes (median)", c["echo"]["text_bytes_median"]),
        ("2. tabs, `!`, exit codes: output exact (whole / payload)",
         f'{sum(h["exact_whole"] for h in hard_s)}/{len(hard_s)} / {sum(h["exact_payload"] for h in hard_s)}/{len(hard_s)}'),
        (f"2. echo exact, {AFTER_KILL} right after killing a REPL (close_session / force_terminate)",
         f'{r["echo_after_kill_exact"]}/{AFTER_KILL}'),
        ("2. exit code right (in the answer itself)",
         f'{sum(h["exit_code_right"] for h in hard_s)}/{len(hard_s)} '
         f'({sum(h["exit_code_in_answer"] for h in hard_s)}/{len(hard_s)})'),
        ("3. TUI calls p50 / p99 (ms)", lat("tui")),
        ("3. vim: screen at start shows the file name (capture_screen / start answer)", vim(r["vim_start"])),
        ("3. vim: answer to `i hello Esc` is the rendered screen", vim(r["vim_typed"])),
        ("3. interactive top rendered", "yes" if r["top_rendered"] else
         f'no: {json.dumps(r["top_answer"].strip().splitlines()[-1][:60])}'),
        (f"4. `seq 1 {SEQ}` (ms)", fmt(r["big_ms"])),
        (f"4. `seq 1 {SEQ}` answer text bytes", r["big_text_bytes"]),
        ("4. answer says how to read the rest", "yes" if r["big_says_how"] else "no"),
        (f"4. lines {PAGE_FROM}-{PAGE_FROM + PAGE_COUNT - 1} (ms)", fmt(r["page_ms"], 2)),
        ("4. page exact: whole text / lines in its framing",
         f'{"yes" if r["page_exact_whole"] else "no"} / {"yes" if r["page_exact_payload"] else "no"}'),
    ]


def table(runs):
    header = "| measure |"
    sep = "|---|"
    for i, _ in enumerate(runs, 1):
        header += f" bgterm-mcp (run {i}) | Desktop Commander (run {i}) |"
        sep += "---|---|"
    cols = []
    for run in runs:
        cols.append(rows(run["bgterm-mcp"]))
        cols.append(rows(run["Desktop Commander"]))
    lines = [header, sep]
    for k, (label, _) in enumerate(cols[0]):
        lines.append(f"| {label} | " + " | ".join(str(col[k][1]) for col in cols) + " |")
    last = runs[-1]
    lines.append("")
    for name in ("bgterm-mcp", "Desktop Commander"):
        r = last[name]
        lines.append(f"{name}: REPL answer to `7*7`: {json.dumps(r['repl_answer_7'])}")
        lines.append(f"{name}: answer to `echo 7`: {json.dumps(r['echo_answer_7'])}")
        lines.append(f"{name}: page answer: {json.dumps(r['page_answer'][-160:])}")
        for h in r["repl_hard"]:
            if not h["exact_payload"]:
                lines.append(f"{name}: REPL {h['input']} -> {json.dumps(h['answer'][:160])}")
        for h in r["shell_hard"]:
            if not (h["exact_payload"] and h["exit_code_right"]):
                lines.append(f"{name}: shell {h['command']} -> {json.dumps(h['answer'][:160])} "
                             f"(exit code {h['exit_code']})")
    return "\n".join(lines)


def dc_params(node, entry, home, work):
    cfg = Path(home) / ".claude-server-commander"
    cfg.mkdir(parents=True)
    (cfg / "config.json").write_text(json.dumps({
        "telemetryEnabled": False, "defaultShell": "/bin/bash", "allowedDirectories": [],
        "fileReadLineLimit": 1000, "fileWriteLineLimit": 50,
        "pendingWelcomeOnboarding": False, "welcomeOnboardingEligible": False,
    }))
    env = dict(os.environ, HOME=home, SHELL="/bin/bash", DESKTOP_COMMANDER_DISABLE_TELEMETRY="1",
               DC_FLAG_URL="http://127.0.0.1:9/flags.json", PUPPETEER_SKIP_DOWNLOAD="1")
    return StdioServerParameters(command=node, args=[entry, "--no-onboarding"], env=env, cwd=work)


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bgterm-mcp", default=str(ROOT / "target" / "release" / "bgterm-mcp"))
    ap.add_argument("--dc-entry", default=DC_ENTRY, help="Desktop Commander's dist/index.js")
    ap.add_argument("--node", default=shutil.which("node") or "node")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json", default="/tmp/bgterm-vs-desktop-commander.json")
    a = ap.parse_args()
    a.bgterm_mcp = os.path.abspath(a.bgterm_mcp)
    if not os.access(a.bgterm_mcp, os.X_OK):
        sys.exit(f"not found or not executable: {a.bgterm_mcp}")
    if not os.path.exists(a.dc_entry):
        sys.exit(f"Desktop Commander not found: {a.dc_entry} (see the setup in --help)")
    for prog in ("vim", "top", "python3"):
        if not shutil.which(prog):
            sys.exit(f"needs {prog}")

    runs = []
    for _ in range(a.runs):
        work = tempfile.mkdtemp(prefix="bgterm-bench-")
        home = tempfile.mkdtemp(prefix="bgterm-bench-dc-home-")
        b, d = {}, {}
        try:
            await scenario(StdioServerParameters(command=a.bgterm_mcp, args=[], cwd=work), Bgterm(), b, work)
            await scenario(dc_params(a.node, a.dc_entry, home, work), DesktopCommander(), d, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)
        runs.append({"bgterm-mcp": b, "Desktop Commander": d})
    print(table(runs))
    Path(a.json).write_text(json.dumps({"runs": runs}, indent=1, default=str))
    print(f"\nraw numbers and answers: {a.json}")


if __name__ == "__main__":
    asyncio.run(main())
