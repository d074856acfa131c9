"""LiteLLM's own transformations, called piece by piece: the only package of the gateway that imports LiteLLM.

The forwarding service (proxy.forwarding) carries every call over its pooled aiohttp transport
(proxy.passthrough); from LiteLLM it takes only what LiteLLM knows of each provider and format:
URLs and headers (endpoints), request, response and stream transformations for the chat format of
each provider (chat), and the format adapters between Messages, Responses and chat (formats). None of
LiteLLM's call machinery runs (no `acompletion`, logging object, callbacks, cost map, retries),
except on the escape hatch `GATEWAY_FAST_PATH=false` (proxy.forwarding.entry_point).

Every module here imports LiteLLM lazily, inside functions, so that importing the gateway stays
cheap. Where a step has only a private LiteLLM function, tests/proxy/test_translation_pins.py pins it.
"""
