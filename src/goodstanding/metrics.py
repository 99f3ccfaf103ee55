"""Prometheus metrics, in-process, rendered in the text exposition format at ``/metrics``.

A deliberately small registry: counters, gauges and histograms with fixed label names, no
client library on the hot path (an increment is one dict update, an observation a bisect and
two list updates). ``prometheus-client`` was measured against it (``bench/metrics_micro.py``):
the per-call set of updates (requests, two latency histograms, two token counters) costs
~20 µs there (a lock and a label lookup per child) against ~4 µs here — over the 10 µs
budget — and its multi-process mode needs a directory of mmap files per metric, while this
registry already sums the workers' snapshots (``server/metrics_dir.py``). The tests parse the
output with ``prometheus_client.parser``, so the format stays the real one.

Modules declare their metrics at import time with ``counter(...)`` / ``gauge(...)`` /
``histogram(...)``; the registry is process-wide. ``observe(call)`` records what one call
leaves (requests, latency histograms, tokens) from the pipeline's finish.
"""

from __future__ import annotations

import platform
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goodstanding.call import Call

_REGISTRY: dict[str, Metric] = {}

# seconds: the gateway's own work is sub-millisecond to tens of ms; upstream calls take seconds
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(slots=True)
class Metric:
    name: str
    help: str
    kind: str
    labels: tuple[str, ...] = ()
    # counters and gauges: labels -> value; histograms: labels -> [bucket counts..., sum, count]
    values: dict[tuple[str, ...], Any] = field(default_factory=dict)
    # a gauge may be computed when scraped instead of kept up to date
    sample: Callable[[], float] | None = None
    buckets: tuple[float, ...] = ()
    # how several workers' values combine: "sum" (counters, most gauges), "max" (build info)
    # or "min" (a share of one shared limit)
    merge: str = "sum"

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        self.values[label_values] = self.values.get(label_values, 0.0) + amount

    def set(self, value: float, *label_values: str) -> None:
        self.values[label_values] = value

    def observe(self, value: float, *label_values: str) -> None:
        series = self.values.get(label_values)
        if series is None:
            series = self.values[label_values] = [0.0] * (len(self.buckets) + 2)
        index = bisect_left(self.buckets, value)
        if index < len(self.buckets):
            series[index] += 1  # per bucket here; cumulated when rendered
        series[-2] += value
        series[-1] += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        if self.sample is not None:
            lines.append(f"{self.name} {self.sample():g}")
        for label_values, value in sorted(self.values.items()):
            if self.kind == "histogram":
                lines.extend(self._histogram(label_values, value))
            else:
                lines.append(f"{self.name}{_labels(self.labels, label_values)} {value:g}")
        return lines

    def _histogram(self, label_values: tuple[str, ...], series: list[float]) -> list[str]:
        lines, running = [], 0.0
        names = (*self.labels, "le")
        for bound, count in zip(self.buckets, series, strict=False):
            running += count
            labels = _labels(names, (*label_values, f"{bound:g}"))
            lines.append(f"{self.name}_bucket{labels} {running:g}")
        labels = _labels(names, (*label_values, "+Inf"))
        lines.append(f"{self.name}_bucket{labels} {series[-1]:g}")
        labels = _labels(self.labels, label_values)
        lines.append(f"{self.name}_sum{labels} {series[-2]:g}")
        lines.append(f"{self.name}_count{labels} {series[-1]:g}")
        return lines


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    pairs = (f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + ",".join(pairs) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _declare(name: str, help: str, kind: str, labels: tuple[str, ...],
             buckets: tuple[float, ...] = ()) -> Metric:
    existing = _REGISTRY.get(name)
    if existing is not None:
        return existing
    metric = Metric(name, help, kind, labels, buckets=buckets)
    _REGISTRY[name] = metric
    return metric


def counter(name: str, help: str, labels: tuple[str, ...] = ()) -> Metric:
    return _declare(name, help, "counter", labels)


def gauge(name: str, help: str, labels: tuple[str, ...] = ()) -> Metric:
    return _declare(name, help, "gauge", labels)


def histogram(name: str, help: str, labels: tuple[str, ...] = (),
              buckets: tuple[float, ...] = LATENCY_BUCKETS) -> Metric:
    return _declare(name, help, "histogram", labels, tuple(sorted(buckets)))


def registry() -> dict[str, Metric]:
    return _REGISTRY


def render_values(values: dict[str, dict[tuple[str, ...], Any]]) -> bytes:
    """Render values gathered elsewhere (several workers) with this registry's names."""
    lines: list[str] = []
    for metric in _REGISTRY.values():
        merged = Metric(metric.name, metric.help, metric.kind, metric.labels,
                        values.get(metric.name, {}), buckets=metric.buckets)
        lines.extend(merged.render())
    return ("\n".join(lines) + "\n").encode()


def render() -> bytes:
    lines: list[str] = []
    for metric in _REGISTRY.values():
        lines.extend(metric.render())
    return ("\n".join(lines) + "\n").encode()


REQUESTS = counter(
    "goodstanding_requests_total",
    "Calls through the gateway by endpoint, decision and HTTP status.",
    ("endpoint", "decision", "status"),
)
GATEWAY_LATENCY = histogram(
    "goodstanding_gateway_latency_seconds",
    "The gateway's own added latency per call: its time minus the upstream's; for streams, "
    "the time before the upstream call (seconds).",
    ("endpoint",))
UPSTREAM_LATENCY = histogram(
    "goodstanding_upstream_latency_seconds",
    "Upstream response time (whole answer; a stream's headers), by endpoint (seconds).",
    ("endpoint",), UPSTREAM_BUCKETS)
TIME_TO_FIRST_TOKEN = histogram(
    "goodstanding_time_to_first_token_seconds",
    "Streams: from the request's arrival to the first chunk sent to the client (seconds).",
    ("endpoint",), UPSTREAM_BUCKETS)
TOKENS = counter("goodstanding_tokens_total", "Tokens by virtual key, model and direction.",
                 ("key", "model", "direction"))
IN_FLIGHT = gauge("goodstanding_in_flight_requests", "Requests being served right now.")
STORE_ERRORS = counter("goodstanding_store_errors_total",
                       "Failed store operations, by store (database, redis).", ("store",))
BUILD_INFO = gauge("goodstanding_build_info", "Always 1; the labels name the build.",
                   ("version", "python"))
BUILD_INFO.merge = "max"
IN_FLIGHT.values[()] = 0.0


def _build() -> None:
    try:
        from importlib.metadata import version

        found = version("goodstanding")
    except Exception:  # noqa: BLE001 - not installed as a distribution (a source checkout)
        found = "unknown"
    BUILD_INFO.set(1, found, platform.python_version())


_build()


def observe(call: Call, now: float) -> None:
    """What one finished call leaves in the metrics (``now``: ``time.perf_counter()``)."""
    endpoint = call.endpoint
    REQUESTS.inc(endpoint, call.decision, str(call.status))
    answer = call.upstream
    upstream = answer.seconds
    first = answer.first_chunk_at
    if upstream is None:
        GATEWAY_LATENCY.observe(now - call.started, endpoint)  # refused: all ours
    else:
        UPSTREAM_LATENCY.observe(upstream, endpoint)
        if not call.stream:  # everything but the upstream's time (output moderation included)
            GATEWAY_LATENCY.observe(max(0.0, now - call.started - upstream), endpoint)
        else:  # a stream: the checks before the upstream call (hold-back shows in the TTFT)
            GATEWAY_LATENCY.observe((answer.sent_at or now) - call.started, endpoint)
    if first is None and call.stream and upstream is not None:
        # a stream is finished (its record made durable) before its last event leaves, so a
        # short answer held back whole has sent nothing yet: its first token leaves now
        first = now
    if first is not None:
        TIME_TO_FIRST_TOKEN.observe(first - call.started, endpoint)
    if call.key is not None and (call.tokens_in or call.tokens_out):
        model = call.model or "unknown"
        if call.tokens_in:
            TOKENS.inc(call.key.id, model, "input", amount=call.tokens_in)
        if call.tokens_out:
            TOKENS.inc(call.key.id, model, "output", amount=call.tokens_out)
