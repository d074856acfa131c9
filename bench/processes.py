"""Child processes for the benchmark: started in their own sessions, always stopped on exit."""

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import FrameType


class BenchError(RuntimeError):
    """Something the benchmark needs did not start or did not answer; the message says what."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    """Prefixes `taskset -c cpu` when taskset exists and the machine has that core."""
    if cpu is None or not Path("/usr/bin/taskset").exists() or cpu >= (os.cpu_count() or 1):
        return argv
    return ["taskset", "-c", str(cpu), *argv]


def group_pids(leader: int) -> list[int]:
    """The live processes in `leader`'s process group (workers included: each child leads its own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited while we looked
            if int(fields[2]) == leader:
                pids.append(int(entry.name))
    return pids or [leader]


def group_cpu_seconds(leader: int) -> float:
    """User plus system CPU time of the process group, in seconds."""
    total = 0.0
    for pid in group_pids(leader):
        try:
            total += sum(cpu_seconds(pid))
        except OSError:
            continue
    return total


def wait_idle(leader: int, *, busy_share: float = 0.1, window: float = 0.5, limit: float = 20.0) -> None:
    """Waits until the process group uses under `busy_share` of a core over `window` seconds.

    A target keeps working on requests whose client is gone (wrk stops with its connections
    still waiting), so the next run would otherwise measure that backlog too.
    """
    deadline = time.monotonic() + limit
    before = group_cpu_seconds(leader)
    while time.monotonic() < deadline:
        time.sleep(window)
        now = group_cpu_seconds(leader)
        if now - before < busy_share * window:
            return
        before = now


def group_memory_mb(leader: int) -> tuple[float, float]:
    """(current RSS, peak RSS) summed over the process group, in MB; shared pages count once per process."""
    now = peak = 0.0
    for pid in group_pids(leader):
        try:
            rss, hwm = memory_mb(pid)
        except OSError:
            continue
        now, peak = now + rss, peak + hwm
    return now, peak


class Children:
    """Owns every process the harness starts; `stop_all` runs at exit and on SIGINT/SIGTERM."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        atexit.register(self.stop_all)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # unwinds through `finally` and atexit

    def start(
        self, name: str, argv: list[str], *, env: Mapping[str, str], log: Path, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - argv built by the harness, never from input
                argv, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        if proc.poll() is None:
            # Each child leads its own session: signal that group, never anything by name.
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop_all(self) -> None:
        while self.procs:
            _, proc = self.procs.pop()
            with contextlib.suppress(ProcessLookupError):
                self.stop(proc)


def wait_http(
    url: str, *, proc: subprocess.Popen[bytes], log: Path, timeout: float, headers: Mapping[str, str] | None = None
) -> None:
    """Polls `url` until it answers 200; fails with the process's log tail if it dies or never answers."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{url} : the process exited with {proc.returncode}.\n{tail(log)}")
        try:
            request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 - 127.0.0.1 only
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise BenchError(f"{url} did not answer 200 within {timeout:.0f} s (last: {last}).\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)
