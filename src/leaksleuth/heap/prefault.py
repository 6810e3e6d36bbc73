"""Fault fresh memory in on the other core, ahead of the kernel that fills it.

On a VM whose memory is given back to the host when free (balloon free-page reporting, as on
the Firecracker machines we measure on), the first write to a page costs the host's fault:
about 3 ms per MB, i.e. more than a second for the columns of a 450 MB snapshot, paid on the
one core that parses. Two cores fault twice as fast as one (measured: 800 MB in 2.5 s on one
core, 1.2 s on two), and the parse runs on one.

So the engine allocates the big arrays it is about to fill up front and a background thread
asks the kernel to populate them (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14+), in the order
the filling kernel writes them. The call never changes a byte, so it is harmless to run it
while the kernel writes the same pages; it releases the GIL (ctypes), so it runs beside the
compiled kernels. Where the call is missing (older kernels, other systems) it does nothing.
On a machine without that host cost it costs a page-table walk: nothing measurable.
`LEAKSLEUTH_PREFAULT=0` turns it off (bench/heap_bench.sh measures both ways).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from collections.abc import Sequence

import numpy as np

MADV_POPULATE_WRITE = 23
PAGE = 4096
CHUNK = 4 << 20  # populate this much per call: a stop request waits at most one chunk
MIN_BYTES = 8 << 20  # smaller arrays are not worth a thread
ENABLED = os.environ.get("LEAKSLEUTH_PREFAULT", "1") != "0"  # 0: off, to measure what it gains

_madvise = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _madvise = _libc.madvise
        _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        _madvise.restype = ctypes.c_int
    except (OSError, AttributeError):
        _madvise = None


def _ranges(lanes: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """Page-aligned (address, length) pieces of lanes filled side by side: piece k of every
    lane before piece k + 1 of any, each lane cut into as many pieces as the longest one."""
    spans = []
    for lane in lanes:
        if lane.nbytes == 0 or not lane.flags.c_contiguous:
            continue
        start = -(-lane.ctypes.data // PAGE) * PAGE
        end = (lane.ctypes.data + lane.nbytes) // PAGE * PAGE
        if end > start:
            spans.append((start, end))
    if not spans:
        return []
    pieces = max(1, max(end - start for start, end in spans) // CHUNK)
    out = []
    for k in range(pieces):
        for start, end in spans:
            size = end - start
            lo = start + (size * k // pieces) // PAGE * PAGE
            hi = start + (size * (k + 1) // pieces) // PAGE * PAGE if k + 1 < pieces else end
            if hi > lo:
                out.append((lo, hi - lo))
    return out


class Prefault:
    """A background thread populating groups of arrays, one group after the other; the lanes
    of a group (e.g. the rows of a column matrix filled record by record) advance together.

    It keeps the arrays alive until it ends; `stop()` ends it within one chunk."""

    def __init__(self, groups: Sequence[Sequence[np.ndarray]]) -> None:
        self._groups = [list(group) for group in groups]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        total = sum(lane.nbytes for group in groups for lane in group)
        if ENABLED and _madvise is not None and total >= MIN_BYTES:
            self._thread = threading.Thread(target=self._run, name="leaksleuth-prefault", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert _madvise is not None
        for group in self._groups:
            for address, length in _ranges(group):
                if self._stop.is_set() or _madvise(address, length, MADV_POPULATE_WRITE) != 0:
                    self._groups = []
                    return
        self._groups = []

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Prefault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
