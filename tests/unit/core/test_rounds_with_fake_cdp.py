"""The measurement protocol's async loop against a fake inspector and a fake HTTP service."""

from __future__ import annotations

import asyncio

import pytest

from leaksleuth.errors import TargetExited
from leaksleuth.live.rounds import run_protocol
from leaksleuth.model import Progress
from leaksleuth.options import LoadSpec, ProtocolSpec
from tests.unit.core.fake_node import FakeNode, running

FAST = ProtocolSpec(warmup_requests=20, requests_per_round=50, min_rounds=4, max_rounds=8, settle_timeout=2.0)


def measure(node: FakeNode, spec: ProtocolSpec = FAST, progress: list[Progress] | None = None):
    async def go():
        async with running(node) as (url, ins):
            return await run_protocol([ins], LoadSpec((url,), concurrency=4), spec, lambda: None,
                                      progress.append if progress is not None else None)

    return asyncio.run(go())


def test_a_known_leak_is_measured_exactly_and_called_a_leak():
    seen: list[Progress] = []
    m = measure(FakeNode(leak=5000.0), progress=seen)
    assert m.verdict == "leak"
    assert m.bytes_per_request == pytest.approx(5000.0, rel=0.01)
    assert m.ci95.low > 4000 and m.rounds == FAST.min_rounds  # decided at the first chance
    assert m.requests == 20 + 50 * m.rounds and m.warmup_readings == 1
    assert [p.phase for p in seen][-m.rounds:] == ["round"] * m.rounds


def test_a_flat_heap_is_no_leak():
    m = measure(FakeNode(leak=0.0))
    assert m.verdict == "no leak" and m.bytes_per_request == pytest.approx(0.0, abs=1.0)


def test_one_timer_per_request_is_a_leak_whatever_the_bytes():
    m = measure(FakeNode(leak=0.0, timers_per_request=1.0))
    assert m.verdict == "leak" and m.leaking_handles["Timeout"] == pytest.approx(1.0, rel=0.05)


def test_every_reading_follows_two_forced_gcs():
    node = FakeNode(leak=100.0)
    measure(node)
    assert node.gcs == 2 * node.readings


def test_a_target_lost_mid_run_keeps_the_rounds_read():
    node = FakeNode(leak=5000.0, closed_after=6)  # settle (2), warm-up (1), then 3 rounds
    with pytest.raises(TargetExited) as info:
        measure(node, ProtocolSpec(warmup_requests=20, requests_per_round=50, min_rounds=8, max_rounds=8,
                                   settle_timeout=2.0))
    partial = info.value.partial
    assert partial is not None and not partial.complete and partial.rounds == 3
    assert partial.bytes_per_request == pytest.approx(5000.0, rel=0.01)
