# spread: the two commands a fresh machine needs are `make run` and
# `make test`; both work from a clean clone with only Go installed.

GO      ?= go
BIN     := bin/spread
GOBIN   := $(shell $(GO) env GOPATH)/bin
HEY     := $(GOBIN)/hey
ARGS    ?=

.PHONY: build run test lint bench drill cluster-drill tools clean

build:
	$(GO) build -o $(BIN) .

run: build
	./$(BIN) serve $(ARGS)

# Unit tests, integration tests (real binary, real signals, loopback
# only) and the race detector. GODEBUG=execwait=2 makes any started
# process that is never waited for fail loudly.
test: lint tools
	GODEBUG=execwait=2 PATH="$(GOBIN):$$PATH" $(GO) test -race -count=1 -timeout 12m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would rewrite:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# hey is how users exercise spread; the drills and load test use it.
tools: $(HEY)
$(HEY):
	$(GO) install github.com/rakyll/hey@v0.1.5

bench: build tools
	bash scripts/bench.sh

drill: build tools
	bash scripts/drill.sh all

# Three hosts behind HAProxy in network namespaces (root, haproxy).
cluster-drill: build tools
	bash scripts/cluster-drill.sh

clean:
	rm -rf bin bench/results.csv
