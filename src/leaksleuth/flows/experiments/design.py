"""The experimental design: which configurations to measure, and what they say. Pure functions.

A configuration is the set of toggles applied (suspects switched off): the empty set is the app
as it is ("all on"), the full set is the "all off" control. The contribution of a group G of
toggles is what switching it off removes from the real app:

    c(G) = leak(all on) − leak(all on with G switched off)

which is the question a user asks ("if I fix this, how much leak goes away?"), and is measured
against the app as it runs, so a suspect that only leaks together with another still shows.

Adaptive group testing (leaks are roughly additive): after all on and all off, a group whose
contribution is significant (its 95% interval above the threshold) is split in halves and each
half is measured; a group of at most `singles_at` toggles is tested one toggle at a time (binary
splitting only saves runs when culprits are sparse among many toggles). A group whose removal
changes nothing is not split further. Finally the culprits are switched off together to confirm
that they explain the leak. The design is stateless — `next_wave` looks only at the results so
far — so a resumed experiment continues exactly where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from leaksleuth.model import Interval
from leaksleuth.model.experiment import (
    EMPTY,
    SINGLES_AT,
    Attributed,
    Attribution,
    Config,
    Effect,
    Interaction,
    Outcome,
)


def _halfwidths(o: Outcome) -> tuple[float, float]:
    assert o.bytes_per_request is not None
    return o.bytes_per_request - o.ci95[0], o.ci95[1] - o.bytes_per_request


def effect(before: Outcome, after: Outcome) -> Effect:
    """before − after; the interval adds the two runs' half-widths in quadrature (independent runs)."""
    assert before.bytes_per_request is not None and after.bytes_per_request is not None
    value = before.bytes_per_request - after.bytes_per_request
    b_lo, b_hi = _halfwidths(before)
    a_lo, a_hi = _halfwidths(after)
    return Effect(value, Interval(value - math.hypot(b_lo, a_hi), value + math.hypot(b_hi, a_lo)))


def halves(group: Config) -> list[Config]:
    items = sorted(group)
    mid = (len(items) + 1) // 2
    return [frozenset(items[:mid]), frozenset(items[mid:])]


def children(group: Config, singles_at: int = SINGLES_AT) -> list[Config]:
    if len(group) > singles_at:
        return halves(group)
    return [frozenset({i}) for i in sorted(group)]


def all_on_leaks(known: Mapping[Config, Outcome], threshold: float) -> bool:
    on = known[EMPTY]
    return on.ok and on.ci95[0] > threshold


def walk(n: int, known: Mapping[Config, Outcome], threshold: float, singles_at: int = SINGLES_AT) -> tuple[list[Config], list[Config]]:
    """(configurations still to measure, leaves: the groups that are not split further)."""
    full = frozenset(range(n))
    on = known[EMPTY]
    missing: list[Config] = []
    leaves: list[Config] = []
    queue = [full]
    while queue:
        group = queue.pop(0)
        out = known[group]
        if len(group) == 1 or (out.ok and not effect(on, out).above(threshold)):
            leaves.append(group)
            continue
        kids = children(group, singles_at)
        todo = [k for k in kids if k not in known]
        if todo:
            missing.extend(todo)
        else:
            queue.extend(kids)
    return missing, leaves


def culprits(known: Mapping[Config, Outcome], leaves: list[Config], threshold: float) -> Config:
    on = known[EMPTY]
    found = {i for leaf in leaves if len(leaf) == 1 and known[leaf].ok and effect(on, known[leaf]).above(threshold) for i in leaf}
    return frozenset(found)


def next_wave(n: int, known: Mapping[Config, Outcome], threshold: float, singles_at: int = SINGLES_AT) -> list[Config]:
    """The configurations to measure next (independent of each other: run them in parallel);
    empty when the experiment is complete."""
    full = frozenset(range(n))
    base = [c for c in (EMPTY, full) if c not in known]
    if base:
        return base
    if not all_on_leaks(known, threshold):
        return []  # nothing to attribute (or the app does not run as it is)
    missing, leaves = walk(n, known, threshold, singles_at)
    if missing:
        return missing
    confirm = culprits(known, leaves, threshold)
    if confirm and confirm not in known:
        return [confirm]
    return []


def attribute(n: int, known: Mapping[Config, Outcome], threshold: float, singles_at: int = SINGLES_AT) -> Attribution:
    """Read the contributions, culprits, confirmation and interactions off the finished runs."""
    full = frozenset(range(n))
    on, off = known.get(EMPTY), known.get(full)
    if on is None or off is None:
        raise ValueError("all on and all off must be measured first")
    total = effect(on, off) if on.ok and off.ok else None
    if not on.ok:
        why = f"the app as it is (all on) {on.status}: {on.error}"
        rows = [Attributed(i, None, "not measured", why, full) for i in range(n)]
        return Attribution(rows, None, EMPTY, None)
    if not all_on_leaks(known, threshold):
        rows = [Attributed(i, total, "ok", None, full) for i in range(n)]
        return Attribution(rows, total, EMPTY, None)
    _, leaves = walk(n, known, threshold, singles_at)
    rows = []
    for leaf in leaves:
        out = known[leaf]
        eff = effect(on, out) if out.ok else None
        for i in sorted(leaf):
            rows.append(Attributed(i, eff, out.status, out.error, leaf))
    rows.sort(key=lambda r: (r.effect is None, -(r.effect.value if r.effect else 0.0), r.index))
    found = culprits(known, leaves, threshold)
    confirm = known.get(found)
    confirmation = effect(on, confirm) if found and confirm is not None and confirm.ok else None
    return Attribution(rows, total, found, confirmation, interactions(known, leaves, threshold))


def interactions(known: Mapping[Config, Outcome], leaves: list[Config], threshold: float) -> list[Interaction]:
    """Groups measured as a whole whose contribution is not the sum of their parts' (beyond the
    intervals and the threshold): the parts interact, e.g. one leak only exists with another."""
    on = known[EMPTY]
    leaf_effects = {leaf: effect(on, known[leaf]) for leaf in leaves if known[leaf].ok}
    found = []
    for group, out in known.items():
        if len(group) < 2 or not out.ok:
            continue
        parts = [leaf for leaf in leaf_effects if leaf <= group]
        if set().union(*parts) != group or group in parts:
            continue  # not covered by measured parts, or a leaf itself
        observed = effect(on, out)
        expected = sum(leaf_effects[p].value for p in parts)
        spread_lo = math.hypot(observed.value - observed.ci95.low, *(leaf_effects[p].ci95.high - leaf_effects[p].value for p in parts))
        spread_hi = math.hypot(observed.ci95.high - observed.value, *(leaf_effects[p].value - leaf_effects[p].ci95.low for p in parts))
        diff = observed.value - expected
        d = Effect(diff, Interval(diff - spread_lo, diff + spread_hi))
        if (d.ci95.low > 0 or d.ci95.high < 0) and abs(diff) > threshold:
            found.append(Interaction(group, observed, expected, d))
    found.sort(key=lambda x: -abs(x.difference.value))
    return found
