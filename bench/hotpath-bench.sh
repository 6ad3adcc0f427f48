#!/usr/bin/env bash
# The export hot path against its baselines (issue 10's goals), medians of ROUNDS (default 3)
# interleaved runs on one throwaway PostgreSQL cluster with N rows (default 1,000,000):
#   baseline        psql \copy (bench select) TO STDOUT CSV | gzip -1
#   steady CSV/JSON an exporter total once a base exists
#   first CSV       a total into a fresh register (also writes the all-insert delta)
#   delta 1%        after `UPDATE … WHERE id % 100 = round`, compare mode (reads every row)
#   delta 1% xmin   the same, `changeDetection: xmin` (every key, only changed rows' values); for builds
#                   that know the field (its register's first total fails on the others: skipped). The two
#                   deltas alternate which runs first after the UPDATE (the first scan sets hint bits).
#   GeoJSON         a total of N PostGIS points, against psql | gzip -1 of the same table and
#                   against ogr2ogr -f GeoJSON + zip -1 (skipped when ogr2ogr is missing)
# Per run: wall, exporter CPU (user+sys), PostgreSQL CPU (the postmaster's reaped children: every
# backend of the run), peak RSS, allocations (the exporter's own runtime counters, BULKEXPORT_BENCH_STATS).
# BEFORE_DLL=path/to/exporter.dll adds the same runs for an older build, interleaved, so "before"
# and "after" share the machine's load; EXTRA_DLLS="name=path …" adds more (names: letters and digits; a path is an
# exporter.dll run with dotnet, or a self-contained apphost run as it is).
# "after" is this tree's native AOT exporter from packaging/publish.sh (the build the images ship),
# unless EXPORTER_DLL names another build; compare it with a "before" built the same way. SKIP_GEO=1 skips the GeoJSON runs;
# GEO_ONLY=1 runs only the GeoJSON part (points baseline, GeoJSON totals, ogr2ogr).
# Zip sizes are printed beside gzip -1 of the same CSV bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
source bench/schedule.sh

N="${N:-1000000}"
ROUNDS="${ROUNDS:-3}"
AFTER_DLL="${EXPORTER_DLL:-}"
BEFORE_DLL="${BEFORE_DLL:-}"
EXTRA_DLLS="${EXTRA_DLLS:-}"
SKIP_GEO="${SKIP_GEO:-0}"
GEO_ONLY="${GEO_ONLY:-0}"
RESULTS="bench/results"
mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
export BENCH_LOG="$PWD/$RESULTS/hotpath-bench-$N-$STAMP.log"
REPORT="$RESULTS/hotpath-bench-$N-$STAMP.txt"
RAW="$RESULTS/hotpath-bench-$N-$STAMP.tsv"
: >"$BENCH_LOG"
printf 'label\tround\twall_s\texporter_cpu_s\tpg_cpu_s\trss_mb\talloc_mb\texit\n' >"$RAW"

[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt package 'time'); run .ci/install.sh" >&2; exit 1; }
if [ -z "$AFTER_DLL" ]; then
  # The build the images ship: the same publish (native AOT, BulkExport.Exporter.csproj).
  AFTER_DLL="exporter/bin/Release/net10.0/bench-publish/exporter"
  packaging/publish.sh exporter "$(dirname "$AFTER_DLL")" >>"$BENCH_LOG" 2>&1
fi

variants=(after)
declare -A dlls=([after]="$AFTER_DLL")
[ -n "$BEFORE_DLL" ] && { variants+=(before); dlls[before]="$BEFORE_DLL"; }
for extra in $EXTRA_DLLS; do
  name="${extra%%=*}"
  [[ "$name" =~ ^[a-z0-9]+$ ]] || { echo "bench: EXTRA_DLLS name '$name' must be lowercase letters and digits" >&2; exit 1; }
  variants+=("$name"); dlls[$name]="${extra#*=}"
done
dll_of() { echo "${dlls[$1]}"; }
# A build is a framework-dependent exporter.dll (run with dotnet), a self-contained apphost or the native binary.
exe_of() { exporter_cmd "$(dll_of "$1")"; }

echo "bench: PostgreSQL with $N rows (+ $N PostGIS points)"
pg_start
[ "$GEO_ONLY" = 1 ] || psql -q -v ON_ERROR_STOP=1 -v n="$N" -f bench/generate.sql >>"$BENCH_LOG" 2>&1
GEO=1
if [ "$SKIP_GEO" = 1 ]; then
  GEO=0
elif psql -q -c "CREATE EXTENSION IF NOT EXISTS postgis" >>"$BENCH_LOG" 2>&1; then
  psql -q -v ON_ERROR_STOP=1 -c "DROP TABLE IF EXISTS public.points; CREATE TABLE public.points AS SELECT i::bigint AS id, 'p-' || i AS name, ST_SetSRID(ST_MakePoint(8 + (i % 10000) / 1000.0, 54 + (i / 10000) / 1000.0), 4326) AS geom FROM generate_series(1, $N) AS i; ALTER TABLE public.points ADD PRIMARY KEY (id);" -c "VACUUM ANALYZE public.points" >>"$BENCH_LOG" 2>&1
