"""The end user behind the call, and the safety identifier that replaces them upstream.

Generation endpoints carry ``safety_identifier = HMAC(secret, tenant, end user)``; ``user`` is
removed (its cache-bucketing role moves to ``prompt_cache_key`` when the client relied on it).
Embeddings and images only know ``user``, so they get the same HMAC there.
"""

from __future__ import annotations

import time

from goodstanding.audit import AuditLog
from goodstanding.call import Call, Verdict
from goodstanding.errors import EndUserRequired, InvalidRequest
from goodstanding.identity import MAX_END_USER_CHARS, end_user_of, safety_identifier
from goodstanding.stores.base import Identity

_PASS = Verdict("identity")
_SID_FIELD = {"chat.completions": "safety_identifier", "responses": "safety_identifier",
              "embeddings": "user", "images.generations": "user"}


class IdentityCheck:
    name = "identity"

    def __init__(self, secret: str, audit: AuditLog, require_end_user: bool) -> None:
        self.secret = secret.encode()
        self.audit = audit
        self.require = require_end_user

    async def check(self, call: Call) -> Verdict:
        end_user = end_user_of(call.body, call.headers)
        if end_user is None:
            if call.generation and self.require:
                error = EndUserRequired(
                    "An end-user id is required: send safety_identifier, user, or the "
                    "X-End-User header.", param="safety_identifier")
                return Verdict(self.name, "refuse", ("end_user_required",), error)
            self._strip(call)
            return _PASS
        if not isinstance(end_user, str) or len(end_user) > MAX_END_USER_CHARS:
            error = InvalidRequest(
                f"The end-user id must be a string of at most {MAX_END_USER_CHARS} characters.",
                param="safety_identifier")
            return Verdict(self.name, "refuse", ("invalid_end_user",), error)
        assert call.key is not None
        call.end_user = end_user
        sid = safety_identifier(self.secret, call.key.tenant, end_user)
        call.safety_identifier = sid
        self.audit.remember_identity(Identity(sid, call.key.tenant, end_user, time.time()))
        self._rewrite(call, sid)
        return _PASS

    def _strip(self, call: Call) -> None:
        body = call.body
        if body and ("user" in body or "safety_identifier" in body):
            body.pop("user", None)
            body.pop("safety_identifier", None)
            call.body_changed = True

    def _rewrite(self, call: Call, sid: str) -> None:
        body = call.body
        if body is None:
            return
        user = body.pop("user", None)
        body.pop("safety_identifier", None)
        field = _SID_FIELD.get(call.endpoint)
        if field:
            body[field] = sid
        if user is not None and field == "safety_identifier" and "prompt_cache_key" not in body:
            # `user` also bucketed the prompt cache; keep that working per user
            body["prompt_cache_key"] = sid
        call.body_changed = True
