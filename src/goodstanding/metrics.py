"""Prometheus metrics, in-process, rendered in the text exposition format at ``/metrics``.

A deliberately small registry: counters and gauges with fixed label names, no client library
on the hot path (an increment is one dict update). Modules declare their metrics at import
time with ``counter(...)`` / ``gauge(...)``; the registry is process-wide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

_REGISTRY: dict[str, Metric] = {}


@dataclass(slots=True)
class Metric:
    name: str
    help: str
    kind: str
    labels: tuple[str, ...] = ()
    values: dict[tuple[str, ...], float] = field(default_factory=dict)
    # a gauge may be computed when scraped instead of kept up to date
    sample: Callable[[], float] | None = None

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        self.values[label_values] = self.values.get(label_values, 0.0) + amount

    def set(self, value: float, *label_values: str) -> None:
        self.values[label_values] = value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        if self.sample is not None:
            lines.append(f"{self.name} {self.sample():g}")
        for label_values, value in sorted(self.values.items()):
            lines.append(f"{self.name}{_labels(self.labels, label_values)} {value:g}")
        return lines


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    pairs = (f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + ",".join(pairs) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _declare(name: str, help: str, kind: str, labels: tuple[str, ...]) -> Metric:
    existing = _REGISTRY.get(name)
    if existing is not None:
        return existing
    metric = Metric(name, help, kind, labels)
    _REGISTRY[name] = metric
    return metric


def counter(name: str, help: str, labels: tuple[str, ...] = ()) -> Metric:
    return _declare(name, help, "counter", labels)


def gauge(name: str, help: str, labels: tuple[str, ...] = ()) -> Metric:
    return _declare(name, help, "gauge", labels)


def registry() -> dict[str, Metric]:
    return _REGISTRY


def render_values(values: dict[str, dict[tuple[str, ...], float]]) -> bytes:
    """Render values gathered elsewhere (several workers) with this registry's names."""
    lines: list[str] = []
    for metric in _REGISTRY.values():
        merged = Metric(metric.name, metric.help, metric.kind, metric.labels,
                        values.get(metric.name, {}))
        lines.extend(merged.render())
    return ("\n".join(lines) + "\n").encode()


def render() -> bytes:
    lines: list[str] = []
    for metric in _REGISTRY.values():
        lines.extend(metric.render())
    return ("\n".join(lines) + "\n").encode()


REQUESTS = counter(
    "goodstanding_requests_total", "Calls through the gateway by endpoint and decision.",
    ("endpoint", "decision"),
)
