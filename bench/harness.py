"""Side-by-side benchmark: our gateway, LiteLLM's proxy and Portkey's gateway in front of one mock upstream.

One run starts the mock upstream (bench/mock_upstream.py) and measures it directly, then, one
at a time on the same core with the same worker count: our gateway in production configuration
(`manage.py serve`, a budgeted account with a price, usage rows), LiteLLM's proxy (its own
virtualenv, master key, no database) and Portkey's gateway (npm, Node). For each: added p50/p99
at 1 connection, req/s, p99 and errors at 50 connections (wrk), time to first frame and the gaps
between frames of a paced stream (bench/streaming.py), RSS idle and after load, CPU per request,
and for our gateway usage rows against requests answered. Our gateway and LiteLLM's proxy are also
measured on cross-format calls (`--cross-format`, on by default; `--crosses` picks some): Claude,
Gemini and Cohere on /v1/chat/completions, GPT on /v1/messages and Claude on /v1/responses
(bench/crosses.py), each against the mock measured directly on the endpoint the provider call
reaches. `--old-root` adds the same rows for an older checkout of the gateway (target
gateway-old), run from its own directory and venv. Writes bench/results/<time>.json,
latest.json, latest.md and latest.png. Entry point: `bench/run` (`bench/run --smoke` for CI).
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import crosses, load, peers, report, targets
from bench.processes import BenchError, Children, group_cpu_seconds, group_memory_mb, tail, wait_idle

BENCH = Path(__file__).resolve().parent
PEERS = {"litellm": "LiteLLM proxy", "portkey": "Portkey gateway"}
GATEWAYS = ("gateway", "gateway-old")


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--smoke", action="store_true", help="a few seconds in all (1 s runs, 3 streams), for CI; see --output-dir")
    add("--targets", default=None, help="comma-separated: gateway, gateway-old, litellm, portkey "
        "(default gateway,litellm,portkey, and gateway-old with --old-root)")  # fmt: skip
    add("--old-root", type=Path, default=None, help="an older checkout (with its own `uv sync --frozen` venv) "
        "to measure as gateway-old, e.g. `git worktree add /work/wt/old eb247a6`")  # fmt: skip
    add("--cross-format", action=argparse.BooleanOptionalAction, default=True,
        help="also measure the cross-format calls of bench/crosses.py, ours and LiteLLM's (default: on)")  # fmt: skip
    add("--paired", action=argparse.BooleanOptionalAction, default=True,
        help="measure our same-format call again just before each cross-format call, and compare each with the "
        "one beside it (default: on; the host's speed drifts over a run)")  # fmt: skip
    add("--crosses", default=None, help="comma-separated cross-format calls to measure (default all: "
        + ", ".join(call.name for call in crosses.CROSSES) + ")")  # fmt: skip
    add("--duration", type=float, default=10, help="seconds per measured wrk run (default 10)")
    add("--warmup", type=float, default=3, help="seconds of warm-up at the highest connection count (default 3)")
    add("--connections", default=None, help="comma-separated wrk connection counts (default 1,50; 1,10 with --smoke)")
    add("--workers", type=int, default=1, help="worker processes for every target (default 1)")
    add("--keys", default="budget", help="our gateway's accounts to run: budget, unlimited and/or levels")
    add("--stream", action="store_true", help="wrk asks for SSE (stream: true) instead of JSON")
    add("--stream-requests", type=int, default=30, help="sequential paced streams per target (default 30)")
    add("--chunks", type=int, default=10, help="content frames in a paced stream (default 10)")
    add("--interval-ms", type=float, default=20.0, help="the mock's pace between frames (default 20)")
    add("--gateway-cpu", type=int, default=0, help="core for the target under test (default 0)")
    add("--client-cpu", type=int, default=1, help="core for wrk, the stream client and the mock (default 1)")
    add("--cache-dir", type=Path, default=None, help="where the peers are installed (default ~/.cache/gw-bench)")
    add("--output-dir", type=Path, default=None, help="default bench/results, or /tmp/gw-bench-smoke with --smoke")
    add("--no-chart", action="store_true", help="skip the PNG (it needs matplotlib in the cache's tools venv)")
    add("--profile", action="store_true", help="one more run per gateway and call, under py-spy; profile*.md")
    add("--py-spy", default="", help="py-spy binary (default: PATH, then /tmp/bench-tools/bin)")
    add("--keep", action="store_true", help="keep the temp dir (database, logs)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.stream_requests, args.chunks, args.interval_ms = 1, 1, 3, 3, 10.0
        # In a 1 s run at 50 connections a slow target (any of them, on a busy machine) may complete
        # nothing at all: requests wait behind 49 others for longer than the run.
        args.connections = args.connections or "1,10"
    smoke_dir = Path(tempfile.gettempdir()) / "gw-bench-smoke"  # CI's runs stay out of the committed results
    args.output_dir = args.output_dir or (smoke_dir if args.smoke else BENCH / "results")
    args.connections = [int(c) for c in (args.connections or "1,50").split(",")]
    args.keys = [k.strip() for k in args.keys.split(",") if k.strip()]
    default_targets = "gateway,gateway-old,litellm,portkey" if args.old_root else "gateway,litellm,portkey"
    args.targets = [t.strip() for t in (args.targets or default_targets).split(",") if t.strip()]
    if not set(args.keys) <= {"budget", "unlimited", "levels"} or not args.keys:
        parser.error("--keys takes budget, unlimited and/or levels")
    if not set(args.targets) <= {*GATEWAYS, *PEERS}:
        parser.error("--targets takes gateway, gateway-old, litellm and/or portkey")
    if "gateway-old" in args.targets and not args.old_root:
        parser.error("the target gateway-old needs --old-root PATH")
    names = [n.strip() for n in (args.crosses or ",".join(c.name for c in crosses.CROSSES)).split(",") if n.strip()]
    if not set(names) <= {call.name for call in crosses.CROSSES}:
        parser.error("--crosses takes " + ", ".join(call.name for call in crosses.CROSSES))
    args.crosses = [crosses.BY_NAME[name] for name in names] if args.cross_format else []
    # CI's smoke run proves that every call starts and answers on our gateway; LiteLLM's proxy, slow to answer on a
    # shared runner, gets the first one only there.
    args.peer_crosses = args.crosses[:1] if args.smoke else args.crosses
    return args


class Session:
    """One benchmark run: temp dir, mock, the targets in turn, the results."""

    def __init__(self, args: argparse.Namespace, children: Children, tmp: Path) -> None:
        self.args, self.children, self.tmp = args, children, tmp
        self.cache = peers.cache_dir(args.cache_dir)
        self.results: list[dict[str, Any]] = []
        self.mock_port = 0
        self.settle = 0.75 if args.smoke else 1.5

    def bodies(self, model: str, route: str = "chat") -> tuple[str, str]:
        stream = self.args.stream
        return load.request_body(model, stream=stream, route=route), load.request_body(model, paced=True, route=route)

    def direct(self, upstream: str, model: str) -> dict[str, Any]:
        """The mock measured directly on one of its endpoints: the baseline `added` figures subtract.

        "chat" is the same-format calls' baseline; the others are the endpoints cross-format calls
        reach (bench/crosses.py), whose streams may send their first text later than chat's.
        """
        stream_path = crosses.upstream_path(upstream, stream=True)
        url = f"http://127.0.0.1:{self.mock_port}{crosses.upstream_path(upstream, stream=self.args.stream)}"
        body, paced = self.bodies(model, "chat" if upstream == "cohere" else upstream)  # the mock reads no body shape
        # The client on the idle core, so it does not share one with the mock.
        cpu = self.args.gateway_cpu
        runs = [load.wrk(url, connections=c, seconds=self.args.duration, headers={}, body=body, cpu=cpu)
                for c in self.args.connections]  # fmt: skip
        stream = load.stream_stats(
            f"http://127.0.0.1:{self.mock_port}{stream_path}", headers={}, body=paced,
            requests=self.args.stream_requests, interval_ms=self.args.interval_ms, cpu=cpu,
        )  # fmt: skip
        if upstream == "chat":
            name, label = "direct", "mock upstream (direct)"
        else:
            name, label = f"direct-{upstream}", f"mock upstream (direct, {stream_path.split('?')[0]})"
        result = {"name": name, "label": label, "status": "ok", "runs": runs, "stream": stream}
        report.progress(result)
        return result

    def measure(self, target: targets.Target, model: str, database: Path | None, route: str = "chat") -> dict[str, Any]:
        args, pid = self.args, target.proc.pid
        target.path = crosses.ROUTES[route]
        body, paced = self.bodies(model, route)
        headers = target.request_headers()
        # Our gateway must stream every call; a peer's failed streams are reported in its row instead.
        load.check_answers(target.url, headers, model, route, stream=target.name in GATEWAYS)
        rss_idle = group_memory_mb(pid)[0]
        if args.warmup > 0:
            load.wrk(target.url, connections=max(args.connections), seconds=args.warmup, headers=headers, body=body,
                     cpu=args.client_cpu)  # fmt: skip
        rows = load.drained_counts(database, self.settle) if database else None
        runs = []
        for connections in args.connections:
            wait_idle(pid)
            cpu_before = group_cpu_seconds(pid)
            run = load.wrk(target.url, connections=connections, seconds=args.duration, headers=headers, body=body,
                           cpu=args.client_cpu)  # fmt: skip
            run.cpu_ms_per_request = (group_cpu_seconds(pid) - cpu_before) * 1000 / max(run.requests, 1)
            if database and rows:
                after = load.drained_counts(database, self.settle)
                run.rows_200, run.rows_other, rows = after[0] - rows[0], after[1] - rows[1], after
            runs.append(run)
        wait_idle(pid)
        stream = load.stream_stats(target.url, headers=headers, body=paced, requests=args.stream_requests,
                                   interval_ms=args.interval_ms, cpu=args.client_cpu)  # fmt: skip
        usage = None
        if database and rows:
            after = load.drained_counts(database, self.settle)
            answered = stream["requests"] - stream["errors"]
            usage = {"stream_rows_200": after[0] - rows[0], "stream_answered": answered}
        if target.proc.poll() is not None:
            raise BenchError(f"{target.label} died during the run.\n{tail(target.log)}")
        rss_after, rss_peak = group_memory_mb(pid)
        install = target.install
        return {
            "name": target.name, "label": target.label, "version": target.version, "status": "ok",
            "start_seconds": round(target.start_seconds, 2),
            "install_seconds": round(install.seconds, 1) if install else None,
            "install_cached": install.cached if install else None,
            "rss_idle_mb": round(rss_idle, 1), "rss_after_mb": round(rss_after, 1), "rss_peak_mb": round(rss_peak, 1),
            "runs": runs, "stream": stream, "usage": usage,
        }  # fmt: skip

    def gateway(self, name: str) -> None:
        """Our gateway, this checkout or the one in --old-root: each account, then the cross-format calls."""
        code = targets.checkout(name, self.args.old_root if name == "gateway-old" else None)
        env = targets.gateway_env(self.tmp, self.mock_port, code=code, anthropic=self.args.cross_format)
        prepared = targets.prepare_database(env, code)
        keys, model = prepared["keys"], prepared["model"]
        target = targets.start_gateway(
            self.children, self.tmp, code=code, env=env, key=keys[self.args.keys[0]], workers=self.args.workers,
            cpu=self.args.gateway_cpu,
        )  # fmt: skip
        ours = "our gateway" if name == "gateway" else f"our gateway at {target.version}"
        database = self.tmp / code.database
        try:
            for account in self.args.keys:
                if account not in keys:  # an older checkout without budget levels
                    continue
                target.key, target.label = keys[account], f"{ours} ({account} account)"
                result = self.measure(target, model, database)
                self.results.append(result)
                report.progress(result)
            for call in self.args.crosses:
                account = self.args.keys[0]
                if self.args.paired and name == "gateway":
                    # The same-format call again, just before this one: the host's speed drifts over a run,
                    # so issue 20's ratios compare rows measured side by side (bench/report.cross_ratios).
                    target.key, target.label = keys[account], f"{ours} ({account}, same-format, beside {call.label})"
                    result = {**self.measure(target, model, database), "format": "beside", "cross": call.name}
                    self.results.append(result)
                    report.progress(result)
                target.key, target.label = keys[account], f"{ours} ({account}, {call.label})"
                try:
                    result = {**self.measure(target, call.model, database, call.route), **cross_tags(call)}
                except BenchError as exc:
                    if name == "gateway":
                        raise
                    self.skipped(name, target.label, exc, call)  # an older checkout without that provider
                    continue
                self.results.append(result)
                report.progress(result)
            if self.args.profile:
                from bench.profiling import profile

                old = "old" if name == "gateway-old" else ""
                target.key, target.path = keys[self.args.keys[0]], crosses.ROUTES["chat"]
                profile(self.args, target, load.request_body(model, stream=self.args.stream), name=old)
                for call in self.args.crosses:
                    target.path = crosses.ROUTES[call.route]
                    body = load.request_body(call.model, stream=self.args.stream, route=call.route)
                    profile(self.args, target, body, name="-".join(filter(None, (old, call.name))))
        finally:
            self.children.stop(target.proc)

    def launch(self, name: str, model: str) -> targets.Starting | peers.PeerUnavailable:
        try:
            return targets.launch_peer(
                name, self.children, self.tmp, cache=self.cache, mock_port=self.mock_port, model=model,
                workers=self.args.workers, cpu=self.args.gateway_cpu,
            )  # fmt: skip
        except peers.PeerUnavailable as exc:
            return exc

    def peer(self, name: str, model: str, launched: targets.Starting | peers.PeerUnavailable | None = None) -> None:
        """A peer on the same-format call, LiteLLM's proxy on each cross-format call too; a failure is a skipped row."""
        calls: list[crosses.Call | None] = [None, *(self.args.peer_crosses if name == "litellm" else [])]
        target = None
        try:
            launched = launched or self.launch(name, model)
            if isinstance(launched, peers.PeerUnavailable):
                raise launched
            target = targets.peer_ready(launched, self.children)
        except (peers.PeerUnavailable, BenchError) as exc:
            self.skipped(name, PEERS[name], exc)
            return
        try:
            for call in calls:
                label = PEERS[name] if call is None else f"{PEERS[name]} ({call.label})"
                target.label = label
                try:
                    result = self.measure(target, call.model if call else model, None, call.route if call else "chat")
                except BenchError as exc:
                    self.skipped(name, label, exc, call)
                    continue
                result = {**result, **(cross_tags(call) if call else {})}
                self.results.append(result)
                report.progress(result)
        finally:
            self.children.stop(target.proc)

    def skipped(self, name: str, label: str, exc: Exception, call: crosses.Call | None = None) -> None:
        # A peer that cannot run here is reported, never a reason to fail the run.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0] if len(lines) < 2 else f"{lines[0]} … {lines[-1]}"
        result = {"name": name, "label": label, "status": "skipped", "reason": reason[:300]}
        if call is not None:
            result.update(cross_tags(call))
        print(f"  {label}: skipped: {exc}", flush=True)
        self.results.append(result)
        report.progress(result)


