# callcore — build, run and test targets. `make run` and `make test` are the
# two commands a fresh machine needs (see README.md); .ci/run installs the
# system packages first.

GO          ?= go
BIN         := bin/callcore
FUZZTIME    ?= 10s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
CONFORMANCE := test/conformance

.PHONY: all build run test test-short conformance-deps bench fuzz lint fmt tidy-check clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/callcore
	$(GO) build -trimpath -o bin/callcorectl ./cmd/callcorectl

# Runs the embedded demo node: in-memory store, one app, loopback ports.
# Its app key and secret are printed on start.
run: build
	./$(BIN)

# Every test, with the race detector: unit, golden, Redis (a real
# redis-server started per test on a free port) and the Sinch Node SDK
# conformance run.
test: conformance-deps
	$(GO) test -race -count=1 ./...

test-short:
	$(GO) test -short -count=1 ./...

conformance-deps:
	@command -v node >/dev/null || { echo "node is required for the SDK conformance test (apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix $(CONFORMANCE) --no-audit --no-fund --loglevel=error

# Benchmarks with allocations; figures go to BENCHMARKS.md.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

# A short run of every fuzz target ($(FUZZTIME) each; FUZZTIME=60s for a longer one).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy-check:
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

clean:
	rm -rf bin
