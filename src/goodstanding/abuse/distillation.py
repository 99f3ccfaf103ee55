"""Distillation / bulk extraction, per end user and per virtual key, over sliding windows.

What OpenAI reads as distillation is "systematic collection of JSON responses, repetitive query
patterns, mass generation of synthetic data". Each end user (of a tenant) and each key is a
*scope*, judged on every generation call it makes. Four named signals:

- ``distillation`` (templated harvesting): a near-duplicate share of at least
  ``duplicate_share`` among at least ``min_requests`` judged prompts is ``suspected``; with a
  structured-output share of at least ``structured_share``, or ``likely_requests`` prompts,
  it is ``likely``. A prompt is a near-duplicate when its sketch (``sketch.py``) matches one of
  the scope's last ``RING`` sketches (one int: ``RING`` masks side by side, newest lowest).
  Short messages ("thanks", "go on") are not counted; nor are a scope's first
  ``JUDGE_FROM - 1`` calls in the window, and a busy key's prompts are sampled.
- ``distillation_volume``: the scope's requests in the window at least ``volume_factor`` × its
  tier's norm (the running average of finished windows of the scopes of that tier, learned in
  this process) and at least ``volume_floor`` (``key_volume_floor`` for a key).
- ``distillation_long_output``: at least ``long_requests`` answers in the window of
  ``long_output_tokens`` or more to prompts of ``short_prompt_tokens`` or fewer, and at least
  half of the scope's requests (counted by the finisher, from the answer's usage).
- ``machine_timing``: round-the-clock machine-regular arrivals (``timing.py``).

A key's findings that are only recorded are noted once every ``NOTE_EVERY`` seconds while
they hold, and at once when one is new (a verdict raised, a signal added): they describe the
key, not the call, and an application's key past its volume floor would otherwise put one on
every call of every end user behind it (its recording cost on each, and a standing signal for
each end user). A key's findings with ``throttle`` or ``refuse`` act on every call.

Windows slide: each scope counts in the current fixed window and the one before, and the
estimate is ``current + before × the share of it still inside the sliding window``.

State is bounded: at most ``max_end_users`` scopes (least recently seen are forgotten), each a
few hundred bytes (``RING`` sketch masks in one int, eight counts).
With Redis counters the counts are shared between processes (``shared.py``); the sketches
and the timing stay per process.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from goodstanding import metrics
from goodstanding.abuse.shared import MAX_HASHES, Deltas, Merger, Totals
from goodstanding.abuse.sketch import BITS, K, sketch
from goodstanding.abuse.timing import Timing
from goodstanding.ops.signals import Kind, register
from goodstanding.settings import parse_duration

if TYPE_CHECKING:
    from goodstanding.settings import DistillationSettings

RING = 4  # recent sketches compared per scope (``_count`` folds the four by hand)
_RING_MASK = (1 << RING * BITS) - 1
_EXAMPLE = 4294967291  # the largest 32-bit prime: an example's hash from the newest mask
NORM_ALPHA = 0.05  # weight of one finished window in its tier's norm
NORM_SAMPLES = 20  # finished windows a tier's norm needs before it is believed
TIMING_FROM = 10  # calls in the sliding window before a scope's timing is kept
# Calls in the sliding window before a scope's prompts are judged (sketched and counted): a
# verdict needs ``min_requests`` (60) judged prompts, so a scope's first nine cannot decide one
# alone, and most end users never send ten in a window: at 100 000 end users that spares
# nearly every call its sketch.
JUDGE_FROM = 10
# A scope past SAMPLE_FROM calls in its window (an application's key) judges one prompt in
# KEY_SAMPLE: its shares are estimated from a sample, its judged and near-duplicate counts are
# the sample's. Each sampled prompt is compared with the four sampled before it, so a template
# that is a share p of the key's traffic still matches with probability 1 - (1 - p)^4.
SAMPLE_FROM = 1000
KEY_SAMPLE = 8
NOTE_EVERY = 60.0  # seconds between notes of a key's record-only findings while they hold
FIELDS = ("t", "j", "d", "s", "l")  # shared fields: calls, judged, near-duplicates,
# structured, long outputs

SIGNALS = metrics.counter(
    "goodstanding_distillation_total",
    "Requests whose end user or key looks like bulk extraction (distillation), by signal, "
    "level and the action taken.", ("level", "action"))

for _kind in (
    Kind("distillation", "bulk extraction (distillation): templated prompts", "count", 50.0, 0.7,
         advice="review the end users and keys flagged: templated prompts harvesting "
                "structured answers at volume; throttle or ban them"),
    Kind("distillation_volume", "end users or keys far above their tier's volume", "count",
         50.0, 0.4, advice="review the end users and keys flagged: volume far above their "
                           "tier's norm is how synthetic data is mass-generated"),
    Kind("distillation_long_output", "long answers to short prompts at volume", "count", 50.0,
         0.5, advice="long generations from short prompts at volume is synthetic data "
                     "generation: review the end users and keys flagged"),
    Kind("machine_timing", "round-the-clock machine-regular traffic", "count", 50.0, 0.4,
         advice="a script, not people, sends this traffic: make sure it is yours"),
):
    register(_kind, from_reasons=True)


@dataclass(frozen=True, slots=True)
class Finding:
    signal: str  # a registered signal kind: distillation, distillation_volume, ...
    level: str  # "suspected" | "likely"
    scope: str  # "user" | "key"
    evidence: tuple[tuple[str, float], ...]

    @property
    def reason(self) -> str:
        head = f"distillation:{self.level}" if self.signal == "distillation" else self.signal
        return head if self.scope == "user" else f"{head}:key"


def action_of(settings: DistillationSettings, finding: Finding) -> str:
    """The policy for one finding: ``record``, ``throttle`` or ``refuse``."""
    signal = finding.signal
    if signal == "distillation":
        if finding.scope == "key":
            return settings.key_likely if finding.level == "likely" else "record"
        return settings.likely if finding.level == "likely" else settings.suspected
    if signal == "distillation_volume":
        return settings.volume
    if signal == "distillation_long_output":
        return settings.long_output
    return settings.timing  # machine_timing


_ZERO: tuple[int, ...] = (0, 0, 0, 0, 0)
_NOTHING_NOTED: frozenset[str] = frozenset()  # one object: each frozenset() is a new one


class _Others:
    """The other processes' counts (shared mode): in this window, the one before, and what
    this process had sent of its own for this window at the last merge."""

    __slots__ = ("cur", "mine", "prev", "w")

    def __init__(self, w: int) -> None:
        self.w = w
        self.cur = self.prev = self.mine = _ZERO


class _Scope:
    __slots__ = ("cd", "cj", "cl", "cs", "ct", "noted", "others", "pd", "pj", "pl", "ps", "pt",
                 "quiet_until", "ring", "throttle_at", "timing", "w")

    def __init__(self, w: int) -> None:
        self.ring = 0  # up to RING sketch masks, BITS bits each, the newest in the lowest
        self.w = w  # the current fixed window's number
        # this window's calls, judged prompts, near-duplicates, structured calls, long outputs;
        # and the same for the window before
        self.ct = self.cj = self.cd = self.cs = self.cl = 0
        self.pt = self.pj = self.pd = self.ps = self.pl = 0
        self.throttle_at = 0.0  # the next moment a throttled scope may send
        # a key's record-only findings last noted (their reasons) and until when they are not
        # noted again (``NOTE_EVERY``)
        self.noted = _NOTHING_NOTED
        self.quiet_until = 0.0
        self.timing: Timing | None = None
        self.others: _Others | None = None

    def counts(self, before: float) -> list[float]:
        """The sliding window's estimate (as ``FIELDS``): this window + ``before`` × the one
        before, plus the other processes' (shared mode)."""
        out = [self.ct + self.pt * before, self.cj + self.pj * before,
               self.cd + self.pd * before, self.cs + self.ps * before,
               self.cl + self.pl * before]
        o = self.others
        if o is not None and o.w == self.w:
            for i in range(5):
                out[i] += o.cur[i] + o.prev[i] * before
        return out

    def mine(self) -> tuple[int, int, int, int, int]:
        return self.ct, self.cj, self.cd, self.cs, self.cl

    def mine_before(self) -> tuple[int, int, int, int, int]:
        return self.pt, self.pj, self.pd, self.ps, self.pl


