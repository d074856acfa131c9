"""The data benchmark: usage tables of 100 k to 10 M rows on SQLite and PostgreSQL, and how fast the reads stay.

`bench/run_data --rows 100000,1000000 --engines sqlite,postgres` makes, for each engine and size, a fresh
database under --dir (SQLite: a file; PostgreSQL: a throwaway server from Debian's binaries, one
database per size), migrates it, seeds it (bench/data_worker.py: bulk, rollups included, timed), and
times the operator's reads (p50/p95 of --repeat runs through Django's test client). Results go to
bench/results/data-<time>.json, data-latest.json, data-latest.md and data-latest.png.
"""

import argparse
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.processes import BenchError
from bench.report import machine, tools_python

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
# A server for reading, as an operator would tune one (the defaults are for a laptop); fsync off only
# because nothing here must survive a crash, and it makes seeding 10 M rows quicker.
PG_SETTINGS = (
    "-c shared_buffers=1GB -c effective_cache_size=4GB -c work_mem=64MB -c maintenance_work_mem=512MB "
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=8GB"
)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A throwaway PostgreSQL server in `folder`, from Debian's binaries (scripts/postgres, with reading settings)."""

    def __init__(self, folder: Path) -> None:
        self.bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        self.folder = folder
        self.port = _port()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.run("initdb", "-D", f"{self.folder}/data", "-U", "gateway", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 {PG_SETTINGS}"
        self.run("pg_ctl", "-D", f"{self.folder}/data", "-l", f"{self.folder}/log", "-w", "-o", options, "start")

    def run(self, program: str, *args: str, check: bool = True) -> None:
        command = _as_postgres([str(self.bindir / program), *args])
        subprocess.run(command, check=check, capture_output=True)  # noqa: S603

    def create(self, name: str) -> str:
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "gateway", name)
        return f"postgres://gateway@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.run("pg_ctl", "-D", f"{self.folder}/data", "-m", "fast", "stop", check=False)


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "MONGO_", "REDIS_", "GATEWAY_"))}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="gateway_project.settings",
        DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY", "data-bench-not-secret"),
        LOG_LEVEL="WARNING",
    )
    return env


def _python(args: list[str], env: dict[str, str], timeout: float = 4 * 3600) -> Any:
    argv = [sys.executable, *args]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)  # noqa: S603
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if args[0] == "-m" else None


def run_one(engine: str, rows: int, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    env = _env(database_url)
    started = time.monotonic()
    _python(["manage.py", "migrate", "--no-input", "-v", "0"], env)
    migrated = time.monotonic() - started
    seeded = _python(["-m", "bench.data_worker", "seed", "--rows", str(rows)], env)
    print(f"{engine} {rows:,}: seeded in {seeded['seed_s']} s ({seeded['rollups']:,} rollup rows)", file=sys.stderr)
    result = {"engine": engine, "rows": rows, "migrate_s": round(migrated, 1), **seeded}
    if args.check:
        result["check"] = _python(["-m", "bench.data_worker", "check"], env)
    result["reads"] = _python(["-m", "bench.data_worker", "measure", "--repeat", str(args.repeat)], env)
    for name, figures in result["reads"].items():
        print(f"  {name}: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms", file=sys.stderr)
    return result


def markdown(doc: dict[str, Any]) -> str:
    runs = doc["runs"]
    heads = [f"{r['engine']} {r['rows']:,}" for r in runs]
    lines = [
        f"# Data benchmark, {doc['date']} ({doc['machine']['cores']} cores, {doc['machine']['cpu']})",
        "",
        "p50 / p95 in ms of each read (Django's test client, in process).",
        "",
        "| read | " + " | ".join(heads) + " |",
        "| --- |" + " ---: |" * len(runs),
    ]
    for name in runs[0]["reads"]:
        cells = [f"{r['reads'][name]['p50_ms']} / {r['reads'][name]['p95_ms']}" for r in runs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| seeding (rows and rollups), s | " + " | ".join(str(r["seed_s"]) for r in runs) + " |")
    lines.append("| rollup rows | " + " | ".join(f"{r['rollups']:,}" for r in runs) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated table sizes")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per read (after 2 warm-up runs)")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp/gateway-data-bench"), help="databases go here")  # noqa: S108
    parser.add_argument("--check", action="store_true", help="also compare rollups with rows (usage_rollups check)")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args()
    sizes = [int(size) for size in args.rows.split(",")]
    args.dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for engine in args.engines.split(","):
        server = Postgres(args.dir / "postgres") if engine == "postgres" else None
        if server:
            shutil.rmtree(server.folder, ignore_errors=True)
            server.start()
        try:
            for rows in sizes:
                if server:
                    url = server.create(f"bench_{rows}")
                else:
                    path = args.dir / f"bench-{rows}.sqlite3"
                    for old in args.dir.glob(f"bench-{rows}.sqlite3*"):
                        old.unlink()
                    url = f"sqlite:///{path}"
                runs.append(run_one(engine, rows, url, args))
                if not args.keep and not server:
                    for old in args.dir.glob(f"bench-{rows}.sqlite3*"):
                        old.unlink()
        finally:
            if server:
                server.stop()
                if not args.keep:
                    shutil.rmtree(server.folder, ignore_errors=True)
    stamp = datetime.datetime.now(datetime.UTC)
    doc = {"date": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": machine(), "repeat": args.repeat, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(doc, indent=2) + "\n"
    (RESULTS / f"data-{stamp:%Y%m%dT%H%M%SZ}.json").write_text(text)
    (RESULTS / "data-latest.json").write_text(text)
    (RESULTS / "data-latest.md").write_text(markdown(doc))
    try:
        python = tools_python(args.dir / "cache")
        argv = [str(python), str(BENCH / "data_chart.py"), str(RESULTS / "data-latest.json")]
        png = str(RESULTS / "data-latest.png")
        subprocess.run([*argv, png], check=True, capture_output=True, timeout=120)  # noqa: S603
    except (BenchError, OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"bench: no chart: {exc}", file=sys.stderr)
    print(markdown(doc))


if __name__ == "__main__":
    main()
