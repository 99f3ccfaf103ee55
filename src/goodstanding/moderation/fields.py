"""Which fields of a request the model reads: one declared list per endpoint, data only.

``MODERATED[endpoint]`` maps a field path to what the field holds; ``parts.py`` compiles these
lists once at import into the walker that both checks the shapes and takes out the parts to
moderate (and to screen with the offline detectors). ``NOT_MODEL_READ[endpoint]`` lists the
string fields of the endpoint's request that are deliberately left out, each with its reason.
``tests/test_moderated_fields.py`` walks the official SDK's request types and fails when a
string field is in neither list, so a field OpenAI adds cannot slip through unnoticed.

Path syntax: ``a.b`` an object's field, ``a[]`` each element of an array, ``a.*`` each value of
an object, ``a[type=x|y]`` the elements whose ``type`` is ``x`` or ``y`` (an override of the
plain ``a[]`` entries for those elements). A field may hold either shape its entries allow:
``messages[].content`` is a string, ``messages[].content[].text`` the text of each of its parts.

Kinds: ``text`` a string moderated as text; ``image`` an image or data URL moderated as an
image; ``json`` any JSON (a JSON schema, tool arguments) whose strings are moderated together
as one text, schema keywords left out; ``label`` a string the gateway relies on (a role, a
part type), checked but not moderated; ``required`` a label that must be present; ``skip``
accepted as anything and not moderated (an override only).
"""

from __future__ import annotations

TEXT, IMAGE, JSON, LABEL, REQUIRED, SKIP = "text", "image", "json", "label", "required", "skip"

# The parts of a content array, in Chat (``text``, ``image_url``, ``file``, ``input_audio``,
# ``refusal``) and in Responses (``input_text``, ``input_image``, ``input_file``, ``output_text``).
_CHAT_PARTS = {
    "[].type": LABEL,
    "[].text": TEXT,
    "[].refusal": TEXT,
    "[].image_url.url": IMAGE,
    "[].file.filename": TEXT,
}
_RESPONSES_PARTS = {
    "[].type": LABEL,
    "[].text": TEXT,
    "[].refusal": TEXT,
    "[].image_url": IMAGE,
    "[].filename": TEXT,
}

