"""Revocation holds whatever Redis does: a revoked key (or deactivated account) is refused by every
instance within the cache window with Redis stopped, restarted with its append-only file, or flapping.

Two `manage.py serve` processes share a database and a Redis that keeps its data on disk (as
compose runs it). Keys are revoked through the REST API of one of them while the other keeps
calling, and a key of another account keeps calling throughout: it must never be refused.
"""

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.chaos.processes import gateway_env, gateways, manage, spawn_gateway, wait_ready
from tests.foundation.revocation_rig import AofRedis, Traffic, admin, new_key, warm

# The gateways never reach the suite's database (a SQLite file of their own): run once per scripts/test run.
pytestmark = [pytest.mark.engine_independent, pytest.mark.timeout(300)]

WINDOW = 5  # GATEWAY_L1_CACHE_TTL of the rig's gateways: the documented revocation window
SLACK = 1.0  # a call sent this long after the window may still be one the gateway started before it
TOKEN = "revocation-admin-token"
GROUP = "asgi__group__gateway-cache-invalidate"  # the invalidation channel on Redis (channels_redis pub/sub)


@dataclass
class Rig:
    redis: AofRedis
    urls: list[str]  # the first one takes the revocations

    def patch(self, path: str, change: dict[str, object]) -> None:
        with admin(self.urls[0], TOKEN) as api:
            response = api.patch(path, json=change)
        assert response.status_code == 200, response.text


@dataclass(frozen=True)
class Customers:
    """Three accounts with a key each, warm on every gateway: one key to revoke, one account to
    deactivate, and a bystander that must be served throughout."""

    keys: dict[str, dict[str, str]]  # "revoked key", "deactivated account", "bystander": the key as created
    users: dict[str, str]

    def revoke_both(self, rig: Rig) -> float:
        """Revokes the one key and deactivates the other account through the first gateway; when both were done."""
        rig.patch(f"/api/keys/{self.keys['revoked key']['id']}/", {"is_active": False})
        rig.patch(f"/api/accounts/{self.users['deactivated account']}/", {"is_active": False})
        return time.time()


names = (f"customer-{n}" for n in itertools.count())


def customers(rig: Rig) -> Customers:
    users = {role: next(names) for role in ("revoked key", "deactivated account", "bystander")}
    keys = {role: new_key(rig.urls[0], TOKEN, user) for role, user in users.items()}
    for key in keys.values():
        warm(rig.urls, key["key"])
    return Customers(keys=keys, users=users)


@pytest.fixture(scope="module")
def rig(upstream_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    folder = tmp_path_factory.mktemp("revocation")
    redis = AofRedis(folder=folder)
    redis.start()
    env = gateway_env(
        database_url=f"sqlite:///{folder / 'gateway.sqlite3'}",
        redis_url=redis.url,
        upstream_url=upstream_server.url,
        spool_dir=folder / "spool",
        ADMIN_API_KEY=TOKEN,
        GATEWAY_L1_CACHE_TTL=str(WINDOW),
    )
    manage("migrate", "--no-input", env=env)
    try:
        with gateways() as started:
            started.extend(spawn_gateway(env=env, log=folder / f"gateway-{n}.log") for n in range(2))
            yield Rig(redis=redis, urls=[wait_ready(gateway).url for gateway in started])
    finally:
        redis.stop()


def redis_stopped(rig: Rig, revoke: Callable[[], float]) -> tuple[float, float]:
    """Redis stopped before the revocation and for longer than the window, then back with its data."""
    rig.redis.stop()
    revoked = revoke()
    time.sleep(WINDOW + 2)
    rig.redis.start()
    return revoked, time.time()


def redis_restarted(rig: Rig, revoke: Callable[[], float]) -> tuple[float, float]:
    """Redis stopped for the revocation and started again with its data half a second later."""
    rig.redis.stop()
    revoked = revoke()
    time.sleep(0.5)
    rig.redis.start()
    return revoked, time.time()


def redis_flapping(rig: Rig, revoke: Callable[[], float]) -> tuple[float, float]:
    """Redis stopped for the revocation, then up and down every ~0.6 s for two windows, then up."""
    rig.redis.stop()
    revoked = revoke()
    while time.time() < revoked + 2 * WINDOW:
        rig.redis.start()
        time.sleep(0.6)
        rig.redis.stop()
        time.sleep(0.6)
    rig.redis.start()
    return revoked, time.time()


@pytest.mark.parametrize("outage", [redis_stopped, redis_restarted, redis_flapping], ids=lambda f: f.__name__)
def test_every_instance_refuses_a_revoked_key_and_a_deactivated_account_within_the_window(rig: Rig, outage) -> None:
    people = customers(rig)
    traffic = Traffic(rig.urls, {role: key["key"] for role, key in people.keys.items()})
    with traffic.running():
        revoked, redis_back = outage(rig, lambda: people.revoke_both(rig))
        # Long enough after Redis is back for an entry it kept to be read again: past the breaker's
        # 5 s pause and an L1 period.
        time.sleep(WINDOW + 7)

    deadline = revoked + WINDOW + SLACK
    for role in ("revoked key", "deactivated account"):
        for url in rig.urls:
            late = traffic.of(role, after=deadline, gateway=url)
            served = [call for call in late if call.status != 401]
            assert not served, (f"{url} served the {role} {len(served)} times after the window", served[:3])
            assert len([call for call in late if call.sent > redis_back + 6]) >= 5, "too few calls after Redis was back"
    refused = [call for call in traffic.of("bystander") if call.status != 200]
    assert not refused, ("a key of another account was refused", refused[:3])
    assert len(traffic.of("bystander")) > 50


def test_the_first_invalidation_after_a_redis_restart_reaches_the_other_instance_at_once(rig: Rig) -> None:
    people = customers(rig)
    victim = people.keys["revoked key"]
    # An invalidation before the restart: the first gateway has a connection to publish on.
    rig.patch(f"/api/keys/{people.keys['bystander']['id']}/", {"name": "before the restart"})
    rig.redis.stop()
    rig.redis.start()
    # Both gateways listen again (their subscriptions are restored), and answer from Redis again.
    deadline = time.monotonic() + 30
    while rig.redis.subscribers(GROUP) < 2:
        assert time.monotonic() < deadline, "the gateways did not subscribe again"
        time.sleep(0.1)
    time.sleep(6)  # the cache's breaker tries Redis again 5 s after its last failure
    warm(rig.urls, victim["key"])  # the other gateway holds the key in memory for a whole window

    traffic = Traffic(rig.urls[1:], {"revoked key": victim["key"]})  # the other gateway: it did not take the write
    with traffic.running():
        rig.patch(f"/api/keys/{victim['id']}/", {"is_active": False})
        revoked = time.time()
        time.sleep(WINDOW + 2)
    served = [call for call in traffic.of("revoked key", after=revoked + 1.0) if call.status != 401]
    assert not served, ("the other instance served the revoked key after the invalidation", served[:5])
