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
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from goodstanding.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str | float) -> float:
    """``"24h"`` → 86400.0; bare numbers are seconds."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 24h, 30d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamSettings(_Model):
    # base URL of the OpenAI-compatible API the gateway forwards to (OpenAI, the simulated upstream,
    # any provider)
    url: str = "https://api.openai.com/v1"
    # upstream API key used when a virtual key names no per-team key (a secret: env:NAME or
    # file:/path)
    key: str | None = None
    # named per-team upstream keys: virtual keys may name one (`keys create --upstream team-a`)
    keys: dict[str, str] = Field(default_factory=dict)
    # seconds an upstream call may take in all (long generations and streams)
    timeout: float = 600.0
    # seconds to open a connection to the upstream
    connect_timeout: float = 10.0
    # other /v1/* paths the operator allows through (files, batches, …); bulk endpoints are a
    # distillation risk, so none by default
    allowed_paths: tuple[str, ...] = ()
    # upstream models that exist; empty = any model name is passed through
    models: tuple[str, ...] = ()


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


class ServerSettings(_Model):
    # CIDRs of proxies whose X-Forwarded-For is believed for the client's address (comma-separated
    # in the environment)
    trusted_proxies: tuple[str, ...] = ()
    # largest request body accepted, in bytes (413 beyond)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # browser origins allowed to call the gateway (CORS), e.g. https://app.example.com, or "*";
    # none by default: no CORS headers, preflights are not answered
    cors_origins: tuple[str, ...] = ()
    # hostile HTTP (server/protocol.py, server/bounds.py): a request's head (request line and
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

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from goodstanding.keys import normalize_origin

        return tuple(o if o == "*" else normalize_origin(o) for o in value)

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


class IdentitySettings(_Model):
    # refuse generation requests that name no end user (400 end_user_required)
    require_end_user: bool = True
    # server secret keying the safety-identifier HMAC; `serve` refuses to start without it
    secret: str | None = None


class EndUserLimits(_Model):
    # requests per minute per end user (null = unlimited)
    rpm: int | None = 20
    # tokens per minute per end user (null = unlimited)
    tpm: int | None = 40000
    # requests per day per end user (null = unlimited)
    rpd: int | None = 1000


class IpLimits(_Model):
    # requests per minute per client IP address (null = unlimited)
    rpm: int | None = 60


class KeyLimits(_Model):
    # requests per minute per virtual key (null = unlimited; `keys create --rpm`)
    rpm: int | None = None
    # tokens per minute per virtual key (null = unlimited; `keys create --tpm`)
    tpm: int | None = None


class TierLimits(_Model):
    """One trust tier's end-user limits: ``end_user`` × ``scale`` (default per tier: anonymous
    1, verified 3, kyc 10), or set field by field (null = unlimited). See ``tiers.py``."""

    # multiplier of the end-user limits for this tier (unset: anonymous 1, verified 3, kyc 10)
    scale: float | None = Field(default=None, gt=0)
    # requests per minute for this tier's end users (unset: end_user.rpm × scale)
    rpm: int | None = None
    # tokens per minute for this tier's end users (unset: end_user.tpm × scale)
    tpm: int | None = None
    # requests per day for this tier's end users (unset: end_user.rpd × scale)
    rpd: int | None = None


class TierSettings(_Model):
    anonymous: TierLimits = TierLimits()
    verified: TierLimits = TierLimits()
    kyc: TierLimits = TierLimits()


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
    # OpenAI moderation model
    model: str = "omni-moderation-latest"
    # seconds a moderation call may take before on_error applies
    timeout: float = Field(default=5.0, gt=0)
    # streamed output is released in windows of this many characters once moderated
    window_chars: int = Field(default=400, ge=16)
    # characters of the previous window moderated again with the next (phrases across a boundary)
    window_overlap: int = Field(default=64, ge=0)
    # hold_back: stream text only once moderated; stream_first: send at once, cut the stream when
    # flagged
    stream_mode: Literal["hold_back", "stream_first"] = "hold_back"
    # moderate the whole answer in one call before sending it, even for streams
    inline: bool = False
    # moderation verdicts cached by text (0 = no cache)
    cache_size: int = Field(default=100_000, ge=0)
    # under moderation rate-limit pressure, wait this long for the refill before on_error
    queue_wait: float = Field(default=2.0, ge=0)
    # moderation calls in flight per upstream key; more requests share the next call
    concurrency: int = Field(default=2, ge=1)


class DetectorSettings(_Model):
    """The offline detectors as an input check (SPEC §5): a mode per detector.

    OpenAI's moderation endpoint stays the decision of record for content, so the local
    content screen only flags by default; jailbreaks are invisible to it, so they block.
    """

    _off = field_validator("jailbreak", "injection", "content", "output", mode="before")(
        lambda cls, v: _yaml_off(v)
    )

    # jailbreak detector: block, flag or off
    jailbreak: Mode = "block"
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
    suspend_for: str = "24h"
    # strikes within the window that ban the end user
    ban_at: int = 5
    # how long a strike counts (a duration)
    window: str = "30d"

    @field_validator("suspend_for", "window")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
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
    churn_window: str = "1h"

    @field_validator("allow", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        if isinstance(value, str) and "," in value:
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return tuple(v if v == "openai-supported" else str(v).upper() for v in value)
        return value

    @field_validator("churn_window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value


class KeyPolicy(_Model):
    """What one virtual key may override (SPEC §2: limits and moderation per key)."""

    limits: LimitsSettings | None = None
    moderation: ModerationSettings | None = None
    # only the keys named override the global ones (enforcement.merge_strikes)
    strikes: StrikeSettings | None = None
    # may this key's holder name the end user's IP (X-End-User-IP / end_user_ip)? A backend's
    # key: yes (the default); a key shipped to browsers or apps: no (keys create --no-end-user-ip)
    end_user_ip: bool = True


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
    # bearer token for the admin API and dashboard; unset = admin API off
    admin_token: str | None = None
    # secret verifying OpenAI's webhooks; unset = webhook endpoint off
    webhook_secret: str | None = None

    def upstream_key(self, name: str | None = None) -> str | None:
        if name:
            return self.upstream.keys.get(name)
        return self.upstream.key


# SPEC §2's plain environment variables and where each lands in the settings tree.
PLAIN_ENV = {
    "OPENAI_API_KEY": ("upstream", "key"),
    "GOODSTANDING_UPSTREAM_URL": ("upstream", "url"),
    "GOODSTANDING_DATABASE_URL": ("storage", "database_url"),
    "GOODSTANDING_REDIS_URL": ("storage", "redis_url"),
    "GOODSTANDING_ADMIN_TOKEN": ("admin_token",),
    "GOODSTANDING_SECRET": ("identity", "secret"),
    "OPENAI_WEBHOOK_SECRET": ("webhook_secret",),
    "GOODSTANDING_TRUSTED_PROXIES": ("server", "trusted_proxies"),
}
_SKIP_ENV = {"GOODSTANDING_CONFIG"}


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


def _resolve_tree(node: Any, env: dict[str, str], path: str = "") -> Any:
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
        tree = loaded
    for name, where in PLAIN_ENV.items():
        if env.get(name):
            _set(tree, where, env[name])
    for name, raw in env.items():
        if not name.startswith("GOODSTANDING_") or "__" not in name or name in _SKIP_ENV:
            continue
        parts = tuple(p.lower() for p in name[len("GOODSTANDING_") :].split("__"))
        _set(tree, parts, _env_value(raw))
    for dotted, value in (overrides or {}).items():
        _set(tree, tuple(dotted.split(".")), value)
    tree = _resolve_tree(tree, env)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    return f"{where}: {err['msg']}"
