"""Instructions per always-on `screen()` call, in a loop: a load-independent measure of the screen alone.

    python bench/screen_instructions.py NAME=SRC [NAME=SRC ...] [--texts varied,typical]

e.g. this checkout against an older tree (``git archive main | tar -x -C /tmp/base``):

    python bench/screen_instructions.py base=/tmp/base/src new=src

Each SRC runs in its own Python under ``valgrind --tool=callgrind`` with collection off until
the detectors are loaded and warm; it screens N1 texts and dumps, then N2 - N1 more and dumps,
and the figure is the second dump over N2 - N1 texts. ``varied`` are bench/run.py's --varied
prompts (70 words of a 36-word list, 500 characters: what bench/instructions.py --varied
sends), ``typical`` bench/detectors.py's shuffled 500-character prompts. What it does not see:
the gateway around the screen (bench/instructions.py) and time (cache misses; bench/ab.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOTALS = re.compile(rb"^summary:\s+(\d+)", re.MULTILINE)
N1, N2 = 50, 250


def texts(kind: str, n: int) -> list[str]:
    sys.path.insert(0, str(HERE))
    if kind == "typical":
        from detectors import typical_prompts

        return typical_prompts(n)
    import random

    import run as R

    out = []
    for serial in range(n):
        pick = random.Random(serial)
        out.append(" ".join(pick.choice(R.WORDS) for _ in range(70))[: len(R.PROMPT)])
    return out


def child(kind: str) -> None:
    """Runs under callgrind: warm up, then two counted segments."""
    from goodstanding.detect import load_detectors

    detectors = load_detectors()
    todo = texts(kind, N2 + 100)
    for text in todo[N2:]:
        detectors.screen(text)
    pid = str(os.getpid())

    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, pid], check=True, stdout=subprocess.DEVNULL)

    control("-i", "on")
    for text in todo[:N1]:
        detectors.screen(text)
    control("-d")
    for text in todo[N1:N2]:
        detectors.screen(text)
    control("-d")


def measure(src: str, kind: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        out = f"{folder}/callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                        f"--callgrind-out-file={out}", sys.executable, __file__, "--child", kind],
                       env={**os.environ, "PYTHONPATH": src}, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        second = Path(f"{out}.2").read_bytes()
        return int(TOTALS.search(second).group(1)) / (N2 - N1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", metavar="NAME=SRC")
    parser.add_argument("--texts", default="varied,typical")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    kinds = args.texts.split(",")
    print(f"instructions per screen() ({N2 - N1} texts after {N1}, callgrind)")
    print(f"{'tree':<12}" + "".join(f"{k:>14}" for k in kinds))
    for item in args.trees:
        name, _, src = item.partition("=")
        row = [measure(str(Path(src).resolve()), k) for k in kinds]
        print(f"{name:<12}" + "".join(f"{v / 1e3:>12.0f} k" for v in row), flush=True)


if __name__ == "__main__":
    main()
