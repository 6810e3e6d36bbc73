"""A reading over the inspector that forces nothing: no GC, one evaluate of V8's own counters.

Besides heap used, it splits out the young generation (its sawtooth is scavenges, never a leak)
and code space (V8 compiling), so that what is fitted is the old generation: what survives."""

from __future__ import annotations

import time

from leaksleuth.live.cdp import InspectorSession
from leaksleuth.model import Sample

READ_SPACES_JS = r"""(() => {
  const m = process.memoryUsage();
  let code = 0, young = 0;
  for (const s of require('v8').getHeapSpaceStatistics()) {
    if (s.space_name.startsWith('code_')) code += s.space_used_size;
    else if (s.space_name.startsWith('new_')) young += s.space_used_size;
  }
  let handles = 0;
  if (typeof process.getActiveResourcesInfo === 'function') handles = process.getActiveResourcesInfo().length;
  return {heapUsed: m.heapUsed, rss: m.rss, external: m.external, code, young, handles};
})()"""


async def read_passive(session: InspectorSession, since: float) -> Sample:
    """One reading without a GC; `since`: the monotonic time the watch began."""
    v = await session.evaluate(READ_SPACES_JS)
    return Sample(
        time=time.monotonic() - since, heap_used=int(v["heapUsed"]), code_space=int(v["code"]),
        young_space=int(v["young"]), rss=int(v["rss"]), external=int(v["external"]), handles=int(v["handles"]),
    )
