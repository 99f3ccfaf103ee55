"""The end user behind the call, and the safety identifier that replaces them upstream.

The end-user id is canonicalised (``identity.canonical_end_user``) before anything uses it,
so every spelling of one id is one end user for standing, strikes, limits and the safety
identifier. An id that is not a string or is too long → 400 ``invalid_request`` naming its
field; one that is empty once canonicalised counts as absent.

Generation endpoints carry ``safety_identifier = HMAC(secret, tenant, end user)``; ``user`` is
removed (its cache-bucketing role moves to ``prompt_cache_key`` when the client relied on it).
Embeddings and images only know ``user``, so they get the same HMAC there.

The end user's IP: a key holder (an application's backend) names it in ``end_user_ip`` or
``X-End-User-IP``; for keys allowed to (``policy.end_user_ip``, the default) it replaces the
connecting peer as the call's client IP, so the per-IP limits, geography and churn signals
that follow apply to the end user, not to the backend. ``end_user_ip`` never goes upstream.
A key that may not set it has the value ignored (reason ``end_user_ip_ignored``).

A verified end-user token (``checks/end_user_token.py``, before this check) names the end user
itself: its subject wins over every other source.
"""

from __future__ import annotations

import time

from goodstanding.audit import AuditLog
from goodstanding.call import Call, Verdict
from goodstanding.credentials.keys import may_set_end_user_ip
from goodstanding.endusers.identity import (
    END_USER_IP_FIELD,
    END_USER_IP_HEADER,
    InvalidEndUser,
    end_user_ip_of,
    end_user_of,
    safety_identifier,
)
from goodstanding.errors import EndUserRequired, InvalidRequest
from goodstanding.stores.base import Identity

_PASS = Verdict("identity")


def _invalid(error: InvalidEndUser, reason: str, notes: tuple[str, ...] = ()) -> Verdict:
    return Verdict("identity", "refuse", (*notes, reason),
                   InvalidRequest(str(error), param=error.param))


class IdentityCheck:
    name = "identity"

    def __init__(self, secret: str, audit: AuditLog, require_end_user: bool) -> None:
        self.secret = secret.encode()
        self.audit = audit
        self.require = require_end_user

    async def check(self, call: Call) -> Verdict:
        notes: tuple[str, ...] = ()  # reasons for the record that do not refuse
        if END_USER_IP_HEADER in call.headers or (call.body and END_USER_IP_FIELD in call.body):
            refused = self._end_user_ip(call)
            if isinstance(refused, Verdict):
                return refused
            notes = refused
        try:
            end_user = end_user_of(call.body, call.headers)
        except InvalidEndUser as error:
            return _invalid(error, "invalid_end_user", notes)
        verified = call.token_subject
        if verified is not None:  # a verified token's subject: nothing in the body overrides it
            if end_user is not None and end_user[0] != verified[0]:
                notes += ("end_user_overridden_by_token",)
            end_user = verified
        if end_user is None:
            if call.generation and self.require:
                error = EndUserRequired(
                    "An end-user id is required: send safety_identifier, user, or the "
                    "X-End-User header.", param="safety_identifier")
                return Verdict(self.name, "refuse", (*notes, "end_user_required"), error)
            self._strip(call)
            return Verdict(self.name, reasons=notes) if notes else _PASS
        assert call.key is not None
        canonical, sent = end_user
        call.end_user = canonical
        if sent != canonical:
            call.end_user_sent = sent
        sid = safety_identifier(self.secret, call.key.tenant, canonical)
        call.safety_identifier = sid
        self.audit.remember_identity(Identity(sid, call.key.tenant, canonical, time.time()))
        self._rewrite(call, sid)
        return Verdict(self.name, reasons=notes) if notes else _PASS

    def _end_user_ip(self, call: Call) -> Verdict | tuple[str, ...]:
        """Take the end user's IP from the key holder, when the key may set it: a refusal, or
        the reasons to note."""
        key = call.key
        try:
            if key is None or not may_set_end_user_ip(key):
                return ("end_user_ip_ignored",)
            address = end_user_ip_of(call.body, call.headers)
        except InvalidEndUser as error:
            return _invalid(error, "invalid_end_user_ip")
        finally:
            body = call.body
            if body is not None and END_USER_IP_FIELD in body:
                del body[END_USER_IP_FIELD]  # ours, not OpenAI's: never sent upstream
        if address is not None:
            call.client_ip = address  # the key (and its audit records) identify the backend
        return ()

    def _strip(self, call: Call) -> None:
        body = call.body
        if body:
            body.pop("user", None)
            body.pop("safety_identifier", None)

    def _rewrite(self, call: Call, sid: str) -> None:
        body = call.body
        if body is None:
            return
        user = body.pop("user", None)
        body.pop("safety_identifier", None)
        field = call.api.end_user_field
        if field:
            body[field] = sid
        if user is not None and field == "safety_identifier" and "prompt_cache_key" not in body:
            # `user` also bucketed the prompt cache; keep that working per user
            body["prompt_cache_key"] = sid
