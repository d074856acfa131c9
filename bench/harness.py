"""Benchmark of the gateway's added latency and throughput against a mock upstream, driven by wrk.

Starts the mock upstream and the gateway (`manage.py serve --workers 1`) on free 127.0.0.1
ports, each in its own process, the gateway pinned to one core and wrk to the other; prepares
a throwaway SQLite database; measures the mock directly and through the gateway; checks that
every answered request left a usage row; writes a Markdown table. Entry point: `bench/run`.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import BenchError, Children, cpu_seconds, free_port, memory_mb, pinned, tail, wait_http

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "chat.lua"
# Set to "" so a developer's .env (read by settings with override=False) cannot add a real
# provider, Redis or MongoDB to the run: only the mock upstream is configured.
BLANKED = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_API_BASE", "GOOGLE_API_KEY", "GOOGLE_API_BASE", "COHERE_API_KEY",
    "COHERE_API_BASE", "AZURE_API_KEY", "AZURE_API_BASE", "CUSTOM_LLM_PROVIDER", "CUSTOM_API_KEY",
    "CUSTOM_API_BASE", "REDIS_URL", "MONGO_URI", "ADMIN_API_KEY", "KEY_HASH_SECRET",
)  # fmt: skip
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass
class Run:
    target: str  # "direct" or "gateway"
    key: str  # "budget", "unlimited" or "-" for direct
    connections: int
    requests: int
    seconds: float
    bad: int  # non-2xx answers plus socket errors and timeouts
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float | None = None
    sys_share: float | None = None  # of that CPU, the part spent in the kernel
    rss_mb: float | None = None
    rows_200: int | None = None
    rows_other: int | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def answered_200(self) -> int:
        return self.requests - self.bad


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before measuring (default 3)")
    parser.add_argument("--connections", default="1,50", help="comma-separated wrk connection counts")
    parser.add_argument("--keys", default="budget,unlimited", help="accounts to run: budget, unlimited")
    parser.add_argument("--stream", action="store_true", help="ask for SSE (stream: true) instead of JSON")
    parser.add_argument("--profile", action="store_true", help="one extra run under py-spy; see profile.md")
    parser.add_argument("--py-spy", default="", help="py-spy binary (default: PATH, then /tmp/bench-tools/bin)")
    parser.add_argument("--gateway-cpu", type=int, default=0, help="core for the gateway (default 0)")
    parser.add_argument("--client-cpu", type=int, default=1, help="core for wrk and the mock (default 1)")
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "latest.md")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (database, logs)")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    args.keys = [k.strip() for k in args.keys.split(",") if k.strip()]
    if not set(args.keys) <= {"budget", "unlimited"}:
        parser.error("--keys takes budget and/or unlimited")
    return args


def bench_env(tmp: Path, mock_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update({name: "" for name in BLANKED})
    env.update(
        DJANGO_SETTINGS_MODULE="gateway_project.settings",
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
        DJANGO_SECRET_KEY="bench-" + os.urandom(16).hex(),
        DJANGO_DEBUG="false",
        OPENAI_API_KEY="sk-bench",
        OPENAI_API_BASE=f"http://127.0.0.1:{mock_port}/v1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONPATH=str(ROOT),
    )
    return env


def request_body(model: str, stream: bool) -> str:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 16,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body)


def smoke(url: str, key: str, body: str, stream: bool) -> None:
    """One request before wrk, so a broken setup fails with the gateway's own answer."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1 only
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        raise BenchError(f"smoke request to {url} got {exc.code}: {exc.read()[:500]!r}") from None
    if ("[DONE]" if stream else '"choices"') not in text:
        raise BenchError(f"smoke request to {url} answered something unexpected: {text[:500]!r}")


