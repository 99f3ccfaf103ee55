"""CPU per request of the geo + limits stage alone (check, then settlement), in-process.

    python bench/limits_micro.py [--requests 20000] [--repeats 7] [--users 1]

A realistic chat call (500-character prompt, max_tokens 200, a public client IP so the geo
lookup and the churn counter run) through ``GeoCheck.check``, ``LimitsCheck.check`` and
``LimitsCheck.finish`` with limits set high enough never to refuse: six scopes counted, one
token reservation taken and settled. Prints min and median µs over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import orjson

from goodstanding.call import Call, VirtualKey
from goodstanding.checks.geo import GeoCheck
from goodstanding.checks.limits import LimitsCheck
from goodstanding.settings import EndUserLimits, GeoSettings, IpLimits, KeyLimits, LimitsSettings
from goodstanding.stores.counters_memory import MemoryCounters

PROMPT = ("Summarise the following paragraph for a customer newsletter in two sentences. " * 6)[:500]
BODY = {"model": "gpt-4o-mini", "max_tokens": 200, "safety_identifier": "bench-user-1",
        "messages": [{"role": "user", "content": PROMPT}]}
HIGH = LimitsSettings(end_user=EndUserLimits(rpm=10**8, tpm=10**11, rpd=10**8),
                      ip=IpLimits(rpm=10**8), key=KeyLimits(rpm=10**8, tpm=10**11))


def calls(n: int, users: int) -> list[Call]:
    raw = orjson.dumps(BODY)
    key = VirtualKey("k1", "bench", "bench", "h", 0.0)
    made = []
    for i in range(n):
        call = Call("r", "POST", "/v1/chat/completions", "chat.completions", {}, "8.8.8.8",
                    raw_body=raw, body=dict(BODY))
        call.key, call.end_user, call.model = key, f"user-{i % users}", "gpt-4o-mini"
        made.append(call)
    return made


async def once(geo: GeoCheck, limits: LimitsCheck, batch: list[Call]) -> float:
    started = time.process_time()
    for call in batch:
        await geo.check(call)
        await limits.check(call)
        call.tokens_in, call.tokens_out, call.status = 100, 50, 200
        await limits.finish(call, None)
    return (time.process_time() - started) / len(batch) * 1e6


async def main(args: argparse.Namespace) -> None:
    counters = MemoryCounters()
    geo, limits = GeoCheck(GeoSettings(), counters), LimitsCheck(HIGH, counters)
    await once(geo, limits, calls(2000, args.users))  # warm-up
    results = [await once(geo, limits, calls(args.requests, args.users))
               for _ in range(args.repeats)]
    print(f"geo + limits + settlement, {args.users} end user(s): "
          f"min {min(results):.1f} µs, median {statistics.median(results):.1f} µs CPU/request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--users", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
