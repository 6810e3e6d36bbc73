#!/usr/bin/env bash
# Heap-snapshot benchmark: leaksleuth vs memlab vs the cost of just reading the bytes.
#
#   bash bench/heap_bench.sh            # from the repo root or anywhere
#
# Environment knobs:
#   SIZES="450 1100 2000 4000"   snapshot sizes in MB to generate / measure (bench/gen_snapshot.js;
#                        a 4 GB file takes ~19 GB of RAM to write, once)
#   TOOLS="cat leaksleuth memlab-object-size"   per file; also: pyread, leaksleuth-phases
#                        (bench/leaksleuth_heap.py: phase timings), memlab-find-leaks (the
#                        file as baseline, target and final)
#   TOOL_TIMEOUT=1800    seconds per tool run before it is killed (reported as failed)
#   REPEAT=1             runs per tool and file: the table shows the fastest wall time
#                        and the largest peak RSS of the runs
#   MEMLAB_HEAP_MB=      if set, run memlab as `node --expose-gc --max-old-space-size=N
#                        memlab.js`; by default the shipped bin is used, whose shebang
#                        pins --max-old-space-size=4096 (NODE_OPTIONS cannot raise it)
#   PYTHON=.venv/bin/python
#   SERIES="4800000 12000000"   three-snapshot series to generate (heap nodes of the base; 4.8 M
#                        makes 3 × ~450 MB, 12 M 3 × ~1.1 GB) with bench/gen_series.js: a process
#                        leaking between snapshots
#   SERIES_MEMLAB_MAX=2000   run memlab-find-leaks-3 on series up to this many MB in all (beyond,
#                        its 4 GB heap is known to fail; the row says "skipped")
#   COLD=1               also run bench/cold_start.sh (first run after `pip install` vs warm)
#   SERIES_TOOLS="leaksleuth-3 memlab-find-leaks-3"   growth analysis of s0 s1 s2 by each tool
#
# What it does, on a fresh clone:
#   a) writes bench/out/heap-<N>mb.heapsnapshot with bench/gen_snapshot.js if absent
#   b) installs memlab@2 into bench/.memlab if absent (Chromium download skipped)
#   c) runs each tool on each file under /usr/bin/time -v (page cache warmed first
#      by the `cat` row, so every tool reads from memory)
#   d) prints a table (size, tool, wall s, peak RSS MB, MB/s) and writes it to
#      bench/out/results.tsv; per-run logs are in bench/out/logs/.
# A failing tool (e.g. memlab running out of memory) is reported as "failed: <reason>"
# and the benchmark goes on.
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

SIZES="${SIZES:-450 1100 2000 4000}"
TOOLS="${TOOLS:-cat leaksleuth memlab-object-size}"
SERIES_MEMLAB_MAX="${SERIES_MEMLAB_MAX:-2000}"
COLD="${COLD:-1}"
TOOL_TIMEOUT="${TOOL_TIMEOUT:-1800}"
REPEAT="${REPEAT:-1}"
MEMLAB_HEAP_MB="${MEMLAB_HEAP_MB:-}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
SERIES="${SERIES-4800000 12000000}"
SERIES_TOOLS="${SERIES_TOOLS:-leaksleuth-3 memlab-find-leaks-3}"
OUT="$HERE/out"
LOGS="$OUT/logs"
MEMLAB_DIR="$HERE/.memlab"
MEMLAB="$MEMLAB_DIR/node_modules/.bin/memlab"
MEMLAB_JS="$MEMLAB_DIR/node_modules/@memlab/cli/bin/memlab.js"
mkdir -p "$OUT" "$LOGS"

say() { printf '[heap_bench] %s\n' "$*" >&2; }

# ---- prerequisites -----------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
  say "/usr/bin/time missing; installing the 'time' package"
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y time >/dev/null 2>&1; }) \
      || { say "cannot install GNU time"; exit 1; }
  else
    say "need GNU time at /usr/bin/time (apt-get install time)"; exit 1
  fi
fi
command -v node >/dev/null || { say "node not found"; exit 1; }
if [ ! -x "$PYTHON" ]; then
  say "no venv python at $PYTHON: run 'make setup' first (or set PYTHON=)"; exit 1
fi

# ---- a) snapshots --------------------------------------------------------------
for mb in $SIZES; do
  f="$OUT/heap-${mb}mb.heapsnapshot"
  if [ ! -s "$f" ]; then
    say "generating $f (~$mb MB)"
    node "$HERE/gen_snapshot.js" --mb "$mb" --seed 1 --out "$f.tmp" >"$LOGS/gen-${mb}mb.log" 2>&1 \
      && mv "$f.tmp" "$f" || { say "generation failed: $(tail -n 3 "$LOGS/gen-${mb}mb.log")"; exit 1; }
  fi
done

