"""Logs: JSON lines when not on a terminal, human-readable on one; request context bound.

``configure(settings)`` sets up the root logger once (``serve`` calls it). Every record
carries the request it was logged for: ``bind(call)`` puts the call in a context variable
when a request starts (one ``ContextVar.set``), and the formatter reads the request id, key
id and hashed end user from it only when a line is actually written — nothing is formatted
per request otherwise.

What is never logged: prompt or answer text (no module logs it, and the log test greps every
line of a scenario for a marker word), secrets (same test), raw end-user ids (the field is the
first 16 hex characters of the safety identifier, an HMAC under the server's secret; lines and
alerts about an end user outside a request name them the same way: ``endusers.identity.pseudonym``).

``server.access_log: true`` adds one ``goodstanding.access`` line per call (``access(call)``,
from the ops finisher).
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import orjson

from goodstanding.endusers.identity import LOGGED_CHARS

if TYPE_CHECKING:
    from goodstanding.call import Call
    from goodstanding.settings import Settings

CURRENT: ContextVar[Call | None] = ContextVar("goodstanding_call", default=None)
ACCESS = logging.getLogger("goodstanding.access")

# attributes every LogRecord has; anything else was passed in ``extra=`` and is kept
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}


def bind(call: Call) -> None:
    """This task's log lines are about ``call`` from now on."""
    CURRENT.set(call)


def context() -> dict[str, str]:
    call = CURRENT.get()
    if call is None:
        return {}
    found = {"request_id": call.request_id}
    if call.key is not None:
        found["key_id"] = call.key.id
    if call.safety_identifier:
        found["end_user"] = call.safety_identifier[:LOGGED_CHARS]
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the bound request, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(context())
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """For a terminal: the time, level, logger and message, then the bound request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        bound = context()
        if not bound:
            return line
        return line + " [" + " ".join(f"{k}={v}" for k, v in bound.items()) + "]"


def formatter(kind: str, stream: Any = None) -> logging.Formatter:
    if kind == "auto":
        isatty = getattr(stream or sys.stderr, "isatty", None)
        kind = "text" if isatty is not None and isatty() else "json"
    return TextFormatter() if kind == "text" else JsonFormatter()


def configure(settings: Settings, stream: Any = None) -> logging.Handler:
    """Replace the root logger's handlers with one writing to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings.logging.format, stream))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.logging.level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # uvicorn's own access lines carry the raw path and client; ours are server.access_log
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return handler


def configure_from_env() -> None:
    """A worker process: the same settings as its parent (from the environment)."""
    from goodstanding.errors import ConfigError
    from goodstanding.settings import Settings, load_settings

    try:
        settings = load_settings()
    except ConfigError:
        settings = Settings()  # the worker's own start-up reports the bad setting
    configure(settings)


def access(call: Call) -> None:
    """The access line of one call: what and how, never text or raw end-user ids."""
    ACCESS.info(
        "%s %s %s %s", call.method, call.path.split("?", 1)[0], call.status, call.decision,
        extra={"endpoint": call.endpoint, "status": call.status, "decision": call.decision,
               "model": call.model, "client_ip": call.client_ip,
               "tokens_in": call.tokens_in, "tokens_out": call.tokens_out,
               "latency_ms": round((time.perf_counter() - call.started) * 1000, 3)})
