"""What one feature adds to the pipeline, in instructions per request, both sides in one process.

    python bench/feature_instructions.py [--feature signals|detectors] [--calls 300]
                                         [--pairs 3] [--users 1000] [--set ENV=VALUE]

bench/feature_ab.py's two gateways (library mode: the same door and pipeline as the server,
its HTTP layer left out; one as shipped, one without the feature; the static upstream in
another process), run under ``valgrind --tool=callgrind`` with instrumentation off until the
measured segments: both warm up at full speed (every end user known), then each segment of
``calls`` sequential requests goes to one gateway, alternating, with the counters zeroed before
and dumped after it. Printed: each gateway's instructions per request per segment, and the
added instructions of each pair. All threads are counted (the audit writer's too).

Why: on a busy machine CPU time per block of requests swings by ±40 % (2026-12-01 here: one
gateway's blocks of 100 calls took 1 330-3 040 µs each), so a 50 µs feature cannot be read
from it; instructions do not depend on the load. To turn them into µs, multiply by a CPU per
instruction measured the same day (a gateway's CPU per request in bench/feature_ab.py over its
instructions per request here). Under valgrind a request takes ~50× longer: work that runs on
a clock weighs more per request than in production (see bench/instructions.py).

The script runs itself under valgrind (``--child``) and steers it through files in a
temporary folder: the child says a segment is ready, the parent zeroes the counters and says
go; the child says done, the parent dumps.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import feature_ab as F  # its gateways' settings and its block of calls
import run as R  # bench/run.py: its variants, static upstream and prompts

TOTALS = re.compile(rb"^summary:\s+(\d+)", re.MULTILINE)


async def child(args: argparse.Namespace) -> None:
    """Under valgrind: two gateways, warmed up, then the segments as the parent says."""
    folder = Path(args.child)
    R.VARIED, R.USERS = True, args.users
    from goodstanding.library.engine import Engine
    from goodstanding.settings import load_settings

    async def wait_for(name: str) -> None:
        while not (folder / name).exists():
            await asyncio.sleep(0.05)

    with tempfile.TemporaryDirectory() as data:
        engines = {}
        for name, without in (("with", None), ("without", F.FEATURES[args.feature])):
            os.makedirs(f"{data}/{name}")
            engines[name] = Engine(load_settings(env=F.settings_env(
                f"{data}/{name}", args.upstream, without, F.settings_given(args.set))))
        try:
            for engine in engines.values():
                await F.block(engine, max(args.users, 200), 8)
            for number in range(2 * args.pairs):
                name = ("with", "without")[number % 2]
                (folder / f"ready-{number}").touch()
                await wait_for(f"go-{number}")
                await F.block(engines[name], args.calls, 1)
                (folder / f"done-{number}").touch()
                await wait_for(f"dumped-{number}")
        finally:
            for engine in engines.values():
                await engine.close()


def parent(args: argparse.Namespace) -> None:
    port = R.free_port()
    upstream = R.start([str(R.HERE / "static_upstream.py"), "--port", str(port)], port)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        out = folder / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no",
                   f"--callgrind-out-file={out}", R.PYTHON, __file__, "--child", folder_name,
                   "--upstream", f"http://127.0.0.1:{port}", "--feature", args.feature,
                   "--calls", str(args.calls), "--pairs", str(args.pairs),
                   "--users", str(args.users), *(f"--set={item}" for item in args.set)]
        # a fixed hash seed, as bench/instructions.py: dict layouts the same in every run
        proc = subprocess.Popen(command, env={**os.environ, "PYTHONHASHSEED": "0"},
                                stderr=subprocess.DEVNULL)

        def control(*flags: str) -> None:
            subprocess.run(["callgrind_control", *flags, str(proc.pid)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def wait_for(name: str) -> None:
            while not (folder / name).exists():
                if proc.poll() is not None:
                    raise SystemExit(f"the gateways' process ended (exit {proc.returncode})")
                time.sleep(0.05)

        per: dict[str, list[float]] = {"with": [], "without": []}
        try:
            for number in range(2 * args.pairs):
                name = ("with", "without")[number % 2]
                wait_for(f"ready-{number}")
                control("--instr=on")
                control("--zero")
                (folder / f"go-{number}").touch()
                wait_for(f"done-{number}")
                before = set(folder.glob("callgrind.out.*"))
                control("--dump")
                control("--instr=off")
                total = None
                while total is None:
                    for path in set(folder.glob("callgrind.out.*")) - before:
                        found = TOTALS.search(path.read_bytes())
                        total = int(found.group(1)) if found else total
                    time.sleep(0.2)
                per[name].append(total / args.calls)
                print(f"  segment {number + 1}/{2 * args.pairs} ({name}): "
                      f"{total / args.calls / 1e6:.3f} M per request", file=sys.stderr,
                      flush=True)
                (folder / f"dumped-{number}").touch()
            proc.wait(600)
        finally:
            if proc.poll() is None:
                proc.kill()
            upstream.terminate()
            upstream.wait(10)
    added = [(a - b) / 1e6 for a, b in zip(per["with"], per["without"], strict=True)]
    print(f"{args.feature}: instructions per request in process ({args.pairs} pairs of "
          f"{args.calls} calls, {args.users} end users)")
    print("with:    " + ", ".join(f"{x / 1e6:.3f} M" for x in per["with"]))
    print("without: " + ", ".join(f"{x / 1e6:.3f} M" for x in per["without"]))
    print("added:   " + ", ".join(f"{x:+.3f} M" for x in added))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feature", choices=sorted(F.FEATURES), default="signals",
                        help="what the second gateway goes without (default %(default)s)")
    parser.add_argument("--calls", type=int, default=300, help="requests per segment")
    parser.add_argument("--pairs", type=int, default=3, help="segment pairs")
    parser.add_argument("--users", type=int, default=R.USERS,
                        help="distinct end users the requests cycle through")
    parser.add_argument("--set", action="append", default=[], metavar="ENV=VALUE",
                        help="a setting for both gateways")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args))
    else:
        parent(args)


if __name__ == "__main__":
    main()
