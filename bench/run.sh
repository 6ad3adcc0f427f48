#!/usr/bin/env bash
# `make bench`: the PostgreSQL → zip bench (N rows, default 1,000,000). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash bench/pg-bench.sh "$@"
