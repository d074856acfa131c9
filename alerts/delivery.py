"""The delivery loop each worker runs beside the proxy: claims due deliveries from the outbox and sends them.

Runs as a task of its own on the worker's event loop (started with the upkeep, proxy/upkeep.py),
never in a request's path: a dead or slow endpoint costs this task a timeout, not a call its
latency. Every instance runs one; the outbox's claims (alerts/outbox.py) keep two from sending
one delivery at once. An event committed in this process wakes the loop at once; other
instances find it at their next poll (GATEWAY_ALERT_POLL). GATEWAY_ALERT_DELIVERY=false keeps an
instance from sending (it still queues what its calls raise): the others, or a later start, send it.
"""

import asyncio
import contextlib
import contextvars
import functools
import logging
import time

import aiohttp
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from alerts.models import Destination
from alerts.outbox import Claimed, delivery_claim_due, delivery_finish
from alerts.payload import EVENT_ID_HEADER, webhook_headers
from core.pool import in_pool, in_writer

log = logging.getLogger(__name__)
IN_FLIGHT = 16  # deliveries one worker sends at once


@functools.cache
def _loops() -> dict[asyncio.AbstractEventLoop, asyncio.Event]:
    """The wake-up event of each running delivery loop in this process, by event loop."""
    return {}


def deliveries_wake() -> None:
    """Tells this process's delivery loops that deliveries were queued (thread-safe; called on commit)."""
    for loop, wake in list(_loops().items()):
        with contextlib.suppress(RuntimeError):  # that loop has just closed
            loop.call_soon_threadsafe(wake.set)


def send_email(claimed: Claimed) -> None:
    """Sends one alert e-mail through Django's configured backend. Sync: runs in the thread pool."""
    connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
    message = EmailMessage(
        subject=claimed.subject,
        body=claimed.body.decode(),
        to=[claimed.target],
        headers={EVENT_ID_HEADER: claimed.event_id},
        connection=connection,
    )
    message.send(fail_silently=False)


class AlertDispatcher:
    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.sending: set[asyncio.Task[None]] = set()
        self.session: aiohttp.ClientSession | None = None
        self.failing = False

    def ensure_started(self) -> None:
        if self.task is None or self.task.done():
            loop = asyncio.get_running_loop()
            self.wake = asyncio.Event()
            _loops()[loop] = self.wake
            # An empty context: nothing of the request that happened to start it reaches the loop.
            self.task = loop.create_task(self._run(), context=contextvars.Context())

    async def stop(self) -> None:
        """Lets sends in flight finish (within their timeout), then ends the loop; claims left expire and retry."""
        if self.task is None:
            return
        _loops().pop(asyncio.get_running_loop(), None)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        if self.sending:
            await asyncio.wait(self.sending, timeout=settings.ALERT_TIMEOUT + 1)
        for task in self.sending:
            task.cancel()
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _run(self) -> None:
        while True:
            full = False
            try:
                full = await self._claim() if settings.ALERT_DELIVERY else False
                self.failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again at the next poll (said once an outage)
                if not self.failing:
                    log.warning("alert deliveries deferred: claiming failed with %s", type(exc).__name__)
                self.failing = True
            if full:  # more may be due: wait for a free slot (a send ending wakes us), not for the poll
                self.wake.clear()
                await self.wake.wait()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=settings.ALERT_POLL_INTERVAL)
            self.wake.clear()

    async def _claim(self) -> bool:
        """Claims what is due and starts sending it; True when every slot is taken (more may be due)."""
        room = IN_FLIGHT - len(self.sending)
        claimed = await in_writer(delivery_claim_due, limit=room) if room > 0 else []
        for item in claimed:
            task = asyncio.get_running_loop().create_task(self._deliver(item))
            self.sending.add(task)
            task.add_done_callback(self._sent)
        return room <= 0 or len(claimed) == room

    def _sent(self, task: asyncio.Task[None]) -> None:
        self.sending.discard(task)
        self.wake.set()

    async def _deliver(self, claimed: Claimed) -> None:
        error = claimed.problem or await self._attempt(claimed)
        try:
            status = await in_writer(delivery_finish, claimed=claimed, error=error)
        except Exception as exc:  # its claim expires and another attempt is made: at-least-once
            log.warning("alert delivery %s: outcome not recorded: %s", claimed.delivery_id, type(exc).__name__)
            return
        if error:
            log.warning(
                "alert delivery %s (event %s, attempt %d) failed: %s; now %s",
                claimed.delivery_id,
                claimed.event_id,
                claimed.attempt,
                error,
                status or "taken over by another worker",
            )

    async def _attempt(self, claimed: Claimed) -> str:
        """Sends once; "" when delivered, else the error's class or HTTP status (never a message: it may echo a URL)."""
        try:
            if claimed.channel == Destination.EMAIL:
                await in_pool(send_email, claimed)
                return ""
            status = await self._post(claimed)
        except TimeoutError:
            return "Timeout"
        except Exception as exc:
            return type(exc).__name__
        return "" if 200 <= status < 300 else f"HTTP {status}"

    async def _post(self, claimed: Claimed) -> int:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT, ttl_dns_cache=300))
        headers = webhook_headers(
            event_id=claimed.event_id,
            secret=claimed.secret,
            timestamp=int(time.time()),
            body=claimed.body,
            attempt=claimed.attempt,
        )
        # No redirects: a 3xx is the receiver's misconfiguration, and following it would post the signed body elsewhere.
        timeout = aiohttp.ClientTimeout(total=settings.ALERT_TIMEOUT)
        async with self.session.post(
            claimed.target, data=claimed.body, headers=headers, timeout=timeout, allow_redirects=False
        ) as reply:
            return reply.status