for nodes in $SERIES; do
  d="$OUT/series-$nodes"
  if [ ! -s "$d/s2.heapsnapshot" ]; then
    say "generating the series $d (3 snapshots, ~$nodes base nodes)"
    node --max-old-space-size=8000 "$HERE/gen_series.js" --nodes "$nodes" --out "$d" >"$LOGS/gen-series-$nodes.log" 2>&1 \
      || { say "series generation failed: $(tail -n 3 "$LOGS/gen-series-$nodes.log")"; exit 1; }
  fi
done

# ---- b) memlab -------------------------------------------------------------------
if [ ! -x "$MEMLAB" ]; then
  say "installing memlab@2 into $MEMLAB_DIR"
  mkdir -p "$MEMLAB_DIR"
  [ -f "$MEMLAB_DIR/package.json" ] || echo '{"name":"leaksleuth-bench-memlab","private":true}' >"$MEMLAB_DIR/package.json"
  (cd "$MEMLAB_DIR" && PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
     npm install --no-audit --no-fund --loglevel=error memlab@2) >"$LOGS/memlab-install.log" 2>&1 \
    || say "memlab install failed (memlab rows will fail): $(tail -n 2 "$LOGS/memlab-install.log")"
fi

# warm numba's on-disk cache so leaksleuth is timed without JIT compilation
fixture="$ROOT/tests/fixtures/memlab/small.heapsnapshot.gz"
if [ -f "$fixture" ]; then
  "$PYTHON" "$HERE/leaksleuth_heap.py" "$fixture" >/dev/null 2>"$LOGS/warmup.log" \
    || say "leaksleuth warm-up failed: $(tail -n 1 "$LOGS/warmup.log")"
fi

# ---- c) runs ---------------------------------------------------------------------
memlab_cmd() {
  if [ -n "$MEMLAB_HEAP_MB" ]; then
    printf '%s\n' node --expose-gc "--max-old-space-size=$MEMLAB_HEAP_MB" "$MEMLAB_JS"
  else
    printf '%s\n' "$MEMLAB"
  fi
}
tool_cmd() {  # tool file workdir -> command words on stdout, one per line
  local tool=$1 f=$2 wd=$3
  case $tool in
    cat) printf '%s\n' sh -c 'cat "$1" >/dev/null' sh "$f" ;;
    pyread) printf '%s\n' "$PYTHON" -c \
      'import sys,collections; fh=open(sys.argv[1],"rb",buffering=0); b=bytearray(1<<24); collections.deque(iter(lambda: fh.readinto(b), 0), maxlen=0)' "$f" ;;
    leaksleuth) printf '%s\n' "$ROOT/.venv/bin/leaksleuth" analyze "$f" --top 10 ;;
    leaksleuth-phases) printf '%s\n' "$PYTHON" "$HERE/leaksleuth_heap.py" "$f" --top 10 ;;
    memlab-object-size) memlab_cmd; printf '%s\n' analyze object-size --snapshot "$f" --work-dir "$wd" ;;
    memlab-find-leaks) memlab_cmd; printf '%s\n' find-leaks --baseline "$f" --target "$f" --final "$f" --work-dir "$wd" ;;
    leaksleuth-3) printf '%s\n' "$ROOT/.venv/bin/leaksleuth" analyze "$f/s0.heapsnapshot" "$f/s1.heapsnapshot" \
      "$f/s2.heapsnapshot" --requests 0,300,600 ;;
    memlab-find-leaks-3) memlab_cmd; printf '%s\n' find-leaks --baseline "$f/s0.heapsnapshot" \
      --target "$f/s1.heapsnapshot" --final "$f/s2.heapsnapshot" --trace-all-objects --work-dir "$wd" ;;
    *) return 1 ;;
  esac
}

