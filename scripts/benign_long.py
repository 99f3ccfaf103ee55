"""The held-out long benign texts: a test fixture and the sources training must never see.

    python scripts/benign_long.py [--data ../shared/datasets] > tests/detect/data/benign_long.jsonl

Whole sources are held out from training (`scripts/train_detectors.py` imports the constants
below): the Reddit subreddits in `HELD_OUT_SUBREDDITS`, WikiText-103's test split, every LLMail
benign email, and the team's written texts (`written_benign.py`). The fixture is a fixed sample
of them: forum posts (some wrapped in "summarise this"), encyclopedic paragraphs, business
emails, code reviews, opinion pieces, apologies. Licences: RMHD (ODC-PDDL), WikiText-103
(CC-BY-SA-3.0, Wikipedia), LLMail (MIT, Microsoft).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from written_benign import WRITTEN

def _default_data() -> Path:
    """``../shared/datasets`` relative to the repo (or to a worktree one level deeper)."""
    repo = Path(__file__).resolve().parents[1]
    found = [p / "shared" / "datasets" for p in (repo.parent, repo.parent.parent)]
    return next((p for p in found if p.is_dir()), found[0])


DEFAULT_DATA = _default_data()
# Reddit: held out for validation and tests, by whole subreddit
HELD_OUT_SUBREDDITS = frozenset({"legaladvice", "teaching", "divorce", "ukpolitics", "lonely",
                                  "ptsd", "bpd", "healthanxiety"})
CONTROL_SUBREDDITS = frozenset({"personalfinance", "UKPersonalFinance", "guns", "conspiracy",
                                "mindfulness", "unitedkingdom", "legaladvice", "teaching",
                                "divorce", "ukpolitics"})
WIKITEXT_HELD_OUT_SPLIT = "test"
WRAPPERS = ("Summarise this post for me:\n\n", "Can you give me the gist of this?\n\n",
            "TL;DR please:\n\n", "What is this person asking? {}\n", "")


def reddit(data: Path) -> list[dict]:
    path = data / "danielmlow__reddit/rmhd_27subreddits_260posts.csv"
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def wikitext(data: Path) -> list[dict]:
    path = data / "salesforce__wikitext-103/wikitext103_test_valid_paragraphs.jsonl"
    return [json.loads(x) for x in path.open(encoding="utf-8")]


def llmail(data: Path) -> list[str]:
    path = data / "microsoft__llmail-inject-challenge/benign_emails.jsonl"
    return [json.loads(x)["email"] for x in path.open(encoding="utf-8")]


def fixture(data: Path, seed: int = 18) -> list[dict]:
    rng = random.Random(seed)
    out = []
    posts = [r for r in reddit(data) if r["subreddit"] in HELD_OUT_SUBREDDITS
             and r["subreddit"] in CONTROL_SUBREDDITS and len(r["post"]) >= 300]
    for r in rng.sample(posts, 80):
        wrap = rng.choice(WRAPPERS)
        text = wrap.format(r["post"]) if "{}" in wrap else wrap + r["post"]
        out.append({"source": f"reddit/{r['subreddit']}", "text": text})
    paras = [p for p in wikitext(data) if p["split"] == WIKITEXT_HELD_OUT_SPLIT
             and len(p["paragraph"]) >= 400]
    out += [{"source": "wikitext-103/test", "text": p["paragraph"]}
            for p in rng.sample(paras, 40)]
    out += [{"source": "llmail/benign", "text": e} for e in rng.sample(llmail(data), 40)]
    out += [{"source": "written", "text": t} for t in WRITTEN]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    for r in fixture(args.data):
        print(json.dumps(r, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
