# spread: the two commands a fresh machine needs are `make run` and
# `make test`; both work from a clean clone with only Go installed.

GO      ?= go
BIN     := bin/spread
GOBIN   := $(shell $(GO) env GOPATH)/bin
HEY     := $(GOBIN)/hey
ARGS    ?=
# urfave_cli_no_docs leaves out cli's man page and markdown generators,
# which spread never calls: their markdown library's init allocates about
# 200 KB in every process, the supervisor and each worker.
TAGS    ?= urfave_cli_no_docs

.PHONY: build run install test lint bench drill cluster-drill tools deps clean fuzz fuzz-smoke mutate

build:
	$(GO) build -buildvcs=auto -tags $(TAGS) -o $(BIN) .

# spread in $(go env GOPATH)/bin, with the commit it was built from.
install:
	$(GO) install -buildvcs=auto -tags $(TAGS) .

run: build
	./$(BIN) serve $(ARGS)

# Unit tests, integration tests (real binary, real signals, loopback
# only) and the race detector. GODEBUG=execwait=2 makes any started
# process that is never waited for fail loudly.
test: lint tools deps
	GODEBUG=execwait=2 PATH="$(GOBIN):$$PATH" $(GO) test -race -count=1 -timeout 12m ./...
	$(MAKE) fuzz-smoke

# Every fuzz target (func Fuzz... in any _test.go) runs for FUZZTIME: the
# parsers of outside input (the /delay query, the control API's scale
# request, the worker spec, sd_notify messages, the status client). Plain
# go test runs their seeds; a crasher found here lands in the package's
# testdata/fuzz/ and is committed as a seed.
FUZZTIME ?= 60s
fuzz:
	@set -e; for f in $$(find . -name '*_test.go' -not -path './.git/*' | sort); do \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "fuzz $$name in $$(dirname $$f) for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$(dirname $$f); \
	  done; \
	done

# A few seconds per target, as part of make test.
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=3s

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would rewrite:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# hey is how users exercise spread; the drills and load test use it. One
# already on PATH is used as it is, so an offline machine that has it can
# run the tests.
tools:
	@command -v hey >/dev/null 2>&1 || test -x $(HEY) || $(GO) install github.com/rakyll/hey@v0.1.5

# node and python3 run the examples that the exec-mode tests serve; as root
# on Debian they are installed when missing.
deps:
	@bash scripts/deps.sh node=nodejs python3=python3

# scripts/bench-tls.sh: TLS against nginx (Debian package, installed when
# missing) and the access log's cost; see bench/README.md.
# scripts/bench-steer.sh: connection steering on against off, and the
# per-CPU steering study (bench/study-steer.md); root only.
bench: build tools
	bash scripts/bench.sh
	bash scripts/bench-tls.sh
	bash scripts/bench-steer.sh

# Every drill against the built-in server, then against the Node example
# run as the workers (spread serve -- node ...), then against
# examples/embed (a Go program supervised by prefork.ListenAndServe); all
# runs always go, and the target fails if any did.
DRILL_NODE := node examples/node/server.js
drill: build tools deps
	$(GO) build -o bin/embed ./examples/embed
	$(GO) build -o bin/openloop ./bench/openloop
	@rc=0; bash scripts/drill.sh all || rc=1; \
	  DRILL_CMD="$(DRILL_NODE)" bash scripts/drill.sh all || rc=1; \
	  DRILL_EMBED=bin/embed bash scripts/drill.sh all || rc=1; \
	  exit $$rc

# Mutation testing (gremlins) of supervisor/, handler/ and reuseport/,
# each by its own tests; writes bench/mutation.md. Long and CPU-heavy:
# not part of make test or CI. See docs/mutation.md.
mutate:
	bash scripts/mutate.sh

# Three hosts behind HAProxy in network namespaces (root, haproxy).
cluster-drill: build tools deps
	bash scripts/cluster-drill.sh

# Build outputs only: bench/ holds tracked results.
clean:
	rm -rf bin
