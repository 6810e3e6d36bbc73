"""An async HTTP load driver, like ab/autocannon: fixed count, concurrency, URLs round-robin or
weighted request templates (method, headers, body, `{n}`/`{user}`/`{var}` filled in).

Each worker is a virtual user with its own cookie jar: a scenario's setup step (a login) runs once
per user before its first request, and the session cookie it gets is sent back on every request
of that user. Requests are counted per route, for the per-route fit (live/route_rounds.py).
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import json
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import aiohttp
import numpy as np
from yarl import URL

from leaksleuth.errors import TargetError, UsageError
from leaksleuth.model import LoadStats
from leaksleuth.options import LoadSpec, RequestSpec, route_name

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


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


def fill(text: str, values: Mapping[str, str], escape: Callable[[str], str] | None = None) -> str:
    """`{name}` → its value (escaped for where it lands); unknown names are left as they are (a
    JSON body's braces, a literal `{`)."""

    def sub(m: re.Match[str]) -> str:
        v = values.get(m.group(1))
        if v is None:
            return m.group(0)
        return escape(v) if escape else v

    return PLACEHOLDER.sub(sub, text)


def _json_escape(v: str) -> str:
    return json.dumps(v)[1:-1]


BODY_ESCAPES: dict[str, Callable[[str], str] | None] = {"raw": None, "json": _json_escape, "form": quote_plus}


def _url_escape(v: str) -> str:
    return quote(v, safe="")


@dataclass
class RouteTally:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0  # summed latency
    status: Counter[str] = field(default_factory=Counter)

    @property
    def error_share(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass
class LoadTally:
    """Running totals over every batch sent to one target."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    status: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    routes: dict[str, RouteTally] = field(default_factory=dict)
    setup_requests: int = 0
    busy: float = 0.0  # summed latency of every request

    def overhead(self, concurrency: int) -> float:
        """Wall time per unit of latency at this concurrency (≥ 1 when the client or the machine,
        not the server, is the bottleneck): turns a route's latency into its requests per second."""
        return max(1.0, self.seconds / (self.busy / concurrency)) if self.busy > 0 else 1.0

    def stats(self) -> LoadStats:
        lat = np.asarray(self.latencies[-20000:], dtype=float) * 1000
        several = len(self.routes) > 1
        return LoadStats(
            requests=self.requests,
            errors=self.errors,
            status_counts=dict(self.status),
            seconds=self.seconds,
            latency_ms_p50=float(np.percentile(lat, 50)) if len(lat) else 0.0,
            latency_ms_p99=float(np.percentile(lat, 99)) if len(lat) else 0.0,
            route_requests={k: t.requests for k, t in self.routes.items()} if several else {},
            route_errors={k: t.errors for k, t in self.routes.items()} if several else {},
            setup_requests=self.setup_requests,
        )


class Picker:
    """Smooth weighted round-robin (nginx's): exact shares over time, evenly spread, and plain
    round-robin when the weights are equal; the state carries over from batch to batch. Over many
    templates (an access log's distinct URLs) a seeded weighted draw instead: O(log n) a pick."""

    ROUND_ROBIN_UP_TO = 64

    def __init__(self, weights: Sequence[float], seed: int = 0) -> None:
        self.weights = np.asarray(weights, dtype=float)
        self.current = np.zeros(len(self.weights))
        self.total = float(self.weights.sum())
        self.cumulative = list(np.cumsum(self.weights))
        self.rng = random.Random(seed)

    def pick(self) -> int:
        if len(self.weights) > self.ROUND_ROBIN_UP_TO:
            return min(bisect.bisect_right(self.cumulative, self.rng.random() * self.total), len(self.weights) - 1)
        self.current += self.weights
        best = int(np.argmax(self.current))
        self.current[best] -= self.total
        return best


def interleave(counts: Mapping[int, int]) -> list[int]:
    """Keys repeated `counts[k]` times, spread evenly through the batch (not one after the other)."""
    items = [((j + 0.5) / c, k) for k, c in counts.items() if c > 0 for j in range(c)]
    items.sort()
    return [k for _, k in items]


@dataclass
class VirtualUser:
    """One worker's identity: its cookies, and whether its setup step ran."""

    index: int
    jar: aiohttp.CookieJar
    ready: bool = False


class LoadDriver:
    """Sends batches of requests; counts every request ever sent (in total and per route), for the
    x axis of the fit. Re-entrant: `async with` it again later (a hunt's snapshots after its
    measurement) and the virtual users keep their sessions."""

    def __init__(self, spec: LoadSpec, timeout: float = 30.0) -> None:
        self.spec = spec
        self.templates: tuple[RequestSpec, ...] = spec.templates()
        self.routes: tuple[str, ...] = spec.routes()
        self.route_of = [self.routes.index(route_name(t)) for t in self.templates]
        self.route_templates = [[i for i, r in enumerate(self.route_of) if r == k] for k in range(len(self.routes))]
        self.concurrency = spec.concurrency
        self.vary_query = spec.vary_query
        self.headers = dict(spec.headers)
        self.timeout = timeout
        self.tally = LoadTally(routes={r: RouteTally() for r in self.routes})
        self.variables = {k: tuple(v) for k, v in spec.variables}
        self.rng = random.Random(spec.seed)
        self._mix = Picker([t.weight for t in self.templates], spec.seed)
        self._per_route = [Picker([self.templates[i].weight for i in ts], spec.seed) for ts in self.route_templates]
        self.users: list[VirtualUser] = []
        self._session: aiohttp.ClientSession | None = None
        self._depth = 0

    async def __aenter__(self) -> LoadDriver:
        if self._depth == 0:
            connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self.headers,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # each virtual user has its own jar
            )
        self._depth += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._session is not None:
            await self._session.close()
            self._session = None

    def route_weights(self) -> list[float]:
        """Each route's share of the traffic as given (the sum of its templates' weights)."""
        total = sum(t.weight for t in self.templates)
        return [sum(self.templates[i].weight for i in ts) / total for ts in self.route_templates]

    def route_counts(self) -> list[int]:
        """Requests sent so far per route, in the order of `routes`."""
        return [self.tally.routes[r].requests for r in self.routes]

    def _values(self, n: int, user: int) -> dict[str, str]:
        values = {k: self.rng.choice(v) for k, v in self.variables.items() if v}
        values["n"] = str(n)
        values["user"] = str(user)
        return values

    def _prepare_request(self, t: RequestSpec, n: int | None, user: int) -> tuple[str, dict[str, str], bytes | None]:
        if not t.template:
            url = with_query(t.url, n) if n is not None and self.vary_query else t.url
            return url, dict(t.headers), t.body.encode() if t.body is not None else None
        values = self._values(n if n is not None else 0, user)
        url = fill(t.url, values, _url_escape)
        if n is not None and self.vary_query:
            url = with_query(url, n)
        headers = {k: fill(v, values) for k, v in t.headers}
        body = fill(t.body, values, BODY_ESCAPES[t.body_kind]).encode() if t.body is not None else None
        return url, headers, body

    def _user(self, k: int) -> VirtualUser:
        while len(self.users) <= k:
            self.users.append(VirtualUser(len(self.users), aiohttp.CookieJar(unsafe=True)))
        return self.users[k]

    async def _exchange(
        self, session: aiohttp.ClientSession, user: VirtualUser, t: RequestSpec, n: int | None
    ) -> int | str:
        """One request as this user (its cookies sent, the ones set kept); the status, or the
        name of the error."""
        url, headers, body = self._prepare_request(t, n, user.index)
        try:
            async with session.request(
                t.method, url, headers=headers, data=body, cookies=user.jar.filter_cookies(URL(url))
            ) as resp:
                await resp.read()
                user.jar.update_cookies(resp.cookies, resp.url)
                return resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return type(exc).__name__

    async def prepare(self) -> None:
        """Run the setup step (once per virtual user, in order) for every user that has not yet."""
        assert self._session is not None, "use `async with LoadDriver(...)`"
        session = self._session

        async def setup(user: VirtualUser) -> None:
            for t in self.spec.setup:
                status = await self._exchange(session, user, t, None)
                self.tally.setup_requests += 1
                if not isinstance(status, int) or status >= 400:
                    what = f"HTTP {status}" if isinstance(status, int) else status
                    raise TargetError(
                        f"the setup step {route_name(t)} failed for virtual user {user.index}: {what}; "
                        "check the scenario and the target's log"
                    )
            user.ready = True

        await asyncio.gather(*(setup(u) for u in (self._user(k) for k in range(self.concurrency)) if not u.ready))

    async def send(self, count: int) -> float:
        """Send `count` requests of the traffic as given (the templates by weight) with the
        configured concurrency; return requests/s."""
        return await self._run([self._mix.pick() for _ in range(count)])

    async def send_routes(self, counts: Mapping[int, int]) -> float:
        """Send `counts[r]` requests of route r (its templates by weight), spread through the
        batch; return requests/s."""
        per_route = {r: [ts[self._per_route[r].pick()] for _ in range(c)]
                     for r, c in counts.items() if c > 0 for ts in [self.route_templates[r]]}
        order = interleave({r: len(v) for r, v in per_route.items()})
        taken = dict.fromkeys(per_route, 0)
        sequence = []
        for r in order:
            sequence.append(per_route[r][taken[r]])
            taken[r] += 1
        return await self._run(sequence)

    async def _run(self, sequence: list[int]) -> float:
        assert self._session is not None, "use `async with LoadDriver(...)`"
        if self.spec.setup and not all(self._user(k).ready for k in range(self.concurrency)):
            await self.prepare()
        session = self._session
        count = len(sequence)
        start_index = self.tally.requests
        next_index = 0
        tally = self.tally

        async def worker(user: VirtualUser) -> None:
            nonlocal next_index
            while next_index < count:
                k = next_index
                next_index += 1
                t = self.templates[sequence[k]]
                t0 = time.perf_counter()
                status = await self._exchange(session, user, t, start_index + k)
                latency = time.perf_counter() - t0
                route = tally.routes[self.routes[self.route_of[sequence[k]]]]
                failed = not isinstance(status, int) or status >= 400
                tally.status[str(status)] += 1
                route.status[str(status)] += 1
                if failed:
                    tally.errors += 1
                    route.errors += 1
                tally.latencies.append(latency)
                tally.busy += latency
                route.seconds += latency
                route.requests += 1
                tally.requests += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(self._user(k)) for k in range(min(self.concurrency, count))))
        elapsed = time.perf_counter() - t0
        tally.seconds += elapsed
        return count / elapsed if elapsed > 0 else 0.0
