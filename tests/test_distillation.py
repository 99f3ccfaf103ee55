"""Distillation / bulk extraction (issue 14), through a real gateway and the official SDK.

A scripted extraction run (templated JSON-generation prompts from one end user) is flagged,
then throttled; a concurrent realistic chat user at the same request rate is not. Only hashes
are kept, and the evidence is counts and shares, never text.
"""

from __future__ import annotations

import random
import sys
import time

import openai
import pytest

from goodstanding.abuse.distillation import Distillation, Finding, _Scope
from goodstanding.abuse.sketch import similarity, sketch
from goodstanding.abuse.timing import Timing
from goodstanding.settings import DistillationSettings

MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
CITIES = ["Lyon", "Osaka", "Denver", "Porto", "Leeds", "Hanoi", "Quito", "Perth", "Tampere"]
TOPICS = ["gardening", "tax returns", "a job interview", "sourdough", "my cat's diet", "Python",
          "a birthday gift", "learning piano", "a trip to Portugal", "SQL joins", "marathon",
          "a leaking tap", "quantum computing", "my landlord", "a wedding toast", "chess"]
OPENERS = ["Can you help me with", "I have a question about", "Explain briefly", "What should I",
           "Give me three tips on", "Why does everyone talk about", "Tell me more about",
           "How do beginners usually approach", "Is it worth spending money on"]
FOLLOW = ["thanks!", "go on", "why?", "and then?", "ok, shorter please",
          "that makes sense, but what about the cost of it over a whole year for a family",
          "could you rewrite that as a list with the most important point first",
          "my friend said the opposite yesterday, who is right and how can I check it myself"]


def extraction_prompt(i: int, rng: random.Random) -> str:
    return (f"Generate a JSON object for fictional customer number {i} living in "
            f"{rng.choice(CITIES)} with the fields name, email, age, city and a list of three "
            "recent purchases with prices in euros. Output only JSON.")


def chat_prompt(rng: random.Random) -> str:
    if rng.random() < 0.35:
        return rng.choice(FOLLOW)
    return f"{rng.choice(OPENERS)} {rng.choice(TOPICS)}? " + " ".join(
        rng.sample(["I", "am", "new", "to", "this", "and", "a", "bit", "confused", "about", "where", "to", "start", "today", "because", "my", "schedule", "is", "busy", "and", "money", "is", "tight", "this", "month"],
                   rng.randint(3, 12)))


def env(**extra: str) -> dict[str, str]:
    # at the tier's limit: both users send as fast as the (raised) limit lets them
    return {"GOODSTANDING_LIMITS__END_USER__RPM": "10000",
            "GOODSTANDING_LIMITS__END_USER__RPD": "100000",
            "GOODSTANDING_LIMITS__IP__RPM": "100000",
            "GOODSTANDING_SIGNALS__DISTILLATION__MIN_REQUESTS": "30",
            "GOODSTANDING_SIGNALS__DISTILLATION__LIKELY_REQUESTS": "90", **extra}


def test_an_extraction_run_is_flagged_then_throttled_and_a_busy_chat_user_is_not(
        start_gateway, sim):
    gw = start_gateway(**env())
    client = gw.client()
    rng = random.Random(14)
    history: list[dict[str, str]] = []
    outcomes: list[str] = []
    for i in range(120):
        try:
            client.chat.completions.create(
                model=MODEL, safety_identifier="harvester",
                response_format={"type": "json_object"},
                messages=[{"role": "user", "content": extraction_prompt(i, rng)}])
            outcomes.append("ok")
        except openai.RateLimitError as exc:
            assert exc.response.headers["retry-after"]
            outcomes.append("throttled")
        # the chat user, at the same rate, with a growing conversation
        history = [*history[-6:], {"role": "user", "content": chat_prompt(rng)}]
        answer = client.chat.completions.create(model=MODEL, safety_identifier="chatter",
                                                messages=history)
        history.append({"role": "assistant", "content": answer.choices[0].message.content})
    time.sleep(0.4)
    rows = gw.store_call("query_audit")
    reasons = {(row["end_user"], r) for row in rows for r in row["reasons"]}
    assert ("harvester", "distillation:likely") in reasons
    assert not {r for user, r in reasons if user == "chatter" and r.startswith("distillation")}
    assert outcomes[:29] == ["ok"] * 29  # judged only after min_requests
    assert "throttled" in outcomes and outcomes.count("ok") < 60
    flagged = [row for row in rows if "distillation:likely" in row["reasons"]]
    assert flagged[-1]["scores"]["distillation_duplicate_share"] >= 0.6
    assert flagged[-1]["scores"]["distillation_structured_share"] == 1.0
    assert "customer" not in str([row["scores"] for row in rows])  # evidence, never text


