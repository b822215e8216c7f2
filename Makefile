# Clarion. `make run` starts everything on this machine; `make test` is what CI runs.
GO      ?= go
BIN     ?= bin/clarion
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export CGO_ENABLED := 1

.PHONY: build run test test-short bench lint fuzz clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/clarion

run: build
	./$(BIN) run

# The whole suite with the race detector. Tests that need ClickHouse read
# CLARION_TEST_CLICKHOUSE (.ci/run starts a server and sets it). The
# published detection figures are checked without -race (too slow under it).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -count=1 -run '^(TestF1|TestRealisticTargets|TestBeatsBaselines)$$' ./processor/eval

test-short:
	$(GO) test -count=1 ./...

# Performance figures reported in the README.
bench:
	$(GO) run ./bench/hookload -mode all -concurrency 64 -duration 10s
	$(GO) test -run '^$$' -bench . -benchmem ./bench/gateway
	$(GO) test -run '^$$' -bench . -benchtime 3s ./bench/detect
	$(GO) run ./bench/e2e -rate 5000 -duration 30s
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./bench/backfill
	bash .ci/clickhouse.sh && $(GO) run ./bench/sinks -clickhouse 127.0.0.1:9000 -events 200000
	$(GO) test -run '^$$' -bench . -benchtime 400x ./bench/triage/
	$(GO) test -run '^$$' -bench . -benchtime 200x ./bench/responder/
	$(GO) run ./bench/respond -attacks 40

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# A short pass of every fuzz target.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSplitEnvelope$$' -fuzztime 30s ./ingest/gateway
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./okta/logevent
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime 30s ./processor/detect
	$(GO) test -run '^$$' -fuzz '^FuzzApplyUpdate$$' -fuzztime 30s ./processor/detect
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 30s ./sinks
	$(GO) test -run '^$$' -fuzz '^FuzzParseFilter$$' -fuzztime 30s ./okta/sim
	$(GO) test -run '^$$' -fuzz '^FuzzAppendJSONString$$' -fuzztime 30s ./okta/sim/traffic
	$(GO) test -run '^$$' -fuzz '^FuzzSplitPage$$' -fuzztime 30s ./ingest/poller
	$(GO) test -run '^$$' -fuzz '^FuzzSessionCookie$$' -fuzztime 30s ./console
	$(GO) test -run '^$$' -fuzz '^FuzzParseFilter$$' -fuzztime 30s ./console
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime 30s ./console/alerts
	$(GO) test -run '^$$' -fuzz '^FuzzApplyResponse$$' -fuzztime 30s ./console/alerts
	$(GO) test -run '^$$' -fuzz '^FuzzParseOutput$$' -fuzztime 30s ./triage
	$(GO) test -run '^$$' -fuzz '^FuzzDataBlock$$' -fuzztime 30s ./triage
	$(GO) test -run '^$$' -fuzz '^FuzzParsePolicy$$' -fuzztime 30s ./responder

clean:
	rm -rf bin
