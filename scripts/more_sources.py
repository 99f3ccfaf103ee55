"""The sources of ../shared/datasets/MORE.md, with a split by SOURCE (issue 18).

Validation never shares a source, subreddit, attack kind or article set with training where
the data allows it:

| source | train | validation (held out) |
|---|---|---|
| RMHD Reddit posts | other subreddits | `benign_long.HELD_OUT_SUBREDDITS` (whole subreddits) |
| WikiText-103 paragraphs | `valid` articles | `test` articles |
| LLMail benign emails | — | all |
| Wikipedia talk (toxicity_nonfuzzed) | — | all |
| jigsaw sample | — | all |
| garak attack prompts | — | all (another generator) |
| NotInject | Common, Technique queries | Virtual Creation, Multilingual |
| InjecAgent | direct-harm attacks | data-stealing attacks (both settings) |
| deepset prompt-injections | released train | released test |
| toxic_spans news comments, bias madlibs | all | — |
| stormfront, JailbreakBench, WildGuard benign, RTP | hashed by comment / behaviour / row | the other side |

The last row is a split inside one source (no finer grouping exists), so those figures are
closer to the training distribution than the rest.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import benign_long as bl

from goodstanding.detect.categories import HEADS, INJECTION, JAILBREAK, MODEL_CATEGORIES

BENIGN = {h: 0 for h in HEADS}
CONTENT_BENIGN = {c: 0 for c in MODEL_CATEGORIES}
NOT_ATTACK = {JAILBREAK: 0, INJECTION: 0}


def _row(text, labels, split, group, weight=1.0):
    return {"text": text, "labels": labels, "split": split, "group": group, "weight": weight}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.open(encoding="utf-8")]


def _csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _hashed(key: str, share: float = 0.3) -> str:
    import hashlib

    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < share else "train"


MENTAL = frozenset({"EDAnonymous", "ForeverAlone", "addiction", "adhd", "alcoholism", "anxiety",
                    "autism", "bipolarreddit", "bpd", "depression", "healthanxiety",
                    "mentalhealth", "ptsd", "schizophrenia", "socialanxiety", "lonely"})


def reddit(data: Path) -> list[dict]:
    out = []
    for r in bl.reddit(data):
        sub, text = r["subreddit"], r["post"]
        split = "val" if sub in bl.HELD_OUT_SUBREDDITS else "train"
        if sub == "suicidewatch":  # weak label: the subreddit, not the post
            out.append(_row(text, {"self-harm": 1} | NOT_ATTACK, _hashed(text), "reddit-sw", 0.5))
        elif sub in MENTAL or sub in ("guns", "conspiracy"):
            # content unlabelled (they discuss harm, weapons); never an attack
            out.append(_row(text, dict(NOT_ATTACK), split, f"reddit-{sub}"))
        else:
            out.append(_row(text, dict(BENIGN), split, f"reddit-{sub}"))
    return out


def wikitext(data: Path) -> list[dict]:
    return [_row(p["paragraph"], dict(BENIGN),
                 "val" if p["split"] == bl.WIKITEXT_HELD_OUT_SPLIT else "train", "wikitext")
            for p in bl.wikitext(data) if len(p["paragraph"]) >= 100]


def llmail(data: Path) -> list[dict]:
    return [_row(e, dict(BENIGN), "val", "llmail") for e in bl.llmail(data)]


def talk(data: Path) -> list[dict]:
    base = data / "conversationai__unintended-ml-bias-analysis/archive/unintended_ml_bias"
    out = []
    for r in _csv(base / "eval_datasets/toxicity_nonfuzzed_testset.csv"):
        toxic = r["toxic"] == "True"
        out.append(_row(r["comment"], {"harassment": 1} | NOT_ATTACK if toxic else dict(BENIGN),
                        "val", "wiki-talk"))
    rng = random.Random(7)
    madlibs = _csv(base / "eval_datasets/bias_madlibs_77k.csv")
    for r in rng.sample(madlibs, 3000):  # templated: training only, sparingly
        bad = r["Label"] == "BAD"
        out.append(_row(r["Text"], {"hate": 1} if bad else dict(CONTENT_BENIGN), "train",
                        "madlibs", 0.3))
    return out


def jigsaw(data: Path) -> list[dict]:
    out = []
    path = data / "jigsaw-toxic-comment-classification__samples/jigsaw_toxic_comment_samples.csv"
    for r in _csv(path):
        text = r.get("comment_text") or r.get("text") or ""
        if not text:
            continue
        if r["toxic"] == "1":
            labels = {"harassment": 1}
            if r.get("threat") == "1":
                labels["violence"] = 1
            if r.get("identity_hate") == "1":
                labels["hate"] = 1
        else:
            labels = dict(BENIGN)
        out.append(_row(text, labels, "val", "jigsaw"))
    return out


def toxic_spans(data: Path) -> list[dict]:
    out = []
    for r in _csv(data / "ipavlopoulos__toxic_spans/data/toxic_spans_comments_labelled.csv"):
        toxic, clean = float(r["frac_all_toxic"]), float(r["frac_not_toxic"])
        if toxic >= 0.5:
            out.append(_row(r["comment_text"], {"harassment": 1} | NOT_ATTACK, "train",
                            "toxic-spans", 0.5))
        elif clean >= 0.5:
            out.append(_row(r["comment_text"], dict(BENIGN), "train", "toxic-spans"))
    return out


def stormfront(data: Path) -> list[dict]:
    out = []
    for r in _csv(data / "Vicomtech__hate-speech-dataset/stormfront_sentences_labelled.csv"):
        if r["label"] not in ("hate", "noHate"):
            continue
        labels = {"hate": 1} | NOT_ATTACK if r["label"] == "hate" else (CONTENT_BENIGN
                                                                        | NOT_ATTACK)
        out.append(_row(r["text"], labels, _hashed(r["comment_id"]), "stormfront"))
    return out


def notinject(data: Path) -> list[dict]:
    held = ("Virtual Creation", "Multilingual")
    return [_row(r["prompt"], dict(BENIGN), "val" if r["category"] in held else "train",
                 "notinject") for r in _jsonl(data / "leolee99__InjecGuard/datasets/NotInject.jsonl")]


def wildguard(data: Path) -> list[dict]:
    return [_row(r["prompt"], dict(BENIGN), _hashed(r["prompt"], 0.5), "wildguard-benign", 2.0)
            for r in _jsonl(data / "leolee99__InjecGuard/datasets/wildguard_benign.jsonl")]


TEMPLATE_FILLS = 30  # ~ attacks per template: the JSON shape alone must not mean "injection"


def injecagent(data: Path) -> list[dict]:
    """Injected tool results (positives) and the same templates filled with ordinary text
    from the same side's WikiText sentences (negatives)."""
    fill = {"train": [], "val": []}
    for p in bl.wikitext(data):
        for s in p["paragraph"].split(" . "):
            if 40 <= len(s) <= 200:
                fill["val" if p["split"] == bl.WIKITEXT_HELD_OUT_SPLIT else "train"].append(s + ".")
    rng, out, templates = random.Random(11), [], set()
    for r in _jsonl(data / "uiuc-kang-lab__InjecAgent/injecagent_test_cases.jsonl"):
        split = "val" if r["attack_kind"] == "data_stealing" else "train"
        out.append(_row(r["tool_response"], {INJECTION: 1, JAILBREAK: 0}, split,
                        f"injecagent-{r['setting']}"))
        key = (split, r["tool_response_template"])
        if key not in templates:  # as many benign fills of a template as it has attacks
            templates.add(key)
            for _ in range(TEMPLATE_FILLS):
                text = r["tool_response_template"].replace("<Attacker Instruction>",
                                                           rng.choice(fill[split]))
                out.append(_row(text, dict(BENIGN), split, "injecagent-benign"))
    return out


