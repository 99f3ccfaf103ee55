"""Validation figures of a layer (always-on or full) on the training script's validation split.

`report(rows, heads, rng)` scores the always-on layer built from `heads`; `layer_report(rows,
layer, screen, rng)` scores any layer: `layer` has the thresholds, `screen` scores a batch.
"""

from __future__ import annotations

import random

import detector_examples as ex
import numpy as np

from goodstanding.detect.categories import CATEGORIES, INJECTION, JAILBREAK, MODEL_CATEGORIES
from goodstanding.detect.detectors import Detectors
from goodstanding.detect.heads import Heads
from goodstanding.detect.lexicon import load_lexicon
from goodstanding.detect.metrics import figures, recall_at_fpr


def report(rows: list[dict], heads: Heads, rng: random.Random) -> dict:
    det = Detectors(heads, load_lexicon())
    return layer_report(rows, det, lambda texts: [det.screen(t) for t in texts], rng)


def layer_report(rows: list[dict], det, screen, rng: random.Random) -> dict:
    val = [r for r in rows if r["split"] == "val"]
    screens = screen([r["text"] for r in val])
    out = {"n_val": len(val), "categories": {}}
    for c in MODEL_CATEGORIES:
        s, y = _pairs(val, screens, c, lambda x, c=c: x.category_scores[c])
        if y.size and y.any():
            out["categories"][c] = figures(s, y, det.thresholds[c]).as_dict()
    out["flagged"] = _flagged(val, screens, det)
    for head, fpr in ((JAILBREAK, 0.01), (INJECTION, 0.05)):
        s, y = _pairs(val, screens, head, lambda x, h=head: getattr(x, h))
        out[head] = figures(s, y, getattr(det, f"{head}_threshold")).as_dict()
        out[head][f"recall_at_fpr_{fpr}"] = recall_at_fpr(s, y, fpr)
    safe = [x for r, x in zip(val, screens) if r["group"] in ("tpl-safe", "lookalike")]
    out["safe_lookalike_fpr"] = _rate(safe, lambda x: bool(x.flagged))
    out["safe_lookalike_any_fpr"] = _rate(safe, lambda x: x.any_flagged)
    out["safe_lookalike_n"] = len(safe)
    everyday = [x for r, x in zip(val, screens) if r["group"] == "benign"]
    out["benign_n"] = len(everyday)
    out["benign_flagged_fpr"] = _rate(everyday, lambda x: bool(x.flagged))
    out["benign_jailbreak_fpr"] = _rate(everyday, lambda x: x.jailbreak_flagged)
    out["benign_injection_fpr"] = _rate(everyday, lambda x: x.injection_flagged)
    out["benign_any_fpr"] = _rate(everyday, lambda x: x.any_flagged)
    out["obfuscation"] = _obfuscation(val, screen, rng)
    out["sources"] = _per_source(val, screens)
    return out


def _per_source(val, screens) -> dict:
    """Per validation source (row group): size, and for each head or 'content' (any
    category), positives and the share flagged among positives (recall) and negatives (FPR)."""
    groups: dict[str, list] = {}
    for r, x in zip(val, screens):
        groups.setdefault(r["group"], []).append((r, x))
    out = {}
    for g, pairs in sorted(groups.items()):
        entry = {"n": len(pairs)}
        for head, flag in ((JAILBREAK, lambda x: x.jailbreak_flagged),
                           (INJECTION, lambda x: x.injection_flagged),
                           ("content", lambda x: bool(x.flagged))):
            if head == "content":
                ys = [1 if _is_positive(r) else 0 if _is_benign(r) else None for r, _ in pairs]
            else:
                ys = [r["labels"].get(head) for r, _ in pairs]
            pos = [flag(x) for (_, x), y in zip(pairs, ys) if y == 1]
            neg = [flag(x) for (_, x), y in zip(pairs, ys) if y == 0]
            if pos:
                entry[f"{head}_recall"] = round(sum(pos) / len(pos), 4)
                entry[f"{head}_pos"] = len(pos)
            if neg:
                entry[f"{head}_fpr"] = round(sum(neg) / len(neg), 4)
                entry[f"{head}_neg"] = len(neg)
        out[g] = entry
    return out


def _rate(screens, flagged) -> float:
    return round(sum(map(flagged, screens)) / max(len(screens), 1), 4)


def _pairs(val, screens, head, score):
    pairs = [(score(x), r["labels"][head]) for r, x in zip(val, screens) if head in r["labels"]]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _is_positive(r):
    return any(r["labels"].get(c) == 1 for c in MODEL_CATEGORIES)


def _is_benign(r):
    return all(r["labels"].get(c) == 0 for c in MODEL_CATEGORIES)


def _flagged(val, screens, det):
    keep = [(r, x) for r, x in zip(val, screens) if _is_positive(r) or _is_benign(r)]
    s = np.array([max(x.category_scores[c] / det.thresholds[c] for c in CATEGORIES) / 2
                  for _, x in keep]).clip(0, 1)
    y = np.array([_is_positive(r) for r, _ in keep])
    return figures(s, y, 0.5).as_dict()


def _obfuscation(val, screen, rng):
    pos = [r for r in val if _is_positive(r)]
    clean = np.mean([bool(x.flagged) for x in screen([r["text"] for r in pos])])
    obf = np.mean([bool(x.flagged) for x in screen([ex.obfuscate(r["text"], rng) for r in pos])])
    return {"n": len(pos), "recall_clean": round(float(clean), 4),
            "recall_obfuscated": round(float(obf), 4), "drop": round(float(clean - obf), 4)}