# A Responses tool definition (``tools[]``, and the tools an ``additional_tools`` item adds).
_RESPONSES_TOOL = {
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

# Responses output items that are a tool's result, not something the end user wrote: the
# detectors look for injected instructions there instead of jailbreaks.
_TOOL_RESULT_ITEMS = (
    "function_call_output", "custom_tool_call_output", "computer_call_output",
    "local_shell_call_output", "shell_call_output", "apply_patch_call_output",
    "file_search_call", "web_search_call", "code_interpreter_call", "mcp_call",
    "mcp_list_tools", "tool_search_output", "program_output",
)  # fmt: skip


def _prefixed(prefix: str, entries: dict[str, str]) -> dict[str, str]:
    return {prefix + path: kind for path, kind in entries.items()}


MODERATED: dict[str, dict[str, str]] = {
    "chat.completions": {
        "messages[].role": REQUIRED,
        "messages[].content": TEXT,
        **_prefixed("messages[].content", _CHAT_PARTS),
        "messages[].name": TEXT,  # the participant's name is put in the prompt
        "messages[].refusal": TEXT,
        "messages[].tool_calls[].function.name": TEXT,
        "messages[].tool_calls[].function.arguments": TEXT,
        "messages[].tool_calls[].custom.name": TEXT,
        "messages[].tool_calls[].custom.input": TEXT,
        "messages[].function_call.name": TEXT,
        "messages[].function_call.arguments": TEXT,
        "tools[].function.name": TEXT,
        "tools[].function.description": TEXT,
        "tools[].function.parameters": JSON,
        "tools[].custom.name": TEXT,
        "tools[].custom.description": TEXT,
        "tools[].custom.format.grammar.definition": TEXT,
        "functions[].name": TEXT,
        "functions[].description": TEXT,
        "functions[].parameters": JSON,
        "response_format.json_schema.name": TEXT,
        "response_format.json_schema.description": TEXT,
        "response_format.json_schema.schema": JSON,
        "prediction.content": TEXT,
        "prediction.content[].text": TEXT,
        "web_search_options.user_location.approximate.city": TEXT,
        "web_search_options.user_location.approximate.country": TEXT,
        "web_search_options.user_location.approximate.region": TEXT,
        "web_search_options.user_location.approximate.timezone": TEXT,
    },
    "responses": {
        "instructions": TEXT,
        "input": TEXT,
        "input[].role": LABEL,
        "input[].type": LABEL,
        "input[].content": TEXT,
        **_prefixed("input[].content", _RESPONSES_PARTS),
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
        # an image generation call's result is the generated image in base64, not text
        "input[type=image_generation_call].result": SKIP,
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
        **_prefixed("input[].tools[]", _RESPONSES_TOOL),  # additional_tools, tool lists
        "input[].tools[].input_schema": JSON,  # mcp_list_tools
        "input[].tools[].annotations": JSON,
        **_prefixed("tools[]", _RESPONSES_TOOL),
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
    },
    "images.generations": {
        "prompt": TEXT,
    },
}

# Elements whose text is a tool's result or a retrieved document, per endpoint.
TOOL_RESULTS: dict[str, tuple[str, ...]] = {
    "chat.completions": ("messages[role=tool|function]",),
    "responses": ("input[type=" + "|".join(_TOOL_RESULT_ITEMS) + "]",),
    "images.generations": (),
}

# String fields of the SDK's request types that the model does not read, and why. Moderation
# sees what the model reads; credentials never leave for moderation.
_IDS = "an identifier or a reference, not text"
_SECRET = "a credential for a tool's server: never sent to moderation"
_ROUTING = "chooses a model, a voice or an option; OpenAI validates the value"
_REFERENCE = "names a tool declared in `tools`, whose name is moderated there"
_FILE = "file or audio bytes or a file id: moderation takes text and images only (see README)"
_STORED = "a reference to state stored on the platform (its text was moderated when sent)"
_META = "metadata kept with the response, not shown to the model"
_CHAT_NOT_READ = {
    "model": _ROUTING,
    "user": _IDS,
    "safety_identifier": _IDS,
    "prompt_cache_key": _IDS,
    "metadata.*": _META,
    "stop": "stop sequences end sampling; they are never part of the prompt",
    "stop[]": "stop sequences end sampling; they are never part of the prompt",
    "audio.voice": _ROUTING,
    "audio.voice.id": _ROUTING,
    "moderation.model": _ROUTING,
    "messages[].audio.id": _STORED,
    "messages[].tool_call_id": _IDS,
    "messages[].tool_calls[].id": _IDS,
    "messages[].content[].file.file_data": _FILE,
    "messages[].content[].file.file_id": _FILE,
    "messages[].content[].input_audio.data": _FILE,
    "function_call.name": _REFERENCE,
    "tool_choice.function.name": _REFERENCE,
    "tool_choice.custom.name": _REFERENCE,
    "tool_choice.allowed_tools.tools[]": _REFERENCE,
}
_FILTER = "a file search filter on stored attributes, not shown to the model"
_TOOL_NOT_READ = {
    ".authorization": _SECRET,
    ".headers.*": _SECRET,
    ".container.network_policy.domain_secrets[].value": _SECRET,
    ".environment.network_policy.domain_secrets[].value": _SECRET,
    ".container.network_policy.domain_secrets[].name": _SECRET,
    ".environment.network_policy.domain_secrets[].name": _SECRET,
    ".container.network_policy.domain_secrets[].domain": _ROUTING,
    ".environment.network_policy.domain_secrets[].domain": _ROUTING,
    ".container.network_policy.allowed_domains[]": _ROUTING,
    ".environment.network_policy.allowed_domains[]": _ROUTING,
    ".filters.allowed_domains[]": _ROUTING,
    ".filters.key": _FILTER,
    ".filters.value": _FILTER,
    ".filters.value[]": _FILTER,
    ".filters.filters[]": _FILTER,
    ".filters.filters[].key": _FILTER,
    ".filters.filters[].value": _FILTER,
    ".filters.filters[].value[]": _FILTER,
    ".allowed_tools[]": _REFERENCE,
    ".allowed_tools.tool_names[]": _REFERENCE,
    ".require_approval.always.tool_names[]": _REFERENCE,
    ".require_approval.never.tool_names[]": _REFERENCE,
    ".server_url": _ROUTING,
    ".tunnel_id": _IDS,
    ".container": _IDS,
    ".container.file_ids[]": _IDS,
    ".environment.container_id": _IDS,
    ".environment.file_ids[]": _IDS,
    ".environment.skills[].path": _IDS,
    ".environment.skills[].skill_id": _IDS,
    ".environment.skills[].version": _IDS,
    ".environment.skills[].source.data": "a skill's zipped bundle, not text",
    ".vector_store_ids[]": _IDS,
    ".input_image_mask.file_id": _FILE,
    ".input_image_mask.image_url": "a mask for image edits: not content shown to the model",
    ".model": _ROUTING,
    ".size": _ROUTING,
    ".svg.model": _ROUTING,
}
_RESPONSES_NOT_READ = {
    "model": _ROUTING,
    "user": _IDS,
    "safety_identifier": _IDS,
    "prompt_cache_key": _IDS,
    "metadata.*": _META,
    "moderation.model": _ROUTING,
    "reasoning.mode": _ROUTING,
    "context_management[].type": _ROUTING,
    "conversation": _STORED,
    "conversation.id": _STORED,
    "previous_response_id": _STORED,
    "background_options.continuation_id": _STORED,
    "prompt_cache_options.comparison_response_id": _STORED,
    "prompt.id": _STORED,
    "prompt.version": _STORED,
    "tool_choice.name": _REFERENCE,
    "tool_choice.server_label": _REFERENCE,
    "tool_choice.tools[]": _REFERENCE,
    "input[].id": _IDS,
    "input[].call_id": _IDS,
    "input[].approval_request_id": _IDS,
    "input[].caller.caller_id": _IDS,
    "input[].container_id": _IDS,
    "input[].environment.container_id": _IDS,
    "input[].environment.skills[].path": _IDS,
    "input[].fingerprint": "an opaque replay fingerprint",
    "input[].encrypted_content": "encrypted reasoning: opaque to anyone but the model's provider",
    "input[].namespace": _REFERENCE,
    "input[].server_label": _REFERENCE,
    "input[].size": _ROUTING,
    "input[].svg_usage.model": _ROUTING,
    "input[].operation.path": "a file path the patch applies to",
    "input[].action.url": "an address a tool fetched; the page itself was the tool's result",
    "input[].action.sources[].url": "an address a tool fetched",
    "input[].action.env.*": "environment variables of a shell call: may hold secrets",
    "input[].action.user": _IDS,
    "input[].action.working_directory": "a directory path",
    "input[].action.keys[]": "key names of a computer action",
    "input[].actions[].keys[]": "key names of a computer action",
    "input[].output.file_id": _FILE,
    "input[].output[].file_data": _FILE,
    "input[].output[].file_id": _FILE,
    "input[].output[].file_url": _FILE,
    "input[].content[].file_data": _FILE,
    "input[].content[].file_id": _FILE,
    "input[].content[].file_url": _FILE,
    "input[].results[].file_id": _IDS,
    "input[].content[].annotations[].container_id": "a citation in an earlier answer",
    "input[].content[].annotations[].file_id": "a citation in an earlier answer",
    "input[].content[].annotations[].filename": "a citation in an earlier answer",
    "input[].content[].annotations[].title": "a citation in an earlier answer",
    "input[].content[].annotations[].url": "a citation in an earlier answer",
    "input[].content[].logprobs[].token": "log probabilities of an earlier answer",
    "input[].content[].logprobs[].top_logprobs[].token": "log probabilities of an earlier answer",
    "input[].acknowledged_safety_checks[].id": _IDS,
    "input[].acknowledged_safety_checks[].code": _IDS,
    "input[].pending_safety_checks[].id": _IDS,
    "input[].pending_safety_checks[].code": _IDS,
    "input[].error.code": _IDS,
    "input[].error.param": _IDS,
    "input[].error.type": _IDS,
    "input[].error.moderation_details.categories[]": _IDS,
    "prompt.variables.*.file_data": _FILE,
    "prompt.variables.*.file_id": _FILE,
    "prompt.variables.*.file_url": _FILE,
    **{"tools[]" + path: why for path, why in _TOOL_NOT_READ.items()},
    **{"input[].tools[]" + path: why for path, why in _TOOL_NOT_READ.items()},
}
NOT_MODEL_READ: dict[str, dict[str, str]] = {
    "chat.completions": _CHAT_NOT_READ,
    "responses": _RESPONSES_NOT_READ,
    "images.generations": {
        "model": _ROUTING,
        "size": _ROUTING,
        "svg.model": _ROUTING,
        "user": _IDS,
        "safety_identifier": _IDS,
    },
}
