#!/usr/bin/env bash
# Two commits' `leaksleuth analyze` on the same files, runs interleaved: the way to compare on a
# machine whose speed drifts (this VM's does, ±30% over an hour, and a run right after another
# reuses the pages it freed). Prints every run and the median and best of each side.
#
#   bash bench/ab_commits.sh [REV] [FILE ...]      # REV defaults to HEAD~1, FILE to the 450 MB one
#
# Environment: PAIRS=5 (runs per side), SETTLE=0 (seconds idle before each run; 3 makes every
# page fresh on a VM with free-page reporting), PYTHON=.venv/bin/python.
# REV is checked out in a git worktree under /tmp (its kernel cache filled once, not timed) and
# run with the same venv through PYTHONPATH; the working tree is the other side.
set -u -o pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
REV="${1:-HEAD~1}"
shift || true
FILES=("$@")
[ ${#FILES[@]} -gt 0 ] || FILES=("$HERE/out/heap-450mb.heapsnapshot")
for f in "${FILES[@]}"; do [ -s "$f" ] || { echo "no $f (bench/heap_bench.sh makes it)" >&2; exit 1; }; done
SHA="$(git -C "$ROOT" rev-parse --short "$REV")" || exit 1
WORK="/tmp/leaksleuth-ab-$SHA"
if [ ! -d "$WORK" ]; then
  git -C "$ROOT" worktree add -q --detach "$WORK" "$SHA" || exit 1
fi
PYTHONPATH="$WORK/src" "$PYTHON" -m leaksleuth.heap.warmup >/dev/null 2>&1
TIMES="$(mktemp)"
trap 'rm -f "$TIMES"' EXIT
for ((i = 1; i <= ${PAIRS:-5}; i++)); do
  for side in "$SHA" work; do
    src="$ROOT/src"; [ "$side" = work ] || src="$WORK/src"
    sleep "${SETTLE:-0}"
    line=$(PYTHONPATH="$src" /usr/bin/time -f "%e %M" "$PYTHON" -m leaksleuth analyze "${FILES[@]}" --top 3 2>&1 >/dev/null | tail -n 1)
    echo "$side $line" | tee -a "$TIMES" | awk '{printf "%-8s %6.2f s %6.0f MB\n", $1, $2, $3 / 1024}'
  done
done
for side in "$SHA" work; do
  grep "^$side " "$TIMES" | awk '{print $2}' | sort -n | awk -v s="$side" '{v[NR] = $1} END {
    printf "%-8s median %.2f s, best %.2f s of %d\n", s, v[int((NR + 1) / 2)], v[1], NR }'
done
