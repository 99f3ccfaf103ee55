"""A/B: gateways from different source trees (or variants), in one run, against one floor.

    python bench/ab.py VARIANT plain|stream REQUESTS ROUNDS NAME=[VARIANT:]SRC ...

e.g. compare this checkout with an older commit checked out by ``git worktree add /tmp/base
62abff6``:

    python bench/ab.py moderation stream 2000 5 base=/tmp/base/src new=src

Each NAME runs ``goodstanding serve`` with ``PYTHONPATH=SRC`` (and VARIANT's settings from
bench/run.py, unless the NAME gives its own). Rounds alternate over the passthrough and every
target; printed per concurrency: the median CPU µs per request and the median of each round's
ratio to the passthrough of the same round. Use it to decide whether a change is worth it; the
figures to quote come from bench/run.py.

What one feature costs, e.g. the abuse signals (two pairs: their spread is the noise):

    python bench/ab.py full plain 2000 10 off=full-signals:src on=full:src \
        off2=full-signals:src on2=full:src --varied --against off --fresh --warm 10000

A gateway process keeps its own layout (addresses, heap, hash seed) for life: two processes
of one tree differ by up to 30 µs per request, as much as a small feature costs. ``--fresh``
starts a new process for every measurement, so that offset is averaged over the rounds
instead of carried by one target; ``--warm`` makes its end users known first. Still ±30 µs
here; bench/feature_ab.py measures a feature with both sides in one process, tighter.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # bench/run.py: its servers and load generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", choices=sorted(R.VARIANTS))
    parser.add_argument("shape", choices=("plain", "stream"))
    parser.add_argument("requests", type=int)
    parser.add_argument("rounds", type=int)
    parser.add_argument("trees", nargs="+", metavar="NAME=[VARIANT:]SRC")
    parser.add_argument("--set", action="append", default=[], metavar="ENV=VALUE",
                        help="a setting for every tree that knows it (an older tree that "
                             "does not is run without it), e.g. GOODSTANDING_STORAGE__TIMEOUT=5 "
                             "on a machine so loaded that a store read can take 0.5 s")
    parser.add_argument("--varied", action="store_true",
                        help="prompts of varied words (no templated traffic for the "
                             "distillation signal to record), instead of one template")
    parser.add_argument("--against", metavar="NAME",
                        help="also print each target's added CPU over NAME's: the median of "
                             "the rounds' differences (e.g. signals on=full:src against "
                             "off=full-signals:src)")
    parser.add_argument("--hash-seed", metavar="N",
                        help="start every gateway with PYTHONHASHSEED=N: with random seeds two "
                             "gateways of one tree can differ by 0.1-0.2 M instructions per "
                             "request (dict and set layouts), as much as a small feature costs")
    parser.add_argument("--fresh", action="store_true",
                        help="a new gateway process for every measurement: a process keeps "
                             "its own layout (addresses, heap, hash seed), and two gateways "
                             "of one tree can differ by 30 µs per request for the whole run")
    parser.add_argument("--warm", type=int, default=0, metavar="N",
                        help="with --fresh: N requests (8 at a time) to each new gateway before "
                             "it is measured, so its end users are known as in a long run "
                             "(e.g. 30 per end user: the distillation signal keeps a timing "
                             "from an end user's 10th call in its window)")
    parser.add_argument("--users", type=int, default=R.USERS,
                        help="distinct end users (safety identifiers) the requests cycle "
                             "through (default %(default)s)")
    args = parser.parse_args()
    R.VARIED = args.varied
    R.USERS = args.users
    extra = dict(item.split("=", 1) for item in args.set)
    trees = R.parse_trees(parser, args.trees, args.variant)
    if args.against and args.against not in trees:
        parser.error(f"--against {args.against}: not one of the targets")
    stream = args.shape == "stream"
    up_port, bare_port = R.free_port(), R.free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    procs = [R.start([str(R.HERE / "static_upstream.py"), "--port", str(up_port)], up_port)]
    procs.append(R.start([str(R.HERE / "passthrough.py"), "--port", str(bare_port),
                          "--upstream", upstream + "/v1"], bare_port))
    bare = {"content-type": "application/json"}
    gateways: dict[str, tuple[dict[str, str], dict[str, str]]] = {}  # name → (env, headers)
    running: dict[str, tuple[int, subprocess.Popen]] = {}  # name → (port, process)

    def launch(name: str) -> tuple[int, int, dict[str, str]]:
        """The target's (port, pid, headers); with --fresh a new gateway process each time."""
        if name == "passthrough":
            return bare_port, procs[1].pid, bare
        env, headers = gateways[name]
        if name not in running:
            port = R.free_port()
            running[name] = (port, R.start(["-m", "goodstanding.cli", "serve", "--port",
                                            str(port)], port, env))
            if args.fresh and args.warm:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                asyncio.run(R.load(url, headers, stream, args.warm, 8, running[name][1].pid))
        port, proc = running[name]
        return port, proc.pid, headers

    def retire(name: str) -> None:
        if args.fresh and name in running:
            _, proc = running.pop(name)
            proc.terminate()
            proc.wait(10)

    # the gateways stop before their folder goes (an audit journal would miss its folder)
    with tempfile.TemporaryDirectory() as folder:
        try:
            for name, (variant, src) in trees.items():
                os.makedirs(f"{folder}/{name}")
                env = {**R.gateway_env(f"{folder}/{name}", upstream, variant), "PYTHONPATH": src}
                env = R.accepted(env, extra)
                if args.hash_seed is not None:
                    env["PYTHONHASHSEED"] = args.hash_seed
                try:
                    token = R.make_key(env)
                except subprocess.CalledProcessError as exc:  # an older tree, newer settings
                    raise SystemExit(f"{name}: its goodstanding refused the {variant} variant's "
                                     f"settings:\n{exc.stderr.strip()}") from None
                gateways[name] = (env, {"authorization": f"Bearer {token}",
                                        "content-type": "application/json"})
                if not args.fresh:
                    launch(name)
            names = ["passthrough", *gateways]
            results: dict[str, list[dict]] = {t: [] for t in names}
            for number in range(args.rounds):
                print(f"  round {number + 1}/{args.rounds}", file=sys.stderr, flush=True)
                # each round starts one target later: no target always runs first (a colder
                # machine) or right after the same neighbour
                shift = number % len(names)
                for name in names[shift:] + names[:shift]:
                    port, pid, headers = launch(name)
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    results[name].append(R.measure(url, headers, pid, args.requests, stream,
                                                   upstream))
                    retire(name)
        finally:
            for proc in [*procs, *(proc for _, proc in running.values())]:
                proc.terminate()
            for proc in [*procs, *(proc for _, proc in running.values())]:
                proc.wait(10)
    for c in ("c1", "c8"):
        line = [f"{c}:"]
        for name, rounds in results.items():
            cpu = statistics.median(m[f"cpu_us_{c}"] for m in rounds)
            ratio = R.paired_ratio(rounds, results["passthrough"], c)
            user = statistics.median(m[f"user_us_{c}"] for m in rounds)
            line.append(f"{name} {cpu:.0f} µs ({ratio:.2f}×, user {user:.0f})")
        print("  ".join(line))
    if args.against in results:
        # a round's targets run minutes apart at most: the difference within a round carries
        # less of the machine's drift than the difference of two medians
        floor = results[args.against]
        for c in ("c1", "c8"):
            added = []
            for name, rounds in results.items():
                if name not in ("passthrough", args.against):
                    gap, user = (statistics.median(m[key] - f[key]
                                                   for m, f in zip(rounds, floor, strict=True))
                                 for key in (f"cpu_us_{c}", f"user_us_{c}"))
                    added.append(f"{name} {gap:+.0f} µs (user {user:+.0f})")
            print(f"{c} added over {args.against}: " + "  ".join(added))


if __name__ == "__main__":
    main()
