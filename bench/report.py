"""The results of a run: a JSON document (machine, config, every figure), a Markdown table and a PNG chart."""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import crosses
from bench.load import Run
from bench.peers import PeerUnavailable, uv_binary
from bench.processes import BenchError

BENCH = Path(__file__).resolve().parent
MATPLOTLIB = "matplotlib==3.11.2"


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node, node_version = shutil.which("node"), None
    if node:
        node_version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
    return {
        "host": platform.node(), "cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
        "node": node_version, "kernel": platform.release(),
    }  # fmt: skip


def _run_dict(run: Run) -> dict[str, Any]:
    return {**dataclasses.asdict(run), "rps": round(run.rps, 1)}


def summary(result: dict[str, Any], direct: dict[str, Any] | None) -> dict[str, Any]:
    """The headline figures of one target: `added_*` subtract the mock measured directly."""
    if result["status"] != "ok":
        return {}
    runs: list[Run] = result["runs"]
    low, high = min(runs, key=lambda r: r.connections), max(runs, key=lambda r: r.connections)
    base = {r.connections: r for r in direct["runs"]} if direct else {}
    stream, base_stream = result["stream"], (direct or {}).get("stream") or {}

    def minus(value: float | None, baseline: float | None) -> float | None:
        return None if value is None or baseline is None else round(value - baseline, 3)

    out = {
        "p50_ms_1": low.p50_ms, "p99_ms_1": low.p99_ms,
        "added_p50_ms_1": minus(low.p50_ms, base[low.connections].p50_ms) if low.connections in base else None,
        "added_p99_ms_1": minus(low.p99_ms, base[low.connections].p99_ms) if low.connections in base else None,
        "connections_high": high.connections, "rps_high": round(high.rps, 1), "p99_ms_high": high.p99_ms,
        "errors": sum(r.errors for r in runs) + stream["errors"],
        "cpu_ms_per_request_high": high.cpu_ms_per_request,
        "ttft_p50_ms": stream["ttft_p50_ms"],
        "added_ttft_p50_ms": minus(stream["ttft_p50_ms"], base_stream.get("ttft_p50_ms")),
        "first_frame_p50_ms": stream["first_frame_p50_ms"],
        "added_first_frame_p50_ms": minus(stream["first_frame_p50_ms"], base_stream.get("first_frame_p50_ms")),
        "gap_p50_ms": stream["gap_p50_ms"], "gap_p99_ms": stream["gap_p99_ms"], "batched_gaps": stream["batched_gaps"],
        "batched_text_gaps": stream.get("batched_text_gaps"),
        "frames_per_request": stream["frames_per_request"],
        "rss_idle_mb": result.get("rss_idle_mb"), "rss_after_mb": result.get("rss_after_mb"),
    }  # fmt: skip
    if result.get("usage"):
        usage = result["usage"]
        out["usage_rows_200"] = sum(r.rows_200 or 0 for r in runs) + usage["stream_rows_200"]
        out["answered"] = sum(r.answered for r in runs) + usage["stream_answered"]
    return out


def is_direct(result: dict[str, Any]) -> bool:
    return str(result["name"]).startswith("direct")


def document(args: argparse.Namespace, results: list[dict[str, Any]], *, seconds: float) -> dict[str, Any]:
    directs = {r["name"]: r for r in results if is_direct(r)}
    targets = []
    for result in results:
        # A cross-format call's `added` figures subtract the mock measured on the endpoint its provider call reaches.
        direct = directs.get(f"direct-{result.get('upstream')}" if result.get("format") == "cross" else "direct")
        entry = {**result, "summary": {} if is_direct(result) else summary(result, direct)}
        if "runs" in entry:
            entry["runs"] = [_run_dict(run) for run in entry["runs"]]
        targets.append(entry)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "config": {
            "smoke": args.smoke, "workers": args.workers, "duration_s": args.duration, "warmup_s": args.warmup,
            "connections": args.connections, "wrk_body": "SSE" if args.stream else "JSON",
            "stream_requests": args.stream_requests, "stream_chunks": args.chunks,
            "stream_interval_ms": args.interval_ms, "target_cpu": args.gateway_cpu, "client_cpu": args.client_cpu,
            "gateway_accounts": args.keys, "cross_format": args.cross_format,
            "crosses": [call.name for call in args.crosses],
            "old_root": str(args.old_root) if args.old_root else None,
        },
        "seconds": round(seconds, 1),
        "targets": targets,
    }  # fmt: skip


def fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


