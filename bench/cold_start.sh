#!/usr/bin/env bash
# Cold start: the first `leaksleuth analyze` after `pip install` against a warm run.
#
#   bash bench/cold_start.sh             # FILE=bench/out/heap-450mb.heapsnapshot by default
#
# Builds a wheel of this tree (which carries the compiled heap kernels), installs it into a
# fresh venv (dependencies shared with .venv through a .pth line), and times on the same file:
#   first run   the first run after install, user cache empty (ROUNDS=3 fresh installs)
#   warm run    the run after it
#   no cache    a run with an empty kernel cache (LEAKSLEUTH_JIT_CACHE=empty folder): what the
#               first run would cost without the shipped cache (numba's JIT)
set -u -o pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
FILE="${FILE:-$HERE/out/heap-450mb.heapsnapshot}"
[ -s "$FILE" ] || { echo "no $FILE: run bench/heap_bench.sh first (it generates it), or set FILE=" >&2; exit 1; }
WORK="$(mktemp -d /tmp/leaksleuth-cold.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

echo "[cold_start] building a wheel of $ROOT" >&2
mkdir -p "$WORK/src"
tar -C "$ROOT" --exclude=.venv --exclude=node_modules --exclude=bench --exclude=tests --exclude=demo \
  --exclude=.git --exclude=_jitcache --exclude=__pycache__ --exclude=build --exclude='*.egg-info' -cf - . | tar -C "$WORK/src" -xf -
t0=$(date +%s.%N)
"$PYTHON" -m pip wheel --no-deps -q -w "$WORK/dist" "$WORK/src" || exit 1
t1=$(date +%s.%N)
install() {  # a fresh venv with the wheel installed, in $WORK/venv (replacing the last one)
  rm -rf "$WORK/venv" "$WORK/xdg"
  python3 -m venv --without-pip "$WORK/venv"
  "$WORK/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" >"$WORK/purelib"
  "$PYTHON" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" >"$(cat "$WORK/purelib")/deps.pth"
  "$PYTHON" -m pip --python "$WORK/venv/bin/python" install -q --no-deps "$WORK"/dist/*.whl || exit 1
}

run() {  # label, extra env...: prints the label and the wall time, and appends the time to $WORK/times
  local label=$1; shift
  local start end
  # the same idle time before every run: this VM hands freed memory back to its host after
  # ~2 s, and a run right after another reuses the pages that one freed (cheaper than fresh ones)
  sleep "${SETTLE:-3}"
  start=$(date +%s.%N)
  env XDG_CACHE_HOME="$WORK/xdg" "$@" "$WORK/venv/bin/leaksleuth" analyze "$FILE" --top 5 >/dev/null 2>"$WORK/err" \
    || { echo "failed: $(tail -n 1 "$WORK/err")" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v l="$label" -v a="$start" -v b="$end" 'BEGIN{printf "%-12s %7.2f s\n", l, b - a}'
  awk -v l="$label" -v a="$start" -v b="$end" 'BEGIN{printf "%s\t%.3f\n", l, b - a}' >>"$WORK/times"
}
size=$(awk -v b="$(stat -c %s "$FILE")" 'BEGIN{printf "%.0f", b/1048576}')
echo
echo "leaksleuth analyze $(basename "$FILE") ($size MB), fresh install from a wheel (built in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", b-a}') s)"
# ROUNDS fresh installs, each: the first run after it, then a warm run (this VM's run-to-run noise
# is ±0.5 s, so one pair says little); then one run with an empty kernel cache
for ((r = 1; r <= ${ROUNDS:-3}; r++)); do
  install
  run "first run"
  run "warm run"
done
run "no cache" LEAKSLEUTH_JIT_CACHE="$WORK/empty"
for label in "first run" "warm run"; do  # median and best per label (mawk has no asort)
  grep -F "$label" "$WORK/times" | cut -f2 | sort -n | awk -v l="$label" '{v[NR] = $1} END {
    printf "%-12s median %.2f s, best %.2f s of %d\n", l, v[int((NR + 1) / 2)], v[1], NR }'
done
