"""An async HTTP load driver, like ab/autocannon: URLs round-robin, fixed count, concurrency."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import numpy as np

from leaksleuth.errors import UsageError
from leaksleuth.model import LoadStats
from leaksleuth.options import LoadSpec


def check_local_url(url: str) -> int:
    """Refuse URLs that are not http(s) on this machine; return the port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port out of range, a broken IPv6 literal
        raise UsageError(f"bad URL {url}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http URL: {url}")
    try:
        addrs = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, None)}
    except socket.gaierror as exc:
        raise UsageError(f"cannot resolve {parts.hostname}: {exc.strerror}") from exc
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs):
        raise UsageError(f"{url} is not on this machine: leaksleuth only loads local (loopback) targets")
    return port or (443 if parts.scheme == "https" else 80)


def with_query(url: str, n: int) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&leaksleuth={n}" if parts.query else f"leaksleuth={n}"
    return urlunsplit(parts._replace(query=query))


@dataclass
class LoadTally:
    """Running totals over every batch sent to one target."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    status: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def stats(self) -> LoadStats:
        lat = np.asarray(self.latencies[-20000:], dtype=float) * 1000
        return LoadStats(
            requests=self.requests,
            errors=self.errors,
            status_counts=dict(self.status),
            seconds=self.seconds,
            latency_ms_p50=float(np.percentile(lat, 50)) if len(lat) else 0.0,
            latency_ms_p99=float(np.percentile(lat, 99)) if len(lat) else 0.0,
        )


class LoadDriver:
    """Sends batches of requests; counts every request ever sent, for the x axis of the fit."""

    def __init__(self, spec: LoadSpec, timeout: float = 30.0) -> None:
        self.urls = spec.urls
        self.concurrency = spec.concurrency
        self.vary_query = spec.vary_query
        self.headers = dict(spec.headers)
        self.method = spec.method
        self.timeout = timeout
        self.tally = LoadTally()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LoadDriver:
        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers=self.headers,
            auto_decompress=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _url(self, n: int) -> str:
        url = self.urls[n % len(self.urls)]
        return with_query(url, n) if self.vary_query else url

    async def send(self, count: int) -> float:
        """Send `count` requests with the configured concurrency; return requests/s."""
        assert self._session is not None, "use `async with LoadDriver(...)`"
        session = self._session
        start_index = self.tally.requests
        next_index = 0
        tally = self.tally

        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                n = start_index + next_index
                next_index += 1
                t0 = time.perf_counter()
                try:
                    async with session.request(self.method, self._url(n)) as resp:
                        await resp.read()
                        tally.status[str(resp.status)] += 1
                        if resp.status >= 400:
                            tally.errors += 1
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    tally.errors += 1
                    tally.status[type(exc).__name__] += 1
                tally.latencies.append(time.perf_counter() - t0)
                tally.requests += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, count))))
        elapsed = time.perf_counter() - t0
        tally.seconds += elapsed
        return count / elapsed if elapsed > 0 else 0.0
