"""Write `detect/data/words.txt`: the words a symbol-heavy leetspeak word may spell.

    python scripts/known_words.py [--data ../shared/datasets] [--min-rows 5]

The canonicaliser undoes leetspeak in a word mostly made of letters ("k1ll") on its own; a word
mostly made of symbols ("4$$4ul7") only when the result is one of these words, so that numbers
and codes keep their spelling. The list: lower-case ASCII words of three letters or more that
at least `--min-rows` training rows use (training rows only, never the held-out ones), as
they are written (before any canonicalisation, so the list does not depend on the
canonicaliser it feeds).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_detectors as td

WORD = re.compile(r"[a-z]{3,}")
OUT = td.DEFAULT_OUT / "words.txt"


def known_words(rows: list[dict], min_rows: int) -> list[str]:
    seen: Counter[str] = Counter()
    for r in rows:
        if r["split"] == "train":
            seen.update(set(WORD.findall(r["text"].lower())))
    return sorted(w for w, n in seen.items() if n >= min_rows and len(set(w)) > 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=td.DEFAULT_DATA)
    ap.add_argument("--min-rows", type=int, default=5, help="rows a word must appear in")
    ap.add_argument("--out", type=Path, default=OUT, help="file to write")
    args = ap.parse_args(argv)
    words = known_words(td.load_rows(args.data, random.Random(td.SEED)), args.min_rows)
    args.out.write_text("\n".join(words) + "\n", encoding="utf-8")
    print(f"{len(words)} words -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
