"""One-off measurement: CPU per call of LiteLLM's Router on top of `litellm.acompletion` (docs/routing.md).

Not a test and not part of bench/run: `uv run python bench/router_cost.py [calls]`. Serves a minimal
OpenAI chat answer on 127.0.0.1 and times, in this one process, N sequential calls through
`litellm.acompletion` and through a `litellm.Router` with two deployments of one name.
"""

import asyncio
import os
import sys
import time
from typing import Any

from aiohttp import web

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


async def main(calls: int) -> None:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    app = web.Application()

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(ANSWER)

    app.router.add_post("/v1/chat/completions", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1"  # type: ignore[union-attr]
    params = {"api_key": "sk-local", "api_base": base, "max_retries": 0}
    router = litellm.Router(
        model_list=[
            {"model_name": "team", "litellm_params": {"model": "openai/gpt-4o-mini", **params}},
            {"model_name": "team", "litellm_params": {"model": "openai/gpt-4.1-mini", **params}},
        ],
        num_retries=0,
    )
    messages: Any = [{"role": "user", "content": "hi"}]

    async def plain() -> None:
        await litellm.acompletion(model="openai/gpt-4o-mini", messages=messages, **params)

    async def routed() -> None:
        await router.acompletion(model="team", messages=messages)

    for name, call in (("litellm.acompletion", plain), ("Router.acompletion", routed)):
        for _ in range(30):  # warm-up
            await call()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            await call()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{name:22s} {cpu / calls * 1000:6.2f} ms CPU/call  {wall / calls * 1000:6.2f} ms wall/call")
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
