#!/usr/bin/env bash
# Builds bulkexport/<app>:<tag> FROM scratch out of a self-contained publish plus the host
# libraries it needs, so it works with no registry access (`make image-local`).
#   packaging/image-local.sh <exporter|operator|server> [tag]
set -euo pipefail
cd "$(dirname "$0")/.."

app=${1:?usage: image-local.sh <exporter|operator|server> [tag]}
tag=${2:-local}
case "$app" in
  exporter) project=exporter/BulkExport.Exporter.csproj ;;
  operator) project=operator/BulkExport.Operator.csproj ;;
  server) project=server/BulkExport.Server.csproj ;;
  *) echo "unknown app: $app" >&2; exit 2 ;;
esac
[[ -f $project ]] || { echo "image-local: $project does not exist on this branch" >&2; exit 3; }
command -v docker >/dev/null || { echo "image-local: docker CLI not found" >&2; exit 3; }

arch=$(uname -m)
case "$arch" in x86_64) rid=linux-x64 ;; aarch64) rid=linux-arm64 ;; *) echo "unsupported arch $arch" >&2; exit 2 ;; esac

ctx=artifacts/image-local/$app
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/app" "$ctx/rootfs/tmp" "$ctx/rootfs/etc/ssl/certs"
# The release publish the Dockerfile and the bench use too (for the exporter: one native AOT binary).
RID=$rid packaging/publish.sh "$app" "$ctx/rootfs/app"
# One entrypoint name for both images keeps Dockerfile.local shared.
ln -s "$app" "$ctx/rootfs/app/entrypoint"

# Everything the apphost (or the exporter's native binary) and the runtime's native parts link against, plus what the runtime
# dlopen()s by name and ldd therefore cannot see: OpenSSL (HTTPS to S3, TLS to PostgreSQL).
# ICU is not needed: the projects set InvariantGlobalization.
libs=$( { ldd "$ctx/rootfs/app/$app"; find "$ctx/rootfs/app" -name '*.so' -exec ldd {} \; ; } 2>/dev/null \
  | grep -oE '/[^ ]+\.so[^ ]*' | sort -u)
for dl in libssl.so.3 libcrypto.so.3; do
  # awk reads to the end: exiting at the first match would SIGPIPE ldconfig (exit 141 under pipefail).
  p=$(ldconfig -p | awk -v n="$dl" '$1 == n && /x86-64|AArch64|aarch64/ && p == "" {p = $NF} END {print p}')
  [[ -n $p ]] || { echo "image-local: host has no $dl (apt-get install libssl3)" >&2; exit 3; }
  libs+=$'\n'"$p"$'\n'$(ldd "$p" | grep -oE '/[^ ]+\.so[^ ]*')
done
for lib in $(sort -u <<<"$libs"); do
  [[ $lib == "$PWD"/* ]] && continue # the publish's own libraries are already in /app
  cp -L --parents "$lib" "$ctx/rootfs/"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
# Time zone rules: schedules name IANA zones (spec.timeZone), and .NET reads them from here.
[[ -f /usr/share/zoneinfo/Europe/Copenhagen ]] || { echo "image-local: host has no tzdata (apt-get install tzdata)" >&2; exit 3; }
mkdir -p "$ctx/rootfs/usr/share"
cp -a /usr/share/zoneinfo "$ctx/rootfs/usr/share/"
printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:1654:1654:app:/tmp:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\napp:x:1654:\n' >"$ctx/rootfs/etc/group"
chmod 1777 "$ctx/rootfs/tmp"

cp packaging/Dockerfile.local "$ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "bulkexport/$app:$tag" "$ctx" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "bulkexport/$app:$tag")
echo "image-local: bulkexport/$app:$tag $((size / 1024 / 1024)) MiB ($(wc -l < <(sort -u <<<"$libs")) host libraries)"
