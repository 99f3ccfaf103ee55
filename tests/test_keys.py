"""Virtual keys: public id + secret, only a hash stored, compared in constant time."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from goodstanding.credentials import keys
from goodstanding.stores.memory import MemoryStore


async def test_created_key_is_stored_only_as_a_hash():
    store = MemoryStore()
    key, token = await keys.create_key(store, "team-a", rpm=10)
    key_id, secret = keys.split_token(token)
    assert key_id == key.id and key.tenant == "team-a" and key.rpm == 10
    stored = store.keys[key.id]
    assert secret not in repr(stored) and stored.secret_hash == keys.hash_secret(secret)
    assert keys.matches(stored, secret) and not keys.matches(stored, secret[:-1] + "x")


async def test_rotation_keeps_tenant_and_expires_old_key_after_grace():
    store = MemoryStore()
    old, _ = await keys.create_key(store, "team-a")
    new, _ = await keys.rotate_key(store, old.id, grace=60)
    assert new.tenant == old.tenant and new.id != old.id
    old_now = store.keys[old.id]
    assert old_now.usable(time.time()) and not old_now.usable(time.time() + 61)


async def test_revoked_key_is_unusable():
    store = MemoryStore()
    key, _ = await keys.create_key(store, "x")
    assert await keys.revoke_key(store, key.id)
    assert not store.keys[key.id].usable(time.time())


def test_describe_never_shows_secret_material():
    key = keys.VirtualKey("abc", "n", "n", "h" * 64, 0.0)
    assert "h" * 64 not in str(keys.describe(key))


@given(st.text(max_size=120))
def test_split_token_never_raises(text):
    parts = keys.split_token(text)
    assert parts is None or keys.PREFIX + parts[0] + "-" + parts[1] == text
