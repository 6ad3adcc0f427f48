#!/usr/bin/env bash
# The download service as a consumer uses it, with curl, over the demo's output (make test runs this):
# list, fetch the newest total through its stable latest URL (302), check it against the listing,
# resume an interrupted download with Range, get 304 on a repeat, fetch a register's bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "server-consumer: FAIL: $*" >&2; [[ -f $work/server.log ]] && tail -20 "$work/server.log" >&2; exit 1; }

bash examples/dar/demo.sh "$work/out" >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; fail "demo did not run"; }
dotnet build server -c Release -nologo -v q >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
dotnet server/bin/Release/net10.0/server.dll --config "$work/out/demo/schedule.yaml" --urls "$base" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || fail "server exited"
  sleep 0.2
done
curl -sf "$base/readyz" >/dev/null || fail "server not ready"

# 1. List what is available and pick the newest Current JSON total of Adresse.
curl -sf "$base/FileDownloads/GetAvailableFileDownloads?Register=DAR&Entity=Adresse" -o "$work/list.json" || fail "listing"
read -r name sha size < <(python3 - "$work/list.json" <<'PY'
import json, sys
rows = [r for r in json.load(open(sys.argv[1])) if r["TypeOfDownload"] == "TotalDownload" and r["TypeOfData"] == "Current" and r["ContainedFileFormat"] == "JSON"]
newest = max(rows, key=lambda r: r["GenerationNumber"])
print(newest["Filename"], newest["Sha256"], newest["SizeBytes"])
PY
)
[[ -n $name ]] || fail "no Current JSON total of Adresse listed"

# 2. The stable URL answers 302 to that file; following it gives the listed bytes.
status=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$base/registers/DAR/latest/Adresse/Current/JSON")
[[ $status == "302 $base/FileDownloads/GetFile?Filename=$name" ]] || fail "latest answered '$status'"
curl -sfL -o "$work/$name" "$base/registers/DAR/latest/Adresse/Current/JSON" || fail "following latest"
[[ $(sha256sum "$work/$name" | cut -d' ' -f1) == "$sha" ]] || fail "downloaded file does not match its listed Sha256"

# 3. An interrupted download resumes with Range (curl -C -) and ends with the same bytes.
head -c $((size / 3)) "$work/$name" >"$work/partial.zip"
resume=$(curl -s -C - -o "$work/partial.zip" -w '%{http_code}' "$base/FileDownloads/GetFile?Filename=$name")
[[ $resume == 206 ]] || fail "resume answered $resume, expected 206"
cmp -s "$work/partial.zip" "$work/$name" || fail "resumed file differs"

# 4. A repeat with the ETag (the sha256) or the Last-Modified is 304 and sends nothing.
etag_status=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: \"$sha\"" "$base/FileDownloads/GetFile?Filename=$name")
[[ $etag_status == 304 ]] || fail "If-None-Match answered $etag_status"
touch -d "$(curl -sI "$base/FileDownloads/GetFile?Filename=$name" | sed -n 's/^Last-Modified: //Ip' | tr -d '\r')" "$work/$name"
since_status=$(curl -s -o /dev/null -w '%{http_code}' -z "$work/$name" "$base/FileDownloads/GetFile?Filename=$name")
[[ $since_status == 304 ]] || fail "If-Modified-Since answered $since_status"
list_etag=$(curl -sI "$base/FileDownloads/GetAvailableFileDownloads?Register=DAR&Entity=Adresse" | sed -n 's/^ETag: //Ip' | tr -d '\r')
list_status=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $list_etag" "$base/FileDownloads/GetAvailableFileDownloads?Register=DAR&Entity=Adresse")
[[ $list_status == 304 ]] || fail "repeated listing answered $list_status"

# 5. Every newest total of the register in one zip; each entry is a listed total, byte for byte.
curl -sf -o "$work/all.zip" "$base/FileDownloads/GetFile?Register=DAR" || fail "register bundle"
python3 - "$work/all.zip" "$work/out" <<'PY' || fail "bundle content"
import hashlib, json, sys, zipfile
catalog = {r["Filename"]: r for r in json.load(open(sys.argv[2] + "/DAR/catalog.json"))["Files"]}
with zipfile.ZipFile(sys.argv[1]) as z:
    names = z.namelist()
    assert names, "empty bundle"
    for info in z.infolist():
        row = catalog[info.filename]
        assert row["TypeOfDownload"] == "TotalDownload", info.filename
        assert info.compress_type == zipfile.ZIP_STORED, info.filename
        assert hashlib.sha256(z.read(info)).hexdigest() == row["Sha256"], info.filename
print(f"bundle: {len(names)} totals")
PY

# 6. The guide's parameter rules: Version without Register is a 400.
bad=$(curl -s -o /dev/null -w '%{http_code}' "$base/FileDownloads/GetAvailableFileDownloads?Version=1")
[[ $bad == 400 ]] || fail "Version without Register answered $bad"
curl -sf "$base/data.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["dataset"], "no datasets"' || fail "data.json"

# 7. The page for people, in Debian's chromium (installed by .ci/install.sh), with a screenshot.
mkdir -p artifacts
[[ -x /usr/bin/chromium ]] || fail "chromium is not installed (bash .ci/install.sh)"
[[ -d tests/browser/node_modules/playwright-core ]] || (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
BULKEXPORT_SERVER=$base BULKEXPORT_SCREENSHOT=artifacts/server-page.png node --test tests/browser/ >"$work/browser.log" 2>&1 \
  || { cat "$work/browser.log" >&2; fail "browser test of the page"; }
echo "server-consumer: ok ($name, resume, 304s, bundle, data.json, page in chromium: artifacts/server-page.png)"
