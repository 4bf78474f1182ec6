"""Self-metrics in Prometheus text form: counters, gauges and latency histograms. Each service keeps
its own registry, built from its own table of names, types and help texts (`collector.metrics`,
`forwarder.metrics`), shows only those and refuses any other name. API keys never appear in labels."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else ""


Help = dict[str, tuple[str, str]]  # name -> (counter | gauge | histogram, help text)


class Metrics:
    def __init__(self, names: Help) -> None:
        self.names = names
        self.values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self.histograms: dict[str, list[float]] = {}
        self.gauges: dict[str, Callable[[], float]] = {}

    def _declared(self, name: str) -> None:
        if name not in self.names:  # a typo would otherwise count into a series that is never shown
            raise KeyError(f"metric {name!r} is not declared in this service's table")

    def add(self, name: str, value: float = 1, **labels: str) -> None:
        self._declared(name)
        key = tuple(sorted(labels.items()))
        series = self.values[name]
        series[key] = series.get(key, 0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        self._declared(name)
        self.values[name][tuple(sorted(labels.items()))] = value

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self._declared(name)
        self.gauges[name] = read

    def observe(self, name: str, seconds: float) -> None:
        self._declared(name)
        counts = self.histograms.setdefault(name, [0.0] * (len(LATENCY_BUCKETS) + 3))
        counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        counts[-2] += seconds  # sum
        counts[-1] += 1  # count

    def get(self, name: str, **labels: str) -> float:
        if name in self.gauges:
            return self.gauges[name]()
        return self.values.get(name, {}).get(tuple(sorted(labels.items())), 0)

    def total(self, name: str) -> float:
        return sum(self.values.get(name, {}).values())

    def render(self) -> str:
        lines: list[str] = []
        for name, (kind, text) in self.names.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            if name in self.gauges:
                lines.append(f"{name} {self.gauges[name]()}")
            elif kind == "histogram":
                counts = self.histograms.get(name, [0.0] * (len(LATENCY_BUCKETS) + 3))
                cumulative = 0.0
                for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=False):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(f'{name}_bucket{{le="{le}"}} {cumulative:g}')
                lines += [f"{name}_sum {counts[-2]}", f"{name}_count {counts[-1]:g}"]
            else:
                series = self.values.get(name) or {(): 0}
                lines += [f"{name}{_labels(key)} {value:g}" for key, value in sorted(series.items())]
        return "\n".join(lines) + "\n"
