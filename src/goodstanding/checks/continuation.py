"""A Responses answer the gateway withheld cannot be continued.

When an output check withholds a Responses answer, OpenAI has stored it all the same (``store``
defaults to true) and, in a conversation, added it to the conversation's items; its id reached
the client (a withheld answer keeps its ``id``; a stream sends it in ``response.created``,
before any text). ``previous_response_id`` and ``conversation`` are references, passed through
unmoderated (``endpoints/responses.py``): naming that response or conversation would make the
flagged text the next turn's context, which moderation never reads.

The finisher remembers a withheld answer's response id and its conversation's in the store,
shared by every gateway process, before the answer (a stream: its terminal event) leaves. A
store that does not answer then withholds the answer itself (503 ``store_unavailable``, as for
any finisher's outage). The check refuses a later call naming either: 400 ``invalid_request``
with the field in ``param``, reason ``previous_response_withheld`` or
``conversation_withheld``. Only a Responses call that names one costs a store read (bounded by
``storage.timeout``; an outage is 503 ``store_unavailable``, like every check's).

Ids are kept as long as OpenAI keeps what they name: a stored response 30 days; a
conversation's items do not expire, so a conversation is kept a year, which bounds the table.
An id longer than the store's column, or not printable ASCII, is kept as its SHA-256.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from goodstanding.call import Call, Verdict
from goodstanding.endpoints.responses import RESPONSES
from goodstanding.errors import GatewayError, InvalidRequest
from goodstanding.stores.schema import withheld_ids

if TYPE_CHECKING:
    from goodstanding.stores.base import WithheldStore

NAME = "continuation"
_PASS = Verdict(NAME)
DAY = 86_400.0
RESPONSE_DAYS = 30  # OpenAI keeps a stored response 30 days
CONVERSATION_DAYS = 365  # a conversation's items do not expire: a bound for the table
MAX_ID_CHARS: int = withheld_ids.c.id.type.length  # type: ignore[attr-defined]
_REFUSALS = {  # field -> (message, reason)
    "previous_response_id": (
        "that response was withheld by the gateway's moderation and cannot be continued.",
        "previous_response_withheld"),
    "conversation": (
        ("an answer in that conversation was withheld by the gateway's moderation; the "
         "conversation cannot be continued."), "conversation_withheld"),
}


def stored_id(value: str) -> str:
    """How an id is kept: itself, or its SHA-256 when it would not fit the column as text."""
    if len(value) <= MAX_ID_CHARS and value.isascii() and value.isprintable():
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def conversation_of(body: dict[str, Any]) -> str | None:
    """``conversation``: an id, or an object with one."""
    given = body.get("conversation")
    if isinstance(given, dict):
        given = given.get("id")
    return given if isinstance(given, str) and given else None


def _named(body: dict[str, Any]) -> dict[str, str]:
    """The stored state a call continues from: field -> id as kept."""
    named: dict[str, str] = {}
    previous = body.get("previous_response_id")
    if isinstance(previous, str) and previous:
        named["previous_response_id"] = stored_id(previous)
    conversation = conversation_of(body)
    if conversation is not None:
        named["conversation"] = stored_id(conversation)
    return named


class ContinuationCheck:
    name = NAME

    def __init__(self, store: WithheldStore) -> None:
        self.store = store

    async def check(self, call: Call) -> Verdict:
        body = call.body
        if call.endpoint != RESPONSES.name or not body or not (
                "previous_response_id" in body or "conversation" in body):
            return _PASS
        named = _named(body)
        if not named:
            return _PASS
        found = await self.store.withheld_among(list(named.values()), time.time())
        for field, kept in named.items():
            if kept in found:
                return _refusal(field)
        return _PASS

    async def finish(self, call: Call, error: GatewayError | None) -> None:
        """Remember a withheld answer's response and conversation (before it is answered)."""
        if call.decision != "output_withheld" or call.endpoint != RESPONSES.name or \
                not call.body:
            return
        now = time.time()
        ids: dict[str, float] = {}
        response = _response_id(call)
        if response is not None:
            ids[stored_id(response)] = now + RESPONSE_DAYS * DAY
        conversation = conversation_of(call.body)
        if conversation is not None:
            ids[stored_id(conversation)] = now + CONVERSATION_DAYS * DAY
        if ids:
            await self.store.remember_withheld(ids, now)


def _response_id(call: Call) -> str | None:
    """A whole answer's ``id``, or the one its stream announced."""
    document = call.upstream.document
    found = document.get("id") if isinstance(document, dict) else call.upstream.response_id
    return found if isinstance(found, str) and found else None


def _refusal(field: str) -> Verdict:
    message, reason = _REFUSALS[field]
    error = InvalidRequest(f"Invalid '{field}': {message}", param=field, reasons=(reason,))
    return Verdict(NAME, "refuse", error.reasons, error)
