"""Another instance for the Sentinel test: for each name read from stdin, warms it in L1, then reports its drop."""

import asyncio
import os
import sys

import django


async def main() -> None:
    from core.cache import cache_get_or_load, l1
    from core.invalidation import InvalidationListener

    listener = InvalidationListener()
    listener.ensure_started()
    loop = asyncio.get_running_loop()
    while name := (await asyncio.to_thread(sys.stdin.readline)).strip():
        await asyncio.to_thread(cache_get_or_load, "key", name, lambda: "cached")
        await asyncio.sleep(0.5)  # (re)joined the group, after a failover too
        print("ready", flush=True)
        deadline = loop.time() + 30
        while l1().get(("key", name)) == "cached" and loop.time() < deadline:
            await asyncio.sleep(0.005)
        print("dropped" if loop.time() < deadline else "still cached", flush=True)
    await listener.stop()


if __name__ == "__main__":
    os.environ["DJANGO_SETTINGS_MODULE"] = "gateway_project.settings"
    os.environ.setdefault("DJANGO_SECRET_KEY", "peer")
    django.setup()
    asyncio.run(main())