else
  GEO=0
  echo "bench: no PostGIS; GeoJSON runs skipped" | tee -a "$BENCH_LOG"
fi
PM_PID="$(head -1 "$PG_ROOT/data/postmaster.pid")"
# The postmaster's children with no client connected (checkpointer, walwriter, autovacuum launcher, …).
sleep 1
PM_IDLE_CHILDREN="$(pgrep -c -P "$PM_PID" || true)"
SELECT_SQL="SELECT id, name, amount, changed, day, active, ref, doc, score, tags FROM public.bench"
POINTS_SQL="SELECT id, name, ST_AsGeoJSON(geom) FROM public.points"

WORK="$(mktemp -d /tmp/bulkexport-hotpath-bench.XXXXXX)"
bench_on_exit "rm -rf '$WORK'"
export BULKEXPORT_POSTGRES_CONNECTION="$PG_CONNECTION"

# CPU seconds of PostgreSQL so far: the postmaster and every backend it has reaped (cutime/cstime).
pg_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15 + $16 + $17) / hz }' "/proc/$PM_PID/stat"; }

# measure LABEL ROUND CMD…: one row of $RAW.
measure() {
  local label="$1" round="$2"; shift 2
  local tf stats; tf="$(mktemp)"; stats="$(mktemp)"
  local pg0; pg0="$(pg_cpu)"
  set +e
  BULKEXPORT_BENCH_STATS="$stats" /usr/bin/time -v -o "$tf" "$@" >>"$BENCH_LOG" 2>&1
  local rc=$?
  set -e
  # A backend's CPU reaches cutime/cstime only when the postmaster reaps it, which happens a little
  # after the client exits: wait (up to 5 s) until the postmaster is back to its idle children.
  local waited=0
  while [ "$(pgrep -c -P "$PM_PID" || true)" -gt "$PM_IDLE_CHILDREN" ] && [ "$waited" -lt 50 ]; do
    sleep 0.1; waited=$((waited + 1))
  done
  local pg1; pg1="$(pg_cpu)"
  local wall cpu rss alloc
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$tf")"
  cpu="$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f", s}' "$tf")"
  rss="$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tf")"
  alloc="$(awk '{for(i=1;i<=NF;i++) if ($i ~ /^allocated_bytes=/) {split($i,a,"="); printf "%.0f", a[2]/1048576}}' "$stats")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$round" "$wall" "$cpu" "$(awk -v a="$pg0" -v b="$pg1" 'BEGIN {printf "%.2f", b - a}')" "$rss" "${alloc:--}" "$rc" >>"$RAW"
  echo "[$label #$round] exit $rc, ${wall}s, cpu ${cpu}s, rss ${rss} MB, alloc ${alloc:--} MB" >>"$BENCH_LOG"
  rm -f "$tf" "$stats"
}

points_schedule() { # file register
  write_schedule "$1" GEOJSON local "$2" "$WORK"
  sed -i 's|      table: public.bench|      table: public.points|; s|      key: \[id\]|      key: [id]\n      geometry: {column: geom}|' "$1"
}

# Steady registers get their first total (and so a base) before the timed rounds.
declare -A xmin_ok=()
for v in "${variants[@]}"; do
  if [ "$GEO_ONLY" != 1 ]; then
    write_schedule "$WORK/xmin-$v-CSV.yaml" CSV local "X${v^^}CSV" "$WORK"
    sed -i 's|      key: \[id\]|      key: [id]\n      changeDetection: xmin|' "$WORK/xmin-$v-CSV.yaml"
    if $(exe_of "$v") run --config "$WORK/xmin-$v-CSV.yaml" --type total >>"$BENCH_LOG" 2>&1; then
      xmin_ok[$v]=1
    else
      echo "bench: $v does not take changeDetection: xmin; its xmin delta is skipped" | tee -a "$BENCH_LOG"
    fi
  fi
  for format in CSV JSON; do
    [ "$GEO_ONLY" = 1 ] && continue
    write_schedule "$WORK/steady-$v-$format.yaml" "$format" local "S${v^^}$format" "$WORK"
    $(exe_of "$v") run --config "$WORK/steady-$v-$format.yaml" --type total >>"$BENCH_LOG" 2>&1
  done
  if [ "$GEO" = 1 ]; then
    points_schedule "$WORK/geo-$v.yaml" "G${v^^}"
    $(exe_of "$v") run --config "$WORK/geo-$v.yaml" --type total >>"$BENCH_LOG" 2>&1
  fi
