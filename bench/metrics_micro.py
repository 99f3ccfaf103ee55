"""CPU per request of the per-call metrics and the standing count, in-process.

    python bench/metrics_micro.py [--requests 50000] [--repeats 7]

Measures, per finished call (an allowed chat call with tokens, key and model):

- ``small``: ``goodstanding.metrics.observe`` — the requests counter, the gateway and
  upstream latency histograms and the two token counters, on the gateway's own registry;
- ``prometheus-client``: the same five updates through ``prometheus_client`` (a private
  ``CollectorRegistry``: ``Counter.labels(...).inc()``, ``Histogram.labels(...).observe()``);
- ``standing``: ``StandingMonitor.count`` (the ops finisher's work for a clean call).

Prints min and median µs per call over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from goodstanding import metrics
from goodstanding.call import Call, VirtualKey
from goodstanding.ops.counts import MemoryCounts
from goodstanding.ops.standing import StandingMonitor


def make_call() -> Call:
    call = Call("r", "POST", "/v1/chat/completions", "chat.completions", {}, "8.8.8.8")
    call.key = VirtualKey("k1", "bench", "bench", "h", 0.0)
    call.model, call.status, call.tokens_in, call.tokens_out = "gpt-4o-mini", 200, 120, 80
    call.upstream.seconds = 0.4
    return call


def small(call: Call) -> None:
    metrics.observe(call, call.started + 0.401)


def prometheus() -> object:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    requests = Counter("r", "r", ("endpoint", "decision", "status"), registry=registry)
    own = Histogram("g", "g", ("endpoint",), buckets=metrics.LATENCY_BUCKETS, registry=registry)
    upstream = Histogram("u", "u", ("endpoint",), buckets=metrics.UPSTREAM_BUCKETS,
                         registry=registry)
    tokens = Counter("t", "t", ("key", "model", "direction"), registry=registry)

    def observe(call: Call) -> None:
        requests.labels(call.endpoint, call.decision, str(call.status)).inc()
        up = call.upstream.seconds
        own.labels(call.endpoint).observe(0.001)
        upstream.labels(call.endpoint).observe(up)
        key, model = call.key.id, call.model  # type: ignore[union-attr]
        tokens.labels(key, model, "input").inc(call.tokens_in)
        tokens.labels(key, model, "output").inc(call.tokens_out)

    return observe


def timed(fn: object, call: Call, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn(call)  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.repeats))


async def run(requests: int, repeats: int) -> None:
    call = make_call()
    monitor = StandingMonitor(MemoryCounts())  # on a loop: its flush timer is set once
    variants = {"small": small, "prometheus-client": prometheus(), "standing": monitor.count}
    for name, fn in variants.items():
        runs = [timed(fn, call, requests) for _ in range(repeats)]
        print(f"{name:>18}: min {min(runs):.2f} µs, median {statistics.median(runs):.2f} µs "
              "per call")
    await monitor.close()


if __name__ == "__main__":
    main()
