"""Server-sent event responses that survive a client leaving.

The provider's stream is read by a pump task the process owns; the response only
reads from the pump's queue. When the client goes away the response is cancelled,
but the pump keeps reading until the provider's usage arrives (or the provider ends
or fails), then records the call. Frames are passed on as they arrive: no buffering (frames
queued together are sent in one write).
A stream may run at most GATEWAY_HOLD_TTL − 60 s, so no budget hold outlives its call;
at shutdown a pump past the grace period is cancelled and records a 503.
"""

import asyncio
import logging
from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse

from core.errors import GatewayError, GatewayUnavailable, UpstreamTimeout, UpstreamUnavailable
from core.metrics import metrics_first_frame_timer
from core.tasks import call_deadline
from proxy.accounting import CallRecord, call_finished, start_call
from proxy.forwarding import Stream
from proxy.usage_normalise import Usage
from proxy.usage_rules import Answered, usage_billed, usage_billed_now
from proxy.wire import error_frame

log = logging.getLogger(__name__)
_END = b""


class StreamPump:
    def __init__(self, stream: Stream, call: CallRecord) -> None:
        self.stream = stream
        self.call = call
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def run(self) -> None:
        status, code, cancelled = 200, "", False
        first_frame = metrics_first_frame_timer(route=self.call.route.value, started=self.call.started)
        try:
            async with asyncio.timeout(call_deadline()):
                async for frame in self.stream:
                    if self.stream.completed and not self.call.finished:
                        # Recorded (journaled) before the frame that completes the answer is queued:
                        # a worker killed once the client has its whole answer leaves its row.
                        usage = await self._billed()
                        call_finished(self.call, status=self._status(200), usage=usage)
                    if not self.call.client_gone:
                        self.queue.put_nowait(frame)
                        first_frame()
        except TimeoutError:
            status, code = self._fail(UpstreamTimeout("The call ran past the gateway's longest allowed duration."))
        except GatewayError as error:
            status, code = self._fail(error)
        except asyncio.CancelledError:
            status, code = self._fail(GatewayUnavailable("The gateway is shutting down; the stream was ended."))
            cancelled = True
            raise
        except Exception:
            log.exception("stream %s failed", self.call.request_id)
            status, code = self._fail(UpstreamUnavailable())
        finally:
            try:
                if not self.call.finished:  # ended without a final usage, or failed: billed from what is known
                    await self._finish(status, code, rough=cancelled)
            finally:
                self.queue.put_nowait(_END)
                await self.stream.aclose()

    async def _finish(self, status: int, code: str, *, rough: bool) -> None:
        # The status as the stream ended: a client that leaves once it has every frame (an SDK closes after
        # `[DONE]`) while the estimate below runs got its whole answer, which is no 499.
        status = self._status(status)
        try:
            usage = usage_billed_now(self.stream.usage, self._answered()) if rough else await self._billed()
        except asyncio.CancelledError:  # shut down while estimating: the row is written all the same
            rough_usage = usage_billed_now(self.stream.usage, self._answered())
            call_finished(self.call, status=status, usage=rough_usage, error_code=code)
            raise
        call_finished(self.call, status=status, usage=usage, error_code=code)

    def _answered(self) -> Answered:
        stream = self.stream
        return self.call.answered(lambda: stream.answer_text)

    async def _billed(self) -> Usage:
        return await usage_billed(self.stream.usage, self._answered())

    def _status(self, status: int) -> int:
        return 499 if self.call.client_gone and status == 200 else status

    def _fail(self, error: GatewayError) -> tuple[int, str]:
        self.queue.put_nowait(error_frame(self.call.route, error))
        return error.status(), error.code

    async def frames(self) -> AsyncIterator[bytes]:
        """The frames as the pump queues them; those already queued together go out as one write (a translated
        stream's first token comes with the events before it: five frames, one send), so none waits for another."""
        try:
            ended = False
            while not ended:
                ready = [await self.queue.get()]
                while not self.queue.empty():
                    ready.append(self.queue.get_nowait())
                if ready[-1] == _END:  # always the last thing queued
                    ready.pop()
                    ended = True
                if ready:
                    yield ready[0] if len(ready) == 1 else b"".join(ready)
        finally:
            # Cancelled (client disconnected) or closed: the pump goes on without us.
            if not self.call.finished:
                self.call.client_gone = True


def sse_response(stream: Stream, call: CallRecord) -> StreamingHttpResponse:
    pump = StreamPump(stream, call)
    start_call(pump.run())
    response = StreamingHttpResponse(pump.frames(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and friends: do not buffer the stream
    return response
