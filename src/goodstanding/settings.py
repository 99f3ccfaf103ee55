"""One settings object for the whole gateway (SPEC §2).

Precedence, lowest to highest: built-in defaults < the YAML file (``--config`` or
``GOODSTANDING_CONFIG``) < the plain environment variables of SPEC §2 (``OPENAI_API_KEY``,
``GOODSTANDING_UPSTREAM_URL``, …) < ``GOODSTANDING_<SECTION>__<KEY>`` overrides.

Every model forbids unknown keys, so a typo stops start-up with the path of the bad key
(``limits.end_user.rpmm: unknown key``). Secret values may be written as ``env:NAME`` or
``file:/path`` and are resolved when the settings are loaded; the file never holds a secret.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from goodstanding.errors import ConfigError

if TYPE_CHECKING:
    from goodstanding.credentials.keyring import Keyring

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str | float) -> float:
    """``"24h"`` → 86400.0; bare numbers are seconds."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 24h, 30d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _checked_duration(value: str) -> str:
    parse_duration(value)  # a ValueError names the bad value
    return value


# a duration as written ("30s", "24h", "90d"), checked where the settings are read
Duration = Annotated[str, AfterValidator(_checked_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamKey(_Model):
    """One named upstream key (``upstream.keys.NAME``): a team's or product's OpenAI project.

    Secret fields hold a *reference* (``env:NAME``, ``file:/path`` or ``secret:NAME`` from the
    encrypted store), never the secret; ``credentials/keyring.py`` resolves them and re-reads files."""

    key: str | None = None
    # sent as `OpenAI-Project`, so this key's traffic is counted (and limited) in its project
    project: str | None = None
    # for `goodstanding upstream rotate NAME` through OpenAI's Admin API: an admin key
    # reference, the service account that owns `key`, and that key's id (deleted on rotation)
    admin_key: str | None = None
    service_account: str | None = None
    key_id: str | None = None
    # scheduled rotation (`upstream rotate --due`): rotate once the key is this old
    max_age: Duration | None = None



class UpstreamRotation(_Model):
    """``upstream.rotation``: the gateway rotates its upstream keys itself at their maximum age
    (through OpenAI's Admin API, as `goodstanding upstream rotate` does; ``credentials/rotation_schedule.py``)."""

    # rotate keys past their max_age from inside the gateway (every process checks; a claim in
    # the database lets exactly one rotate each key); off: only `upstream rotate --due` (cron)
    scheduled: bool = False
    # maximum age of every upstream key that sets no max_age of its own (unset: none)
    max_age: Duration | None = None
    # alert, and flag the key in `upstream list` and the admin API, this long before max_age
    warn_before: Duration = "7d"
    # how often each gateway process looks at the keys' ages
    check_interval: Duration = "10m"
    # after the switch to the new key, how long requests in flight may take before the old key
    # is deleted
    drain: Duration = "30s"


class UpstreamSettings(_Model):
    # base URL of the OpenAI-compatible API the gateway forwards to (OpenAI, the simulated upstream,
    # any provider)
    url: str = "https://api.openai.com/v1"
    # upstream API key used when a virtual key names no per-team key (a reference: env:NAME,
    # file:/path, secret:NAME or vault:PATH#FIELD; never the key itself)
    key: str | None = None
    # the OpenAI project of the default key (sent as OpenAI-Project)
    project: str | None = None
    # an OpenAI admin key (a reference) for `goodstanding upstream rotate`
    admin_key: str | None = None
    # the service account whose key `upstream rotate` replaces
    service_account: str | None = None
    # the id of the current upstream key (the one `upstream rotate` deletes after the switch)
    key_id: str | None = None
    # rotate the upstream key after this age (`upstream rotate --due`), e.g. 90d
    max_age: str | None = None
    # named per-team upstream keys: virtual keys may name one (`keys create --upstream team-a`);
    # a plain reference (`team-a: env:OPENAI_KEY_TEAM_A`) or a mapping of UpstreamKey fields
    keys: dict[str, UpstreamKey] = Field(default_factory=dict)
    # scheduled rotation of the upstream keys at their maximum age, and the alert before it
    rotation: UpstreamRotation = UpstreamRotation()
    # file: and secret: references are re-read this often (s), and at once on SIGHUP, so a
    # replaced key file takes effect without a restart
    reload_interval: float = Field(default=2.0, gt=0)
    # seconds an upstream call may take in all (long generations and streams)
    timeout: float = 600.0
    # seconds to open a connection to the upstream
    connect_timeout: float = 10.0
    # other /v1/* paths the operator allows through (files, batches, …); bulk endpoints are a
    # distillation risk, so none by default
    allowed_paths: tuple[str, ...] = ()
    # upstream models that exist; empty = any model name is passed through
    models: tuple[str, ...] = ()

    @field_validator("keys", mode="before")
    @classmethod
    def _references(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"key": v} if isinstance(v, str) or v is None else v
                    for k, v in value.items()}
        return value

    def entry(self, name: str | None) -> UpstreamKey | None:
        """The named key's settings (None: the default key's), or None when there is none."""
        if name:
            return self.keys.get(name)
        return UpstreamKey(key=self.key, project=self.project, admin_key=self.admin_key,
                           service_account=self.service_account, key_id=self.key_id,
                           max_age=self.max_age)


class StorageSettings(_Model):
    # sqlite:///path (embedded) or postgresql://user:password@host/db (shared; run `goodstanding
    # migrate`)
    database_url: str = "sqlite:///goodstanding.db"
    # redis://host:6379/0: counters, standings and verdicts shared by several gateway processes;
    # unset = in-process
    redis_url: str | None = None
    # audit records are written in batches off the hot path
    audit_batch_size: int = Field(default=256, ge=1)
    # seconds between audit batch writes
    audit_flush_interval: float = Field(default=0.2, gt=0)
    # records kept in memory while the database is unreachable (about 1 KB each); beyond this,
    # new calls are refused with 503 store_unavailable until the backlog drains
    audit_max_pending: int = Field(default=100_000, ge=1)
    # JSON-lines file for audit records the database refuses and the dead-letter table too;
    # unset: next to the SQLite file, else ./goodstanding-dead-letters.jsonl
    audit_dead_letter_path: str | None = None
    # PostgreSQL connections this host's gateway may hold, split between its workers
    max_connections: int = Field(default=20, ge=1)
    # Redis unreachable: refuse with 503 store_unavailable, or count limits per process
    on_redis_error: Literal["fail_closed", "local"] = "fail_closed"
    # seconds any store operation on the request path may take (a standing read, a strike, a
    # key lookup, a Redis counter, the commit of a call's audit record); past it the call is
    # answered 503 store_unavailable instead of hanging on a slow or unreachable database
    timeout: float = Field(default=0.5, gt=0)
    # the audit journal, a folder where a call's record is durable before its answer leaves
    # (one write per call); unset: next to a SQLite database, none with PostgreSQL (there the
    # record's commit is awaited, shared by the calls finishing together); "off": none
    audit_journal: str | None = None


class ServerSettings(_Model):
    # CIDRs of proxies whose X-Forwarded-For is believed for the client's address (comma-separated
    # in the environment)
    trusted_proxies: tuple[str, ...] = ()
    # largest request body accepted, in bytes (413 beyond)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # browser origins allowed to call the gateway (CORS), e.g. https://app.example.com, or "*";
    # none by default: no CORS headers, preflights are not answered
    cors_origins: tuple[str, ...] = ()
    # hostile HTTP (server/protocol.py, bounds.py): a request's head (request line and
    # headers) must arrive within header_timeout s of its first byte (or of the connection),
    # its body within body_timeout s of the head; heads are bounded in bytes and header count;
    # JSON bodies in nesting depth
    header_timeout: float = Field(default=10.0, gt=0)
    # seconds for a request's body to arrive once its head has (408 beyond)
    body_timeout: float = Field(default=60.0, gt=0)
    # largest request head (request line and headers), in bytes (431 beyond)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    # most headers in one request (431 beyond)
    max_header_count: int = Field(default=100, ge=8)
    # deepest nesting of a JSON body (400 beyond)
    max_json_depth: int = Field(default=64, ge=2, le=200)
    # open connections per gateway process, and per client address (socket peer; trusted
    # proxies are exempt); the total is also kept below the process's open-file limit
    max_connections: int = Field(default=4096, ge=1)
    # open connections per client address (trusted proxies exempt)
    max_connections_per_ip: int = Field(default=256, ge=1)
    # /metrics asks for `Authorization: Bearer <token>` when set (env:NAME or file:/path)
    metrics_token: str | None = None
    # one `goodstanding.access` log line per call (method, path, status, decision, latency)
    access_log: bool = False

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from goodstanding.credentials.keys import normalize_origin

        return tuple(o if o == "*" else normalize_origin(o) for o in value)

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


class EndUserTokenSettings(_Model):
    """Verified end users (``X-End-User-Token``, a JWT from the application's identity
    provider), checked offline against these keys; see ``checks/end_user_token.py``."""

    # a JWKS file ({"keys": [...]}), and/or JWKs inline; RS256, ES256 and EdDSA keys
    jwks_file: str | None = None
    keys: tuple[dict[str, Any], ...] = ()
    issuer: str | None = None
    # required: the `aud` a token must carry, so a token issued for another service is refused
    audience: str
    algorithms: tuple[Literal["RS256", "ES256", "EdDSA"], ...] = ("RS256", "ES256", "EdDSA")
    leeway: Duration = "30s"  # clock skew allowed on exp / nbf / iat
    # the claim naming the end user's tier (anonymous, verified, kyc); absent: the key's tier
    tier_claim: str = "tier"
    # true: generation calls without a token are refused (401 invalid_end_user_token)
    required: bool = False



class RequireTier(_Model):
    endpoints: dict[str, str] = Field(default_factory=dict)  # tier names: identity.tiers
    models: dict[str, str] = Field(default_factory=dict)


BUILT_IN_TIERS = ("anonymous", "verified", "kyc")


class IdentitySettings(_Model):
    # refuse generation requests that name no end user (400 end_user_required)
    require_end_user: bool = True
    # server secret keying the safety-identifier HMAC; `serve` refuses to start without it
    secret: str | None = None
    # end-user tiers, lowest first: the built-in three, and any the operator adds where they
    # rank (e.g. [anonymous, verified, student, kyc]); see limits/tiers.py
    tiers: tuple[str, ...] = BUILT_IN_TIERS
    # verified end-user tokens (a JWT in X-End-User-Token): keys, issuer, audience, claims
    token: EndUserTokenSettings | None = None
    # the lowest end-user tier an endpoint or a model needs (403 tier_required), e.g.
    # {endpoints: {images.generations: kyc}, models: {gpt-4o: verified}}
    require_tier: RequireTier | None = None

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        missing = [t for t in BUILT_IN_TIERS if t not in value]
        if missing or len(set(value)) != len(value):
            raise ValueError("must name anonymous, verified and kyc once each, plus any "
                             f"tiers of your own (missing: {', '.join(missing) or 'none'})")
        if value[0] != "anonymous":
            raise ValueError("anonymous is the lowest tier: it comes first")
        return value



# a limit is a positive whole number, or null for none (0 or less would refuse every call)
Limit = Annotated[int, Field(ge=1)]


class EndUserLimits(_Model):
    # requests per minute per end user (null = unlimited)
    rpm: Limit | None = 20
    # tokens per minute per end user (null = unlimited)
    tpm: Limit | None = 40000
    # requests per day per end user (null = unlimited)
    rpd: Limit | None = 1000


class IpLimits(_Model):
    # requests per minute per client IP address (null = unlimited)
    rpm: Limit | None = 60


class KeyLimits(_Model):
    # requests per minute per virtual key (null = unlimited; `keys create --rpm`)
    rpm: Limit | None = None
    # tokens per minute per virtual key (null = unlimited; `keys create --tpm`)
    tpm: Limit | None = None


class TierLimits(_Model):
    """One trust tier's end-user limits: ``end_user`` × ``scale`` (default per tier: anonymous
    1, verified 3, kyc 10), or set field by field (null = unlimited). See ``limits/tiers.py``."""

    # multiplier of the end-user limits for this tier (unset: anonymous 1, verified 3, kyc 10)
    scale: float | None = Field(default=None, gt=0)
    # requests per minute for this tier's end users (unset: end_user.rpm × scale)
    rpm: Limit | None = None
    # tokens per minute for this tier's end users (unset: end_user.tpm × scale)
    tpm: Limit | None = None
    # requests per day for this tier's end users (unset: end_user.rpd × scale)
    rpd: Limit | None = None


class TierSettings(_Model):
    """The built-in tiers' limits, and any operator-defined tier's (named in
    ``identity.tiers``; without an entry here, an operator tier has the anonymous limits)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, TierLimits] = Field(init=False)  # type: ignore[assignment]

    anonymous: TierLimits = TierLimits()
    verified: TierLimits = TierLimits()
    kyc: TierLimits = TierLimits()

    def named(self) -> dict[str, TierLimits]:
        """Every tier with limits of its own: the built-in three, then the operator's."""
        return {"anonymous": self.anonymous, "verified": self.verified, "kyc": self.kyc,
                **(self.__pydantic_extra__ or {})}


class LimitsSettings(_Model):
    end_user: EndUserLimits = EndUserLimits()
    ip: IpLimits = IpLimits()
    key: KeyLimits = KeyLimits()
    # largest prompt in tokens (400 prompt_too_long beyond)
    max_prompt_tokens: int = Field(default=16000, ge=1)
    # max_tokens / max_output_tokens are clamped to this
    max_output_tokens: int = Field(default=4096, ge=1)
    tiers: TierSettings = TierSettings()
    # HMAC secret for signed tier claims (X-Goodstanding-Tier); unset = claims ignored
    tier_secret: str | None = None


Mode = Literal["block", "flag", "off"]


def _yaml_off(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as False; in a mode field it means "off"
    return "off" if value is False else value


class ModerationSettings(_Model):
    _off = field_validator("input", "output", mode="before")(lambda cls, v: _yaml_off(v))
    _off_categories = field_validator("categories", mode="before")(
        lambda cls, v: {k: _yaml_off(m) for k, m in v.items()} if isinstance(v, dict) else v)

    # moderate the request before it goes upstream: block a flagged one, flag it only (audit), or
    # off
    input: Mode = "block"
    # moderate the answer (streams in windows): block, flag or off
    output: Mode = "block"
    # moderation unreachable: refuse (503), let the request through, or judge with the local
    # detectors
    on_error: Literal["fail_closed", "fail_open", "local"] = "fail_closed"
    # category -> score above which it counts as flagged; unset = OpenAI's own flag
    thresholds: dict[str, float] = Field(default_factory=dict)
    # categories that ban the end user at once
    zero_tolerance: tuple[str, ...] = ("sexual/minors",)
    # a category switched off is never counted as flagged (input and output); the others
    # follow `input` / `output`. A zero-tolerance category cannot be switched off.
    categories: dict[str, Literal["block", "off"]] = Field(default_factory=dict)
    # OpenAI moderation model
    model: str = "omni-moderation-latest"
    # seconds a moderation call may take before on_error applies
    timeout: float = Field(default=5.0, gt=0)
    # streamed output is released in windows of this many characters once moderated
    window_chars: int = Field(default=400, ge=16)
    # characters of the previous window moderated again with the next, and held back until it
    # passes (a phrase across a boundary is judged whole before any of it goes out)
    window_overlap: int = Field(default=64, ge=0)
    # hold_back: stream text only once moderated; stream_first: send at once, cut the stream when
    # flagged
    stream_mode: Literal["hold_back", "stream_first"] = "hold_back"
    # non-streamed Chat and Responses calls ask the upstream to score their own answer (its
    # `moderation` request object) instead of a separate moderation call; a call that brings
    # its own `moderation` object is moderated the usual way
    inline: bool = False
    # a file or audio in the request (moderation reads text and images only): flag records
    # `unmoderated_input` with the call; refuse answers 400 invalid_request and sends nothing
    unreadable: Literal["flag", "refuse"] = "flag"
    # moderation verdicts cached by text (0 = no cache)
    cache_size: int = Field(default=100_000, ge=0)
    @model_validator(mode="after")
    def _zero_tolerance_stays_on(self) -> ModerationSettings:
        for name in self.zero_tolerance:
            if self.categories.get(name) == "off":
                raise ValueError(f"categories.{name}: a zero-tolerance category cannot be off")
        return self

    # under moderation rate-limit pressure, wait this long for the refill before on_error
    queue_wait: float = Field(default=2.0, ge=0)
    # moderation calls in flight per upstream key; more requests share the next call
    concurrency: int = Field(default=2, ge=1)


class DetectorSettings(_Model):
    """The offline detectors as an input check (SPEC §5): a mode per detector.

    OpenAI's moderation endpoint stays the decision of record for content, so the local
    content screen only flags by default. No local detector refuses or strikes on its own by
    default: the jailbreak head's false-positive rate on long ordinary text (pasted emails,
    posts, articles) is not yet low enough to punish end users for it, so `block` is an
    explicit opt-in (docs/detectors.md).
    """

    _off = field_validator("jailbreak", "injection", "content", "output", mode="before")(
        lambda cls, v: _yaml_off(v)
    )

    # jailbreak detector: block, flag or off (default flag: block is an explicit opt-in)
    jailbreak: Mode = "flag"
    # prompt-injection detector: block, flag or off
    injection: Mode = "flag"
    # local content screen (moderation categories): block, flag or off
    content: Mode = "flag"
    # answer text (whole answers and stream windows), always-on layer, content categories;
    # auto: flag when moderation does not judge answers (moderation.output: off), else off —
    # moderation is the decision of record, and a second screen costs ~0.1 ms per window
    output: Literal["auto", "block", "flag", "off"] = "auto"
    # category (or "jailbreak" / "injection") -> score; unset = the shipped, validated threshold
    thresholds: dict[str, float] = Field(default_factory=dict)
    # detector verdicts cached by text (0 = no cache)
    cache_size: int = Field(default=50_000, ge=0)
    # screen with the full layer (always-on + embedding heads, micro-batched across requests)
    # instead of the always-on layer; needs `pip install 'goodstanding[full]'`
    full: bool = False


class StrikeSettings(_Model):
    # strikes within the window that warn the end user
    warn_at: int = 1
    # strikes within the window that suspend the end user
    suspend_at: int = 3
    # how long a suspension lasts (a duration: 30s, 15m, 24h, 30d)
    suspend_for: Duration = "24h"
    # strikes within the window that ban the end user
    ban_at: int = 5
    # how long a strike counts (a duration)
    window: Duration = "30d"
    # per end-user tier, the thresholds that differ, e.g. {kyc: {ban_at: 10}}
    tiers: dict[str, dict[str, Any]] = Field(default_factory=dict)  # names: identity.tiers

    @field_validator("tiers")
    @classmethod
    def _tier_overrides(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for tier, override in value.items():
            if "tiers" in override:
                raise ValueError(f"{tier}.tiers: a tier cannot have tiers")
            StrikeSettings.model_validate(override)  # the tier's path in the error
        return value



class GeoSettings(_Model):
    _off = field_validator("mode", mode="before")(lambda cls, v: _yaml_off(v))

    # clients in countries not allowed: block, flag or off
    mode: Mode = "block"
    # "openai-supported" or a list of ISO 3166 alpha-2 codes (which may include
    # "openai-supported" to extend the shipped list)
    allow: str | tuple[str, ...] = "openai-supported"
    # IP churn: this many distinct countries for one end user within the window is a signal
    churn_countries: int = Field(default=3, ge=2)
    # the window for churn_countries (a duration)
    churn_window: Duration = "1h"

    @field_validator("allow", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        if isinstance(value, str) and "," in value:
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return tuple(v if v == "openai-supported" else str(v).upper() for v in value)
        return value



class ContentPolicySettings(_Model):
    """The content policy page (``GET /policy``) and its acceptance (``policy/``)."""

    # the policy page's title
    title: str = "Content policy"
    header: str | None = None  # an operator's opening paragraph
    contact: str | None = None  # where end users write about the policy or a decision
    # the policy's version: end users accept a version (policy.require_acceptance)
    version: int = Field(default=1, ge=1)
    # the policy's public address named in refusals; unset: this gateway's /policy
    url: str | None = None
    # per moderation category (or zero-tolerance / jailbreak), the operator's own wording
    text: dict[str, str] = Field(default_factory=dict)
    # refuse generation calls of end users who have not accepted `version`
    require_acceptance: bool = False
    # when `version` came into force; for `grace` after it, an end user who accepted an
    # earlier version is still served
    effective_at: str | None = None
    # how long after effective_at an earlier accepted version still serves (e.g. 14d)
    grace: Duration = "0s"
    # audit records are kept this long (stated on the page; deleting them is the operator's)
    audit_retention: str | None = None


    @field_validator("text")
    @classmethod
    def _known_text(cls, value: dict[str, str]) -> dict[str, str]:
        from goodstanding.policy.render import OVERRIDABLE

        for name in value:
            if name not in OVERRIDABLE:
                raise ValueError(f"{name}: no such category or section (one of "
                                 f"{', '.join(OVERRIDABLE)})")
        return value

    @field_validator("effective_at")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)
        return value


def parse_time(value: str) -> float:
    """An ISO 8601 date or time (UTC unless it names its offset) as a Unix time."""
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value!r} (e.g. 2026-12-01T00:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


KEY_MODERATION = ("input", "output", "on_error", "thresholds", "categories")


class KeyModeration(_Model):
    """What one virtual key may change of ``moderation`` (SPEC §2); only what it names changes.

    The rest (the model, timeouts, windows, the cache, zero tolerance) is the gateway's: one
    moderation client and one stream window serve every key. Applied by
    ``moderation/per_key.py``, resolved once per key.
    """

    _off = field_validator("input", "output", mode="before")(lambda cls, v: _yaml_off(v))
    _off_categories = field_validator("categories", mode="before")(
        lambda cls, v: {k: _yaml_off(m) for k, m in v.items()} if isinstance(v, dict) else v)

    # this key's requests: block a flagged one, flag it only (audit), or off; unset = the gateway's
    input: Mode | None = None
    # this key's answers: block, flag or off; unset = the gateway's
    output: Mode | None = None
    # moderation unreachable for this key's calls: fail_closed, fail_open or local
    on_error: Literal["fail_closed", "fail_open", "local"] | None = None
    # category -> score from which it counts as flagged, over the gateway's thresholds
    thresholds: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    # category -> block or off, over the gateway's categories (a zero-tolerance one stays on)
    categories: dict[str, Literal["block", "off"]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _overridable(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name in value:
                if name not in KEY_MODERATION:
                    raise ValueError(
                        f"{name}: not overridable per key (a key may set "
                        f"{', '.join(KEY_MODERATION)}); set it in the gateway's moderation "
                        "settings")
        return value

    @model_validator(mode="after")
    def _zero_tolerance_stays_on(self) -> KeyModeration:
        for name in ModerationSettings().zero_tolerance:
            if self.categories.get(name) == "off":
                raise ValueError(f"categories.{name}: a zero-tolerance category cannot be off")
        return self


class KeyPolicy(_Model):
    """What one virtual key may override (SPEC §2: limits and moderation per key)."""

    limits: LimitsSettings | None = None
    # input/output modes, on_error, thresholds and categories (``KeyModeration``)
    moderation: KeyModeration | None = None
    # only the keys named override the global ones (enforcement.merge_strikes)
    strikes: StrikeSettings | None = None
    # may this key's holder name the end user's IP (X-End-User-IP / end_user_ip)? A backend's
    # key: yes (the default); a key shipped to browsers or apps: no (keys create --no-end-user-ip)
    end_user_ip: bool = True
    # may this key's holder record an end user's acceptance of the content policy
    # (X-End-User-Policy-Version)? Default yes
    policy_acceptance: bool = True


class LoggingSettings(_Model):
    # auto: JSON lines when stderr is not a terminal, human-readable text when it is
    format: Literal["auto", "json", "text"] = "auto"
    # the lowest level logged
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


AlertWhen = Literal["score_above", "score_rise", "signal_above", "zero_tolerance",
                    "enforcement_webhook", "ban", "moderation_unavailable",
                    "insufficient_quota", "upstream_credentials_refused", "rotation_due",
                    "rotation_failed"]


class AlertTarget(_Model):
    """Where alerts go: a webhook (generic JSON or Slack-compatible) or email over SMTP."""

    type: Literal["json", "slack", "email"] = "json"
    url: str | None = None  # json, slack (a secret: write env:NAME)
    headers: dict[str, str] = Field(default_factory=dict)  # json: e.g. an Authorization header
    smtp_host: str | None = None  # email
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = True
    sender: str | None = None
    to: tuple[str, ...] = ()


class AlertRule(_Model):
    """One rule: when it fires, at most once per ``every`` (dedupe and rate limit)."""

    name: str
    when: AlertWhen
    threshold: float | None = None  # score_above, signal_above: the level; score_rise: points
    window: Literal["1h", "24h", "7d"] = "24h"
    signal: str | None = None  # signal_above: e.g. jailbreak, input_flag:violence
    targets: tuple[str, ...] = ()  # empty: every target
    every: Duration = "15m"



class AlertSettings(_Model):
    # where alerts go, by name: webhooks (json, slack) or email (SMTP)
    targets: dict[str, AlertTarget] = Field(default_factory=dict)
    # unset: the default rules (ops/alerts.py DEFAULT_RULES) to every target
    rules: tuple[AlertRule, ...] | None = None
    # delivery attempts after the first, with doubling backoff
    retries: int = Field(default=4, ge=0, le=20)
    backoff: Duration = "2s"  # first retry after this, doubling
    # how long one delivery may take
    timeout: Duration = "5s"
    evaluate_every: Duration = "30s"  # threshold and rate-of-change rules



class KeySettings(_Model):
    """Virtual keys: rotate each before ``max_age``; `keys list` and the admin API flag a key
    as nearing rotation from ``warn_before`` earlier."""

    # rotate a virtual key before it is this old (keys list and the admin API flag it)
    max_age: Duration = "90d"
    # flag a key as nearing rotation this long before max_age
    warn_before: Duration = "14d"



class UpstreamDiscipline(_Model):
    """``signals.upstream``: stay below OpenAI's rate limit as its headers report it."""

    # read OpenAI's x-ratelimit-* headers and answer our own 429 before theirs
    enabled: bool = True
    max_wait: float = Field(default=0.5, ge=0)  # queue briefly for the refill, then our 429
    backoff: float = Field(default=1.0, gt=0)  # hold after an upstream 429 without retry-after
    jitter: float = Field(default=0.5, ge=0, le=5)  # + up to this share of the hold, at random
    quota_hold: float = Field(default=30.0, ge=0)  # after insufficient_quota: answer it ourselves


class KeyFanoutSettings(_Model):
    """``signals.key_fanout``: a virtual key connecting from many networks or countries."""

    # watch each virtual key for use from many networks or countries
    enabled: bool = True
    # the sliding window networks and countries are counted over
    window: Duration = "10m"
    networks: int = Field(default=32, ge=2, le=4096)  # distinct /24 (/48) networks in the window
    countries: int = Field(default=4, ge=2)  # distinct countries in the window
    # record: flag the calls; suspend: revoke the key at once (its owner rotates it)
    action: Literal["record", "suspend"] = "record"
    # a key connecting from a country it never used is a signal (key_new_country)
    new_country: bool = True
    # how long a key's home countries are learned before a new one is a signal
    learn: Duration = "1d"
    # how long a key's home countries are remembered in the shared store (Redis)
    home_window: Duration = "30d"
    # record: flag the call from a new country; suspend: revoke the key at once
    new_country_action: Literal["record", "suspend"] = "record"



Action = Literal["record", "throttle", "refuse"]


class DistillationSettings(_Model):
    """``signals.distillation``: end users and keys harvesting answers at volume (templated
    prompts, volume far above the tier's norm, long answers to short prompts, machine timing)."""

    # watch each end user for templated prompts harvesting answers at volume
    enabled: bool = True
    # the sliding window prompts are judged over
    window: Duration = "10m"
    min_requests: int = Field(default=60, ge=2)  # judged prompts in the window before a verdict
    # prompts in the window that make harvesting "likely" on their own
    likely_requests: int = Field(default=180, ge=2)
    similarity: float = Field(default=0.5, gt=0, le=1)  # estimated Jaccard: a near-duplicate
    # share of near-duplicate prompts that makes harvesting "suspected"
    duplicate_share: float = Field(default=0.6, gt=0, le=1)
    # share of structured-output requests (JSON, n > 1, hot temperature) for "likely"
    structured_share: float = Field(default=0.5, gt=0, le=1)
    # what happens at "suspected": record, throttle or refuse
    suspected: Action = "record"
    # what happens at "likely": record, throttle or refuse
    likely: Action = "throttle"
    # what happens at "likely" for a whole virtual key (many end users share an app's key)
    key_likely: Action = "record"
    # requests in the window always tolerated before volume can be a signal (an end user)
    volume_floor: int = Field(default=600, ge=2)
    # the same for a virtual key (an application's whole traffic)
    key_volume_floor: int = Field(default=30_000, ge=2)
    # volume is a signal at this many times the tier's norm (the average window of its scopes)
    volume_factor: float = Field(default=10.0, gt=1)
    # what happens when volume is far above the tier's norm: record, throttle or refuse
    volume: Action = "record"
    # an answer this long (output tokens) ...
    long_output_tokens: int = Field(default=1000, ge=1)
    # ... to a prompt this short (input tokens) is a long generation from a short prompt
    short_prompt_tokens: int = Field(default=200, ge=1)
    # long generations from short prompts in the window (and half its requests) for a signal
    long_requests: int = Field(default=100, ge=2)
    # what happens at long generations from short prompts at volume
    long_output: Action = "record"
    # machine timing: inter-arrival gaps needed before the timing is judged
    timing_min_requests: int = Field(default=1000, ge=2)
    # machine timing: gaps at most this regular (coefficient of variation; people: about 1+)
    timing_max_cv: float = Field(default=0.3, gt=0)
    # machine timing: active in at least this many of the last 24 hours
    timing_hours: int = Field(default=22, ge=1, le=24)
    # what happens at round-the-clock machine-regular timing
    timing: Action = "record"
    # requests per minute a throttled end user (or key) keeps
    throttle_rpm: float = Field(default=2.0, gt=0)
    # end users and keys whose sketches and counts are kept (the least recent are dropped)
    max_end_users: int = Field(default=100_000, ge=1)



class RampSettings(_Model):
    """``signals.ramp``: traffic spikes, and growth capped per window above a floor."""

    # watch request volume for spikes (EWMA per minute bucket, organization and key)
    enabled: bool = True
    # the governor's window: growth is capped per window
    window: Duration = "15m"
    # cap the organization's upstream growth (429 with retry-after past it)
    governor: bool = True
    floor: int = Field(default=3000, ge=1)  # requests per window always allowed
    growth: float = Field(default=0.5, gt=0)  # + this share over the previous window
    shed_share: float = Field(default=0.9, gt=0, le=1)  # anonymous tier refused from here
    # seconds a call over the allowed growth may wait for budget before it is shed (0: shed)
    queue: float = Field(default=2.0, ge=0, le=30)
    # calls waiting for budget at once, at most (more are shed at once)
    max_queued: int = Field(default=1000, ge=0)
    # a bucket this many times its baseline is a spike
    spike_factor: float = Field(default=5.0, gt=1)
    spike_floor: int = Field(default=100, ge=1)  # requests in a bucket before it can be a spike
    # keys whose baselines are kept
    max_keys: int = Field(default=10_000, ge=1)



class SignalsSettings(_Model):
    """Organization-level abuse signals and upstream discipline (README, "Abuse signals")."""

    upstream: UpstreamDiscipline = UpstreamDiscipline()
    key_fanout: KeyFanoutSettings = KeyFanoutSettings()
    distillation: DistillationSettings = DistillationSettings()
    ramp: RampSettings = RampSettings()


class Settings(_Model):
    upstream: UpstreamSettings = UpstreamSettings()
    storage: StorageSettings = StorageSettings()
    server: ServerSettings = ServerSettings()
    identity: IdentitySettings = IdentitySettings()
    limits: LimitsSettings = LimitsSettings()
    moderation: ModerationSettings = ModerationSettings()
    detectors: DetectorSettings = DetectorSettings()
    strikes: StrikeSettings = StrikeSettings()
    geo: GeoSettings = GeoSettings()
    policy: ContentPolicySettings = ContentPolicySettings()
    alerts: AlertSettings = AlertSettings()
    logging: LoggingSettings = LoggingSettings()
    keys: KeySettings = KeySettings()
    # organization-level abuse signals: upstream discipline, key fan-out, distillation, ramp
    signals: SignalsSettings = SignalsSettings()
    # bearer token for the admin API and dashboard; unset = admin API off
    admin_token: str | None = None
    # named admin tokens (name -> token; `GOODSTANDING_ADMIN_TOKENS=ops:env:OPS_TOKEN,…`): every
    # admin action is recorded with the name of the token that did it (server/admin/auth.py)
    admin_tokens: dict[str, str | None] = Field(default_factory=dict)
    # secret verifying OpenAI's webhooks; unset = webhook endpoint off
    webhook_secret: str | None = None

    _keyring: Any = PrivateAttr(default=None)

    @property
    def keyring(self) -> Keyring:
        """The resolved upstream keys (``credentials/keyring.py``), built once per settings object."""
        if self._keyring is None:
            from goodstanding.credentials.keyring import Keyring

            self._keyring = Keyring(self.upstream, os.environ)
        return self._keyring

    @field_validator("admin_tokens")
    @classmethod
    def _admin_tokens(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for name, token in value.items():
            if not _TOKEN_NAME.match(name):
                raise ValueError(f"admin token name {name!r}: use 1-64 letters, digits, "
                                 "'.', '_' or '-'")
            if not token:
                raise ValueError(f"admin token {name!r} is empty (its env: or file: reference "
                                 "resolved to nothing)")
        return value

    @model_validator(mode="after")
    def _known_tiers(self) -> Settings:
        known = set(self.identity.tiers)
        named = [("limits.tiers", self.limits.tiers.named()), ("strikes.tiers", self.strikes.tiers)]
        require = self.identity.require_tier
        if require is not None:
            named += [("identity.require_tier.endpoints", {v: 1 for v in require.endpoints.values()}),
                      ("identity.require_tier.models", {v: 1 for v in require.models.values()})]
        for where, tiers in named:
            for tier in tiers:
                if tier not in known:
                    raise ValueError(f"{where}.{tier}: not a tier (identity.tiers: "
                                     f"{', '.join(self.identity.tiers)})")
        return self

    def upstream_key(self, name: str | None = None) -> str | None:
        return self.keyring.key(name)


# SPEC §2's plain environment variables and where each lands in the settings tree.
PLAIN_ENV = {
    "OPENAI_API_KEY": ("upstream", "key"),
    "GOODSTANDING_UPSTREAM_URL": ("upstream", "url"),
    "GOODSTANDING_DATABASE_URL": ("storage", "database_url"),
    "GOODSTANDING_REDIS_URL": ("storage", "redis_url"),
    "GOODSTANDING_ADMIN_TOKEN": ("admin_token",),
    "GOODSTANDING_ADMIN_TOKENS": ("admin_tokens",),
    "GOODSTANDING_SECRET": ("identity", "secret"),
    "OPENAI_WEBHOOK_SECRET": ("webhook_secret",),
    "GOODSTANDING_TRUSTED_PROXIES": ("server", "trusted_proxies"),
}
_SKIP_ENV = {"GOODSTANDING_CONFIG"}


def parse_named_tokens(raw: str) -> dict[str, str]:
    """``ops:env:OPS_TOKEN,ci:file:/run/secrets/ci`` → ``{"ops": "env:OPS_TOKEN", …}``
    (each reference is then resolved like any secret)."""
    tokens: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, ref = item.partition(":")
        if not sep or not name.strip() or not ref.strip():
            raise ConfigError("GOODSTANDING_ADMIN_TOKENS: use name:env:VAR or name:file:/path, "
                              "comma-separated")
        if name.strip() in tokens:
            raise ConfigError(f"GOODSTANDING_ADMIN_TOKENS: the name {name.strip()!r} is "
                              "given twice")
        tokens[name.strip()] = ref.strip()
    return tokens


_PLAIN_PARSERS: dict[str, Any] = {"GOODSTANDING_ADMIN_TOKENS": parse_named_tokens}


def resolve_secret(value: Any, where: str, env: dict[str, str]) -> Any:
    """``env:NAME`` and ``file:/path`` references, resolved once at load time."""
    if not isinstance(value, str):
        return value
    if value.startswith("env:"):
        return env.get(value[4:]) or None
    if value.startswith("file:"):
        try:
            return Path(value[5:]).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {value[5:]}: {exc.strerror}") from None
    return value


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        node = tree.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(path)}: {part} is not a section")
        tree = node
    tree[path[-1]] = value


def _env_value(raw: str) -> Any:
    """``600`` → int, ``null`` → None, ``[a, b]`` → list; anything else stays a string.

    Not plain YAML: YAML 1.1 would turn ``off`` into False, and ``off`` is a mode here.
    """
    text = raw.strip()
    if text in ("null", "~", ""):
        return None if text else raw
    if text in ("true", "false"):
        return text == "true"
    if text[:1] in "[{" or _NUMBER.match(text):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return raw
    return raw


REFERENCES = ("env:", "file:", "secret:", "vault:")
_UPSTREAM_SECRETS = ("key", "admin_key")


def upstream_secrets(tree: dict[str, Any]) -> list[tuple[str, Any]]:
    """(path, value) of every upstream secret field in a settings tree."""
    upstream = tree.get("upstream")
    if not isinstance(upstream, dict):
        return []
    found = [(f"upstream.{f}", upstream[f]) for f in _UPSTREAM_SECRETS if f in upstream]
    named = upstream.get("keys")
    for name, entry in (named.items() if isinstance(named, dict) else ()):
        if isinstance(entry, dict):
            found += [(f"upstream.keys.{name}.{f}", entry[f]) for f in _UPSTREAM_SECRETS
                      if f in entry]
        else:
            found.append((f"upstream.keys.{name}", entry))
    return found


def refuse_literal_secrets(tree: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """The file never holds a secret (SPEC §2): a literal upstream key stops start-up."""
    for where, value in upstream_secrets(tree):
        if isinstance(value, str) and not value.startswith(REFERENCES):
            raise ConfigError(
                f"{where}: a secret is never written in the config file ({path}); reference it "
                "as env:OPENAI_API_KEY, file:/run/secrets/openai or secret:NAME "
                "(goodstanding secrets set NAME)")


def _resolve_tree(node: Any, env: dict[str, str], path: str = "") -> Any:
    if path in ("upstream.key", "upstream.admin_key", "upstream.keys"):
        return node  # references kept: the keyring resolves them, and re-reads files
    if isinstance(node, dict):
        return {
            k: _resolve_tree(v, env, f"{path}.{k}" if path else str(k)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_resolve_tree(v, env, path) for v in node]
    return resolve_secret(node, path, env)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Read the file and the environment; raise ConfigError naming the bad key."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("GOODSTANDING_CONFIG")
    tree: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: the top level must be a mapping")
        refuse_literal_secrets(loaded, path)
        tree = loaded
    for name, where in PLAIN_ENV.items():
        if env.get(name):
            _set(tree, where, _PLAIN_PARSERS.get(name, str)(env[name]))
    for name, raw in env.items():
        if not name.startswith("GOODSTANDING_") or "__" not in name or name in _SKIP_ENV:
            continue
        parts = tuple(p.lower() for p in name[len("GOODSTANDING_") :].split("__"))
        _set(tree, parts, _env_value(raw))
    for dotted, value in (overrides or {}).items():
        _set(tree, tuple(dotted.split(".")), value)
    tree = _resolve_tree(tree, env)
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None
    from goodstanding.credentials.keyring import Keyring

    settings._keyring = Keyring(settings.upstream, env)  # env: references read this env
    return settings


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    return f"{where}: {err['msg']}"
