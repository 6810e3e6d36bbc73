"""A fake Node service with several routes for the per-route loop: each route keeps its own bytes per
request, readings carry seeded noise, a login route sets a session cookie per user."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import websockets
from aiohttp import web

from leaksleuth.live.rounds import Inspected
from tests.unit.core.fake_node import serving


@dataclass
class FakeRoutes:
    leaks: dict[str, float]  # "GET /a" → bytes kept per request
    noise: float = 0.0  # standard deviation of a reading, bytes
    failing: set[str] = field(default_factory=set)  # routes that answer 500
    base: int = 30 << 20
    seed: int = 1
    served: Counter[str] = field(default_factory=Counter)
    sessions: dict[str, str] = field(default_factory=dict)  # sid → user
    cookies_seen: Counter[str] = field(default_factory=Counter)  # user → requests with their cookie
    anonymous: int = 0
    bodies: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def memory(self) -> dict[str, object]:
        heap = self.base + sum(self.leaks.get(r, 0.0) * n for r, n in self.served.items())
        heap += float(self.rng.normal(0, self.noise)) if self.noise else 0.0
        heap = int(heap)
        return {"heapUsed": heap, "heapTotal": heap + (8 << 20), "rss": heap + (50 << 20), "external": 1 << 20,
                "code": 1 << 20, "resources": {"Timeout": 2}}

    async def cdp(self, ws: websockets.ServerConnection) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            result: dict[str, object] = {}
            if msg["method"] == "Runtime.evaluate":
                result = {"result": {"type": "object", "value": self.memory()}}
            await ws.send(json.dumps({"id": msg["id"], "result": result}))

    async def http(self, request: web.Request) -> web.Response:
        route = f"{request.method} {request.path}"
        sid = request.cookies.get("sid")
        if sid in self.sessions:
            self.cookies_seen[self.sessions[sid]] += 1
        else:
            self.anonymous += 1
        if request.can_read_body:
            self.bodies.append(await request.read())
        self.served[route] += 1
        if route in self.failing:
            return web.Response(status=500, text="boom")
        return web.Response(text="ok")

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        sid = secrets.token_hex(8)
        self.sessions[sid] = str(form["user"])
        resp = web.Response(text="in")
        resp.set_cookie("sid", sid, path="/")
        return resp


@contextlib.asynccontextmanager
async def running(node: FakeRoutes) -> AsyncIterator[tuple[str, Inspected]]:
    """(base URL, an Inspected connected to the fake inspector)."""
    app = web.Application()
    app.router.add_post("/login", node.login)
    app.router.add_route("*", "/{tail:.*}", node.http)
    async with serving(app, node.cdp) as running_node:
        yield running_node
