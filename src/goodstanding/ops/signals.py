"""The signals the standing score reads, as one open registry (a dict in one place).

A signal is a count of something OpenAI's own enforcement would see: a flagged input or
output (per category), a jailbreak attempt, an upstream policy error, an enforcement webhook,
an upstream 429, a request from an unsupported country. ``signals_of(call)`` reads them off a
finished call's reasons and offences (one pass, nothing for a clean call); the webhook path
and later features (distillation, spikes, leaked keys) record theirs with
``StandingMonitor.record`` after adding a ``Kind`` here with ``register``.

Each kind says how it turns into pressure on the score (see docs/standing.md):

- ``share``: the count as a share of all requests in the window, times the category's
  severity, against ``reference`` (the weighted share at which pressure is ~63 %);
- ``count``: the raw count against ``reference``;
- ``floor``: the score is at least this while one such event is in the window (zero-tolerance
  content, an enforcement notice from OpenAI: nothing else matters as much).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from goodstanding.call import Call


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    title: str
    measure: Literal["share", "count"]
    reference: float
    weight: float = 1.0
    floor: float = 0.0
    advice: str = ""

    def __post_init__(self) -> None:
        if self.reference <= 0 or not 0 < self.weight <= 1 or not 0 <= self.floor <= 100:
            raise ValueError(f"signal kind {self.name}: reference > 0, 0 < weight <= 1, "
                             "0 <= floor <= 100")


KINDS: dict[str, Kind] = {}
# kinds read straight off a call's reasons: a reason ``NAME`` or ``NAME:detail`` counts as NAME
FROM_REASONS: set[str] = set()


def register(kind: Kind, *, from_reasons: bool = False) -> Kind:
    KINDS[kind.name] = kind
    if from_reasons:
        FROM_REASONS.add(kind.name)
    return kind


for _kind in (
    Kind("input_flag", "flagged prompts", "share", 0.02, 1.0,
         advice="review the end users sending them; ban repeat offenders"),
    Kind("output_flag", "flagged answers", "share", 0.02, 0.8,
         advice="review the prompts' end users and the system prompt that lets the model "
                "answer so"),
    Kind("zero_tolerance", "zero-tolerance content", "count", 0.25, 1.0, floor=90.0,
         advice="ban the end users at once and report as the law requires"),
    Kind("jailbreak", "jailbreak and prompt-injection attempts", "count", 25.0, 0.7,
         advice="ban the end users who repeat them"),
    Kind("upstream_policy", "OpenAI policy refusals and content filters", "count", 10.0, 0.9,
         advice="these are OpenAI's own classifiers flagging your traffic: review and ban"),
    Kind("enforcement_webhook", "OpenAI enforcement notices", "count", 1.0, 1.0, floor=85.0,
         advice="OpenAI has acted already: read the notice, answer within its deadline"),
    Kind("upstream_429", "upstream rate limits (429)", "count", 200.0, 0.3,
         advice="raise your usage tier or lower the per-key limits"),
    Kind("unsupported_country", "requests from unsupported countries", "count", 50.0, 0.4,
         advice="keep geography blocking on; look for VPN churn"),
    Kind("geo_churn", "end users hopping countries", "count", 20.0, 0.3,
         advice="review the end users: shared or resold accounts"),
):
    register(_kind)

# severity per moderation category: how much a flagged share of it weighs (1 = the most)
SEVERITY: dict[str, float] = {
    "sexual/minors": 1.0, "violence/graphic": 0.8, "illicit/violent": 1.0, "illicit": 0.7,
    "self-harm/instructions": 1.0, "self-harm/intent": 0.8, "self-harm": 0.6,
    "hate/threatening": 1.0, "harassment/threatening": 0.8, "hate": 0.7, "harassment": 0.5,
    "violence": 0.6, "sexual": 0.5,
}
DEFAULT_SEVERITY = 0.5

UPSTREAM_POLICY = frozenset({"invalid_prompt", "cyber_policy", "bio_policy",
                             "moderation_blocked", "content_filter", "refusal"})
_PREFIXES = {"moderation:": "input_flag", "detect:": "input_flag", "output:": "output_flag",
             "detect_output:": "output_flag"}


def kind_of(signal: str) -> Kind | None:
    return KINDS.get(signal.split(":", 1)[0])


def severity(signal: str) -> float:
    _, _, category = signal.partition(":")
    return SEVERITY.get(category, DEFAULT_SEVERITY) if category else 1.0


def signals_of(call: Call) -> list[str]:
    """The signals one finished call carries (empty for a clean call)."""
    found = reason_signals(call.reasons, call.status, call.decision)
    if any(o.zero_tolerance for o in call.offences):
        found.append("zero_tolerance")
    return list(dict.fromkeys(found))


def reason_signals(reasons: Iterable[str], status: int | None, decision: str | None
                   ) -> list[str]:
    """The signals a call's reasons, status and decision show (a call's or an audit
    record's; repeats possible). Zero tolerance is not among them: it is an offence's."""
    found: list[str] = []
    for reason in reasons:
        head, sep, rest = reason.partition(":")
        if sep:
            kind = _PREFIXES.get(head + ":")
            if kind is not None:
                found.append(f"{kind}:{rest}")
            elif head == "upstream" and rest in UPSTREAM_POLICY:
                found.append("upstream_policy")
            elif head == "unsupported_country":
                found.append("unsupported_country")
        elif reason in ("jailbreak_detected", "prompt_injection"):
            found.append("jailbreak")
        elif reason == "geo_churn":
            found.append("geo_churn")
        if FROM_REASONS and head in FROM_REASONS:
            found.append(head)
    if status == 429 and decision == "upstream_error":
        found.append("upstream_429")
    return found
