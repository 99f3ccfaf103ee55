"""The upstream keys, resolved from their references and kept fresh.

The settings hold references only (``env:NAME``, ``file:/path``, ``secret:NAME``,
``vault:PATH#FIELD``; a plain value
only when it came from the environment, e.g. ``OPENAI_API_KEY``). A ``Keyring`` resolves them
on first use and then re-checks the files behind ``file:`` and ``secret:`` references at most
every ``upstream.reload_interval`` seconds (one ``stat`` each), or at the next request after
SIGHUP. A replaced file switches new requests to the new key while requests in flight finish
with the old one, so a rotation by swapping a file fails no request as long as the old key stays
valid upstream until the switch (``goodstanding upstream rotate`` waits for it).

A file that reads empty or cannot be read keeps the previous key (logged, never the value): a
half-written file must not take traffic down. Values never leave through ``repr`` or logs.

The gateway's keyring says which key it sends in ``goodstanding_upstream_key_in_use{upstream,
fingerprint}`` (1 per process; summed over the workers of ``serve --workers N``, where a worker's
series goes when it has drained and stopped: ``server/metrics_dir.py``). That is the signal
that the old key may be deleted after a swap + SIGHUP: its fingerprint is no longer listed.
Set when a key is taken up, never per request.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path

from goodstanding import metrics
from goodstanding.credentials.secretstore import SecretStore, store_path
from goodstanding.errors import ConfigError
from goodstanding.settings import UpstreamSettings

log = logging.getLogger("goodstanding.keyring")

Name = str | None  # None: the default key (upstream.key)

IN_USE = metrics.gauge(
    "goodstanding_upstream_key_in_use",
    "Gateway processes sending this upstream key (its fingerprint, never the key); a rotated "
    "key's series is gone once no process sends it.", ("upstream", "fingerprint"))


def fingerprint(value: str) -> str:
    """What may be shown of a key: its kind and last four characters (``sk-proj-…a1b2``)."""
    kind = next((p for p in ("sk-admin-", "sk-svcacct-", "sk-proj-", "sk-") if
                 value.startswith(p)), "")
    return f"{kind}…{value[-4:]}" if len(value) > 12 else "…"


class Keyring:
    def __init__(self, upstream: UpstreamSettings, env: Mapping[str, str]) -> None:
        self.upstream = upstream
        self.env = dict(env)
        self.interval = upstream.reload_interval
        self._values: dict[Name, str | None] = {}
        self._refs: dict[Name, str | None] = {None: upstream.key}
        self._refs.update({name: entry.key for name, entry in upstream.keys.items()})
        self._stamps: dict[Path, tuple[int, int, int]] = {}  # watched file → mtime_ns when last read
        self._loaded = False
        self._next_check = 0.0
        self._forced = False  # SIGHUP: Vault references are read again too
        self.reloads = 0  # how many times a changed key was taken up (tests, `upstream list`)
        self._reported: dict[Name, tuple[str, str]] = {}  # name → its IN_USE labels
        self._report = False  # only the keyring a gateway sends with reports (report_in_use)

    def __repr__(self) -> str:
        return f"Keyring({sorted(str(n) for n in self._refs)})"  # never the values

    @property
    def names(self) -> list[str]:
        return list(self.upstream.keys)

    def has(self, name: Name) -> bool:
        return name is None or name in self.upstream.keys

    def project(self, name: Name) -> str | None:
        entry = self.upstream.entry(name)
        return entry.project if entry else None

    def load(self) -> None:
        """Resolve every reference now; ConfigError names the one that fails."""
        for name, ref in self._refs.items():
            self._values[name] = self._resolve(name, ref, strict=True)
        self._loaded = True
        self._next_check = time.monotonic() + self.interval
        self._publish()

    def report_in_use(self, on: bool = True) -> None:
        """This keyring is the one the gateway sends with: its keys go into IN_USE (off: the
        gateway has stopped and sends nothing more)."""
        self._report = on
        if on:
            self._publish()
            return
        for labels in self._reported.values():
            IN_USE.values.pop(labels, None)
        self._reported.clear()

    def _publish(self) -> None:
        if not self._report or not self._loaded:
            return
        for name in self._refs:
            value = self._values.get(name)
            labels = (name or "default", fingerprint(value)) if value else None
            previous = self._reported.get(name)
            if previous == labels:
                continue
            if previous is not None:
                IN_USE.values.pop(previous, None)
                del self._reported[name]
            if labels is not None:
                IN_USE.set(1.0, *labels)
                self._reported[name] = labels

    def key(self, name: Name) -> str | None:
        if not self._loaded:
            self.load()
        if (self._stamps or self._forced) and time.monotonic() >= self._next_check:
            self.refresh()
        return self._values.get(name)

    def request_reload(self) -> None:
        """Re-read at the next request: changed files, and Vault (SIGHUP, the admin API)."""
        self._next_check = 0.0
        self._forced = True

    def refresh(self) -> list[Name]:
        """Re-read references whose file changed; the names whose key changed."""
        self._next_check = time.monotonic() + self.interval
        forced, self._forced = self._forced, False
        changed_files = {p for p, stamp in self._stamps.items() if _mtime(p) != stamp}
        if not changed_files and not forced:
            return []
        changed: list[Name] = []
        for name, ref in self._refs.items():
            vault = forced and ref is not None and ref.startswith("vault:")
            if self._watched(ref) not in changed_files and not vault:
                continue
            value = self._resolve(name, ref, strict=False)
            if value and value != self._values.get(name):
                self._values[name] = value
                changed.append(name)
        if changed:
            self.reloads += 1
            self._publish()
            log.info("upstream keys reloaded: %s", ", ".join(n or "default" for n in changed))
        return changed

    def install_sighup(self) -> bool:
        """SIGHUP → every keyring of this process re-reads at its next request. The handler is
        installed once, from the main thread, where SIGHUP still has its default action."""
        _LIVE.add(self)
        if threading.current_thread() is not threading.main_thread() or \
                not hasattr(signal, "SIGHUP"):
            return False
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL:
            return False
        signal.signal(signal.SIGHUP, _reload_all)
        return True

    def _watched(self, ref: str | None) -> Path | None:
        if ref is None:
            return None
        if ref.startswith("file:"):
            return Path(ref[5:])
        if ref.startswith("secret:"):
            return store_path(self.env)
        return None

    def _resolve(self, name: Name, ref: str | None, strict: bool) -> str | None:
        where = f"upstream.keys.{name}" if name else "upstream.key"
        path = self._watched(ref)
        if path is not None:
            self._stamps[path] = _mtime(path)
        try:
            return resolve(ref, self.env, where)
        except ConfigError as exc:
            if strict:
                raise
            log.warning("%s: keeping the previous key (%s)", where, exc)
            return self._values.get(name)


_LIVE: weakref.WeakSet[Keyring] = weakref.WeakSet()


def _reload_all(signum: int, frame: object) -> None:
    for keyring in list(_LIVE):
        keyring.request_reload()


def resolve(ref: str | None, env: Mapping[str, str], where: str) -> str | None:
    """One reference's value (None: unset); ConfigError when it cannot be read."""
    if ref is None:
        return None
    if ref.startswith("env:"):
        return env.get(ref[4:]) or None
    if ref.startswith("file:"):
        try:
            value = Path(ref[5:]).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {ref[5:]}: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"{where}: {ref[5:]} is empty")
        return value
    if ref.startswith("vault:"):
        from goodstanding.credentials import vault

        return vault.read(ref[6:], env, where)
    if ref.startswith("secret:"):
        value = SecretStore.from_env(env).get(ref[7:])
        if value is None:
            raise ConfigError(f"{where}: no secret {ref[7:]} in the store "
                              f"(goodstanding secrets set {ref[7:]})")
        return value
    return ref  # a plain value from the environment (OPENAI_API_KEY)


def _mtime(path: Path) -> tuple[int, int, int]:
    """What changes when a file is replaced or rewritten: mtime, inode and size."""
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1, -1)
    return (stat.st_mtime_ns, stat.st_ino, stat.st_size)
