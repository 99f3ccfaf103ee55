"""Rotating an upstream key through OpenAI's Admin API (reference §6), without a failed request.

1. mint a new key for the key's service account
   (``POST /organization/projects/{project}/service_accounts/{sa}/api_keys``);
2. write it where the configuration's reference points (``secret:NAME`` in the encrypted store,
   or ``file:/path``, replaced atomically), with the new key's id beside it;
3. wait ``upstream.reload_interval`` (every running gateway re-reads the reference by then,
   ``credentials/keyring.py``) plus ``drain`` (requests already sent with the old key finish);
4. delete the old key (``DELETE /organization/projects/{project}/api_keys/{key_id}``).

Until step 4 both keys are valid upstream, so a request is never sent with a dead key.
``env:`` references cannot be rewritten from here: rotate those by hand (or move them to the
store). The key's id and creation time live in the store entry, or for a file in
``PATH.meta.json``; the first rotation takes the old id from ``key_id`` in the configuration.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from goodstanding.credentials.keyring import Keyring, resolve
from goodstanding.credentials.secretstore import SecretStore
from goodstanding.errors import ConfigError
from goodstanding.settings import Settings, UpstreamKey, parse_duration

ADMIN_ENV = "OPENAI_ADMIN_KEY"
REWRITABLE = ("file:", "secret:")  # the references rotation can write a new key into


@dataclass(frozen=True, slots=True)
class Rotated:
    name: str
    new_key_id: str
    old_key_id: str | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class Place:
    """Where an upstream key's value (and its id, creation time) is kept."""

    ref: str
    env: Mapping[str, str]

    def write(self, value: str, key_id: str) -> None:
        meta = {"key_id": key_id, "created_at": time.time()}
        if self.ref.startswith("secret:"):
            SecretStore.from_env(self.env).put(self.ref[7:], value, **meta)
            return
        path = Path(self.ref[5:])
        _atomic_write(path, value + "\n")
        _atomic_write(_meta_path(path), json.dumps(meta))

    def meta(self) -> dict[str, Any]:
        if self.ref.startswith("secret:"):
            return SecretStore.from_env(self.env).names().get(self.ref[7:], {})
        path = Path(self.ref[5:])
        try:
            return json.loads(_meta_path(path).read_text())
        except (OSError, ValueError):
            try:
                return {"created_at": path.stat().st_mtime}
            except OSError:
                return {}


def place_of(entry: UpstreamKey, where: str, env: Mapping[str, str]) -> Place:
    ref = entry.key or ""
    if not ref.startswith(REWRITABLE):
        raise ConfigError(f"{where}: rotation rewrites the key where it is kept, so it must be "
                          "a file:/path or secret:NAME reference (env: cannot be rewritten)")
    return Place(ref, env)


def age(entry: UpstreamKey, where: str, env: Mapping[str, str]) -> float | None:
    created = place_of(entry, where, env).meta().get("created_at")
    return None if created is None else time.time() - float(created)


def max_age_of(settings: Settings, entry: UpstreamKey) -> float | None:
    """The key's maximum age in seconds: its own ``max_age``, else ``upstream.rotation``'s."""
    chosen = entry.max_age or settings.upstream.rotation.max_age
    return None if chosen is None else parse_duration(chosen)


def warn_before(settings: Settings) -> float:
    return parse_duration(settings.upstream.rotation.warn_before)


def ages(settings: Settings, env: Mapping[str, str]) -> list[tuple[str, float | None, float]]:
    """(name, age or None when unknown, max age) of every key that has a maximum age and a
    reference rotation can rewrite (``default`` for upstream.key; env: and vault: references
    are left out: their age is not known here and rotation cannot rewrite them)."""
    found = []
    for name in ["default", *settings.upstream.keys]:
        entry = settings.upstream.entry(None if name == "default" else name)
        limit = None if entry is None else max_age_of(settings, entry)
        if entry is None or limit is None or not (entry.key or "").startswith(REWRITABLE):
            continue
        found.append((name, age(entry, _where(name), env), limit))
    return found


def due(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """Names (``default`` for upstream.key) whose key is older than its maximum age (or of
    unknown age: never rotated by goodstanding)."""
    return [name for name, current, limit in ages(settings, env)
            if current is None or current >= limit]


def rotate(settings: Settings, name: str, env: Mapping[str, str], *, drain: float,
           say: Callable[[str], None] = print, client: httpx.Client | None = None,
           keyring: Keyring | None = None) -> Rotated:
    """Rotate one upstream key (steps 1-4 above). ``keyring``: the calling gateway's own,
    switched at once (other processes switch within ``upstream.reload_interval``)."""
    entry = settings.upstream.entry(None if name == "default" else name)
    where = _where(name)
    if entry is None:
        known = ", ".join(["default", *settings.upstream.keys])
        raise ConfigError(f"no upstream key named '{name}' (known: {known})")
    place = place_of(entry, where, env)
    missing = [f for f in ("project", "service_account") if not getattr(entry, f)]
    if missing:
        raise ConfigError(f"{where}: rotation through the Admin API needs "
                          f"{' and '.join(missing)} (the key's project and service account)")
    admin = resolve(entry.admin_key, env, f"{where}.admin_key") or env.get(ADMIN_ENV)
    if not admin:
        raise ConfigError(f"{where}: no Admin API key: set admin_key (env:/file:/secret:) or "
                          f"{ADMIN_ENV}")
    old_id = place.meta().get("key_id") or entry.key_id
    http = client or httpx.Client(timeout=30)
    base = settings.upstream.url.rstrip("/") + f"/organization/projects/{entry.project}"
    headers = {"authorization": f"Bearer {admin}"}
    try:
        minted = _call(http, "POST", f"{base}/service_accounts/{entry.service_account}/api_keys",
                       headers, {"name": f"goodstanding {name} {time.strftime('%Y-%m-%d')}"})
        value, new_id = minted.get("value"), minted.get("id")
        if not isinstance(value, str) or not isinstance(new_id, str):
            raise ConfigError("the Admin API answered without a key value and id")
        place.write(value, new_id)
        if keyring is not None:
            keyring.request_reload()
        say(f"minted {new_id} and stored it in {place.ref}; waiting "
            f"{settings.upstream.reload_interval + drain:g}s for gateways to switch and "
            "requests in flight to finish")
        time.sleep(settings.upstream.reload_interval + drain)
        deleted = False
        if old_id and old_id != new_id:
            _call(http, "DELETE", f"{base}/api_keys/{old_id}", headers, None)
            deleted = True
    finally:
        if client is None:
            http.close()
    return Rotated(name, new_id, old_id, deleted)


def _call(http: httpx.Client, method: str, url: str, headers: dict[str, str],
          body: Any) -> dict[str, Any]:
    try:
        response = http.request(method, url, headers=headers, json=body)
    except httpx.HTTPError as exc:
        raise ConfigError(f"the Admin API is unreachable ({type(exc).__name__})") from None
    if response.status_code >= 400:
        try:
            error = response.json().get("error") or {}
            why = error.get("code") or error.get("message") or response.status_code
        except (ValueError, AttributeError):
            why = response.status_code
        raise ConfigError(f"the Admin API refused {method} {url.split('/v1', 1)[-1]}: {why}")
    return response.json()


def _where(name: str) -> str:
    return "upstream" if name == "default" else f"upstream.keys.{name}"


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
