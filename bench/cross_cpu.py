"""CPU a cross-format call costs in proxy.translated, in process: µs of CPU per call for each cross pair, JSON and SSE.

Runs the mock upstream (bench/mock_upstream.py) as its own process, so only the gateway's side is
counted: `forward_translated` (request translation, the pooled transport, the answer or every stream
frame translated back) for each call of bench/crosses.py, N times, timed with `time.process_time`.
Prints the median of several repetitions per pair. Nothing else of a request (auth, admission,
accounting) runs: it measures what differs between a cross-format call and a same-format one.

    .venv/bin/python bench/cross_cpu.py [--calls 300] [--repeats 5] [--only claude-chat,...]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the mock upstream did not start")


def targets(base: str):  # type: ignore[no-untyped-def]
    from bench.crosses import CROSSES
    from core.providers import Target

    prefixes = {"anthropic": "anthropic", "gemini": "gemini", "cohere": "cohere", "openai": "openai"}
    found = {}
    for call in CROSSES:
        prefix = prefixes[call.provider]
        api_base = base + "/v1" if call.provider == "openai" else base
        found[call.name] = (
            call,
            Target(call.provider, call.model, f"{prefix}/{call.model}", "sk-bench", api_base),
        )
    return found


async def one(call, target, stream: bool) -> int:  # type: ignore[no-untyped-def]
    from bench.crosses import body
    from proxy.request_params import Route
    from proxy.translated import forward_translated

    route = {"chat": Route.CHAT, "messages": Route.MESSAGES, "responses": Route.RESPONSES}[call.route]
    sent = json.loads(body(call.route, call.model, stream=stream))
    result = await forward_translated(route=route, target=target, body=sent, stream=stream, timeout=10.0)
    if not stream:
        return len(json.dumps(result.body))  # type: ignore[union-attr]
    size = 0
    async for frame in result:  # type: ignore[union-attr]
        size += len(frame)
    if not result.usage_reported:  # type: ignore[union-attr]
        raise RuntimeError(f"{call.name}: no usage in the stream")
    return size


async def measure(pairs, calls: int, repeats: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    results: dict[str, list[float]] = {}
    for call, target in pairs.values():
        for stream in (False, True):
            for _ in range(20):  # warm-up: caches, pools, imports
                await one(call, target, stream)
    for _ in range(repeats):
        for name, (call, target) in pairs.items():
            for stream in (False, True):
                start = time.process_time()
                for _ in range(calls):
                    await one(call, target, stream)
                spent = (time.process_time() - start) / calls * 1e6
                results.setdefault(f"{name} {'sse' if stream else 'json'}", []).append(spent)
    from proxy.passthrough import close_session

    await close_session()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--json", help="write the medians here too")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench")
    import django

    django.setup()
    port = free_port()
    mock = subprocess.Popen([sys.executable, str(ROOT / "bench" / "mock_upstream.py"), "--port", str(port)])  # noqa: S603
    try:
        wait_for(port)
        pairs = targets(f"http://127.0.0.1:{port}")
        if args.only:
            pairs = {name: pair for name, pair in pairs.items() if name in args.only.split(",")}
        import uvloop

        results = uvloop.run(measure(pairs, args.calls, args.repeats))
    finally:
        mock.terminate()
        mock.wait()
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        spread = f"{min(values):7.0f} – {max(values):7.0f}"
        print(f"{name:24} {medians[name]:8.0f} µs CPU a call (median of {len(values)}; {spread})")
    if args.json:
        Path(args.json).write_text(json.dumps(medians, indent=2))


if __name__ == "__main__":
    main()
