"""The organization's standing: a 0–100 estimate of how close it is to an OpenAI warning.

Counting (hot path): the ops finisher hands each finished call to ``StandingMonitor.count``,
which adds one to ``requests`` and, for a call that carries signals (``signals.signals_of``),
one to each signal and to its drivers (end user, key) — dict updates in a buffer. Once a
second the buffer goes to the counts store as one batch (``counts.py``: in-process, or one
Lua call to Redis shared by every worker), stamped with the flush time:

    m:{day}:{signal}    minute buckets (the 1 h window and the hour before it), kept 2 days
    h:{week}:{signal}   hour buckets (24 h, 7 d and the windows before them), kept 15 days
    d:{hour}:{signal}   per hour: end user / key -> count (the drivers), kept 8 days
    i:{week}            the signals seen this week (so reading needs no key scan)

Reading (``report``, off the hot path): the windows' counts, each signal's pressure, the score
(docs/standing.md has the formula and why), trends against the window before, the top
drivers and the recommended actions, as one frozen ``StandingReport``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from goodstanding import metrics
from goodstanding.endusers.identity import pseudonym
from goodstanding.ops.signals import KINDS, kind_of, severity, signals_of
from goodstanding.stores.base import Counts

if TYPE_CHECKING:
    from goodstanding.call import Call

log = logging.getLogger("goodstanding.standing")

SIGNALS = metrics.counter("goodstanding_signals_total",
                          "Standing signals seen by this gateway (flags, jailbreaks, …).",
                          ("signal",))
SCORE = metrics.gauge("goodstanding_standing_score",
                      "The last computed standing score (0-100, an estimate), by window.",
                      ("window",))
SCORE.merge = "max"  # with Redis every worker computes the same; without, the worst counts

FLUSH_EVERY = 1.0
REQUESTS = "requests"
WINDOWS: dict[str, float] = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
DAY_MINUTES, WEEK_HOURS = 1440, 168
TTL = {"m": 2 * 86400.0, "h": 15 * 86400.0, "d": 8 * 86400.0, "i": 15 * 86400.0}
TOP = 5
PRIOR_REQUESTS = 100
SEP = "\x1f"
NOTHING_TO_DO = "Nothing to do: no signal in the last 7 days weighs on the score."  # between tenant and end user in a driver's name


@dataclass(frozen=True, slots=True)
class Driver:
    kind: str  # "end_user" | "key"
    id: str
    tenant: str | None
    count: int
    share: float


@dataclass(frozen=True, slots=True)
class SignalReport:
    signal: str
    title: str
    count: int
    previous: int
    pressure: float
    contribution: float
    trend: str  # new | rising | steady | falling | gone
    end_users: tuple[Driver, ...] = ()
    keys: tuple[Driver, ...] = ()


@dataclass(frozen=True, slots=True)
class WindowReport:
    window: str
    score: float
    previous_score: float
    requests: int
    signals: tuple[SignalReport, ...]


@dataclass(frozen=True, slots=True)
class StandingReport:
    score: float
    level: str  # good | watch | at_risk | critical
    computed_at: float
    windows: tuple[WindowReport, ...]
    actions: tuple[str, ...]
    estimate: bool = True
    note: str = ("An estimate from the signals this gateway sees, not OpenAI's own view; "
                 "see docs/standing.md for the formula.")

    def window(self, name: str) -> WindowReport:
        return next(w for w in self.windows if w.window == name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["windows"] = {w["window"]: w for w in data["windows"]}
        return data


class StandingMonitor:
    def __init__(self, counts: Counts, clock: Callable[[], float] = time.time,
                 secret: str | None = None) -> None:
        self.counts = counts
        self.clock = clock
        self.secret = secret  # the actions (an alert's text) name end users by pseudonym
        self._requests = 0
        self._signals: dict[str, int] = {}
        self._drivers: dict[tuple[str, str], int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    # --- counting (hot path) ----------------------------------------------------------------

    def count(self, call: Call) -> list[str]:
        """Count one finished call; its signals (for the alert rules)."""
        self._requests += 1
        found = signals_of(call) if call.reasons or call.offences else []
        if found:
            key = call.key
            end_user = f"u:{key.tenant}{SEP}{call.end_user}" if key and call.end_user else None
            for signal in found:
                self._add(signal, end_user, f"k:{key.id}" if key else None)
        if self._timer is None:
            self._schedule()
        return found

    def record(self, signal: str, tenant: str | None = None, end_user: str | None = None,
               key_id: str | None = None) -> None:
        """A signal from outside a call's pipeline (an enforcement webhook, later detectors)."""
        if kind_of(signal) is None:
            raise ValueError(f"unknown signal {signal!r}: register its Kind first")
        user = f"u:{tenant}{SEP}{end_user}" if tenant and end_user else None
        self._add(signal, user, f"k:{key_id}" if key_id else None)
        if self._timer is None:
            self._schedule()

    def _add(self, signal: str, end_user: str | None, key: str | None) -> None:
        SIGNALS.inc(signal)
        self._signals[signal] = self._signals.get(signal, 0) + 1
        drivers = self._drivers
        for driver in (end_user, key):
            if driver is not None:
                drivers[signal, driver] = drivers.get((signal, driver), 0) + 1

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a test counting by hand): flush() is called explicitly
        self._timer = loop.call_later(FLUSH_EVERY, self._flush_soon)

    def _flush_soon(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def flush(self) -> None:
        """Send what was counted since the last flush, as one batch, stamped now."""
        if not (self._requests or self._signals):
            return
        requests, signals, drivers = self._requests, self._signals, self._drivers
        self._requests, self._signals, self._drivers = 0, {}, {}
        now = self.clock()
        batch, ttls = _batch(requests, signals, drivers, now)
        try:
            await self.counts.add(batch, ttls, now)
        except (OSError, TimeoutError) as exc:
            metrics.STORE_ERRORS.inc("redis")
            log.warning("standing counts not stored (%s): %d calls left out of the score",
                        type(exc).__name__, requests)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)
        await self.flush()

    # --- reading ----------------------------------------------------------------------------

    async def report(self) -> StandingReport:
        now = self.clock()
        minute, hour = int(now // 60), int(now // 3600)
        day, week = minute // DAY_MINUTES, hour // WEEK_HOURS
        weeks = [week - i for i in range(3)]
        index = await self.counts.read([f"i:{w}" for w in weeks], now)
        names = sorted({REQUESTS, *(s for found in index for s in found)})
        keys = [f"m:{d}:{s}" for s in names for d in (day - 1, day)]
        keys += [f"h:{w}:{s}" for s in names for w in weeks]
        read = dict(zip(keys, await self.counts.read(keys, now), strict=True))
        minutes = {s: _merge(read[f"m:{d}:{s}"] for d in (day - 1, day)) for s in names}
        hours = {s: _merge(read[f"h:{w}:{s}"] for w in weeks) for s in names}
        windows = []
        for name, seconds in WINDOWS.items():
            if seconds <= 3600:
                now_bucket, width, buckets = minute, 60, minutes
            else:
                now_bucket, width, buckets = hour, 3600, hours
            span = int(seconds // width)
            current = {s: _sum(buckets[s], now_bucket - span, now_bucket) for s in names}
            before = {s: _sum(buckets[s], now_bucket - 2 * span, now_bucket - span)
                      for s in names}
            drivers = await self._drivers_of(
                [s for s in names if s != REQUESTS and current[s]], hour,
                max(1, int(seconds // 3600)), now)
            windows.append(_window(name, seconds, current, before, drivers))
        for window in windows:
            SCORE.set(window.score, window.window)
        score = max(w.score for w in windows)
        return StandingReport(round(score, 1), level_of(score), now, tuple(windows),
                              _actions(windows, self.secret))

    async def _drivers_of(self, signals: list[str], hour: int, hours: int, now: float
                          ) -> dict[str, dict[str, int]]:
        if not signals:
            return {}
        # the 1 h window reads this hour and the one before (hour buckets): an approximation
        span = range(hour - max(hours, 2) + 1, hour + 1)
        keys = [f"d:{h}:{s}" for s in signals for h in span]
        read = await self.counts.read(keys, now)
        out: dict[str, dict[str, int]] = {}
        for key, found in zip(keys, read, strict=True):
            signal = key.split(":", 2)[2]
            into = out.setdefault(signal, {})
            for driver, amount in found.items():
                into[driver] = into.get(driver, 0) + amount
        return out


def _batch(requests: int, signals: dict[str, int], drivers: dict[tuple[str, str], int],
           now: float) -> tuple[dict[str, dict[str, int]], dict[str, float]]:
    minute, hour = int(now // 60), int(now // 3600)
    day, week = minute // DAY_MINUTES, hour // WEEK_HOURS
    batch: dict[str, dict[str, int]] = {}
    ttls: dict[str, float] = {}

    def add(kind: str, key: str, field: str, amount: int) -> None:
        into = batch.setdefault(key, {})
        into[field] = into.get(field, 0) + amount
        ttls[key] = TTL[kind]

    for signal, amount in ((REQUESTS, requests), *signals.items()):
        if amount:
            add("m", f"m:{day}:{signal}", str(minute), amount)
            add("h", f"h:{week}:{signal}", str(hour), amount)
            if signal != REQUESTS:
                add("i", f"i:{week}", signal, amount)
    for (signal, driver), amount in drivers.items():
        add("d", f"d:{hour}:{signal}", driver, amount)
    return batch, ttls


def _merge(hashes: Iterable[dict[str, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for found in hashes:
        for bucket, amount in found.items():
            out[int(bucket)] = out.get(int(bucket), 0) + amount
    return out


def _sum(buckets: dict[int, int], after: int, upto: int) -> int:
    return sum(amount for bucket, amount in buckets.items() if after < bucket <= upto)


# --- the score (docs/standing.md) -------------------------------------------------------------

def pressure(signal: str, count: int, requests: int, seconds: float) -> float:
    """0..weight: how much one signal's count weighs in a window of ``seconds``."""
    kind = kind_of(signal)
    if kind is None or count <= 0:
        return 0.0
    if kind.measure == "share":
        # shrunk towards zero by PRIOR_REQUESTS clean calls: 3 flags in 5 calls is thin evidence
        x = count / (max(requests, count) + PRIOR_REQUESTS) * severity(signal) / kind.reference
    else:  # references are per 24 h; a window's scale grows with the square root of its span
        x = count / (kind.reference * math.sqrt(seconds / 86400.0))
    return kind.weight * (1.0 - math.exp(-x))


def score_of(counts: dict[str, int], seconds: float) -> tuple[float, dict[str, float]]:
    """The window's score and each signal's contribution in points (they sum to the score)."""
    requests = counts.get(REQUESTS, 0)
    weights: dict[str, float] = {}
    for signal, count in counts.items():
        p = pressure(signal, count, requests, seconds)
        if p > 0:
            weights[signal] = -math.log(1.0 - min(p, 0.999999))
    total = sum(weights.values())
    score = 100.0 * (1.0 - math.exp(-total))
    contributions = {s: score * w / total for s, w in weights.items()} if total else {}
    floors = [(k.floor, s) for s in counts if counts[s] > 0 and (k := kind_of(s)) and k.floor]
    if floors:
        floor, signal = max(floors)
        if floor > score:  # the dominating signal takes the difference
            contributions[signal] = contributions.get(signal, 0.0) + floor - score
            score = floor
    return score, contributions


def _trend(count: int, previous: int) -> str:
    if not previous:
        return "new" if count else "steady"
    if not count:
        return "gone"
    ratio = count / previous
    return "rising" if ratio > 1.25 else "falling" if ratio < 0.8 else "steady"


def _window(name: str, seconds: float, current: dict[str, int], before: dict[str, int],
            drivers: dict[str, dict[str, int]]) -> WindowReport:
    score, contributions = score_of(current, seconds)
    previous_score, _ = score_of(before, seconds)
    requests = current.get(REQUESTS, 0)
    reports = []
    for signal, count in current.items():
        if signal == REQUESTS or not (count or before[signal]):
            continue
        kind = kind_of(signal)
        title = kind.title if kind else signal
        if ":" in signal:
            title = f"{title} ({signal.split(':', 1)[1]})"
        users, keys = _top(drivers.get(signal, {}), count)
        reports.append(SignalReport(
            signal, title, count, before[signal],
            round(pressure(signal, count, requests, seconds), 4),
            round(contributions.get(signal, 0.0), 2), _trend(count, before[signal]),
            users, keys))
    reports.sort(key=lambda r: (-r.contribution, -r.count, r.signal))
    return WindowReport(name, round(score, 1), round(previous_score, 1), requests,
                        tuple(reports))


def _top(found: dict[str, int], count: int) -> tuple[tuple[Driver, ...], tuple[Driver, ...]]:
    users, keys = [], []
    for driver, amount in sorted(found.items(), key=lambda item: (-item[1], item[0])):
        share = round(min(1.0, amount / max(count, 1)), 4)
        kind, _, name = driver.partition(":")
        if kind == "u" and len(users) < TOP:
            tenant, _, end_user = name.partition(SEP)
            users.append(Driver("end_user", end_user, tenant, amount, share))
        elif kind == "k" and len(keys) < TOP:
            keys.append(Driver("key", name, None, amount, share))
    return tuple(users), tuple(keys)


def level_of(score: float) -> str:
    """good | watch | at_risk | critical."""
    return "good" if score < 25 else "watch" if score < 50 else "at_risk" if score < 75 \
        else "critical"


def _actions(windows: list[WindowReport], secret: str | None) -> tuple[str, ...]:
    """Plain words, most pressing first: the 24 h window, then what only the others show."""
    order = sorted(windows, key=lambda w: (w.window != "24h", w.window != "1h"))
    actions: list[str] = []
    seen: set[str] = set()
    for window in order:
        for report in window.signals:
            if report.signal in seen or not report.count or report.contribution < 1:
                continue
            seen.add(report.signal)
            actions.append(_advice(report, window.window, secret))
    return tuple(actions) or (NOTHING_TO_DO,)


def _advice(report: SignalReport, window: str, secret: str | None) -> str:
    kind = kind_of(report.signal)
    advice = kind.advice if kind else "review"
    top = report.end_users[:3]
    share = sum(d.count for d in top) / max(report.count, 1)
    if top and share >= 0.5:
        who = f"{len(top)} end user{'s' if len(top) > 1 else ''}"
        verb = "produces" if len(top) == 1 else "produce"
        # an action is an alert's text (Slack, email): the drivers beside it have the ids
        names = ", ".join(f"{d.tenant}/{pseudonym(secret, d.tenant or '', d.id)}" for d in top)
        return (f"{who} {verb} {round(share * 100)} % of {report.title} in the last {window} "
                f"({names}): review and ban — {advice}.")
    return f"{report.count} {report.title} in the last {window}: {advice}."


__all__ = ["KINDS", "StandingMonitor", "StandingReport", "pressure", "score_of"]
