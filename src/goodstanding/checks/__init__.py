"""The checks, registered by name, and the one place the pipeline is assembled.

Each check is one entry in a registry (name -> builder) and one name in an order tuple; the
order tuples are the pipeline's order, read nowhere else. A builder returns ``None`` when the
settings switch its check off. ``build_pipeline`` reads the settings once at start-up and
returns a pipeline whose check lists never change afterwards.

Order matters: cheap identity checks first, then what costs money or moderation budget last,
so a banned user costs nothing:

    INPUT_ORDER    auth → request → key_scope → key_fanout → end_user_token → identity →
                   standing → tier → acceptance → geo → limits → continuation → distillation →
                   detectors → moderation → ramp
    OUTPUT_ORDER   detectors_output → moderation_output
    FINISH_ORDER   upstream_policy → strikes → limits → distillation → continuation (then the
                   ops finishers)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from goodstanding.abuse.shared import abuse_merger
from goodstanding.checks.acceptance import AcceptanceCheck
from goodstanding.checks.auth import AuthCheck
from goodstanding.checks.continuation import ContinuationCheck
from goodstanding.checks.detectors import DetectorsCheck, DetectorsOutputCheck
from goodstanding.checks.distillation import DistillationCheck
from goodstanding.checks.end_user_token import EndUserTokenCheck
from goodstanding.checks.geo import GeoCheck
from goodstanding.checks.identity import IdentityCheck
from goodstanding.checks.key_fanout import KeyFanoutCheck
from goodstanding.checks.key_scope import KeyScopeCheck
from goodstanding.checks.limits import LimitsCheck
from goodstanding.checks.moderation import ModerationCheck, ModerationOutputCheck, moderation_checks
from goodstanding.checks.ramp import RampCheck
from goodstanding.checks.request import RequestCheck
from goodstanding.checks.standing import StandingCheck
from goodstanding.checks.strikes import StrikeFinisher
from goodstanding.checks.tier import TierCheck
from goodstanding.checks.upstream_policy import UpstreamPolicy
from goodstanding.credentials.keys import key_cache
from goodstanding.enforcement.enforcer import Enforcer
from goodstanding.models import ModelListing
from goodstanding.pipeline import Check, Finisher, OutputCheck, Pipeline
from goodstanding.policy.acceptance import AcceptanceGate
from goodstanding.policy.render import policy_url
from goodstanding.stores.counters import open_counters

if TYPE_CHECKING:
    from goodstanding.abuse.shared import Merger
    from goodstanding.audit import AuditLog
    from goodstanding.settings import Settings
    from goodstanding.stores.base import CounterStore, Store, VerdictCache
    from goodstanding.upstream import Upstream


@dataclass
class Parts:
    """What the builders share: the gateway's resources, and the checks used in two places
    (built once, on first use: the limits check also settles, the detectors' screen and the
    moderation judge serve input and output)."""

    settings: Settings
    store: Store
    audit: AuditLog
    upstream: Upstream
    secret: str
    enforcer: Enforcer
    counters: CounterStore
    verdicts: VerdictCache | None

    @cached_property
    def auth(self) -> AuthCheck:
        return AuthCheck(self.store, key_cache(self.settings.storage.database_url,
                                               self.enforcer.cache))

    @cached_property
    def merger(self) -> Merger | None:
        """The abuse signals' counts, shared through Redis when the counters are there."""
        return abuse_merger(self.counters)

    @cached_property
    def distillation(self) -> DistillationCheck | None:
        """Judges before moderation (a throttled call costs none) and counts output sizes after
        the answer (a finisher)."""
        settings = self.settings.signals.distillation
        return DistillationCheck(settings, self.merger) if settings.enabled else None

    @cached_property
    def continuation(self) -> ContinuationCheck:
        return ContinuationCheck(self.store)

    @cached_property
    def limits(self) -> LimitsCheck:
        return LimitsCheck(self.settings.limits, self.counters)

    @cached_property
    def screen(self) -> DetectorsCheck:
        detectors = self.settings.detectors
        return DetectorsCheck(detectors, zero_tolerance=self.settings.moderation.zero_tolerance)

    @cached_property
    def output_detectors(self) -> str:
        """The detectors' output mode; ``auto``: flag when moderation does not judge answers."""
        mode = self.settings.detectors.output
        if mode == "auto":
            return "flag" if self.settings.moderation.output == "off" else "off"
        return mode

    @cached_property
    def moderation(self) -> tuple[tuple[ModerationCheck, ...], tuple[ModerationOutputCheck, ...]]:
        return moderation_checks(self.settings, self.upstream, self.verdicts)

    @cached_property
    def policy_url(self) -> str | None:
        return policy_url(self.settings)


def _key_fanout(p: Parts) -> Check | None:  # before identity: the connecting address
    if not p.settings.signals.key_fanout.enabled:
        return None
    return KeyFanoutCheck(p.settings, p.counters, p.store, p.auth.cache, p.merger)


def _end_user_token(p: Parts) -> Check | None:  # a verified token names the end user
    token = p.settings.identity.token
    return None if token is None else EndUserTokenCheck(token, p.settings.identity.tiers)


