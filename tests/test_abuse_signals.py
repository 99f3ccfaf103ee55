"""Issue 14's remaining detectors, through a real gateway and the official SDK where a client
sees them: distillation per virtual key, long generations from short prompts, a key used from
a country it never used, and every signal per end user and per key in the admin API. Volume
against the tier's norm and machine timing need hours of traffic: they run on an injected
clock against the detector itself."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

import httpx

from goodstanding.abuse import distillation
from goodstanding.abuse.distillation import (
    JUDGE_FROM,
    KEY_SAMPLE,
    SAMPLE_FROM,
    Distillation,
    Finding,
)
from goodstanding.settings import DistillationSettings
from tests.conftest import _make_key
from tests.test_distillation import chat_prompt, extraction_prompt

MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
ADMIN = "admin-token-0123456789abcdef"
PROXIED = {"GOODSTANDING_TRUSTED_PROXIES": "127.0.0.0/8"}


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reasons_by(gw: Any, column: str) -> dict[str, set[str]]:
    time.sleep(0.4)  # answers' records are flushed in the background
    found: dict[str, set[str]] = {}
    for row in gw.store_call("query_audit", limit=10_000):
        found.setdefault(row[column], set()).update(row["reasons"])
    return found


def env(**extra: str) -> dict[str, str]:
    return {"GOODSTANDING_LIMITS__END_USER__RPM": "10000",
            "GOODSTANDING_LIMITS__END_USER__RPD": "100000",
            "GOODSTANDING_LIMITS__IP__RPM": "100000",
            "GOODSTANDING_SIGNALS__DISTILLATION__MIN_REQUESTS": "30",
            "GOODSTANDING_SIGNALS__DISTILLATION__LIKELY_REQUESTS": "90", **extra}


def test_an_extraction_run_spread_over_end_users_is_flagged_on_its_key(start_gateway, sim):
    gw = start_gateway(**env())
    _, chat_token = asyncio.run(_make_key(gw.db_url, "chat-app"))
    harvester, app = gw.client(), gw.client(api_key=chat_token)
    rng = random.Random(7)
    history: dict[int, list[dict[str, str]]] = {}
    for i in range(80):
        # a new end-user id on every call: no end user's own window ever fills
        harvester.chat.completions.create(
            model=MODEL, safety_identifier=f"h-{i}", response_format={"type": "json_object"},
            messages=[{"role": "user", "content": extraction_prompt(i, rng)}])
        # a busy chat app on one key, at the same rate: a few dozen people talking
        person = rng.randrange(30)
        turns = history[person] = [*history.get(person, [])[-4:],
                                   {"role": "user", "content": chat_prompt(rng)}]
        answer = app.chat.completions.create(model=MODEL, safety_identifier=f"p-{person}",
                                             messages=turns)
        turns.append({"role": "assistant", "content": answer.choices[0].message.content})
    assert sim.calls[CHAT] == 160  # the key-level default is to record, not throttle
    by_key = reasons_by(gw, "key_id")
    assert "distillation:likely:key" in by_key[gw.key_id]
    chat_key = next(k for k in by_key if k != gw.key_id)
    assert not {r for r in by_key[chat_key] if r.startswith(("distillation", "machine"))}
    by_user = reasons_by(gw, "end_user")
    assert not any(r == "distillation:likely" for rs in by_user.values() for r in rs)
    flagged = [row for row in gw.store_call("query_audit", limit=10_000)
               if "distillation:likely:key" in row["reasons"]]
    scores = flagged[-1]["scores"]
    assert scores["key_distillation_duplicate_share"] >= 0.6
    assert scores["key_distillation_structured_share"] == 1.0
    assert scores["key_distillation_window_seconds"] == 600
    assert scores["key_distillation_example_hash"] > 0  # an example, by hash


def test_long_generations_from_short_prompts_at_volume_are_a_signal(start_gateway, sim):
    gw = start_gateway(**env(GOODSTANDING_SIGNALS__DISTILLATION__LONG_OUTPUT_TOKENS="300",
                             GOODSTANDING_SIGNALS__DISTILLATION__LONG_REQUESTS="10"))
    client = gw.client()
    for i in range(14):  # short, varied prompts; long answers
        client.chat.completions.create(
            model=MODEL, safety_identifier="writer",
            messages=[{"role": "user", "content": f"Write story number {i} please [[words:400]]"}])
        client.chat.completions.create(  # a chat user with short answers
            model=MODEL, safety_identifier="reader",
            messages=[{"role": "user", "content": f"Hello number {i} [[words:20]]"}])
    by_user = reasons_by(gw, "end_user")
    assert "distillation_long_output" in by_user["writer"]
    # the reader is not; the key they share is (half its calls are long generations)
    assert not {r for r in by_user["reader"] if r.startswith("distillation")} - {
        "distillation_long_output:key"}
    rows = [row for row in gw.store_call("query_audit", limit=10_000)
            if "distillation_long_output" in row["reasons"]]
    assert rows[-1]["scores"]["distillation_long_output_long_outputs"] >= 10


def test_a_busy_keys_volume_is_on_one_record_not_on_every_end_users(start_gateway, sim):
    """Past its volume floor an application's key is noted once a minute: its end users'
    calls go through clean, and the key's standing shows the one note."""
    gw = start_gateway(**env(GOODSTANDING_ADMIN_TOKEN=ADMIN,
                             GOODSTANDING_SIGNALS__DISTILLATION__KEY_VOLUME_FLOOR="20"))
    client = gw.client()
    rng = random.Random(5)
    for i in range(60):  # 60 people, one varied message each
        client.chat.completions.create(model=MODEL, safety_identifier=f"person-{i}",
                                       messages=[{"role": "user", "content": chat_prompt(rng)}])
    assert sim.calls[CHAT] == 60
    time.sleep(1.5)  # records and standing counts are flushed in the background
    rows = gw.store_call("query_audit", limit=10_000)
    noted = [row for row in rows if "distillation_volume:key" in row["reasons"]]
    assert len(rows) == 60 and len(noted) == 1
    assert noted[0]["end_user"] == "person-19"  # the key's 20th call
    assert noted[0]["scores"]["key_distillation_volume_requests"] == 20
    admin = httpx.Client(base_url=f"{gw.url}/admin/api",
                         headers={"authorization": f"Bearer {ADMIN}"})
    key = {s["signal"]: s for s in admin.get(f"/keys/{gw.key_id}/signals").json()["signals"]}
    assert key["distillation_volume"]["last_hour"] == 1
    later = admin.get("/users/person-40/signals").json()
    assert all(s["last_24h"] == 0 for s in later["signals"])


