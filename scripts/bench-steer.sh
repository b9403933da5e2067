#!/usr/bin/env bash
# Connection steering in numbers (issue 14), on loopback only.
#
#   scripts/bench-steer.sh        (`make bench` runs it after scripts/bench.sh)
#
# Part 1, throughput, balance and the per-CPU study. Subjects, interleaved
# (A B C D, A B C D, ...) for ROUNDS rounds, each started fresh every round
# with N = nproc workers:
#   off            --steer=off: the kernel's hash alone
#   on             --steer=on: the program picks eligible[hash % n]
#   on-pinned      as on, worker of slot k pinned to CPU k (taskset -a)
#   bycpu-pinned   a build with -tags steerbycpu: the program picks
#                  eligible[cpu % n], the CPU processing the SYN; pinned so
# Per subject and round: wrk warm-up (1 s), then
#   ka     wrk -t2 -c64 -d${BENCH_SECONDS}s --latency             keep-alive
#   close  the same with -H 'Connection: close'      a new connection per request
# Two wrk threads, so that clients run on both CPUs (the per-CPU policy
# sends a connection to the worker of the CPU its client runs on). Each
# worker's share of requests comes from `spread status --json`.
#
# Part 2, scale-down and stop under load with net.ipv4.tcp_migrate_req as
# it is (0 by default; recorded): subjects off and on, 3 workers, bin/openloop
# at 500 new connections a second for 6 s; 1.5 s in, `spread scale 1`; once
# one worker is left, SIGTERM to the supervisor. Counted: connections reset
# (the bar is 0), refused (after the stop: expected), timed out.
#
# Output: bench/study-steer.csv (one row per subject, round and tool, with
# the 1-minute load average: other sessions share the cores) and the tables
# on stdout, also saved as bench/study-steer.md.
#
# Environment: ROUNDS=5, BENCH_SECONDS=5, BENCH_STEER_CSV=bench/study-steer.csv.
# Needs root (or CAP_BPF and CAP_NET_ADMIN) for steering, wrk, jq, taskset.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SPREAD_ROOT"

while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SPREAD_|GOMAXPROCS$|GODEBUG$|GOGC$)' || true)

ROUNDS=${ROUNDS:-5}
BENCH_SECONDS=${BENCH_SECONDS:-5}
CSV=${BENCH_STEER_CSV:-bench/study-steer.csv}
NPROC=$(nproc)
for v in ROUNDS BENCH_SECONDS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
(($(id -u) == 0)) || die "steering needs root (or CAP_BPF and CAP_NET_ADMIN); run as root"
for tool in wrk jq taskset curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian: wrk, jq, util-linux, curl)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/spread-bench-steer.XXXXXX")
note "building spread, its steerbycpu variant and openloop in $work"
go build -o "$work/spread" . || die "go build failed"
go build -tags steerbycpu -o "$work/spread-bycpu" . || die "go build -tags steerbycpu failed"
go build -o "$work/openloop" ./bench/openloop || die "go build ./bench/openloop failed"

