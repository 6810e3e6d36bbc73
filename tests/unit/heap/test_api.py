"""The public API of leaksleuth.heap is its short, sorted `__all__`."""

from __future__ import annotations

from leaksleuth import heap


def test_all_is_sorted_and_complete() -> None:
    assert heap.__all__ == sorted(heap.__all__)
    assert all(hasattr(heap, name) for name in heap.__all__)
    assert {
        "load_snapshot",
        "summarize",
        "diff_snapshots",
        "retainer_paths",
        "retained_sizes",
    } <= set(heap.__all__)
