from __future__ import annotations

import itertools
import math

from leaksleuth.flows.experiments.design import EMPTY, Outcome, attribute, effect, halves, next_wave


def additive(leaks: list[float], base: float = 100.0, noise: float = 50.0, interaction: dict | None = None):
    """An oracle: the leak of a configuration is the sum of the leaks left on."""

    def measure(cfg: frozenset[int]) -> Outcome:
        v = base + sum(x for i, x in enumerate(leaks) if i not in cfg)
        for group, extra in (interaction or {}).items():
            if not (group & cfg):
                v += extra
        return Outcome(v, (v - noise, v + noise))

    return measure


def run(n: int, measure, threshold: float = 1024.0, singles_at: int = 4):
    known: dict = {}
    waves = 0
    while wave := next_wave(n, known, threshold, singles_at):
        waves += 1
        assert len(set(wave)) == len(wave)
        for cfg in wave:
            assert cfg not in known
            known[cfg] = measure(cfg)
    return known, waves


def test_four_leaky_toggles_are_each_measured_alone_and_ranked():
    leaks = [50_000.0, 2_000.0, 200_000.0, 0.0]
    known, _ = run(4, additive(leaks))
    a = attribute(4, known, 1024.0)
    assert [r.index for r in a.toggles] == [2, 0, 1, 3]
    for r in a.toggles:
        assert r.group == frozenset({r.index})
        assert math.isclose(r.effect.value, leaks[r.index])
    assert a.culprits == frozenset({0, 1, 2})
    assert math.isclose(a.confirmation.value, a.total.value)
    assert a.interactions == []
    assert len(known) == 2 + 4 + 1  # all on, all off, 4 singles, confirmation


def test_one_culprit_among_sixteen_needs_far_fewer_runs_than_one_per_toggle():
    leaks = [0.0] * 16
    leaks[11] = 80_000.0
    known, _ = run(16, additive(leaks))
    a = attribute(16, known, 1024.0)
    assert a.toggles[0].index == 11 and a.toggles[0].group == frozenset({11})
    assert a.culprits == frozenset({11})
    assert len(known) < 16
    # toggles that were never split off report their whole group's (null) contribution
    assert all(abs(r.effect.value) < 1 for r in a.toggles[1:])


def test_no_leak_with_everything_on_stops_after_two_runs():
    known, _ = run(5, additive([0.0] * 5))
    assert set(known) == {EMPTY, frozenset(range(5))}
    a = attribute(5, known, 1024.0)
    assert all(r.status == "ok" for r in a.toggles)


def test_a_toggle_that_fails_to_build_is_reported_and_the_rest_attributed():
    good = additive([30_000.0, 40_000.0, 0.0])

    def measure(cfg):
        if 1 in cfg:
            return Outcome(None, status="build failed", error="syntax error")
        return good(cfg)

    known, _ = run(3, measure)
    a = attribute(3, known, 1024.0)
    by = {r.index: r for r in a.toggles}
    assert by[1].status == "build failed" and by[1].error == "syntax error" and by[1].effect is None
    assert math.isclose(by[0].effect.value, 30_000.0)
    assert a.toggles[-1].index == 1  # failures rank last


def test_interaction_is_flagged_when_contributions_do_not_add_up():
    # toggles 0 and 1 each remove a leak that only exists while both are on
    known, _ = run(3, additive([0.0, 0.0, 20_000.0], interaction={frozenset({0, 1}): 60_000.0}))
    a = attribute(3, known, 1024.0)
    assert any(x.group == frozenset({0, 1, 2}) for x in a.interactions)


def test_halves_split_in_order():
    assert halves(frozenset({0, 1, 2, 3, 4})) == [frozenset({0, 1, 2}), frozenset({3, 4})]


def test_effect_interval_adds_uncertainty_of_both_runs():
    e = effect(Outcome(1000.0, (970.0, 1030.0)), Outcome(400.0, (360.0, 440.0)))
    assert e.value == 600.0 and math.isclose(e.ci95.low, 550.0) and math.isclose(e.ci95.high, 650.0)


def test_design_is_cheaper_than_all_subsets_for_every_culprit_pattern():
    for pattern in itertools.product([0.0, 10_000.0], repeat=4):
        known, _ = run(4, additive(list(pattern)))
        assert len(known) <= 7  # all 16 subsets otherwise
