"""Prometheus metrics of the API, hand-written (text exposition format 0.0.4).

Counters of requests by route, method and status, a latency histogram by route, events
appended and duplicates by source, model and data reloads; rendered by `GET /metrics`.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Callable

BUCKETS_S: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                                2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = labels + extra
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


class Metrics:
    """The API's counters and histograms; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._help: dict[str, str] = {
            "insight_api_requests_total": "HTTP requests by route, method and status.",
            "insight_api_events_appended_total": "Events written to the append log.",
            "insight_api_events_duplicate_total": "Events left out as already logged.",
        }
        self._hist: dict[Labels, list[int]] = {}
        self._hist_sum: dict[Labels, float] = defaultdict(float)
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def inc(self, name: str, labels: Labels = (), value: float = 1.0) -> None:
        """Add `value` to counter `name` with `labels`."""
        with self._lock:
            series = self._counters[name]
            series[labels] = series.get(labels, 0.0) + value

    def observe(self, route: str, seconds: float) -> None:
        """Record one request latency of `route` in the histogram."""
        key = (("route", route),)
        with self._lock:
            counts = self._hist.setdefault(key, [0] * (len(BUCKETS_S) + 1))
            counts[bisect.bisect_left(BUCKETS_S, seconds)] += 1
            self._hist_sum[key] += seconds

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """Register a gauge read at render time."""
        self._gauges[name] = (help_text, read)

    def render(self) -> str:
        """All series in the Prometheus text format."""
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines.append(f"# HELP {name} {self._help.get(name, name)}")
                lines.append(f"# TYPE {name} counter")
                for labels, value in sorted(series.items()):
                    lines.append(f"{name}{_labels(labels)} {value:g}")
            name = "insight_api_request_duration_seconds"
            lines.append(f"# HELP {name} Request latency by route.")
            lines.append(f"# TYPE {name} histogram")
            for labels, counts in sorted(self._hist.items()):
                running = 0
                for bound, count in zip(BUCKETS_S, counts, strict=False):
                    running += count
                    lines.append(f"{name}_bucket{_labels(labels, (('le', f'{bound:g}'),))} "
                                 f"{running}")
                running += counts[-1]
                lines.append(f"{name}_bucket{_labels(labels, (('le', '+Inf'),))} {running}")
                lines.append(f"{name}_sum{_labels(labels)} {self._hist_sum[labels]:.6f}")
                lines.append(f"{name}_count{_labels(labels)} {running}")
        for name, (help_text, read) in sorted(self._gauges.items()):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {read():g}")
        return "\n".join(lines) + "\n"
