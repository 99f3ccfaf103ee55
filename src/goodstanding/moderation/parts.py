"""Every text and image part of a generation request, the way moderation needs to see them.

Nothing is skipped because of its role: system and developer prompts, the whole history
(assistant turns included, which a client can forge), tool results and tool-call arguments,
tool definitions and their JSON schemas, structured-output schemas, predictions, names: every
field the model reads, as declared once per endpoint (``Endpoint.moderated``, ``endpoints/``).
Those lists are compiled here, once at import, into a tree that one walk follows: it takes out the parts and checks the
shapes it relies on on the way (a message's content is a string or an array, a message has a
role, an item is an object), so a request that would hide text from the walker is refused
(``Malformed`` names the field) instead of forwarded. Fields not declared are left to OpenAI.

The texts of one message (``Endpoint.messages``: its content parts, name, tool calls) are one
text, joined with ``seams.SEP``: the model reads them as one piece, and so one input is judged
where a sentence split over two content parts would have been two harmless halves (one input
is also cheaper). Across messages, ``RequestParts.seams`` gives the windows that cross them.

A part is a ``(kind, content)`` tuple, ``kind`` being ``"text"`` or ``"image"`` (an http(s) or
data URL; an image given as bare base64 becomes its data URL, bounded like the rest of the body
by ``server.max_body_bytes``): tuples, not objects, because a 40-turn conversation is walked on
every request.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from goodstanding.endpoints import MESSAGES, MODERATED, NOT_MODEL_READ, READ_FIRST, TOOL_RESULTS
from goodstanding.endpoints.fields import (
    FILE,
    IMAGE,
    IMAGE_BASE64,
    JSON,
    LABEL,
    REQUIRED,
    SKIP,
    TEXT,
)
from goodstanding.moderation.seams import SEP, spanned, windows

if TYPE_CHECKING:
    from goodstanding.call import Call

Part = tuple[str, str]

# keys and values of a JSON schema that say nothing: left out of the text moderated for it
_SCHEMA_WORDS = frozenset({
    "type", "object", "string", "number", "integer", "boolean", "array", "null", "properties",
    "items", "required", "description", "title", "enum", "const", "default", "examples",
    "additionalProperties", "anyOf", "oneOf", "allOf", "not", "$defs", "definitions", "$ref",
    "$schema", "$id", "format", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "minItems", "maxItems",
    "uniqueItems", "minProperties", "maxProperties", "strict", "prefixItems",
    "patternProperties", "propertyNames", "nullable", "contains",
})  # fmt: skip


class Malformed(Exception):
    """A field the walker relies on is missing or of the wrong type."""

    def __init__(self, node: _Node | None = None, missing: str | None = None) -> None:
        super().__init__()
        self.node, self.missing = node, missing
        self.where: list[str | int] = []  # filled in reverse while the walk unwinds

    @property
    def param(self) -> str:
        path = ""
        for step in reversed([self.missing, *self.where] if self.missing else self.where):
            path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else step)
        return path

    @property
    def message(self) -> str:
        if self.missing:
            return f"Missing required parameter: '{self.param}'."
        assert self.node is not None
        return f"Invalid type for '{self.param}': expected {self.node.expected()}."


class _Node:
    __slots__ = (
        "case_key",
        "cases",
        "each",
        "fields",
        "kind",
        "leaf",
        "required",
        "tool_result",
        "unit",
        "values",
    )  # fmt: skip

    def __init__(self) -> None:
        self.kind: str | None = None
        self.leaf: str | None = None  # what a string here is: see _array and _object
        self.fields: dict[str, _Node] | None = None
        self.each: _Node | None = None  # the elements of an array
        self.values: _Node | None = None  # the values of an object
        self.required: tuple[str, ...] = ()
        self.case_key: str | None = None  # an element's discriminator ("type", "role") …
        self.cases: dict[str, _Node] | None = None  # … and the nodes that override for it
        self.tool_result = False
        self.unit = False  # an element of this array is one message: its texts are one text

    def expected(self) -> str:
        kinds = []
        if self.kind in (TEXT, IMAGE, IMAGE_BASE64, LABEL, REQUIRED, _UNREAD):
            kinds.append("a string")
        if self.each is not None:
            kinds.append("an array")
        if self.fields is not None or self.values is not None:
            kinds.append("an object")
        return " or ".join(kinds)


_TOKENS = re.compile(r"\[[^\]]*\]|[^.\[\]]+")


def _place(node: _Node, tokens: list[str], kind: str | None) -> None:
    """Add one declared path below ``node``; ``kind`` None marks tool results."""
    for i, token in enumerate(tokens):
        if token == "[]":
            node.each = node = node.each or _Node()
        elif token.startswith("["):  # [key=a|b]: an override for the elements so marked
            key, _, values = token[1:-1].partition("=")
            generic = node.each = node.each or _Node()
            assert generic.case_key in (None, key), "one discriminator per array"
            generic.case_key, generic.cases = key, generic.cases or {}
            for value in values.split("|"):
                case = generic.cases.get(value)
                if case is None:
                    # a copy of the generic element without its other cases (copying them
                    # only to drop them made this import take ~0.4 s)
                    cases, generic.cases = generic.cases, None
                    case = copy.deepcopy(generic)
                    generic.cases = cases
                    case.case_key = None
                    cases[value] = case
                _place(case, tokens[i + 1:], kind)
            return
        elif token == "*":
            node.values = node = node.values or _Node()
        else:
            node.fields = node.fields or {}
            if kind == REQUIRED and i == len(tokens) - 1:
                node.required += (token,)
            node = node.fields.setdefault(token, _Node())
    if kind is None:
        node.tool_result = True
    else:
        node.kind, node.leaf = kind, _LEAVES.get(kind)


_LEAVES = {TEXT: "text", IMAGE: "image", LABEL: "", REQUIRED: ""}  # IMAGE_BASE64: the slow path
# File and audio fields (the endpoints' ``FILE`` reason): nothing to moderate, but the model
# reads them, so a request carrying one is marked (``RequestParts.unread``). Their node has no
# leaf: a string there takes the slow path, which notes it, so the common path pays nothing.
_UNREAD = "unread"
_UNREAD_MARK = (-1, -1)  # noted in the walk's list of ranges, taken out again by ``extract``


def _compile(paths: dict[str, str], tool_results: tuple[str, ...]) -> _Node:
    root = _Node()
    # plain paths first: an override starts as a copy of everything declared for all elements
    for path, kind in sorted(paths.items(), key=lambda entry: "=" in entry[0]):
        _place(root, _TOKENS.findall(path), kind)
    for path in tool_results:
        _place(root, _TOKENS.findall(path), None)
    return root


_ROOTS = {endpoint: _compile(
    paths | {path: _UNREAD for path, why in NOT_MODEL_READ.get(endpoint, {}).items() if why == FILE},
    TOOL_RESULTS.get(endpoint, ())) for endpoint, paths in MODERATED.items()}
for _endpoint, _field in MESSAGES.items():
    _ROOTS[_endpoint].fields[_field].unit = True  # type: ignore[index]


class RequestParts:
    """The parts of one request, in order, and which of them are tool results or documents."""

    __slots__ = ("_seams", "parts", "tool_results", "unread")

    def __init__(self, parts: list[Part], tool_results: list[tuple[int, int]],
                 unread: bool = False) -> None:  # fmt: skip
        self.parts = parts
        self.tool_results = tool_results  # [start, end) ranges of ``parts``
        self.unread = unread  # a file or audio the model reads and moderation cannot
        self._seams: list[tuple[bool, str]] | None = None

    def texts(self) -> list[tuple[bool, str]]:
        """(is a tool result, text) for every text part (what the offline detectors screen)."""
        ranges = self.tool_results
        if not ranges:
            return [(False, content) for kind, content in self.parts if kind == "text"]
        return [(any(start <= i < end for start, end in ranges), content)
                for i, (kind, content) in enumerate(self.parts) if kind == "text"]

    def seams(self) -> list[tuple[bool, str]]:
        """(touches a tool result, window) across each boundary between texts (``seams.py``);
        worked out once, for moderation and the detectors both."""
        found = self._seams
        if found is None:
            if not self.tool_results:  # the common case: no tool result for a window to touch
                found = [(False, window) for window in windows(
                    [content for kind, content in self.parts if kind == "text"])]
            else:
                texts = self.texts()
                found = [(any(tool for tool, _ in texts[first:last + 1]), window)
                         for first, last, window in spanned([text for _, text in texts])]
            self._seams = found
        return found


_NONE = RequestParts([], [])


def extract(endpoint: str, body: dict[str, Any]) -> RequestParts:
    """Walk ``body`` along the endpoint's declared fields; raises ``Malformed``."""
    root = _ROOTS.get(endpoint)
    if root is None:
        return _NONE
    first = READ_FIRST.get(endpoint)
    if first is not None and first in body and next(iter(body)) != first:
        # walked in the order the model reads, so that the windows across texts are its own
        body = {first: body[first], **body}
    parts: list[Part] = []
    ranges: list[tuple[int, int]] = []
    _walk(body, root, parts, ranges)
    if ranges and _UNREAD_MARK in ranges:  # rare: tool results or unread parts were found
        return RequestParts(parts, [r for r in ranges if r != _UNREAD_MARK], True)
    return RequestParts(parts, ranges)


