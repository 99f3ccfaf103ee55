"""What one feature adds to the pipeline's CPU per request, both sides in one process.

    python bench/feature_ab.py [--feature signals] [--blocks 300] [--block 100]
                               [--users 1000] [--concurrency 1,8]

Two gateways run in this process through library mode (``library/engine.py``: the same door
and pipeline as the server, the server's HTTP layer left out), one as shipped (the ``full``
variant of bench/run.py) and one without the feature, both in front of bench's static
upstream (another process, over real sockets). Requests go to them in alternating blocks of
``block`` calls; each block's CPU time on the event loop's thread (where the pipeline runs) is
charged to its gateway. The figure is the median over block pairs of (with − without) per
request, with the quartiles of the pairs.

Why in one process: two server processes of one tree differ by up to 30 µs per request for
the whole of their life (addresses, heap layout, hash seed), as much as a small feature costs;
bench/ab.py with ``--fresh`` averages that out over many processes, this removes it. What it
leaves out is what the feature cannot change: parsing HTTP and writing answers.

Both gateways keep their own SQLite database (audit records are written, as in production).
The database's own thread (aiosqlite: the audit writer's inserts) is not counted: its batches
land in whichever block runs, so the process's CPU per block swings by ±100 µs per request;
its work is the same with or without a feature that adds no database call (the signals add
none without Redis).
Both gateways serve one key (library mode's own). Past 30 000 calls in 10 minutes on one key
every call carries a ``distillation_volume:key`` finding (the documented default), and the
signals' figure then is what recording a finding on every call costs: for the signals' cost
on calls with nothing to find, raise the floor (``--set
GOODSTANDING_SIGNALS__DISTILLATION__KEY_VOLUME_FLOOR=100000000``).

Each end user sends a first warm-up pass before the clock starts, so the steady state is
measured: with ``--users 1000`` and the default blocks each end user is known and sends about
``2 × blocks × block / users`` calls in the 10-minute window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # bench/run.py: its variants, static upstream and prompts

FEATURES = {"signals": R.NO_SIGNALS, "detectors": R.NO_DETECTORS}


def settings_env(folder: str, upstream: str, without: dict[str, str] | None,
                 extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    env.update(R.VARIANTS["full"], OPENAI_API_KEY="sk-bench",
               GOODSTANDING_UPSTREAM_URL=upstream + "/v1",
               GOODSTANDING_DATABASE_URL=f"sqlite:///{folder}/bench.db",
               GOODSTANDING_SECRET=secrets.token_hex(16),
               # a warm-up of 100 000 new end users through two SQLite databases on 2 cores
               # can keep one store read past the default 0.5 s bound: a 503, and no figure
               GOODSTANDING_STORAGE__TIMEOUT="5")
    return {**env, **(extra or {}), **(without or {})}


def settings_given(items: list[str]) -> dict[str, str]:
    """``--set ENV=VALUE`` items as environment settings."""
    return dict(item.split("=", 1) for item in items)


async def block(engine, calls: int, concurrency: int) -> float:
    """The event loop thread's CPU seconds for ``calls`` requests through ``engine``."""
    bodies = iter([R.request(False) for _ in range(calls)])
    url = "http://goodstanding.in-process/v1/chat/completions"
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}

    async def worker() -> None:
        for body in bodies:
            answer = await engine.handle(httpx2.Request("POST", url, headers=headers,
                                                        content=body), body)
            if answer.status_code != 200:
                raise SystemExit(f"answered {answer.status_code}: {answer.content[:200]!r}")

    started = time.thread_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.thread_time() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feature", choices=sorted(FEATURES), default="signals",
                        help="what the second gateway goes without (default %(default)s)")
    parser.add_argument("--blocks", type=int, default=300, help="block pairs per concurrency")
    parser.add_argument("--block", type=int, default=100, help="requests per block")
    parser.add_argument("--users", type=int, default=R.USERS,
                        help="distinct end users the requests cycle through")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated, e.g. 1,8")
    parser.add_argument("--set", action="append", default=[], metavar="ENV=VALUE",
                        help="a setting for both gateways, e.g. "
                             "GOODSTANDING_SIGNALS__DISTILLATION__MAX_END_USERS=200000")
    parser.add_argument("--prompts", choices=("words", "ordinary"), default="words",
                        help="words: 70 varied everyday words a prompt (default); ordinary: "
                             "everyday sentences, many with terms the lexicon knows")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    R.VARIED, R.USERS = True, args.users  # people's varied prompts: nothing for a signal to find
    R.ORDINARY = args.prompts == "ordinary"
    from goodstanding.library.engine import Engine
    from goodstanding.settings import load_settings

    port = R.free_port()
    upstream = R.start([str(R.HERE / "static_upstream.py"), "--port", str(port)], port)
    out: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            engines = {}
            for name, without in (("with", None), ("without", FEATURES[args.feature])):
                os.makedirs(f"{folder}/{name}")
                env = settings_env(f"{folder}/{name}", f"http://127.0.0.1:{port}", without,
                                   settings_given(args.set))
                engines[name] = Engine(load_settings(env=env))
            try:
                for engine in engines.values():  # every end user known before the clock
                    await block(engine, max(args.users, 200), 8)
                for c in (int(c) for c in args.concurrency.split(",")):
                    gaps, cpu = [], {"with": [], "without": []}
                    for number in range(args.blocks):
                        print(f"  c{c}: block pair {number + 1}/{args.blocks}", file=sys.stderr,
                              flush=True)
                        # alternate which goes first: neither always follows the other
                        order = ("with", "without") if number % 2 == 0 else ("without", "with")
                        spent = {n: await block(engines[n], args.block, c) / args.block * 1e6
                                 for n in order}
                        for n, us in spent.items():
                            cpu[n].append(us)
                        gaps.append(spent["with"] - spent["without"])
                    gaps.sort()
                    quarter = len(gaps) // 4
                    out[f"c{c}"] = {
                        "with_us": statistics.median(cpu["with"]),
                        "without_us": statistics.median(cpu["without"]),
                        "added_us": statistics.median(gaps),
                        "added_q1_us": gaps[quarter], "added_q3_us": gaps[-quarter - 1]}
            finally:
                for engine in engines.values():
                    await engine.close()
    finally:
        upstream.terminate()
        upstream.wait(10)
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{args.feature}: CPU per request in process ({args.blocks} block pairs of "
          f"{args.block}, {args.users} end users; medians)")
    for c, f in out.items():
        print(f"{c}: with {f['with_us']:.0f} µs, without {f['without_us']:.0f} µs; added "
              f"{f['added_us']:+.1f} µs (block pairs' quartiles {f['added_q1_us']:+.1f} to "
              f"{f['added_q3_us']:+.1f})")


if __name__ == "__main__":
    asyncio.run(main())
