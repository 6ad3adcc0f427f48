#!/usr/bin/env bash
# GPKG and PARQUET against the tools users would otherwise reach for, each baseline measured in the
# same run on the same input (issue 11):
#   (g) a PostGIS table of N points (EPSG:25832) → GPKG: `ogr2ogr -f GPKG … PG:… table` (spatial
#       index on, its default) + `zip -1`, against the exporter's total (R-tree built too);
#   (p) a CSV file of N rows → Parquet: DuckDB `COPY (FROM 'file.csv') TO 'x.parquet' (CODEC zstd)`,
#       against the exporter's total through the files source (codec ZSTD, the columns declared with
#       the types DuckDB infers; TYPED=0 leaves them text), with both files' sizes.
# The exporter's first total also writes the delta of every row against nothing, so the exporter is
# timed twice: that first total, and a steady total (a second one, whose delta is empty), which is
# what a scheduled total costs and the fair comparison. Peak RSS from GNU time.
#   (l) the same PostGIS table → GML (no outside baseline: its peak RSS is the goal).
# EXPORTER_DLL (default: this tree's native exporter from packaging/publish.sh, the build the images ship) and BEFORE_DLL
# are an exporter.dll (run with dotnet) or an apphost / native AOT binary (run as it is).
# BEFORE_DLL=path/to/exporter.dll runs an earlier build in the same rounds, interleaved with this one
# (each round: before first+steady, then after first+steady, in fresh output directories); ROUNDS=3
# repeats and reports medians of the steady totals. ONLY="g p l" picks the parts.
#   N=1000000 bash bench/formats-bench.sh
#   N=1000000 ROUNDS=3 BEFORE_DLL=/tmp/before-exporter/exporter.dll bash bench/formats-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

N="${N:-1000000}"
EXPORTER_DLL="${EXPORTER_DLL:-}"
BEFORE_DLL="${BEFORE_DLL:-}"
ROUNDS="${ROUNDS:-1}"
ONLY="${ONLY:-g p l}"
RESULTS="bench/results"
mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
export BENCH_LOG="$PWD/$RESULTS/formats-bench-$N-$STAMP.log"
REPORT="$RESULTS/formats-bench-$N-$STAMP.txt"
: >"$BENCH_LOG"
for tool in ogr2ogr zip node /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing; run .ci/install.sh" >&2; exit 1; }
done
[ -d tests/duckdb/node_modules/@duckdb/node-api ] || { echo "bench: DuckDB missing (tests/duckdb); run .ci/install.sh" >&2; exit 1; }
if [ -z "$EXPORTER_DLL" ]; then
  # The build the images ship: the same publish (native AOT, BulkExport.Exporter.csproj).
  EXPORTER_DLL="exporter/bin/Release/net10.0/bench-publish/exporter"
  packaging/publish.sh exporter "$(dirname "$EXPORTER_DLL")" >>"$BENCH_LOG" 2>&1
fi

WORK="$(mktemp -d /tmp/bulkexport-formats-bench.XXXXXX)"
bench_on_exit "rm -rf '$WORK'"

line() { # label seconds rss [bytes] [baseline-seconds]; CPU from the last `timed`
  awk -v l="$1" -v s="$2" -v r="$3" -v b="${4:-}" -v base="${5:-$2}" -v n="$N" -v c="${T_CPU:-}" 'BEGIN {
    printf "%-54s %8.2f s %10.0f rows/s %7.2fx %6s MB RSS %8s s CPU %10s\n", l, s, n / s, s / base, r, c, (b == "" ? "" : sprintf("%.1f MB", b / 1e6)) }'
}

{
  echo "formats bench, $STAMP, N=$N, $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-54s %10s %17s %8s %13s %14s %10s\n' "run" "time" "rows/s" "× base" "peak RSS" "CPU" "file"
} | tee "$REPORT"

# ---- (g) PostGIS points → GPKG ------------------------------------------------------------------
OGR_S=""
if [[ " $ONLY " == *" g "* || " $ONLY " == *" l "* ]]; then
pg_start
psql -q -v ON_ERROR_STOP=1 >>"$BENCH_LOG" 2>&1 <<SQL
CREATE EXTENSION postgis;
CREATE TABLE public.points AS
  SELECT i::bigint AS id, 'Vej ' || (i % 5000) || ' ' || (i % 97) AS name, (i % 9000) + 1000 AS postnr,
         ST_SetSRID(ST_MakePoint(440000 + (i % 4500) * 100 + (i % 7), 6050000 + (i / 4500) * 3 + (i % 11)), 25832) AS geom
  FROM generate_series(1, $N) AS i;
ALTER TABLE public.points ADD PRIMARY KEY (id);
ANALYZE public.points;
SQL
export BULKEXPORT_POSTGRES_CONNECTION="$PG_CONNECTION"

fi

