"""What one request is, as every check and the audit record see it.

A ``Call`` is created by a shell (the HTTP server or library mode) and carried through the
pipeline; checks read it and return a ``Verdict``; the shell answers with the ``Result``.
These value types are shared by the pipeline, the upstream and the stream package, so none of those
imports another for them. Nothing here knows about HTTP frameworks.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from goodstanding.endpoints import Endpoint, endpoint_of

if TYPE_CHECKING:
    from goodstanding.limits.ratelimit import Reservation
    from goodstanding.moderation.parts import RequestParts

Outcome = Literal["pass", "flag", "refuse"]


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """A goodstanding key as stored: public id, hash of the secret, and its policy."""

    id: str
    name: str
    tenant: str
    secret_hash: str
    created_at: float
    revoked_at: float | None = None
    expires_at: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    upstream: str | None = None
    # per-key overrides of `limits` / `moderation` / `strikes`, validated like the settings file
    policy: dict[str, Any] = field(default_factory=dict)
    trust_tier: str = "anonymous"
    # a publishable (browser) key's limits: the `Origin`s and models it may be used from/with;
    # empty = any
    origins: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    def usable(self, now: float) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check's answer, and all it has to say. Policy outcomes are values; only a broken
    check raises.

    ``refuse`` carries the error to answer with; ``flag`` lets the call through and records
    the reasons; ``pass`` is the common case and shares one instance per check. A ``pass`` may
    still carry reasons (``end_user_ip_ignored``), response headers (``x-ratelimit-*``) or
    scores for the record: the pipeline folds every verdict into the call (``Call.record``),
    so a check never writes those into the call itself. Offences count as strikes later.
    """

    check: str
    outcome: Outcome = "pass"
    reasons: tuple[str, ...] = ()
    error: Exception | None = None
    headers: tuple[tuple[str, str], ...] = ()
    scores: tuple[tuple[str, float], ...] = ()
    offences: tuple[Offence, ...] = ()
    # a plain pass, with nothing to fold into the call: worked out once, here, because most
    # verdicts are one shared instance per check and the pipeline asks on every call
    silent: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.outcome == "refuse") != (self.error is not None):
            raise ValueError("a refusal needs its error, and only a refusal has one")
        object.__setattr__(self, "silent", self.outcome == "pass" and not (
            self.reasons or self.headers or self.scores or self.offences))

    @property
    def refused(self) -> bool:
        return self.outcome == "refuse"


@dataclass(frozen=True, slots=True)
class Offence:
    """Something the end user did that counts as a strike (recorded by the strikes finisher).

    Checks append offences to ``call.offences``: a blocked prompt, a jailbreak attempt. Only
    categories are kept, never text. ``zero_tolerance`` offences ban at once.
    """

    reason: str
    categories: tuple[str, ...] = ()
    zero_tolerance: bool = False


@dataclass(slots=True)
class Result:
    """What a shell sends back: a whole body, or a stream of already-encoded bytes."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    # the parsed answer, when the upstream module already parsed it (parse once)
    document: Any = None
    # an upstream error answer's code (``cyber_policy``, ``insufficient_quota``…), if it had one
    error_code: str | None = None


@dataclass(slots=True)
class UpstreamAnswer:
    """The upstream's side of a call, as the pipeline and the stream saw it (for the output
    checks, the finishers and the metrics). Times are ``time.perf_counter()`` readings."""

    sent_at: float | None = None  # when the call went upstream (None: it never did)
    seconds: float | None = None  # until the answer (a stream: until its headers)
    first_chunk_at: float | None = None  # a stream's first bytes to the client
    error_code: str | None = None  # an error answer's code
    document: Any = None  # a whole answer, parsed
    signal: str | None = None  # OpenAI's own cut or refusal seen in a stream
    # a stream's response id (Responses: from ``response.created``, read when output checks
    # read the stream): a later call can name it (``checks/continuation.py``)
    response_id: str | None = None


@dataclass(slots=True)
class Call:
    """One request on its way through the gateway (mutable: checks fill it in)."""

    request_id: str
    method: str
    path: str
    endpoint: str
    headers: dict[str, str]
    client_ip: str
    raw_body: bytes = b""
    body: dict[str, Any] | None = None
    started: float = field(default_factory=time.perf_counter)
    received_at: float = field(default_factory=time.time)
    key: VirtualKey | None = None
    end_user: str | None = None
    safety_identifier: str | None = None
    country: str | None = None
    model: str | None = None
    stream: bool = False
    tokens_in: int | None = None
    tokens_out: int | None = None
    status: int = 0
    decision: str = "allowed"
    reasons: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    # extra response headers set by checks (x-ratelimit-*, x-goodstanding-warning)
    response_headers: dict[str, str] = field(default_factory=dict)
    offences: list[Offence] = field(default_factory=list)
    # the parts moderation and the detectors see, taken out once (moderation/parts.py)
    parts: RequestParts | None = None
    # the gateway asked for a stream's usage (``include_usage``): strip it from the stream
    usage_injected: bool = False
    # the gateway itself asked the upstream to score the answer (its own ``moderation``
    # object, checks/moderation.py): only then are the answer's inline scores trusted
    inline_asked: bool = False
    # the end-user id as sent, when it differs from its canonical form (a tier claim may name it)
    end_user_sent: str | None = None
    # a verified end-user token's subject (canonical, as sent) and tier (end_user_token.py)
    token_subject: tuple[str, str] | None = None
    token_tier: str | None = None
    tier: str | None = None  # the tier the call runs under, once resolved (tiers.py)
    # the token reservation the limits check made, settled by its finisher
    reservation: Reservation | None = None
    upstream: UpstreamAnswer = field(default_factory=UpstreamAnswer)

    @property
    def api(self) -> Endpoint:
        """What the gateway knows about the call's endpoint (``endpoints/``)."""
        return endpoint_of(self.endpoint)

    @property
    def generation(self) -> bool:
        return endpoint_of(self.endpoint).generation

    @property
    def tenant(self) -> str | None:
        return self.key.tenant if self.key else None

    def record(self, verdict: Verdict) -> None:
        """Fold a verdict into the call (reasons, scores, headers, offences)."""
        if verdict.outcome == "flag" and self.decision == "allowed":
            self.decision = "flagged"
        self.reasons.extend(verdict.reasons)
        for name, score in verdict.scores:
            self.scores[name] = score
        for name, value in verdict.headers:
            self.response_headers[name] = value
        self.offences.extend(verdict.offences)
