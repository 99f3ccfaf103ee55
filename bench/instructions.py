"""Instructions per request: a CPU measure that does not depend on the machine's load.

    python bench/instructions.py VARIANT [--shapes plain,stream] [--n1 20] [--n2 60]
                                 [--concurrency 1,8] NAME=[VARIANT:]SRC ...

e.g. the shipped gateway of this checkout against an older tree:

    python bench/instructions.py full base=/tmp/base/src new=src

CPU-time figures (bench/run.py, bench/ab.py) swing by ±10 % or more on a shared machine. This
runs each gateway (``goodstanding serve`` with ``PYTHONPATH=SRC`` and VARIANT's settings from
bench/run.py) under ``valgrind --tool=callgrind``, which counts the instructions the process
executes, all threads included. The static upstream runs outside valgrind. For every shape and
concurrency it sends W warm-up requests, zeroes the counters, sends N1 requests and dumps, sends
N2 requests and dumps; the figure is (I(N2) - I(N1)) / (N2 - N1), so the fixed cost of a
segment (the dump itself, a timer firing) cancels out. Collection is off during start-up
(``--instr-atstart=no``), so a gateway is ready in a minute or so.

What it cannot see: time. Under valgrind a request takes ~50× longer, so work that runs on a
clock (a flush every second, a refresh at most every few seconds, a batch window of a few ms)
happens about as often per second as in production but far more often per request: its cost
is over-counted (``SLOW_CLOCK`` puts the largest off). Concurrent requests overlap differently:
trust the c1 figure most and read c8 as "roughly". Also not counted: the kernel's share (system
calls, sockets), which bench/run.py's CPU figures include; to turn instructions into
microseconds, divide a gateway's user CPU per request (bench/ab.py) by its instructions.
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

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # bench/run.py: its variants, servers and requests

TOTALS = re.compile(rb"^summary:\s+(\d+)", re.MULTILINE)
# Under valgrind everything takes ~50x longer. A store call would pass its bound (0.5 s): a
# tree that knows the bounds gets generous ones (a bound costs the same whatever its length).
# The audit writer's batch insert, every 0.2 s, would come once per request or two instead
# of once per ~100 requests: it is put off past the run, so no segment holds one (its cost,
# shared by a whole batch in production, is not counted; nor is it on the request path).
SLOW_CLOCK = {"GOODSTANDING_STORAGE__TIMEOUT": "120", "GOODSTANDING_MODERATION__TIMEOUT": "120",
              "GOODSTANDING_UPSTREAM__CONNECT_TIMEOUT": "120",
              "GOODSTANDING_STORAGE__AUDIT_FLUSH_INTERVAL": "3600"}


def start_under_callgrind(port: int, env: dict[str, str], out: str) -> subprocess.Popen:
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no",
               "--compress-strings=no", f"--callgrind-out-file={out}", R.PYTHON, "-m",
               "goodstanding.cli", "serve", "--port", str(port)]
    # a fixed hash seed: with a random one, str hashes (dict and set layouts, the collisions
    # met) differ per process, and one tree's count swung by 0.1-0.2 M between two runs; fixed,
    # two gateways of one tree count within 0.02 M of each other
    proc = subprocess.Popen(command, env={**os.environ, "PYTHONHASHSEED": "0", **env},
                            stderr=subprocess.DEVNULL)
    R.wait_listening(port, proc, timeout=600)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(120)  # a clean shutdown under valgrind takes a while
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dumped(out: str, before: set[Path]) -> int:
    """Instructions in the dump that appeared since `before` (callgrind zeroes after a dump)."""
    folder, stem = Path(out).parent, Path(out).name
    deadline = time.time() + 120
    while time.time() < deadline:
        new = set(folder.glob(stem + ".*")) - before
        for path in new:
            found = TOTALS.search(path.read_bytes())
            if found:
                return int(found.group(1))
        time.sleep(0.2)
    raise SystemExit(f"callgrind wrote no dump next to {out}")


async def send(url: str, headers: dict, stream: bool, n: int, concurrency: int) -> None:
    bodies = iter([R.request(stream) for _ in range(n)])
    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=timeout) as session:

        async def worker() -> None:
            for body in bodies:
                await R.one(session, url, headers, body)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def segment(pid: int, out: str, url: str, headers: dict, stream: bool, n: int,
            concurrency: int) -> int:
    before = set(Path(out).parent.glob(Path(out).name + ".*"))
    asyncio.run(send(url, headers, stream, n, concurrency))
    control(pid, "-d")
    return dumped(out, before)


def measure(pid: int, out: str, url: str, headers: dict, stream: bool, concurrency: int,
            args: argparse.Namespace) -> float:
    asyncio.run(send(url, headers, stream, args.warm, concurrency))
    control(pid, "-z")
    small = segment(pid, out, url, headers, stream, args.n1, concurrency)
    large = segment(pid, out, url, headers, stream, args.n2, concurrency)
    return (large - small) / (args.n2 - args.n1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", choices=sorted(R.VARIANTS))
    parser.add_argument("trees", nargs="+", metavar="NAME=[VARIANT:]SRC")
    parser.add_argument("--shapes", default="plain,stream", help="plain, stream or both")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated, e.g. 1,8")
    parser.add_argument("--warm", type=int, default=30,
                        help="warm-up requests per shape (default %(default)s; the key is then "
                             "in its first 1 000 calls of the distillation window, where every "
                             "prompt is sketched for it: --warm 1100 for a busy key's steady "
                             "state)")
    parser.add_argument("--n1", type=int, default=20, help="requests in the short segment")
    parser.add_argument("--n2", type=int, default=60, help="requests in the long segment")
    parser.add_argument("--varied", action="store_true",
                        help="prompts of varied words (no templated traffic for the "
                             "distillation signal to record), instead of one template")
    parser.add_argument("--users", type=int, default=R.USERS,
                        help="distinct end users (safety identifiers) the requests cycle "
                             "through (default %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="ENV=VALUE",
                        help="a setting for every tree that knows it (as bench/ab.py), e.g. "
                             "GOODSTANDING_SIGNALS__RAMP__SPIKE_FLOOR=100000000")
    args = parser.parse_args()
    R.VARIED = args.varied
    R.USERS = args.users
    if args.n2 <= args.n1:
        parser.error("--n2 must be larger than --n1")
    shapes = [s for s in args.shapes.split(",") if s]
    levels = [int(c) for c in args.concurrency.split(",") if c]
    if not set(shapes) <= {"plain", "stream"}:
        parser.error("--shapes: plain, stream or plain,stream")
    trees = R.parse_trees(parser, args.trees, args.variant)
    up_port = R.free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    procs = [R.start([str(R.HERE / "static_upstream.py"), "--port", str(up_port),
                      "--keep-alive", "3600"], up_port)]
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for name, (variant, src) in trees.items():  # one gateway at a time: 2 cores
                os.makedirs(f"{folder}/{name}")
                env = {**R.gateway_env(f"{folder}/{name}", upstream, variant), "PYTHONPATH": src}
                env = R.accepted(env, {**SLOW_CLOCK,
                                       **dict(item.split("=", 1) for item in args.set)})
                token = R.make_key(env)
                port = R.free_port()
                out = f"{folder}/{name}/callgrind.out"
                print(f"  {name}: starting under callgrind …", file=sys.stderr, flush=True)
                proc = start_under_callgrind(port, env, out)
                try:
                    control(proc.pid, "-i", "on")
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    headers = {"authorization": f"Bearer {token}",
                               "content-type": "application/json"}
                    results[name] = {}
                    for shape in shapes:
                        for c in levels:
                            figure = measure(proc.pid, out, url, headers, shape == "stream", c,
                                             args)
                            results[name][f"{shape} c{c}"] = figure
                            print(f"  {name}: {shape} c{c}: {figure / 1e6:.3f} M instructions"
                                  " per request", file=sys.stderr, flush=True)
                finally:
                    stop(proc)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    print(f"instructions per request ({args.variant}; (I({args.n2}) - I({args.n1})) / "
          f"{args.n2 - args.n1}, after {args.warm} warm-up)")
    columns = list(next(iter(results.values())))
    print(f"{'tree':<12}" + "".join(f"{c:>14}" for c in columns))
    first = next(iter(results))
    for name, row in results.items():
        print(f"{name:<12}" + "".join(f"{row[c] / 1e6:>12.2f} M" for c in columns))
        if name != first:
            print(f"{'  vs ' + first:<12}" + "".join(
                f"{(row[c] / results[first][c] - 1) * 100:>+13.1f}%" for c in columns))


if __name__ == "__main__":
    main()
