"""Usage retention: archive rows older than a cutoff to gzip JSON lines, then delete them in small batches.

Archive, then delete, so that a crash anywhere (SIGKILL included) loses no row and archives none twice:
1. the next batch (oldest first) is named after its first row, and that name is recorded as pending
   in the lease row (the database), with this host;
2. the archive is written to `<name>.tmp`, fsynced, renamed to `<name>`, and its folder fsynced;
3. its rows are deleted by id in small transactions (`delete_batch` rows each; the caller pauses
   between them, so the hot path's writes never wait long: SQLite has one writer, and PostgreSQL
   and MongoDB lock only the rows deleted, which no call writes again);
4. the pending mark is cleared.
A pruner that finds a pending archive finishes it first: if the file exists, its ids are deleted
(ids already gone delete nothing); if it does not and this host left it, the crash came before the
rename, so its rows are all still in the table and the mark is dropped. A pending archive of another
host that this one cannot see is never guessed at (it may sit on that host's disk): pruning stops
and says so. One pruner at a time, across instances: the lease row is taken by one conditional
UPDATE and renewed at every step; it expires if its holder dies.
"""

import contextlib
import datetime as dt
import gzip
import json
import os
import socket
import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from usage.models import PruneLease, UsageLog

ARCHIVE_ROWS = 10_000  # rows per archive file
DELETE_BATCH = 500  # rows per delete transaction
LEASE_TTL = timedelta(minutes=5)  # a step takes seconds; a holder silent this long is dead
MIN_AGE = timedelta(days=1)  # younger rows may still be replayed from a spool or journal (README "Guarantees")
_LEASE = "prune"
_SUFFIX = ".jsonl.gz"


class PruneError(Exception):
    """Pruning cannot run now; the message says why and what to do."""


class PruneBusy(PruneError):
    """Another pruner holds the lease (usual with several instances: one of them prunes)."""


@dataclass(frozen=True)
class PruneStep:
    """One unit of work done: `pending` (an archive's name recorded, the file not yet written), `archived` (the
    file written), `deleted` (one delete transaction), `resumed` (an interrupted run's archive finished)."""

    kind: str
    rows: int
    path: Path | None = None


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lease_take(*, holder: str) -> PruneLease:
    with contextlib.suppress(IntegrityError):  # another instance created it at the same moment
        PruneLease.objects.get_or_create(name=_LEASE)
    now = timezone.now()
    free = Q(expires_at__lt=now) | Q(holder=holder) | Q(holder="")
    dead = _dead_holder()
    if dead:
        free |= Q(holder=dead)
    taken = PruneLease.objects.filter(free, name=_LEASE).update(holder=holder, expires_at=now + LEASE_TTL)
    lease = PruneLease.objects.get(name=_LEASE)
    if not taken:
        raise PruneBusy(f"another prune is running ({lease.holder}, until {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC)")
    return lease


def _dead_holder() -> str:
    """The holder's name if it is a process of this host that no longer runs (killed: no need to wait out the TTL)."""
    holder = PruneLease.objects.filter(name=_LEASE).values_list("holder", flat=True).first() or ""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return ""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return holder
    except PermissionError:  # alive, another user's
        return ""
    return ""


def _lease_renew(*, holder: str, **fields: str) -> None:
    """Extends the lease (and sets `fields`) only while this pruner still holds it: one conditional UPDATE."""
    now = timezone.now()
    renewed = PruneLease.objects.filter(name=_LEASE, holder=holder, expires_at__gte=now)
    if not renewed.update(expires_at=now + LEASE_TTL, **fields):
        raise PruneError("the prune lease was lost (this run stalled past its expiry); run it again")


def _lease_release(*, holder: str) -> None:
    PruneLease.objects.filter(name=_LEASE, holder=holder).update(holder="", expires_at=timezone.now())


def _json_default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return str(value)  # ObjectId (MongoDB's keys)


def archive_fields() -> list[str]:
    """The columns an archive keeps: every field of the row (attnames), plus the account's `user_id`."""
    return [field.attname for field in UsageLog._meta.concrete_fields]


def _batch(*, before: dt.datetime, rows: int, full: bool) -> list[dict[str, Any]]:
    oldest = UsageLog.objects.filter(created_at__lt=before).order_by("created_at", "id")
    if not full:
        return [{"id": pk} for pk in oldest.values_list("id", flat=True)[:rows]]
    found = list(oldest.values(*archive_fields(), "account__user_id")[:rows])
    for row in found:
        row["user_id"] = row.pop("account__user_id")
    return found


