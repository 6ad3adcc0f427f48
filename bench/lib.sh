#!/usr/bin/env bash
# Helpers the bench scripts source: a throwaway PostgreSQL cluster and s3rver, both on free ports on
# 127.0.0.1, removed on exit; and a timer that records wall time and peak RSS with GNU time.
# Same setup as the test fixtures (tests/BulkExport.Exporter.Tests/Fixtures).

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
BENCH_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
S3RVER_JS="${S3RVER_JS:-$BENCH_REPO/.tools/node_modules/s3rver/bin/s3rver.js}"

_bench_cleanup=()
bench_on_exit() { _bench_cleanup+=("$1"); }
_bench_run_cleanup() {
  local i
  for ((i = ${#_bench_cleanup[@]} - 1; i >= 0; i--)); do eval "${_bench_cleanup[$i]}" || true; done
}
trap _bench_run_cleanup EXIT

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
  fi
}

# Runs a command as the postgres user when we are root: initdb and postgres refuse to run as root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start: initdb + pg_ctl start; exports PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE and PG_CONNECTION (Npgsql form).
pg_start() {
  [ -x "$PG_BIN/initdb" ] || { echo "bench: $PG_BIN/initdb missing; run .ci/install.sh" >&2; return 1; }
  PG_ROOT="$(mktemp -d /tmp/bulkexport-bench-pg.XXXXXX)"
  PGPASSWORD="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  printf '%s\n' "$PGPASSWORD" > "$PG_ROOT/pwfile"
  [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$PG_ROOT"
  as_pg "$PG_BIN/initdb" -D "$PG_ROOT/data" -U postgres --pwfile "$PG_ROOT/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  PGPORT="$(free_port)"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -w -t 60 \
    -o "-p $PGPORT -k $PG_ROOT -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=256MB -c max_wal_size=4GB" start >/dev/null
  bench_on_exit "as_pg '$PG_BIN/pg_ctl' -D '$PG_ROOT/data' -m immediate -w stop >/dev/null 2>&1; rm -rf '$PG_ROOT'"
  export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGPASSWORD PGDATABASE=bench
  psql -q -d postgres -c "CREATE DATABASE bench" >/dev/null
  PG_CONNECTION="Host=127.0.0.1;Port=$PGPORT;Database=bench;Username=postgres;Password=$PGPASSWORD"
  export PG_CONNECTION
}

# s3rver_start BUCKET: exports S3_ENDPOINT and the AWS_* variables s3rver accepts.
s3rver_start() {
  local bucket="$1"
  [ -f "$S3RVER_JS" ] || { echo "bench: $S3RVER_JS missing; run .ci/install.sh" >&2; return 1; }
  S3_ROOT="$(mktemp -d /tmp/bulkexport-bench-s3.XXXXXX)"
  local port; port="$(free_port)"
  NODE_OPTIONS=--openssl-legacy-provider node "$S3RVER_JS" -d "$S3_ROOT" -a 127.0.0.1 -p "$port" --silent \
    --configure-bucket "$bucket" >"$S3_ROOT.log" 2>&1 &
  local pid=$!
  bench_on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf '$S3_ROOT' '$S3_ROOT.log'"
  local i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  sleep 0.3
  export S3_ENDPOINT="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
}

# exporter_cmd BUILD: the command that runs an exporter build, a framework-dependent exporter.dll (through
# dotnet) or an executable (the native AOT binary packaging/publish.sh gives, or an apphost).
exporter_cmd() { if [[ $1 == *.dll ]]; then echo "dotnet $1"; else echo "$1"; fi; }

# timed NAME CMD...: runs CMD under GNU time; sets T_SECONDS, T_CPU, T_RSS_MB, T_EXIT. Output goes to $BENCH_LOG.
timed() {
  local name="$1"; shift
  local tf; tf="$(mktemp)"
  set +e
  /usr/bin/time -v -o "$tf" "$@" >>"${BENCH_LOG:-/dev/null}" 2>&1
  T_EXIT=$?
  set -e
  T_SECONDS="$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$tf")"
  T_RSS_MB="$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tf")"
  # User + system CPU seconds of CMD and its children: comparable under load where wall time is not.
  T_CPU="$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f", s}' "$tf")"
  rm -f "$tf"
  echo "[$name] exit $T_EXIT, ${T_SECONDS}s, cpu ${T_CPU}s, peak RSS ${T_RSS_MB} MB" >>"${BENCH_LOG:-/dev/null}"
}
