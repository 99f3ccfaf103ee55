"""Hostile input at the door: the request path, its query string, and JSON nesting.

- **Path.** uvicorn hands us the percent-decoded path; what is checked against the allow-list
  is exactly what goes upstream. Dot segments, empty segments, encoded slashes and characters
  outside a URL path's plain set (``%``, ``?``, ``#``, ``\\``, controls, non-ASCII) are refused
  with 400, so nothing upstream (yarl, the upstream's own router) can turn a checked path into
  another one (``/v1/models/%2e%2e`` would otherwise reach ``GET /v1/`` with the
  organization's key).
- **Query string.** Only the parameters an endpoint defines go upstream: none for the
  generation endpoints and ``/v1/models``; the list and filter parameters of OpenAI's other
  endpoints for operator-allowed paths. A value that looks like a key never does.
- **JSON depth.** Nesting is bounded before the body is parsed (a document nested 300 deep
  parses, then cannot be serialised again); a body with fewer brackets than the limit cannot
  be too deep, so the usual request costs two ``bytes.count`` calls.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

from goodstanding.errors import InvalidRequest

# the characters of a decoded path that mean the same to every parser: no escapes, no query or
# fragment marker, no backslash, no control or non-ASCII character
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]*")

# query parameters of OpenAI's list/filter endpoints (files, batches, fine-tuning, vector
# stores, conversations…): what an operator-allowed ("other") path may pass on
OTHER_QUERY = frozenset({"after", "before", "limit", "order", "purpose", "include",
                         "include[]", "filter"})
_KEY_PREFIXES = ("gsk-", "sk-", "bearer ")

# bytes.translate: objects count as arrays (only depth matters; the parser checks the rest),
# everything but brackets and quotes is dropped
_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_DROP = bytes(b for b in range(256) if b not in b'[]{}"')


def checked_path(path: str, raw_path: bytes | None) -> str:
    """The decoded path, if it is one plain path that every parser reads the same way."""
    if (
        "/." in path
        or "//" in path
        or path.endswith("/")
        or not _PLAIN_PATH.fullmatch(path)
        or (raw_path is not None and b"%" in raw_path and _encoded_separator(raw_path))
    ) and _refused(path, raw_path):
        raise InvalidRequest(
            "The request path is not allowed: it has dot or empty segments, encoded slashes, "
            "or characters that must not be escaped.", reasons=("invalid_path",))
    return path


def _encoded_separator(raw: bytes) -> bool:
    low = raw.lower()
    return b"%2f" in low or b"%5c" in low


def _refused(path: str, raw_path: bytes | None) -> bool:
    if not _PLAIN_PATH.fullmatch(path):
        return True
    if raw_path is not None and _encoded_separator(raw_path):
        return True
    segments = path.split("/")[1:]
    return any(segment in ("", ".", "..") for segment in segments)


def forward_query(endpoint: str, query_string: bytes) -> str:
    """``?…`` with the parameters the endpoint defines (credentials never), or ""."""
    if endpoint != "other" or not query_string:
        return ""
    try:
        pairs = parse_qsl(query_string.decode("ascii"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The query string is not valid.", reasons=("invalid_query",)) from None
    kept = [(name, value) for name, value in pairs
            if name in OTHER_QUERY and not value.lower().startswith(_KEY_PREFIXES)]
    return "?" + urlencode(kept) if kept else ""


def check_json_depth(body: bytes, limit: int) -> None:
    """Refuse a JSON body nested deeper than ``limit`` arrays/objects (400)."""
    if body.count(b"{") + body.count(b"[") <= limit:
        return  # too few brackets to be too deep: the usual request stops here
    if _depth_exceeds(body, limit):
        raise InvalidRequest(
            f"The request body nests JSON deeper than {limit} levels.", reasons=("json_depth",))


def _depth_exceeds(body: bytes, limit: int) -> bool:
    """Brackets outside strings only, found with C-speed byte operations (no work per
    character, little per string); then the innermost pairs peeled level by level: what is
    left after ``limit`` rounds sits deeper than ``limit`` (or is malformed, which the parser
    refuses anyway)."""
    if b"\\" in body:  # escapes are string content: \\ pairs first, then \" (left to right,
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")  # as JSON reads them)
    marks = body.translate(_AS_ARRAYS, _DROP)
    # quotes now pair up; dropping each adjacent pair ("" an empty string, or the end of one
    # string and the start of the next) keeps whatever brackets are left inside quotes
    marks = marks.replace(b'""', b"")
    if b'"' in marks:  # strings that hold brackets: drop their contents
        marks = b"".join(marks.split(b'"')[0::2])
    if b"[" * (limit + 1) in marks:
        return True  # the common attack shape, found in one scan
    for _ in range(limit):
        peeled = marks.replace(b"[]", b"")  # the innermost pairs only: one level per round
        if peeled == marks:
            return False  # nothing to peel: empty, or malformed (the parser says so)
        marks = peeled
    return bool(marks)
