"""Responses (``POST /v1/responses``): its fields, its answer, its stream."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from goodstanding.endpoints.base import (
    Document,
    Endpoint,
    StreamShape,
    joined_text,
    token_counts,
)
from goodstanding.endpoints.fields import (
    FILE,
    IDS,
    IMAGE,
    IMAGE_BASE64,
    JSON,
    LABEL,
    META,
    OWN_MODERATION,
    REFERENCE,
    ROUTING,
    SECRET,
    STORED,
    TEXT,
    prefixed,
)
from goodstanding.stream.sse import data, last_event_head

if TYPE_CHECKING:
    from goodstanding.call import Call
    from goodstanding.stream.reading import StreamState

NAME = "responses"
USAGE_FIELDS = ("input_tokens", "output_tokens")  # its usage: input, output tokens

# The parts of a content array (``input_text``, ``input_image``, ``input_file``, ``output_text``).
_PARTS = {
    "[].type": LABEL,
    "[].text": TEXT,
    "[].refusal": TEXT,
    "[].image_url": IMAGE,
    "[].filename": TEXT,
}

# A tool definition (``tools[]``, and the tools an ``additional_tools`` item adds).
_TOOL = {
    ".name": TEXT,
    ".description": TEXT,
    ".parameters": JSON,
    ".output_schema": JSON,
    ".format.definition": TEXT,  # a custom tool's grammar
    ".server_label": TEXT,  # an MCP server's name, shown to the model with its tools
    ".server_description": TEXT,
    ".user_location.city": TEXT,  # web search: told to the model
    ".user_location.country": TEXT,
    ".user_location.region": TEXT,
    ".user_location.timezone": TEXT,
    ".environment.skills[].name": TEXT,
    ".environment.skills[].description": TEXT,
    ".tools[].name": TEXT,  # a namespace's tools
    ".tools[].description": TEXT,
    ".tools[].parameters": JSON,
    ".tools[].output_schema": JSON,
    ".tools[].format.definition": TEXT,
}

# Output items that are a tool's result, not something the end user wrote: the detectors
# look for injected instructions there instead of jailbreaks.
_TOOL_RESULT_ITEMS = (
    "function_call_output", "custom_tool_call_output", "computer_call_output",
    "local_shell_call_output", "shell_call_output", "apply_patch_call_output",
    "file_search_call", "web_search_call", "code_interpreter_call", "mcp_call",
    "mcp_list_tools", "tool_search_output", "program_output",
)  # fmt: skip

MODERATED = {
    "instructions": TEXT,
    "input": TEXT,
    "input[].role": LABEL,
    "input[].type": LABEL,
    "input[].content": TEXT,
    **prefixed("input[].content", _PARTS),
    "input[].name": TEXT,
    "input[].arguments": JSON,  # a string, or an object for some tool calls
    "input[].input": TEXT,  # a custom tool call's input
    "input[].code": TEXT,  # code interpreter, programmatic tool calling
    "input[].output": TEXT,
    "input[].output[].type": LABEL,  # a function call's output parts
    "input[].output[].text": TEXT,
    "input[].output[].image_url": IMAGE,
    "input[].output[].filename": TEXT,
    "input[].output[].stdout": TEXT,
    "input[].output[].stderr": TEXT,
    "input[].output.image_url": IMAGE,  # a computer call's screenshot
    "input[].outputs[].logs": TEXT,
    "input[].outputs[].url": IMAGE,
    "input[].result": TEXT,  # a program's result
    # an image generation call's result is the generated image in base64, which the model
    # reads: a client can put any picture there, so it is moderated like an input image
    "input[type=image_generation_call].result": IMAGE_BASE64,
    "input[].revised_prompt": TEXT,
    "input[].reason": TEXT,  # an MCP approval's reason
    "input[].error": TEXT,
    "input[].error.message": TEXT,
    "input[].error.content": JSON,
    "input[].summary[].text": TEXT,  # reasoning summaries
    "input[].queries[]": TEXT,  # file search
    "input[].results[].text": TEXT,
    "input[].results[].filename": TEXT,
    "input[].results[].attributes.*": TEXT,
    "input[].action.query": TEXT,  # web search, shell and computer actions
    "input[].action.queries[]": TEXT,
    "input[].action.pattern": TEXT,
    "input[].action.text": TEXT,
    "input[].action.command[]": TEXT,
    "input[].action.commands[]": TEXT,
    "input[].actions[].text": TEXT,
    "input[].operation.diff": TEXT,  # apply_patch
    "input[].acknowledged_safety_checks[].message": TEXT,
    "input[].pending_safety_checks[].message": TEXT,
    "input[].environment.skills[].name": TEXT,
    "input[].environment.skills[].description": TEXT,
    "input[].text.format.name": TEXT,  # a configuration update item
    "input[].text.format.description": TEXT,
    "input[].text.format.schema": JSON,
    **prefixed("input[].tools[]", _TOOL),  # additional_tools, tool lists
    "input[].tools[].input_schema": JSON,  # mcp_list_tools
    "input[].tools[].annotations": JSON,
    **prefixed("tools[]", _TOOL),
    "text.format.name": TEXT,
    "text.format.description": TEXT,
    "text.format.schema": JSON,
    # a stored prompt's text was written by the organization on the platform; the
    # variables filled into it come with the request
    "prompt.id": LABEL,
    "prompt.variables.*": TEXT,
    "prompt.variables.*.type": LABEL,
    "prompt.variables.*.text": TEXT,
    "prompt.variables.*.image_url": IMAGE,
    "prompt.variables.*.filename": TEXT,
}

_FILTER = "a file search filter on stored attributes, not shown to the model"
_TOOL_NOT_READ = {
    ".authorization": SECRET,
    ".headers.*": SECRET,
    ".container.network_policy.domain_secrets[].value": SECRET,
    ".environment.network_policy.domain_secrets[].value": SECRET,
    ".container.network_policy.domain_secrets[].name": SECRET,
    ".environment.network_policy.domain_secrets[].name": SECRET,
    ".container.network_policy.domain_secrets[].domain": ROUTING,
    ".environment.network_policy.domain_secrets[].domain": ROUTING,
    ".container.network_policy.allowed_domains[]": ROUTING,
    ".environment.network_policy.allowed_domains[]": ROUTING,
    ".filters.allowed_domains[]": ROUTING,
    ".filters.key": _FILTER,
    ".filters.value": _FILTER,
    ".filters.value[]": _FILTER,
    ".filters.filters[]": _FILTER,
    ".filters.filters[].key": _FILTER,
    ".filters.filters[].value": _FILTER,
    ".filters.filters[].value[]": _FILTER,
    ".allowed_tools[]": REFERENCE,
    ".allowed_tools.tool_names[]": REFERENCE,
    ".require_approval.always.tool_names[]": REFERENCE,
    ".require_approval.never.tool_names[]": REFERENCE,
    ".server_url": ROUTING,
    ".tunnel_id": IDS,
    ".container": IDS,
    ".container.file_ids[]": IDS,
    ".environment.container_id": IDS,
    ".environment.file_ids[]": IDS,
    ".environment.skills[].path": IDS,
    ".environment.skills[].skill_id": IDS,
    ".environment.skills[].version": IDS,
    ".environment.skills[].source.data": "a skill's zipped bundle, not text",
    ".vector_store_ids[]": IDS,
    ".input_image_mask.file_id": FILE,
    ".input_image_mask.image_url": "a mask for image edits: not content shown to the model",
    ".model": ROUTING,
    ".size": ROUTING,
    ".svg.model": ROUTING,
}

NOT_MODEL_READ = {
    "model": ROUTING,
    "user": IDS,
    "safety_identifier": IDS,
    "prompt_cache_key": IDS,
    "metadata.*": META,
    "moderation.model": OWN_MODERATION,
    "reasoning.mode": ROUTING,
    "context_management[].type": ROUTING,
    # stored state: moderated when it was sent, except an answer the gateway withheld (OpenAI
    # stored it all the same), which a call may not name (checks/continuation.py)
    "conversation": STORED,
    "conversation.id": STORED,
    "previous_response_id": STORED,
    "background_options.continuation_id": STORED,
    "prompt_cache_options.comparison_response_id": STORED,
    "prompt.id": STORED,
    "prompt.version": STORED,
    "tool_choice.name": REFERENCE,
    "tool_choice.server_label": REFERENCE,
    "tool_choice.tools[]": REFERENCE,
    "input[].id": IDS,
    "input[].call_id": IDS,
    "input[].approval_request_id": IDS,
    "input[].caller.caller_id": IDS,
    "input[].container_id": IDS,
    "input[].environment.container_id": IDS,
    "input[].environment.skills[].path": IDS,
    "input[].fingerprint": "an opaque replay fingerprint",
    "input[].encrypted_content": "encrypted reasoning: opaque to anyone but the model's provider",
    "input[].namespace": REFERENCE,
    "input[].server_label": REFERENCE,
    "input[].size": ROUTING,
    "input[].svg_usage.model": ROUTING,
    "input[].operation.path": "a file path the patch applies to",
    "input[].action.url": "an address a tool fetched; the page itself was the tool's result",
    "input[].action.sources[].url": "an address a tool fetched",
    "input[].action.env.*": "environment variables of a shell call: may hold secrets",
    "input[].action.user": IDS,
    "input[].action.working_directory": "a directory path",
    "input[].action.keys[]": "key names of a computer action",
    "input[].actions[].keys[]": "key names of a computer action",
    "input[].output.file_id": FILE,
    "input[].output[].file_data": FILE,
    "input[].output[].file_id": FILE,
    "input[].output[].file_url": FILE,
    "input[].content[].file_data": FILE,
    "input[].content[].file_id": FILE,
    "input[].content[].file_url": FILE,
    "input[].results[].file_id": IDS,
    "input[].content[].annotations[].container_id": "a citation in an earlier answer",
    "input[].content[].annotations[].file_id": "a citation in an earlier answer",
    "input[].content[].annotations[].filename": "a citation in an earlier answer",
    "input[].content[].annotations[].title": "a citation in an earlier answer",
    "input[].content[].annotations[].url": "a citation in an earlier answer",
    "input[].content[].logprobs[].token": "log probabilities of an earlier answer",
    "input[].content[].logprobs[].top_logprobs[].token": "log probabilities of an earlier answer",
    "input[].acknowledged_safety_checks[].id": IDS,
    "input[].acknowledged_safety_checks[].code": IDS,
    "input[].pending_safety_checks[].id": IDS,
    "input[].pending_safety_checks[].code": IDS,
    "input[].error.code": IDS,
    "input[].error.param": IDS,
    "input[].error.type": IDS,
    "input[].error.moderation_details.categories[]": IDS,
    "prompt.variables.*.file_data": FILE,
    "prompt.variables.*.file_id": FILE,
    "prompt.variables.*.file_url": FILE,
    **{"tools[]" + path: why for path, why in _TOOL_NOT_READ.items()},
    **{"input[].tools[]" + path: why for path, why in _TOOL_NOT_READ.items()},
}


# --- a whole answer ------------------------------------------------------------------------


# What the model wrote outside the message's text, by output item: function and MCP calls'
# ``arguments``, a custom tool call's free-form ``input``, the code interpreter's ``code``;
# a reasoning item's ``summary`` parts are shown to people as the model's own words.
_ITEM_TEXTS = ("arguments", "input", "code")
# ... and what its actions do: the text a computer action types, a shell call's commands, a
# web search's queries, a patch's diff (the same fields the input side moderates in history).
# These come whole, in ``response.output_item.done``, never as deltas.
_ACTION_TEXTS = ("text", "query", "pattern")
_ACTION_LISTS = ("queries", "command", "commands")


def _action_texts(item: dict[str, Any], texts: list[str]) -> None:
    actions = item.get("actions")
    for action in (item.get("action"), *(actions if isinstance(actions, list) else ())):
        if not isinstance(action, dict):
            continue
        for name in _ACTION_TEXTS:
            if isinstance(action.get(name), str):
                texts.append(action[name])
        for name in _ACTION_LISTS:
            found = action.get(name)
            if isinstance(found, list):
                texts.append(" ".join(x for x in found if isinstance(x, str)))
    operation = item.get("operation")
    if isinstance(operation, dict) and isinstance(operation.get("diff"), str):
        texts.append(operation["diff"])


def answer_text(document: Document) -> str:
    """Output text, refusals, reasoning summaries and what tool calls carry (a model can be
    talked into putting violating text there as easily as into the text)."""
    texts: list[str] = []
    for item in document.get("output") or ():
        if not isinstance(item, dict):
            continue
        for name in _ITEM_TEXTS:
            if isinstance(item.get(name), str):
                texts.append(item[name])
        if "action" in item or "actions" in item or "operation" in item:
            _action_texts(item, texts)
        for field in ("content", "summary"):
            for part in item.get(field) or ():
                if not isinstance(part, dict):
                    continue
                for name in ("text", "refusal"):
                    if isinstance(part.get(name), str):
                        texts.append(part[name])
    return "\n".join(texts)


def withhold(document: Document) -> Document:
    """Remove the answer the way OpenAI does when its own filter trips (SPEC §3)."""
    document["status"] = "incomplete"
    document["incomplete_details"] = {"reason": "content_filter"}
    document["output"] = []
    document.pop("output_text", None)
    return document


def answer_signal(document: Document) -> str | None:
    """``content_filter`` or ``refusal`` when the answer carries one of them."""
    details = document.get("incomplete_details")
    if isinstance(details, dict) and details.get("reason") == "content_filter":
        return "content_filter"
    for item in document.get("output") or ():
        for part in item.get("content") or () if isinstance(item, dict) else ():
            if isinstance(part, dict) and part.get("type") == "refusal":
                return "refusal"
    return None


def latest_prompt(body: Document) -> str | None:
    """The input when it is a string, else the newest user item's text."""
    given = body.get("input")
    if isinstance(given, str):
        return given
    if isinstance(given, list):
        for item in reversed(given):
            if isinstance(item, dict) and item.get("role", "user") == "user":
                return joined_text(item.get("content"))
    return None


