"""Usage, signals and standing per upstream key: which OpenAI project is at risk.

Each keyed call's audit record names the upstream key it went out under (``upstream``,
migration 0011), so this is read from the audit log alone, off the hot path: one grouped
query (``Store.upstream_counts``) returns the calls of the last 7 days by (upstream key,
decision, status, reasons) with their counts per window, and each group's reasons are read
into signals once (``ops.signals.reason_signals``, the same reading the organization's score
uses). A window's score is ``ops.standing.score_of`` over that key's counts alone: the
organization's formula applied to one project's traffic, an estimate as the other is.

    strikes             calls that gave their end user a strike
    upstream_policy     OpenAI's own refusals and content filters (``upstream:invalid_prompt``…)
    upstream_429        OpenAI answered 429
    insufficient_quota  OpenAI's ``insufficient_quota`` / ``credit_balance_exhausted``, or the
                        gateway answering it during ``quota_hold``
    held                calls the gateway held back before OpenAI's rate limit (our own 429)
    enforcement_notices OpenAI's enforcement webhooks acted on that name this key's project
                        (``safety_identifier.blocked``'s ``project_id``): a signal, not a call
    signals             every standing signal by name (``input_flag:violence``, ``jailbreak``…)

What is shown of the key itself is its fingerprint (``sk-proj-…a1b2``), never its value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from goodstanding.credentials import rotation
from goodstanding.credentials.keyring import fingerprint
from goodstanding.errors import ConfigError
from goodstanding.ops.signals import reason_signals
from goodstanding.ops.standing import REQUESTS, level_of, score_of
from goodstanding.settings import Settings, UpstreamKey
from goodstanding.stores.base import WEBHOOK, Store

WINDOWS: dict[str, float] = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
QUOTA = frozenset({"upstream:insufficient_quota", "upstream:credit_balance_exhausted",
                   "upstream_quota"})
TOP_SIGNALS = 5


@dataclass(slots=True)
class WindowCounts:
    """One upstream key's calls in one window."""

    window: str
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    refusals: int = 0
    flagged: int = 0
    strikes: int = 0
    upstream_policy: int = 0
    upstream_429: int = 0
    insufficient_quota: int = 0
    held: int = 0
    enforcement_notices: int = 0
    signals: dict[str, int] = field(default_factory=dict)
    score: float = 0.0
    level: str = "good"

    def add(self, group: Mapping[str, Any], i: int, signals: list[str],
            reasons: set[str]) -> None:
        calls = group["calls"][i]
        if not calls:
            return
        if group["decision"] == WEBHOOK:  # a notice about the project, not a call through it
            self.enforcement_notices += calls * ("enforcement_webhook" in signals)
            for signal in signals:
                self.signals[signal] = self.signals.get(signal, 0) + calls
            return
        self.requests += calls
        self.tokens_in += group["tokens_in"][i]
        self.tokens_out += group["tokens_out"][i]
        self.refusals += calls * (group["decision"] == "refused")
        self.flagged += calls * (group["decision"] == "flagged")
        self.strikes += calls * ("strike" in reasons)
        self.upstream_policy += calls * ("upstream_policy" in signals)
        self.upstream_429 += calls * ("upstream_429" in signals)
        self.insufficient_quota += calls * bool(reasons & QUOTA)
        self.held += calls * any(r.startswith("upstream_held") for r in reasons)
        for signal in signals:
            self.signals[signal] = self.signals.get(signal, 0) + calls

    def scored(self, seconds: float) -> WindowCounts:
        score, _ = score_of({REQUESTS: self.requests, **self.signals}, seconds)
        self.score, self.level = round(score, 1), level_of(score)
        return self


def signals_of_group(group: Mapping[str, Any], zero_tolerance: Iterable[str]) -> list[str]:
    """The standing signals one group of records carries (once each)."""
    reasons = [r for r in group["reasons"] if isinstance(r, str)]
    if group["decision"] == WEBHOOK:  # counted as the organization's monitor counts it
        return ["enforcement_webhook"] if "webhook_acted" in reasons else []
    found = reason_signals(reasons, group["status"], group["decision"])
    banned = {f"{p}:{c}" for c in zero_tolerance for p in ("moderation", "detect")}
    if banned.intersection(reasons):
        found.append("zero_tolerance")
    return list(dict.fromkeys(found))


