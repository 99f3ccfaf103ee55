"""What was already moderated: content hash → result, bounded, least recently used first out.

A conversation re-sends its whole history on every turn; with this cache a 40-turn
conversation costs one moderation of its newest turn, not forty. Keys are hashes, never text,
so the cache holds no excerpt of anything (zero-tolerance content included). An image sent
by its http(s) URL is never cached: its URL says nothing of what it serves next time
(``judge.py``).

The interface is the two batch methods of ``VerdictCache`` (``stores/base.py``), so a Redis-backed cache shared by
several gateway processes can replace the in-process one without touching the check.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from hashlib import blake2b

from goodstanding.moderation.parts import Part
from goodstanding.moderation.scored import Scored

_LABELS: dict[tuple[str, str], bytes] = {}


def part_key(part: Part, model: str) -> bytes:
    """A 16-byte digest of the part and the moderation model that judged it."""
    kind, content = part
    # the model is part of the key: a new moderation model judges everything afresh
    label = _LABELS.get((kind, model))
    if label is None:
        label = _LABELS[(kind, model)] = f"{kind}:{model}".encode()[:64]
    return blake2b(content.encode("utf-8", "surrogatepass"), digest_size=16, key=label).digest()


class MemoryCache:
    """An in-process LRU; ``size == 0`` remembers nothing."""

    __slots__ = ("_items", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, Scored] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def get_many(self, keys: Sequence[bytes]) -> list[Scored | None]:
        items = self._items
        found: list[Scored | None] = []
        for key in keys:
            value = items.get(key)
            if value is not None:
                items.move_to_end(key)
            found.append(value)
        return found

    async def put_many(self, items: Sequence[tuple[bytes, Scored]]) -> None:
        if not self.size:
            return
        store = self._items
        for key, value in items:
            store[key] = value
            store.move_to_end(key)
        while len(store) > self.size:
            store.popitem(last=False)
