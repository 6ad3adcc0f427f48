#!/usr/bin/env bash
# PostgreSQL → zip bench. N rows (default 1,000,000; `N=4000000 make bench` for the second size) of the
# ten-column entity in bench/generate.sql, on a throwaway cluster. Times:
#   (a) the floor: psql \copy … CSV | gzip -1 > /dev/null
#   (b) exporter total runs: CSV and JSON, into local storage and into s3rver (compatibility: Legacy)
#   (c) exporter delta runs after updating 1% of the rows
#   (e) a temporal (bitemporal) entity of N rows: delta after 1% of the registrations were closed and
#       succeeded, against a total of the same entity (issue 9's goal: delta within 1.2x of the total,
#       peak RSS under 200 MB and flat from 1M to 4M rows); median of TEMPORAL_ROUNDS (default 1)
# BENCH_PG_CASES (default "plain temporal") picks (a)-(d) ("plain") and/or (e) ("temporal").
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

CASES="${BENCH_PG_CASES:-plain temporal}"
echo "bench: PostgreSQL with $N rows ($CASES)"
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

if [[ " $CASES " == *" plain "* ]]; then
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

fi

# (e) the temporal entity: the bitemporal columns of the README's example, all registrations open.
if [[ " $CASES " == *" temporal "* ]]; then
  psql -q -v ON_ERROR_STOP=1 >>"$BENCH_LOG" 2>&1 <<SQL
DROP TABLE IF EXISTS public.bench_t;
CREATE TABLE public.bench_t (
  id bigint NOT NULL, regfra timestamptz NOT NULL, regtil timestamptz, virkfra timestamptz NOT NULL, virktil timestamptz,
  name text NOT NULL, amount numeric(14,2), score double precision,
  PRIMARY KEY (id, regfra, virkfra));
INSERT INTO public.bench_t
SELECT i, timestamptz '2020-01-01Z' + i * interval '1 second', NULL, timestamptz '2019-01-01Z' + (i % 1000) * interval '1 day', NULL,
       'name-' || i || repeat('x', (i % 20)::int), (i * 7.31)::numeric(14,2), i / 7.0
FROM generate_series(1, $N) AS i;
VACUUM ANALYZE public.bench_t;
SQL
  WORK_T="$(mktemp -d /tmp/bulkexport-bench-temporal.XXXXXX)"
  bench_on_exit "rm -rf '$WORK_T'"
  export BULKEXPORT_POSTGRES_CONNECTION="$PG_CONNECTION"
  write_schedule "$WORK_T/temporal.yaml" CSV local BTEMPORAL "$WORK_T" "" temporal
  timed "temporal first total" dotnet "$EXPORTER_DLL" run --config "$WORK_T/temporal.yaml" --type total
  rows_line "(e) temporal first total CSV" "$T_SECONDS" "$T_RSS_MB" "$T_EXIT" | tee -a "$REPORT"
  deltas=() totals=() rss=()
  for ((round = 1; round <= ${TEMPORAL_ROUNDS:-1}; round++)); do
    # 1% of the rows: the registration ends now and a successor with a new name begins (a bitemporal update).
    psql -q -v ON_ERROR_STOP=1 >>"$BENCH_LOG" 2>&1 <<SQL
BEGIN;
CREATE TEMP TABLE closing AS SELECT * FROM public.bench_t WHERE id % 100 = $((round % 100)) AND regtil IS NULL;
UPDATE public.bench_t b SET regtil = now() FROM closing c WHERE b.id = c.id AND b.regfra = c.regfra AND b.virkfra = c.virkfra;
INSERT INTO public.bench_t SELECT id, now(), NULL, virkfra, virktil, name || '-r$round', amount, score + 1 FROM closing;
COMMIT;
SQL
    timed "temporal delta $round" dotnet "$EXPORTER_DLL" run --config "$WORK_T/temporal.yaml" --type delta
    rows_line "(e) temporal delta 1% CSV, round $round" "$T_SECONDS" "$T_RSS_MB" "$T_EXIT" | tee -a "$REPORT"
    deltas+=("$T_SECONDS") rss+=("$T_RSS_MB")
    timed "temporal total $round" dotnet "$EXPORTER_DLL" run --config "$WORK_T/temporal.yaml" --type total
    rows_line "(e) temporal total CSV, round $round" "$T_SECONDS" "$T_RSS_MB" "$T_EXIT" | tee -a "$REPORT"
    totals+=("$T_SECONDS") rss+=("$T_RSS_MB")
  done
  python3 - "${deltas[*]}" "${totals[*]}" "${rss[*]}" <<'PY' | tee -a "$REPORT"
import statistics, sys
d = statistics.median(float(x) for x in sys.argv[1].split())
t = statistics.median(float(x) for x in sys.argv[2].split())
peak = max(float(x) for x in sys.argv[3].split())
print(f"(e) temporal: delta {d:.2f} s / total {t:.2f} s = {d / t:.2f}x (goal <= 1.2); peak RSS {peak:.0f} MB (goal < 200)")
PY
fi

echo "report: $REPORT; log: $BENCH_LOG"
