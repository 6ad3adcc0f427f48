#!/usr/bin/env bash
# The download service against nginx on the same machine, in the same run (see bench/README.md):
#   - GetAvailableFileDownloads?Register=BENCH over a 10,000-file catalog, next to nginx serving the
#     identical JSON as a static file (goal: at least half of nginx's requests/s);
#   - GetFile of a 32 MiB zip from the local store, next to nginx serving the same file (goal: 0.8x
#     nginx's throughput).
# wrk and nginx come from Debian (installed here when missing). Rounds alternate server and nginx;
# medians are reported with the load average. BENCH_SECONDS (default 8), BENCH_ROUNDS (default 3),
# BENCH_CASES (default "listing file").
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

seconds=${BENCH_SECONDS:-8}
rounds=${BENCH_ROUNDS:-3}
connections=${BENCH_CONNECTIONS:-16}
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || { echo "server-bench: need root to apt-get install ${missing[*]}" >&2; exit 1; }
  echo "server-bench: apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d /tmp/bulkexport-server-bench.XXXXXX)
bench_on_exit "rm -rf '$work'"
mkdir -p bench/results
report=bench/results/server-$(date -u +%Y%m%dT%H%M%SZ).txt

# A 10,000-file catalog (a register of 10,000 live files) and one real 32 MiB zip under its key.
python3 - "$work/store" <<'PY'
import datetime, hashlib, json, os, sys, zipfile
root = sys.argv[1]
reg = "BENCH"
folder = os.path.join(root, reg, "V1", "Entity0")
os.makedirs(folder, exist_ok=True)
big = "BENCH_V1_Entity0_TotalDownload_JSON_Current_1.zip"
with zipfile.ZipFile(os.path.join(folder, big), "w", zipfile.ZIP_STORED) as z:
    z.writestr("BENCH_V1_Entity0_TotalDownload_JSON_Current_1.json", os.urandom(32 * 1024 * 1024))
data = open(os.path.join(folder, big), "rb").read()
t0 = datetime.datetime(2026, 1, 1, 3, 0, tzinfo=datetime.timezone.utc)
rows = []
for i in range(10_000):
    entity, gen = f"Entity{i % 100}", 1 + i // 100
    kind = "TotalDownload" if i == 0 else ("DeltaDownload" if i % 3 else "TotalDownload")
    name = big if i == 0 else f"BENCH_V1_{entity}_{kind}_JSON_Current_{gen}.zip"
    t = (t0 + datetime.timedelta(days=gen)).isoformat().replace("+00:00", "Z")
    rows.append({"Filename": name, "Register": reg, "EntityName": entity, "Frequency": "0 3 * * * (UTC)",
        "TypeOfDownload": kind, "TypeOfData": "Current", "Version": 1, "GenerationNumber": gen,
        "PointInTime": t, "GenerationTime": t, "ExpirationDate": t, "ContainedFileFormat": "JSON", "OutputFileFormat": "ZIP",
        "Key": f"{reg}/V1/{entity}/{name}", "SizeBytes": len(data) if i == 0 else 1000 + i,
        "Sha256": hashlib.sha256(data).hexdigest() if i == 0 else hashlib.sha256(name.encode()).hexdigest(),
        "RecordCount": i, "ContainedGenerationNumber": gen, "ContainedFileName": name[:-4] + ".json", "Part": 1, "PartCount": 1})
json.dump({"SchemaVersion": 1, "Register": reg, "GeneratedAt": t0.isoformat(), "Files": rows}, open(os.path.join(root, reg, "catalog.json"), "w"))
PY
cat >"$work/schedule.yaml" <<YAML
apiVersion: bulkexport.io/v1alpha1
kind: ExportSchedule
metadata: {name: bench}
spec:
  register: BENCH
  total: {schedule: "0 3 * * 6"}
  delta: {schedule: "0 3 * * *"}
  source: {files: {path: /nonexistent}}
  entities: [{name: Entity0, key: [id]}]
  storage: {local: {path: '$work/store'}}
YAML

dotnet build server -c Release -nologo -v q >/dev/null
server_port=$(free_port)
# Access logs off for the run (nginx's are off too): both sides do only the serving.
# BENCH_ACCESS_LOG=on keeps the server's access log (Information, as in production) to see its cost.
server_log_level=Warning
[[ ${BENCH_ACCESS_LOG:-off} == on ]] && server_log_level=Information
Logging__LogLevel__Default=$server_log_level dotnet server/bin/Release/net10.0/server.dll --config "$work/schedule.yaml" --urls "http://127.0.0.1:$server_port" >"$work/server.log" 2>&1 &
server_pid=$!
bench_on_exit "kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null"
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$server_port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