class Distillation:
    """Keeps each scope's recent sketches and window counts; judges one call at a time."""

    def __init__(self, settings: DistillationSettings, clock: Callable[[], float] = time.time,
                 merger: Merger | None = None) -> None:
        self.settings = s = settings
        self.window = parse_duration(settings.window)
        self.clock = clock
        self.scopes: OrderedDict[str, _Scope] = OrderedDict()
        self.norms: dict[str, tuple[float, int]] = {}  # "user:tier" → (norm, windows seen)
        # below this many requests in its window a scope cannot be judged: the cheap path
        self.least = min(s.min_requests, s.volume_floor, s.key_volume_floor, s.long_requests)
        # fewer near-duplicates than this (this window and the one before) cannot be a share
        # of ``duplicate_share`` among ``min_requests`` judged prompts
        self.duplicates_least = s.duplicate_share * s.min_requests
        self.cv_squared = s.timing_max_cv * s.timing_max_cv
        self.merger = merger
        self.touched: dict[str, _Scope] = {}
        if merger is not None:
            merger.collectors.append(self._collect)

    # --- the request path -------------------------------------------------------------------

    def observe(self, user: str | None, key: str | None, tier: str, text: str | None,
                structured: bool) -> list[Finding]:
        """Count one generation call of ``user`` (tenant + end user) and ``key``; findings."""
        now = self.clock()
        w = int(now // self.window)
        current: int | None = None
        sketched = not text  # no text: nothing to sketch
        found: list[Finding] = []
        for name, kind in (("u:" + user if user else None, "user"),
                           ("k:" + key if key else None, "key")):
            if name is None:
                continue
            scope = self._scope(name, w, kind, tier)
            scope.ct += 1
            scope.cs += structured
            seen = scope.ct + scope.pt
            if scope.others is not None:  # shared mode: the other processes' calls too
                seen += scope.others.cur[0] + scope.others.prev[0]
            # the sketch is most of this call's cost: only for the prompts a scope is judged
            # on (from its JUDGE_FROM-th call in the window; a busy key's one in KEY_SAMPLE)
            counted = False
            if seen >= JUDGE_FROM and (seen < SAMPLE_FROM or scope.ct % KEY_SAMPLE == 0):
                if not sketched:
                    current, sketched = sketch(text or ""), True
                if current is not None:
                    self._count(scope, current)
                    counted = True
            if seen >= TIMING_FROM:
                timing = self._time(scope, now)
                if seen >= self.least or timing.gaps >= self.settings.timing_min_requests:
                    if kind == "user":
                        found += self._judge(scope, kind, tier, now, seen)
                    # a quiet key (its findings noted): only a judged prompt can raise them
                    elif now >= scope.quiet_until or counted:
                        found += self._note(scope, self._judge(scope, kind, tier, now, seen),
                                            now)
        if self.merger is not None and (user or key):
            self.merger.wake()
        return found

    def long_output(self, tokens_in: int, tokens_out: int) -> bool:
        """A long answer to a short prompt: what ``output`` counts."""
        s = self.settings
        return tokens_out >= s.long_output_tokens and tokens_in <= s.short_prompt_tokens

    def output(self, user: str | None, key: str | None, tokens_in: int, tokens_out: int) -> None:
        """After the answer: count a long answer to a short prompt for its scopes."""
        if not self.long_output(tokens_in, tokens_out):
            return
        for name in (f"u:{user}" if user else None, f"k:{key}" if key else None):
            scope = self.scopes.get(name) if name else None
            if scope is not None and name is not None:
                scope.cl += 1
                if self.merger is not None:
                    self.touched[name] = scope

    def throttle(self, name: str) -> float:
        """For a throttled scope: 0 when this call may go, else the seconds to wait."""
        scope = self.scopes.get(name)
        if scope is None:
            return 0.0
        now = self.clock()
        if now >= scope.throttle_at:
            scope.throttle_at = now + 60.0 / self.settings.throttle_rpm
            return 0.0
        return scope.throttle_at - now

    def _scope(self, name: str, w: int, kind: str, tier: str) -> _Scope:
        scopes = self.scopes
        scope = scopes.get(name)
        if scope is None:
            if len(scopes) >= self.settings.max_end_users:
                scopes.popitem(last=False)
            scope = scopes[name] = _Scope(w)
        else:
            scopes.move_to_end(name)
            if scope.w != w:
                self._roll(scope, w, f"{kind}:{tier}")
        if self.merger is not None:
            self.touched[name] = scope
        return scope

    def _roll(self, scope: _Scope, w: int, norm: str) -> None:
        if scope.ct:
            self._learn(norm, scope.ct)
        if scope.w == w - 1:
            scope.pt, scope.pj, scope.pd, scope.ps, scope.pl = scope.mine()
        else:
            scope.pt = scope.pj = scope.pd = scope.ps = scope.pl = 0
        scope.ct = scope.cj = scope.cd = scope.cs = scope.cl = 0
        scope.w = w
        if scope.timing is not None and scope.pt < TIMING_FROM:
            scope.timing = None  # no longer at volume: its light traffic costs nothing

    def _learn(self, norm: str, total: int) -> None:
        found = self.norms.get(norm)
        if found is None:
            self.norms[norm] = (float(total), 1)
        else:
            value, seen = found
            self.norms[norm] = (value + NORM_ALPHA * (total - value), seen + 1)

    def _count(self, scope: _Scope, mine: int) -> None:
        scope.cj += 1
        ring = scope.ring
        threshold = self.settings.similarity * K
        # the ring's masks folded onto one first: when fewer bits than the threshold are shared
        # with all of them together, none can match (varied traffic stops here)
        if ring and ((ring | ring >> BITS | ring >> 2 * BITS | ring >> 3 * BITS) & mine
                     ).bit_count() >= threshold:
            for at in range(0, RING * BITS, BITS):
                if (ring >> at & mine).bit_count() >= threshold:
                    scope.cd += 1
                    break
        scope.ring = (ring << BITS | mine) & _RING_MASK

    def _time(self, scope: _Scope, now: float) -> Timing:
        timing = scope.timing
        if timing is None:
            timing = scope.timing = Timing(now)
        else:
            timing.add(now)
        return timing

    def _note(self, scope: _Scope, findings: list[Finding], now: float) -> list[Finding]:
        """A key's findings to put on this call: record-only ones once every ``NOTE_EVERY``
        seconds while they hold, or at once when one of them is new; others every time. A
        finding that comes back within the minute it was noted is not new (one flickering at
        its threshold is noted once)."""
        if not findings:
            return findings
        for f in findings:
            if action_of(self.settings, f) != "record":
                scope.quiet_until = 0.0
                return findings
        reasons = frozenset(f.reason for f in findings)
        if now < scope.quiet_until and reasons <= scope.noted:
            return []
        scope.noted, scope.quiet_until = reasons, now + NOTE_EVERY
        return findings

    # --- judging ----------------------------------------------------------------------------

    def _judge(self, scope: _Scope, kind: str, tier: str, now: float,
               seen: float) -> list[Finding]:
        """The scope's findings. ``seen`` is its calls in this window and the one before (and
        the other processes'): an upper bound of the sliding estimate, as are the raw counts
        below, so a busy scope with nothing to find (an application's key: its timing is
        judged on every call) skips the estimate."""
        s = self.settings
        found: list[Finding] = []
        floor = s.volume_floor if kind == "user" else s.key_volume_floor
        if scope.others is not None or seen >= floor or \
                scope.cd + scope.pd >= self.duplicates_least or \
                scope.cl + scope.pl >= s.long_requests:
            self._judge_counts(scope, kind, tier, now, floor, found)
        timing = scope.timing
        # cv <= max_cv without the square root: var <= (max_cv × mean)²
        if timing is not None and timing.gaps >= s.timing_min_requests and \
                timing.mean > 0 and timing.var <= self.cv_squared * timing.mean * timing.mean:
            hours = timing.active_hours(now)
            if hours >= s.timing_hours:
                found.append(Finding("machine_timing", "suspected", kind, (
                    ("gaps", timing.gaps), ("gap_cv", round(timing.cv(), 3)),
                    ("mean_gap_seconds", round(timing.mean, 3)), ("active_hours", hours))))
        return found

    def _judge_counts(self, scope: _Scope, kind: str, tier: str, now: float, floor: int,
                      found: list[Finding]) -> None:
        """Templated prompts, volume and long outputs, on the sliding window's estimate."""
        s = self.settings
        before = 1.0 - (now - scope.w * self.window) / self.window
        total, judged, duplicates, structured, long = scope.counts(before)
        window = ("window_seconds", self.window)
        if judged >= s.min_requests and duplicates >= s.duplicate_share * judged:
            likely = structured >= s.structured_share * total or judged >= s.likely_requests
            example = float((scope.ring & (1 << BITS) - 1) % _EXAMPLE)
            found.append(Finding("distillation", "likely" if likely else "suspected", kind, (
                ("requests", round(judged)), ("duplicate_share", round(duplicates / judged, 3)),
                ("structured_share", round(structured / total, 3)), window,
                ("example_hash", example))))
        if total >= floor:
            norm, seen = self.norms.get(f"{kind}:{tier}", (0.0, 0))
            if seen < NORM_SAMPLES or total >= s.volume_factor * norm:
                found.append(Finding("distillation_volume", "suspected", kind, (
                    ("requests", round(total)), ("tier_norm", round(norm, 1)), window)))
        if long >= s.long_requests and long >= 0.5 * total:
            found.append(Finding("distillation_long_output", "suspected", kind, (
                ("long_outputs", round(long)), ("requests", round(total)), window)))

    def evidence(self, name: str) -> dict[str, Any] | None:
        """What this process knows of one scope (``u:tenant\\nend user`` or ``k:key id``),
        for the admin API: counts and shares, never text."""
        scope = self.scopes.get(name)
        if scope is None:
            return None
        now = self.clock()
        w = int(now // self.window)
        before = 1.0 - (now - w * self.window) / self.window
        if scope.w == w:
            counts = scope.counts(before)
        elif scope.w == w - 1:  # not rolled yet: its current window is the one before
            counts = [c * before for c in scope.counts(0.0)]
        else:
            counts = [0.0] * 5
        total, judged, duplicates, structured, long = counts
        out: dict[str, Any] = {
            "window_seconds": self.window, "requests": round(total, 1),
            "judged_prompts": round(judged, 1),
            "duplicate_share": round(duplicates / judged, 3) if judged else 0.0,
            "structured_share": round(structured / total, 3) if total else 0.0,
            "long_outputs": round(long, 1)}
        if scope.timing is not None:
            out.update(gaps=scope.timing.gaps, gap_cv=round(min(scope.timing.cv(), 1e6), 3),
                       active_hours=scope.timing.active_hours(now))
        return out

    # --- shared state (Redis) ---------------------------------------------------------------

    def _collect(self) -> tuple[Deltas, int, Callable[[Totals], None]]:
        touched, self.touched = self.touched, {}
        deltas: Deltas = {}
        sent: list[tuple[str, _Scope, int, tuple[int, ...]]] = []
        for name, scope in touched.items():
            if len(deltas) >= MAX_HASHES:
                self.touched.setdefault(name, scope)  # the next merge takes the rest
                continue
            others = scope.others
            if others is None:
                others = scope.others = _Others(scope.w)
            elif others.w != scope.w:
                others.prev = others.cur if others.w == scope.w - 1 else _ZERO
                others.cur = others.mine = _ZERO
                others.w = scope.w
            counts = scope.mine()
            deltas[f"d:{scope.w}:{name}"] = {
                f: n - m for f, n, m in zip(FIELDS, counts, others.mine, strict=True) if n != m}
            deltas[f"d:{scope.w - 1}:{name}"] = {}  # read only: the window before
            others.mine = counts
            sent.append((name, scope, scope.w, counts))

        def done(totals: Totals) -> None:
            for name, scope, w, counts in sent:
                others = scope.others
                if others is None or others.w != w or self.scopes.get(name) is not scope:
                    continue  # rolled over or forgotten since: the next merge sets it right
                now, before = totals.get(f"d:{w}:{name}", {}), totals.get(f"d:{w - 1}:{name}", {})
                others.cur = tuple(max(0, now.get(f, 0) - c)
                                   for f, c in zip(FIELDS, counts, strict=True))
                others.prev = tuple(max(0, before.get(f, 0) - c)
                                    for f, c in zip(FIELDS, scope.mine_before(), strict=True))

        return deltas, int(2000 * self.window) + 1000, done
