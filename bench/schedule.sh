#!/usr/bin/env bash
# write_schedule: the ExportSchedule the bench runs the exporter with (DESIGN.md; the same YAML kubectl takes).
# A test (PostgresBenchConfigTests) loads its output through the API's own parser and validator.

write_schedule() { # file format local|s3 register workdir s3-endpoint [temporal]
  local file="$1" format="$2" storage="$3" register="$4" work="$5" endpoint="${6:-}" kind="${7:-plain}"
  local table=public.bench types="[Current]" temporal=""
  if [ "$kind" = temporal ]; then
    table=public.bench_t types="[Bitemporal, Current]"
    temporal=$'\n'"      temporal: {registrationFrom: regfra, registrationTo: regtil, effectiveFrom: virkfra, effectiveTo: virktil}"
  fi
  {
    cat <<EOF
apiVersion: bulkexport.io/v1alpha1
kind: ExportSchedule
metadata:
  name: bench-$(echo "$register" | tr 'A-Z' 'a-z')
spec:
  register: $register
  version: 1
  timeZone: UTC
  total: {schedule: "0 3 * * 6"}
  delta: {schedule: "0 3 * * *"}
  source:
    postgres:
      connectionSecretRef: {name: bench-db, key: connectionString}
      parallelism: 1
  entities:
    - name: Bench
      table: $table
      key: [id]$temporal
  output:
    formats: [$format]
    typesOfData: $types
  retention: {deltas: 336h, totals: 168h}
EOF
    if [ "$storage" = local ]; then
      printf '  storage:\n    local: {path: %s}\n' "$work/local-$register"
    else
      cat <<EOF
  storage:
    s3:
      bucket: bench
      prefix: runs/
      region: us-east-1
      endpoint: "$endpoint"
      forcePathStyle: true
      compatibility: Legacy
      partSize: 16Mi
      uploadConcurrency: 4
EOF
    fi
  } >"$file"
}

