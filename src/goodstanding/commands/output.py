"""How listings print: a table with a header for people, ``--json`` for scripts.

One helper for every listing (``keys list``, ``users list``, ``config show``): columns are
aligned to the widest cell; on a terminal the header is bold and long cells are cut to fit
its width, elsewhere (a pipe, a file) the table is plain text, whole, with no escape codes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

Column = tuple[str, str]  # (key in the row, header)
MIN_CELL = 12


def when(ts: float | None) -> str:
    """A timestamp as people read it (UTC); ``-`` for none."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column],
          out: TextIO | None = None) -> None:
    """Print rows under a header, one line each; the caller says what an empty listing means."""
    out = out or sys.stdout
    terminal = out.isatty() and not os.environ.get("NO_COLOR")
    grid = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max([len(header), *(len(line[i]) for line in grid)])
              for i, (_, header) in enumerate(columns)]
    if terminal:
        widths = _fit(widths, shutil.get_terminal_size().columns)
    header = "  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip()
    print(f"\033[1m{header}\033[0m" if terminal else header, file=out)
    for line in grid:
        cells = [_cut(text, w) if terminal else text for text, w in zip(line, widths, strict=True)]
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip(),
              file=out)


def _fit(widths: list[int], room: int) -> list[int]:
    """Narrow the widest columns until the table fits the terminal (not below MIN_CELL)."""
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > room:
        i = max(range(len(widths)), key=widths.__getitem__)
        if widths[i] <= MIN_CELL:
            break
        widths[i] -= 1
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


# `keys list`: the columns of keys.describe() people read; optional ones only when some key
# has a value (h-keys' fields such as last use show up once describe() returns them)
KEY_COLUMNS: list[Column] = [("id", "ID"), ("name", "NAME"), ("status", "STATUS"),
                             ("trust_tier", "TIER"), ("rpm", "RPM"), ("tpm", "TPM"),
                             ("upstream", "UPSTREAM"), ("origins", "ORIGINS"),
                             ("models", "MODELS"), ("created_at", "CREATED"),
                             ("expires_at", "EXPIRES"), ("last_used_at", "LAST USED"),
                             ("grace_expires_at", "GRACE UNTIL"), ("rotation", "ROTATION")]
_ALWAYS = {"id", "name", "status", "trust_tier", "rpm", "tpm", "created_at", "last_used_at",
           "grace_expires_at"}
_TIMES = {"created_at", "expires_at", "last_used_at", "revoked_at", "grace_expires_at"}


def _rotation(row: dict[str, Any]) -> str:
    """A key's age, and whether it is due for rotation (keys.max_age, keys.warn_before)."""
    if row.get("rotation_age") is None:
        return ""
    days = int(row["rotation_age"] // 86400)
    return f"{days}d old" + (", rotate soon" if row.get("nearing_rotation") else "")


def keys_table(rows: Sequence[dict[str, Any]], out: TextIO | None = None) -> None:
    """``keys list`` for people (``--json`` prints the rows themselves)."""
    out = out or sys.stdout
    if not rows:
        print("no keys yet: goodstanding keys create NAME", file=out)
        return
    columns = [(k, h) for k, h in KEY_COLUMNS
               if k in _ALWAYS or any(row.get(k) not in (None, "", [], ()) for row in rows)]
    shown = [{k: when(v) if k in _TIMES and v is not None else
              ("unlimited" if k in ("rpm", "tpm") and v is None else v)
              for k, v in {**row, "rotation": _rotation(row)}.items()} for row in rows]
    table(shown, columns, out)


class Progress:
    """Progress of a long command on stderr: a line rewritten in place on a terminal; a plain
    line at most every ``every`` seconds otherwise (a log or CI keeps no ``\\r`` debris)."""

    def __init__(self, total: int, what: str = "done", out: TextIO | None = None,
                 every: float = 10.0) -> None:
        self.total, self.what, self.every = total, what, every
        self.out = out or sys.stderr
        self.terminal = self.out.isatty()
        self.last = time.monotonic()
        self.shown = False

    def update(self, done: int) -> None:
        text = f"{self.what} {done}/{self.total}"
        if self.terminal:
            print(f"\r{text}", end="", file=self.out, flush=True)
            self.shown = True
        elif time.monotonic() - self.last >= self.every or done == self.total:
            print(text, file=self.out, flush=True)
            self.last = time.monotonic()

    def close(self) -> None:
        if self.terminal and self.shown:
            print(file=self.out, flush=True)
