"""A hunt with several routes: snapshots around rounds of the leaking routes only, and which routes
each culprit grows with.

With L leaking routes (the worst MAX_HUNTED), the snapshots are taken at n0 < n1 < … < n(L+1):
between the first two every leaking route gets 2n requests, then each leaking route gets n
requests alone. What a culprit gains in each interval, against what each route was sent in it,
tells by non-negative least squares which routes feed it (stats/routes.py); the culprit engine
still sees one series whose growth keeps in step with the requests (within its linearity bounds:
a culprit of one route gains 2n, n or nothing per interval against 2nL, n, n…). With one leaking
route this is the usual series of three snapshots, n requests apart.
"""

from __future__ import annotations

import numpy as np

from leaksleuth.heap.culprits import rank
from leaksleuth.live.load import LoadDriver
from leaksleuth.model import Culprit, Measurement
from leaksleuth.options import HuntSpec
from leaksleuth.stats.routes import culprit_routes, feeding

MAX_HUNTED = 3  # leaking routes given snapshot intervals of their own
SNAPSHOT_GROWTH_TARGET = 4 << 20  # bytes of growth wanted between two snapshots

Plan = list[dict[int, int]]  # per interval between snapshots: requests per route (driver index)


def snapshot_plan(m: Measurement | None, driver: LoadDriver, hunt: HuntSpec) -> Plan | None:
    """What to send between snapshots: the leaking routes only (None: no route leaks, or one route)."""
    if m is None or len(m.routes) < 2:
        return None
    leaking = [r for r in m.routes if r.verdict == "leak" and r.status == "measured" and r.route in driver.routes]
    leaking = leaking[:MAX_HUNTED]
    if not leaking:
        return None
    index = [driver.routes.index(r.route) for r in leaking]
    total = sum(max(r.bytes_per_request, 0.0) for r in leaking)
    n = hunt.requests_between or int(np.clip(SNAPSHOT_GROWTH_TARGET / max(total * (2 if len(index) > 1 else 1), 1.0),
                                             100, 600))
    if len(index) == 1:
        return [{index[0]: n}, {index[0]: n}]
    return [dict.fromkeys(index, 2 * n)] + [{r: n} for r in index]


def attribute_routes(culprits: list[Culprit], plan: Plan, routes: tuple[str, ...]) -> list[Culprit]:
    """Each culprit's routes, and its bytes per request of the route that feeds it most."""
    sent = np.array([[interval.get(r, 0) for r in range(len(routes))] for interval in plan], dtype=float)
    for c in culprits:
        if len(c.bytes_by_snapshot) != len(plan) + 1:
            continue
        rates = culprit_routes(c.bytes_by_snapshot, sent)
        feeds = feeding(rates)
        c.routes = [routes[i] for i in feeds]
        if feeds and len(plan) > 2:  # several routes were hunted: per request of its own route
            per_route = float(rates[feeds[0]])
            if c.bytes_per_request > 0:
                c.objects_per_request *= per_route / c.bytes_per_request
            c.bytes_per_request = per_route
    return rank(culprits)


def single_route(culprits: list[Culprit], routes: tuple[str, ...]) -> None:
    """One route: every culprit grows with it."""
    if len(routes) == 1:
        for c in culprits:
            c.routes = [routes[0]]
