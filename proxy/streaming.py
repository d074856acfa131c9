"""Server-sent event responses that survive a client leaving.

The provider's stream is read by a pump task the process owns; the response only
reads from the pump's queue. When the client goes away the response is cancelled,
but the pump keeps reading until the provider's usage arrives (or the provider ends
or fails), then records the call. Frames are passed on as they arrive: no buffering.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from django.http import StreamingHttpResponse

from gateway_project.errors import GatewayError, UpstreamUnavailable
from gateway_project.metrics import metrics_first_frame_timer
from proxy.accounting import CallRecord, call_finished, spawn
from proxy.forwarding import Stream

log = logging.getLogger(__name__)
_END = b""


class StreamPump:
    def __init__(self, stream: Stream, call: CallRecord, error_frame: Callable[[GatewayError], bytes]) -> None:
        self.stream = stream
        self.call = call
        self.error_frame = error_frame
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.client_gone = False

    async def run(self) -> None:
        status, code = 200, ""
        first_frame = metrics_first_frame_timer(route=self.call.route.value, started=self.call.started)
        try:
            async for frame in self.stream:
                if not self.client_gone:
                    self.queue.put_nowait(frame)
                    first_frame()
        except GatewayError as error:
            status, code = self._fail(error)
        except Exception:
            log.exception("stream %s failed", self.call.request_id)
            status, code = self._fail(UpstreamUnavailable())
        finally:
            self.queue.put_nowait(_END)
            await self.stream.aclose()
            if self.client_gone and status == 200:
                status, code = 499, "client_closed_request"
            call_finished(self.call, status=status, usage=self.stream.usage, error_code=code)

    def _fail(self, error: GatewayError) -> tuple[int, str]:
        self.queue.put_nowait(self.error_frame(error))
        return error.status(), error.code

    async def frames(self) -> AsyncIterator[bytes]:
        try:
            while (frame := await self.queue.get()) != _END:
                yield frame
        finally:
            # Cancelled (client disconnected) or closed: the pump goes on without us.
            self.client_gone = True


def sse_response(
    stream: Stream, call: CallRecord, error_frame: Callable[[GatewayError], bytes]
) -> StreamingHttpResponse:
    pump = StreamPump(stream, call, error_frame)
    spawn(pump.run())
    response = StreamingHttpResponse(pump.frames(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and friends: do not buffer the stream
    return response
