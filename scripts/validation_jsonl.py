"""Write the training script's validation split as `goodstanding eval` JSONL (SPEC §5).

    python scripts/validation_jsonl.py > /tmp/val.jsonl     # content warning: harmful text
    goodstanding eval /tmp/val.jsonl            # always-on layer
    goodstanding eval /tmp/val.jsonl --full     # full layer

Same rows and split as `train_detectors.py` (same seed). A row's unlabelled categories are
`unknown` (not scored); rows that name no category and leave some unlabelled (jailbreak prompts,
injected emails) score only `jailbreak`. sexual/minors is never labelled (it is a rule).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_detectors as td

from goodstanding.detect.categories import JAILBREAK, MINORS, MODEL_CATEGORIES


def line(r: dict) -> dict:
    labels, out = r["labels"], {"text": r["text"]}
    named = [c for c in MODEL_CATEGORIES if labels.get(c) == 1]
    unknown = [c for c in MODEL_CATEGORIES if c not in labels]
    if named or not unknown:
        out |= {"categories": named, "unknown": [*unknown, MINORS]}
    if JAILBREAK in labels:
        out["jailbreak"] = bool(labels[JAILBREAK])
    return out


def main() -> int:
    rows = td.load_rows(td.DEFAULT_DATA, random.Random(td.SEED))
    for r in rows:
        if r["split"] == "val":
            print(json.dumps(line(r)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
