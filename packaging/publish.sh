#!/usr/bin/env bash
# The one release publish of a program, used by both image builds (packaging/Dockerfile,
# packaging/image-local.sh), the bench (bench/hotpath-bench.sh, bench/formats-bench.sh) and the
# native smoke test (packaging/smoke-aot.sh), so what is measured and tested is what ships:
#   packaging/publish.sh <exporter|operator|server> <outdir> [more dotnet publish arguments]
# Self-contained for this machine's architecture (RID=linux-x64|linux-arm64 overrides). The exporter's
# project sets PublishAot, so its publish is one native binary (plus libe_sqlite3.so for GPKG); linking
# it needs a C toolchain (gcc or clang; .ci/install.sh installs gcc). The operator and the download
# service stay JIT builds.
set -euo pipefail
cd "$(dirname "$0")/.."

app=${1:?usage: publish.sh <exporter|operator|server> <outdir> [dotnet publish args]}
out=${2:?usage: publish.sh <exporter|operator|server> <outdir> [dotnet publish args]}
shift 2
case "$app" in
  exporter) project=exporter/BulkExport.Exporter.csproj ;;
  operator) project=operator/BulkExport.Operator.csproj ;;
  server) project=server/BulkExport.Server.csproj ;;
  *) echo "publish: unknown app '$app'" >&2; exit 2 ;;
esac
if [[ -z ${RID:-} ]]; then
  case "$(uname -m)" in x86_64) RID=linux-x64 ;; aarch64) RID=linux-arm64 ;; *) echo "publish: unsupported arch $(uname -m)" >&2; exit 2 ;; esac
fi
# DebugType=none: no .pdb beside the binaries, and for the native exporter no separate exporter.dbg.
exec dotnet publish "$project" -c Release -r "$RID" --self-contained -nologo -v q \
  -p:DebugType=none -p:GenerateDocumentationFile=false -o "$out" "$@"
