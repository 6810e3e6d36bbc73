"""What fresh memory costs on this machine, and what the heap engine's counter-measures gain.

    .venv/bin/python bench/fresh_memory.py [FILE ...] [--pairs N]

1. Page-fault cost: 400 MB written right after being freed (pages still the VM's) and after
   3 s idle (a VM with free-page reporting has handed them back to its host), on one thread
   and split over two. On the Firecracker VMs we measure on, the second costs ~2.5-3 ms/MB.
2. For each FILE (default: bench/out/heap-450mb.heapsnapshot): `leaksleuth analyze FILE`
   with the engine's prefault thread and kernel preload on, and with each turned off
   (LEAKSLEUTH_PREFAULT=0, LEAKSLEUTH_PRELOAD=0), runs interleaved so that the machine's
   drift hits all alike; prints the median and best wall time of each (peak RSS: heap_bench.sh).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MB = 1 << 20


def _touch(block: np.ndarray) -> None:
    block[::4096] = 1  # one write per page (numpy releases the GIL for this)


def fault_cost(size_mb: int = 400) -> None:
    for idle in (0.0, 3.0):
        for threads in (1, 2):
            warm = np.empty(size_mb * MB, dtype=np.uint8)
            _touch(warm)
            del warm
            time.sleep(idle)
            block = np.empty(size_mb * MB, dtype=np.uint8)
            start = time.perf_counter()
            if threads == 1:
                _touch(block)
            else:
                half = len(block) // 2
                other = threading.Thread(target=_touch, args=(block[half:],))
                other.start()
                _touch(block[:half])
                other.join()
            took = time.perf_counter() - start
            del block
            print(
                f"fresh memory: {size_mb} MB after {idle:.0f} s idle, {threads} thread(s): "
                f"{took:.3f} s ({took / size_mb * 1000:.2f} ms/MB)"
            )


VARIANTS = {
    "on": {},
    "prefault off": {"LEAKSLEUTH_PREFAULT": "0"},
    "preload off": {"LEAKSLEUTH_PRELOAD": "0"},
    "both off": {"LEAKSLEUTH_PREFAULT": "0", "LEAKSLEUTH_PRELOAD": "0"},
}


def run(files: list[Path], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "leaksleuth"), "analyze", *map(str, files), "--top", "3"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--pairs", type=int, default=5, help="runs per variant (interleaved)")
    ap.add_argument("--series", action="store_true", help="the files are one series: analyze them together")
    args = ap.parse_args(argv)
    fault_cost()
    files = args.files or [HERE / "out" / "heap-450mb.heapsnapshot"]
    jobs = [files] if args.series else [[f] for f in files]
    for job in jobs:
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(args.pairs):
            for name, env in VARIANTS.items():
                times[name].append(run(job, env))
        label = " ".join(f.name for f in job)
        for name, values in times.items():
            print(
                f"{label}: {name:13} median {statistics.median(values):.2f} s, best {min(values):.2f} s "
                f"({', '.join(f'{v:.2f}' for v in values)})"
            )
    print(f"(peak RSS of the largest run: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