# reason for a failure: the most telling line of the tool's output
reason() {
  local log=$1 rc=$2 line
  line=$(tr '\r' '\n' <"$log" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' \
    | grep -E -i 'fatal|error|out of memory|killed|exception|invalid' | grep -v '^\s*at ' | head -n 1)
  [ -n "$line" ] || line=$(tr '\r' '\n' <"$log" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -v '^\s*$' | tail -n 1)
  [ "$rc" = 124 ] && line="timed out after ${TOOL_TIMEOUT}s; last: $line"
  printf 'exit %s: %s' "$rc" "${line:0:160}"
}

RESULTS="$OUT/results.tsv"
printf 'file\tsize_mb\ttool\twall_s\tpeak_rss_mb\tmb_per_s\tstatus\n' >"$RESULTS"

# one row: run_row TOOL FILE-OR-FOLDER LABEL SIZE_MB
run_row() {
  local tool=$1 f=$2 label=$3 size_mb=$4 wd best peak status r log tv t0 t1 rc wall rss mbps
    wd="$OUT/memlab-work/$tool-$label"
    mapfile -t cmd < <(tool_cmd "$tool" "$f" "$wd")
    [ ${#cmd[@]} -gt 0 ] || { say "unknown tool $tool"; return; }
    best=""; peak=0; status=ok
    for ((r = 1; r <= REPEAT; r++)); do
      rm -rf "$wd"; mkdir -p "$wd"
      log="$LOGS/$tool-$label.log"; tv="$LOGS/$tool-$label.time"
      say "$tool on $(basename "$f") ($size_mb MB), run $r/$REPEAT"
      t0=$(date +%s%N)
      /usr/bin/time -v -o "$tv" timeout "$TOOL_TIMEOUT" "${cmd[@]}" >"$log" 2>&1
      rc=$?
      t1=$(date +%s%N)
      # wall from a ns clock (GNU time's own figure has 10 ms resolution)
      wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
      rss=$(awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$tv")
      # memlab can print a fatal error and still exit 0: count its error lines as failure
      if [ $rc = 0 ] && [[ $tool == memlab* ]] && grep -q -E 'FATAL ERROR|heap out of memory|^Error:' "$log"; then rc=1; fi
      # `analyze s0 s1 s2` exits 1 when it finds a culprit: here that is success
      if [ $rc = 1 ] && [ "$tool" = leaksleuth-3 ] && grep -q '^#1 ' "$log"; then rc=0; fi
      rm -rf "$wd"
      if [ $rc != 0 ]; then
        status="failed: $(reason "$log" $rc)"; best=$wall; peak=${rss:-0}; break
      fi
      if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN{exit !(a < b)}'; then best=$wall; fi
      [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    done
    if [ "$status" = ok ]; then
      mbps=$(awk -v s="$size_mb" -v w="$best" 'BEGIN{ if (w>0) printf "%.1f", s/w; else print "-" }')
    else
      mbps=-
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$size_mb" "$tool" "$best" "$peak" "$mbps" "$status" >>"$RESULTS"
}

for mb in $SIZES; do
  f="$OUT/heap-${mb}mb.heapsnapshot"
  size_mb=$(awk -v b="$(stat -c %s "$f")" 'BEGIN{printf "%.1f", b/1048576}')
  for tool in $TOOLS; do run_row "$tool" "$f" "${mb}mb" "$size_mb"; done
done
for nodes in $SERIES; do
  d="$OUT/series-$nodes"
  cat "$d"/s[012].heapsnapshot >/dev/null  # read from memory, as the single files are
  # the three files together
  size_mb=$(stat -c %s "$d"/s[012].heapsnapshot | awk '{t += $1} END{printf "%.1f", t/1048576}')
  for tool in $SERIES_TOOLS; do
    if [[ $tool == memlab* ]] && awk -v s="$size_mb" -v m="$SERIES_MEMLAB_MAX" 'BEGIN{exit !(s > m)}'; then
      printf '%s\t%s\t%s\t-\t-\t-\t%s\n' "series-$nodes" "$size_mb" "$tool" "skipped (over SERIES_MEMLAB_MAX=$SERIES_MEMLAB_MAX MB)" >>"$RESULTS"
      continue
    fi
    run_row "$tool" "$d" "series-$nodes" "$size_mb"
  done
done

# ---- d) table ----------------------------------------------------------------------
echo
awk -F'\t' '
  NR == 1 { next }
  { key = $1; tool = $3; t[key, tool] = $4; r[key, tool] = $5; ok[key, tool] = ($7 == "ok") }
  { rows[++n] = $0 }
  END {
    printf "%-22s %8s  %-20s %8s %10s %7s %6s  %s\n", "file(s)", "MB", "tool", "wall s", "peak MB", "RSS/MB", "MB/s", "status / vs memlab"
    for (i = 1; i <= n; i++) {
      split(rows[i], f, "\t")
      note = f[7]
      other = (f[3] == "leaksleuth") ? "memlab-object-size" : (f[3] == "leaksleuth-3") ? "memlab-find-leaks-3" : ""
      if (note == "ok" && other != "" && ok[f[1], other])
        note = sprintf("%.1fx faster, %.2fx the peak RSS", t[f[1], other] / f[4], f[5] / r[f[1], other])
      ratio = (f[5] ~ /^[0-9.]+$/ && f[2] > 0) ? sprintf("%.2f", f[5] / f[2]) : "-"
      printf "%-22s %8s  %-20s %8s %10s %7s %6s  %s\n", f[1], f[2], f[3], f[4], f[5], ratio, f[6], note
    }
  }' "$RESULTS"
echo
say "results in $RESULTS, logs in $LOGS"
if [ "$COLD" = 1 ]; then
  FILE="$OUT/heap-$(echo "$SIZES" | awk '{print $1}')mb.heapsnapshot" PYTHON="$PYTHON" bash "$HERE/cold_start.sh"
fi
