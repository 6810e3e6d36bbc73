"""Record a HAR with a real headless Chromium: open pages, run scripts in them (a fetch POST), and
write what the browser sent as HAR 1.2, from the DevTools protocol's Network events (what
DevTools' "Save all as HAR" does, for the request side and the status).

    record_har(["http://127.0.0.1:3000/", ...], out, scripts=["fetch('/api/cart', {...})"])
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import websockets

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """A CDP session to one page: commands by id, Network events collected."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.replies: dict[int, asyncio.Future[Any]] = {}
        self.requests: dict[str, dict[str, Any]] = {}  # requestId → what we know
        self.order: list[str] = []
        self.loaded = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                fut = self.replies.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg.get("result", {}))
                continue
            self._event(msg.get("method", ""), msg.get("params", {}))

    def _event(self, method: str, p: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            rid = p["requestId"]
            if rid not in self.requests:
                self.order.append(rid)
            self.requests[rid] = {"request": p["request"], "type": p.get("type", ""), "time": p.get("wallTime", time.time()),
                                  "done": False, **{k: v for k, v in self.requests.get(rid, {}).items()
                                                    if k in ("response",)}}
        elif method == "Network.responseReceived":
            self.requests.setdefault(p["requestId"], {})["response"] = p["response"]
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self.requests.setdefault(p["requestId"], {})["done"] = True
        elif method == "Page.loadEventFired":
            self.loaded.set()

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = fut
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        return await asyncio.wait_for(fut, 20)

    async def settle(self, timeout: float = 10.0) -> None:
        """Until every request seen has finished (or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(r.get("done") for r in self.requests.values() if "request" in r):
                await asyncio.sleep(0.2)
                if all(r.get("done") for r in self.requests.values() if "request" in r):
                    return
            await asyncio.sleep(0.05)

    def har(self) -> dict[str, Any]:
        entries = []
        for rid in self.order:
            r = self.requests[rid]
            req, resp = r["request"], r.get("response", {})
            body = req.get("postData")
            if body is None and req.get("postDataEntries"):
                body = b"".join(base64.b64decode(e.get("bytes", "")) for e in req["postDataEntries"]).decode()
            request: dict[str, Any] = {
                "method": req["method"], "url": req["url"] + req.get("urlFragment", ""), "httpVersion": "HTTP/1.1",
                "headers": [{"name": k, "value": v} for k, v in req.get("headers", {}).items()],
                "queryString": [], "cookies": [], "headersSize": -1, "bodySize": len(body or ""),
            }
            if body is not None:
                mime = next((v for k, v in req.get("headers", {}).items() if k.lower() == "content-type"), "")
                request["postData"] = {"mimeType": mime, "text": body}
            entries.append({
                "startedDateTime": dt.datetime.fromtimestamp(r["time"], dt.UTC).isoformat(),
                "time": 0, "_resourceType": r["type"].lower(), "request": request,
                "response": {"status": resp.get("status", 0), "statusText": resp.get("statusText", ""),
                             "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                             "content": {"size": 0, "mimeType": resp.get("mimeType", "")},
                             "redirectURL": "", "headersSize": -1, "bodySize": -1},
                "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0},
            })
        return {"log": {"version": "1.2", "creator": {"name": "leaksleuth test recorder", "version": "1"},
                        "pages": [], "entries": entries}}


def _devtools_port(profile: Path, timeout: float = 20.0) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        time.sleep(0.05)
    raise TimeoutError("Chromium did not open its DevTools port")


def _page_url(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as f:
        targets = json.load(f)
    return str(next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"))


async def _record(page_url: str, urls: list[str], scripts: list[str]) -> dict[str, Any]:
    async with websockets.connect(page_url, max_size=None) as ws:
        page = Page(ws)
        await page.send("Network.enable")
        await page.send("Page.enable")
        for url in urls:
            page.loaded.clear()
            await page.send("Page.navigate", {"url": url})
            await asyncio.wait_for(page.loaded.wait(), 20)
            await page.settle()
        for script in scripts:
            await page.send("Runtime.evaluate", {"expression": script, "awaitPromise": True})
            await page.settle()
        page.reader.cancel()
        return page.har()


def record_har(urls: list[str], out: Path, scripts: Sequence[str] = ()) -> dict[str, Any]:
    """Open `urls` in turn in a headless Chromium, then run `scripts` in the last page; write the HAR."""
    exe = chromium()
    assert exe, "headless Chromium is needed (make test installs it)"
    with tempfile.TemporaryDirectory(prefix="leaksleuth-chromium-") as profile:
        proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            har = asyncio.run(_record(_page_url(_devtools_port(Path(profile))), urls, list(scripts)))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    out.write_text(json.dumps(har, indent=1))
    return har
