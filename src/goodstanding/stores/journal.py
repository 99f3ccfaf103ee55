"""The audit journal: a write-ahead file that makes a call's record durable at once.

A record appended here survives the gateway being killed (``SIGKILL``, OOM killer, a crash) as
soon as ``append`` returns: one ``write(2)`` of a JSON line into a file of this process, about
10 µs, where a database commit costs the gateway about 400–600 µs of CPU. (Like SQLite's own
``synchronous=NORMAL``, there is no ``fsync``: a power cut of the host may lose the last
records; a killed process never does.) The database still gets every record in batches, off
the hot path (``audit.py``); the journal only has to hold a record until then.

Files are segments ``audit-<pid>-<ns>.jsonl``. Each audit batch seals the current segment
(new records go to a new one); a sealed segment is deleted once the database has committed
every record in it. A segment is held under an exclusive ``flock`` while its process lives,
so on start each gateway process takes over the segments whose process died (the lock is
gone) and sends their records to the database: the records of a killed gateway arrive when
one is started again on the same journal. A record can then be written twice (killed between
the database's commit and the segment's deletion), never not at all.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("goodstanding.audit")


class Segment:
    __slots__ = ("fd", "path", "torn", "written")

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd
        self.written = False
        self.torn = False  # the last write stopped mid-line (a full disk): see write

    @classmethod
    def create(cls, folder: Path) -> Segment:
        path = folder / f"audit-{os.getpid()}-{time.time_ns()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return cls(path, fd)

    @classmethod
    def adopt(cls, path: Path) -> Segment | None:
        """The segment at ``path`` if its process is gone (we hold its lock now), else None."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise FileNotFoundError(path)  # taken over and deleted by another process
        except OSError:  # locked: its process is alive (or another one adopted it first)
            os.close(fd)
            return None
        return cls(path, fd)

    def read(self) -> list[dict[str, Any]]:
        records = []
        with open(self.path, "rb") as file:
            for number, line in enumerate(file, 1):
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError:  # a torn last line: its answer never left
                    log.warning("audit journal %s: line %d unreadable, skipped", self.path.name,
                                number)
        return records

    def write(self, data: bytes) -> None:
        self.written = True
        if self.torn:  # end the cut-off line first, or this record would be read as part of it
            data = b"\n" + data
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError:
            self.torn = self.torn or len(view) < len(data)  # some bytes of it are in the file
            raise
        self.torn = False

    def delete(self) -> None:
        try:
            self.path.unlink(missing_ok=True)  # its folder may be gone (a removed temp dir)
        finally:
            os.close(self.fd)


class Journal:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._current: Segment | None = None
        self._sealed: list[Segment] = []  # waiting for the database to hold their records

    def open(self) -> list[dict[str, Any]]:
        """Start a segment of this process; take over the segments of dead processes and
        return their records, for the database."""
        self.folder.mkdir(parents=True, exist_ok=True)
        records: list[dict[str, Any]] = []
        for path in sorted(self.folder.glob("audit-*.jsonl")):
            segment = Segment.adopt(path)
            if segment is not None:
                records += segment.read()
                self._sealed.append(segment)
        if records:
            log.warning("audit journal: %d records of a gateway that stopped without writing "
                        "them; sending them to the database", len(records))
        self._current = Segment.create(self.folder)
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Durable against the process being killed once this returns (OSError if not)."""
        assert self._current is not None, "Journal.open() first"
        self._current.write(orjson.dumps(record) + b"\n")

    def seal(self) -> int:
        """Send new records to a new segment; how many segments are sealed now (for
        ``release``, once the database has committed everything appended so far)."""
        if self._current is not None and self._current.written:
            current, self._current = self._current, Segment.create(self.folder)
            self._sealed.append(current)
        return len(self._sealed)

    def release(self, count: int) -> None:
        """Delete the first ``count`` sealed segments: the database holds their records."""
        done, self._sealed = self._sealed[:count], self._sealed[count:]
        for segment in done:
            try:
                segment.delete()
            except OSError as exc:
                log.error("audit journal: could not delete %s: %s", segment.path.name, exc)

    def close(self) -> None:
        """Stop journaling; whatever is not yet released stays on disk for the next start."""
        current, self._current = self._current, None
        if current is not None and not current.written:
            current.delete()
        elif current is not None:
            os.close(current.fd)
        for segment in self._sealed:
            os.close(segment.fd)
        self._sealed = []


def folder_for(database_url: str, setting: str | None) -> str | None:
    """Where the journal lives (``storage.audit_journal``): the setting's path; ``off``: no
    journal; unset: next to a SQLite database file, none for other databases."""
    if setting:
        return None if setting == "off" else setting
    scheme, _, rest = database_url.partition(":")
    if not scheme.startswith("sqlite") or not rest.startswith("///"):
        return None
    path = rest[3:].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return f"{path}.audit-journal"
