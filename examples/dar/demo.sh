#!/usr/bin/env bash
# make demo: a total of the sample register into ./out, a scripted change set, a delta, then list and verify.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-out}"

dotnet build exporter -c Release -nologo -v q >/dev/null
EXPORTER=(dotnet exporter/bin/Release/net10.0/exporter.dll)

# Work on a copy: the committed sample stays as generated.
rm -rf "$OUT/DAR" "$OUT/demo"
mkdir -p "$OUT/demo"
cp -r examples/dar/source "$OUT/demo/source"
sed -e "s#path: examples/dar/source#path: $OUT/demo/source#" -e "s#path: out\$#path: $OUT#" examples/dar/schedule.yaml > "$OUT/demo/schedule.yaml"

echo "== total export of the sample register"
"${EXPORTER[@]}" run --config "$OUT/demo/schedule.yaml" --type total
echo
echo "== applying the scripted change set"
python3 examples/dar/apply_changes.py "$OUT/demo/source"
echo
echo "== delta export"
"${EXPORTER[@]}" run --config "$OUT/demo/schedule.yaml" --type delta
echo
echo "== catalog"
"${EXPORTER[@]}" list --config "$OUT/demo/schedule.yaml"
echo
echo "== verify"
"${EXPORTER[@]}" verify --config "$OUT/demo/schedule.yaml"