# ogr2ogr once per round of (g), interleaved with the exporter's runs: its time moves with the load
# as much as the exporter's, so each round's ratio uses that round's ogr2ogr (spread reported below).
declare -A OGR_ROUND
ogr_round() { # round
  timed "ogr2ogr gpkg" bash -c "ogr2ogr -f GPKG '$WORK/points.gpkg' 'PG:host=$PGHOST port=$PGPORT dbname=bench user=postgres password=$PGPASSWORD' points && zip -q -1 -j '$WORK/points.zip' '$WORK/points.gpkg'"
  OGR_S="$T_SECONDS"
  OGR_ROUND[$1]="$T_SECONDS"
  OGR_ALL="${OGR_ALL:-} $T_SECONDS"
  line "(g) ogr2ogr -f GPKG PG: points + zip -1" "$T_SECONDS" "$T_RSS_MB" "$(stat -c %s "$WORK/points.zip" 2>/dev/null || echo 0)" | tee -a "$REPORT"
  rm -f "$WORK/points.gpkg" "$WORK/points.zip"
}

# variants: "after" (this build) and, with BEFORE_DLL, "before", interleaved within each round.
VARIANTS="after"
[ -n "$BEFORE_DLL" ] && VARIANTS="before after"
dll_of() { if [ "$1" = before ]; then echo "$BEFORE_DLL"; else echo "$EXPORTER_DLL"; fi; }
# A build is a framework-dependent exporter.dll (run with dotnet) or a self-contained apphost or native AOT binary.
exe_of() { exporter_cmd "$(dll_of "$1")"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print ""; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
declare -A STEADY STEADY_RSS STEADY_CPU RATIO

# gpkg_config NAME FORMAT OUTDIR: the PostGIS points entity, one format.
points_config() {
  cat >"$WORK/$1.yaml" <<YAML
apiVersion: bulkexport.io/v1alpha1
kind: ExportSchedule
metadata: {name: bench-$1}
spec:
  register: B$2
  total: {schedule: "0 3 * * 6"}
  delta: {schedule: "0 3 * * *"}
  source: {postgres: {connectionSecretRef: {name: bench-db, key: connectionString}, parallelism: 1}}
  entities:
    - name: Points
      table: public.points
      key: [id]
      geometry: {column: geom, epsg: 25832}
  output: {formats: [$2], typesOfData: [Current]}
  storage: {local: {path: $3}}
YAML
}

# exporter_pair PART LABEL FORMAT CONFIG-FN BASE-SECONDS: first and steady totals per variant and round.
exporter_pair() {
  local part="$1" label="$2" format="$3" configure="$4" base="$5" round variant out
  for round in $(seq 1 "$ROUNDS"); do
    if [ "$part" = g ]; then
      ogr_round "$round"
      base="$OGR_S"
    elif [ "$part" = p ]; then
      duck_round "$round"
      base="$DUCK_S"
    fi
    for variant in $VARIANTS; do
      out="$WORK/out-$part-$variant-$round"
      "$configure" "$part-$variant-$round" "$format" "$out"
      timed "exporter $part $variant first" $(exe_of "$variant") run --config "$WORK/$part-$variant-$round.yaml" --type total --temp "$WORK"
      line "($part) $variant $label, first total (+ full delta)" "$T_SECONDS" "$T_RSS_MB" "" "$base" | tee -a "$REPORT"
      timed "exporter $part $variant steady" $(exe_of "$variant") run --config "$WORK/$part-$variant-$round.yaml" --type total --temp "$WORK"
      FILE_BYTES=""
      zip_path=$(find "$out" -name "*TotalDownload_${format}_Current_2.zip" | head -1)
      if [ -n "$zip_path" ] && [ "$part" = p ]; then
        # Parquet: the file itself, to set beside DuckDB's.
        FILE_BYTES=$(unzip -Z -l "$zip_path" | awk -v ext="$(echo "$format" | tr A-Z a-z)" '$NF ~ ("\\." ext "$") {print $4; exit}')
      elif [ -n "$zip_path" ]; then
        # GPKG and GML: the zip, to set beside ogr2ogr's + zip -1.
        FILE_BYTES=$(stat -c %s "$zip_path")
      fi
      line "($part) $variant $label, steady total" "$T_SECONDS" "$T_RSS_MB" "$FILE_BYTES" "$base" | tee -a "$REPORT"
      STEADY[$part-$variant]="${STEADY[$part-$variant]:-} $T_SECONDS"
      STEADY_CPU[$part-$variant]="${STEADY_CPU[$part-$variant]:-} $T_CPU"
      if [ "$part" = g ]; then
        RATIO[$variant]="${RATIO[$variant]:-} $(awk -v o="${OGR_ROUND[$round]}" -v s="$T_SECONDS" 'BEGIN { printf "%.2f", o / s }')"
      elif [ "$part" = p ]; then
        PRATIO[$variant]="${PRATIO[$variant]:-} $(awk -v d="$DUCK_S" -v s="$T_SECONDS" 'BEGIN { printf "%.2f", s / d }')"
      fi
      STEADY_RSS[$part-$variant]="${STEADY_RSS[$part-$variant]:-} $T_RSS_MB"
      rm -rf "$out"
    done
  done
}

if [[ " $ONLY " == *" g "* ]]; then
  exporter_pair g "exporter GPKG" GPKG points_config "$OGR_S"
fi
if [[ " $ONLY " == *" l "* ]]; then
  exporter_pair l "exporter GML" GML points_config "$OGR_S"
fi

# ---- (p) CSV → Parquet ----------------------------------------------------------------------------
if [[ " $ONLY " == *" p "* ]]; then
mkdir -p "$WORK/src"
python3 - "$N" >"$WORK/src/Bench.csv" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout
out.write("id,name,amount,day,active,score\n")
for i in range(1, n + 1):
    out.write(f"{i},Vej {i % 5000} {i % 97},{i % 100000}.{i % 100:02d},2024-{1 + i % 12:02d}-{1 + i % 28:02d},{'true' if i % 3 else 'false'},{(i * 7919) % 1000003 / 7}\n")
PY
CSV_BYTES=$(stat -c %s "$WORK/src/Bench.csv")

cat >"$WORK/duckdb-copy.mjs" <<'JS'
import { DuckDBInstance } from '@duckdb/node-api';
const [csv, parquet] = process.argv.slice(2);
const connection = await (await DuckDBInstance.create(':memory:')).connect();
await connection.run(`COPY (FROM '${csv}') TO '${parquet}' (FORMAT parquet, COMPRESSION zstd)`);
JS
cp "$WORK/duckdb-copy.mjs" tests/duckdb/.bench-copy.mjs
bench_on_exit "rm -f '$PWD/tests/duckdb/.bench-copy.mjs'"
# DuckDB once per round, interleaved with the exporter's runs (like ogr2ogr for g): on a shared
# machine its time moves with the load too, so each round's ratio uses that round's DuckDB.
declare -A PRATIO
duck_round() { # round
  timed "duckdb copy" node tests/duckdb/.bench-copy.mjs "$WORK/src/Bench.csv" "$WORK/duck.parquet"
  DUCK_S="$T_SECONDS"
  DUCK_ALL="${DUCK_ALL:-} $T_SECONDS"
  line "(p) DuckDB COPY csv TO parquet (zstd)" "$T_SECONDS" "$T_RSS_MB" "$(stat -c %s "$WORK/duck.parquet" 2>/dev/null || echo 0)" | tee -a "$REPORT"
  rm -f "$WORK/duck.parquet"
}

# The files source reads a CSV column as text unless the entity declares its type; DuckDB infers
# BIGINT, DOUBLE, DATE, BOOLEAN, DOUBLE for these, so the entity declares the same for both builds
# (TYPED=0: all text, the comparison before parquet9, and what a BEFORE_DLL older than
# entities[].columns needs).
TYPED="${TYPED:-1}"
files_config() {
  local columns=""
  if [ "$TYPED" = 1 ]; then
    columns="      columns: {id: integer, amount: float, day: date, active: boolean, score: float}"
  fi
  cat >"$WORK/$1.yaml" <<YAML
apiVersion: bulkexport.io/v1alpha1
kind: ExportSchedule
metadata: {name: bench-$1}
spec:
  register: BPARQUET
  total: {schedule: "0 3 * * 6"}
  delta: {schedule: "0 3 * * *"}
  source: {files: {path: $WORK/src}}
  entities:
    - name: Bench
      key: [id]
$columns
  output: {formats: [$2], parquetCompression: ZSTD}
  storage: {local: {path: $3}}
YAML
}
exporter_pair p "exporter PARQUET" PARQUET files_config ""
echo "CSV input $(awk -v b="$CSV_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB" | tee -a "$REPORT"
fi

{
  echo "medians of the steady totals over $ROUNDS round(s) (seconds, peak RSS MB):"
  for key in "${!STEADY[@]}"; do
    echo "  $key: $(echo "${STEADY[$key]}" | median) s, CPU $(echo "${STEADY_CPU[$key]}" | median) s, RSS $(echo "${STEADY_RSS[$key]}" | median) MB (runs:${STEADY[$key]})"
  done | sort
  if [ -n "${DUCK_ALL:-}" ]; then
    echo "  DuckDB COPY: $(echo "$DUCK_ALL" | median) s (runs:$DUCK_ALL)"
    for variant in $VARIANTS; do
      r="${PRATIO[$variant]:-}"
      [ -n "$r" ] && echo "  p-$variant: steady PARQUET / DuckDB per round:$r (median $(echo "$r" | median))"
    done
  fi
  if [ -n "${OGR_ALL:-}" ]; then
    echo "  ogr2ogr GPKG + zip: $(echo "$OGR_ALL" | median) s (runs:$OGR_ALL)"
    for variant in $VARIANTS; do
      r="${RATIO[$variant]:-}"
      [ -n "$r" ] && echo "  g-$variant: ogr2ogr / steady GPKG per round:$r (median $(echo "$r" | median), min $(echo "$r" | tr ' ' '\n' | grep -v '^$' | sort -g | head -1), max $(echo "$r" | tr ' ' '\n' | grep -v '^$' | sort -g | tail -1))"
    done
  fi
} | tee -a "$REPORT"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$REPORT"
echo "report: $REPORT; log: $BENCH_LOG"