def table_row(t: dict[str, Any]) -> str:
    if t["status"] != "ok":
        reason = str(t.get("reason", "?")).replace("|", "/")
        return f"| {t['label']} | – | skipped: {reason} |" + " |" * 9
    s = t["summary"]
    rows = f"{s['usage_rows_200']} / {s['answered']}" if "usage_rows_200" in s else "–"
    return (
        f"| {t['label']} | {t['version']} | {fmt(s['added_p50_ms_1'], sign=True)} / "
        f"{fmt(s['added_p99_ms_1'], sign=True)} | {fmt(s['rps_high'], 0)} | {fmt(s['p99_ms_high'], 1)} "
        f"| {s['errors']} | {fmt(s['ttft_p50_ms'])} ({fmt(s['added_ttft_p50_ms'], sign=True)}) "
        f"| {fmt(s['first_frame_p50_ms'])} ({fmt(s['added_first_frame_p50_ms'], sign=True)}) "
        f"| {fmt(s['gap_p50_ms'], 1)} / {fmt(s['gap_p99_ms'], 1)}, {s['batched_gaps']} batched "
        f"| {fmt(s['rss_idle_mb'], 0)} → {fmt(s['rss_after_mb'], 0)} | {fmt(s['cpu_ms_per_request_high'])} | {rows} |"
    )


def direct_row(t: dict[str, Any]) -> str:
    runs = {r["connections"]: r for r in t["runs"]}
    low, high = runs[min(runs)], runs[max(runs)]
    st = t["stream"]
    return (
        f"| {t['label']} | – | {fmt(low['p50_ms'])} / {fmt(low['p99_ms'])} (baseline) | {fmt(high['rps'], 0)} "
        f"| {fmt(high['p99_ms'], 1)} | {sum(r['errors'] for r in t['runs']) + st['errors']} "
        f"| {fmt(st['ttft_p50_ms'])} | {fmt(st['first_frame_p50_ms'])} "
        f"| {fmt(st['gap_p50_ms'], 1)} / {fmt(st['gap_p99_ms'], 1)}, "
        f"{st['batched_gaps']} batched | – | – | – |"
    )


def kind(t: dict[str, Any]) -> str:
    """A target's name, with `/<call>` for the cross-format rows (bench/crosses.py), `/<call>/beside` for the
    same-format call measured just before one (`--paired`)."""
    suffix = {"cross": f"/{t.get('cross')}", "beside": f"/{t.get('cross')}/beside"}.get(str(t.get("format")), "")
    return str(t["name"]) + suffix


