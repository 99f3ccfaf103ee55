"""`goodstanding eval DATASET.jsonl [--full] [--json]` (SPEC §5).

Each line: {"text": ..., "categories": [...], "flagged": bool, "jailbreak": bool,
"unknown": [...]}. `categories` uses OpenAI's names (empty = benign); `flagged` defaults to
whether `categories` is non-empty; a missing `jailbreak` or `flagged` key (when `categories` is
absent too), or a category named in `unknown`, is not scored for that line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from goodstanding.detect.categories import CATEGORIES
from goodstanding.detect.detectors import Detectors, Screen, load_detectors
from goodstanding.detect.metrics import figures

if TYPE_CHECKING:
    from goodstanding.detect.full import FullLayer

PROGRESS_EVERY = 500


class EvalError(Exception):
    """A dataset problem, reported in one line without a traceback."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    categories: frozenset[str] | None  # None: the line names no categories, none scored
    unknown: frozenset[str]
    flagged: bool | None
    jailbreak: bool | None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", type=Path, metavar="DATASET",
                        help="labelled JSONL file: one {text, categories} object a line")
    parser.add_argument("--full", action="store_true",
                        help="score the full local layer (needs the [full] extra)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    try:
        examples = read_dataset(args.dataset)
    except EvalError as e:
        print(f"goodstanding eval: {e}", file=sys.stderr)
        return 2
    try:
        layer = _layer(args.full)
    except ImportError as e:  # the full layer without the `full` extra: names the pip command
        print(f"goodstanding eval: {e}", file=sys.stderr)
        return 2
    screens, seconds = _score(examples, layer)
    result = summarise(examples, screens, seconds, layer)
    print(json.dumps(result) if args.json else render(result))
    return 0


# --- reading ---------------------------------------------------------------------------------

def read_dataset(path: Path) -> list[Example]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    examples = [parse_line(line, n) for n, line in enumerate(lines, 1) if line.strip()]
    if not examples:
        raise EvalError(f"{path}: no examples")
    return examples


def parse_line(line: str, n: int) -> Example:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise EvalError(f"line {n}: invalid JSON ({e.msg})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise EvalError(f'line {n}: expected an object with a string "text"')
    cats = _names(obj, "categories", n) if "categories" in obj else None
    flagged = obj.get("flagged", bool(cats) if cats is not None else None)
    return Example(obj["text"], cats, _names(obj, "unknown", n),
                   _bool(flagged, "flagged", n), _bool(obj.get("jailbreak"), "jailbreak", n))


def _names(obj: dict, key: str, n: int) -> frozenset[str]:
    value = obj.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EvalError(f'line {n}: "{key}" must be a list of category names')
    bad = [v for v in value if v not in CATEGORIES]
    if bad:
        raise EvalError(f'line {n}: unknown category "{bad[0]}" in "{key}"')
    return frozenset(value)


def _bool(value, key: str, n: int) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise EvalError(f'line {n}: "{key}" must be true or false')
    return value


# --- scoring ---------------------------------------------------------------------------------

def _layer(full: bool) -> Detectors | FullLayer:
    if full:
        from goodstanding.detect.full import load_full_layer

        return load_full_layer()
    return load_detectors()


def _score(examples: list[Example], layer: Detectors | FullLayer) -> tuple[list[Screen], float]:
    from goodstanding.commands.output import Progress

    start, screens = time.perf_counter(), []
    texts = [e.text for e in examples]
    # in place on a terminal; a plain line every few seconds in a log or a pipe
    progress = Progress(len(texts), "scored") if len(texts) > PROGRESS_EVERY else None
    for i in range(0, len(texts), PROGRESS_EVERY):
        batch = texts[i:i + PROGRESS_EVERY]
        if isinstance(layer, Detectors):
            screens += [layer.screen(t) for t in batch]
        else:
            screens += layer.screen(batch)
        if progress is not None:
            progress.update(len(screens))
    if progress is not None:
        progress.close()
    return screens, time.perf_counter() - start


def summarise(examples: list[Example], screens: list[Screen], seconds: float,
              det: Detectors | FullLayer | None = None) -> dict:
    """SPEC §5's figures, at the thresholds of the layer that scored (`det`; default: the
    always-on layer)."""
    det = det or load_detectors()
    out: dict = {"n": len(examples), "categories": {}}
    for c in CATEGORIES:
        rows = [(s.category_scores[c], c in e.categories)
                for e, s in zip(examples, screens)
                if e.categories is not None and c not in e.unknown]
        if any(y for _, y in rows):  # a category never present says nothing: omitted
            out["categories"][c] = _figures(rows, det.thresholds[c])
    flagged = [(_flag_score(s, det.thresholds), e.flagged)
               for e, s in zip(examples, screens) if e.flagged is not None]
    jail = [(s.jailbreak, e.jailbreak) for e, s in zip(examples, screens) if e.jailbreak is not None]
    for key, rows, threshold in (("flagged", flagged, 0.5),
                                 ("jailbreak", jail, det.jailbreak_threshold)):
        if rows:
            out[key] = _figures(rows, threshold)
    out["texts_per_second"] = round(len(examples) / max(seconds, 1e-9), 1)
    return out


def _flag_score(s: Screen, thresholds: dict[str, float]) -> float:
    """One score for "any category": the highest score relative to its threshold, mapped so
    that reaching a threshold is 0.5 (which is what `flagged` means)."""
    ratio = max(s.category_scores[c] / thresholds[c] for c in CATEGORIES)
    return min(ratio / 2, 1.0)


def _figures(rows: list[tuple[float, bool]], threshold: float) -> dict:
    scores = np.array([r[0] for r in rows], dtype=np.float64)
    labels = np.array([r[1] for r in rows], dtype=bool)
    return figures(scores, labels, threshold).as_dict()


# --- rendering -------------------------------------------------------------------------------

def render(result: dict) -> str:
    head = f"{'':24} {'pos':>6} {'neg':>6} {'prec':>6} {'recall':>6} {'f1':>6} {'auprc':>6}"
    lines = [f"{result['n']} examples", head]
    rows = [*result["categories"].items()]
    rows += [(k, result[k]) for k in ("flagged", "jailbreak") if k in result]
    for name, f in rows:
        auprc = "-" if f["auprc"] is None else f"{f['auprc']:.3f}"
        lines.append(f"{name:24} {f['n_pos']:>6} {f['n_neg']:>6} {f['precision']:>6.3f} "
                     f"{f['recall']:>6.3f} {f['f1']:>6.3f} {auprc:>6}")
    lines.append(f"texts/s: {result['texts_per_second']}")
    return "\n".join(lines)
