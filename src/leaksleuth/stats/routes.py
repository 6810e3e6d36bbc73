"""Per-route attribution, the pure part: a robust multiple regression of the heap on per-route
request counts, the adaptive design that picks what each round sends, and which routes a
culprit grows with.

The model: after every round, a GC'd reading y_k of the serving processes' heap (code space
excluded) and, per route r, the requests C_{k,r} sent so far:

    y_k = a + Σ_r b_r · C_{k,r} + e_k

b_r is what route r keeps per request. The noise e_k is mostly the reading's own (V8's heap after
a GC varies by ±100 KB on an SSR app) and does not add up from round to round, so a route's
slope is known best from a long run of consecutive rounds of that route ("a block": the lever arm
a single-route measurement has), while every other route keeps a little background traffic so
that its code stays compiled and its caches warm (V8 flushes bytecode not run for a few GCs, and
the recompile would be charged to the next round of that route). Rounds therefore send different
mixes, and the counts stay far from collinear.

The fit is Huber's M-estimator (iteratively reweighted least squares, scale by the MAD): one
outlier reading (bytecode flushed at once, a late lazy load) is down-weighted instead of tilting
every route. Its covariance is Huber's with his small-sample correction (statsmodels' "H1"), and
the 95% intervals use Student's t on n − p degrees of freedom.

Group testing (many routes): routes start in groups; a group gets one block with each member at
its usual count, so the group's coefficient is the mean of its members' and `size × high` bounds
each member (bytes kept per request are not negative). A group whose bound stays under the
threshold is done in one block, for all its routes; any other group is split (halves, then single
routes), so 50 routes with a few leaks take far fewer blocks than 50.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import optimize
from scipy import stats as sps

from leaksleuth.model import UNBOUNDED, Interval, Verdict

HUBER_C = 1.345  # 95% efficiency under normal errors
SINGLES_AT = 12  # up to this many routes, each route is its own unit from the start
SPLIT_TO_SINGLES = 4  # a group of at most this many is split into single routes, a bigger one in halves
BLOCK = 3  # consecutive rounds per unit and block
# the focus's requests in the rounds of a block (× its usual count): uneven, so that within one
# block the focus's counts are not proportional to the background's and the two can be told apart
FOCUS_SHAPE = (1.0, 0.5, 1.5)
MIN_DOF = 5  # degrees of freedom of the fit before any unit is judged
MAX_BLOCKS = 3  # blocks one unit gets at most
PRECISION = 0.25  # a leaking route gets blocks until its interval's half-width is within this share of it


@dataclass(frozen=True)
class MultiFit:
    """A robust linear fit: coefficients (intercept first), their covariance, the residual scale."""

    coef: np.ndarray
    cov: np.ndarray
    scale: float  # robust standard deviation of one reading's noise
    dof: int
    identified: np.ndarray  # per coefficient: False when the design cannot tell it apart

    @property
    def t(self) -> float:
        return float(sps.t.ppf(0.975, self.dof)) if self.dof >= 1 else math.inf

    def interval(self, j: int) -> Interval:
        if not self.identified[j] or not math.isfinite(self.t):
            return UNBOUNDED
        half = self.t * math.sqrt(max(float(self.cov[j, j]), 0.0))
        return Interval(float(self.coef[j]) - half, float(self.coef[j]) + half)

    def combination(self, weights: np.ndarray) -> tuple[float, Interval]:
        """A weighted sum of the coefficients with its interval."""
        value = float(weights @ self.coef)
        if np.any(~self.identified & (weights != 0)) or not math.isfinite(self.t):
            return value, UNBOUNDED
        half = self.t * math.sqrt(max(float(weights @ self.cov @ weights), 0.0))
        return value, Interval(value - half, value + half)


def _mad(r: np.ndarray) -> float:
    return float(np.median(np.abs(r - np.median(r)))) / 0.6745


def huber_regression(x: np.ndarray, y: np.ndarray, c: float = HUBER_C, max_iter: int = 100) -> MultiFit:
    """Huber M-estimate of y ≈ x·coef (x holds the intercept column if wanted), by IRLS."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = x.shape
    norms = np.linalg.norm(x, axis=0)
    norms[norms == 0] = 1.0
    xs = x / norms  # scaled columns: counts in the thousands and an intercept of 1 side by side
    rank = np.linalg.matrix_rank(xs)
    identified = np.ones(p, dtype=bool)
    if rank < p:  # a coefficient in the null space of the design cannot be told apart
        _, _, vt = np.linalg.svd(xs)
        null = vt[rank:]
        identified = np.all(np.abs(null) < 1e-8, axis=0)
    beta = np.linalg.lstsq(xs, y, rcond=None)[0]
    floor = 1e-9 * (1.0 + float(np.max(np.abs(y))) if n else 1.0)
    scale = floor
    for _ in range(max_iter):
        r = y - xs @ beta
        scale = max(_mad(r), floor)
        u = np.abs(r) / scale
        w = np.where(u <= c, 1.0, c / np.maximum(u, 1e-300))
        sw = np.sqrt(w)
        new = np.linalg.lstsq(xs * sw[:, None], y * sw, rcond=None)[0]
        done = np.allclose(new, beta, rtol=1e-10, atol=1e-9 * (1.0 + np.abs(beta).max()))
        beta = new
        if done:
            break
    r = y - xs @ beta
    u = r / scale
    psi = np.clip(u, -c, c)
    dpsi = (np.abs(u) <= c).astype(float)
    dof = n - rank
    m = float(dpsi.mean()) if n else 0.0
    if dof < 1 or m == 0:
        cov_s = np.full((p, p), np.inf)
    else:
        k = 1.0 + (rank / n) * float(dpsi.var()) / m**2
        sigma2 = scale**2 * float(np.sum(psi**2)) / dof
        cov_s = k**2 * sigma2 / m**2 * np.linalg.pinv(xs.T @ xs)
    return MultiFit(
        coef=beta / norms,
        cov=cov_s / np.outer(norms, norms),
        scale=float(np.sqrt(np.sum(psi**2) / max(dof, 1)) * scale),
        dof=dof,
        identified=identified,
    )