def test_record_only_policy_lets_the_run_through(start_gateway, sim):
    gw = start_gateway(**env(GOODSTANDING_SIGNALS__DISTILLATION__LIKELY="record"))
    client = gw.client()
    rng = random.Random(1)
    for i in range(40):
        client.chat.completions.create(
            model=MODEL, safety_identifier="harvester", n=2,
            messages=[{"role": "user", "content": extraction_prompt(i, rng)}])
    assert sim.calls[CHAT] == 40
    time.sleep(0.4)
    assert any("distillation:likely" in row["reasons"] for row in gw.store_call("query_audit"))


def test_sketches_see_templates_not_conversation():
    rng = random.Random(3)
    a, b = sketch(extraction_prompt(1, rng)), sketch(extraction_prompt(2, rng))
    assert a and b and similarity(a, b) >= 0.5
    c, d = sketch(chat_prompt(rng) + " about sourdough"), sketch(
        "What should I pack for a trip to Portugal in winter with two kids?")
    assert c and d and similarity(c, d) < 0.5
    assert sketch("thanks!") is None


@pytest.mark.parametrize("users", [100_000])
def test_state_is_bounded_at_many_end_users(users):
    detector = Distillation(DistillationSettings(max_end_users=users))
    rng = random.Random(5)
    for n in range(users + 5000):
        detector.observe(f"t\nuser-{n}", None, "anonymous",
                         chat_prompt(rng) + " and more words here", False)
    assert len(detector.scopes) == users
    one = next(iter(detector.scopes.values()))
    size = sys.getsizeof(one) + sys.getsizeof(one.ring)
    assert size < 400  # bytes per end user, before the dict entry


def _judged_in_full(detector: Distillation, scope, kind: str, tier: str, now: float) -> list:
    """The findings with every test on the sliding estimate (the judge before its shortcuts),
    as reference for the shortcuts' property test."""
    found = []
    detector._judge_counts(scope, kind, tier, now,
                           detector.settings.volume_floor if kind == "user"
                           else detector.settings.key_volume_floor, found)
    timing = scope.timing
    s = detector.settings
    if timing is not None and timing.gaps >= s.timing_min_requests and \
            timing.cv() <= s.timing_max_cv and timing.active_hours(now) >= s.timing_hours:
        found.append(Finding("machine_timing", "suspected", kind, (
            ("gaps", timing.gaps), ("gap_cv", round(timing.cv(), 3)),
            ("mean_gap_seconds", round(timing.mean, 3)),
            ("active_hours", timing.active_hours(now)))))
    return found


def test_the_judges_shortcuts_find_what_the_full_estimate_finds():
    """A busy scope with nothing to find skips the sliding estimate (raw counts bound it):
    on random counts and timings, the shortcuts never change a finding."""
    settings = DistillationSettings(min_requests=20, volume_floor=200, key_volume_floor=400,
                                    long_requests=30, timing_min_requests=50, timing_hours=1)
    detector = Distillation(settings, clock=lambda: 6000.0)
    rng = random.Random(18)
    fired = 0
    for _ in range(20_000):
        scope = _Scope(10)
        scope.ct, scope.pt = rng.randrange(500), rng.randrange(500)
        scope.cj, scope.pj = min(scope.ct, rng.randrange(100)), min(scope.pt, rng.randrange(100))
        scope.cd, scope.pd = rng.randrange(scope.cj + 1), rng.randrange(scope.pj + 1)
        scope.cs, scope.ps = rng.randrange(scope.ct + 1), rng.randrange(scope.pt + 1)
        scope.cl, scope.pl = rng.randrange(scope.ct + 1), rng.randrange(scope.pt + 1)
        if rng.random() < 0.5:
            scope.timing = timing = Timing(5000.0)
            timing.gaps, timing.mean = rng.randrange(100), rng.choice((0.0, 1.0, 2.0))
            timing.var = rng.random() * 0.5
        kind = rng.choice(("user", "key"))
        now = 6000.0 + rng.random() * 600
        expected = _judged_in_full(detector, scope, kind, "standard", now)
        assert detector._judge(scope, kind, "standard", now, scope.ct + scope.pt) == expected
        fired += bool(expected)
    assert 1000 < fired < 19_000  # both paths were exercised
