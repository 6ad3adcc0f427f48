#!/usr/bin/env bash
# PostgreSQL → zip bench. N rows (default 1,000,000; `N=4000000 make bench` for the second size) of the
# ten-column entity in bench/generate.sql, on a throwaway cluster. Times:
#   (a) the floor: psql \copy … CSV | gzip -1 > /dev/null
#   (b) exporter total runs: CSV and JSON, into local storage and into s3rver (compatibility: Legacy)
#   (c) exporter delta runs after updating 1% of the rows
# and prints rows/s, MB/s (of the CSV text), the ratio to (a) and peak RSS. Results land in bench/results/.
# The exporter is invoked as `dotnet $EXPORTER_DLL run --config F --type total|delta`; a run that exits
# non-zero is reported as such and the bench goes on.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
source bench/schedule.sh

N="${N:-1000000}"
EXPORTER_DLL="${EXPORTER_DLL:-exporter/bin/Release/net10.0/exporter.dll}"
RESULTS="bench/results"
mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
export BENCH_LOG="$PWD/$RESULTS/pg-bench-$N-$STAMP.log"
REPORT="$RESULTS/pg-bench-$N-$STAMP.txt"
: >"$BENCH_LOG"

[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt package 'time'); run .ci/install.sh" >&2; exit 1; }

if [ ! -f "$EXPORTER_DLL" ] && [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  echo "bench: building the exporter (Release)"
  dotnet build exporter/BulkExport.Exporter.csproj -c Release -nologo -v q >>"$BENCH_LOG" 2>&1
fi

echo "bench: PostgreSQL with $N rows"
pg_start
gen_start=$(date +%s.%N)
psql -q -v ON_ERROR_STOP=1 -v n="$N" -f bench/generate.sql >>"$BENCH_LOG" 2>&1
gen_seconds=$(echo "$(date +%s.%N) - $gen_start" | bc -l 2>/dev/null || echo "?")
SELECT_SQL="SELECT id, name, amount, changed, day, active, ref, doc, score, tags FROM public.bench"
CSV_BYTES=$(psql -Atq -c "\\copy ($SELECT_SQL) TO STDOUT WITH CSV" | wc -c)
CSV_MB=$(awk -v b="$CSV_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
TABLE_MB=$(psql -Atq -c "SELECT round(pg_total_relation_size('public.bench') / 1048576.0, 1)")

rows_line() { # label seconds rss exit
  local label="$1" s="$2" rss="$3" rc="$4"
  if [ "$rc" != 0 ]; then
    printf '%-34s %10s %12s %9s %9s %8s  (exit %s)\n' "$label" "$s" "-" "-" "-" "$rss" "$rc"
    return
  fi
  awk -v l="$label" -v s="$s" -v n="$N" -v mb="$CSV_MB" -v base="${BASE_SECONDS:-$s}" -v rss="$rss" \
    'BEGIN { printf "%-34s %10.2f %12.0f %9.1f %9.2f %8s\n", l, s, n / s, mb / s, s / base, rss }'
}

{
  echo "PostgreSQL → zip bench, $STAMP, N=$N rows × 10 columns, $(nproc) CPUs"
  echo "generated in ${gen_seconds}s; table $TABLE_MB MB on disk; CSV text $CSV_MB MB"
  printf '%-34s %10s %12s %9s %9s %8s\n' "run" "seconds" "rows/s" "MB/s" "× (a)" "RSS MB"
} | tee "$REPORT"

# (a) the floor: what PostgreSQL and gzip alone cost.
timed "psql-copy-csv-gzip" bash -c "psql -Atq -c \"\\\\copy ($SELECT_SQL) TO STDOUT WITH CSV\" | gzip -1 > /dev/null"
BASE_SECONDS="$T_SECONDS"
rows_line "(a) psql \\copy CSV | gzip -1" "$T_SECONDS" "$T_RSS_MB" "$T_EXIT" | tee -a "$REPORT"

# (b) and (c): the exporter, per storage and format.
s3rver_start bench
WORK="$(mktemp -d /tmp/bulkexport-bench-out.XXXXXX)"
bench_on_exit "rm -rf '$WORK'"
export BULKEXPORT_POSTGRES_CONNECTION="$PG_CONNECTION"

configs=()
for storage in local s3; do
  for format in CSV JSON; do
    register="B$(echo "$storage" | tr 'a-z' 'A-Z')$format"
    register="${register//3/X}"
    write_schedule "$WORK/$storage-$format.yaml" "$format" "$storage" "$register" "$WORK" "${S3_ENDPOINT:-}"
    configs+=("$storage:$format")
  done
done

for c in "${configs[@]}"; do
  storage="${c%%:*}" format="${c##*:}"
  timed "total $storage $format" dotnet "$EXPORTER_DLL" run --config "$WORK/$storage-$format.yaml" --type total
  rows_line "(b) total $format → $storage" "$T_SECONDS" "$T_RSS_MB" "$T_EXIT" | tee -a "$REPORT"
done

# 1% of the rows change; a delta reads everything and writes only the changes.
psql -q -c "UPDATE public.bench SET score = score + 1, changed = changed + interval '1 day' WHERE id % 100 = 0" >>"$BENCH_LOG" 2>&1
for c in "${configs[@]}"; do
  storage="${c%%:*}" format="${c##*:}"
  timed "delta $storage $format" dotnet "$EXPORTER_DLL" run --config "$WORK/$storage-$format.yaml" --type delta
  rows_line "(c) delta 1% $format → $storage" "$T_SECONDS" "$T_RSS_MB" "$T_EXIT" | tee -a "$REPORT"
done

# (d) a total once a base exists, as every scheduled total after the first: the first total above also
# wrote a delta of all N rows (inserts against nothing), this one a delta of what changed (nothing).
for format in CSV JSON; do
  timed "steady total local $format" dotnet "$EXPORTER_DLL" run --config "$WORK/local-$format.yaml" --type total
  rows_line "(d) total $format → local, steady" "$T_SECONDS" "$T_RSS_MB" "$T_EXIT" | tee -a "$REPORT"
done

echo "report: $REPORT; log: $BENCH_LOG"
