"""Tool calls: when the simulated model calls one of the request's tools, and with what.

A request with `tools` gets a function call instead of text when
- `tool_choice` is `"required"` (the first tool) or names a function (that one), or
- the newest user text asks for one: `[[tool:NAME]]`, `[[tool:NAME:{"arg": 1}]]`, or the
  tool's name written in the text (`use get_weather`),
unless `tool_choice` is `"none"`. A conversation that ends with a tool's result is answered
with text that quotes the result (so a round trip can be checked end to end), unless
`tool_choice` still requires a call (as OpenAI does).
Arguments come from the directive, else from the tool's JSON schema (one example value per
property: an enum's first value, "sim", 1, true, [] or {}).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from .generation import new_id

_TOOL = re.compile(r"\[\[tool:([A-Za-z0-9_.-]+)(?::(.*?))?\]\]", re.DOTALL)
_EXAMPLES = {"string": "sim", "integer": 1, "number": 1, "boolean": True, "array": [],
             "object": {}, "null": None}  # fmt: skip
RESULT_PREFIX = "Simulated answer (goodstanding test double). The tool returned: "


@dataclass(frozen=True, slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it
    legacy: bool = False  # Chat's deprecated ``functions``: answered as ``function_call``

    def argument_pieces(self) -> list[str]:
        """The arguments as a stream sends them: several deltas that join to the whole."""
        text = self.arguments
        size = max(1, len(text) // 4)
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def choose(body: dict[str, Any], newest_user: str, ends_with_result: bool) -> ToolCall | None:
    """The tool call this request gets, or None for a text answer."""
    tools = _functions(body.get("tools"))
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    asked = None if ends_with_result or "[[tool:" not in newest_user else _TOOL.search(newest_user)
    name = _named(choice) or (asked.group(1) if asked else None)
    if name is None and choice == "required":
        name = next(iter(tools))
    if name is None and not ends_with_result:
        name = next((t for t in tools if t in newest_user), None)
    if name not in tools:
        return None
    given = asked.group(2) if asked and asked.group(1) == name else None
    arguments = given.strip() if given else _example(tools[name])
    return ToolCall(new_id("call_"), name, arguments)


def choose_legacy(body: dict[str, Any], newest_user: str,
                  ends_with_result: bool) -> ToolCall | None:
    """Chat's deprecated ``functions`` / ``function_call`` ("none", "auto" or {"name": N}),
    chosen as tools are."""
    functions = body.get("functions")
    if "tools" in body or not isinstance(functions, list):
        return None
    given = body.get("function_call")
    choice = {"type": "function", "function": given} if isinstance(given, dict) else given
    found = choose({"tools": [{"type": "function", "function": f} for f in functions],
                    "tool_choice": choice}, newest_user, ends_with_result)
    return None if found is None else ToolCall(found.call_id, found.name, found.arguments,
                                               legacy=True)


def result_text(output: Any) -> str:
    """The text answer to a tool's result: it quotes the result (first 200 characters)."""
    text = output if isinstance(output, str) else orjson.dumps(output).decode()
    return RESULT_PREFIX + text[:200]


def _functions(tools: Any) -> dict[str, dict[str, Any]]:
    """name → JSON schema of its parameters, for Chat's and Responses' tool shapes."""
    found: dict[str, dict[str, Any]] = {}
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        spec = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        if isinstance(spec.get("name"), str):
            params = spec.get("parameters")
            found[spec["name"]] = params if isinstance(params, dict) else {}
    return found


def _named(choice: Any) -> str | None:
    """`{"type": "function", "function": {"name": N}}` (Chat) or `{"type": "function",
    "name": N}` (Responses)."""
    if not isinstance(choice, dict) or choice.get("type") != "function":
        return None
    spec = choice.get("function") if isinstance(choice.get("function"), dict) else choice
    name = spec.get("name")
    return name if isinstance(name, str) else None


def _example(schema: dict[str, Any]) -> str:
    properties = schema.get("properties")
    values = {}
    for name, prop in (properties if isinstance(properties, dict) else {}).items():
        values[name] = _value(prop if isinstance(prop, dict) else {})
    return orjson.dumps(values).decode()


def _value(prop: dict[str, Any]) -> Any:
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return prop["enum"][0]
    kind = prop.get("type")
    if isinstance(kind, list):  # ["string", "null"]
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" and isinstance(prop.get("properties"), dict):
        return orjson.loads(_example(prop))
    return _EXAMPLES.get(kind, "sim")

