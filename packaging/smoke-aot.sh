#!/usr/bin/env bash
# Smoke test of the native AOT exporter (make test-aot, part of make test). The unit and pipeline tests
# run the JIT build; this runs the binary the images ship (packaging/publish.sh) through every format
# once, total and delta, from both sources, so a trimming hole (a type or member the trimmer dropped, a
# reflection path, a missing native library) fails CI:
#   - PostgreSQL (a throwaway cluster, bench/lib.sh): the bench's ten mixed columns and a PostGIS point table;
#   - files: a typed CSV (every declared column type) and a JSONL with GeoJSON geometries;
#   - every format an entity allows (CSV, JSON, JSONL, GEOJSON, GPKG, GML, PARQUET): a total, a change, a delta;
#   - the files register signed (ES256, a next key announced), `gc`;
#   - `verify` by the native binary, and by the JIT build over the store the native binary wrote (the
#     fingerprints it recorded are recomputed by the code the tests cover);
#   - the same runs with the JIT build into a second store: every data file but GeoPackage's (whose header
#     records the generation time) must be byte-for-byte the native build's.
# Needs PostgreSQL + PostGIS (.ci/install.sh) and a C toolchain for the native link (gcc; .ci/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

pass=0 fail=0
check() { # check <description> <command...>
  local what=$1; shift
  if "$@"; then echo "ok - $what"; pass=$((pass + 1)); else echo "not ok - $what"; fail=$((fail + 1)); fi
}

work=$(mktemp -d /tmp/bulkexport-smoke-aot.XXXXXX)
bench_on_exit "rm -rf '$work'"
native=$work/native/exporter
echo "smoke-aot: publishing the native exporter (packaging/publish.sh)"
started=$SECONDS
packaging/publish.sh exporter "$work/native" >"$work/publish.log" 2>&1 || { tail -30 "$work/publish.log"; exit 1; }
echo "smoke-aot: published in $((SECONDS - started)) s, $(($(stat -c %s "$native") / 1024 / 1024)) MiB"
check "the published exporter is a native binary (no exporter.dll, no runtime beside it)" \
  test ! -e "$work/native/exporter.dll" -a ! -e "$work/native/libcoreclr.so"
jit=exporter/bin/Release/net10.0/exporter.dll
[[ -f $jit ]] || dotnet build exporter/BulkExport.Exporter.csproj -c Release -nologo -v q >/dev/null

pg_start
export BULKEXPORT_POSTGRES_CONNECTION="$PG_CONNECTION"
export PGOPTIONS="-c client_min_messages=warning"
psql -q -v ON_ERROR_STOP=1 -v n=500 -f bench/generate.sql >/dev/null
psql -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE public.points AS
  SELECT i::bigint AS id, 'p-' || i AS name, ST_SetSRID(ST_MakePoint(8 + i / 1000.0, 54 + i / 2000.0), 4326) AS geom
  FROM generate_series(1, 300) AS i;
ALTER TABLE public.points ADD PRIMARY KEY (id);
-- NULLs in every column of one row, and a NULL geometry.
INSERT INTO public.bench (id, name, changed) VALUES (100000, 'nulls, "quoted" and æøå', '2024-02-29 12:00:00+00');
INSERT INTO public.points VALUES (100000, NULL, NULL);
SQL

mkdir -p "$work/data"
{
  echo "id,name,amount,price,score,active,day,changed,ref"
  for i in $(seq 1 200); do
    echo "$i,name $i æ,$((i * 7)).25,$i.5,$((i * 3)).125,$([[ $((i % 2)) == 0 ]] && echo true || echo false),2024-01-$(printf %02d $((1 + i % 28))),2024-01-01T00:00:$(printf %02d $((i % 60)))Z,$(printf '%08x-0000-4000-8000-%012x' "$i" "$i")"
  done
  echo "1000,,,,,,,,"
} >"$work/data/Typed.csv"
{
  for i in $(seq 1 100); do
    printf '{"id":%d,"name":"place %d","geom":{"type":"Point","coordinates":[ %d.5, 55.25 ]}}\n' "$i" "$i" "$((8 + i % 5))"
  done
  printf '{"id":1000,"name":null,"geom":null}\n'
} >"$work/data/Places.jsonl"

# The files register is signed (ES256 JWS over manifests and catalogs, a next key announced as a JWK).
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$work/signing.pem"
openssl ec -in "$work/signing.pem" -pubout -out "$work/signing.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl ec -pubout -out "$work/next.pub" 2>/dev/null

