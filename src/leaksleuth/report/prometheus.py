"""`watch --serve`: our figures in the Prometheus text format, through `prometheus_client`.

One series per watched process (labels `pid`, `role`, `source`), read from the latest watch
point each time Prometheus scrapes; a process that is gone disappears from the next scrape.

    leaksleuth_heap_used_bytes                      the last reading
    leaksleuth_heap_trough_bytes                    the fitted post-GC level (code space excluded)
    leaksleuth_leak_bytes_per_second                the trough trend
    leaksleuth_leak_bytes_per_second_ci95{bound}    its 95% interval (low, high)
    leaksleuth_leak_bytes_per_request               per request (with a request counter)
    leaksleuth_leak_verdict{verdict}                1 for the current verdict, 0 for the others
    leaksleuth_seconds_to_oom                       at the trend, against the limit hit first
    leaksleuth_seconds_to_oom_band{bound}           earliest, latest
    leaksleuth_memory_limit_bytes{kind}             heap or cgroup: the one hit first
    leaksleuth_forced_gcs_total                     GCs we forced (0 in passive and metrics modes)
    leaksleuth_oom_kills_total                      OOM kills of its cgroup seen while watching
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from leaksleuth.model import VERDICTS, WatchPoint

LABELS = ["pid", "role", "source"]


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


class WatchCollector(Collector):
    """A collector over the latest point of each process (`latest()` is called per scrape)."""

    def __init__(self, latest: Callable[[], list[WatchPoint]]) -> None:
        self.latest = latest

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        g = {
            "heap": GaugeMetricFamily("leaksleuth_heap_used_bytes", "Heap used at the last reading", labels=LABELS),
            "trough": GaugeMetricFamily("leaksleuth_heap_trough_bytes",
                                        "Fitted post-GC heap level, code space excluded", labels=LABELS),
            "rate": GaugeMetricFamily("leaksleuth_leak_bytes_per_second", "Trend of the post-GC troughs",
                                      labels=LABELS),
            "rate_ci": GaugeMetricFamily("leaksleuth_leak_bytes_per_second_ci95", "95% interval of the trend",
                                         labels=[*LABELS, "bound"]),
            "per_request": GaugeMetricFamily("leaksleuth_leak_bytes_per_request",
                                             "Trough trend per request served", labels=LABELS),
            "verdict": GaugeMetricFamily("leaksleuth_leak_verdict", "1 for the current verdict", labels=[*LABELS, "verdict"]),
            "oom": GaugeMetricFamily("leaksleuth_seconds_to_oom", "Seconds to the limit hit first, at the trend",
                                     labels=LABELS),
            "oom_band": GaugeMetricFamily("leaksleuth_seconds_to_oom_band", "Band of the time to OOM",
                                          labels=[*LABELS, "bound"]),
            "limit": GaugeMetricFamily("leaksleuth_memory_limit_bytes", "The limit hit first", labels=[*LABELS, "kind"]),
        }
        gcs = CounterMetricFamily("leaksleuth_forced_gcs", "GCs forced by leaksleuth", labels=LABELS)
        ooms = CounterMetricFamily("leaksleuth_oom_kills", "OOM kills of the process's cgroup seen", labels=LABELS)
        for p in self.latest():
            if p.lost:
                continue
            key = [str(p.pid), p.role, p.source]
            t = p.trend
            g["heap"].add_metric(key, p.heap_used)
            if t.troughs:
                g["trough"].add_metric(key, t.level)
                g["rate"].add_metric(key, t.bytes_per_second)
                for bound, value in (("low", t.ci95.low), ("high", t.ci95.high)):
                    if _finite(value):
                        g["rate_ci"].add_metric([*key, bound], value)
            if t.bytes_per_request is not None:
                g["per_request"].add_metric(key, t.bytes_per_request)
            for v in VERDICTS:
                g["verdict"].add_metric([*key, v], 1.0 if t.verdict == v else 0.0)
            f = p.forecast
            if f is not None:
                g["limit"].add_metric([*key, f.limit_kind], f.limit_bytes)
                if f.seconds is not None:
                    g["oom"].add_metric(key, f.seconds)
                for bound, when in (("earliest", f.earliest), ("latest", f.latest)):
                    if when is not None and math.isfinite(when):
                        g["oom_band"].add_metric([*key, bound], when)
            gcs.add_metric(key, p.forced_gcs)
            ooms.add_metric(key, p.oom_kills)
        yield from g.values()
        yield gcs
        yield ooms
