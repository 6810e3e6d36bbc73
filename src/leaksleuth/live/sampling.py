"""Allocation sites of still-live memory from V8's sampling heap profiler.

Cheap next to a snapshot (no freeze, no 9× memory), and it knows *where* each sampled object
was allocated, which a snapshot does not. Sites are keyed by the deepest frame in the user's
own code (not node_modules, not node:internal), so `$on` inside Vue points at the component
line that called it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leaksleuth.heap.culprits import Culprit, display_location, local_file, user_code
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.units import fmt_bytes

SAMPLING_INTERVAL = 4096  # bytes between samples on average


@dataclass(frozen=True)
class AllocationSite:
    function: str
    url: str
    line: int  # 1-based
    column: int
    live_bytes: int
    stack: tuple[str, ...]  # user frames, outermost first

    def where(self, project: Any = None) -> str:
        return display_location(self.url, self.line, self.column, project)


async def start_sampling(session: InspectorSession) -> None:
    await session.send("HeapProfiler.startSampling", {"samplingInterval": SAMPLING_INTERVAL})


async def stop_sampling(session: InspectorSession) -> dict[str, Any]:
    """GC, then the profile of sampled allocations still alive; sampling stops."""
    await session.send("HeapProfiler.collectGarbage")
    reply = await session.send("HeapProfiler.getSamplingProfile")
    await session.send("HeapProfiler.stopSampling")
    profile: dict[str, Any] = reply.get("profile", {})
    return profile


def allocation_sites(profile: dict[str, Any]) -> list[AllocationSite]:
    """Live bytes per deepest user-code frame, largest first."""
    totals: dict[tuple[str, str, int, int], int] = {}
    stacks: dict[tuple[str, str, int, int], tuple[str, ...]] = {}
    head = profile.get("head")
    if not head:
        return []
    todo: list[tuple[dict[str, Any], tuple[dict[str, Any], ...]]] = [(head, ())]
    while todo:
        node, frames = todo.pop()
        frame = node.get("callFrame", {})
        here = frames + (frame,) if frame.get("url") else frames
        size = int(node.get("selfSize", 0))
        if size:
            user = [f for f in here if user_code(f.get("url", ""))]
            if user:
                f = user[-1]
                key = (f.get("functionName") or "(anonymous)", f["url"], int(f["lineNumber"]) + 1, int(f["columnNumber"]) + 1)
                totals[key] = totals.get(key, 0) + size
                stacks.setdefault(key, tuple(
                    f"{u.get('functionName') or '(anonymous)'} {u['url'].rsplit('/', 1)[-1]}:{int(u['lineNumber']) + 1}" for u in user
                ))
        for child in node.get("children", []):
            todo.append((child, here))
    sites = [AllocationSite(k[0], k[1], k[2], k[3], v, stacks[k]) for k, v in totals.items()]
    sites.sort(key=lambda s: -s.live_bytes)
    return sites


def _related(site: AllocationSite, culprit: Culprit) -> bool:
    """The site's user stack passes through the culprit's line, or its allocating function is
    the culprit's constructor (a class's constructor allocates its instances)."""
    if culprit.location:
        file, line = culprit.location.rsplit(":", 2)[0], culprit.location.rsplit(":", 2)[1]
        name = file.rsplit("/", 1)[-1]
        if any(frame.endswith(f" {name}:{line}") for frame in site.stack):
            return True
    return site.function == culprit.constructor.split(" ")[0]


def add_sampling_evidence(culprits: list[Culprit], sites: list[AllocationSite], project: Any = None) -> None:
    """Name, per culprit, the sampled allocation sites of still-live memory related to it."""
    for c in culprits:
        related = [s for s in sites if _related(s, c)]
        for s in related[:2]:
            c.evidence.append(
                f"sampling profiler: {fmt_bytes(s.live_bytes)} still alive was allocated under "
                f"{s.function} at {s.where(project)} (stack: {' → '.join(s.stack[-3:])})"
            )


__all__ = ["AllocationSite", "add_sampling_evidence", "allocation_sites", "local_file", "start_sampling", "stop_sampling"]
