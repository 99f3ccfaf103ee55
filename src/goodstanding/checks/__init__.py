"""The checks, listed explicitly, and the one place the pipeline is assembled.

``build_pipeline`` reads the settings once at start-up and returns a pipeline whose check
lists never change afterwards. Order matters and is fixed here: cheap identity checks first,
then what costs money or moderation budget last, so a banned user costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from goodstanding.abuse.shared import abuse_merger
from goodstanding.checks.acceptance import AcceptanceCheck
from goodstanding.checks.auth import AuthCheck
from goodstanding.checks.detectors import DetectorsCheck, DetectorsOutputCheck
from goodstanding.checks.distillation import DistillationCheck
from goodstanding.checks.end_user_token import EndUserTokenCheck
from goodstanding.checks.geo import GeoCheck
from goodstanding.checks.identity import IdentityCheck
from goodstanding.checks.key_fanout import KeyFanoutCheck
from goodstanding.checks.key_scope import KeyScopeCheck
from goodstanding.checks.limits import LimitsCheck
from goodstanding.checks.moderation import moderation_checks
from goodstanding.checks.ramp import RampCheck
from goodstanding.checks.request import RequestCheck
from goodstanding.checks.standing import StandingCheck
from goodstanding.checks.strikes import StrikeFinisher
from goodstanding.checks.tier import TierCheck
from goodstanding.checks.upstream_policy import UpstreamPolicy
from goodstanding.enforcement import Enforcer
from goodstanding.keys import key_cache
from goodstanding.models import ModelListing
from goodstanding.pipeline import Check, Finisher, OutputCheck, Pipeline
from goodstanding.policy.acceptance import AcceptanceGate
from goodstanding.policy.render import policy_url
from goodstanding.stores.counters import open_counters

if TYPE_CHECKING:
    from goodstanding.audit import AuditLog
    from goodstanding.moderation.cache import VerdictCache
    from goodstanding.ratelimit import CounterStore
    from goodstanding.settings import Settings
    from goodstanding.stores.base import Store
    from goodstanding.upstream import Upstream


def build_pipeline(
    settings: Settings, store: Store, audit: AuditLog, upstream: Upstream, secret: str,
    enforcer: Enforcer | None = None, counters: CounterStore | None = None,
    verdicts: VerdictCache | None = None, extra_finishers: tuple[Finisher, ...] = (),
) -> Pipeline:
    # one Enforcer per gateway: the webhook endpoint shares it, so its bans clear the cache
    enforcer = enforcer or Enforcer(store)
    auth = AuthCheck(store, key_cache(settings.storage.database_url, enforcer.cache))
    checks: list[Check] = [
        auth,
        RequestCheck(settings.upstream.models),
        KeyScopeCheck(),  # a browser key's origins and models
    ]
    if counters is None:  # the gateway passes its own (it closes them)
        counters = open_counters(settings.storage.redis_url, settings.storage.on_redis_error,
                                 timeout=settings.storage.timeout)
    merger = abuse_merger(counters)  # the abuse signals' counts, shared when Redis is
    if settings.signals.key_fanout.enabled:  # before identity: the connecting address
        checks.append(KeyFanoutCheck(settings, counters, store, auth.cache, merger))
    identity = settings.identity
    if identity.token is not None:  # a verified token names the end user: before identity
        checks.append(EndUserTokenCheck(identity.token, identity.tiers))
    checks += [
        IdentityCheck(secret, audit, identity.require_end_user),
        StandingCheck(enforcer, policy_url(settings)),  # suspended and banned end users cost nothing further
    ]
    if identity.token is not None or identity.require_tier or settings.strikes.tiers:
        checks.append(TierCheck(identity.require_tier, settings.limits.tier_secret,
                                identity.tiers))
    if settings.policy.require_acceptance:
        checks.append(AcceptanceCheck(AcceptanceGate(store, settings.policy),
                                      policy_url(settings)))
    if settings.geo.mode != "off":
        checks.append(GeoCheck(settings.geo, counters))
    limits = LimitsCheck(settings.limits, counters)
    checks.append(limits)
    distillation = None
    if settings.signals.distillation.enabled:  # before moderation: a throttled call costs none
        distillation = DistillationCheck(settings.signals.distillation, merger)
        checks.append(distillation)
    detectors = settings.detectors
    output_checks: list[OutputCheck] = []
    output_mode = detectors.output
    if output_mode == "auto":
        output_mode = "flag" if settings.moderation.output == "off" else "off"
    screen_input = any(mode != "off" for mode in (detectors.jailbreak, detectors.injection,
                                                  detectors.content))
    if screen_input or output_mode != "off":
        screen = DetectorsCheck(detectors, zero_tolerance=settings.moderation.zero_tolerance)
        if screen_input:  # offline, ~0.1 ms: refuses jailbreaks before they cost budget
            checks.append(screen)
        if output_mode != "off":  # before moderation's: a withheld window costs no budget
            output_checks.append(DetectorsOutputCheck(screen, output_mode))
    moderation_in, moderation_out = moderation_checks(settings, upstream, verdicts)
    checks.extend(moderation_in)  # it spends the moderation budget
    if settings.signals.ramp.enabled:  # last: counts what is about to go upstream
        checks.append(RampCheck(settings.signals.ramp, merger))
    output_checks.extend(moderation_out)
    # OpenAI's policy answers become offences before the strikes finisher counts them
    finishers: list[Finisher] = [UpstreamPolicy(), StrikeFinisher(enforcer, settings.strikes,
                                                                 policy_url(settings)),
                                 limits,  # settles token reservations with actual usage
                                 *((distillation,) if distillation else ()),  # output sizes
                                 *extra_finishers]  # the standing score and alerts (ops)
    moderation = settings.moderation
    return Pipeline(
        checks=tuple(checks),
        output_checks=tuple(output_checks),
        finishers=tuple(finishers),
        upstream=ModelListing(upstream, settings.upstream.models),  # lists what a key may use
        audit=audit,
        window_chars=moderation.window_chars,
        window_overlap=moderation.window_overlap,
        stream_first=moderation.stream_mode == "stream_first",
    )
