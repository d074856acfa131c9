"""Usage rows on local disk: a journal that survives a killed worker, and a spool for database outages.

Journal: every finished call's entry is written (one `write`, no fsync: the page cache
outlives a SIGKILL or OOM kill of the process) to this process's current journal segment
before its answer is sent; the segment is sealed when the writer takes its batch and
deleted once that batch is committed or spooled. A dead process leaves its segments
behind, unlocked, and any live process replays them.
Spool: a batch the database cannot take (down, locked, unreachable) is appended to this
process's spool file (flushed and fsynced). A replay task retries spooled entries in order.
Both replay idempotently by request id (`budgets.ledger.usage_book_many(idempotent=True)`), so nothing
is booked twice. An entry the database refuses while others go through is moved to
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, DataError, IntegrityError

from budgets.ledger import usage_book_many
from usage.services import UsageEntry

log = logging.getLogger(__name__)
_SPOOLED = ".jsonl"
_JOURNAL = ".journal"
_DEAD = "dead.jsonl"
_BATCH = 500
# What a database that is up says of a row it will never take; anything else may pass once it is back.
REFUSED = (IntegrityError, DataError, ValidationError, ValueError, TypeError, ArithmeticError)


def _line(entry: UsageEntry) -> str:
    return json.dumps(entry.as_json(), separators=(",", ":")) + "\n"


def _name(suffix: str) -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}{suffix}"


@dataclass(frozen=True)
class Segment:
    """A sealed journal segment: deleted once its entries are safe."""

    fd: int
    path: Path

    def done(self) -> None:
        # Unlinked before it is closed, so it is never seen on disk unlocked (as a dead process's).
        self.path.unlink(missing_ok=True)
        os.close(self.fd)


class Journal:
    """This process's write-ahead journal of finished calls (event-loop thread only)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.fd: int | None = None
        self.path: Path | None = None
        self.broken = False

    def write(self, entry: UsageEntry) -> None:
        try:
            if self.fd is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self.path = self.directory / _name(_JOURNAL)
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(self.fd, _line(entry).encode())
            self.broken = False
        except OSError as exc:
            # A full or read-only disk must not fail the call; the row still goes to the database.
            if not self.broken:
                log.error("the usage journal cannot be written (%s); rows are safe only once committed", exc)
            self.broken = True

    def seal(self) -> Segment | None:
        """The current segment, closed to new entries (they start a new one)."""
        if self.fd is None or self.path is None:
            return None
        segment = Segment(self.fd, self.path)
        self.fd, self.path = None, None
        return segment


class Spool:
    """This process's spool file (held under an exclusive lock while it lives) and the replay of all files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.file: IO[str] | None = None
        self.path: Path | None = None

    def _open(self) -> IO[str]:
        if self.file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path = self.directory / _name(_SPOOLED)
            self.file = self.path.open("a", encoding="utf-8")
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours while we live; a dead process's is free
        return self.file

    def append(self, entries: Sequence[UsageEntry]) -> None:
        """Appends entries durably (flush + fsync) before returning."""
        with self.lock:
            out = self._open()
            out.write("".join(_line(entry) for entry in entries))
            out.flush()
            os.fsync(out.fileno())
        log.warning("%d usage rows spooled to %s: the database did not take them", len(entries), self.path)

    def bury(self, entry: UsageEntry) -> None:
        """Keeps an entry the database refuses (while it takes others) in the dead-letter file, for an operator."""
        with self.lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with (self.directory / _DEAD).open("a", encoding="utf-8") as out:
                out.write(_line(entry))
        log.error("usage row %s refused by the database; kept in %s for an operator", entry.request_id, _DEAD)

    def _rotate(self) -> None:
        """Closes our spool file so it can be replayed; the next append opens a new one."""
        with self.lock:
            if self.file is not None:
                self.file.close()  # releases our lock: the replayer takes it again
                self.file, self.path = None, None

    def replay(self) -> int:
        """Writes every spooled entry it can, oldest file first; returns how many rows were written.

        Stops at the first file the database cannot take (it is still down): order is kept.
        """
        self._rotate()
        written = 0
        for path in _waiting(self.directory):
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


def _waiting(directory: Path) -> list[Path]:
    """Spool files and dead processes' journal segments, oldest first."""
    if not directory.is_dir():
        return []
    paths = [p for p in directory.iterdir() if p.suffix in (_SPOOLED, _JOURNAL) and p.name != _DEAD]
    stamped = []
    for path in paths:
        try:
            stamped.append((path.stat().st_mtime, path))
        except FileNotFoundError:
            continue
    return [path for _, path in sorted(stamped)]


def _entries(handle: IO[str], dead: Path) -> Iterator[UsageEntry]:
    for line in handle:
        if not line.endswith("\n"):
            continue  # a line cut short by a crash mid-write: its call was never answered
        try:
            yield UsageEntry.from_json(json.loads(line))
        except (ValueError, TypeError, KeyError):
            log.error("an unreadable spool line was kept in %s for an operator", dead)
            with dead.open("a", encoding="utf-8") as out:
                out.write(line)


def _replay_file(path: Path, dead: Path) -> int | None:
    """Replays one file under its lock and removes it; 0 if a live process holds it, None if the database is down."""
    try:
        handle = path.open("r+", encoding="utf-8")
    except FileNotFoundError:
        return 0  # another process replayed it meanwhile
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # a live process owns it
        if not path.exists():
            return 0  # replayed and removed while we waited for the lock
        entries = list(_entries(handle, dead))
        written = 0
        for start in range(0, len(entries), _BATCH):
            batch = entries[start : start + _BATCH]
            try:
                written += usage_book_many(entries=batch, idempotent=True)
            except REFUSED:
                written += _one_by_one(batch, dead)
            except DatabaseError:
                _rewrite(handle, entries[start:])  # still down: keep what is left, in order, for the next try
                return None
        path.unlink()
        return written


def _one_by_one(batch: Sequence[UsageEntry], dead: Path) -> int:
    written = 0
    for entry in batch:
        try:
            written += usage_book_many(entries=[entry], idempotent=True)
        except REFUSED:
            log.error("usage row %s refused by the database; kept in %s for an operator", entry.request_id, dead)
            with dead.open("a", encoding="utf-8") as out:
                out.write(_line(entry))
    return written


def _rewrite(handle: IO[str], entries: Sequence[UsageEntry]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write("".join(_line(entry) for entry in entries))
    handle.flush()
    os.fsync(handle.fileno())


@functools.cache
def spool() -> Spool:
    return Spool(Path(settings.SPOOL_DIR))


@functools.cache
def journal() -> Journal:
    return Journal(Path(settings.SPOOL_DIR))


def _unlocked(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except (BlockingIOError, FileNotFoundError):
        return False


def _count(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except FileNotFoundError:
        return 0


def spool_depth() -> int:
    """Entries waiting to be replayed on this host: spool files, and journals of processes that died."""
    return sum(_count(path) for path in _waiting(Path(settings.SPOOL_DIR)) if _is_waiting(path))


def _is_waiting(path: Path) -> bool:
    return path.suffix == _SPOOLED or _unlocked(path)


def spool_files() -> list[dict[str, Any]]:
    directory = Path(settings.SPOOL_DIR)
    rows = [{"file": path.name, "entries": _count(path), "dead": False} for path in _waiting(directory)]
    if (directory / _DEAD).exists():
        rows.append({"file": _DEAD, "entries": _count(directory / _DEAD), "dead": True})
    return rows