def request_parts(endpoint: str, body: dict[str, Any]) -> list[Part]:
    """The parts of one request body to moderate, in order, empty texts left out."""
    return extract(endpoint, body).parts


def parts_of(call: Call) -> RequestParts:
    """The call's parts, taken out once (the request check does it while checking shapes)."""
    found = call.parts
    if found is None:
        found = call.parts = extract(call.endpoint, call.body or {})
    return found


def _walk(value: Any, node: _Node, parts: list[Part], ranges: list[tuple[int, int]]) -> None:
    kind = node.kind
    if kind == JSON:
        text = value if isinstance(value, str) else _json_text(value)
        if text and not text.isspace():
            parts.append(("text", text))
    elif kind == SKIP:
        return
    elif isinstance(value, str):
        if node.leaf is None:
            if kind == _UNREAD:
                ranges.append(_UNREAD_MARK)
                return
            if kind == IMAGE_BASE64:
                if value and not value.isspace():
                    parts.append(("image", _data_url(value)))
                return
            raise Malformed(node)
        if node.leaf and value and not value.isspace():
            parts.append((node.leaf, value))
    elif isinstance(value, dict):
        _object(value, node, parts, ranges)
    elif isinstance(value, list):
        _array(value, node, parts, ranges)
    else:  # a number or a boolean where text, an array or an object belongs
        raise Malformed(node)


