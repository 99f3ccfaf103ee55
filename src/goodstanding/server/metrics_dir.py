"""``/metrics`` for several worker processes on one host (``serve --workers N``).

Each worker keeps its own in-process registry (an increment stays one dict update) and
writes a snapshot of it to ``$GOODSTANDING_METRICS_DIR/worker-<pid>.json`` every second and
whenever it is scraped. Whichever worker answers ``/metrics`` renders the sum over every
snapshot in the directory: counters are summed over all workers that ever ran (a restarted
worker's last counts still count, so totals never go backwards), histograms bucket by bucket
likewise; gauges are summed over the workers seen in the last ``LIVE_SECONDS`` (a dead worker's
gauge is dropped; one that stops cleanly writes a last snapshot, without the upstream keys it no
longer sends), except those that are not additive: build info and the standing score
(``merge="max"``), the moderation headroom (``merge="min"``).

A directory rather than Redis: it works without Redis, costs nothing on the request path,
and is per host — with several hosts, Prometheus scrapes each and sums, as usual.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from goodstanding import metrics

ENV = "GOODSTANDING_METRICS_DIR"
INTERVAL = 1.0
LIVE_SECONDS = 10.0
# the publisher's write, cancelled at shutdown, may still run in its thread: the last snapshot
# is taken after it, not overwritten by it
_WRITING = threading.Lock()


def directory() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def snapshot() -> dict[str, object]:
    data: dict[str, object] = {}
    for metric in metrics.registry().values():
        values = [[list(labels), value] for labels, value in metric.values.items()]
        if metric.sample is not None:
            values.append([[], metric.sample()])
        data[metric.name] = {"kind": metric.kind, "values": values, "merge": metric.merge}
    return {"at": time.time(), "metrics": data}


def write(folder: Path) -> None:
    path = folder / f"worker-{os.getpid()}.json"
    temporary = path.with_suffix(".tmp")
    with _WRITING:
        temporary.write_bytes(orjson.dumps(snapshot()))
        temporary.replace(path)  # readers never see half a file


def merged(folder: Path) -> bytes:
    """The text exposition of every worker's metrics, summed."""
    write(folder)
    now = time.time()
    totals: dict[str, dict[tuple[str, ...], Any]] = {}
    for path in folder.glob("worker-*.json"):
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue  # a worker replacing its file right now
        live = now - data["at"] <= LIVE_SECONDS
        for name, entry in data["metrics"].items():
            if entry["kind"] == "gauge" and not live:
                continue
            _add(totals.setdefault(name, {}), entry["values"], entry.get("merge", "sum"))
    return metrics.render_values(totals)


_MERGE = {"sum": lambda a, b: a + b, "max": max, "min": min}


def _add(into: dict[tuple[str, ...], Any], values: list[Any], merge: str) -> None:
    """One worker's values into the totals: summed (histograms bucket by bucket), or the
    largest (``merge="max"``: build info is 1 however many workers say so), or the smallest
    (``merge="min"``: the moderation headroom, a share of one upstream limit)."""
    for labels, value in values:
        key = tuple(labels)
        found = into.get(key)
        if found is None:
            into[key] = list(value) if isinstance(value, list) else value
        elif isinstance(value, list):
            into[key] = [a + b for a, b in zip(found, value, strict=True)]
        else:
            into[key] = _MERGE[merge](found, value)


async def publish_forever(folder: Path) -> None:
    while True:
        await asyncio.to_thread(write, folder)
        await asyncio.sleep(INTERVAL)
