"""CPU per call and memory of the abuse-signal detectors alone, at many distinct end users.

    python bench/signals_micro.py [--users 100000] [--calls 300000] [--keys 20] [--trace]

(``PYTHONPATH=OTHER/src`` measures another tree the same way: before/after.)

Drives the detectors on the request path exactly as the pipeline does — ``KeyFanoutCheck``,
``DistillationCheck`` (check and finisher) and ``RampCheck`` — with in-process counters, for
``calls`` realistic chat calls (varied prompts of 8-30 words, a public connecting address)
spread over ``users`` distinct end users and ``keys`` keys. Prints:

- CPU µs per call (process time) for the first pass (every end user new) and a second pass
  (every end user known: the steady state);
- memory after all end users are known: the RSS growth (``/proc/self/statm``), or with
  ``--trace`` tracemalloc's traced growth (slower), total and per scope. The state is bounded by
  ``signals.distillation.max_end_users`` (100 000 scopes by default, end users and keys
  together): a run with more users shows the plateau.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import tracemalloc

from goodstanding.call import Call, VirtualKey
from goodstanding.checks.distillation import DistillationCheck
from goodstanding.checks.key_fanout import KeyFanoutCheck
from goodstanding.checks.ramp import RampCheck
from goodstanding.endusers.geo import shared_lookup
from goodstanding.settings import Settings
from goodstanding.stores.counters_memory import MemoryCounters

WORDS = (
    "the", "a", "my", "your", "how", "why", "what", "when", "should", "could", "would",
    "explain", "tell", "me", "about", "help", "with", "garden", "tax", "job", "interview",
    "sourdough", "cat", "diet", "python", "gift", "piano", "trip", "portugal", "sql", "marathon",
    "tap", "quantum", "landlord", "wedding", "chess", "recipe", "budget", "holiday", "email",
    "letter", "essay", "code", "bug", "error", "install", "update", "phone", "laptop", "car",
    "insurance", "doctor",
)


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def calls(users: int, count: int, keys: list[VirtualKey], seed: int) -> list[Call]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        text = " ".join(rng.choices(WORDS, k=rng.randint(8, 30)))
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
        call = Call(request_id=f"r{n}", method="POST", path="/v1/chat/completions",
                    endpoint="chat.completions", headers={}, client_ip="8.8.8.8",
                    body=body, key=keys[n % len(keys)], end_user=f"user-{n % users}")
        call.tokens_in, call.tokens_out = len(text) // 4, 120
        out.append(call)
    return out


async def drive(checks: list, finisher: DistillationCheck, batch: list[Call]) -> float:
    finish = getattr(finisher, "finish", None)  # absent before issue 14's long-output signal
    started = time.process_time()
    for call in batch:
        for check in checks:
            await check.check(call)
        if finish is not None:
            await finish(call, None)
    return (time.process_time() - started) / len(batch) * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000, help="distinct end users")
    parser.add_argument("--calls", type=int, default=300_000, help="calls per pass")
    parser.add_argument("--keys", type=int, default=20, help="virtual keys the calls use")
    parser.add_argument("--trace", action="store_true",
                        help="measure with tracemalloc (Python allocations) instead of RSS")
    args = parser.parse_args()
    settings = Settings()
    keys = [VirtualKey(id=f"key{i}", name=f"app{i}", tenant=f"app{i}", secret_hash="x",
                       created_at=0.0) for i in range(args.keys)]
    first, second = (calls(args.users, args.calls, keys, seed) for seed in (1, 2))
    distillation = DistillationCheck(settings.signals.distillation)
    checks = [KeyFanoutCheck(settings, MemoryCounters(), store=None),  # type: ignore[arg-type]
              distillation, RampCheck(settings.signals.ramp)]
    shared_lookup()  # the country database is loaded once per process, not per end user
    if args.trace:
        tracemalloc.start()
    traced, resident = tracemalloc.get_traced_memory()[0], rss()
    new = await drive(checks, distillation, first)
    grown, grown_rss = tracemalloc.get_traced_memory()[0] - traced, rss() - resident
    tracemalloc.stop()
    steady = await drive(checks, distillation, second)
    detector = distillation.detector  # (an older tree: per end user only, ``users``)
    scopes = len(getattr(detector, "scopes", None) or getattr(detector, "users", ()))
    print(f"calls per pass: {args.calls}; end users: {args.users}; keys: {args.keys}")
    print(f"CPU per call: first pass (end users new{', traced' if args.trace else ''}) "
          f"{new:.1f} µs; second pass (known) {steady:.1f} µs")
    memory = f"traced growth {grown / 2**20:.1f} MiB ({grown / max(1, scopes):.0f} B per " \
        "scope)" if args.trace else f"RSS growth {grown_rss / 2**20:.1f} MiB " \
        f"({grown_rss / max(1, scopes):.0f} B per scope)"
    print(f"scopes kept: {scopes}; {memory}")


if __name__ == "__main__":
    asyncio.run(main())