def fit_columns(counts: np.ndarray, y: np.ndarray, columns: Sequence[Sequence[int]]) -> MultiFit:
    """Fit y (one per reading) on the summed counts of each column's routes (counts: readings ×
    routes), with an intercept. Coefficient j+1 is column j's bytes per request of its routes
    sent in equal shares."""
    x = np.column_stack([np.ones(len(y))] + [counts[:, list(col)].sum(axis=1) for col in columns])
    return huber_regression(x, y)


def verdict_of(ci: Interval, threshold: float) -> Verdict:
    if ci.above(threshold):
        return "leak"
    if ci.below(threshold):
        return "no leak"
    return "inconclusive"


def group_bound(ci: Interval, size: int) -> Interval:
    """What a group's interval says of each member (none is below zero): at most size × high."""
    return Interval(min(ci.low, 0.0), size * ci.high)


# -- the adaptive design ---------------------------------------------------------------------

UnitState = Literal["open", "final", "split"]


@dataclass
class Unit:
    """Routes that are sent together in a round (one route, or a group)."""

    uid: int
    routes: tuple[int, ...]
    parent: int = -1
    blocks: int = 0
    rounds: int = 0
    state: UnitState = "open"


@dataclass
class RouteDesign:
    """Which unit the next block of rounds focuses on, and what each block's fit decides.

    Stateless enough to explain: units start as single routes (up to SINGLES_AT routes) or groups
    of about √n; each gets a block; a group is closed when its bound stays under the threshold and
    split otherwise; a single route is closed when its verdict is decided (a leak once its interval
    is narrow enough to rank it), else it gets another block, up to MAX_BLOCKS."""

    routes: tuple[int, ...]
    threshold: float
    units: list[Unit] = field(default_factory=list)
    queue: list[int] = field(default_factory=list)  # units waiting for a block
    pending: list[int] = field(default_factory=list)  # units whose block is done, not judged yet

    def __post_init__(self) -> None:
        if not self.units:
            for group in initial_groups(self.routes):
                self._add(group, -1)

    def _add(self, routes: tuple[int, ...], parent: int) -> None:
        self.units.append(Unit(len(self.units), routes, parent))
        self.queue.append(len(self.units) - 1)

    @property
    def leaves(self) -> list[Unit]:
        return [u for u in self.units if u.state != "split"]

    def columns(self) -> list[tuple[int, ...]]:
        """The fit's columns: each leaf that had rounds of its own; leaves that had none yet are
        merged by parent (their counts moved together so far: they cannot be told apart)."""
        cols: list[tuple[int, ...]] = []
        waiting: dict[int, list[int]] = {}
        for u in self.leaves:
            if u.rounds:
                cols.append(u.routes)
            else:
                waiting.setdefault(u.parent, []).extend(u.routes)
        cols.extend(tuple(sorted(v)) for v in waiting.values())
        return cols

    def next_unit(self, estimates: Mapping[tuple[int, ...], tuple[float, Interval]], dof: int) -> Unit | None:
        """The unit of the next block (None when the design is complete), after judging the units
        whose blocks are done and that the fit (`dof` degrees of freedom) can tell apart."""
        self.review(estimates, dof)
        if not self.queue and self.pending:  # not yet told apart from the rest: one more block
            self.queue.append(self.pending.pop(0))
        if not self.queue and dof >= MIN_DOF:
            self.reopen(estimates)
        return self.units[self.queue[0]] if self.queue else None

    def reopen(self, estimates: Mapping[tuple[int, ...], tuple[float, Interval]]) -> None:
        """Closed units that the data since unsettled (the fit of every reading moves as the noise
        is better known): a group is split, a route gets another block while it has blocks left."""
        for unit in self.leaves:
            if unit.state != "final" or unit.routes not in estimates or self._settled(unit, *estimates[unit.routes]):
                continue
            if len(unit.routes) > 1:
                unit.state = "split"
                for part in split(unit.routes):
                    self._add(part, unit.uid)
            elif unit.blocks < MAX_BLOCKS:
                unit.state = "open"
                self.queue.append(unit.uid)

    def review(self, estimates: Mapping[tuple[int, ...], tuple[float, Interval]], dof: int) -> None:
        """Judge what the data can judge: close a settled unit (a queued one too, when the data
        since settled it), split a group that is not, give a single route another block."""
        if dof < MIN_DOF:
            return
        for uid in list(self.queue):
            unit = self.units[uid]
            if unit.blocks and unit.routes in estimates and self._settled(unit, *estimates[unit.routes]):
                self.queue.remove(uid)
                unit.state = "final"
        for uid in list(self.pending):
            unit = self.units[uid]
            value, ci = estimates.get(unit.routes, (math.nan, UNBOUNDED))
            if not (math.isfinite(ci.low) and math.isfinite(ci.high)):
                if unit.blocks >= MAX_BLOCKS:
                    self.pending.remove(uid)
                    unit.state = "final"
                continue
            self.pending.remove(uid)
            if self._settled(unit, value, ci):
                unit.state = "final"
            elif len(unit.routes) > 1:
                unit.state = "split"
                for part in split(unit.routes):
                    self._add(part, unit.uid)
            elif unit.blocks < MAX_BLOCKS:
                self.queue.append(uid)  # another block later, after the others'
            else:
                unit.state = "final"  # stays inconclusive (or imprecise): its blocks are spent

    def _settled(self, unit: Unit, value: float, ci: Interval) -> bool:
        if len(unit.routes) > 1:
            return group_bound(ci, len(unit.routes)).high < self.threshold
        v = verdict_of(ci, self.threshold)
        if v == "no leak":
            return True
        if v == "leak":
            return (ci.high - ci.low) / 2 <= PRECISION * abs(value)
        return False

    def block_done(self, unit: Unit) -> None:
        """`unit` had its block: judged at the next review the fit allows."""
        self.queue.remove(unit.uid)
        unit.blocks += 1
        self.pending.append(unit.uid)


