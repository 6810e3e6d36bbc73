"""heap.prefault: the other core faults fresh arrays in, without changing a byte."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from heap_builder import SnapshotBuilder

from leaksleuth.errors import SnapshotError
from leaksleuth.heap import parse, prefault
from leaksleuth.heap.prefault import CHUNK, PAGE, Prefault, _ranges

needs_populate = pytest.mark.skipif(prefault._madvise is None, reason="no libc madvise here")


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def test_ranges_interleave_lanes_page_aligned_and_cover_them() -> None:
    rows = np.empty((3, (3 * CHUNK + 2 * PAGE) // 4), dtype=np.uint32)  # lanes of 3 chunks
    pieces = _ranges(list(rows))
    assert all(address % PAGE == 0 and length % PAGE == 0 for address, length in pieces)
    starts = [rows[r].ctypes.data for r in range(3)]
    lane_of = [max(r for r in range(3) if address >= starts[r]) for address, _ in pieces]
    assert lane_of == [0, 1, 2] * 3  # piece k of every lane before piece k + 1 of any
    for r in range(3):  # each lane covered once, its whole pages
        mine = sorted(p for p, lane in zip(pieces, lane_of, strict=True) if lane == r)
        lo = -(-starts[r] // PAGE) * PAGE
        hi = (starts[r] + rows[r].nbytes) // PAGE * PAGE
        assert mine[0][0] == lo and mine[-1][0] + mine[-1][1] == hi
        assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(mine))


def test_small_or_empty_arrays_start_no_thread() -> None:
    with Prefault([[np.empty(1000, dtype=np.uint8)], [np.empty(0, dtype=np.int32)]]) as job:
        assert job._thread is None


@needs_populate
def test_populates_fresh_pages() -> None:
    size = 96 << 20
    before = _resident_bytes()
    block = np.empty(size, dtype=np.uint8)
    assert _resident_bytes() - before < size // 4  # nothing touched yet
    with Prefault([[block]]) as job:
        assert job._thread is not None
        job._thread.join()
    assert _resident_bytes() - before > size * 0.9


@needs_populate
def test_a_writer_racing_the_populate_keeps_every_byte() -> None:
    lanes = np.empty((2, 32 << 20), dtype=np.uint32)  # 256 MB, filled record by record
    expected = np.arange(lanes.shape[1], dtype=np.uint32)
    step = 1 << 18

    def fill() -> None:
        for k in range(0, lanes.shape[1], step):
            lanes[0, k : k + step] = expected[k : k + step]
            lanes[1, k : k + step] = expected[k : k + step] ^ 0xFFFFFFFF

    with Prefault([list(lanes)]):
        writer = threading.Thread(target=fill)
        writer.start()
        writer.join()
    assert np.array_equal(lanes[0], expected)
    assert np.array_equal(lanes[1], expected ^ 0xFFFFFFFF)


def test_stop_ends_the_thread() -> None:
    job = Prefault([[np.empty(256 << 20, dtype=np.uint8)]])
    job.stop()
    assert job._thread is None


def test_the_parse_prefaults_its_columns_unless_the_header_lies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []

    class Recorder(Prefault):
        def __init__(self, groups: Sequence[Sequence[np.ndarray]]) -> None:
            asked.append(sum(lane.nbytes for group in groups for lane in group))
            super().__init__(groups)

    monkeypatch.setattr(parse, "Prefault", Recorder)
    b = SnapshotBuilder()
    for k in range(50):
        b.edge(b.root, b.node("object", f"O{k}", 16), "property", f"p{k}")
    honest = b.write(tmp_path / "honest.heapsnapshot")
    parse.load_snapshot(honest)
    assert asked[-1] > 0  # nodes, edges and first_edge: every column it fills
    lying = tmp_path / "lying.heapsnapshot"
    lying.write_text(honest.read_text().replace('"node_count": 51', '"node_count": 5100000', 1))
    with pytest.raises(SnapshotError, match="header announced 5100000"):
        parse.load_snapshot(lying)
    assert asked[-1] == 0  # room for what the file could hold, but none of it faulted in
