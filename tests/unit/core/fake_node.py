"""A fake Node service for testing the async loops without node: an HTTP server that counts the
requests it serves and a CDP endpoint whose heap grows by `leak` bytes per request served."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import websockets
from aiohttp import web

from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.discover import NodeProcess
from leaksleuth.live.rounds import Inspected


@dataclass
class FakeNode:
    leak: float  # heap bytes kept per request served
    timers_per_request: float = 0.0
    base: int = 30 << 20
    served: int = 0
    gcs: int = 0
    closed_after: int | None = None  # drop the inspector after this many readings
    readings: int = 0
    errors: list[str] = field(default_factory=list)

    def memory(self) -> dict[str, object]:
        heap = self.base + int(self.leak * self.served)
        return {"heapUsed": heap, "heapTotal": heap + (8 << 20), "rss": heap + (50 << 20), "external": 1 << 20,
                "code": 1 << 20, "resources": {"Timeout": 2 + int(self.timers_per_request * self.served)}}

    async def cdp(self, ws: websockets.ServerConnection) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            method = msg["method"]
            if method == "HeapProfiler.collectGarbage":
                self.gcs += 1
                result: dict[str, object] = {}
            elif method == "Runtime.evaluate":
                self.readings += 1
                if self.closed_after is not None and self.readings > self.closed_after:
                    await ws.close()
                    return
                result = {"result": {"type": "object", "value": self.memory()}}
            else:
                self.errors.append(method)
                result = {}
            await ws.send(json.dumps({"id": msg["id"], "result": result}))

    async def http(self, request: web.Request) -> web.Response:
        self.served += 1
        return web.Response(text="ok")


@contextlib.asynccontextmanager
async def serving(app: web.Application, cdp: Callable[[websockets.ServerConnection], Awaitable[None]]
                  ) -> AsyncIterator[tuple[str, Inspected]]:
    """Serve `app` over HTTP and `cdp` as an inspector, both on loopback: (base URL, an Inspected
    connected to that inspector)."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = runner.addresses[0][1]
    async with websockets.serve(cdp, "127.0.0.1", 0) as server:
        ws_port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{ws_port}/fake"
        session = await InspectorSession.connect(url)
        process = NodeProcess(pid=1, ppid=0, inspector_url=url, argv=("node", "fake.js"), role="server", serving=True)
        try:
            yield f"http://127.0.0.1:{http_port}", Inspected(process, session)
        finally:
            await session.close()
            await runner.cleanup()


@contextlib.asynccontextmanager
async def running(node: FakeNode) -> AsyncIterator[tuple[str, Inspected]]:
    """(URL to load, an Inspected connected to the fake inspector)."""
    app = web.Application()
    app.router.add_get("/", node.http)
    async with serving(app, node.cdp) as (base, ins):
        yield f"{base}/", ins
