#!/usr/bin/env bash
# make mutate: mutation testing of supervisor/, handler/ and reuseport/
# with gremlins. Each package is mutated on its own and each mutant is
# judged by that package's own tests only (no root tests, no real-binary
# runs). The table goes to bench/mutation.md; docs/mutation.md says how
# to read it. CPU-heavy and long (tens of minutes): not part of make test
# or CI.
#
#   MUTATE_PKGS     packages to mutate (default: reuseport supervisor handler)
#   MUTATE_WORKERS  mutants tested at once (default 1: the box is shared)
#   MUTATE_TIMEOUT  timeout coefficient (default 10, see below)
#   MUTATE_OUT      where the table goes (default bench/mutation.md)
#   MUTATE_FLAGS    more gremlins flags, e.g. --dry-run: coverage only, in
#                   a minute (the mutants are listed, not run)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
GREMLINS_VERSION=v0.6.0
PKGS=${MUTATE_PKGS:-reuseport supervisor handler}
WORKERS=${MUTATE_WORKERS:-1}
# gremlins gives each mutant's `go test` this many times the duration of
# its coverage run of the package. Both runs compile the package's test
# binary and run its tests, so a mutant that behaves needs about 1x on an
# idle machine; one that hangs (a loop condition turned round) needs
# forever. Measured here with five other engineers' tests on the 2 cores
# (load average 20-25), 5x still timed out mutants that fail at once
# when the machine is idle (an inverted err check in reuseport.File), so
# the default is 10x: about 30 s for reuseport/ and supervisor/ and
# 3 minutes for handler/ (a ~15 s suite of drain and shutdown tests),
# which is what one hung mutant costs.
TIMEOUT=${MUTATE_TIMEOUT:-10}
OUT=${MUTATE_OUT:-bench/mutation.md}

GOBIN="$PWD/bin" "$GO" install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION"
gremlins="$PWD/bin/gremlins"

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
args=()
for p in $PKGS; do
  echo "== gremlins over ./$p (workers $WORKERS, timeout coefficient $TIMEOUT)"
  # -count=1: the coverage run's duration is the base of every mutant's
  # timeout, and a cached test result would make it a few milliseconds,
  # timing out every mutant.
  GOFLAGS="${GOFLAGS:-} -count=1" "$gremlins" unleash \
    --workers "$WORKERS" --timeout-coefficient "$TIMEOUT" \
    --output "$reports/$p.json" ${MUTATE_FLAGS:-} "./$p"
  args+=("$p=$reports/$p.json")
done
"$GO" run ./scripts/mutationtable "${args[@]}" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT"
