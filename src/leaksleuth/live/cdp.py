"""An async Chrome DevTools Protocol session with one Node process, over a websocket.

The session owns its socket: commands get replies by id, events go to subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from leaksleuth.errors import InspectorError

EventHandler = Callable[[dict[str, Any]], None]


class InspectorSession:
    """One CDP connection. Use `await InspectorSession.connect(url)`; close with `close()`."""

    def __init__(self, url: str, ws: ClientConnection) -> None:
        self.url = url
        self._ws = ws
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._subscribers: dict[str, list[EventHandler]] = {}
        self._closed: Exception | None = None
        self._reader = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(cls, url: str, timeout: float = 10.0) -> InspectorSession:
        try:
            ws = await asyncio.wait_for(
                websockets.connect(url, max_size=None, ping_interval=None, open_timeout=timeout),
                timeout,
            )
        except (TimeoutError, OSError, websockets.InvalidHandshake) as exc:
            raise InspectorError(f"cannot connect to the inspector at {url}: {exc}") from exc
        return cls(url, ws)

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def subscribe(self, method: str, handler: EventHandler) -> Callable[[], None]:
        """Call `handler(params)` for each `method` event; returns an unsubscribe function."""
        self._subscribers.setdefault(method, []).append(handler)
        return lambda: self._subscribers.get(method, []).remove(handler)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = 120.0
    ) -> dict[str, Any]:
        if self._closed is not None:
            raise InspectorError(f"inspector session closed: {self._closed}")
        self._next_id += 1
        msg_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        try:
            await self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise InspectorError(f"{method} got no reply within {timeout:.0f} s") from exc
        except websockets.ConnectionClosed as exc:
            raise InspectorError(f"inspector connection closed during {method}") from exc
        finally:
            self._pending.pop(msg_id, None)

    async def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """Evaluate JS in the target (with `require` available) and return the value by JSON."""
        reply = await self.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "includeCommandLineAPI": True,
                "returnByValue": True,
                "awaitPromise": await_promise,
                "silent": True,
            },
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise InspectorError(f"evaluation failed in the target: {text}")
        return reply.get("result", {}).get("value")

    async def close(self) -> None:
        if self._closed is None:
            self._closed = InspectorError("closed by leaksleuth")
        self._reader.cancel()
        with contextlib.suppress(Exception):
            await self._ws.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def _read_loop(self) -> None:
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                if "id" in message:
                    future = self._pending.get(message["id"])
                    if future is None or future.done():
                        continue
                    if "error" in message:
                        err = message["error"]
                        future.set_exception(
                            InspectorError(f"protocol error {err.get('code')}: {err.get('message')}")
                        )
                    else:
                        future.set_result(message.get("result", {}))
                else:
                    for handler in list(self._subscribers.get(message.get("method", ""), [])):
                        handler(message.get("params", {}))
        except websockets.ConnectionClosed as exc:
            self._closed = exc
        finally:
            if self._closed is None:
                self._closed = InspectorError("connection ended")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(InspectorError(f"inspector connection lost ({self._closed})"))
