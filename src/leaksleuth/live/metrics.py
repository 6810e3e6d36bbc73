"""Readings from a service's own metrics endpoint (prom-client's default names): nothing is sent
to the process but the GET its Prometheus already makes.

    nodejs_heap_size_used_bytes                   heap used (required)
    nodejs_heap_space_size_used_bytes{space}      code spaces, excluded from the trend
    nodejs_external_memory_bytes                  external (Buffers)
    process_resident_memory_bytes                 RSS
    nodejs_active_handles_total / nodejs_active_handles
    http_requests_total (or a counter named)      requests served, summed over its labels

Parsed with `prometheus_client`'s own text parser.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from leaksleuth.errors import MetricsError, UsageError
from leaksleuth.model import Sample

HEAP_USED = "nodejs_heap_size_used_bytes"
HEAP_SPACE_USED = "nodejs_heap_space_size_used_bytes"
# counters of requests served, in the order we look for them when none is named
REQUEST_COUNTERS = ("http_requests_total", "http_request_duration_seconds_count", "http_request_duration_ms_count")
SCRAPE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Exposition:
    """The figures we use from one scrape (None: not exported)."""

    heap_used: float
    code_space: float | None
    young_space: float | None
    rss: float | None
    external: float | None
    handles: float | None
    requests: float | None
    request_metric: str | None


def parse_exposition(text: str, request_metric: str | None = None) -> Exposition:
    """Our figures from Prometheus text; MetricsError when it is not Prometheus text or lacks the
    heap metric."""
    sums: dict[str, float] = {}
    code = young = 0.0
    code_seen = young_seen = False
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                space = str(s.labels.get("space", "")) if s.name == HEAP_SPACE_USED else ""
                if space.startswith("code"):
                    code += float(s.value)
                    code_seen = True
                elif space.startswith("new"):  # prom-client drops "_space": new, new_large_object
                    young += float(s.value)
                    young_seen = True
                sums[s.name] = sums.get(s.name, 0.0) + float(s.value)
    except (ValueError, TypeError, IndexError) as exc:
        raise MetricsError(f"not Prometheus text ({exc})") from exc
    if HEAP_USED not in sums:
        if not sums:
            raise MetricsError("not Prometheus text: no metric in the answer")
        raise MetricsError(
            f"no {HEAP_USED} among its {len(sums)} metrics: export prom-client's default metrics "
            "(collectDefaultMetrics())"
        )
    if request_metric is not None:
        used = request_metric if request_metric in sums else None
    else:
        used = next((n for n in REQUEST_COUNTERS if n in sums), None)
    handles = sums.get("nodejs_active_handles_total", sums.get("nodejs_active_handles"))
    return Exposition(
        heap_used=sums[HEAP_USED],
        code_space=code if code_seen else None,
        young_space=young if young_seen else None,
        rss=sums.get("process_resident_memory_bytes"),
        external=sums.get("nodejs_external_memory_bytes"),
        handles=handles,
        requests=sums[used] if used else None,
        request_metric=used,
    )


def check_http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http URL: {url}")
    return url


class MetricsEndpoint:
    """A service's /metrics, read on demand (one GET per reading)."""

    def __init__(self, url: str, request_metric: str | None = None) -> None:
        self.url = check_http_url(url)
        self.request_metric = request_metric
        self._session: aiohttp.ClientSession | None = None
        self.missing_counter = False  # a counter was named and is not exported

    async def __aenter__(self) -> MetricsEndpoint:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def text(self) -> str:
        assert self._session is not None, "use `async with MetricsEndpoint(...)`"
        try:
            async with self._session.get(self.url, headers={"Accept": "text/plain"}) as r:
                body = await r.text(errors="replace")
                if r.status != 200:
                    raise MetricsError(f"{self.url} answered HTTP {r.status}")
                return body
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise MetricsError(f"cannot read {self.url}: {exc or type(exc).__name__}") from exc

    async def read(self, since: float) -> Sample:
        """One reading; `since`: the monotonic time the watch began."""
        e = parse_exposition(await self.text(), self.request_metric)
        self.missing_counter = self.request_metric is not None and e.request_metric is None
        return Sample(
            time=time.monotonic() - since,
            heap_used=int(e.heap_used),
            code_space=int(e.code_space) if e.code_space is not None else None,
            young_space=int(e.young_space) if e.young_space is not None else None,
            rss=int(e.rss) if e.rss is not None else None,
            external=int(e.external) if e.external is not None else None,
            handles=int(e.handles) if e.handles is not None else None,
            requests=e.requests,
        )