def _tier(p: Parts) -> Check | None:
    identity = p.settings.identity
    if identity.token is None and not identity.require_tier and not p.settings.strikes.tiers:
        return None
    return TierCheck(identity.require_tier, p.settings.limits.tier_secret, identity.tiers)


def _acceptance(p: Parts) -> Check | None:
    if not p.settings.policy.require_acceptance:
        return None
    return AcceptanceCheck(AcceptanceGate(p.store, p.settings.policy), p.policy_url)


def _detectors(p: Parts) -> Check | None:  # offline, ~0.1 ms: jailbreaks refused before budget
    detectors = p.settings.detectors
    on = any(mode != "off" for mode in (detectors.jailbreak, detectors.injection,
                                        detectors.content))
    return p.screen if on else None


def _detectors_output(p: Parts) -> OutputCheck | None:  # before moderation's: costs no budget
    mode = p.output_detectors
    return None if mode == "off" else DetectorsOutputCheck(p.screen, mode)


CHECKS: dict[str, Callable[[Parts], Check | None]] = {
    "auth": lambda p: p.auth,
    "request": lambda p: RequestCheck(p.settings.upstream.models),
    "key_scope": lambda p: KeyScopeCheck(),  # a browser key's origins and models
    "key_fanout": _key_fanout,
    "end_user_token": _end_user_token,
    "identity": lambda p: IdentityCheck(p.secret, p.audit, p.settings.identity.require_end_user),
    # suspended and banned end users cost nothing further
    "standing": lambda p: StandingCheck(p.enforcer, p.policy_url),
    "tier": _tier,
    "acceptance": _acceptance,
    "geo": lambda p: GeoCheck(p.settings.geo, p.counters) if p.settings.geo.mode != "off" else None,
    "limits": lambda p: p.limits,
    # continuing from an answer the gateway withheld: a store read, only for a call naming one
    "continuation": lambda p: p.continuation,
    # before moderation: a throttled call costs none
    "distillation": lambda p: p.distillation,
    "detectors": _detectors,
    "moderation": lambda p: next(iter(p.moderation[0]), None),  # it spends the moderation budget
    # last: counts what is about to go upstream
    "ramp": lambda p: (RampCheck(p.settings.signals.ramp, p.merger)
                       if p.settings.signals.ramp.enabled else None),
}
OUTPUT_CHECKS: dict[str, Callable[[Parts], OutputCheck | None]] = {
    "detectors_output": _detectors_output,
    "moderation_output": lambda p: next(iter(p.moderation[1]), None),
}
FINISHERS: dict[str, Callable[[Parts], Finisher | None]] = {
    # OpenAI's policy answers become offences before the strikes finisher counts them
    "upstream_policy": lambda p: UpstreamPolicy(),
    "strikes": lambda p: StrikeFinisher(p.enforcer, p.settings.strikes, p.policy_url),
    "limits": lambda p: p.limits,  # settles token reservations with actual usage
    "distillation": lambda p: p.distillation,  # long outputs to short prompts: answer sizes
    "continuation": lambda p: p.continuation,  # remembers a withheld Responses answer's ids
}

INPUT_ORDER = ("auth", "request", "key_scope", "key_fanout", "end_user_token", "identity",
               "standing", "tier", "acceptance", "geo", "limits", "continuation", "distillation",
               "detectors", "moderation", "ramp")
OUTPUT_ORDER = ("detectors_output", "moderation_output")
FINISH_ORDER = ("upstream_policy", "strikes", "limits", "distillation", "continuation")


T = TypeVar("T")


def _built(registry: dict[str, Callable[[Parts], T | None]], order: tuple[str, ...],
           parts: Parts) -> tuple[T, ...]:
    found = (registry[name](parts) for name in order)
    return tuple(item for item in found if item is not None)


def build_pipeline(
    settings: Settings, store: Store, audit: AuditLog, upstream: Upstream, secret: str,
    enforcer: Enforcer | None = None, counters: CounterStore | None = None,
    verdicts: VerdictCache | None = None, extra_finishers: tuple[Finisher, ...] = (),
) -> Pipeline:
    if counters is None:  # the gateway passes its own (it closes them)
        counters = open_counters(settings.storage.redis_url, settings.storage.on_redis_error,
                                 timeout=settings.storage.timeout)
    # one Enforcer per gateway: the webhook endpoint shares it, so its bans clear the cache
    parts = Parts(settings, store, audit, upstream, secret, enforcer or Enforcer(store, secret=secret),
                  counters, verdicts)
    moderation = settings.moderation
    return Pipeline(
        checks=_built(CHECKS, INPUT_ORDER, parts),
        output_checks=_built(OUTPUT_CHECKS, OUTPUT_ORDER, parts),
        # the standing score and alerts (ops) come last
        finishers=(*_built(FINISHERS, FINISH_ORDER, parts), *extra_finishers),
        upstream=ModelListing(upstream, settings.upstream.models),  # lists what a key may use
        audit=audit,
        window_chars=moderation.window_chars,
        window_overlap=moderation.window_overlap,
        stream_first=moderation.stream_mode == "stream_first",
    )
