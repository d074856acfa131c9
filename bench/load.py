"""The measurements: wrk runs (bench/chat.lua), the paced-stream client (bench/streaming.py), our usage rows."""

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench import crosses
from bench.processes import BenchError, pinned
from bench.streaming import one_request

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "chat.lua"


@dataclass
class Run:
    connections: int
    requests: int
    seconds: float
    errors: int  # non-2xx answers plus socket errors and timeouts
    p50_ms: float | None  # None when no request completed
    p99_ms: float | None
    cpu_ms_per_request: float | None = None
    rows_200: int | None = None  # gateway only: usage rows with status 200 written during the run
    rows_other: int | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def answered(self) -> int:
        return self.requests - self.errors


def request_body(model: str, *, stream: bool = False, paced: bool = False, route: str = "chat") -> str:
    return crosses.body(route, model, stream=stream, paced=paced)


def header_lines(headers: dict[str, str]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def wrk(url: str, *, connections: int, seconds: float, headers: dict[str, str], body: str, cpu: int) -> Run:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(LUA), url]
    env = {**os.environ, "BENCH_KEY": "", "BENCH_BODY": body, "BENCH_HEADERS": header_lines(headers)}
    done = subprocess.run(  # noqa: S603 - fixed argv
        pinned(argv, cpu), env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            s = json.loads(line.removeprefix("BENCH_JSON "))
            errors = sum(s[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts"))
            # wrk reports 0 latency when nothing completed; that is "no figure", not "instant".
            p50, p99 = (s["p50_us"] / 1e3, s["p99_us"] / 1e3) if s["requests"] else (None, None)
            return Run(connections, s["requests"], s["duration_us"] / 1e6, errors, p50, p99)
    raise BenchError(f"wrk printed no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def stream_stats(url: str, *, headers: dict[str, str], body: str, requests: int, interval_ms: float, cpu: int) -> dict:
    """Runs bench/streaming.py pinned to `cpu`; returns its summary (TTFT, gaps, batched frames, errors)."""
    argv = [sys.executable, "-m", "bench.streaming", "--url", url, "--requests", str(requests),
            "--interval-ms", str(interval_ms)]  # fmt: skip
    env = {**os.environ, "BENCH_BODY": body, "BENCH_HEADERS": header_lines(headers), "PYTHONPATH": str(BENCH.parent)}
    done = subprocess.run(  # noqa: S603 - fixed argv
        pinned(argv, cpu), env=env, capture_output=True, text=True, timeout=requests * 30 + 30, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line.removeprefix("BENCH_JSON ")))
    raise BenchError(f"the streaming client printed no summary (exit {done.returncode}):\n{done.stderr[-2000:]}")


def check_answers(url: str, headers: dict[str, str], model: str, route: str = "chat", *, stream: bool = True) -> None:
    """One JSON and one paced streaming request before measuring, so a broken setup fails with its own answer.

    `stream=False` checks the JSON answer only: a peer whose streams fail on a call is still measured, its
    failed streams counted in the row (LiteLLM's proxy cannot read Cohere's v2 SSE stream, for one).
    """
    body = request_body(model, route=route).encode()
    all_headers = {"Content-Type": "application/json", **headers}
    request = urllib.request.Request(url, data=body, headers=all_headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1 only
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        raise BenchError(f"a JSON request to {url} got {exc.code}: {exc.read()[:500]!r}") from None
    except OSError as exc:
        raise BenchError(f"a JSON request to {url} failed: {exc}") from None
    if crosses.answer_marker(route) not in text:
        raise BenchError(f"a JSON request to {url} answered something unexpected: {text[:500]!r}")
    if not stream:
        return
    sample = one_request(url, headers, request_body(model, paced=True, route=route).encode(), timeout=30)
    if sample.error:
        raise BenchError(f"a streaming request to {url} failed: {sample.error}")


def usage_counts(database: Path) -> tuple[int, int]:
    """(rows with status 200, other rows) in the usage table, read straight from SQLite."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=20) as db:
        ok, total = db.execute("SELECT coalesce(sum(status_code = 200), 0), count(*) FROM usage_usagelog").fetchone()
    return int(ok), int(total) - int(ok)


def drained_counts(database: Path, settle: float = 1.5, limit: float = 60.0) -> tuple[int, int]:
    """Waits until the gateway's accounting tasks stop adding rows, then counts."""
    deadline = time.monotonic() + limit
    last, since = usage_counts(database), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = usage_counts(database)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle:
            return now
    raise BenchError(f"usage rows were still being written after {limit:.0f} s")