SRV_PID="" SRV_CTL="" LOAD_PID=""
# stop_server: SIGTERM, 15 s, then SIGKILL to the server's process group.
stop_server() {
  local pid=$SRV_PID deadline
  [[ -n $pid ]] || return 0
  SRV_PID=""
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(($(now_us) + 15000000))
  while alive "$pid" && (($(now_us) < deadline)); do sleep 0.05; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  if [[ -n $LOAD_PID ]]; then kill -INT "$LOAD_PID" 2>/dev/null || true; fi
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status_json() { timeout 5 "$work/spread" status --control-socket "$SRV_CTL" --json; }

# start BIN WORKERS STEER: a fresh server on a free port, in its own process
# group, up with every worker online within 20 s; sets PORT.
start() {
  local bin=$1 n=$2 steer=$3 deadline online
  PORT=$(free_port)
  SRV_CTL="$work/ctl-$PORT.sock"
  setsid "$bin" serve --addr "127.0.0.1:$PORT" --workers "$n" --steer "$steer" \
    --log-format json --control-socket "$SRV_CTL" >"$work/server.log" 2>&1 </dev/null &
  SRV_PID=$!
  deadline=$(($(now_us) + 20000000))
  while :; do
    alive "$SRV_PID" || { tail -5 "$work/server.log" >&2; die "spread exited during start-up"; }
    if curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
      online=$(status_json 2>/dev/null | jq -r '[.workers[] | select(.state == "online")] | length' || echo 0)
      ((online == n)) && return 0
    fi
    (($(now_us) < deadline)) || die "spread not up within 20 s"
    sleep 0.1
  done
}

# pin: the worker of slot k on CPU k % nproc, every thread of it.
pin() {
  local slot pid
  while read -r slot pid; do
    taskset -a -p -c $((slot % NPROC)) "$pid" >/dev/null || die "taskset $pid failed"
  done < <(status_json | jq -r '.workers[] | "\(.slot) \(.pid)"')
}

counts() { status_json | jq -r '.workers[] | "\(.slot) \(.requests)"'; }

# shares BEFORE AFTER: each slot's share of the requests between two counts,
# "51/49", and the largest share's excess over the fair one, in points.
shares() {
  awk 'NR == FNR { b[$1] = $2; next } { d[$1] = $2 - b[$1]; t += d[$1]; if ($1 > m) m = $1 }
       END { s = ""; x = 0; for (i = 0; i <= m; i++) { p = t ? 100 * d[i] / t : 0; s = s (i ? "/" : "") sprintf("%.0f", p); if (p - 100 / (m + 1) > x) x = p - 100 / (m + 1) }
             printf "%s %.1f\n", s, x }' <(echo "$1") <(echo "$2")
}

load1() { cut -d' ' -f1 /proc/loadavg; }

echo "date,commit,kernel,nproc,migrate_req,part,subject,round,tool,rps,p50_ms,p99_ms,errors,shares,excess_pts,sent,ok,reset,refused,timeout,other,loadavg1" >"$CSV.tmp"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo -)
MIGRATE=$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || echo -)
row() { echo "$(date -u +%FT%TZ),$COMMIT,$(uname -r),$NPROC,$MIGRATE,$*" >>"$CSV.tmp"; }

# ------------------------------------------------------------ part 1
SUBJECTS=(off on on-pinned bycpu-pinned)
bench_one() {
  local subject=$1 round=$2 bin=$work/spread tool before after out rps p50 p99 errors sh
  [[ $subject == bycpu-* ]] && bin=$work/spread-bycpu
  start "$bin" "$NPROC" "$([[ $subject == off ]] && echo off || echo on)"
  [[ $subject == *-pinned ]] && pin
  wrk -t2 -c64 -d1s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || true
  for tool in ka close; do
    local -a hdr=()
    [[ $tool == close ]] && hdr=(-H "Connection: close")
    before=$(counts)
    out=$(timeout $((BENCH_SECONDS + 20)) wrk -t2 -c64 -d"${BENCH_SECONDS}s" --latency "${hdr[@]}" "http://127.0.0.1:$PORT/")
    after=$(counts)
    read -r _ _ errors rps p50 p99 < <(wrk_summary <(echo "$out"))
    read -r sh excess < <(shares "$before" "$after")
    row "throughput,$subject,$round,$tool,$rps,$p50,$p99,$errors,$sh,$excess,,,,,,,$(load1)"
    note "round $round $subject $tool: $rps req/s p99 ${p99}ms shares $sh load $(load1)"
  done
  stop_server
}