# The two loops below take a string leaf in place (most of a conversation is string leaves):
# ``leaf`` is "text" or "image" for a part, "" for a label, None when a string does not belong.


def _array(value: list[Any], node: _Node, parts: list[Part],
           ranges: list[tuple[int, int]]) -> None:  # fmt: skip
    each = node.each
    if each is None:
        raise Malformed(node)
    leaf, unit = each.leaf, node.unit
    for i, item in enumerate(value):
        if type(item) is str and leaf is not None:
            if leaf and item and not item.isspace():
                parts.append((leaf, item))
            continue
        try:
            if item is None:
                raise Malformed(each)
            if unit:
                start = len(parts)
                _walk(item, each, parts, ranges)
                if len(parts) - start > 1:
                    _join(parts, ranges, start)
            else:
                _walk(item, each, parts, ranges)
        except Malformed as error:
            error.where.append(i)
            raise


def _join(parts: list[Part], ranges: list[tuple[int, int]], start: int) -> None:
    """One message's texts (``parts[start:]``) as one text; its images stay parts of their own."""
    texts = [content for kind, content in parts[start:] if kind == "text"]
    if len(texts) < 2:
        return
    parts[start:] = [("text", SEP.join(texts)), *(p for p in parts[start:] if p[0] != "text")]
    end = len(parts)
    for i in range(len(ranges) - 1, -1, -1):  # the message's own range, if a tool result
        first, last = ranges[i]
        if first < start and ranges[i] != _UNREAD_MARK:
            break
        if last > end:
            ranges[i] = (first, end)


def _object(value: dict[str, Any], node: _Node, parts: list[Part],
            ranges: list[tuple[int, int]]) -> None:  # fmt: skip
    if node.cases is not None:
        case = value.get(node.case_key)  # type: ignore[arg-type]
        if type(case) is str:
            node = node.cases.get(case, node)
    fields = node.fields
    if fields is None:
        if node.values is None:
            raise Malformed(node)
        fields = dict.fromkeys(value, node.values)  # an object of values: each is one
    for name in node.required:
        if value.get(name) is None:
            raise Malformed(missing=name)
    start = len(parts)
    for name, item in value.items():
        child = fields.get(name)
        if child is None or item is None:
            continue
        if type(item) is str:
            leaf = child.leaf
            if leaf is not None:
                if leaf and item and not item.isspace():
                    parts.append((leaf, item))
                continue
        try:
            _walk(item, child, parts, ranges)
        except Malformed as error:
            error.where.append(name)
            raise
    if node.tool_result and len(parts) > start:
        ranges.append((start, len(parts)))


# the formats image generation writes (its ``output_format``), told by their first bytes in base64
_FORMATS = (("/9j/", "jpeg"), ("UklGR", "webp"))


def _data_url(base64: str) -> str:
    """A base64 image as the data URL moderation reads (PNG unless it starts otherwise)."""
    if base64.startswith("data:"):
        return base64
    form = next((name for start, name in _FORMATS if base64.startswith(start)), "png")
    return f"data:image/{form};base64,{base64}"


def _json_text(value: Any) -> str:
    """The strings of any JSON (keys included, schema keywords left out), one per line."""
    strings: list[str] = []
    stack = [value]
    while stack:  # no recursion: a schema can be nested deeper than Python's stack
        item = stack.pop()
        if isinstance(item, str):
            if item not in _SCHEMA_WORDS:
                strings.append(item)
        elif isinstance(item, dict):
            for key, inner in reversed(item.items()):
                stack.append(inner)
                if key not in _SCHEMA_WORDS:
                    stack.append(key)
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return "\n".join(strings)