def test_a_key_used_from_a_country_it_never_used_is_flagged(start_gateway, sim):
    gw = start_gateway(**PROXIED, GOODSTANDING_SIGNALS__KEY_FANOUT__LEARN="0s")

    def ask(address: str, end_user_ip: str | None = None) -> None:
        headers = {"X-Forwarded-For": address}
        if end_user_ip:
            headers["X-End-User-IP"] = end_user_ip
        gw.client(default_headers=headers).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], safety_identifier="u1")

    ask("8.8.8.8")  # US: the key's first country is its home, not a signal
    ask("8.8.4.4")
    ask("8.8.4.4", end_user_ip="133.242.0.3")  # its end users' countries do not count
    ask("133.242.0.3")  # JP: never used by this key
    ask("133.242.0.3")  # once per country: it is home now
    time.sleep(0.4)
    rows = gw.store_call("query_audit", limit=100)
    found = [r for row in rows for r in row["reasons"] if r.startswith("key_new_country")]
    assert found == ["key_new_country:JP"], [(row["client_ip"], row["reasons"]) for row in rows]
    assert sim.calls[CHAT] == 5


def test_the_new_country_signal_can_suspend_the_key(start_gateway, sim):
    import openai
    import pytest

    gw = start_gateway(**PROXIED, GOODSTANDING_SIGNALS__KEY_FANOUT__LEARN="0s",
                       GOODSTANDING_SIGNALS__KEY_FANOUT__NEW_COUNTRY_ACTION="suspend")
    client = gw.client(default_headers={"X-Forwarded-For": "8.8.8.8"})
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                   safety_identifier="u1")
    with pytest.raises(openai.AuthenticationError) as caught:
        gw.client(default_headers={"X-Forwarded-For": "81.2.69.142"}).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], safety_identifier="u1")
    assert "country it never used" in caught.value.message
    assert gw.store_call("get_key", gw.key_id).revoked_at is not None


