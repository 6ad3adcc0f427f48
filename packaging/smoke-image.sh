#!/usr/bin/env bash
# Smoke test of the FROM-scratch images (make test-image): builds them with image-local.sh, then
# runs them the way the CronJob runs the exporter (non-root, read-only root, /tmp a tmpfs, no
# capabilities, no network) and checks `exporter --help` and a tiny `exporter run` that writes
# to a mounted directory. The exporter's image holds its native AOT binary (packaging/publish.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
  # REQUIRE_DOCKER=1 turns a skip into a failure where Docker is known to work.
  echo "SKIP test-image: $*"
  [[ ${REQUIRE_DOCKER:-0} == 1 ]] && exit 1
  exit 0
}
command -v docker >/dev/null || skip "no docker CLI (.ci/install.sh installs docker.io)"
docker info >/dev/null 2>&1 || skip "no Docker engine answers on $(docker context inspect -f '{{.Endpoints.docker.Host}}' 2>/dev/null || echo the default socket) (.ci/install.sh starts dockerd)"

tag=smoke
pass=0 fail=0
check() { # check <description> <command...>
  local what=$1; shift
  if "$@"; then echo "ok - $what"; pass=$((pass + 1)); else echo "not ok - $what"; fail=$((fail + 1)); fi
}
has_match() { compgen -G "$1" >/dev/null; }
run_locked() { # the exporter pod's security context, as plain docker flags
  docker run --rm --network none --read-only --tmpfs /tmp:rw,nosuid,nodev,size=64m \
    --cap-drop ALL --security-opt no-new-privileges "$@"
}
# Proves the apphost, CoreCLR and the copied host libraries load in an empty rootfs and that
# managed Main ran, independently of what the program then does with its arguments.
runtime_starts() { # runtime_starts <image> <args...>
  local img=$1 trace; shift
  trace=$(run_locked -e COREHOST_TRACE=1 -e COREHOST_TRACE_VERBOSITY=3 "$img" "$@" 2>&1 >/dev/null || true)
  grep -q 'Execute managed assembly exit code' <<<"$trace" || { tail -5 <<<"$trace" | sed 's/^/    /'; return 1; }
}

# The exporter is one native AOT binary (packaging/publish.sh): there is no host to trace, so it starts
# when `--version` exits 0 in the locked-down container (every native library it links is in the rootfs).
native_starts() { # native_starts <image>
  local out
  out=$(run_locked "$1" --version 2>&1) || { tail -5 <<<"$out" | sed 's/^/    /'; return 1; }
}
is_native() { # is_native <image>: /app holds no exporter.dll and no CoreCLR
  local id ok=0
  id=$(docker create "$1")
  docker cp "$id:/app/exporter.dll" - >/dev/null 2>&1 && ok=1
  docker cp "$id:/app/libcoreclr.so" - >/dev/null 2>&1 && ok=1
  docker rm "$id" >/dev/null
  return $ok
}

# Schedules name IANA zones; without tzdata .NET rejects every zone but UTC.
has_tzdata() { # has_tzdata <image>
  local id ok=0
  id=$(docker create "$1")
  docker cp "$id:/usr/share/zoneinfo/Europe/Copenhagen" - >/dev/null 2>&1 || ok=1
  docker rm "$id" >/dev/null
  return $ok
}

