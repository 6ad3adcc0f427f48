#!/usr/bin/env bash
# The file source against issue 10's goal ("a 1M-row JSONL total to CSV <= 1.5x gzip -1 of the input
# file", peak RSS < 200 MB): N generated rows (default 1,000,000; the ten mixed columns of
# bench/generate_jsonl.py, about 250 MB of JSONL), medians of ROUNDS (default 3) interleaved rounds of
#   baseline      gzip -1 of the JSONL (just compressing the input once: no parsing, hashing, publishing)
#   steady CSV    a total to zipped CSV once a base exists (what every scheduled total after the first is)
#   first CSV     a total into a fresh register (it also writes the all-insert delta)
# and, once at the end, a delta after 1% of the rows changed. INPUT=csv reads the same rows as a CSV
# file instead (every column Text). "after" is this tree's native AOT exporter from packaging/publish.sh
# (the build the images ship) unless EXPORTER_DLL names another build (an exporter.dll or an executable).
# BEFORE_DLL=path/to/exporter.dll (or an executable) adds the same runs for an older build, interleaved, so "before" and "after" share the machine's load. Per run: wall, exporter CPU
# (user + sys, GNU time), peak RSS; the load average at start and end. The machine is shared: compare
# only ratios of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000000}"
ROUNDS="${ROUNDS:-3}"
INPUT="${INPUT:-jsonl}"
AFTER_DLL="${EXPORTER_DLL:-exporter/bin/Release/net10.0/bench-publish/exporter}"
BEFORE_DLL="${BEFORE_DLL:-}"
RESULTS="bench/results"
mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="$PWD/$RESULTS/files-bench-$N-$STAMP.log"
REPORT="$RESULTS/files-bench-$N-$STAMP.txt"
RAW="$RESULTS/files-bench-$N-$STAMP.tsv"
: >"$LOG"
printf 'label\tround\twall_s\tcpu_s\trss_mb\texit\n' >"$RAW"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bulkexport-files-bench.XXXXXX")"
source bench/lib.sh
bench_on_exit "rm -rf '$WORK'"

[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt package 'time'); run .ci/install.sh" >&2; exit 1; }
if [ -z "${EXPORTER_DLL:-}" ]; then
  packaging/publish.sh exporter "$(dirname "$AFTER_DLL")" >>"$LOG" 2>&1
fi
variants=(after)
[ -n "$BEFORE_DLL" ] && variants+=(before)
dll_of() { if [ "$1" = before ]; then echo "$BEFORE_DLL"; else echo "$AFTER_DLL"; fi; }
exe_of() { exporter_cmd "$(dll_of "$1")"; }

echo "bench: generating $N rows ($INPUT)" >&2
mkdir -p "$WORK/src"
python3 bench/generate_jsonl.py "$N" >"$WORK/src/Bench.jsonl"
if [ "$INPUT" = csv ]; then
  python3 - "$WORK/src/Bench.jsonl" "$WORK/src/Bench.csv" <<'PY'
import csv, json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w", newline="") as out:
    w = None
    for line in f:
        row = json.loads(line)
        if w is None:
            w = csv.writer(out, lineterminator="\n"); w.writerow(row.keys())
        w.writerow([json.dumps(v, separators=(",", ":")) if isinstance(v, dict) else ("true" if v is True else "false" if v is False else v) for v in row.values()])
PY
  rm "$WORK/src/Bench.jsonl"
fi
SRC="$WORK/src/Bench.$INPUT"
BYTES=$(stat -c %s "$SRC")

schedule() { # file register
  cat >"$1" <<YAML
apiVersion: bulkexport.io/v1alpha1
kind: ExportSchedule
metadata: {name: bench}
spec:
  register: $2
  total: {schedule: "0 3 * * 6"}
  delta: {schedule: "0 3 * * *"}
  source: {files: {path: $WORK/src}}
  entities:
    - name: Bench
      key: [id]
  output: {formats: [CSV]}
  storage: {local: {path: $WORK/out-$2}}
YAML
}

