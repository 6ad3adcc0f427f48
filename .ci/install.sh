#!/usr/bin/env bash
# Installs the real components the tests run against. Idempotent; safe to run on a dev machine.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "install: nothing beyond the .NET SDK yet"

# Manifest validator's dependencies, exactly as locked (the operator's schema test runs it).
(cd tools/k8s-validate && npm ci --no-audit --no-fund --loglevel=error)
