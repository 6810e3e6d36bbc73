"""The CDP session against a real websocket server that answers like Node's inspector."""

import asyncio
import json

import pytest
import websockets

from leaksleuth.errors import InspectorError
from leaksleuth.live.cdp import InspectorSession


async def fake_inspector(ws):
    async for raw in ws:
        msg = json.loads(raw)
        if msg["method"] == "HeapProfiler.takeHeapSnapshot":
            for chunk in ('{"a":', "1}"):
                await ws.send(json.dumps({"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": chunk}}))
            await ws.send(json.dumps({"id": msg["id"], "result": {}}))
        elif msg["method"] == "Runtime.evaluate":
            if "throw" in msg["params"]["expression"]:
                await ws.send(json.dumps({"id": msg["id"], "result": {"result": {}, "exceptionDetails": {"text": "Uncaught", "exception": {"description": "Error: boom"}}}}))
            else:
                await ws.send(json.dumps({"id": msg["id"], "result": {"result": {"type": "number", "value": 42}}}))
        else:
            await ws.send(json.dumps({"id": msg["id"], "error": {"code": -32601, "message": "not found"}}))


def test_replies_events_and_errors_are_routed():
    async def scenario():
        async with websockets.serve(fake_inspector, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            s = await InspectorSession.connect(f"ws://127.0.0.1:{port}/x")
            chunks = []
            s.subscribe("HeapProfiler.addHeapSnapshotChunk", lambda p: chunks.append(p["chunk"]))
            assert await s.send("HeapProfiler.takeHeapSnapshot") == {}
            assert "".join(chunks) == '{"a":1}'
            assert await s.evaluate("6*7") == 42
            with pytest.raises(InspectorError, match="boom"):
                await s.evaluate("throw new Error('boom')")
            with pytest.raises(InspectorError, match="-32601"):
                await s.send("Nope.nope")
            await s.close()
            with pytest.raises(InspectorError, match="closed"):
                await s.send("Runtime.evaluate")

    asyncio.run(scenario())


def test_connect_to_nothing_is_a_clear_error():
    with pytest.raises(InspectorError, match="cannot connect"):
        asyncio.run(InspectorSession.connect("ws://127.0.0.1:1/x", timeout=2))