def cross_tags(call: crosses.Call) -> dict[str, str]:
    """What a cross-format row carries: which call, and which direct measurement its `added` figures subtract."""
    return {"format": "cross", "cross": call.name, "upstream": call.upstream}


def run(args: argparse.Namespace, children: Children, tmp: Path) -> int:
    started = time.monotonic()
    session = Session(args, children, tmp)
    session.mock_port = targets.start_mock(
        children, tmp, cpu=args.client_cpu, chunks=args.chunks, interval_ms=args.interval_ms
    )
    print(f"temp dir {tmp}; mock upstream on :{session.mock_port}", flush=True)
    model = crosses.SAME.model
    session.results.append(session.direct("chat", model))
    gateways = [name for name in GATEWAYS if name in args.targets]
    measured = args.crosses if gateways else args.peer_crosses if "litellm" in args.targets else []
    if measured:
        for upstream in dict.fromkeys(call.upstream for call in measured):
            call = next(c for c in measured if c.upstream == upstream)
            session.results.append(session.direct(upstream, call.model))
    chosen = [name for name in PEERS if name in args.targets]
    # --smoke proves that everything starts and answers, so the peers start while our gateway runs.
    early = {name: session.launch(name, model) for name in chosen} if args.smoke else {}
    for name in gateways:
        session.gateway(name)
    for name in chosen:
        session.peer(name, model, early.get(name))
    document = report.document(args, session.results, seconds=time.monotonic() - started)
    paths = report.write(document, args.output_dir, chart=not args.no_chart, cache=session.cache)
    print("\n" + paths["md"].read_text(), flush=True)
    print("wrote " + ", ".join(str(p) for p in paths.values()), flush=True)
    problems = report.gateway_problems(session.results)
    for problem in problems:
        print(f"bench: our gateway: {problem}", file=sys.stderr)
    # An older checkout's shortcomings are what it is measured against, not a failure of this run.
    for problem in report.gateway_problems(session.results, name="gateway-old"):
        print(f"bench: warning: our gateway (--old-root): {problem}", file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    args = options()
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed: apt-get update && apt-get install -y wrk")
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    try:
        return run(args, children, tmp)
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