def test_every_signal_is_visible_per_end_user_and_per_key(start_gateway, sim):
    gw = start_gateway(**env(GOODSTANDING_ADMIN_TOKEN=ADMIN,
                             GOODSTANDING_SIGNALS__DISTILLATION__LIKELY="record"))
    client = gw.client()
    rng = random.Random(2)
    # first: a key-level finding is on the record of the call that carries it, whoever sent it
    client.chat.completions.create(model=MODEL, safety_identifier="quiet",
                                   messages=[{"role": "user", "content": "hello there"}])
    for i in range(50):  # judged from the 10th (JUDGE_FROM): flagged from the 39th
        client.chat.completions.create(
            model=MODEL, safety_identifier="harvester", n=2,
            messages=[{"role": "user", "content": extraction_prompt(i, rng)}])
    time.sleep(1.5)  # the standing counts are flushed once a second
    admin = httpx.Client(base_url=f"{gw.url}/admin/api",
                         headers={"authorization": f"Bearer {ADMIN}"})
    user = admin.get("/users/harvester/signals").json()
    counts = {s["signal"]: s for s in user["signals"]}
    assert {"distillation", "distillation_volume", "distillation_long_output",
            "machine_timing", "key_fanout", "key_new_country", "traffic_spike",
            "ramp_shed"} <= set(counts)
    assert counts["distillation"]["last_hour"] >= 10
    assert counts["distillation"]["last_24h"] >= counts["distillation"]["last_hour"]
    evidence = user["detectors"]["distillation"]
    assert evidence["requests"] == 50 and evidence["judged_prompts"] == 41
    assert evidence["duplicate_share"] >= 0.6
    assert evidence["structured_share"] == 1.0
    quiet = admin.get("/users/quiet/signals").json()
    assert all(s["last_24h"] == 0 for s in quiet["signals"])
    key = admin.get(f"/keys/{gw.key_id}/signals").json()
    assert key["kind"] == "key" and key["id"] == gw.key_id
    assert {s["signal"]: s for s in key["signals"]}["distillation"]["last_hour"] >= 10
    evidence = key["detectors"]["distillation"]
    # the key's first nine calls ("hello there" among them) are not judged
    assert evidence["requests"] == 51 and evidence["judged_prompts"] == 42
    assert "customer" not in str(user) + str(key)  # counts and hashes, never text
    assert admin.get("/keys/nosuchkey/signals").status_code == 404
    paths = admin.get("/openapi.json").json()["paths"]
    assert {"/admin/api/users/{end_user}/signals", "/admin/api/keys/{key_id}/signals"} <= set(paths)


# --- the detectors themselves, on an injected clock -------------------------------------------

def detector(clock: Clock, **settings: Any) -> Distillation:
    return Distillation(DistillationSettings(**settings), clock=clock)


def test_volume_far_above_the_tiers_norm_is_a_signal_and_the_norm_is_not():
    clock = Clock()
    found = detector(clock, window="10m", volume_floor=100, volume_factor=10)
    rng = random.Random(4)
    for _ in range(2):  # two windows of 40 ordinary end users sending 20 each: the norm
        for n in range(40):
            for _ in range(20):
                assert not found.observe(f"t\nuser-{n}", None, "verified", chat_prompt(rng),
                                         False)
        clock.now += 600
    for _ in range(20):  # a new window: everyone sends their first again
        for n in range(40):
            found.observe(f"t\nuser-{n}", None, "verified", chat_prompt(rng), False)
    signals = []
    for _ in range(260):  # one end user at 13 × the norm
        signals += found.observe("t\nbulk", None, "verified", chat_prompt(rng), False)
    volume = [f for f in signals if f.signal == "distillation_volume"]
    assert volume and volume[0].scope == "user"
    evidence = dict(volume[-1].evidence)
    assert evidence["requests"] == 260 and 15 <= evidence["tier_norm"] <= 25


