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
if [ "${#apt_missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install: need root to apt-get install ${apt_missing[*]}" >&2
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

# Manifest validator's dependencies, exactly as locked (the operator's schema test runs it).
(cd tools/k8s-validate && npm ci --no-audit --no-fund --loglevel=error)
