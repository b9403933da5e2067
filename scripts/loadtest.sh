#!/usr/bin/env bash
# Load a running spread server with hey and print what users care about:
# req/s, p50/p99 latency and every error.
#
#   scripts/loadtest.sh [options] [URL]     (URL default http://127.0.0.1:8000/)
#
#   -n N              requests (default 20000; env LOADTEST_REQUESTS)
#   -c C              concurrent connections (default 50; env LOADTEST_CONCURRENCY)
#   -z DURATION       run for DURATION (e.g. 10s) instead of N requests;
#                     hey then ignores -n (env LOADTEST_DURATION)
#   --keepalive       reuse connections (env LOADTEST_KEEPALIVE=1)
#   --fail-on-error   exit 1 when any request failed
#   --max-seconds S   hard limit on the run (default 120, or the -z
#                     duration + 30; env LOADTEST_MAX_SECONDS)
#
# Keep-alive is off by default: Go's transport (hey's) silently retries a
# GET whose reused connection fails before the first response byte, which
# hides the resets this script is meant to count. hey exits 0 whatever
# happened, so the verdict comes from parsing its report.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

requests=${LOADTEST_REQUESTS:-20000}
concurrency=${LOADTEST_CONCURRENCY:-50}
duration=${LOADTEST_DURATION:-}
keepalive=${LOADTEST_KEEPALIVE:-0}
max_seconds=${LOADTEST_MAX_SECONDS:-}
fail_on_error=0
url=http://127.0.0.1:8000/

while (($#)); do
  case $1 in
    -n) requests=${2:?-n needs a value}; shift 2 ;;
    -c) concurrency=${2:?-c needs a value}; shift 2 ;;
    -z) duration=${2:?-z needs a value}; shift 2 ;;
    --keepalive) keepalive=1; shift ;;
    --no-keepalive) keepalive=0; shift ;;
    --fail-on-error) fail_on_error=1; shift ;;
    --max-seconds) max_seconds=${2:?--max-seconds needs a value}; shift 2 ;;
    -h | --help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage 2 >&2 ;;
    *) url=$1; shift ;;
  esac
done

[[ $requests =~ ^[1-9][0-9]*$ ]] || die "-n must be a positive integer, got '$requests'"
[[ $concurrency =~ ^[1-9][0-9]*$ ]] || die "-c must be a positive integer, got '$concurrency'"

args=(-c "$concurrency")
if [[ -n $duration ]]; then
  # hey's -z takes a Go duration; whole seconds set the default hard limit.
  [[ $duration =~ ^([0-9]+)(s|m)$ ]] || die "-z must look like 10s or 2m, got '$duration'"
  secs=${BASH_REMATCH[1]}
  [[ ${BASH_REMATCH[2]} == m ]] && secs=$((secs * 60))
  args+=(-z "$duration")
  max_seconds=${max_seconds:-$((secs + 30))}
else
  # hey refuses -n smaller than -c.
  ((concurrency <= requests)) || die "-c ($concurrency) must not exceed -n ($requests)"
  args+=(-n "$requests")
  max_seconds=${max_seconds:-120}
fi
[[ $max_seconds =~ ^[1-9][0-9]*$ ]] || die "--max-seconds must be a positive integer, got '$max_seconds'"
if [[ $keepalive != 1 ]]; then
  args+=(-disable-keepalive)
fi

ensure_hey

report=$(mktemp "${TMPDIR:-/tmp}/loadtest.XXXXXX")
trap 'rm -f "$report"' EXIT

note "hey ${args[*]} $url (at most ${max_seconds}s)"
# The run is bounded in requests (-n) or time (-z), and in any case by
# timeout: hey prints its report on SIGINT, so that is the signal sent;
# SIGKILL follows 10s later if hey does not stop.
rc=0
timeout -s INT -k 10 "$max_seconds" hey "${args[@]}" "$url" >"$report" 2>&1 || rc=$?
if ((rc == 124)); then
  note "stopped after ${max_seconds}s; the figures cover the requests done by then"
elif ((rc != 0)); then
  cat "$report" >&2
  die "hey failed (exit $rc)"
fi
if ! grep -q '^Summary:' "$report"; then
  cat "$report" >&2
  die "hey printed no report"
fi

read -r total ok errors rps p50 p99 < <(hey_summary "$report")
echo "url:      $url"
echo "requests: $total (ok $ok)"
echo "req/s:    $rps"
[[ $p50 == - ]] || p50+=" ms"
[[ $p99 == - ]] || p99+=" ms"
echo "p50:      $p50"
echo "p99:      $p99"
echo "errors: $errors"
if ((errors > 0)); then
  echo "error distribution:"
  hey_errors "$report" | sed 's/^/  /'
fi

if ((fail_on_error && errors > 0)); then
  exit 1
fi
