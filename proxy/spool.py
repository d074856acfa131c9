"""A durable local spool for usage rows the database could not take, replayed in order when it is back.

When a batch of rows and settlements cannot be written (the database is down, locked or
unreachable), the entries are appended to this process's spool file (JSON lines, flushed
and fsynced) instead of being lost. A replay task retries them in order, idempotently by
request id (`usage_record_many(idempotent=True)`), so a write that failed on our side but
committed on the server's is never booked twice. Files of dead processes (not locked) are
replayed by any live one. An entry the database refuses while others go through is moved to
`dead.jsonl` and logged, so one bad row can never block the queue.
"""

import fcntl
import functools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError

from usage.services import UsageEntry, usage_record_many

log = logging.getLogger(__name__)
_SUFFIX = ".jsonl"
_DEAD = "dead.jsonl"
_BATCH = 500


class Spool:
    """This process's spool file (held under an exclusive lock while it lives) and the replay of all files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.file: IO[str] | None = None
        self.path: Path | None = None
        self.pending = 0  # entries this process appended and has not yet replayed

    def _open(self) -> IO[str]:
        if self.file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}{_SUFFIX}"
            self.path = self.directory / name
            self.file = self.path.open("a", encoding="utf-8")
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours while we live; a dead process's is free
        return self.file

    def append(self, entries: Sequence[UsageEntry]) -> None:
        """Appends entries durably (flush + fsync) before returning."""
        with self.lock:
            out = self._open()
            out.write("".join(json.dumps(entry.as_json(), separators=(",", ":")) + "\n" for entry in entries))
            out.flush()
            os.fsync(out.fileno())
            self.pending += len(entries)
        log.warning("%d usage rows spooled to %s: the database did not take them", len(entries), self.path)

    def _rotate(self) -> Path | None:
        """Closes our file so it can be replayed; the next append opens a new one."""
        with self.lock:
            if self.file is None or self.path is None:
                return None
            self.file.close()  # releases our lock: the replayer takes it again below
            path, self.file, self.path, self.pending = self.path, None, None, 0
            return path

    def replay(self) -> int:
        """Writes every spooled entry it can, oldest file first; returns how many rows were written.

        Stops at the first file the database cannot take (it is still down): order is kept.
        """
        own = self._rotate()
        written = 0
        for path in sorted(self.directory.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime):
            if path.name == _DEAD or (path != own and path == self.path):
                continue
            done = _replay_file(path, self.directory / _DEAD)
            if done is None:
                break
            written += done
        return written

    def close(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None


def _replay_file(path: Path, dead: Path) -> int | None:
    """Replays one file under its lock and removes it; None if it is locked (live owner) or the database is down."""
    try:
        handle = path.open("r+", encoding="utf-8")
    except FileNotFoundError:
        return 0  # another process replayed it meanwhile
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # a live process owns it
        entries = [UsageEntry.from_json(json.loads(line)) for line in handle if line.strip()]
        written = 0
        for start in range(0, len(entries), _BATCH):
            batch = entries[start : start + _BATCH]
            try:
                written += usage_record_many(entries=batch, idempotent=True)
            except (IntegrityError, DataError):
                written += _one_by_one(batch, dead)
            except DatabaseError:
                # Still down: keep what is left, in order, for the next try.
                _rewrite(handle, entries[start:])
                return None
        path.unlink()
        return written


def _one_by_one(batch: Sequence[UsageEntry], dead: Path) -> int:
    written = 0
    for entry in batch:
        try:
            written += usage_record_many(entries=[entry], idempotent=True)
        except (IntegrityError, DataError):
            log.error("usage row %s refused by the database; kept in %s for an operator", entry.request_id, dead)
            with dead.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry.as_json()) + "\n")
    return written


def _rewrite(handle: IO[str], entries: Sequence[UsageEntry]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write("".join(json.dumps(entry.as_json(), separators=(",", ":")) + "\n" for entry in entries))
    handle.flush()
    os.fsync(handle.fileno())


@functools.cache
def spool() -> Spool:
    return Spool(Path(settings.SPOOL_DIR))


def spool_depth() -> int:
    """Entries waiting in every spool file of this host's spool directory (for /readyz and `manage.py spool`)."""
    directory = Path(settings.SPOOL_DIR)
    if not directory.is_dir():
        return 0
    total = 0
    for path in directory.glob(f"*{_SUFFIX}"):
        if path.name != _DEAD:
            try:
                with path.open("rb") as handle:
                    total += sum(1 for line in handle if line.strip())
            except FileNotFoundError:
                continue
    return total


def spool_files() -> list[dict[str, Any]]:
    directory = Path(settings.SPOOL_DIR)
    if not directory.is_dir():
        return []
    rows = []
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        with path.open("rb") as handle:
            rows.append(
                {"file": path.name, "entries": sum(1 for line in handle if line.strip()), "dead": path.name == _DEAD}
            )
    return rows