schedule() { # schedule <file> <register> <store>
  cat >"$1" <<YAML
apiVersion: bulkexport.io/v1alpha1
kind: ExportSchedule
metadata: {name: smoke-$(tr 'A-Z' 'a-z' <<<"$2")}
spec:
  register: $2
  timeZone: UTC
  total: {schedule: "0 3 * * 6"}
  delta: {schedule: "0 3 * * *"}
$(if [[ $2 == PG* ]]; then cat <<'PG'
  source: {postgres: {connectionSecretRef: {name: db, key: connectionString}, parallelism: 1}}
  entities:
    - {name: Bench, table: public.bench, key: [id]}
    - {name: Points, table: public.points, key: [id], geometry: {column: geom, epsg: 4326}}
PG
else cat <<FILES
  source: {files: {path: $work/data}}
  entities:
    - name: Typed
      key: [id]
      columns: {id: integer, amount: "numeric(12,2)", price: numeric, score: float, active: boolean, day: date, changed: timestamptz, ref: uuid}
    - {name: Places, key: [id], geometry: {column: geom, epsg: 4326}}
  signing: {keyFile: $work/signing.pem, nextPublicKeyFile: $work/next.pub}
FILES
fi)
  output: {formats: [CSV, JSON, JSONL, GEOJSON, GPKG, GML, PARQUET], typesOfData: [Current]}
  storage: {local: {path: $3}}
YAML
}

change() { # change <source>: the edit between the total and the delta
  if [[ $1 == PG ]]; then
    psql -q -v ON_ERROR_STOP=1 -c "UPDATE public.bench SET amount = amount + 1 WHERE id % 10 = 0; DELETE FROM public.bench WHERE id = 7; UPDATE public.points SET geom = ST_SetSRID(ST_MakePoint(9, 56), 4326) WHERE id = 5" >/dev/null
  else
    sed -i 's/^10,name 10 æ/10,renamed/' "$work/data/Typed.csv"
    sed -i '/^{"id":7,/d' "$work/data/Places.jsonl"
  fi
}

run() { # run <exe...> -- <config> <type>: quiet unless it fails
  local out rc
  set +e
  out=$("$@" 2>&1); rc=$?
  set -e
  [[ $rc -eq 0 ]] || tail -15 <<<"$out" | sed 's/^/    /'
  return $rc
}

has_match() { compgen -G "$1" >/dev/null; }

same_data() { # same_data <store-a> <store-b> <register>: every zip's files alike, GPKG's aside
  local a=$1 b=$2 reg=$3 zip name bad=0 n=0
  for zip in "$a/$reg"/V1/*/*.zip; do
    name=${zip#"$a/"}
    [[ $name == *_GPKG_* ]] && continue
    n=$((n + 1))
    if ! cmp -s <(unzip -p "$zip") <(unzip -p "$b/$name"); then echo "    differs: $name"; bad=1; fi
  done
  echo "    compared $n zips"
  [[ $bad == 0 && $n -gt 0 ]]
}

for source in PG FILES; do
  reg=${source}SMOKE
  schedule "$work/$source-native.yaml" "$reg" "$work/store-native-$source"
  schedule "$work/$source-jit.yaml" "$reg" "$work/store-jit-$source"
  check "$source: native total exits 0" run "$native" run --config "$work/$source-native.yaml" --type total --temp "$work"
  check "$source: JIT total exits 0" run dotnet "$jit" run --config "$work/$source-jit.yaml" --type total --temp "$work"
  change "$source"
  check "$source: native delta exits 0" run "$native" run --config "$work/$source-native.yaml" --type delta --temp "$work"
  check "$source: JIT delta exits 0" run dotnet "$jit" run --config "$work/$source-jit.yaml" --type delta --temp "$work"
  for format in CSV JSON JSONL GEOJSON GPKG GML PARQUET; do
    check "$source: native wrote a $format total and delta" \
      has_match "$work/store-native-$source/$reg/V1/*/${reg}_V1_*_DeltaDownload_${format}_Current_2.zip"
  done
  keys=()
  [[ $source == FILES ]] && keys=(--public-key "$work/signing.pub")
  check "$source: native verify of its own store${keys:+ (signatures too)}" run "$native" verify --config "$work/$source-native.yaml" "${keys[@]}"
  check "$source: JIT verify of the native store${keys:+ (signatures too)}" run dotnet "$jit" verify --config "$work/$source-native.yaml" "${keys[@]}"
  check "$source: native gc exits 0" run "$native" gc --config "$work/$source-native.yaml"
  check "$source: native list --json names every file" \
    bash -c "\"$native\" list --config \"$work/$source-native.yaml\" --json | grep -q '_PARQUET_Current_2.zip'"
  check "$source: native data files are the JIT build's, byte for byte (GPKG aside)" \
    same_data "$work/store-native-$source" "$work/store-jit-$source" "$reg"
done

echo "smoke-aot: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
