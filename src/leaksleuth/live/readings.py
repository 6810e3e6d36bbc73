"""GC and memory readings of one process over its inspector session."""

from __future__ import annotations

import time

from leaksleuth.live.cdp import InspectorSession
from leaksleuth.model import Reading

# Evaluated in the target. `require` exists because evaluate() passes includeCommandLineAPI.
READ_MEMORY_JS = r"""(() => {
  const m = process.memoryUsage();
  let code = 0;
  for (const s of require('v8').getHeapSpaceStatistics()) {
    if (s.space_name.startsWith('code_')) code += s.space_used_size;
  }
  const resources = {};
  if (typeof process.getActiveResourcesInfo === 'function') {
    for (const k of process.getActiveResourcesInfo()) resources[k] = (resources[k] || 0) + 1;
  }
  let listeners = 0;
  for (const e of process.eventNames()) listeners += process.listenerCount(e);
  resources['process listeners'] = listeners;
  return {heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external,
          code, resources};
})()"""


async def collect_garbage(session: InspectorSession, passes: int = 2) -> None:
    """Full GC without --expose-gc; a second pass frees what the first one's finalizers released."""
    for _ in range(passes):
        await session.send("HeapProfiler.collectGarbage")


async def read_memory(session: InspectorSession, requests: int, gc: bool = True) -> Reading:
    """GC (optionally), then one reading of heap, RSS, external, code space and live resources."""
    if gc:
        await collect_garbage(session)
    v = await session.evaluate(READ_MEMORY_JS)
    return Reading(
        requests=requests,
        heap_used=int(v["heapUsed"]),
        heap_total=int(v["heapTotal"]),
        rss=int(v["rss"]),
        external=int(v["external"]),
        code_space=int(v["code"]),
        resources={str(k): int(n) for k, n in v["resources"].items()},
        time=time.time(),
    )