# nginx gets exactly the bytes the server answers with.
mkdir -p "$work/www"
curl -sf "http://127.0.0.1:$server_port/FileDownloads/GetAvailableFileDownloads?Register=BENCH" -o "$work/www/listing.json"
cp "$work/store/BENCH/V1/Entity0/BENCH_V1_Entity0_TotalDownload_JSON_Current_1.zip" "$work/www/file.zip"
nginx_port=$(free_port)
cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 100000;
  types { application/json json; application/zip zip; }
  client_body_temp_path $work/nginx-tmp; proxy_temp_path $work/nginx-tmp; fastcgi_temp_path $work/nginx-tmp;
  uwsgi_temp_path $work/nginx-tmp; scgi_temp_path $work/nginx-tmp;
  server { listen 127.0.0.1:$nginx_port; root $work/www; etag on; }
}
CONF
mkdir -p "$work/nginx-tmp"
# nginx's workers drop to an unprivileged user when started as root; mktemp's folder is 0700.
chmod 755 "$work" "$work/www" && chmod 644 "$work/www/"*
"$NGINX" -c "$work/nginx.conf" -g 'daemon off;' 2>>"$work/nginx-error.log" &
nginx_pid=$!
bench_on_exit "kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$nginx_port/listing.json" -o /dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$nginx_port/listing.json" -o "$work/check.json" && cmp -s "$work/check.json" "$work/www/listing.json" \
  || { echo "server-bench: nginx does not serve the listing" >&2; cat "$work/nginx-error.log" >&2; exit 1; }

listing_server="http://127.0.0.1:$server_port/FileDownloads/GetAvailableFileDownloads?Register=BENCH"
listing_nginx="http://127.0.0.1:$nginx_port/listing.json"
file_server="http://127.0.0.1:$server_port/FileDownloads/GetFile?Filename=BENCH_V1_Entity0_TotalDownload_JSON_Current_1.zip"
file_nginx="http://127.0.0.1:$nginx_port/file.zip"

# cpu_ticks <pid>: CPU time (user + system, clock ticks) of the process and its children (nginx's workers).
cpu_ticks() {
  python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
total = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if pid == root or fields[1] == root:  # fields[1] is the parent pid
        total += int(fields[11]) + int(fields[12])
print(total)
PY
}

# wrk_run <url> <pid> -> "requests/s p99-ms MiB/s cpu-ms-per-MiB"
# The last column is the serving process's own CPU per MiB sent: unlike the throughput it hardly
# depends on what else runs on the machine, so it is the fairer comparison on a shared host.
wrk_run() {
  local out before after
  before=$(cpu_ticks "$2")
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --timeout 30s --latency "$1")
  after=$(cpu_ticks "$2")
  python3 - "$out" "$((after - before))" "$(getconf CLK_TCK)" "$seconds" <<'PY'
import re, sys
text, ticks, hz, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def unit(value, suffix, table):
    return float(value) * table[suffix]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
p99 = unit(m.group(1), m.group(2), {"us": 0.001, "ms": 1, "s": 1000})
m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", text)
mbs = unit(m.group(1), m.group(2), {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024})
cpu = ticks * 1000 / hz / max(mbs * seconds, 1e-9)
print(f"{rps:.1f} {p99:.2f} {mbs:.1f} {cpu:.3f}")
PY
}

# Warm-up, not recorded: the server's JIT and both sides' page cache.
for url in "$listing_server" "$listing_nginx" "$file_server" "$file_nginx"; do
  wrk -t2 -c"$connections" -d2s --timeout 30s "$url" >/dev/null
done

declare -A results
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for case in ${BENCH_CASES:-listing file}; do
  for ((r = 1; r <= rounds; r++)); do
    for side in server nginx; do
      var="${case}_${side}" pid_var="${side}_pid"
      line=$(wrk_run "${!var}" "${!pid_var}")
      results[$case.$side]+="$line;"
      echo "server-bench: $case $side round $r: $line (req/s p99-ms MiB/s cpu-ms/MiB)"
    done
  done
done

{
  echo "server bench $(date -u +%FT%TZ), $(nproc) CPUs, wrk -t2 -c$connections -d${seconds}s, $rounds rounds interleaved; medians"
  echo "load average at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: compare the ratios and CPU ms/MiB, not absolute numbers)"
  python3 - "${results[listing.server]:-}" "${results[listing.nginx]:-}" "${results[file.server]:-}" "${results[file.nginx]:-}" <<'PY'
import statistics, sys
def med(s, i):
    return statistics.median(float(x.split()[i]) for x in s.split(";") if x)
ls, ln, fs, fn = sys.argv[1:5]
if ls:
    print(f"GetAvailableFileDownloads, 10,000 files (server): {med(ls,0):8.1f} req/s  p99 {med(ls,1):7.2f} ms  {med(ls,2):7.1f} MiB/s  {med(ls,3):6.3f} CPU ms/MiB")
    print(f"same JSON, nginx static file              : {med(ln,0):8.1f} req/s  p99 {med(ln,1):7.2f} ms  {med(ln,2):7.1f} MiB/s  {med(ln,3):6.3f} CPU ms/MiB")
    print(f"  ratio server/nginx req/s: {med(ls,0)/med(ln,0):.2f} (goal >= 0.5)")
if fs:
    print(f"GetFile 32 MiB zip, local store (server)   : {med(fs,0):8.1f} req/s  p99 {med(fs,1):7.2f} ms  {med(fs,2):7.1f} MiB/s  {med(fs,3):6.3f} CPU ms/MiB")
    print(f"same zip, nginx static file                : {med(fn,0):8.1f} req/s  p99 {med(fn,1):7.2f} ms  {med(fn,2):7.1f} MiB/s  {med(fn,3):6.3f} CPU ms/MiB")
    print(f"  ratio server/nginx throughput: {med(fs,2)/med(fn,2):.2f} (goal >= 0.8)")
PY
} | tee "$report"
