"""Fuzz the heap-snapshot parser at scale: mutated copies of the committed fixtures, each loaded
in a worker subprocess and, when accepted, run through the engine (summary, dominators,
retained sizes, diff, retainer paths, growth).

    .venv/bin/python bench/fuzz_bench.py [--cases 2000] [--seed 1] [--jobs N]
                                         [--boundscheck-share 0.25] [--src DIR] [--json]

The mutations and the worker are those of the unit test (tests/unit/heap/fuzz_cases.py); case k
of a seed is always the same file. Prints the counts: cases, accepted-valid,
rejected-with-one-line, signals, tracebacks, hangs, out-of-range-accepted (a file accepted
with an index out of range, or a known-invalid file accepted), valid files rejected, and
seconds. Exit status 1 if anything but a clean rejection or a valid load happened.

--src DIR fuzzes another source tree (e.g. a checkout of an older commit's src/).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "heap"))

import fuzz_cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=2000, help="number of mutated inputs (default 2000)")
    ap.add_argument("--seed", type=int, default=1, help="fuzz seed (default 1)")
    ap.add_argument("--first", type=int, default=0, help="index of the first case (default 0)")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes at a time (default: CPUs, at most 4)")
    ap.add_argument(
        "--boundscheck-share",
        type=float,
        default=0.25,
        help="share of the cases run with NUMBA_BOUNDSCHECK=1 (default 0.25)",
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before a worker is deemed hung")
    ap.add_argument("--src", type=Path, default=None, help="source tree to fuzz (default: this checkout's src/)")
    ap.add_argument("--show", type=int, default=5, help="failures to print per kind (default 5)")
    ap.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = ap.parse_args(argv)

    report = fuzz_cases.run_fuzz(
        cases=args.cases,
        seed=args.seed,
        first=args.first,
        jobs=args.jobs,
        boundscheck_share=args.boundscheck_share,
        timeout=args.timeout,
        src=args.src,
    )
    counts = report.counts()
    failures = report.failures()
    if args.json:
        print(json.dumps(counts, indent=1))
    else:
        for key in (
            "cases",
            "accepted_valid",
            "rejected_with_one_line",
            "signals",
            "tracebacks",
            "hangs",
            "out_of_range_accepted",
            "bad_messages",
            "valid_rejected",
            "boundscheck_cases",
            "boundscheck_effective",
            "seconds",
        ):
            print(f"{key.replace('_', '-'):24} {counts[key]}")
        by_kind = Counter((r.get("kind", "?"), r["outcome"]) for r in report.records)
        print("by kind: " + ", ".join(f"{k}:{o}={n}" for (k, o), n in sorted(by_kind.items())))
    for name, records in failures.items():
        for r in records[: args.show]:
            detail = {
                k: r.get(k) for k in ("case", "kind", "seed", "detail", "expect", "outcome", "message", "problems")
            }
            print(f"FAIL {name}: {json.dumps(detail)}", file=sys.stderr)
            if r.get("traceback") or r.get("stderr"):
                print(r.get("traceback") or r.get("stderr"), file=sys.stderr)
    clean = not any(failures.values()) and (counts["boundscheck_cases"] == 0 or counts["boundscheck_effective"])
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
