"""A second gateway instance for the invalidation test: warms its L1, then reports the drop."""

import asyncio
import os
import sys

import django


async def main() -> None:
    from core.cache import cache_get_or_load, l1
    from core.invalidation import InvalidationListener

    await asyncio.to_thread(cache_get_or_load, "key", "peer-entry", lambda: "cached")
    listener = InvalidationListener()
    listener.ensure_started()
    await asyncio.sleep(0.5)  # let it join the group
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while l1().get(("key", "peer-entry")) == "cached" and loop.time() < deadline:
        await asyncio.sleep(0.005)
    print("dropped" if loop.time() < deadline else "still cached", flush=True)
    await listener.stop()


if __name__ == "__main__":
    os.environ["DJANGO_SETTINGS_MODULE"] = "gateway_project.settings"
    os.environ["REDIS_URL"] = sys.argv[1]
    os.environ.setdefault("DJANGO_SECRET_KEY", "peer")
    django.setup()
    asyncio.run(main())