# --- a stream ------------------------------------------------------------------------------

_DONE = (b"response.completed", b"response.incomplete", b"response.failed")
_TEXT_EVENTS = {  # the deltas of what ``answer_text`` reads
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
    "response.mcp_call_arguments.delta",
    "response.custom_tool_call_input.delta",
    "response.code_interpreter_call_code.delta",
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
}


def read_event(state: StreamState, event: bytes) -> tuple[bool, str]:
    """(pass the event on?, its text); usage from the terminal event."""
    call = state.call
    if any(name in event[:64] for name in _DONE):
        payload = data(event)
        response = (orjson.loads(payload) if payload else {}).get("response") or {}
        if (response.get("incomplete_details") or {}).get("reason") == "content_filter":
            call.upstream.signal = "content_filter"
        call.tokens_in, call.tokens_out = token_counts(response.get("usage"), USAGE_FIELDS)
        return True, ""
    if not state.need_text:
        return True, ""
    if b".delta" not in event[:80]:
        if b"response.output_item.done" in event[:80]:
            return True, _item_actions(event)
        if b"response.created" in event[:64]:
            _note_id(state, event)
        return True, ""
    payload = data(event)
    parsed = orjson.loads(payload) if payload else {}
    if parsed.get("type") in _TEXT_EVENTS:
        if parsed["type"] == "response.refusal.delta":
            call.upstream.signal = "refusal"
        state.meta.setdefault("item_id", parsed.get("item_id"))
        text = parsed.get("delta") or ""
        # each item's (and part's) text on its own line, as ``answer_text`` joins them: glued,
        # a summary ending "… kill you" and a message starting "The …" read "youThe"
        place = (parsed.get("item_id"), parsed.get("content_index"), parsed.get("summary_index"))
        if state.meta.setdefault("text_place", place) != place:
            state.meta["text_place"] = place
            text = "\n" + text
        return True, text
    return True, ""


