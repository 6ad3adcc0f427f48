# BulkExport — see README.md. Every target runs on a fresh clone; `.ci/run` installs what tests need.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIG ?= Release
OUT ?= out

.PHONY: build deps test test-exporter test-operator test-server-consumer demo serve bench bench-operator clean

build:
	$(DOTNET) build Operator.sln -c $(CONFIG) -nologo -v q

# Installs or starts what the tests run against (PostgreSQL/PostGIS binaries, s3rver, the manifest
# validator's npm packages, helm/kubectl, dockerd); idempotent and quick when everything is in place.
# Debian packages need root: without it, it says which packages and how, and stops.
deps:
	bash .ci/install.sh

# The one test command: CI (.ci/run) runs exactly this; it installs what it needs itself.
test: deps build test-packaging
	$(DOTNET) test Operator.sln -c $(CONFIG) --no-build -nologo -v q --logger "console;verbosity=minimal"
	$(MAKE) test-server-consumer

# The download service driven with curl over the demo's output, as a consumer would.
test-server-consumer:
	bash tests/server-consumer.sh

demo:
	bash examples/dar/demo.sh $(OUT)

# The download service over the demo's output (runs the demo first when there is none): http://localhost:8080/
SERVE_URLS ?= http://localhost:8080
serve:
	[ -f $(OUT)/DAR/catalog.json ] && [ -f $(OUT)/demo/schedule.yaml ] || bash examples/dar/demo.sh $(OUT)
	$(DOTNET) build server -c $(CONFIG) -nologo -v q
	$(DOTNET) server/bin/$(CONFIG)/net10.0/server.dll --config $(OUT)/demo/schedule.yaml --urls $(SERVE_URLS) $(SERVE_ARGS)

bench:
	$(MAKE) bench-operator
	bash bench/run.sh

# 1,000 ExportSchedules against the in-process fake API server (see bench/OperatorBench).
bench-operator:
	$(DOTNET) run --project bench/OperatorBench -c $(CONFIG) -- $(BENCH_SCHEDULES)

clean:
	rm -rf $(OUT) artifacts bench/results
	find . -name bin -o -name obj -type d -prune -exec rm -rf {} + 2>/dev/null || true

# ---- packaging: images, Helm chart, manifest validation, e2e -----------------------------------
.PHONY: test-packaging test-validator test-chart test-aot test-image image image-local helm-lint chart-crds deploy e2e e2e-script

HELM ?= $(or $(wildcard $(CURDIR)/.tools/bin/helm),helm)
KUBECTL ?= $(or $(wildcard $(CURDIR)/.tools/bin/kubectl),kubectl)
DOCKER ?= docker
IMAGE_PREFIX ?= bulkexport
TAG ?= local
RELEASE ?= bulkexport-operator
NAMESPACE ?= bulkexport
CHART := charts/bulkexport-operator

test-packaging: test-validator test-chart test-aot test-image

test-validator: deps
	cd tools/k8s-validate && node --test test/

test-chart: deps
	HELM=$(HELM) node --test packaging/

# The native AOT exporter (the images' build) through every format, total and delta, from PostgreSQL and files.
test-aot: deps
	bash packaging/smoke-aot.sh

# Builds the FROM-scratch images and runs them; prints SKIP when no Docker engine is reachable.
test-image: deps
	bash packaging/smoke-image.sh

# Release images on the official .NET images (needs registry access for the base images).
image:
	for app in exporter operator server; do \
	  $(DOCKER) build -f packaging/Dockerfile --build-arg APP=$$app --target $$app -t $(IMAGE_PREFIX)/$$app:$(TAG) . || exit 1; \
	done

# Same images without any registry: self-contained publish plus host libraries, FROM scratch.
image-local:
	bash packaging/image-local.sh exporter $(TAG)
	bash packaging/image-local.sh operator $(TAG)
	bash packaging/image-local.sh server $(TAG)

helm-lint:
	$(HELM) lint --strict $(CHART)
	for f in $(CHART)/ci/*.yaml; do $(HELM) lint --strict $(CHART) -f $$f || exit 1; done

# The chart ships the CRD from crds/; test-chart fails while the two differ.
chart-crds:
	mkdir -p $(CHART)/crds
	cp crds/exportschedules.bulkexport.io.yaml $(CHART)/crds/

# helm upgrade --install into the current kubeconfig context. Extra flags: HELM_ARGS="--set ...".
deploy:
	$(HELM) upgrade --install $(RELEASE) $(CHART) --namespace $(NAMESPACE) --create-namespace \
	  --set image.repository=$(IMAGE_PREFIX)/operator --set image.tag=$(TAG) \
	  --set exporterImage.repository=$(IMAGE_PREFIX)/exporter --set exporterImage.tag=$(TAG) \
	  --wait --timeout 5m $(HELM_ARGS)

# tests/BulkExport.E2E.Tests on Testcontainers.K3s; pulls missing images (E2E_PULL=1) and skips with
# one line saying why when there is no Docker engine or an image cannot be had. e2e-script: the
# older shell version of the same run.
e2e: build
	E2E_PULL=1 $(DOTNET) test tests/BulkExport.E2E.Tests -c $(CONFIG) --no-build -nologo --logger "console;verbosity=normal"

e2e-script:
	bash e2e/e2e.sh
