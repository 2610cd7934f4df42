"""Prometheus metrics in the text exposition format (version 0.0.4), written out by hand.

Counters and histograms with labels, and gauges read from a callback at scrape time. One `Registry`
per application (no process-global state, so tests build as many apps as they like).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence

#: Request latency buckets in seconds (Prometheus client defaults, trimmed at the fast end).
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    """A monotonically increasing count, per label values."""

    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.labels = name, help, tuple(labels)
        self.values: dict[Labels, float] = {} if labels else {(): 0.0}

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        """Add ``amount`` (>= 0) to the count of these label values."""
        self.values[label_values] = self.values.get(label_values, 0.0) + amount

    def get(self, *label_values: str) -> float:
        return self.values.get(label_values, 0.0)

    def series(self, *label_values: str) -> BoundCounter:
        """Return the series of these label values, to count into without looking it up each time."""
        self.values.setdefault(label_values, 0.0)
        return BoundCounter(self.values, label_values)

    def lines(self) -> Iterable[str]:
        for values, count in sorted(self.values.items()):
            yield f"{self.name}{_label_text(self.labels, values)} {_num(count)}"


class BoundCounter:
    """One series of a `Counter` (from `Counter.series`)."""

    __slots__ = ("_values", "_key")

    def __init__(self, values: dict[Labels, float], key: Labels) -> None:
        self._values, self._key = values, key

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (>= 0) to the series."""
        self._values[self._key] += amount


class Gauge:
    """A value read at scrape time from a callback returning ``{label values: value}``."""

    kind = "gauge"

    def __init__(self, name: str, help: str, read: Callable[[], dict[Labels, float]],
                 labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.labels, self.read = name, help, tuple(labels), read

    def lines(self) -> Iterable[str]:
        for values, value in sorted(self.read().items()):
            yield f"{self.name}{_label_text(self.labels, values)} {_num(value)}"


class Histogram:
    """Observations counted into cumulative buckets, per label values."""

    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (),
                 buckets: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        self.name, self.help, self.labels = name, help, tuple(labels)
        self.buckets = tuple(sorted(buckets))
        self.counts: dict[Labels, list[int]] = {}
        self.sums: dict[Labels, float] = {}

    def observe(self, value: float, *label_values: str) -> None:
        """Count one observation (e.g. a latency in seconds)."""
        self._counts(label_values)[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[label_values] += value

    def series(self, *label_values: str) -> BoundHistogram:
        """Return the series of these label values, to observe into without looking it up each time."""
        self._counts(label_values)
        return BoundHistogram(self, label_values)

    def _counts(self, key: Labels) -> list[int]:
        """Return the bucket counts of a series, starting it at zero the first time."""
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = [0] * (len(self.buckets) + 1)
            self.sums[key] = 0.0
        return counts

    def lines(self) -> Iterable[str]:
        for values, counts in sorted(self.counts.items()):
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts):
                running += n
                le = f'le="{_num(bound)}"'
                yield f"{self.name}_bucket{_label_text(self.labels, values, le)} {running}"
            yield f"{self.name}_sum{_label_text(self.labels, values)} {_num(self.sums[values])}"
            yield f"{self.name}_count{_label_text(self.labels, values)} {running}"


class BoundHistogram:
    """One series of a `Histogram` (from `Histogram.series`)."""

    __slots__ = ("_histogram", "_key", "_counts", "_buckets")

    def __init__(self, histogram: Histogram, key: Labels) -> None:
        self._histogram, self._key = histogram, key
        self._counts, self._buckets = histogram.counts[key], histogram.buckets

    def observe(self, value: float) -> None:
        """Count one observation."""
        self._counts[bisect.bisect_left(self._buckets, value)] += 1
        self._histogram.sums[self._key] += value


class Registry:
    """The metrics of one application, rendered by `render`."""

    def __init__(self) -> None:
        self.metrics: list[Counter | Gauge | Histogram] = []

    def add(self, metric: Counter | Gauge | Histogram) -> Counter | Gauge | Histogram:
        if any(m.name == metric.name for m in self.metrics):
            raise ValueError(f"metric name {metric.name!r} is already registered")
        self.metrics.append(metric)
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        """Register and return a counter."""
        return self.add(Counter(name, help, labels))  # type: ignore[return-value]

    def gauge(self, name: str, help: str, read: Callable[[], dict[Labels, float]],
              labels: Sequence[str] = ()) -> Gauge:
        """Register and return a gauge read from ``read()`` at scrape time."""
        return self.add(Gauge(name, help, read, labels))  # type: ignore[return-value]

    def histogram(self, name: str, help: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = LATENCY_BUCKETS_S) -> Histogram:
        """Register and return a histogram."""
        return self.add(Histogram(name, help, labels, buckets))  # type: ignore[return-value]

    def render(self) -> str:
        """Return every metric in the Prometheus text format."""
        out: list[str] = []
        for m in self.metrics:
            out.append(f"# HELP {m.name} {m.help}")
            out.append(f"# TYPE {m.name} {m.kind}")
            out.extend(m.lines())
        return "\n".join(out) + "\n"


#: The Content-Type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