validates() { # validates <file>: quiet unless it fails
  local out
  out=$(node tools/k8s-validate/validate.mjs "$1" 2>&1) || { sed 's/^/    /' <<<"$out"; return 1; }
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- exporter --------------------------------------------------------------------------------
packaging/image-local.sh exporter "$tag"
img=bulkexport/exporter:$tag
check "exporter image ships the native AOT exporter (no exporter.dll, no CoreCLR)" is_native "$img"
check "exporter image: the native binary starts in the scratch rootfs (read-only, non-root)" native_starts "$img"
check "exporter image has time zone data" has_tzdata "$img"
check "exporter image runs as a non-root numeric user" \
  test "$(docker image inspect -f '{{.Config.User}}' "$img")" = 1654:1654

set +e
help_out=$(run_locked "$img" --help 2>&1); help_rc=$?
set -e
if [[ $help_rc -ne 0 && -z $help_out ]]; then
  # The stub on main exits 2 silently for every input; the CLI contract below applies once the
  # exporter's command line lands (branch exporter), and then this branch is never taken.
  echo "SKIP exporter CLI checks: 'exporter --help' exits $help_rc with no output (the exporter is still the stub)"
else
  check "exporter --help exits 0" test "$help_rc" -eq 0
  check "exporter --help prints usage naming 'run'" grep -q run <<<"$help_out"

  mkdir -p "$work/data" "$work/out" "$work/config"
  printf '{"id":1,"name":"one"}\n{"id":2,"name":"two"}\n' >"$work/data/Item.jsonl"
  cat >"$work/config/schedule.yaml" <<'YAML'
apiVersion: bulkexport.io/v1alpha1
kind: ExportSchedule
metadata: {name: smoke}
spec:
  register: SMOKE
  total: {schedule: "0 3 * * 6"}
  delta: {schedule: "0 3 * * *"}
  source: {files: {path: /data}}
  entities:
    - {name: Item, key: [id]}
  output: {formats: [JSON, JSONL, CSV, GPKG, PARQUET], typesOfData: [Current]}
  storage: {local: {path: /out}}
YAML
  chmod -R a+rX "$work/data" "$work/config"
  chmod 0777 "$work/out" # the container user (1654) writes there
  set +e
  run_out=$(run_locked -v "$work/data:/data:ro" -v "$work/config:/etc/bulkexport:ro" -v "$work/out:/out" \
    "$img" run --config /etc/bulkexport/schedule.yaml --type total 2>&1); run_rc=$?
  set -e
  [[ $run_rc -eq 0 ]] || tail -20 <<<"$run_out" | sed 's/^/    /'
  check "exporter run --type total exits 0" test "$run_rc" -eq 0
  check "run printed a JSON summary for register SMOKE" grep -q '"register": *"SMOKE"' <<<"$run_out"
  check "run wrote the catalog to the mounted directory" test -s "$work/out/SMOKE/catalog.json"
  check "run committed a generation manifest" has_match "$work/out/SMOKE/generations/*.json"
  check "run wrote a zipped total for Item" has_match "$work/out/SMOKE/V1/Item/SMOKE_V1_Item_TotalDownload_JSON_Current_*.zip"
  # GPKG calls into the bundled libe_sqlite3 directly and PARQUET compresses with zstd: both must load in the scratch image.
  check "run wrote a GeoPackage total for Item (native SQLite loads)" has_match "$work/out/SMOKE/V1/Item/SMOKE_V1_Item_TotalDownload_GPKG_Current_*.zip"
  check "run wrote a Parquet total for Item" has_match "$work/out/SMOKE/V1/Item/SMOKE_V1_Item_TotalDownload_PARQUET_Current_*.zip"
fi

# --- server: serves what the exporter run above wrote, from a read-only mount ---------------------
if [[ -s $work/out/SMOKE/catalog.json ]]; then
  packaging/image-local.sh server "$tag"
  srv=bulkexport/server:$tag
  check "server image: runtime starts in the scratch rootfs (read-only, non-root)" runtime_starts "$srv" --help
  # The server validates schedules as the exporter does, spec.timeZone included.
  check "server image has time zone data" has_tzdata "$srv"
  check "server image runs as a non-root numeric user" test "$(docker image inspect -f '{{.Config.User}}' "$srv")" = 1654:1654
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cid=$(docker run -d --rm --read-only --tmpfs /tmp:rw,nosuid,nodev,size=16m --cap-drop ALL --security-opt no-new-privileges \
    -v "$work/config:/etc/bulkexport:ro" -v "$work/out:/out:ro" -p "127.0.0.1:$port:8080" \
    "$srv" --config /etc/bulkexport/schedule.yaml --urls http://0.0.0.0:8080)
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  listing=$(curl -sf "http://127.0.0.1:$port/FileDownloads/GetAvailableFileDownloads?Register=SMOKE" || true)
  check "server lists the SMOKE files from the read-only mount" grep -q '"Register":"SMOKE"' <<<"$listing"
  latest=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/registers/SMOKE/latest/Item/Current/JSON")
  check "server answers 302 on the latest path" test "$latest" = 302
  [[ $latest == 302 ]] || docker logs "$cid" 2>&1 | tail -10 | sed 's/^/    /'
  docker stop "$cid" >/dev/null
else
  echo "SKIP server image: the exporter smoke run wrote no catalog to serve"
fi

# --- operator (once its project exists on this branch) ----------------------------------------
if [[ -f operator/BulkExport.Operator.csproj ]]; then
  packaging/image-local.sh operator "$tag"
  op=bulkexport/operator:$tag
  check "operator image: runtime starts in the scratch rootfs (read-only, non-root)" runtime_starts "$op" --help
  check "operator image has time zone data" has_tzdata "$op"
  # `operator render` needs no cluster: the objects it would create for the examples must be
  # valid Kubernetes objects, rendered inside the locked-down container.
  for ex in examples/kubernetes/dar-postgres-minio.yaml examples/kubernetes/dar-local-storage.yaml; do
    set +e
    run_locked -v "$PWD/examples/kubernetes:/examples:ro" "$op" render -f "/examples/$(basename "$ex")" \
      >"$work/rendered.yaml" 2>"$work/render.err"
    rc=$?
    set -e
    [[ $rc -eq 0 ]] || sed 's/^/    /' "$work/render.err"
    check "operator render -f $(basename "$ex") exits 0" test "$rc" -eq 0
    check "its output validates (tools/k8s-validate)" validates "$work/rendered.yaml"
  done
else
  echo "SKIP operator image: operator/BulkExport.Operator.csproj is not on this branch yet"
fi

echo "test-image: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