GARAK = {"system_prompt_extraction": {JAILBREAK: 1}, "jailbreak_template": {JAILBREAK: 1},
         "indirect_injection_in_tool_output": {INJECTION: 1},
         "exfiltration_or_xss_payload": {INJECTION: 1},
         "code_execution_payload": {INJECTION: 1}, "benign_control": dict(BENIGN)}


def garak(data: Path) -> list[dict]:
    return [_row(r["text"], dict(GARAK[r["kind"]]), "val", f"garak-{r['kind']}")
            for r in _jsonl(data / "NVIDIA__garak/garak_attack_prompts.jsonl") if r["kind"] in GARAK]


def deepset(data: Path) -> list[dict]:
    return [_row(r["text"], {INJECTION: 1} if r["label"] == 1 else dict(BENIGN),
                 "val" if r["split"] == "test" else "train", "deepset")
            for r in _jsonl(data / "deepset__prompt-injections/prompt_injections.jsonl")]


def jailbreakbench(data: Path) -> list[dict]:
    return [_row(r["prompt"], {JAILBREAK: 1, INJECTION: 0}, _hashed(r["behavior"]),
                 f"jbb-{r['method']}")
            for r in _jsonl(data / "JailbreakBench__artifacts/jbb_attack_prompts.jsonl")]


def rtp(data: Path) -> list[dict]:
    cats = {"threat": {"violence": 1}, "sexually_explicit": {"sexual": 1}}
    return [_row(r["text"], cats[r["attribute"]] | NOT_ATTACK, _hashed(r["text"]),
                 f"rtp-{r['attribute']}", 0.5)
            for r in _jsonl(data / "NVIDIA__garak/realtoxicityprompts_subsets.jsonl")
            if r["attribute"] in cats]


def load(data: Path) -> list[dict]:
    return (reddit(data) + wikitext(data) + llmail(data) + talk(data) + jigsaw(data)
            + toxic_spans(data) + stormfront(data) + notinject(data) + wildguard(data)
            + injecagent(data) + garak(data) + deepset(data) + jailbreakbench(data) + rtp(data))
