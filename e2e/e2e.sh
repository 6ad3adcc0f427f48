#!/usr/bin/env bash
# End-to-end (make e2e): k3s, PostgreSQL and MinIO in Docker; the chart installed; the DAR example
# schedule applied; one total run triggered by hand; then `kubectl get exports` must show its
# generation and MinIO must hold the catalog.
#
# Needs Docker and these images already present (nothing is pulled unless E2E_PULL=1):
#   rancher/k3s, postgres, minio/minio, minio/mc (versions below).
# KEEP=1 leaves everything running for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."

K3S_IMAGE=${K3S_IMAGE:-rancher/k3s:v1.33.5-k3s1}
PG_IMAGE=${PG_IMAGE:-postgres:16-alpine}
MINIO_IMAGE=${MINIO_IMAGE:-minio/minio:RELEASE.2025-09-07T16-13-09Z}
MC_IMAGE=${MC_IMAGE:-minio/mc:RELEASE.2025-08-13T08-35-41Z}
TAG=e2e
NET=bulkexport-e2e
HELM=${HELM:-$PWD/.tools/bin/helm}
KUBECTL=${KUBECTL:-$PWD/.tools/bin/kubectl}

skip() { echo "SKIP e2e: $*"; exit 0; }
step() { echo "--- $*"; }

command -v docker >/dev/null || skip "docker is not installed"
docker info >/dev/null 2>&1 || skip "no Docker engine is reachable"
[[ -x $HELM && -x $KUBECTL ]] || skip "helm/kubectl not found in .tools/bin (run .ci/install.sh)"
missing=()
for img in "$K3S_IMAGE" "$PG_IMAGE" "$MINIO_IMAGE" "$MC_IMAGE"; do
  docker image inspect "$img" >/dev/null 2>&1 && continue
  if [[ ${E2E_PULL:-0} == 1 ]]; then docker pull -q "$img"; else missing+=("$img"); fi
done
[[ ${#missing[@]} -eq 0 ]] || skip "images not present: ${missing[*]} (docker pull them, or run with E2E_PULL=1)"
[[ -f charts/bulkexport-operator/crds/exportschedules.bulkexport.io.yaml ]] \
  || { echo "e2e: the chart has no CRD (make chart-crds)" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
  [[ ${KEEP:-0} == 1 ]] && { echo "KEEP=1: containers left running; kubeconfig $work/kubeconfig"; return; }
  docker rm -f bulkexport-e2e-k3s bulkexport-e2e-pg bulkexport-e2e-minio >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
ip_of() { docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"; }
mc() { docker run --rm --network "$NET" -e "MC_HOST_e2e=http://e2e:e2e-secret-key@$minio_ip:9000" "$MC_IMAGE" "$@"; }

step "containers: k3s, PostgreSQL, MinIO on network $NET"
docker network create "$NET" >/dev/null
docker run -d --name bulkexport-e2e-pg --network "$NET" -e POSTGRES_PASSWORD=e2e -e POSTGRES_DB=dar "$PG_IMAGE" >/dev/null
docker run -d --name bulkexport-e2e-minio --network "$NET" -e MINIO_ROOT_USER=e2e -e MINIO_ROOT_PASSWORD=e2e-secret-key \
  "$MINIO_IMAGE" server /data >/dev/null
docker run -d --name bulkexport-e2e-k3s --network "$NET" --privileged --tmpfs /run --tmpfs /var/run \
  -p 127.0.0.1::6443 -e K3S_KUBECONFIG_OUTPUT=/out/kubeconfig -e K3S_KUBECONFIG_MODE=644 -v "$work:/out" \
  "$K3S_IMAGE" server --disable traefik --disable metrics-server >/dev/null
pg_ip=$(ip_of bulkexport-e2e-pg)
minio_ip=$(ip_of bulkexport-e2e-minio)

step "seed PostgreSQL and create the bucket"
for _ in $(seq 60); do docker exec bulkexport-e2e-pg pg_isready -U postgres -d dar >/dev/null 2>&1 && break; sleep 1; done
docker exec -i bulkexport-e2e-pg psql -q -v ON_ERROR_STOP=1 -U postgres -d dar <e2e/dar-seed.sql
for _ in $(seq 60); do mc ls e2e >/dev/null 2>&1 && break; sleep 1; done
mc mb --ignore-existing e2e/exports

step "cluster up"
for _ in $(seq 90); do [[ -s $work/kubeconfig ]] && break; sleep 1; done
port=$(docker port bulkexport-e2e-k3s 6443/tcp | head -1 | cut -d: -f2)
sed "s#https://127.0.0.1:6443#https://127.0.0.1:$port#" "$work/kubeconfig" >"$work/kubeconfig.local"
export KUBECONFIG=$work/kubeconfig.local
for _ in $(seq 90); do "$KUBECTL" get nodes 2>/dev/null | grep -q ' Ready' && break; sleep 2; done
"$KUBECTL" get nodes

step "images: build FROM scratch and import into k3s"
make --no-print-directory image-local TAG=$TAG
docker save "bulkexport/operator:$TAG" "bulkexport/exporter:$TAG" | docker exec -i bulkexport-e2e-k3s ctr images import - >/dev/null

step "helm install the chart"
"$HELM" install bulkexport-operator charts/bulkexport-operator --namespace bulkexport --create-namespace \
  --set image.tag=$TAG --set image.pullPolicy=Never --set exporterImage.tag=$TAG --wait --timeout 3m

step "apply the DAR example (Secrets point at the containers above)"
"$KUBECTL" create namespace exports
"$KUBECTL" -n exports create secret generic dar-db \
  --from-literal=connectionString="Host=$pg_ip;Port=5432;Database=dar;Username=postgres;Password=e2e"
"$KUBECTL" -n exports create secret generic s3-creds \
  --from-literal=AWS_ACCESS_KEY_ID=e2e --from-literal=AWS_SECRET_ACCESS_KEY=e2e-secret-key
sed "s#http://minio.data.svc:9000#http://$minio_ip:9000#" examples/kubernetes/dar-postgres-minio.yaml \
  | "$KUBECTL" -n exports apply -f -

step "trigger a total run"
"$KUBECTL" -n exports wait --for=create cronjob/dar-total --timeout=120s
"$KUBECTL" -n exports create job dar-e2e --from=cronjob/dar-total
if ! "$KUBECTL" -n exports wait --for=condition=complete job/dar-e2e --timeout=300s; then
  "$KUBECTL" -n exports logs job/dar-e2e --tail=50 || true
  echo "e2e: FAILED: the export job did not complete" >&2
  exit 1
fi

step "check: kubectl get exports shows the generation; MinIO holds the catalog"
gen=""
for _ in $(seq 60); do
  gen=$("$KUBECTL" -n exports get exportschedule dar -o jsonpath='{.status.lastTotal.generation}')
  [[ -n $gen ]] && break; sleep 2
done
"$KUBECTL" -n exports get exports
[[ -n $gen ]] || { echo "e2e: FAILED: status.lastTotal.generation never set" >&2; exit 1; }
"$KUBECTL" -n exports get exports dar --no-headers | grep -qw "$gen" \
  || { echo "e2e: FAILED: generation $gen is not in the printer columns" >&2; exit 1; }
mc stat e2e/exports/registers/DAR/catalog.json >/dev/null \
  || { echo "e2e: FAILED: registers/DAR/catalog.json is not in the bucket" >&2; exit 1; }
mc ls --recursive e2e/exports/registers/DAR/
echo "e2e: passed (DAR generation $gen published to MinIO)"
