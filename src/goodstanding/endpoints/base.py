"""One OpenAI API as the gateway knows it: the interface every module of this package fills.

An ``Endpoint`` is data plus a few small functions, built once at import: where the API is
routed, which body fields the gateway relies on (required fields, the end-user field, the
output caps), which fields the model reads (moderated, per ``fields.py``), how its answer's
text, usage and OpenAI's own policy signals are read, and, for an API that streams, a
``StreamShape``: how its events are read and how its stream ends. The default of every field is
"this API has none of it", so a new API declares only what it has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from goodstanding.call import Call
    from goodstanding.stream.reading import StreamState

Document = dict[str, Any]


def _no_text(document: Document) -> str:
    return ""


def _unchanged(document: Document) -> Document:
    return document


def _no_signal(document: Document) -> str | None:
    return None


def _no_prompt(body: Document) -> str | None:
    return None


def choices_asked(body: Any) -> int:
    """The choices a request asks for (``n``; 1 when absent or not a count above 1)."""
    n = body.get("n") if isinstance(body, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


def joined_text(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a content array joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content
                        if isinstance(p, dict) and isinstance(p.get("text"), str))
    return None


def data_error(error: dict[str, Any]) -> bytes:
    """An error in a stream as Chat (and any API without its own error event) sends it."""
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"


@dataclass(frozen=True, slots=True)
class StreamShape:
    """How one API's server-sent events are read and how its stream ends."""

    # (pass the event on?, its answer text); sets usage and policy signals on the call
    read_event: Callable[[StreamState, bytes], tuple[bool, str]]
    # substrings marking the event that carries usage (the only ones read when no text is wanted)
    usage_markers: tuple[bytes, ...]
    # whether a piece of whole events ends with the stream's terminal event
    ends: Callable[[bytes], bool]
    # the clean ending of a stream cut by an output check (SPEC §3), from the stream's meta
    content_filter_end: Callable[[Call, dict[str, Any]], bytes]
    # Chat's plain content events are scanned a whole read at a time (stream/chat_scan.py)
    plain_scan: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What the gateway knows about one API; see the module docstring."""

    name: str  # as in the audit record, metrics and settings (``chat.completions``)
    method: str = ""  # the route: ``POST /v1/chat/completions``
    path: str = ""
    # a generation: it needs an end user when one is required, and is moderated
    generation: bool = False
    required: tuple[str, ...] = ()  # body fields it must have
    input_types: tuple[type, ...] = ()  # the types ``input`` may have, when it has one
    end_user_field: str | None = None  # where the HMAC safety identifier goes upstream
    limited: bool = True  # counted against the key's request limits (model listings are not)
    counts_tokens: bool = False  # its prompt counts against token limits; usage is read back
    prompt_capped: bool = False  # its prompt is held to ``max_prompt_tokens``
    output_caps: tuple[str, ...] = ()  # the fields capping output tokens; the first is set
    usage_fields: tuple[str, str] = ("prompt_tokens", "completion_tokens")  # in, out
    inline_moderation: bool = False  # OpenAI can moderate it inline (``moderation`` field)
    asks_stream_usage: bool = False  # a stream's usage must be asked for (and stripped again)
    # the fields the model reads (path → kind, fields.py); None: the body is not walked
    moderated: Mapping[str, str] | None = None
    tool_results: tuple[str, ...] = ()  # elements holding a tool's result, not the user's text
    # the array of messages: each element's texts are moderated as one text (moderation/seams.py)
    messages: str | None = None
    read_first: str | None = None  # a field the model reads before all others (instructions)
    not_model_read: Mapping[str, str] = field(default_factory=dict)  # path → why it is not
    answer_text: Callable[[Document], str] = _no_text  # the text output checks judge
    withhold: Callable[[Document], Document] = _unchanged  # the answer with its text removed
    answer_signal: Callable[[Document], str | None] = _no_signal  # OpenAI's own cut / refusal
    latest_prompt: Callable[[Document], str | None] = _no_prompt  # the newest user text
    error_frame: Callable[[dict[str, Any]], bytes] = data_error  # an error inside a stream
    stream: StreamShape | None = None  # None: it does not stream

    def usage(self, document: Document) -> tuple[int | None, int | None]:
        """(input, output) tokens of a whole answer, as its ``usage`` reports them."""
        return token_counts(document.get("usage"), self.usage_fields)


# a reported token count above this is no count: about two billion, what the audit column holds
MAX_TOKEN_COUNT = 2**31 - 1


def token_counts(usage: Any, names: tuple[str, str]) -> tuple[int | None, int | None]:
    """(input, output) tokens of a ``usage`` object; None for a value that is not a count.

    The upstream is an OpenAI-compatible API, not always OpenAI: a string, a float or 1e23
    there made the limits, the metrics and the record fail (a 500 with no record), or charged
    the end user's token limit with an absurd amount. Unknown, the reservation stands."""
    if not isinstance(usage, dict):
        return None, None
    return _count(usage.get(names[0])), _count(usage.get(names[1]))


def _count(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT else None
