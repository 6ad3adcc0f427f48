#!/usr/bin/env bash
# `make bench` (after the operator bench): the exporter on the file source, then PostgreSQL -> zip
# against psql | gzip -1 (N rows, default 1,000,000), the hot path's goals (bench/hotpath-bench.sh:
# medians of interleaved runs, CPU, allocations; BEFORE_DLL= adds an older build), then the download
# service against nginx.
# See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/files-bench.sh
bash bench/delta-bench.sh
bash bench/pg-bench.sh "$@"
bash bench/hotpath-bench.sh
bash bench/formats-bench.sh
bash bench/server-bench.sh