def ratios(by_name: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 9's targets as ratios, for whichever targets ran."""
    names = ("gateway", "litellm", "portkey", "gateway/claude-chat", "gateway-old", "gateway-old/claude-chat")
    ours, lite, port, cross, old, old_cross = (by_name.get(n, {}).get("summary") for n in names)
    if not ours:
        return []
    lines = []

    def ratio(name: str, a: float | None, b: float | None, goal: str) -> None:
        if a is not None and b:
            lines.append(f"- {name}: **{a / b:.2f}×** (goal {goal})")

    def older(what: str, new: dict[str, Any], before: dict[str, Any]) -> None:
        """Against --old-root: "no slower than today". The added p50 can be near zero (or below) on a
        busy machine, so it is compared as a difference, not a ratio."""
        against = by_name["gateway-old"]["version"]
        ratio(f"{what}: req/s at high concurrency, ours ÷ {against}", new["rps_high"], before["rps_high"], "≥ 1")
        if new["added_p50_ms_1"] is not None and before["added_p50_ms_1"] is not None:
            change = new["added_p50_ms_1"] - before["added_p50_ms_1"]
            lines.append(f"- {what}: added p50 at 1 connection, ours − {against}: **{change:+.2f} ms** (goal ≤ 0)")

    if lite:
        ratio("req/s at high concurrency, ours ÷ LiteLLM", ours["rps_high"], lite["rps_high"], "≥ 3")
        ratio("added p50 at 1 connection, ours ÷ LiteLLM", ours["added_p50_ms_1"], lite["added_p50_ms_1"], "≤ 0.33")
        ratio("RSS after load, ours ÷ LiteLLM", ours["rss_after_mb"], lite["rss_after_mb"], "≤ 1")
    if port:
        ratio("req/s at high concurrency, ours ÷ Portkey", ours["rps_high"], port["rps_high"], "≥ 1, moonshot")
    ratio("p99 ÷ p50 at 1 connection, ours", ours["p99_ms_1"], ours["p50_ms_1"], "≤ 3")
    added_ttft = fmt(ours["added_ttft_p50_ms"], sign=True)
    lines.append(f"- added time to first token, ours: **{added_ttft} ms** (goal ≤ 1 ms); "
                 f"batched frames: **{ours['batched_gaps']}** (goal 0)")  # fmt: skip
    if old:
        older("same-format calls", ours, old)
    if cross and old_cross:
        older("cross-format calls (Claude on /v1/chat/completions)", cross, old_cross)
    return lines + cross_ratios(by_name)


def cross_ratios(by_name: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 20's targets for each cross-format call: against LiteLLM's proxy on the same call, and our same-format."""
    lines = []
    for call in crosses.CROSSES:
        ours = by_name.get(f"gateway/{call.name}", {}).get("summary")
        if not ours:
            continue
        beside = by_name.get(f"gateway/{call.name}/beside", {}).get("summary")
        same = beside or by_name.get("gateway", {}).get("summary")
        lite = by_name.get(f"litellm/{call.name}", {}).get("summary")
        parts: list[str] = []

        def part(what: str, a: float | None, b: float | None, goal: str, parts: list[str] = parts) -> None:
            if a is not None and b:
                parts.append(f"{what} **{a / b:.2f}×** ({goal})")

        if lite:
            part("req/s ÷ LiteLLM's", ours["rps_high"], lite["rps_high"], "≥ 3")
            part("added p50 ÷ LiteLLM's", ours["added_p50_ms_1"], lite["added_p50_ms_1"], "≤ 0.33")
        if same:
            part("req/s ÷ our same-format", ours["rps_high"], same["rps_high"], "≥ 0.67")
            part("added p50 ÷ our same-format", ours["added_p50_ms_1"], same["added_p50_ms_1"], "≤ 1.5")
            if ours["added_ttft_p50_ms"] is not None and same["added_ttft_p50_ms"] is not None:
                excess = ours["added_ttft_p50_ms"] - same["added_ttft_p50_ms"]
                parts.append(f"added TTFT − our same-format's **{excess:+.2f} ms** (≤ +1)")
        parts.append(f"batched text frames **{ours['batched_text_gaps']}** (0; all frames: {ours['batched_gaps']})")
        if "usage_rows_200" in ours:
            parts.append(f"usage rows / answered **{ours['usage_rows_200']} / {ours['answered']}**")
        against = " (our same-format: the row measured just before it)" if beside else ""
        lines.append(f"- {call.label}{against}: " + "; ".join(parts))
    return lines


def setup_line(targets: list[dict[str, Any]]) -> str:
    parts = []
    for t in targets:
        if t["status"] != "ok" or is_direct(t):
            continue
        text = f"{t['label']} ready in {t['start_seconds']:.1f} s"
        if t.get("install_seconds") is not None:
            text += ", install cached" if t["install_cached"] else f", installed in {t['install_seconds']:.1f} s"
        parts.append(text)
    return "; ".join(parts) or "–"


def markdown(doc: dict[str, Any]) -> str:
    m, c = doc["machine"], doc["config"]
    header = (
        f"# Gateway benchmark, side by side ({doc['date']}{', smoke' if c['smoke'] else ''})\n\n"
        f"{m['host']}: {m['cores']} cores ({m['cpu']}), Python {m['python']}, Node {m['node'] or '–'}, "
        f"Linux {m['kernel']}. Each target alone, {c['workers']} worker(s) on core {c['target_cpu']}; wrk "
        f"(1 thread), the stream client and the mock on core {c['client_cpu']}. wrk: {c['wrk_body']} chat "
        f"completions, {c['duration_s']:g} s per run after {c['warmup_s']:g} s warm-up. Streams: "
        f"{c['stream_requests']} sequential, the mock sending a frame every {c['stream_interval_ms']:g} ms "
        f"({c['stream_chunks']} content frames). Run took {doc['seconds']:.0f} s.\n\n"
    )
    high = max(c["connections"])
    low = min(c["connections"])
    lines = [
        f"| target | version | added p50 / p99 ms at {low} conn | req/s at {high} | p99 ms at {high} | errors "
        f"| TTFT ms (added) | first frame ms (added) | frame gap p50 / p99 ms | RSS MB idle → after load "
        f"| CPU ms/req | usage rows / answered |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    by_name = {kind(t): t for t in reversed(doc["targets"]) if t["status"] == "ok"}  # the first: budget account
    for t in doc["targets"]:
        lines.append(direct_row(t) if is_direct(t) else table_row(t))
    peers_ran = any(t["name"] in ("litellm", "portkey") for t in doc["targets"])
    cross_note = [
        "- Cross-format calls (bench/crosses.py: Claude, Gemini and Cohere on /v1/chat/completions, GPT on "
        "/v1/messages, Claude on /v1/responses): each row's added figures subtract the mock measured directly "
        "on the endpoint its provider call reaches (its own `direct` row), whose stream may send its first "
        "text a frame or two in (Anthropic: message_start, content_block_start); a translation that sends "
        "nothing for those frames shows a first frame later than the baseline's but no later TTFT. A peer row "
        "counts its failed streams in `errors` (LiteLLM 1.106.2's proxy cannot read Cohere's v2 SSE stream: its "
        "parser expects one JSON object per line). Batched text frames: gaps under half the interval between "
        "frames that carry text (a translation may rightly send several other frames for one of the provider's)."
    ] if any(t.get("format") == "cross" for t in doc["targets"]) else []  # fmt: skip
    notes = [
        "",
        *ratios(by_name),
        "- errors: non-2xx answers, socket errors and timeouts (wrk), plus failed streams. RSS sums the "
        "target's processes. CPU per request is the target's own, at the highest connection count.",
        "- TTFT: to the first frame with text, which the mock sends one interval after its role frame; "
        "first frame: to the role frame. A target that holds a frame until the next arrives shows it in both, "
        "and as a `batched` gap: one under half the mock's interval (two frames reached the client together; "
        "a busy machine makes a few of those anywhere, the mock measured directly included).",
        *cross_note,
        "- Our usage rows may exceed requests answered: requests wrk cuts off at the end of a run still "
        "complete in the gateway and are billed; fewer rows than answers fails the run.",
        f"- Start-up and first-run installs: {setup_line(doc['targets'])}"
        + (" (smoke: the peers start while our gateway runs)." if c["smoke"] and peers_ran else "."),
        "- Numbers from a shared machine move between runs; compare targets within one run only.",
    ]
    return header + "\n".join(lines + notes) + "\n"


def gateway_problems(results: list[dict[str, Any]], name: str = "gateway") -> list[str]:
    """What makes the run fail: our gateway's errors, or an answered request without its usage row."""
    problems = []
    for r in results:
        if r["name"] != name or r.get("status") == "skipped":  # a skipped row (an older checkout's) has no runs
            continue
        for run in r["runs"]:
            if not run.requests:
                problems.append(f"no request completed at {run.connections} connections ({r['label']})")
            if run.errors:
                problems.append(f"{run.errors} errors at {run.connections} connections ({r['label']})")
            if run.rows_200 is not None and run.rows_200 < run.answered:
                problems.append(f"{run.answered} answered but {run.rows_200} usage rows at {run.connections} conns")
        if r["stream"]["errors"]:
            problems.append(f"{r['stream']['errors']} failed streams: {r['stream']['first_errors']}")
        usage = r.get("usage") or {}
        if usage and usage["stream_rows_200"] != usage["stream_answered"]:
            problems.append(f"{usage['stream_answered']} streams answered, {usage['stream_rows_200']} usage rows")
    return problems


def tools_python(cache: Path) -> Path:
    """A venv outside the project's lock holding matplotlib, made on first use."""
    venv = cache / "tools"
    python = venv / "bin" / "python"
    if (venv / ".bench-installed").exists():
        return python
    uv = uv_binary()
    for argv in ([uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
                 [uv, "pip", "install", "--quiet", "--python", str(python), MATPLOTLIB]):  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
        if done.returncode != 0:
            raise BenchError(f"installing {MATPLOTLIB} failed: {done.stderr.strip()[-300:]}")
    (venv / ".bench-installed").write_text(MATPLOTLIB + "\n")
    return python


def write(doc: dict[str, Any], out: Path, *, chart: bool, cache: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = doc["date"].replace(":", "").replace("-", "")
    text = json.dumps(doc, indent=1, default=str) + "\n"
    paths = {"json": out / f"{stamp}.json", "latest": out / "latest.json", "md": out / "latest.md"}
    paths["json"].write_text(text)
    paths["latest"].write_text(text)
    paths["md"].write_text(markdown(doc))
    if chart:
        try:
            python = tools_python(cache)
            argv = [str(python), str(BENCH / "chart.py"), str(paths["latest"]), str(out / "latest.png")]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
            if done.returncode != 0:
                raise BenchError(done.stderr.strip()[-300:])
            paths["png"] = out / "latest.png"
        except (BenchError, PeerUnavailable, OSError, subprocess.TimeoutExpired) as exc:
            print(f"bench: no chart: {exc}", file=sys.stderr)
    return paths


def progress(result: dict[str, Any]) -> None:
    if result["status"] != "ok":
        print(f"  {result['label']:26} skipped", flush=True)
        return
    runs = "  ".join(f"c={r.connections} {r.rps:,.0f} rps p50 {fmt(r.p50_ms)} p99 {fmt(r.p99_ms)} err {r.errors}"
                     for r in result["runs"])  # fmt: skip
    st = result["stream"]
    print(f"  {result['label']:26} {runs}  stream TTFT {fmt(st['ttft_p50_ms'])} ms, gap p50 "
          f"{fmt(st['gap_p50_ms'], 1)} ms, {st['batched_gaps']} batched, {st['errors']} failed",
          flush=True)  # fmt: skip
