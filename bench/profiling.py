"""`bench/run --profile`: one extra, unmeasured wrk run with py-spy sampling our gateway; summary in profile.md."""

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.load import wrk
from bench.processes import BenchError, pinned
from bench.profile_top import summarise
from bench.targets import Target


def py_spy_binary(given: str) -> str:
    tools_venv = Path(tempfile.gettempdir()) / "bench-tools" / "bin" / "py-spy"
    for candidate in (given, shutil.which("py-spy") or "", str(tools_venv)):
        if candidate and Path(candidate).exists():
            return candidate
    raise BenchError(
        "--profile needs py-spy: uv venv /tmp/bench-tools && uv pip install --python /tmp/bench-tools py-spy"
    )


def profile(args: argparse.Namespace, target: Target, body: str, name: str = "") -> Path:
    """Samples the gateway during a run at the highest connection count; writes profile-raw.txt and profile.md.

    With a `name` (a cross-format call's), profile-<name>-raw.txt and profile-<name>.md.
    """
    stem = f"profile-{name}" if name else "profile"
    raw = args.output_dir / f"{stem}-raw.txt"
    raw.parent.mkdir(parents=True, exist_ok=True)
    seconds = args.duration
    argv = [py_spy_binary(args.py_spy), "record", "--pid", str(target.proc.pid), "--duration", str(round(seconds) + 2),
            "--rate", "200", "--threads", "--gil", "--format", "raw", "--output", str(raw),
            "--nonblocking"]  # fmt: skip
    spy = subprocess.Popen(  # noqa: S603 - fixed argv
        pinned(argv, args.client_cpu), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    time.sleep(1)  # py-spy attaches; it samples one second past wrk's end as well
    wrk(target.url, connections=max(args.connections), seconds=seconds, headers=target.request_headers(), body=body,
        cpu=args.client_cpu)  # fmt: skip
    out, _ = spy.communicate(timeout=seconds + 60)
    if spy.returncode != 0 or not raw.exists():
        raise BenchError(f"py-spy failed ({spy.returncode}):\n{out.decode(errors='replace')}")
    summary = summarise(raw)
    (args.output_dir / f"{stem}.md").write_text(summary)
    print(summary, flush=True)
    return raw
