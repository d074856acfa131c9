"""key_create: 256-bit keys, only a keyed hash and a prefix stored, the raw key shown once."""

import hashlib

import pytest

from budgets.services import account_open
from keys.models import APIKey
from keys.selectors import key_lookup
from keys.services import PREFIX_LENGTH, key_create, key_hash, key_revoke
from tests.stored import stored_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return account_open(user_id="alice")


def test_raw_key_leaves_no_trace_in_the_database(account):
    created = key_create(account=account, name="ci")
    raw = created.raw
    dump = repr(stored_rows(APIKey._meta.db_table))
    assert raw not in dump
    # Nothing longer than the display prefix, and no plain (unkeyed) digest either.
    assert raw[: PREFIX_LENGTH + 1] not in dump
    assert hashlib.sha256(raw.encode()).hexdigest() not in dump
    assert created.key.key_hash == key_hash(raw)


def test_key_has_at_least_256_bits(account):
    raw = key_create(account=account).raw
    assert raw.startswith("gw-")
    assert len(raw) - 3 >= 43  # 32 bytes of urlsafe base64


def test_keys_are_unique(account):
    assert len({key_create(account=account).raw for _ in range(20)}) == 20


def test_repr_and_str_never_show_the_key(account):
    created = key_create(account=account, name="ci")
    for text in (repr(created), str(created.key), repr(created.key)):
        assert created.raw not in text


def test_lookup_finds_the_key_and_revocation_is_seen(account, django_capture_on_commit_callbacks):
    created = key_create(account=account)
    assert key_lookup(raw=created.raw).is_usable
    with django_capture_on_commit_callbacks(execute=True):
        key_revoke(key=created.key)
    assert not key_lookup(raw=created.raw).is_usable


def test_unknown_key_is_not_found(account):
    assert key_lookup(raw="gw-not-a-key") is None
