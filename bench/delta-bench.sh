#!/usr/bin/env bash
# Delta vs total on the file source (issue 9), for a plain and a temporal entity of N rows (default
# 1,000,000; the ten columns of generate_jsonl.py, plus an open registration and effect period for the
# temporal one). After a first total, three rounds, interleaved: change 1% of the rows (plain: a value;
# temporal: the registration ends now and a successor begins), time a delta run, then a total run of
# the same entity. Prints the median of each and delta/total; peak RSS is the maximum of the rounds.
# Format CSV, all three types of data for the temporal totals (the exporter's defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000000}"
ROUNDS="${ROUNDS:-3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bulkexport-delta-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt package 'time'); run .ci/install.sh" >&2; exit 1; }

dotnet build exporter -c Release -nologo -v q >/dev/null
EXPORTER="exporter/bin/Release/net10.0/exporter.dll"

schedule() { # kind
  local temporal=""
  if [ "$1" = temporal ]; then
    temporal="      temporal: {registrationFrom: regfra, registrationTo: regtil, effectiveFrom: virkfra, effectiveTo: virktil}"
  fi
  cat > "$WORK/$1.yaml" <<YAML
apiVersion: bulkexport.io/v1alpha1
kind: ExportSchedule
metadata: {name: bench}
spec:
  register: D$(echo "$1" | tr 'a-z' 'A-Z')
  total: {schedule: "0 3 * * 6"}
  delta: {schedule: "0 3 * * *"}
  source: {files: {path: $WORK/$1}}
  entities:
    - name: Bench
      key: [id]
$temporal
  output: {formats: [CSV]}
  storage: {local: {path: $WORK/out}}
  retention: {deltas: 336h, totals: 168h, orphans: 24h}
YAML
}

change() { # kind round
  python3 - "$WORK/$1/Bench.jsonl" "$1" "$2" <<'PY'
import datetime, json, os, sys
path, kind, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3])
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
added = []
with open(path) as f, open(path + ".new", "w") as out:
    for i, line in enumerate(f):
        if i % 100 == 7 + rnd:
            row = json.loads(line)
            if kind == "plain":
                row["name"] += f" (changed {rnd})"
            elif row["regtil"] is None:
                added.append(dict(row, regfra=now, name=row["name"] + f" (changed {rnd})"))
                row["regtil"] = now
            line = json.dumps(row, separators=(",", ":")) + "\n"
        out.write(line)
    for row in added:
        out.write(json.dumps(row, separators=(",", ":")) + "\n")
os.replace(path + ".new", path)
PY
}

measure() { # -> "seconds rss_kib"
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr" >&2; exit 1; }
  cat "$WORK/time"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

printf "%-10s %10s %10s %8s %14s %14s   (N=%s, %s rounds, medians, CSV)\n" "entity" "delta s" "total s" "ratio" "delta RSS MiB" "total RSS MiB" "$N" "$ROUNDS"
for kind in plain temporal; do
  mkdir -p "$WORK/$kind"
  python3 bench/generate_jsonl.py "$N" "$kind" > "$WORK/$kind/Bench.jsonl"
  schedule "$kind"
  measure dotnet "$EXPORTER" run --config "$WORK/$kind.yaml" --type total --temp "$WORK" >/dev/null
  : > "$WORK/$kind.delta"; : > "$WORK/$kind.total"
  for r in $(seq 1 "$ROUNDS"); do
    change "$kind" "$r"
    measure dotnet "$EXPORTER" run --config "$WORK/$kind.yaml" --type delta --temp "$WORK" >> "$WORK/$kind.delta"
    measure dotnet "$EXPORTER" run --config "$WORK/$kind.yaml" --type total --temp "$WORK" >> "$WORK/$kind.total"
  done
  d=$(cut -d' ' -f1 "$WORK/$kind.delta" | median); t=$(cut -d' ' -f1 "$WORK/$kind.total" | median)
  drss=$(cut -d' ' -f2 "$WORK/$kind.delta" | sort -n | tail -1); trss=$(cut -d' ' -f2 "$WORK/$kind.total" | sort -n | tail -1)
  awk -v k="$kind" -v d="$d" -v t="$t" -v dr="$drss" -v tr="$trss" 'BEGIN { printf "%-10s %10.2f %10.2f %8.2f %14.0f %14.0f\n", k, d, t, d / t, dr / 1024, tr / 1024 }'
  rm -rf "$WORK/out" "$WORK/$kind"
done
