#!/usr/bin/env bash
# Exporter throughput and memory on the file source (issue #2): a generated entity of N rows
# (default 1,000,000; ten columns of mixed types), exported as a total to zipped JSON and to zipped
# CSV into local storage, then a delta after changing 1% of the rows. The baseline, measured in the
# same run on the same machine, is `gzip -1` of the same JSONL bytes: the cost of just compressing
# the input once, with no parsing, formatting, hashing or publishing.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000000}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bulkexport-files-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

dotnet build exporter -c Release -nologo -v q >/dev/null
EXPORTER="exporter/bin/Release/net10.0/exporter.dll"

echo "generating $N rows..." >&2
mkdir -p "$WORK/src"
python3 bench/generate_jsonl.py "$N" > "$WORK/src/Bench.jsonl"
BYTES=$(stat -c %s "$WORK/src/Bench.jsonl")

schedule() { # format
  cat > "$WORK/schedule-$1.yaml" <<YAML
apiVersion: bulkexport.io/v1alpha1
kind: ExportSchedule
metadata: {name: bench}
spec:
  register: BENCH$1
  total: {schedule: "0 3 * * 6"}
  delta: {schedule: "0 3 * * *"}
  source: {files: {path: $WORK/src}}
  entities:
    - name: Bench
      key: [id]
  output: {formats: [$1]}
  storage: {local: {path: $WORK/out}}
YAML
}

# Prints "seconds peak_rss_kib" for a command.
measure() {
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr" >&2; exit 1; }
  cat "$WORK/time"
}

row() { # label seconds rss
  awk -v l="$1" -v s="$2" -v r="$3" -v n="$N" -v b="$BYTES" -v base="$BASE_S" 'BEGIN {
    printf "%-28s %8.2f s %12.0f rows/s %8.1f MB/s %8.2fx gzip %8.0f MiB\n", l, s, n/s, b/1e6/s, base/s, r/1024 }'
}

read -r BASE_S BASE_RSS < <(measure bash -c "gzip -1 < '$WORK/src/Bench.jsonl'")
printf "%-28s %10s %19s %13s %13s %12s\n" "run (N=$N, $((BYTES / 1000000)) MB JSONL)" "time" "rows/s" "input MB/s" "vs baseline" "peak RSS"
row "baseline: gzip -1" "$BASE_S" "$BASE_RSS"
for format in CSV JSON; do
  schedule "$format"
  read -r S RSS < <(measure dotnet "$EXPORTER" run --config "$WORK/schedule-$format.yaml" --type total --temp "$WORK")
  row "total -> zipped $format" "$S" "$RSS"
done

python3 - "$WORK/src/Bench.jsonl" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f, open(path + ".new", "w") as out:
    for i, line in enumerate(f):
        if i % 100 == 7:
            row = json.loads(line); row["name"] = row["name"] + " (changed)"; line = json.dumps(row, separators=(",", ":")) + "\n"
        out.write(line)
import os; os.replace(path + ".new", path)
PY
read -r S RSS < <(measure dotnet "$EXPORTER" run --config "$WORK/schedule-CSV.yaml" --type delta --temp "$WORK")
row "delta (1% changed) -> CSV" "$S" "$RSS"
