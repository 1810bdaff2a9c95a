#!/usr/bin/env python3
"""bgterm-mcp against libtmux-mcp, side by side: one MCP client (the Python
SDK), one run, the same scenario on each server.

Scenario: initialize; list tools; start a shell; 50 x run_command "echo $i";
one slow command "sleep 1; echo done"; open vim on a file and wait for its
screen; capture the screen.

Measured per server: initialize time, tools/list size, per-call latency
(p50/p99/worst), whether each answer is exactly right, and the bytes each
answer returns to the model (the text content) and in all (the whole result).

Not part of CI. Setup (libtmux-mcp needs mcp 2.x, so it gets its own venv;
this client uses the mcp 1.x the tests use):

    cargo build --release -p bgterm-mcp
    python3 -m venv /tmp/libtmux-venv
    /tmp/libtmux-venv/bin/pip install 'libtmux-mcp==0.1.0a22'
    python3 mcp/bench/compare_libtmux.py --libtmux-mcp /tmp/libtmux-venv/bin/libtmux-mcp

libtmux-mcp runs against a private tmux server (its own socket in a
temporary TMUX_TMPDIR), which is killed at the end.
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench_common import pct, text_of, total_bytes

ROOT = Path(__file__).resolve().parents[2]
N = 50
SLEEP = 1.0




class Recorder:
    def __init__(self, name):
        self.name = name
        self.calls = {}

    async def call(self, s, label, tool, args):
        t0 = time.perf_counter()
        res = await s.call_tool(tool, args)
        ms = (time.perf_counter() - t0) * 1e3
        self.calls.setdefault(label, []).append(
            {"ms": ms, "text_bytes": len(text_of(res).encode()), "total_bytes": total_bytes(res), "res": res}
        )
        return res, ms


async def scenario(name, params, adapter, out, workdir):
    rec = Recorder(name)
    log = open(os.devnull, "w")
    t_spawn = time.perf_counter()
    async with stdio_client(params, errlog=log) as (r, w):
        async with ClientSession(r, w) as s:
            t0 = time.perf_counter()
            await s.initialize()
            out["initialize_ms"] = (time.perf_counter() - t0) * 1e3
            out["spawn_to_ready_ms"] = (time.perf_counter() - t_spawn) * 1e3
            tools = await s.list_tools()
            out["tools"] = len(tools.tools)
            out["tools_list_bytes"] = len(json.dumps([t.model_dump(mode="json", exclude_none=True) for t in tools.tools]))
            await adapter.start_shell(s, rec, workdir)
            exact = contains = 0
            for i in range(N):
                res, _ = await adapter.run(s, rec, "echo", f"echo {i}")
                got = adapter.output_of(res)
                exact += got == f"{i}\n"
                contains += str(i) in text_of(res)
            out["echo_exact"] = exact
            out["echo_contains"] = contains
            res, ms = await adapter.run(s, rec, "slow", f"sleep {SLEEP:g}; echo done")
            out["slow_ms"] = ms
            out["slow_ok"] = "done" in text_of(res)
            await adapter.tui(s, rec, out, workdir)
            await adapter.cleanup(s)
    log.close()
    for label, calls in rec.calls.items():
        ms = [c["ms"] for c in calls]
        out[label] = {
            "n": len(calls),
            "p50_ms": pct(ms, 50),
            "p99_ms": pct(ms, 99),
            "worst_ms": max(ms),
            "text_bytes_median": sorted(c["text_bytes"] for c in calls)[len(calls) // 2],
            "total_bytes_median": sorted(c["total_bytes"] for c in calls)[len(calls) // 2],
        }
    out["echo_7_answer"] = text_of(rec.calls["echo"][7]["res"])


class Bgterm:
    def output_of(self, res):
        return (res.structuredContent or {}).get("output")

    async def start_shell(self, s, rec, workdir):
        await rec.call(s, "start_shell", "run_command", {"command": "true", "cwd": workdir})

    async def run(self, s, rec, label, command):
        return await rec.call(s, label, "run_command", {"command": command, "timeout_ms": 30000})

    async def tui(self, s, rec, out, workdir):
        path = os.path.join(workdir, "bgterm-note.txt")
        res, t_start = await rec.call(s, "tui_start", "start_session",
                                      {"argv": ["vim", "-u", "NONE", "-N", "-n", path], "yield_ms": 0})
        sid = res.structuredContent["session"]
        res, t_wait = await rec.call(s, "tui_wait", "wait_for_text",
                                     {"session": sid, "patterns": ["bgterm-note.txt"], "source": "screen",
                                      "timeout_ms": 10000})
        out["tui_wait_found"] = bool(res.structuredContent.get("matched"))
        out["tui_ready_ms"] = t_start + t_wait
        res, _ = await rec.call(s, "tui_capture", "capture_screen", {"session": sid})
        out["tui_capture_ok"] = "bgterm-note.txt" in text_of(res) and res.structuredContent["alternate_screen"]
        await s.call_tool("close_session", {"session": sid})

    async def cleanup(self, s):
        pass


class Libtmux:
    session = "bench"

    def output_of(self, res):
        data = res.structuredContent or {}
        lines = data.get("output")
        return "\n".join(lines) + "\n" if isinstance(lines, list) else None

    async def start_shell(self, s, rec, workdir):
        await rec.call(s, "start_shell", "create_session", {"session_name": self.session, "start_directory": workdir})

    async def run(self, s, rec, label, command):
        return await rec.call(s, label, "run_command",
                              {"command": command, "session_name": self.session, "timeout": 30})

    async def tui(self, s, rec, out, workdir):
        path = os.path.join(workdir, "libtmux-note.txt")
        _, t_start = await rec.call(s, "tui_start", "send_keys",
                                    {"keys": f"vim -u NONE -N -n {path}", "session_name": self.session,
                                     "enter": True})
        res, t_wait = await rec.call(s, "tui_wait", "wait_for_text",
                                     {"patterns": ["libtmux-note.txt"], "session_name": self.session,
                                      "timeout": 10})
        data = res.structuredContent or {}
        out["tui_wait_found"] = bool(data.get("found"))
        out["tui_wait_outcome"] = data.get("outcome")
        out["tui_ready_ms"] = t_start + t_wait
        res, _ = await rec.call(s, "tui_capture", "capture_pane", {"session_name": self.session})
        out["tui_capture_ok"] = "libtmux-note.txt" in text_of(res)
        await s.call_tool("send_keys", {"keys": "Escape", "session_name": self.session})
        await s.call_tool("send_keys", {"keys": ":q!", "session_name": self.session, "enter": True})

    async def cleanup(self, s):
        pass


def fmt(x, nd=1):
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def table(b, l):
    rows = [
        ("initialize (ms)", fmt(b["initialize_ms"]), fmt(l["initialize_ms"])),
        ("spawn to ready (ms)", fmt(b["spawn_to_ready_ms"]), fmt(l["spawn_to_ready_ms"])),
        ("tools / tools/list bytes", f'{b["tools"]} / {b["tools_list_bytes"]}', f'{l["tools"]} / {l["tools_list_bytes"]}'),
        ("start a shell (ms)", fmt(b["start_shell"]["p50_ms"]), fmt(l["start_shell"]["p50_ms"])),
        (f"run_command echo p50 (ms, n={N})", fmt(b["echo"]["p50_ms"], 2), fmt(l["echo"]["p50_ms"], 2)),
        ("run_command echo p99 (ms)", fmt(b["echo"]["p99_ms"], 2), fmt(l["echo"]["p99_ms"], 2)),
        ("run_command echo worst (ms)", fmt(b["echo"]["worst_ms"], 2), fmt(l["echo"]["worst_ms"], 2)),
        ("echo answers exactly the output", f'{b["echo_exact"]}/{N}', f'{l["echo_exact"]}/{N}'),
        ("echo answers containing the output", f'{b["echo_contains"]}/{N}', f'{l["echo_contains"]}/{N}'),
        ("echo answer text bytes (median)", b["echo"]["text_bytes_median"], l["echo"]["text_bytes_median"]),
        ("echo answer total bytes (median)", b["echo"]["total_bytes_median"], l["echo"]["total_bytes_median"]),
        (f"`sleep {SLEEP:g}; echo done` (ms)", fmt(b["slow_ms"]), fmt(l["slow_ms"])),
        ("vim screen: wait found it", b["tui_wait_found"], f'{l["tui_wait_found"]} ({l.get("tui_wait_outcome")})'),
        ("vim: start + wait (ms)", fmt(b["tui_ready_ms"]), fmt(l["tui_ready_ms"])),
        ("vim: capture shows it", b["tui_capture_ok"], l["tui_capture_ok"]),
        ("vim capture bytes", b["tui_capture"]["text_bytes_median"], l["tui_capture"]["text_bytes_median"]),
    ]
    lines = ["| measure | bgterm-mcp | libtmux-mcp |", "|---|---|---|"]
    lines += [f"| {a} | {x} | {y} |" for a, x, y in rows]
    ratio_p50 = l["echo"]["p50_ms"] / b["echo"]["p50_ms"]
    ratio_p99 = l["echo"]["p99_ms"] / b["echo"]["p99_ms"]
    lines.append("")
    lines.append(f"run_command echo: p50 {ratio_p50:.0f}x lower, p99 {ratio_p99:.0f}x lower; "
                 f"slow command overshoot {b['slow_ms'] / 10 / SLEEP - 100:.2f}% (bgterm-mcp), "
                 f"{l['slow_ms'] / 10 / SLEEP - 100:.2f}% (libtmux-mcp)")
    lines.append(f'echo 7 answer, bgterm-mcp: {json.dumps(b["echo_7_answer"])}')
    lines.append(f'echo 7 answer, libtmux-mcp: {json.dumps(l["echo_7_answer"])}')
    return "\n".join(lines)


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bgterm-mcp", default=str(ROOT / "target" / "release" / "bgterm-mcp"))
    ap.add_argument("--libtmux-mcp", default=shutil.which("libtmux-mcp") or "/tmp/libtmux-venv/bin/libtmux-mcp")
    ap.add_argument("--json", help="also write the raw numbers here")
    a = ap.parse_args()
    for p in (a.bgterm_mcp, a.libtmux_mcp):
        if not os.access(p, os.X_OK):
            sys.exit(f"not found or not executable: {p}")
    if not shutil.which("tmux") or not shutil.which("vim"):
        sys.exit("needs tmux and vim")

    work = tempfile.mkdtemp(prefix="bgterm-bench-")
    tmux_tmp = tempfile.mkdtemp(prefix="bgterm-bench-tmux-")
    b, l = {}, {}
    try:
        await scenario("bgterm-mcp", StdioServerParameters(command=a.bgterm_mcp, args=[], cwd=work),
                       Bgterm(), b, work)
        env = dict(os.environ, LIBTMUX_SOCKET="bgterm-bench", TMUX_TMPDIR=tmux_tmp)
        env.pop("TMUX", None)
        env.pop("TMUX_PANE", None)
        await scenario("libtmux-mcp", StdioServerParameters(command=a.libtmux_mcp, args=[], env=env, cwd=work),
                       Libtmux(), l, work)
    finally:
        subprocess.run(["tmux", "-L", "bgterm-bench", "kill-server"], env=dict(os.environ, TMUX_TMPDIR=tmux_tmp),
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(tmux_tmp, ignore_errors=True)
    print(table(b, l))
    if a.json:
        Path(a.json).write_text(json.dumps({"bgterm-mcp": b, "libtmux-mcp": l}, indent=1, default=str))


if __name__ == "__main__":
    asyncio.run(main())