done

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
  echo "bench: round $r of $ROUNDS"
  if [ "$GEO_ONLY" != 1 ]; then
  measure baseline "$r" bash -c "psql -Atq -c \"\\\\copy ($SELECT_SQL) TO STDOUT WITH CSV\" | gzip -1 > /dev/null"
  for v in "${variants[@]}"; do
    for format in CSV JSON; do
      measure "$v steady $format" "$r" $(exe_of "$v") run --config "$WORK/steady-$v-$format.yaml" --type total
    done
    write_schedule "$WORK/first-$v-$r.yaml" CSV local "F${v^^}R$r" "$WORK"
    measure "$v first CSV" "$r" $(exe_of "$v") run --config "$WORK/first-$v-$r.yaml" --type total
  done
  fi
  if [ "$GEO" = 1 ]; then
    measure "geo baseline" "$r" bash -c "psql -Atq -c \"\\\\copy ($POINTS_SQL) TO STDOUT WITH CSV\" | gzip -1 > /dev/null"
    for v in "${variants[@]}"; do
      measure "$v GeoJSON" "$r" $(exe_of "$v") run --config "$WORK/geo-$v.yaml" --type total
    done
    if command -v ogr2ogr >/dev/null 2>&1; then
      measure "ogr2ogr GeoJSON+zip" "$r" bash -c "rm -f '$WORK/ogr.geojson' '$WORK/ogr.zip' && ogr2ogr -f GeoJSON '$WORK/ogr.geojson' 'PG:host=$PGHOST port=$PGPORT dbname=bench user=postgres password=$PGPASSWORD' -sql 'SELECT id, name, geom FROM public.points' && zip -q -1 -j '$WORK/ogr.zip' '$WORK/ogr.geojson'"
    fi
  fi
  [ "$GEO_ONLY" = 1 ] && continue
  psql -q -c "UPDATE public.bench SET score = score + 1, changed = changed + interval '1 day' WHERE id % 100 = $r" >>"$BENCH_LOG" 2>&1
  for v in "${variants[@]}"; do
    if [ -n "${xmin_ok[$v]:-}" ] && [ $((r % 2)) = 1 ]; then
      measure "$v delta 1% CSV xmin" "$r" $(exe_of "$v") run --config "$WORK/xmin-$v-CSV.yaml" --type delta
    fi
    measure "$v delta 1% CSV" "$r" $(exe_of "$v") run --config "$WORK/steady-$v-CSV.yaml" --type delta
    if [ -n "${xmin_ok[$v]:-}" ] && [ $((r % 2)) = 0 ]; then
      measure "$v delta 1% CSV xmin" "$r" $(exe_of "$v") run --config "$WORK/xmin-$v-CSV.yaml" --type delta
    fi
  done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# Medians per label; ratios against the median baseline of the same run.
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -F'\t' -v l="$1" -v c="$2" 'NR>1 && $1==l && $8==0 {print $c}' "$RAW"; }
base="$(col baseline 3 | median)"
geobase="$(col "geo baseline" 3 | median)"
{
  echo "hot path bench, $STAMP, N=$N, $ROUNDS interleaved rounds, $(nproc) CPUs, load average $load_start at start, $load_end at end"
  printf '%-24s %8s %8s %8s %8s %8s %10s %12s\n' run wall_s "x base" "x geo" cpu_s pg_cpu_s rss_mb alloc_MB/1M
  for label in $(awk -F'\t' 'NR>1 {print $1}' "$RAW" | tr ' ' '~' | awk '!seen[$0]++'); do
    l="${label//\~/ }"
    w="$(col "$l" 3 | median)"
    a="$(col "$l" 7 | grep -v '^-$' | median || true)"
    printf '%-24s %8s %8s %8s %8s %8s %10s %12s\n' "$l" "$w" \
      "$(awk -v w="$w" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", w / b; else print "-" }')" \
      "$(awk -v w="$w" -v b="$geobase" 'BEGIN { if (b > 0) printf "%.2f", w / b; else print "-" }')" \
      "$(col "$l" 4 | median)" "$(col "$l" 5 | median)" "$(col "$l" 6 | sort -g | tail -1)" \
      "$(awk -v a="${a:--}" -v n="$N" 'BEGIN { if (a == "-" || a == "") print "-"; else printf "%.0f", a * 1000000 / n }')"
  done
  failed="$(awk -F'\t' 'NR>1 && $8!=0' "$RAW" | wc -l)"
  [ "$failed" = 0 ] || echo "$failed run(s) exited non-zero; see $BENCH_LOG"
  echo
  echo "zip size of the steady CSV total vs gzip -1 of the same CSV bytes:"
  for v in "${variants[@]}"; do
    [ -d "$WORK/local-S${v^^}CSV" ] || continue
    zipf="$(find "$WORK/local-S${v^^}CSV" -name '*TotalDownload*.zip' | sort | tail -1)"
    if [ -n "$zipf" ]; then
      raw="$(unzip -p "$zipf" '*.csv' | wc -c)"
      gz="$(unzip -p "$zipf" '*.csv' | gzip -1 | wc -c)"
      printf '  %-7s csv %s bytes, zip %s bytes, gzip -1 %s bytes, zip/gzip %.3f\n' "$v" "$raw" "$(stat -c %s "$zipf")" "$gz" "$(echo "$(stat -c %s "$zipf") / $gz" | bc -l)"
    fi
  done
} | tee "$REPORT"
echo "report: $REPORT; raw: $RAW; log: $BENCH_LOG"
