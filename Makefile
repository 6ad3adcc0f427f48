# BulkExport — see README.md. Every target runs on a fresh clone; `.ci/run` installs what tests need.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIG ?= Release
OUT ?= out

.PHONY: build test test-exporter test-operator demo bench bench-operator clean

build:
	$(DOTNET) build Operator.sln -c $(CONFIG) -nologo -v q

# The one test command: CI (.ci/run) runs exactly this.
test: build
	$(DOTNET) test Operator.sln -c $(CONFIG) --no-build -nologo -v q --logger "console;verbosity=minimal"

demo:
	bash examples/dar/demo.sh $(OUT)

bench:
	$(MAKE) bench-operator
	bash bench/run.sh

# 1,000 ExportSchedules against the in-process fake API server (see bench/OperatorBench).
bench-operator:
	$(DOTNET) run --project bench/OperatorBench -c $(CONFIG) -- $(BENCH_SCHEDULES)

clean:
	rm -rf $(OUT) artifacts bench/results
	find . -name bin -o -name obj -type d -prune -exec rm -rf {} + 2>/dev/null || true