def _archive_name(first: dict[str, Any]) -> str:
    stamp = first["created_at"].astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"usage-{stamp}-{first['id']}{_SUFFIX}"


def _free_path(folder: Path, name: str) -> Path:
    """`name` in `folder`, or `name` with -1, -2 ... when taken: an existing archive is never overwritten."""
    path, n = folder / name, 0
    while path.exists():
        n += 1
        path = folder / f"{name.removesuffix(_SUFFIX)}-{n}{_SUFFIX}"
    return path


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def archive_write(*, path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Writes `rows` as gzip JSON lines, all or nothing: a temporary file, fsynced, renamed, folder fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:  # mtime=0: same rows, same bytes
            for row in rows:
                out.write(json.dumps(row, default=_json_default, sort_keys=True).encode() + b"\n")
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def archive_read(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of one archive, as written (ids, times and amounts as strings)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _delete(*, holder: str, ids: Sequence[Any], batch: int, path: Path | None) -> Iterator[PruneStep]:
    for start in range(0, len(ids), batch):
        _lease_renew(holder=holder)
        deleted, _ = UsageLog.objects.filter(id__in=ids[start : start + batch]).delete()
        yield PruneStep("deleted", deleted, path)


def _resume(*, holder: str, lease: PruneLease, batch: int) -> Iterator[PruneStep]:
    """Finishes the archive a crashed run left pending (see the module's docstring)."""
    if not lease.pending_archive:
        return
    path = Path(lease.pending_archive)
    if path.exists():
        ids = [UsageLog._meta.pk.to_python(row["id"]) for row in archive_read(path)]  # type: ignore[union-attr]
        deleted = 0
        for step in _delete(holder=holder, ids=ids, batch=batch, path=path):
            deleted += step.rows
            yield step
        yield PruneStep("resumed", deleted, path)
    elif lease.pending_host != socket.gethostname():
        raise PruneError(
            f"archive {path} was left pending by host {lease.pending_host} and is not visible here: "
            "run prune_usage there (or give every instance the same archive folder)"
        )
    else:  # killed before the rename: no archive holds its rows, which are all still in the table
        path.with_name(path.name + ".tmp").unlink(missing_ok=True)
    _lease_renew(holder=holder, pending_archive="", pending_host="")


def usage_prune_check(*, before: dt.datetime) -> None:
    """Refuses a cutoff younger than MIN_AGE: those rows may still come back from a spool replay."""
    if before > timezone.now() - MIN_AGE:
        raise PruneError(f"--before must be at least {MIN_AGE.days} day ago: younger rows may still be replayed")


def usage_prune_count(*, before: dt.datetime) -> int:
    """How many rows a prune with this cutoff would archive and delete now."""
    return UsageLog.objects.filter(created_at__lt=before).count()


def usage_prune(
    *,
    before: dt.datetime,
    archive_dir: Path | None,
    archive_rows: int = ARCHIVE_ROWS,
    delete_batch: int = DELETE_BATCH,
) -> Generator[PruneStep, None, None]:
    """Archives (when `archive_dir` is given) and deletes every row created before `before`, oldest first.

    A generator: each step is one short unit of work (an archive written, one delete transaction), so
    the caller decides the pause between them and may run each in a thread of its choice. Sync steps.
    """
    usage_prune_check(before=before)
    holder = _holder()
    lease = _lease_take(holder=holder)
    try:
        yield from _resume(holder=holder, lease=lease, batch=delete_batch)
        while batch := _batch(before=before, rows=archive_rows, full=archive_dir is not None):
            path = None
            if archive_dir is not None:
                path = _free_path(archive_dir, _archive_name(batch[0]))
                _lease_renew(holder=holder, pending_archive=str(path.resolve()), pending_host=socket.gethostname())
                yield PruneStep("pending", len(batch), path)
                archive_write(path=path, rows=batch)
                yield PruneStep("archived", len(batch), path)
            yield from _delete(holder=holder, ids=[row["id"] for row in batch], batch=delete_batch, path=path)
            if path is not None:
                _lease_renew(holder=holder, pending_archive="", pending_host="")
    finally:
        _lease_release(holder=holder)
