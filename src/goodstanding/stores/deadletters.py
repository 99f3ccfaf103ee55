"""Records the database refuses: split from their batch, set aside, counted; the rest written.

Bounded records (``stores/bounds.py``) are accepted alike by SQLite and PostgreSQL; this is the
net under that, for a value a database still refuses (a constraint or trigger an operator
added, a bounding gap). When a batch insert fails and the error is the data's
(``stores.rejected``), the batch is split in halves until each refused record stands alone, so
one poison record costs about 2·log2(batch) small inserts, not one per record. Each refused
record goes to the ``audit_dead_letters`` table, or when that fails too to a JSON-lines file
(``storage.audit_dead_letter_path``), with the time, the error's class (never its message: it
can quote the value) and the bounded record (never prompt text: records hold none); it is
logged with its request id and counted in ``goodstanding_audit_dead_letters_total``. Only when
neither takes it does it stay queued, like any record the database cannot take yet.

A connection error is not the data's fault: it propagates, and the writer keeps what is left.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from goodstanding import metrics
from goodstanding.stores import error_class, rejected, schema
from goodstanding.stores.base import Store
from goodstanding.stores.bounds import bounder

log = logging.getLogger("goodstanding.audit")

DEAD_LETTERS = metrics.counter(
    "goodstanding_audit_dead_letters_total",
    "Audit records (kind=audit) and identity mappings (kind=identity) the database refused, "
    "set aside in the dead-letter table or file.", ("kind", "destination"))

DEFAULT_PATH = Path("goodstanding-dead-letters.jsonl")
_bound_letter = bounder(schema.audit_dead_letters, schema.DEAD_LETTER_FIELDS)


def dead_letter_path(configured: str | None, database_url: str) -> Path:
    """The configured file; else next to an SQLite database file, else in the working dir."""
    from sqlalchemy.engine import make_url

    if configured:
        return Path(configured)
    if database_url.startswith("sqlite"):
        database = make_url(database_url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            return Path(database).with_name(Path(database).name + ".dead-letters.jsonl")
    return DEFAULT_PATH


class DeadLetters:
    def __init__(self, store: Store, path: Path) -> None:
        self.store = store
        self.path = path

    async def write(
        self, kind: str, items: list[Any], write: Callable[[list[Any]], Awaitable[None]]
    ) -> None:
        """Write ``items`` with ``write``, setting aside the ones the database refuses.

        Items written or set aside are removed from ``items``; on any other error it
        propagates and the rest stay in ``items``, for the caller to keep.
        """
        ranges = [(0, len(items))] if items else []  # a stack; taken left to right
        done = 0
        try:
            while ranges:
                low, high = ranges.pop()
                try:
                    await write(items[low:high])
                except Exception as exc:
                    if not rejected(exc):
                        raise
                    if high - low > 1:
                        middle = (low + high) // 2
                        ranges += [(middle, high), (low, middle)]
                        continue
                    await self.set_aside(kind, items[low], exc)
                done = high
        finally:
            del items[:done]

    async def set_aside(self, kind: str, item: Any, exc: BaseException) -> None:
        record = item if isinstance(item, dict) else dataclasses.asdict(item)
        letter = _bound_letter({"ts": time.time(), "kind": kind, "error": error_class(exc),
                                "request_id": record.get("request_id"), "record": record})
        name = record.get("request_id") or record.get("safety_identifier")
        try:
            await self.store.set_aside([letter])
            destination = "table"
        except Exception as table_error:  # noqa: BLE001 - the file is the fallback
            log.error("dead-letter table refused %s %s (%s); writing to %s", kind, name,
                      error_class(table_error), self.path)
            await asyncio.to_thread(self._append, letter)  # raises: the record stays queued
            destination = "file"
        DEAD_LETTERS.inc(kind, destination)
        log.error("%s %s refused by the database (%s): set aside in the dead-letter %s", kind,
                  name, letter["error"], destination)

    def _append(self, letter: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = orjson.dumps(letter) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # end-user ids
        with os.fdopen(fd, "ab") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