# measure LABEL ROUND CMD…: one row of $RAW.
measure() {
  local label="$1" round="$2"; shift 2
  local tf; tf="$(mktemp)"
  set +e
  /usr/bin/time -v -o "$tf" "$@" >>"$LOG" 2>&1
  local rc=$?
  set -e
  local wall cpu rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$tf")"
  cpu="$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f", s}' "$tf")"
  rss="$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tf")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$round" "$wall" "$cpu" "$rss" "$rc" >>"$RAW"
  echo "[$label #$round] exit $rc, ${wall}s, cpu ${cpu}s, rss ${rss} MB" >>"$LOG"
  rm -f "$tf"
}

# Steady registers get their first total (and so a base) before the timed rounds.
for v in "${variants[@]}"; do
  schedule "$WORK/steady-$v.yaml" "S${v^^}"
  $(exe_of "$v") run --config "$WORK/steady-$v.yaml" --type total --temp "$WORK" >>"$LOG" 2>&1
done

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
  echo "bench: round $r of $ROUNDS" >&2
  measure baseline "$r" bash -c "gzip -1 < '$SRC' > /dev/null"
  for v in "${variants[@]}"; do
    measure "$v steady CSV" "$r" $(exe_of "$v") run --config "$WORK/steady-$v.yaml" --type total --temp "$WORK"
    schedule "$WORK/first-$v-$r.yaml" "F${v^^}R$r"
    measure "$v first CSV" "$r" $(exe_of "$v") run --config "$WORK/first-$v-$r.yaml" --type total --temp "$WORK"
    rm -rf "$WORK/out-F${v^^}R$r"
  done
done

# 1% of the rows changed, then one delta per variant against its steady register's base.
python3 - "$SRC" "$INPUT" <<'PY'
import os, sys
path, kind = sys.argv[1], sys.argv[2]
with open(path) as f, open(path + ".new", "w") as out:
    for i, line in enumerate(f):
        row = i - 1 if kind == "csv" else i
        if row >= 0 and row % 100 == 7:
            line = line.replace("row ", "changed row ", 1)
        out.write(line)
os.replace(path + ".new", path)
PY
for v in "${variants[@]}"; do
  measure "$v delta 1% CSV" 1 $(exe_of "$v") run --config "$WORK/steady-$v.yaml" --type delta --temp "$WORK"
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -F'\t' -v l="$1" -v c="$2" 'NR>1 && $1==l && $6==0 {print $c}' "$RAW"; }
base="$(col baseline 3 | median)"
{
  echo "files bench, $STAMP, N=$N, $INPUT input of $((BYTES / 1000000)) MB, $ROUNDS interleaved rounds (delta: 1), $(nproc) CPUs, load average $load_start at start, $load_end at end"
  printf '%-22s %8s %8s %8s %8s %10s\n' run wall_s "x gzip" rows/s cpu_s peak_rss_mb
  for label in $(awk -F'\t' 'NR>1 {print $1}' "$RAW" | tr ' ' '~' | awk '!seen[$0]++'); do
    l="${label//\~/ }"
    w="$(col "$l" 3 | median)"
    printf '%-22s %8s %8s %8s %8s %10s\n' "$l" "$w" \
      "$(awk -v w="$w" -v b="$base" 'BEGIN {printf "%.2f", w / b}')" \
      "$(awk -v w="$w" -v n="$N" 'BEGIN {printf "%.0f", n / w}')" \
      "$(col "$l" 4 | median)" "$(col "$l" 5 | sort -g | tail -1)"
  done
  failed="$(awk -F'\t' 'NR>1 && $6!=0' "$RAW" | wc -l)"
  [ "$failed" = 0 ] || echo "$failed run(s) exited non-zero; see $LOG"
} | tee "$REPORT"
echo "report: $REPORT; raw: $RAW; log: $LOG" >&2