# ------------------------------------------------------------ part 2
stop_one() {
  local steer=$1 round=$2 out=$work/openloop.out deadline line
  start "$work/spread" 3 "$steer"
  local t0
  t0=$(now_us)
  "$work/openloop" -addr "127.0.0.1:$PORT" -rate 500 -duration 6s -timeout 20s >"$out" 2>&1 &
  LOAD_PID=$!
  sleep_until_us $((t0 + 1500000))
  "$work/spread" scale --control-socket "$SRV_CTL" 1 >/dev/null || die "spread scale 1 failed"
  deadline=$(($(now_us) + 10000000))
  while (($(children "$SRV_PID" | wc -l) != 1)) && (($(now_us) < deadline)); do sleep 0.01; done
  kill -TERM "$SRV_PID"
  wait "$LOAD_PID" || true
  LOAD_PID=""
  stop_server
  line=$(<"$out")
  [[ $line == sent=* ]] || die "openloop printed no result: $line"
  local -A f
  local kv
  for kv in $line; do f[${kv%%=*}]=${kv#*=}; done
  row "scale-stop,$steer,$round,openloop,,,${f[p99_ms]},${f[lost]},,,${f[sent]},${f[ok]},${f[reset]},${f[refused]},${f[timeout]},${f[other]},$(load1)"
  note "round $round scale 3->1 + SIGTERM, steer=$steer: $line"
}

for ((r = 1; r <= ROUNDS; r++)); do
  for s in "${SUBJECTS[@]}"; do bench_one "$s" "$r"; done
  for s in off on; do stop_one "$s" "$r"; done
done
mv "$CSV.tmp" "$CSV"

# ------------------------------------------------------------ report
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { # col PART SUBJECT TOOL FIELD#: the values of one column
  awk -F, -v p="$1" -v s="$2" -v t="$3" -v c="$4" '$6 == p && $7 == s && $9 == t { print $c }' "$CSV"
}
# ratio SUBJECT TOOL: median over rounds of rps(SUBJECT) / rps(off), same round.
ratio() {
  awk -F, -v s="$1" -v t="$2" '$6 == "throughput" && $9 == t && $7 == "off" { off[$8] = $10 }
       $6 == "throughput" && $9 == t && $7 == s { x[$8] = $10 }
       END { for (r in x) if (off[r] > 0) printf "%.3f\n", x[r] / off[r] }' "$CSV" | median
}
{
  echo "# Steering study: results of scripts/bench-steer.sh"
  echo
  echo "Generated $(date -u +%F) at commit $COMMIT; kernel $(uname -r), $NPROC CPUs, net.ipv4.tcp_migrate_req=$MIGRATE;"
  echo "$ROUNDS interleaved rounds; wrk -t2 -c64 -d${BENCH_SECONDS}s. Load average (1 min) during the runs: median $(awk -F, 'NR > 1 { print $NF }' "$CSV" | median), max $(awk -F, 'NR > 1 { print $NF }' "$CSV" | sort -g | tail -1)."
  echo "Medians over rounds; × off is the median of the per-round ratios to off. Excess: the largest worker's share minus the fair share, in points (median)."
  echo
  echo "| subject | keep-alive req/s | × off | p50 / p99 ms | excess pts | new connection per request req/s | × off | p50 / p99 ms | excess pts |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for s in "${SUBJECTS[@]}"; do
    line="| $s |"
    for t in ka close; do
      line+=" $(col throughput "$s" "$t" 10 | median) | $(ratio "$s" "$t") | $(col throughput "$s" "$t" 11 | median) / $(col throughput "$s" "$t" 12 | median) | $(col throughput "$s" "$t" 15 | median) |"
    done
    echo "$line"
  done
  echo
  echo "Scale 3 -> 1, then SIGTERM, under 500 new connections/s (sums over $ROUNDS rounds):"
  echo
  echo "| steer | sent | answered | reset | refused (after the stop) | timed out | other |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for s in off on; do
    echo "| $s | $(awk -F, -v s="$s" '$6 == "scale-stop" && $7 == s { a += $16; b += $17; c += $18; d += $19; e += $20; f += $21 } END { printf "%d | %d | %d | %d | %d | %d", a, b, c, d, e, f }' "$CSV") |"
  done
} | tee "${CSV%.csv}.md"