def test_a_scope_is_judged_from_its_tenth_call_in_the_window():
    clock = Clock(0.0)
    found = detector(clock, window="10m")
    rng = random.Random(4)
    for i in range(JUDGE_FROM - 1):
        found.observe("t\nh", None, "anonymous", extraction_prompt(i, rng), True)
    evidence = found.evidence("u:t\nh")
    assert evidence is not None and evidence["requests"] == JUDGE_FROM - 1
    assert evidence["judged_prompts"] == 0  # no sketch was made
    found.observe("t\nh", None, "anonymous", extraction_prompt(JUDGE_FROM, rng), True)
    assert found.evidence("u:t\nh")["judged_prompts"] == 1


def busy_key(monkeypatch: Any, sample_from: int) -> tuple[list[Finding], dict[str, Any]]:
    """3 000 calls of one key in a window from 500 end users (6 each: none is judged), 70 %
    of them one template."""
    monkeypatch.setattr(distillation, "SAMPLE_FROM", sample_from)
    clock = Clock(0.0)
    found = detector(clock, window="10m", min_requests=30)
    rng = random.Random(6)
    signals: list[Finding] = []
    for n in range(3000):
        clock.now = n * 0.1
        templated = rng.random() < 0.7
        text = extraction_prompt(n, rng) if templated else chat_prompt(rng) + " and a few more"
        signals += found.observe(f"t\nuser-{n % 500}", "key-1", "standard", text, templated)
    assert found.evidence("u:t\nuser-7")["judged_prompts"] == 0
    evidence = found.evidence("k:key-1")
    assert evidence is not None
    return signals, evidence


def test_a_busy_key_judges_a_sample_and_still_sees_its_template(monkeypatch):
    signals, sampled = busy_key(monkeypatch, SAMPLE_FROM)
    # calls 10..999 all, then one in KEY_SAMPLE: 1000, 1008, ... 3000
    after = (3000 - SAMPLE_FROM) // KEY_SAMPLE + 1
    assert sampled["requests"] == 3000
    assert sampled["judged_prompts"] == SAMPLE_FROM - JUDGE_FROM + after
    _, full = busy_key(monkeypatch, 10**9)  # every prompt judged
    assert full["judged_prompts"] == 3000 - JUDGE_FROM + 1
    # the sample's share estimates the whole one's: a template at 70 % of the traffic is
    # matched by one of the four sampled before it as often as by one of the four calls before
    assert abs(sampled["duplicate_share"] - full["duplicate_share"]) < 0.05
    assert full["duplicate_share"] >= 0.6
    # the key's verdict, noted when it was raised (then once a minute while it holds)
    noted = [f for f in signals if f.signal == "distillation" and f.scope == "key"]
    assert noted and noted[-1].level == "likely"


