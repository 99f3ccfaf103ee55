"""Which limits apply to one request: the key's policy, the end user's trust tier, the scopes.

Resolved once per key (and cached) into a ``LimitPolicy`` holding templates; a request only
fills in its scope ids (tenant, end user, client IP), and the resulting tuple of ``Limit`` is
cached per (key, tier, end user, IP), so the hot path builds nothing it built before.

Scopes (counter keys are per tenant, so a rotated key keeps its counters):

    eu:rpm / eu:rpd / eu:tpm   per end user     limits.end_user scaled by the trust tier
    ip:rpm                     per client IP    limits.ip
    key:rpm / key:tpm          per virtual key  the key's rpm/tpm, else limits.key
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goodstanding.call import VirtualKey
from goodstanding.limits.ratelimit import Limit
from goodstanding.settings import EndUserLimits, LimitsSettings, TierLimits

MINUTE, DAY = 60.0, 86400.0
ANONYMOUS = "anonymous"
TIER_SCALE = {"anonymous": 1.0, "verified": 3.0, "kyc": 10.0}
CACHE_SIZE = 100_000

# (scope, kind, label, period, counts tokens)
_END_USER = (("eu", "rpm", "end-user requests per minute", MINUTE, False),
             ("eu", "rpd", "end-user requests per day", DAY, False),
             ("eu", "tpm", "end-user tokens per minute", MINUTE, True))
_IP = (("ip", "rpm", "client-IP requests per minute", MINUTE, False),)
_KEY = (("key", "rpm", "API-key requests per minute", MINUTE, False),
        ("key", "tpm", "API-key tokens per minute", MINUTE, True))

Template = tuple[str, str, int, float, bool]  # key prefix, label, limit, period, tokens


def tier_limits(tier: TierLimits, base: EndUserLimits, name: str) -> EndUserLimits:
    """A tier's end-user limits: fields it sets, else ``base`` × its scale (built-in tiers:
    ``TIER_SCALE``; an operator's tier: 1)."""
    scale = tier.scale if tier.scale is not None else TIER_SCALE.get(name, 1.0)
    values: dict[str, int | None] = {}
    for field in ("rpm", "tpm", "rpd"):
        if field in tier.model_fields_set:
            values[field] = getattr(tier, field)
        else:
            value = getattr(base, field)
            values[field] = None if value is None else max(1, round(value * scale))
    return EndUserLimits(**values)


def merged(base: LimitsSettings, override: dict[str, Any] | None) -> LimitsSettings:
    """A key's ``policy.limits`` over the global settings: only what it names changes."""
    if not override:
        return base
    # only what was set: a dumped default tier would read as "set to null" (unlimited)
    return LimitsSettings.model_validate(_deep_merge(base.model_dump(exclude_unset=True),
                                                     override))


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for name, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = _deep_merge(out[name], value)
        else:
            out[name] = value
    return out


def _templates(spec: tuple[tuple[str, str, str, float, bool], ...],
               values: dict[str, int | None]) -> tuple[Template, ...]:
    return tuple((f"{scope}:{kind}:", label, values[kind], period, tokens)  # type: ignore[misc]
                 for scope, kind, label, period, tokens in spec if values.get(kind) is not None)


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """One key's limits, resolved: templates per tier, prompt and output caps."""

    end_user: dict[str, tuple[Template, ...]]  # tier -> templates
    ip: tuple[Template, ...]
    key: tuple[Template, ...]
    max_prompt_tokens: int
    max_output_tokens: int

    @classmethod
    def of(cls, settings: LimitsSettings, key: VirtualKey) -> LimitPolicy:
        limits = merged(settings, key.policy.get("limits") if key.policy else None)
        per_tier = {}
        for name, tier in limits.tiers.named().items():  # the built-in tiers and the operator's
            resolved = tier_limits(tier, limits.end_user, name)
            per_tier[name] = _templates(_END_USER, resolved.model_dump())
        key_values = {"rpm": key.rpm if key.rpm is not None else limits.key.rpm,
                      "tpm": key.tpm if key.tpm is not None else limits.key.tpm}
        return cls(per_tier, _templates(_IP, {"rpm": limits.ip.rpm}),
                   _templates(_KEY, key_values), limits.max_prompt_tokens,
                   limits.max_output_tokens)

    def limits(self, tenant: str, tier: str, end_user: str | None, ip: str) -> tuple[Limit, ...]:
        found: list[Limit] = []
        if end_user is not None:
            scope = f"{tenant}\n{end_user}"
            # an operator's tier without limits of its own has the anonymous ones
            templates = self.end_user.get(tier)
            if templates is None:
                templates = self.end_user[ANONYMOUS]
            found.extend(Limit(p + scope, lab, n, per, tok) for p, lab, n, per, tok in templates)
        scope = f"{tenant}\n{ip}"
        found.extend(Limit(p + scope, lab, n, per, tok) for p, lab, n, per, tok in self.ip)
        found.extend(Limit(p + tenant, lab, n, per, tok) for p, lab, n, per, tok in self.key)
        return tuple(found)


class Policies:
    """Key → resolved policy, and (key, tier, end user, IP) → limits; both bounded."""

    def __init__(self, settings: LimitsSettings, size: int = CACHE_SIZE) -> None:
        self.settings = settings
        self.size = size
        self._policies: dict[str, tuple[VirtualKey, LimitPolicy]] = {}
        self._limits: dict[tuple[str, str, str | None, str], tuple[Limit, ...]] = {}

    def policy(self, key: VirtualKey) -> LimitPolicy:
        entry = self._policies.get(key.id)
        if entry is not None and (entry[0] is key or _same_limits(entry[0], key)):
            return entry[1]
        policy = LimitPolicy.of(self.settings, key)
        self._policies[key.id] = (key, policy)
        self._limits.clear()  # a changed key may change any of its cached scopes
        return policy

    def limits(self, key: VirtualKey, policy: LimitPolicy, tier: str, end_user: str | None,
               ip: str) -> tuple[Limit, ...]:
        cache_key = (key.id, tier, end_user, ip)
        found = self._limits.get(cache_key)
        if found is None:
            if len(self._limits) >= self.size:
                self._limits.clear()
            found = self._limits[cache_key] = policy.limits(key.tenant, tier, end_user, ip)
        return found


def _same_limits(a: VirtualKey, b: VirtualKey) -> bool:
    return (a.rpm, a.tpm, a.tenant) == (b.rpm, b.tpm, b.tenant) and \
        a.policy.get("limits") == b.policy.get("limits")
