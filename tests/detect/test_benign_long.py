"""Innocent end users pasting long ordinary text are never refused nor struck by default.

The fixture (`data/benign_long.jsonl`, built by `scripts/benign_long.py`) holds forum posts
from subreddits held out of training (some wrapped in "summarise this"), WikiText-103 test
paragraphs (wars, crimes and storms included), LLMail's benign business emails and texts the
team wrote (code reviews, emails, replies, opinion pieces, apologies) — none of it trained on.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest

from goodstanding.detect import load_detectors
from goodstanding.simulate.ratelimit import Window

FIXTURE = Path(__file__).parent / "data" / "benign_long.jsonl"
TEXTS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def test_the_fixture_is_long_varied_text():
    sources = {t["source"].split("/")[0] for t in TEXTS}
    assert sources == {"reddit", "wikitext-103", "llmail", "written"}
    assert len(TEXTS) >= 150 and sum(len(t["text"]) >= 400 for t in TEXTS) >= 100


def test_default_gateway_never_refuses_nor_strikes_long_benign_text_on_a_detector(start_gateway, sim,
                                                                           monkeypatch):
    """Every request its own end user, so that one refusal cannot cascade into a ban. The
    simulated upstream's moderation (the decision of record, scored there by the local content
    heads) is counted apart: in production it is OpenAI's. Only the per-IP request rate is
    raised (every request comes from 127.0.0.1), and the simulated moderation's token budget
    (10k tokens a minute: these texts are long)."""
    monkeypatch.setattr(sim, "moderation_window", Window(requests_per_min=10_000,
                                                         tokens_per_min=100_000_000))
    gw = start_gateway(GOODSTANDING_LIMITS__IP__RPM="100000")
    client = gw.client()
    refused = []
    for i, item in enumerate(TEXTS):
        try:
            client.chat.completions.create(
                model="gpt-4o-mini", safety_identifier=f"user-{i}",
                messages=[{"role": "user", "content": item["text"]}])
        except openai.APIStatusError as exc:
            refused.append((i, exc.code))
    time.sleep(0.3)
    rows = gw.store_call("query_audit", limit=1000)
    assert len(rows) == len(TEXTS)
    # a detector's flag may sit next to moderation's refusal; no refusal is the detectors' own
    refusals = [r["reasons"] for r in rows if r["decision"] == "refused"]
    assert all(any(str(x).startswith("moderation:") for x in reasons) for reasons in refusals), \
        refusals
    assert len(refusals) == len(refused), (refused, [r["decision"] for r in rows])
    struck = {i for i, _ in refused}
    for i in range(len(TEXTS)):
        strikes = gw.store_call("strikes_of", "test-app", f"user-{i}") if i in struck else []
        assert not [s for s in strikes if "jailbreak" in s.reason or "injection" in s.reason]
    assert all(code == "content_policy_violation" for _, code in refused)
    assert len(refused) <= MAX_MODERATION_REFUSALS
    assert sim.calls["/v1/chat/completions"] == len(TEXTS) - len(refused)


@pytest.mark.parametrize("source", ["reddit", "wikitext-103", "llmail", "written"])
def test_the_jailbreak_and_injection_heads_never_flag_this_long_benign_text(source):
    """Flags punish no one by default, but on these held-out sources the retrained heads
    raise none (before issue 18: 52 of 176 jailbreak flags, 39 of the 80 posts)."""
    detectors = load_detectors()
    texts = [t["text"] for t in TEXTS if t["source"].startswith(source)]
    screens = [detectors.screen(t) for t in texts]
    assert [s.jailbreak for s in screens if s.jailbreak_flagged] == []
    assert [s.injection for s in screens if s.injection_flagged] == []


# the simulated moderation's refusals (the local content heads on these texts: divorce and
# legal-advice posts about sex, shoplifting, fights); measured 8 (docs/detectors.md)
MAX_MODERATION_REFUSALS = 8