def wrk(url: str, *, connections: int, seconds: int, key: str, body: str, cpu: int) -> dict[str, Any]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), url]
    env = {**os.environ, "BENCH_KEY": key, "BENCH_BODY": body}
    done = subprocess.run(  # noqa: S603 - fixed argv
        pinned(argv, cpu), env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line.removeprefix("BENCH_JSON ")))
    raise BenchError(f"wrk printed no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def as_run(target: str, key: str, connections: int, summary: dict[str, Any]) -> Run:
    errors = sum(summary[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts"))
    return Run(
        target=target,
        key=key,
        connections=connections,
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        bad=errors,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
    )


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


class Bench:
    """One benchmark session: temp dir, mock, database, gateway, runs."""

    def __init__(self, args: argparse.Namespace, children: Children, tmp: Path) -> None:
        self.args, self.children, self.tmp = args, children, tmp
        self.mock_port, self.gateway_port = free_port(), free_port()
        self.env = bench_env(tmp, self.mock_port)
        self.database = tmp / "bench.sqlite3"
        self.runs: list[Run] = []

    def start_mock(self) -> None:
        log = self.tmp / "mock.log"
        argv = pinned(
            [sys.executable, "-m", "bench.mock_upstream", "--port", str(self.mock_port)], self.args.client_cpu
        )
        proc = self.children.start("mock", argv, env=self.env, log=log)
        wait_http(f"http://127.0.0.1:{self.mock_port}/v1/models", proc=proc, log=log, timeout=15)

    def prepare(self) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "bench.prepare"], env=self.env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"preparing the database failed:\n{done.stdout}\n{done.stderr}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def start_gateway(self, key: str) -> subprocess.Popen[bytes]:
        log = self.tmp / "gateway.log"
        serve = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.gateway_port)]
        proc = self.children.start(
            "gateway", pinned([*serve, "--workers", "1"], self.args.gateway_cpu), env=self.env, log=log
        )
        auth = {"Authorization": f"Bearer {key}"}
        wait_http(f"http://127.0.0.1:{self.gateway_port}/v1/models", proc=proc, log=log, timeout=90, headers=auth)
        return proc

    def direct(self, body: str) -> None:
        url = f"http://127.0.0.1:{self.mock_port}/v1/chat/completions"
        for connections in self.args.connections:
            # wrk on the gateway's (idle) core, so it does not share a core with the mock.
            summary = wrk(
                url, connections=connections, seconds=self.args.duration, key="", body=body, cpu=self.args.gateway_cpu
            )
            self.runs.append(as_run("direct", "-", connections, summary))
            self.report_progress(self.runs[-1])

    def gateway(self, proc: subprocess.Popen[bytes], key_name: str, key: str, body: str) -> None:
        url = f"http://127.0.0.1:{self.gateway_port}/v1/chat/completions"
        for connections in self.args.connections:
            before = drained_counts(self.database)
            cpu_before = cpu_seconds(proc.pid)
            summary = wrk(
                url, connections=connections, seconds=self.args.duration, key=key, body=body, cpu=self.args.client_cpu
            )
            run = as_run("gateway", key_name, connections, summary)
            after = drained_counts(self.database)
            user, system = (now - then for now, then in zip(cpu_seconds(proc.pid), cpu_before, strict=True))
            run.cpu_ms_per_request = (user + system) * 1000 / max(run.requests, 1)
            run.sys_share = system / (user + system) if user + system else 0.0
            run.rss_mb = memory_mb(proc.pid)[0]
            run.rows_200, run.rows_other = after[0] - before[0], after[1] - before[1]
            if proc.poll() is not None:
                raise BenchError(f"the gateway died during the run.\n{tail(self.tmp / 'gateway.log')}")
            self.runs.append(run)
            self.report_progress(run)

    def report_progress(self, run: Run) -> None:
        print(
            f"  {run.target:8} key={run.key:9} c={run.connections:<3} {run.rps:9.1f} rps  p50 {run.p50_ms:7.2f} ms"
            f"  p99 {run.p99_ms:7.2f} ms  bad {run.bad}",
            flush=True,
        )

    def warm(self, key: str, body: str) -> None:
        url = f"http://127.0.0.1:{self.gateway_port}/v1/chat/completions"
        connections = max(self.args.connections)
        wrk(url, connections=connections, seconds=self.args.warmup, key=key, body=body, cpu=self.args.client_cpu)
        drained_counts(self.database)


def py_spy_binary(given: str) -> str:
    tools_venv = Path(tempfile.gettempdir()) / "bench-tools" / "bin" / "py-spy"
    for candidate in (given, shutil.which("py-spy") or "", str(tools_venv)):
        if candidate and Path(candidate).exists():
            return candidate
    raise BenchError(
        "--profile needs py-spy: uv venv /tmp/bench-tools && uv pip install --python /tmp/bench-tools py-spy"
    )