def initial_groups(routes: Sequence[int], singles_at: int = SINGLES_AT) -> list[tuple[int, ...]]:
    """Single routes when few; else consecutive groups of about √n (at least 4), sizes balanced."""
    routes = tuple(routes)
    if len(routes) <= singles_at:
        return [(r,) for r in routes]
    size = max(SPLIT_TO_SINGLES, round(math.sqrt(len(routes))))
    count = math.ceil(len(routes) / size)
    return [tuple(int(r) for r in part) for part in np.array_split(np.asarray(routes), count)]


def split(routes: tuple[int, ...]) -> list[tuple[int, ...]]:
    if len(routes) <= SPLIT_TO_SINGLES:
        return [(r,) for r in routes]
    mid = (len(routes) + 1) // 2
    return [routes[:mid], routes[mid:]]


# -- which routes a culprit grows with -------------------------------------------------------

MIN_ROUTE_SHARE = 0.15  # of the culprit's largest per-route rate
MIN_ROUTE_BYTES = 32.0  # bytes per request of a route, below which it does not feed a culprit


def culprit_routes(growth: Sequence[float], sent: np.ndarray) -> np.ndarray:
    """Bytes per request of each route for one culprit, by non-negative least squares of its
    growth between snapshots on the requests of each route sent in between (sent: intervals ×
    routes; growth: cumulative bytes at each snapshot, the first being 0)."""
    g = np.diff(np.asarray(growth, dtype=float))
    if len(g) != sent.shape[0]:
        raise ValueError("need one growth figure per snapshot and one row of requests per interval")
    scale = np.maximum(sent.max(axis=0), 1.0)
    beta, _ = optimize.nnls(sent / scale, g)
    return np.asarray(beta / scale, dtype=float)


def feeding(rates: np.ndarray) -> list[int]:
    """The routes that feed a culprit, largest first."""
    top = float(rates.max()) if len(rates) else 0.0
    keep = [i for i in np.argsort(-rates) if rates[i] >= max(MIN_ROUTE_BYTES, MIN_ROUTE_SHARE * top)]
    return [int(i) for i in keep]
