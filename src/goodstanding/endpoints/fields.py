"""The vocabulary of the declared model-read fields (each endpoint module lists its own).

``Endpoint.moderated`` maps a field path to what the field holds; ``moderation/parts.py``
compiles these lists once at import into the walker that both checks the shapes and takes out
the parts to moderate (and to screen with the offline detectors). ``Endpoint.not_model_read``
lists the string fields of the endpoint's request that are deliberately left out, each with
its reason. ``tests/test_moderated_fields.py`` walks the official SDK's request types and fails
when a string field is in neither list, so a field OpenAI adds cannot slip through unnoticed.

Path syntax: ``a.b`` an object's field, ``a[]`` each element of an array, ``a.*`` each value of
an object, ``a[type=x|y]`` the elements whose ``type`` is ``x`` or ``y`` (an override of the
plain ``a[]`` entries for those elements). A field may hold either shape its entries allow:
``messages[].content`` is a string, ``messages[].content[].text`` the text of each of its parts.

Kinds: ``text`` a string moderated as text; ``image`` an image or data URL moderated as an
image; ``image_base64`` an image's bytes in base64 (a generated image handed back as context),
moderated as an image by its data URL; ``json`` any JSON (a JSON schema, tool arguments) whose strings are moderated together
as one text, schema keywords left out; ``label`` a string the gateway relies on (a role, a
part type), checked but not moderated; ``required`` a label that must be present; ``skip``
accepted as anything and not moderated (an override only).
"""

from __future__ import annotations

TEXT, IMAGE, JSON, LABEL, REQUIRED, SKIP = "text", "image", "json", "label", "required", "skip"
IMAGE_BASE64 = "image_base64"

# Why a string field of the SDK's request types is not read by the model. Moderation sees what
# the model reads; credentials never leave for moderation.
IDS = "an identifier or a reference, not text"
SECRET = "a credential for a tool's server: never sent to moderation"
ROUTING = "chooses a model, a voice or an option; OpenAI validates the value"
REFERENCE = "names a tool declared in `tools`, whose name is moderated there"
FILE = "file or audio bytes or a file id: moderation takes text and images only (see README)"
STORED = "a reference to state stored on the platform (its text was moderated when sent)"
META = "metadata kept with the response, not shown to the model"
OWN_MODERATION = ("the client's own inline moderation: its scores are for the client; the "
                  "gateway never trusts them and moderates the answer itself")


def prefixed(prefix: str, entries: dict[str, str]) -> dict[str, str]:
    """``entries`` with every path below ``prefix``."""
    return {prefix + path: kind for path, kind in entries.items()}
