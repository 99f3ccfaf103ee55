"""The end-user standing cache shared across processes: local entries, Redis invalidation.

Each process keeps its own ``LocalStandingCache`` (the hot path stays one dict lookup) and
listens on one Redis pub/sub channel. Every change of status (``Enforcer._write``) is
published there after it is committed to the database, and every listening process drops
its entry at once, so a ban made by one process is enforced by all of them within
milliseconds (the contract is 1 s).

While the subscription is down (Redis unreachable, or reconnecting) the cache answers
"miss" for everyone: each request reads its standing from the database, so no change can be
missed, only paid for. Entries are cleared whenever the subscription (re)starts.

Redis holds no standing itself (the database does, changed atomically per end user), so
nothing here can be downgraded by a late write: an invalidation received while a read was in
flight moves the local ``generation`` on, and the possibly older answer is not cached.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from goodstanding.enforcement.standing import LocalStandingCache, Standing, UserKey
from goodstanding.stores import redis as shared

log = logging.getLogger("goodstanding.enforcement")

CHANNEL = "gs:standing"
KEYS_CHANNEL = "gs:keys"  # virtual keys revoked or rotated (keys.announce); same listener
RETRY_SECONDS = 0.5


class RedisStandingCache:
    def __init__(self, url: str, ttl: float = 5.0, size: int = 100_000,
                 channel: str = CHANNEL, client: Any = None) -> None:
        self.local = LocalStandingCache(ttl, size)
        self._own = client is None  # a client passed in is closed by its owner
        self.client = client if client is not None else shared.connect(url)
        self.channel = channel
        self.listening = False
        self._task: asyncio.Task[None] | None = None
        self._errors = shared.errors()
        # key caches told of each changed virtual key id (None: forget everything)
        self.key_listeners: list[Any] = []

    def get(self, user: UserKey, now: float) -> tuple[bool, Standing | None]:
        if self._task is None:
            self.start()
        if not self.listening:
            return False, None
        return self.local.get(user, now)

    @property
    def generation(self) -> int:
        return self.local.generation

    def put(self, user: UserKey, standing: Standing | None, now: float,
            generation: int | None = None) -> None:
        if self.listening:
            self.local.put(user, standing, now, generation)

    def invalidate(self, user: UserKey) -> None:
        self.local.invalidate(user)

    async def changed(self, user: UserKey) -> None:
        try:
            await self.client.publish(self.channel, _encode(user))
        except self._errors:
            # the change is in the database; listeners that missed it re-read within ttl
            log.error("could not announce a standing change (Redis unreachable)")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._listen(), name="standing-invalidations")

    async def wait_listening(self, timeout: float = 5.0) -> bool:
        self.start()
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.listening and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        return self.listening

    async def _listen(self) -> None:
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self.channel, KEYS_CHANNEL)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._receive(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: stop trusting the cache
                if self.listening:
                    log.error("standing invalidations lost (%s); reading from the database "
                              "until Redis is back", type(exc).__name__)
                self.listening = False
                self.local.clear()
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001, S110 - the connection is already gone
                    pass
            await asyncio.sleep(RETRY_SECONDS)

    def _receive(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            self.local.clear()
            for listener in self.key_listeners:
                listener(None)
            self.listening = True
        elif kind == "message" and message.get("channel") in (KEYS_CHANNEL,
                                                               KEYS_CHANNEL.encode()):
            for listener in self.key_listeners:
                listener(message["data"].decode())
        elif kind == "message":
            self.local.invalidate(_decode(message["data"]))

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self.listening = False
        if self._own:
            await self.client.aclose()


class StandingPublisher:
    """The standing "cache" of a process that changes standings but serves no requests (the
    ``goodstanding users`` CLI): caches nothing, announces each committed change on the
    channel, so running gateways drop their entry at once instead of after their TTL."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.client = shared.connect(url)
        self.channel = channel
        self._errors = shared.errors()

    def get(self, user: UserKey, now: float) -> tuple[bool, Standing | None]:
        return False, None

    generation = 0

    def put(self, user: UserKey, standing: Standing | None, now: float,
            generation: int | None = None) -> None:
        pass

    def invalidate(self, user: UserKey) -> None:
        pass

    async def changed(self, user: UserKey) -> None:
        try:
            await self.client.publish(self.channel, _encode(user))
        except self._errors:
            log.error("could not announce the change to running gateways (Redis unreachable):"
                      " they apply it when their cached standing expires (a few seconds)")

    async def close(self) -> None:
        await self.client.aclose()


def _encode(user: UserKey) -> bytes:
    return f"{user[0]}\x00{user[1]}".encode()


def _decode(data: bytes) -> UserKey:
    tenant, _, end_user = data.decode().partition("\x00")
    return tenant, end_user
