"""The one table of client compatibility cases, run by every client's runner.

Each runner (openai-python, LangChain, openai-node, the Vercel AI SDK) plays every case against
the same gateway in front of the simulated upstream and reports, per case, one `Outcome`-shaped
JSON object: the text, the tool calls, the finish reason in OpenAI's words (a runner translates
its client's own: the AI SDK's `content-filter` is `content_filter`), and the error the client
raised (its own class name, HTTP status and OpenAI `code`). `check` asserts an outcome against
the case's expectation; the expectation is the same for every client, except the error classes,
which are each client's own (`ERROR_CLASSES`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from goodstanding.simulate.tools import RESULT_PREFIX

MODEL = "gpt-4o-mini"
SAID = "Hello from the gateway, one word at a time."
CLEAN = ("The weather today is calm and pleasant, with a gentle breeze over the quiet hills "
         "and a few clouds drifting slowly towards the sea. ")  # fmt: skip
VIOLENT = "I will kill you"
TOOL_RESULT = "sunny, 21 C"
# one tool, in JSON schema: every runner declares it its own way
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "the city"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
RETRY_AFTER_S = 1.0  # what the simulated 429 asks for; the clients' own backoff differs
# each client's own exception class for an error kind
ERROR_CLASSES = {
    "openai-python": {"bad_request": "BadRequestError", "authentication": "AuthenticationError"},
    # LangChain's own subclasses of openai-python's
    "langchain": {"bad_request": "OpenAIInvalidRequestError",
                  "authentication": "OpenAIAuthenticationError"},
    "openai-node": {"bad_request": "BadRequestError", "authentication": "AuthenticationError"},
    "vercel-ai": {"bad_request": "AI_APICallError", "authentication": "AI_APICallError"},
}


@dataclass(frozen=True)
class Expect:
    text: str | None = None  # the whole answer text
    text_prefix: str | None = None
    text_includes: str | None = None
    text_excludes: str | None = None
    min_chunks: int = 0  # a stream must arrive in at least this many text pieces
    tool: str | None = None  # a call of this tool, with JSON arguments naming a city
    finish: str | None = None
    error_kind: str | None = None  # bad_request | authentication
    status: int | None = None
    code: str | None = None
    retried: bool = False  # waited for retry-after, then succeeded


@dataclass(frozen=True)
class Case:
    name: str
    api: str  # chat | responses
    stream: bool
    prompt: str
    expect: Expect
    end_user: bool = True
    good_key: bool = True
    tool_choice: str | None = None  # "required": offer WEATHER_TOOL and require a call
    round_trip: bool = False  # answer the tool call with TOOL_RESULT and ask again
    max_retries: int = 0

    def for_client(self, client: str) -> dict[str, Any]:
        """The case as a runner reads it (JSON), `{client}` filled in the prompt."""
        return {**asdict(self), "prompt": self.prompt.replace("{client}", client)}


CASES = (
    Case("chat", "chat", False, f"[[say:{SAID}]]", Expect(text=SAID, finish="stop")),
    Case("chat_stream", "chat", True, f"[[say:{SAID}]]",
         Expect(text=SAID, finish="stop", min_chunks=2)),
    Case("responses", "responses", False, f"[[say:{SAID}]]", Expect(text=SAID)),
    Case("responses_stream", "responses", True, f"[[say:{SAID}]]",
         Expect(text=SAID, min_chunks=2)),
    Case("tool_call", "chat", False, "What is the weather?",
         Expect(tool="get_weather", finish="tool_calls"), tool_choice="required"),
    Case("tool_call_stream", "chat", True, "What is the weather?",
         Expect(tool="get_weather", finish="tool_calls"), tool_choice="required"),
    Case("responses_tool_call_stream", "responses", True, "What is the weather?",
         Expect(tool="get_weather"), tool_choice="required"),
    Case("tool_round_trip", "chat", False, "What is the weather?",
         # the AI SDK sends a tool's string result JSON-quoted
         Expect(text_prefix=RESULT_PREFIX, text_includes=TOOL_RESULT, finish="stop"),
         tool_choice="required",
         round_trip=True),
    Case("no_end_user", "chat", False, "hello",
         Expect(error_kind="bad_request", status=400, code="end_user_required"), end_user=False),
    Case("bad_key", "chat", False, "hello",
         Expect(error_kind="authentication", status=401, code="invalid_api_key"),
         good_key=False),
    Case("retry_after", "chat", False, f"[[fault:429-once:{{client}}]] [[say:{SAID}]]",
         Expect(text=SAID, retried=True), max_retries=2),
    Case("stream_withheld", "chat", True, f"[[say:{CLEAN * 3}{VIOLENT}]]",
         Expect(finish="content_filter", text_excludes="kill")),
)


@dataclass
class Outcome:
    """What a runner reports for one case (the node runners print the same shape)."""

    text: str | None = None
    chunks: int = 0
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    finish: str | None = None
    error: dict[str, Any] | None = None  # {"class", "status", "code"}
    elapsed: float = 0.0


def check(client: str, case: Case, outcome: dict[str, Any]) -> None:
    """Assert one client's outcome of one case against the table."""
    e = case.expect
    if e.error_kind is None:
        assert outcome["error"] is None, outcome["error"]
    else:
        error = outcome["error"]
        assert error is not None, f"no error raised: {outcome}"
        assert error["class"] == ERROR_CLASSES[client][e.error_kind], error
        assert (error["status"], error["code"]) == (e.status, e.code), error
    if e.text is not None:
        assert outcome["text"] == e.text
    if e.text_prefix is not None:
        assert (outcome["text"] or "").startswith(e.text_prefix), outcome["text"]
    if e.text_includes is not None:
        assert e.text_includes in (outcome["text"] or ""), outcome["text"]
    if e.text_excludes is not None:
        assert e.text_excludes not in (outcome["text"] or "")
    assert outcome["chunks"] >= e.min_chunks, outcome
    if e.tool is not None:
        (call,) = outcome["tool_calls"]
        assert call["name"] == e.tool
        assert isinstance(_json(call["arguments"]).get("city"), str), call
    else:
        assert not outcome["tool_calls"], outcome["tool_calls"]
    if e.finish is not None:
        assert outcome["finish"] == e.finish, outcome
    if e.retried:  # the client waited what retry-after said: more than its own first backoff
        assert RETRY_AFTER_S * 0.9 <= outcome["elapsed"] < RETRY_AFTER_S + 0.9, outcome


def _json(text: Any) -> dict[str, Any]:
    import json

    value = json.loads(text) if isinstance(text, str) else text
    assert isinstance(value, dict), text
    return value
