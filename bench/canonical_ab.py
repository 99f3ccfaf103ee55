"""The canonicaliser of another source tree against this one, interleaved in one process.

    python bench/canonical_ab.py BASE_SRC [--blocks 40]

e.g. with ``git worktree add /tmp/base 6004ed0``: ``python bench/canonical_ab.py /tmp/base/src``.
Both canonicalise the bench's 500-character prompts (bench/run.py's, each with its serial
number); blocks of 400 texts alternate between the two, timed in process CPU time, so a
shared machine's drift hits both alike. Prints the median and best block per text, after
checking that both give the same canonical text.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # bench/run.py: the prompt the gateway benchmarks send

from goodstanding.detect import canonical


def load_base(src: str):
    path = Path(src) / "goodstanding" / "detect" / "canonical.py"
    spec = importlib.util.spec_from_file_location("base_canonical", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["base_canonical"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def block(fn, texts: list[str]) -> float:
    start = time.process_time()
    for t in texts:
        fn(t)
    return (time.process_time() - start) / len(texts) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="the other tree's src folder")
    ap.add_argument("--blocks", type=int, default=40, help="blocks per side")
    args = ap.parse_args()
    base = load_base(args.base)
    texts = [f"{i:08d} {R.PROMPT}"[: len(R.PROMPT)] for i in range(400)]
    if any(base.canonicalize(t).text != canonical.canonicalize(t).text for t in texts):
        raise SystemExit("the two canonicalisers disagree on the bench prompts")
    old, new = [], []
    for _ in range(args.blocks):
        old.append(block(base.canonicalize, texts))
        new.append(block(canonical.canonicalize, texts))
    print(f"canonicalize, µs per text: base median {statistics.median(old):.1f} (best "
          f"{min(old):.1f}), this tree median {statistics.median(new):.1f} (best {min(new):.1f})")


if __name__ == "__main__":
    main()