async def counts_by_upstream(store: Store, zero_tolerance: Iterable[str],
                             now: float | None = None) -> dict[str, dict[str, WindowCounts]]:
    """Upstream key name → window name → its counts and score (names seen in the log only)."""
    now = time.time() if now is None else now
    zero = tuple(zero_tolerance)
    starts = [now - seconds for seconds in WINDOWS.values()]
    out: dict[str, dict[str, WindowCounts]] = {}
    for group in await store.upstream_counts(starts):
        windows = out.setdefault(group["upstream"], {w: WindowCounts(w) for w in WINDOWS})
        signals = signals_of_group(group, zero)
        reasons = {r for r in group["reasons"] if isinstance(r, str)}
        for i, name in enumerate(WINDOWS):
            windows[name].add(group, i, signals, reasons)
    for windows in out.values():
        for name, seconds in WINDOWS.items():
            windows[name].scored(seconds)
    return out


def names(settings: Settings) -> list[str]:
    """Every configured upstream key: ``default`` (upstream.key) when set, then the named."""
    default = ["default"] if settings.upstream.key else []
    return [*default, *settings.upstream.keys]


def key_facts(settings: Settings, name: str, env: Mapping[str, str]) -> dict[str, Any]:
    """What may be shown about one upstream key: project, where kept, fingerprint, age."""
    entry = settings.upstream.entry(None if name == "default" else name)
    assert entry is not None, name
    try:
        value = settings.upstream_key(None if name == "default" else name)
    except ConfigError:
        value = None
    try:
        age = rotation.age(entry, name, env)
    except ConfigError:
        age = None  # env: references have no age the gateway can know
    max_age = rotation.max_age_of(settings, entry)
    warn = rotation.warn_before(settings)
    return {"name": name, "project": entry.project, "kept_in": _kept_in(entry),
            "fingerprint": fingerprint(value) if value else "(unset)", "age": age,
            "max_age": max_age,
            "rotation_due_in": None if age is None or max_age is None else max_age - age,
            "nearing_rotation": age is not None and max_age is not None
            and age >= max_age - warn,
            "scheduled_rotation": settings.upstream.rotation.scheduled and max_age is not None}


def _kept_in(entry: UpstreamKey) -> str:
    ref = entry.key or ""
    return ref.split(":", 1)[0] if ":" in ref else "env"


async def views(settings: Settings, store: Store, env: Mapping[str, str] | None = None,
                now: float | None = None) -> list[dict[str, Any]]:
    """Every upstream key's facts, bound virtual keys, counts per window and standing, worst
    standing first (names only in the audit log, e.g. a key since removed, come last)."""
    env = os.environ if env is None else env
    counts = await counts_by_upstream(store, settings.moderation.zero_tolerance, now)
    bound: dict[str, int] = {}
    moment = time.time() if now is None else now
    for key in await store.list_keys():
        if key.usable(moment):
            name = key.upstream or "default"
            bound[name] = bound.get(name, 0) + 1
    configured = names(settings)
    rows = [{**key_facts(settings, n, env), "configured": True} for n in configured]
    rows += [{"name": n, "configured": False} for n in sorted(counts) if n not in configured]
    out = []
    for row in rows:
        windows = counts.get(row["name"]) or {w: WindowCounts(w) for w in WINDOWS}
        score = max(w.score for w in windows.values())
        out.append({**row, "virtual_keys": bound.get(row["name"], 0), "score": score,
                    "level": level_of(score), "top_signals": _top(windows["7d"].signals),
                    "windows": {w: _window(c) for w, c in windows.items()}})
    out.sort(key=lambda r: (not r["configured"], -r["score"]))
    return out


def _window(counts: WindowCounts) -> dict[str, Any]:
    document = asdict(counts)
    document.pop("window")
    return document


def _top(signals: dict[str, int]) -> list[dict[str, Any]]:
    ranked = sorted(signals.items(), key=lambda item: (-item[1], item[0]))[:TOP_SIGNALS]
    return [{"signal": s, "count": c} for s, c in ranked]