def _note_id(state: StreamState, event: bytes) -> None:
    """The response's id, sent before any text: the id a cut stream ends with (in its
    ``response.incomplete``) and the one the gateway remembers as withheld."""
    payload = data(event)
    parsed = orjson.loads(payload) if payload else None
    response = parsed.get("response") if isinstance(parsed, dict) else None
    found = response.get("id") if isinstance(response, dict) else None
    if isinstance(found, str):
        state.meta["response_id"] = state.call.upstream.response_id = found


def _item_actions(event: bytes) -> str:
    """What a finished output item's actions carry (their only appearance in a stream), on
    its own line."""
    payload = data(event)
    item = (orjson.loads(payload) if payload else {}).get("item")
    texts: list[str] = []
    if isinstance(item, dict):
        _action_texts(item, texts)
    return "\n" + "\n".join(texts) if texts else ""


def ends(out: bytes) -> bool:
    head = last_event_head(out)
    return any(name in head for name in _DONE)


def content_filter_end(call: Call, meta: dict[str, Any]) -> bytes:
    response = {
        "id": meta.get("response_id") or f"resp_{call.request_id}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete",
        "incomplete_details": {"reason": "content_filter"},
        "model": call.model,
        "output": [],
    }
    event = {"type": "response.incomplete", "response": response, "sequence_number": 0}
    return b"event: response.incomplete\ndata: " + orjson.dumps(event) + b"\n\n"


def error_frame(error: dict[str, Any]) -> bytes:
    """Responses' own error event (the SDKs raise it)."""
    event = {"type": "error", "code": error["code"], "message": error["message"],
             "param": None, "sequence_number": 0}
    return b"event: error\ndata: " + orjson.dumps(event) + b"\n\n"


RESPONSES = Endpoint(
    NAME, "POST", "/v1/responses",
    generation=True,
    required=("model",),
    end_user_field="safety_identifier",
    counts_tokens=True,
    prompt_capped=True,
    output_caps=("max_output_tokens",),
    usage_fields=USAGE_FIELDS,
    inline_moderation=True,
    moderated=MODERATED,
    tool_results=("input[type=" + "|".join(_TOOL_RESULT_ITEMS) + "]",),
    messages="input",
    read_first="instructions",  # the system prompt, whatever the body's key order
    not_model_read=NOT_MODEL_READ,
    answer_text=answer_text,
    withhold=withhold,
    answer_signal=answer_signal,
    latest_prompt=latest_prompt,
    error_frame=error_frame,
    stream=StreamShape(read_event, _DONE, ends, content_filter_end),
)  # fmt: skip