def test_a_keys_recorded_findings_are_noted_once_a_minute_and_at_once_when_new():
    """An application's key past its volume floor: the finding describes the key, so it is on
    one call a minute, not on each of its end users' calls; a throttling policy still acts on
    every call."""
    clock = Clock(0.0)
    found = detector(clock, window="10m", min_requests=30, key_volume_floor=50)
    rng = random.Random(8)
    noted: list[tuple[int, str]] = []
    for n in range(1200):  # 2 calls a second for 10 minutes, varied, from 600 end users
        clock.now = n * 0.5
        noted += [(n, f.reason) for f in found.observe(f"t\nuser-{n % 600}", "key-1",
                                                        "standard", chat_prompt(rng), False)]
    volume = [n for n, reason in noted if reason == "distillation_volume:key"]
    assert volume[0] == 49  # its 50th call: at once
    assert [b - a for a, b in itertools.pairwise(volume)] == [120] * (len(volume) - 1)
    assert len(volume) == 10
    # a new finding on a quiet key is noted at once: a template from the start, its verdict
    # raised from suspected to likely within the quiet minute after the volume's note
    clock = Clock(0.0)
    found = detector(clock, window="10m", min_requests=30, likely_requests=90,
                     key_volume_floor=50)
    noted = []
    for n in range(200):
        clock.now = n * 0.5
        noted += [(n, f.reason) for f in found.observe(f"t\nuser-{n}", "key-1", "standard",
                                                        extraction_prompt(n, rng), False)]
    first = {}
    for n, reason in noted:
        first.setdefault(reason, n)
    assert first["distillation:suspected:key"] < first["distillation_volume:key"] == 49
    assert 49 < first["distillation:likely:key"] < 49 + 120  # not a minute later
    # the calls that noted something: the new verdicts' and the first volume's only
    assert sorted({n for n, _ in noted}) == sorted({first["distillation:suspected:key"], 49,
                                                    first["distillation:likely:key"]})
    # throttle on key volume: every call past the floor carries the finding, to act on it
    clock = Clock(0.0)
    found = detector(clock, window="10m", key_volume_floor=50, volume="throttle")
    carried = 0
    for n in range(300):
        clock.now = n * 0.5
        carried += any(f.signal == "distillation_volume" for f in found.observe(
            f"t\nuser-{n}", "key-1", "standard", chat_prompt(rng), False))
    assert carried == 300 - 49


def test_a_key_finding_flickering_at_its_threshold_is_noted_once_a_minute():
    found = detector(Clock(0.0))
    scope = found._scope("k:key-1", 0, "key", "standard")
    timing = Finding("machine_timing", "suspected", "key", (("gaps", 1000.0),))
    at = [t for t in (0.0, 5.0, 10.0, 15.0, 59.0, 61.0)
          if found._note(scope, [timing] if t % 10 == 0 or t > 60 else [], t)]
    assert at == [0.0, 61.0]  # gone at 5 s, back at 10 s: not new


def test_the_window_slides():
    clock = Clock(0.0)
    found = detector(clock, window="10m", min_requests=30)
    rng = random.Random(1)
    for i in range(40):
        clock.now = 500 + i  # the end of one fixed window
        found.observe("t\nh", None, "anonymous", extraction_prompt(i, rng), True)
    clock.now = 700  # 100 s into the next: 5/6 of the last window still counts
    evidence = found.evidence("u:t\nh")
    assert evidence is not None and 32 <= evidence["requests"] <= 34


def regular_day(found: Distillation, clock: Clock, gap: Any, hours: int) -> list[str]:
    signals: list[str] = []
    end = clock.now + hours * 3600
    rng = random.Random(9)
    while clock.now < end:
        clock.now += gap()
        signals += [f.signal for f in found.observe(None, "key-1", "anonymous",
                                                    chat_prompt(rng) + " words", False)]
    return signals


def test_round_the_clock_machine_regular_timing_is_a_signal():
    clock = Clock()
    found = detector(clock, volume_floor=10**6, key_volume_floor=10**6)
    jitter = random.Random(3)
    signals = regular_day(found, clock, lambda: 20 + jitter.uniform(-2, 2), 25)
    assert "machine_timing" in signals


def test_people_round_the_clock_or_a_regular_script_by_day_are_not():
    clock = Clock()
    found = detector(clock, volume_floor=10**6, key_volume_floor=10**6)
    arrivals = random.Random(8)
    # a busy application: many people, random arrivals (CV about 1), all day and night
    assert "machine_timing" not in regular_day(found, clock, lambda: arrivals.expovariate(1 / 5), 25)
    clock = Clock()
    found = detector(clock, volume_floor=10**6, key_volume_floor=10**6)
    # a regular script in office hours only: 8 hours a day
    assert "machine_timing" not in regular_day(found, clock, lambda: 5.0, 8)