def profile(bench: Bench, proc: subprocess.Popen[bytes], key: str, body: str) -> Path:
    """One extra, unmeasured run at the highest connection count with py-spy sampling the gateway."""
    raw = bench.args.output.parent / "profile-raw.txt"
    seconds = bench.args.duration
    argv = [py_spy_binary(bench.args.py_spy), "record", "--pid", str(proc.pid), "--duration", str(seconds), "--rate",
            "200", "--threads", "--gil", "--format", "raw", "--output", str(raw), "--nonblocking"]  # fmt: skip
    spy = subprocess.Popen(  # noqa: S603 - fixed argv
        pinned(argv, bench.args.client_cpu), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    time.sleep(1)
    url = f"http://127.0.0.1:{bench.gateway_port}/v1/chat/completions"
    wrk(url, connections=max(bench.args.connections), seconds=seconds, key=key, body=body, cpu=bench.args.client_cpu)
    out, _ = spy.communicate(timeout=seconds + 60)
    if spy.returncode != 0 or not raw.exists():
        raise BenchError(f"py-spy failed ({spy.returncode}):\n{out.decode(errors='replace')}")
    return raw


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(args: argparse.Namespace, runs: list[Run]) -> str:
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"# Gateway benchmark ({'SSE' if args.stream else 'JSON'}), {when}",
        "",
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; gateway "
        f"`manage.py serve --workers 1` on core {args.gateway_cpu}, wrk (1 thread) and mock on core "
        f"{args.client_cpu}; SQLite; {args.duration} s per run after {args.warmup} s warm-up.",
        "",
        "| target | account | conns | req/s | p50 ms | p99 ms | errors | CPU ms/req (sys %) "
        "| usage rows 200 / answered 200 | RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in runs:
        cpu = "–" if r.sys_share is None else f"{fmt(r.cpu_ms_per_request, 2)} ({100 * r.sys_share:.0f} %)"
        rows = "–" if r.rows_200 is None else f"{r.rows_200} / {r.answered_200} (+{r.rows_other} other)"
        lines.append(
            f"| {r.target} | {r.key} | {r.connections} | {fmt(r.rps)} | {fmt(r.p50_ms, 2)} | {fmt(r.p99_ms, 2)} "
            f"| {r.bad} | {cpu} | {rows} | {fmt(r.rss_mb, 0)} |"
        )
    direct = {r.connections: r for r in runs if r.target == "direct"}
    lines.append("")
    for r in runs:
        base = direct.get(r.connections)
        if r.target == "gateway" and r.connections == 1 and base:
            lines.append(f"- Added latency p50 at 1 connection ({r.key}): **+{r.p50_ms - base.p50_ms:.2f} ms**")
    lines.append(
        "- Peers on this machine (NOTES.md): LiteLLM proxy +12.4 ms, 113 req/s at 50 connections; "
        "Portkey +0.93 ms, 1,166 req/s."
    )
    lines.append(
        "- Usage rows are counted after accounting drains; rows for requests wrk cut off at the end "
        "of a run appear as `other` or as a few extra 200s."
    )
    return "\n".join(lines) + "\n"


def main() -> int:
    args = options()
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed: apt-get update && apt-get install -y wrk")
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    try:
        bench = Bench(args, children, tmp)
        print(f"temp dir {tmp}; mock on :{bench.mock_port}, gateway on :{bench.gateway_port}", flush=True)
        bench.start_mock()
        prepared = bench.prepare()
        keys, body = prepared["keys"], request_body(prepared["model"], args.stream)
        gateway = bench.start_gateway(keys[args.keys[0]])
        for name in args.keys:
            smoke(f"http://127.0.0.1:{bench.gateway_port}/v1/chat/completions", keys[name], body, args.stream)
        print("direct to the mock upstream:", flush=True)
        bench.direct(body)
        print("through the gateway:", flush=True)
        bench.warm(keys[args.keys[0]], body)
        for name in args.keys:
            bench.gateway(gateway, name, keys[name], body)
        table = markdown(args, bench.runs)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table)
        print("\n" + table, flush=True)
        if args.profile:
            from bench.profile_top import summarise

            raw = profile(bench, gateway, keys[args.keys[0]], body)
            report = summarise(raw)
            (args.output.parent / "profile.md").write_text(report)
            print(report, flush=True)
        return 0
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        print(f"(logs kept in {tmp})", file=sys.stderr)
        args.keep = True
        return 1
    finally:
        children.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
