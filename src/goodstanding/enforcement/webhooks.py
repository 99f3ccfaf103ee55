"""OpenAI's enforcement webhooks (SPEC §4, reference §2): verify, map, suspend or ban.

    verify   Standard Webhooks: HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}"
             with the secret (``whsec_`` + base64, or raw), compared in constant time with
             every ``v1,<base64>`` in ``webhook-signature``; the timestamp must be within
             5 minutes. Nothing in an unverified body is read, let alone acted on.
    dedupe   the webhook-id is claimed in the store; a replay (or a retry of a delivery that
             was already acted on) does nothing. A delivery that fails half-way releases its
             claim, so the sender's retry is acted on.
    map      ``safety_identifier.blocked`` names the safety identifier; ``safety.warning_issued``
             and ``safety.deactivation_issued`` name a case, fetched with
             ``GET /v1/safety/cases/{id}`` (its ``entity_identifier``). The identifier maps back
             to (tenant, end user) through the identity store. A ``project_id`` (documented
             on ``safety_identifier.blocked``; read from a case too if it carries one) maps
             to the upstream key configured with that project: the notice counts against
             that key's standing (``credentials/upstream_standing.py``), not only the org's.
    act      a strike (source "webhook") plus a suspension (warning) or a ban (deactivation,
             blocked), through the same Enforcer as the strikes finisher.

No HTTP framework here: ``server/webhooks.py`` is the thin ASGI side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from goodstanding import metrics
from goodstanding.endusers.identity import stored_end_user
from goodstanding.enforcement.enforcer import Enforcer, StrikePolicy
from goodstanding.enforcement.standing import ActionKind, Strike
from goodstanding.errors import GatewayError, InvalidRequest
from goodstanding.stores.base import IdentityStore, WebhookStore

if TYPE_CHECKING:
    from goodstanding.ops import Ops

log = logging.getLogger("goodstanding.webhooks")

TOLERANCE_SECONDS = 300
MAX_TIMESTAMP_DIGITS = 15  # Unix seconds have 10 digits until the year 2286
ACTIONS: dict[str, ActionKind] = {
    "safety.warning_issued": "suspend",
    "safety.deactivation_issued": "ban",
    "safety_identifier.blocked": "ban",
}
WEBHOOKS = metrics.counter(
    "goodstanding_webhooks_total", "OpenAI webhooks received, by outcome.", ("outcome",))

FetchCase = Callable[[str], Awaitable[Mapping[str, Any]]]


class InvalidWebhookSignature(GatewayError):
    """400: the delivery is not provably from OpenAI; it is recorded and not acted on."""

    status, code = 400, "invalid_webhook_signature"
    should_retry = False


class CaseUnavailable(GatewayError):
    """502: the case could not be fetched; the sender retries the delivery later."""

    status, type, code = 502, "server_error", "upstream_unavailable"


def _secret_bytes(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except binascii.Error:
            pass  # not base64 after all: use it as written, like the SDK's raw secrets
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value OpenAI would send (also what the tests sign with)."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> str:
    """Return the verified webhook-id, or raise InvalidWebhookSignature with the reason."""
    webhook_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (webhook_id and stamp and signatures):
        raise _bad("missing webhook-id, webhook-timestamp or webhook-signature header")
    # ASCII digits only ("²" is a digit to str.isdigit, not to int), and few enough of them:
    # a 400-digit value overflowed the float comparison below into a 500
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > MAX_TIMESTAMP_DIGITS:
        raise _bad("webhook-timestamp is not a Unix timestamp")
    if abs(now - int(stamp)) > tolerance:
        raise _bad("webhook-timestamp is outside the 5-minute tolerance")
    expected = sign(secret, webhook_id, int(stamp), body).encode()
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            return webhook_id
    raise _bad("the signature does not match")


def _bad(why: str) -> InvalidWebhookSignature:
    return InvalidWebhookSignature(f"Invalid webhook: {why}.", reasons=("webhook_bad_signature",))


@dataclass(frozen=True, slots=True)
class Handled:
    """What a verified delivery led to; ``end_user`` is for the audit record only."""

    outcome: str  # acted | duplicate | ignored | unknown_identifier
    action: ActionKind | None = None
    tenant: str | None = None
    end_user: str | None = None
    upstream: str | None = None  # the upstream key whose project the notice names


class WebhookReceiver:
    def __init__(
        self, secret: str, store: WebhookStore, identities: IdentityStore, enforcer: Enforcer,
        policy: StrikePolicy, fetch_case: FetchCase, clock: Callable[[], float] = time.time,
        ops: Ops | None = None, projects: Mapping[str, str] | None = None,
    ) -> None:
        self.secret = secret
        self.projects = projects or {}  # OpenAI project id → upstream key name
        self.store = store
        self.identities = identities
        self.enforcer = enforcer
        self.policy = policy
        self.fetch_case = fetch_case
        self.clock = clock
        self.ops = ops  # the standing signal and the alert

    async def receive(self, headers: Mapping[str, str], body: bytes) -> Handled:
        now = self.clock()
        try:
            webhook_id = verify(self.secret, headers, body, now)
        except InvalidWebhookSignature:
            WEBHOOKS.inc("bad_signature")
            raise
        event = _event(body)
        kind = event.get("type")
        if kind not in ACTIONS:
            WEBHOOKS.inc("ignored")
            return Handled("ignored")
        if not await self.store.claim_webhook(webhook_id, now):
            WEBHOOKS.inc("duplicate")
            return Handled("duplicate")
        try:
            handled = await self._act(event, kind, now)
        except BaseException:
            await self.store.release_webhook(webhook_id)
            raise
        WEBHOOKS.inc(handled.outcome)
        return handled

    async def _act(self, event: dict[str, Any], kind: str, now: float) -> Handled:
        sid, category, project = await self._identifier(event)
        upstream = self.projects.get(project) if project else None
        if project and upstream is None:
            log.warning("OpenAI %s names project %s, which no upstream key is configured with",
                        kind, project)
        identity = await self.identities.lookup_identity(sid) if sid else None
        if identity is None:
            log.warning("OpenAI %s names a safety identifier no end user maps to", kind)
            return Handled("unknown_identifier", upstream=upstream)
        action = ACTIONS[kind]
        categories = (category,) if category else ()
        why = f"OpenAI {kind}" + (f" ({category})" if category else "")
        # ids recorded before canonicalisation (or by an older version) name the same user
        end_user = stored_end_user(identity.end_user)
        strike = Strike(identity.tenant, end_user, now, f"openai_{kind}"[:256],
                        categories, "webhook", str(event.get("id") or "")[:64] or None)
        outcome = await self.enforcer.strike(strike, self.policy, by="openai-webhook",
                                             at_least=action, why=why[:256])
        log.warning("OpenAI %s → end user of tenant %s %s", kind, identity.tenant,
                    "banned" if outcome.action == "ban" else "suspended")
        if self.ops is not None:  # a standing signal, and an alert to the operators
            self.ops.enforcement_notice(kind, identity.tenant, end_user, outcome.action,
                                        str(event.get("id") or strike.request_id or ""),
                                        category, upstream)
        return Handled("acted", outcome.action, identity.tenant, end_user, upstream)

    async def _identifier(self, event: dict[str, Any]
                          ) -> tuple[str | None, str | None, str | None]:
        """The safety identifier, category and OpenAI project the event names."""
        data = event.get("data")
        if not isinstance(data, dict):
            raise InvalidRequest("The webhook event has no data object.")
        sid = data.get("safety_identifier")
        category = data.get("safety_category") or data.get("reason")
        project = data.get("project_id")
        if sid:
            return str(sid), _text(category), _text(project)
        case_id = data.get("id")
        if not case_id:
            raise InvalidRequest("The webhook event names neither a safety identifier nor a case.")
        case = await self.fetch_case(str(case_id))
        sid = case.get("entity_identifier") or case.get("safety_identifier")
        return ((str(sid) if sid else None), _text(category or case.get("reason")),
                _text(project or case.get("project_id")))


def _text(value: Any) -> str | None:
    return str(value)[:64] if value else None


def _event(body: bytes) -> dict[str, Any]:
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The webhook body is not JSON.") from None
    if not isinstance(event, dict):
        raise InvalidRequest("The webhook body is not a JSON object.")
    return event


def case_fetcher(base_url: str, key: Callable[[], str | None],
                 timeout: float = 10.0) -> FetchCase:
    """``GET /v1/safety/cases/{id}`` on the upstream, with the upstream key (needs Safety: Read).

    ``key`` is asked at each fetch: a key swapped since start-up (file + reload) is used, not
    the one deleted at OpenAI after the swap."""

    async def fetch(case_id: str) -> Mapping[str, Any]:
        import aiohttp

        url = f"{base_url.rstrip('/')}/safety/cases/{case_id}"
        api_key = key()
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            limit = aiohttp.ClientTimeout(total=timeout)
            async with aiohttp.ClientSession(timeout=limit) as s, s.get(url, headers=headers) as r:
                body = await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CaseUnavailable(f"The safety case could not be fetched "
                                  f"({type(exc).__name__}).") from None
        if status != 200:
            raise CaseUnavailable(f"The safety case could not be fetched (HTTP {status}).")
        case = orjson.loads(body)
        if not isinstance(case, dict):
            raise CaseUnavailable("The safety case answer is not an object.")
        return case

    return fetch
