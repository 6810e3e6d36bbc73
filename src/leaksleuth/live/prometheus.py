"""A Prometheus-compatible server's HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics...):
instant and range queries, answers checked. Aggregation is done server-side in PromQL by the
caller; this module only carries queries and rows."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from leaksleuth.errors import PrometheusError
from leaksleuth.live.metrics import check_http_url

QUERY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    times: np.ndarray  # unix seconds
    values: np.ndarray


class PrometheusAPI:
    """`async with PrometheusAPI(url) as prom: await prom.query_range(...)`."""

    def __init__(self, url: str, timeout: float = QUERY_TIMEOUT) -> None:
        self.url = check_http_url(url).rstrip("/")
        self.timeout = timeout
        self.queries = 0
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PrometheusAPI:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, path: str, form: dict[str, str]) -> Any:
        assert self._session is not None, "use `async with PrometheusAPI(...)`"
        self.queries += 1
        where = f"{self.url}{path}"
        try:
            # POST with a form: long PromQL does not hit URL length limits
            async with self._session.post(where, data=form) as r:
                body = await r.text(errors="replace")
                status = r.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {exc or type(exc).__name__}") from exc
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("status") not in ("success", "error"):
            raise PrometheusError(
                f"{self.url} is not a Prometheus HTTP API (HTTP {status} to {path}, not its JSON answer)"
            )
        if doc["status"] == "error":
            raise PrometheusError(f"Prometheus refused `{form.get('query', '')}`: {doc.get('error', '?')}")
        return doc.get("data", {})

    async def query(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """An instant vector: (labels, value) per series."""
        form = {"query": expr}
        if at is not None:
            form["time"] = f"{at:.3f}"
        data = await self._call("/api/v1/query", form)
        if data.get("resultType") == "scalar":
            return [({}, _value(data["result"][1]))]
        if data.get("resultType") != "vector":
            raise PrometheusError(f"`{expr}` is not an instant vector query")
        return [(dict(r.get("metric", {})), _value(r["value"][1])) for r in data.get("result", [])]

    async def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """A range query: one Series per label set (NaN and Inf points dropped)."""
        data = await self._call(
            "/api/v1/query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        )
        if data.get("resultType") != "matrix":
            raise PrometheusError(f"`{expr}` did not give a range")
        found = []
        for r in data.get("result", []):
            pts = [(float(t), _value(v)) for t, v in r.get("values", [])]
            pts = [(t, v) for t, v in pts if math.isfinite(v)]
            found.append(Series(
                dict(r.get("metric", {})),
                np.asarray([t for t, _ in pts], dtype=float),
                np.asarray([v for _, v in pts], dtype=float),
            ))
        return found

    async def server_time(self) -> float:
        """The server's clock (`time()`), so ranges end at its now, not ours."""
        return (await self.query("time()"))[0][1]


def _value(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
