#!/usr/bin/env bash
# Fault drills: start spread on a free loopback port, load it, break it
# while the load runs, and check what users would have seen.
#
#   scripts/drill.sh kill|term|stop|reload|supervisor-kill|recycle|upgrade|all
#
#   kill             SIGKILL a random worker every second. Bar: errors <= the
#                    connections the victims held when killed.
#   term             SIGTERM a random worker every second. Bar: 0 errors.
#   stop             SIGSTOP one worker (--worker-timeout 2s). Bar: 0 errors,
#                    the stopped worker is replaced and gone, its goroutine
#                    dump is in the log (built-in workers only). Then the
#                    open-loop pair (below): SIGSTOP one worker, default
#                    flags, --steer=off and --steer=on in the same run. Bar:
#                    with steering at least 10x fewer requests slower than
#                    100 ms, and none lost.
#   reload           SIGHUP the supervisor 3 times. Bar: 0 errors, every
#                    worker pid new at the end.
#   supervisor-kill  SIGKILL the supervisor. Bar: within 2s no worker is left
#                    and the port can be bound again (load errors not counted).
#   recycle          --max-age 2s (jitter 1s): every worker is recycled under
#                    load. Bar: 0 errors, at least 2 recycles.
#   upgrade          `spread upgrade` twice under load. Bar: 0 errors, 2
#                    upgrades, the first supervisor exits 0, no orphan.
#   all              every drill above, in order.
#
# Every drill except supervisor-kill also checks that the worker count
# recovers and that SIGTERM stops the server with exit code 0. One verdict
# line per drill on stdout; the exit code is non-zero when a drill failed.
#
# Environment: DRILL_SECONDS (load per drill, default 10), DRILL_WORKERS
# (default 2), DRILL_BIN (default bin/spread, built when missing),
# DRILL_KEEP_LOGS=1 (keep the logs of passing runs too), DRILL_WRK=0 (hey
# alone even when wrk is installed).
#
# DRILL_EMBED=bin/embed runs the drills against examples/embed, a Go
# program that is its own supervisor through prefork.ListenAndServe (the
# spread CLI at DRILL_BIN still does status and upgrade).
#
# DRILL_CMD runs the drills against a program of yours as the workers:
# spread serve FLAGS -- $DRILL_CMD (split on blanks, run from the
# repository's root), e.g. DRILL_CMD="node examples/node/server.js".
# DRILL_FLAGS adds spread flags, e.g. DRILL_FLAGS=--ready=notify. Such a
# worker is found hung by its idle accept queue, and writes no goroutine
# dump: the stop drill does not look for one. The program must answer 200
# on / (readiness is polled there, not on the built-in /healthz).
#
# Load: hey -disable-keepalive -c 32 -z DRILL_SECONDS (one request per
# connection, so Go's silent retry of GETs on reused connections cannot
# hide a reset), plus wrk -t1 -c32 (keep-alive, no retries) when wrk is
# installed. hey waits for its requests in flight when the time is up, so
# it also sees requests that hang; wrk drops those uncounted.
#
# Open-loop load (the stop drill's pair): bin/openloop (bench/openloop)
# opens DRILL_OPENLOOP_RATE (500) new connections a second for
# DRILL_SECONDS, one GET / on each with its own 20 s deadline, whatever the
# server does; hey and wrk are closed-loop, so a client stuck behind a hung
# worker simply stops sending and the hang costs nothing in their figures.
# It counts lost requests (reset, refused, timed out) and those slower than
# 100 ms. It needs steering, i.e. root (or CAP_BPF and CAP_NET_ADMIN), and
# is skipped with a note otherwise, and for DRILL_EMBED (no --steer there).
# DRILL_OPENLOOP=auto (default) runs it for the built-in workers only: a
# DRILL_CMD program may not take 500 new connections a second on a shared
# machine (Node's example did not, with or without steering, at a load
# average of 24), and then the pair measures overload, not the hang.
# DRILL_OPENLOOP=1 runs it for DRILL_CMD too, =0 never. The record says
# net.ipv4.tcp_migrate_req.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SPREAD_ROOT"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

DRILL_SECONDS=${DRILL_SECONDS:-10}
DRILL_WORKERS=${DRILL_WORKERS:-2}
DRILL_BIN=${DRILL_BIN:-$SPREAD_ROOT/bin/spread}
DRILL_OPENLOOP=${DRILL_OPENLOOP:-auto}
DRILL_OPENLOOP_RATE=${DRILL_OPENLOOP_RATE:-500}
OPENLOOP_BIN=$SPREAD_ROOT/bin/openloop
CONNECTIONS=32
# Per-request limit of hey and wrk. A stopped worker's requests wait for
# the hang detection (2s) and its drain (<2s): slow, not lost. Longer than
# this means lost. wrk's default (2s) would count those slow ones.
REQUEST_TIMEOUT=10
READY_SECONDS=15
# Worker count recovery after the load: a slot whose workers died young
# restarts with backoff, at most --max-backoff (10s by default).
RECOVER_SECONDS=15
# SIGTERM to the end of the supervisor: --graceful-timeout (10s by
# default) plus the supervisor's 1s of SIGKILL margin, plus slack.
STOP_SECONDS=15
ORPHAN_SECONDS=2

if [[ ! $DRILL_SECONDS =~ ^[0-9]+$ ]] || ((DRILL_SECONDS < 4)); then
  die "DRILL_SECONDS must be an integer >= 4 (the stop drill needs the hang detected under load), got '$DRILL_SECONDS'"
fi
if [[ ! $DRILL_WORKERS =~ ^[0-9]+$ ]] || ((DRILL_WORKERS < 1)); then
  die "DRILL_WORKERS must be a positive integer, got '$DRILL_WORKERS'"
fi
if [[ ! $DRILL_OPENLOOP =~ ^(auto|0|1)$ ]]; then
  die "DRILL_OPENLOOP must be auto, 0 or 1, got '$DRILL_OPENLOOP'"
fi
if [[ ! $DRILL_OPENLOOP_RATE =~ ^[1-9][0-9]*$ ]]; then
  die "DRILL_OPENLOOP_RATE must be a positive integer, got '$DRILL_OPENLOOP_RATE'"
fi

DRILLS=(kill term stop reload supervisor-kill recycle upgrade)
case ${1:-} in
  -h | --help) usage 0 ;;
  all) selected=("${DRILLS[@]}") ;;
  kill | term | stop | reload | supervisor-kill | recycle | upgrade) selected=("$1") ;;
  *) usage 2 >&2 ;;
esac
(($# == 1)) || usage 2 >&2

# The workers: spread's built-in server, or DRILL_CMD after `--`.
read -r -a CMD_ARGV <<<"${DRILL_CMD:-}"
read -r -a EXTRA_FLAGS <<<"${DRILL_FLAGS:-}"
HEALTH_PATH=healthz
CMD_TAG=""
if [[ -n ${DRILL_EMBED:-} ]]; then
  [[ -x $DRILL_EMBED ]] || die "DRILL_EMBED: $DRILL_EMBED is not an executable"
  CMD_TAG=" [embed]"
fi
if ((${#CMD_ARGV[@]} > 0)); then
  command -v "${CMD_ARGV[0]}" >/dev/null 2>&1 || die "DRILL_CMD: ${CMD_ARGV[0]} not found"
  HEALTH_PATH=""
  CMD_TAG=" [${CMD_ARGV[*]}]"
  CMD_ARGV=(-- "${CMD_ARGV[@]}")
fi

# SPREAD_* variables set spread's flags; the drills pass the flags they
# need and want the defaults for the rest.
while read -r var; do
  unset "$var"
done < <(compgen -e | grep '^SPREAD_' || true)

ensure_hey
if [[ ! -x $DRILL_BIN ]]; then
  note "building $DRILL_BIN"
  go build -o "$DRILL_BIN" . || die "go build failed"
fi
if [[ $DRILL_OPENLOOP != 0 && ! -x $OPENLOOP_BIN ]]; then
  note "building $OPENLOOP_BIN"
  go build -o "$OPENLOOP_BIN" ./bench/openloop || die "go build ./bench/openloop failed"
fi
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/spread-drill.XXXXXX")

# ---------------------------------------------------------------------------
# Per-drill state. Each drill runs in its own subshell, so these start
# empty for every drill and its EXIT trap cleans up only what it started.
SUP=""         # supervisor pid
PORT=""
URL=""
LOG=""         # the supervisor's stdout+stderr (workers write there too)
LOAD_PIDS=()   # timeout(1) wrappers of hey, wrk and openloop
SEEN_KIDS=()   # every worker seen, as pid:start-time, to kill any left over at exit
LOAD_START_US=0
STOP=""
HEY_OUT=""
PAIR=""        # the stop drill's open-loop record
OPENLOOP=""    # the last openloop result line
WRK_OUT=""

# cleanup ends whatever the drill left running: load generators first,
# then the supervisor (SIGTERM, then SIGKILL), then any worker left. Only
# pids this drill started or saw as the supervisor's children; a worker
# pid is only killed while it is still the same process (same start time:
# an exec keeps it, so a worker that became DRILL_CMD is still found).
cleanup() {
  local pid deadline kid
  for pid in "${LOAD_PIDS[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
  done
  if [[ -n $SUP ]] && alive "$SUP"; then
    record_kids
    kill -TERM "$SUP" 2>/dev/null || true
    deadline=$(($(now_us) + 5000000))
    while alive "$SUP" && (($(now_us) < deadline)); do sleep 0.1; done
    kill -KILL "$SUP" 2>/dev/null || true
  fi
  for kid in "${SEEN_KIDS[@]}"; do
    pid=${kid%%:*}
    if alive "$pid" && [[ $(start_time "$pid") == "${kid#*:}" ]]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${LOAD_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $SUP ]]; then wait "$SUP" 2>/dev/null || true; fi
}

# record_kids remembers the supervisor's current children for cleanup.
# They are found as its children, not by name or executable: a worker
# runs spread, or DRILL_CMD (node, python3, ...) once it has exec'd it.
record_kids() {
  local kid id
  for kid in $(children "$SUP"); do
    id="$kid:$(start_time "$kid")"
    [[ " ${SEEN_KIDS[*]} " == *" $id "* ]] || SEEN_KIDS+=("$id")
  done
}

# start_server NAME [FLAG...] starts the supervisor in the background on
# a free port and waits until it serves with every worker. A port taken
# between free_port and spread's bind is retried on another one.
start_server() {
  local name=$1 attempt
  shift
  LOG="$LOG_DIR/$name.log"
  for attempt in 1 2 3; do
    PORT=$(free_port)
    URL="http://127.0.0.1:$PORT/"
    if [[ -n ${DRILL_EMBED:-} ]]; then
      # A Go program of its own, supervised through prefork.ListenAndServe:
      # its flags mirror spread serve's for what the drills set.
      "$DRILL_EMBED" --addr "127.0.0.1:$PORT" --workers "$DRILL_WORKERS" \
        "$@" ${EXTRA_FLAGS[@]+"${EXTRA_FLAGS[@]}"} >"$LOG" 2>&1 &
    else
      "$DRILL_BIN" serve --addr "127.0.0.1:$PORT" --workers "$DRILL_WORKERS" --log-format json \
        "$@" ${EXTRA_FLAGS[@]+"${EXTRA_FLAGS[@]}"} ${CMD_ARGV[@]+"${CMD_ARGV[@]}"} >"$LOG" 2>&1 &
    fi
    SUP=$!
    wait_ready && return 0
    wait "$SUP" 2>/dev/null || true
    SUP=""
    grep -qi 'address already in use' "$LOG" || break
    note "port $PORT taken meanwhile (attempt $attempt)"
  done
  fail_setup "spread exited during start-up"
}

# wait_ready polls until the supervisor has DRILL_WORKERS children and
# /healthz (/ for DRILL_CMD) answers, with a deadline: spread's start-up
# time is what it is, a fixed sleep would either waste time or race. It
# fails at once when spread exits.
wait_ready() {
  local deadline=$(($(now_us) + READY_SECONDS * 1000000)) n=0
  while (($(now_us) < deadline)); do
    alive "$SUP" || return 1
    n=$(workers "$SUP" | wc -l)
    if ((n == DRILL_WORKERS)) && curl -sf -o /dev/null --max-time 1 "${URL}${HEALTH_PATH}"; then
      record_kids
      return 0
    fi
    sleep 0.1
  done
  fail_setup "spread not ready after ${READY_SECONDS}s ($n/$DRILL_WORKERS workers)"
}

# start_load runs hey (and wrk when installed) in the background for
# DRILL_SECONDS. -z bounds them in time; timeout(1) is the backstop, with
# SIGINT because on it hey still prints its report.
start_load() {
  local limit=$((DRILL_SECONDS + REQUEST_TIMEOUT + 20))
  HEY_OUT="$LOG_DIR/$DRILL.hey"
  LOAD_START_US=$(now_us)
  timeout -s INT -k 5 "$limit" hey -disable-keepalive -c "$CONNECTIONS" -z "${DRILL_SECONDS}s" \
    -t "$REQUEST_TIMEOUT" "$URL" >"$HEY_OUT" 2>&1 &
  LOAD_PIDS+=($!)
  if [[ ${DRILL_WRK:-1} != 0 ]] && have_wrk; then
    WRK_OUT="$LOG_DIR/$DRILL.wrk"
    timeout -s INT -k 5 "$limit" wrk -t1 -c"$CONNECTIONS" -d"${DRILL_SECONDS}s" --latency \
      --timeout "${REQUEST_TIMEOUT}s" "$URL" >"$WRK_OUT" 2>&1 &
    LOAD_PIDS+=($!)
  fi
}

load_running() {
  local pid
  for pid in "${LOAD_PIDS[@]}"; do
    if alive "$pid"; then return 0; fi
  done
  return 1
}

# stop_load ends the load early (supervisor-kill has no use for the rest).
stop_load() {
  local pid
  for pid in "${LOAD_PIDS[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
  done
}

# wait_load waits for the load generators and sets REQUESTS, ERRORS and
# LOAD (one word per tool: tool:requests/errors/rps/p99ms).
wait_load() {
  local pid total errors rps p99
  for pid in "${LOAD_PIDS[@]}"; do
    wait "$pid" || true # hey and wrk report through their output
  done
  LOAD_PIDS=()
  REQUESTS=0 ERRORS=0 LOAD=""
  grep -q '^Summary:' "$HEY_OUT" || fail_setup "hey printed no report: $(tail -3 "$HEY_OUT" | tr '\n' ' ')"
  read -r total _ errors rps _ p99 < <(hey_summary "$HEY_OUT")
  REQUESTS=$((REQUESTS + total)) ERRORS=$((ERRORS + errors))
  LOAD="hey:${total}/${errors}err/${rps}rps/p99=${p99}ms"
  if [[ -n $WRK_OUT ]]; then
    grep -q 'requests in' "$WRK_OUT" || fail_setup "wrk printed no report: $(tail -3 "$WRK_OUT" | tr '\n' ' ')"
    read -r total _ errors rps _ p99 < <(wrk_summary "$WRK_OUT")
    REQUESTS=$((REQUESTS + total)) ERRORS=$((ERRORS + errors))
    LOAD+=" wrk:${total}/${errors}err/${rps}rps/p99=${p99}ms"
  fi
}

# random_worker prints one of the supervisor's live workers.
random_worker() {
  local kids
  mapfile -t kids < <(workers "$SUP")
  ((${#kids[@]} > 0)) || return 1
  echo "${kids[RANDOM % ${#kids[@]}]}"
}

# wait_workers polls until the supervisor has DRILL_WORKERS live workers
# again, with a deadline; sets WORKERS to the last count seen.
wait_workers() {
  local deadline=$(($(now_us) + RECOVER_SECONDS * 1000000))
  while :; do
    WORKERS=$(workers "$SUP" | wc -l)
    ((WORKERS == DRILL_WORKERS)) && return 0
    (($(now_us) < deadline)) || return 1
    sleep 0.1
  done
}

# stop_server SIGTERMs the supervisor and waits for it; sets STOP to its
# exit code ("hung" when it outlives STOP_SECONDS, which is then SIGKILLed)
# and LEFT to the number of its workers still alive afterwards.
stop_server() {
  local deadline=$(($(now_us) + STOP_SECONDS * 1000000)) kids kid
  record_kids
  mapfile -t kids < <(workers "$SUP")
  kill -TERM "$SUP" 2>/dev/null || true # a supervisor that died already is reported by wait
  while alive "$SUP" && (($(now_us) < deadline)); do sleep 0.05; done
  if alive "$SUP"; then
    STOP=hung
    kill -KILL "$SUP" 2>/dev/null || true
  fi
  local rc=0
  wait "$SUP" || rc=$?
  [[ $STOP == hung ]] || STOP=$rc
  SUP=""
  LEFT=0
  for kid in "${kids[@]}"; do
    if alive "$kid"; then LEFT=$((LEFT + 1)); fi
  done
}

# Verdicts: a drill writes its one line to $LOG_DIR/NAME.verdict; the
# parent prints it, or a FAIL of its own when the drill died without one.
# WHY collects the reasons a drill failed.
WHY=()
miss() {
  WHY+=("$*")
}

verdict() {
  local fields="$*" why
  if ((${#WHY[@]} == 0)); then
    echo "drill $DRILL$CMD_TAG: PASS $fields" >"$LOG_DIR/$DRILL.verdict"
  else
    why=$(printf '%s; ' "${WHY[@]}")
    echo "drill $DRILL$CMD_TAG: FAIL $fields why: ${why%; }" >"$LOG_DIR/$DRILL.verdict"
  fi
}

fail_setup() {
  miss "$*"
  verdict "requests=${REQUESTS:-0}"
  exit 1
}

# check_end runs the checks every drill but supervisor-kill shares:
# worker count recovered, SIGTERM stops the server with exit 0 and no
# worker outlives it.
check_end() {
  wait_workers || miss "workers ${WORKERS}/${DRILL_WORKERS} after ${RECOVER_SECONDS}s"
  stop_server
  [[ $STOP == 0 ]] || miss "SIGTERM stop: exit $STOP"
  ((LEFT == 0)) || miss "$LEFT workers alive after the supervisor exited"
}

# ---------------------------------------------------------------------------
# The drills. Faults are scheduled on absolute times from the start of
# the load; each loop is bounded by a count and ends when the load does.

drill_kill() {
  start_server kill
  start_load
  local k victim n held=0 kills=0
  for ((k = 1; k <= DRILL_SECONDS; k++)); do
    sleep_until_us $((LOAD_START_US + k * 1000000 - 500000))
    load_running || break
    victim=$(random_worker) || continue
    # SIGSTOP freezes the victim, so the count of its connections is
    # exact: a stopped process accepts nothing more. The connections it
    # holds are what SIGKILL loses; those still queued on the slot's
    # socket survive, as the supervisor keeps that socket.
    kill -STOP "$victim" 2>/dev/null || continue
    wait_stopped "$victim" || true
    n=$(held_connections "$victim")
    kill -KILL "$victim" 2>/dev/null || continue
    held=$((held + n)) kills=$((kills + 1))
  done
  wait_load
  ((ERRORS <= held)) || miss "errors $ERRORS > $held connections held by the victims"
  ((kills > 0)) || miss "no worker killed"
  check_end
  verdict "requests=$REQUESTS errors=$ERRORS bar<=$held (victims held $held connections)" \
    "workers=$WORKERS/$DRILL_WORKERS kills=$kills exit=$STOP | $LOAD"
}

drill_term() {
  start_server term
  start_load
  local k victim terms=0
  for ((k = 1; k <= DRILL_SECONDS; k++)); do
    sleep_until_us $((LOAD_START_US + k * 1000000 - 500000))
    load_running || break
    victim=$(random_worker) || continue
    kill -TERM "$victim" 2>/dev/null || continue
    terms=$((terms + 1))
  done
  wait_load
  ((ERRORS == 0)) || miss "errors $ERRORS > 0"
  ((terms > 0)) || miss "no worker signalled"
  check_end
  verdict "requests=$REQUESTS errors=$ERRORS bar=0 workers=$WORKERS/$DRILL_WORKERS terms=$terms exit=$STOP | $LOAD"
}

drill_stop() {
  start_server stop --worker-timeout 2s
  start_load
  local victim held=0 deadline gone=no dump=no
  sleep_until_us $((LOAD_START_US + 1000000))
  victim=$(random_worker) || fail_setup "no worker to stop"
  kill -STOP "$victim" 2>/dev/null || fail_setup "worker $victim gone before its SIGSTOP"
  wait_stopped "$victim" || true
  held=$(held_connections "$victim")
  wait_load
  # The hang is detected ~2s after the SIGSTOP and the worker has 2s more
  # to dump and drain: it is normally gone before the load ends.
  deadline=$(($(now_us) + 10000000))
  while alive "$victim" && (($(now_us) < deadline)); do sleep 0.1; done
  alive "$victim" || gone=yes
  if grep -q '^goroutine ' "$LOG"; then dump=yes; fi
  ((ERRORS == 0)) || miss "errors $ERRORS > 0"
  [[ $gone == yes ]] || miss "stopped worker $victim still alive"
  # A DRILL_CMD worker is no Go program of spread's: it owes no dump.
  if ((${#CMD_ARGV[@]} > 0)); then
    dump="n/a"
  else
    [[ $dump == yes ]] || miss "no goroutine dump in the log"
  fi
  check_end
  openloop_pair
  verdict "requests=$REQUESTS errors=$ERRORS bar=0 (stopped worker held $held connections)" \
    "stopped=$victim gone=$gone dump=$dump workers=$WORKERS/$DRILL_WORKERS exit=$STOP | $LOAD | $PAIR"
}

# openloop_pair runs the stop drill's open-loop pair, off then on, and
# sets PAIR to its record.
openloop_pair() {
  if [[ $DRILL_OPENLOOP == 0 ]]; then
    PAIR="openloop: skipped (DRILL_OPENLOOP=0)"
    return
  elif [[ -n ${DRILL_EMBED:-} ]]; then
    PAIR="openloop: skipped (the embed example has no --steer)"
    return
  elif [[ $DRILL_OPENLOOP == auto ]] && ((${#CMD_ARGV[@]} > 0)); then
    PAIR="openloop: skipped for DRILL_CMD (DRILL_OPENLOOP=1 runs it)"
    return
  elif ! "$DRILL_BIN" serve --help 2>&1 | grep -q -- '--steer'; then
    PAIR="openloop: skipped ($DRILL_BIN has no --steer)"
    return
  elif (($(id -u) != 0)); then
    PAIR="openloop: skipped (steering needs root, or CAP_BPF and CAP_NET_ADMIN)"
    return
  fi
  local sysctl off on slow_off slow_on lost_on
  sysctl=$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || echo "?")
  openloop_stop off
  off=$OPENLOOP
  openloop_stop on
  on=$OPENLOOP
  slow_off=$(field slow "$off") slow_on=$(field slow "$on")
  lost_on=$(field lost "$on")
  # The run without steering proves the drill hung a worker: about half
  # the requests of the stop's seconds go to it.
  ((slow_off >= 100)) || miss "openloop --steer=off: only $slow_off slow requests, the drill did not hang a worker"
  ((slow_on * 10 <= slow_off)) || miss "openloop: $slow_on slow with steering against $slow_off without, want 10x fewer"
  ((lost_on == 0)) || miss "openloop --steer=on: $lost_on requests lost"
  PAIR="openloop ${DRILL_OPENLOOP_RATE}/s tcp_migrate_req=$sysctl bar: slow(>100ms) 10x fewer, 0 lost |"
  PAIR+=" steer=off $(summary "$off") | steer=on $(summary "$on")"
}

# openloop_stop STEER: spread with default flags and --steer=STEER, the
# open-loop load for DRILL_SECONDS, one worker SIGSTOPped a second in and
# never continued (the hang rules replace it); sets OPENLOOP to openloop's
# line.
openloop_stop() {
  local out="$LOG_DIR/stop-openloop-$1.out" limit=$((DRILL_SECONDS + 40)) victim
  start_server "stop-openloop-$1" --steer "$1"
  LOAD_START_US=$(now_us)
  timeout -s INT -k 5 "$limit" "$OPENLOOP_BIN" -addr "127.0.0.1:$PORT" -rate "$DRILL_OPENLOOP_RATE" \
    -duration "${DRILL_SECONDS}s" -timeout 20s >"$out" 2>&1 &
  LOAD_PIDS+=($!)
  sleep_until_us $((LOAD_START_US + 1000000))
  victim=$(random_worker) || fail_setup "no worker to stop"
  kill -STOP "$victim" 2>/dev/null || fail_setup "worker $victim gone before its SIGSTOP"
  wait_stopped "$victim" || true
  wait "${LOAD_PIDS[-1]}" || true
  LOAD_PIDS=()
  grep -q '^sent=' "$out" || fail_setup "openloop printed no result: $(tail -3 "$out" | tr '\n' ' ')"
  stop_server
  [[ $STOP == 0 ]] || miss "openloop --steer=$1: SIGTERM stop: exit $STOP"
  OPENLOOP=$(<"$out")
}

# field KEY LINE prints the value of KEY=... in openloop's line.
field() {
  local kv
  for kv in $2; do
    if [[ ${kv%%=*} == "$1" ]]; then
      echo "${kv#*=}"
      return
    fi
  done
  echo 0
}

# summary LINE is the part of openloop's line a verdict shows.
summary() {
  echo "sent=$(field sent "$1") lost=$(field lost "$1") reset=$(field reset "$1")" \
    "slow=$(field slow "$1") ($(field slow_pct "$1")%) p50=$(field p50_ms "$1")ms" \
    "p99=$(field p99_ms "$1")ms max=$(field max_ms "$1")ms"
}

# reloads_done prints how many reloads the log says ended, well or not.
reloads_done() {
  grep -cE '"message":"reload (finished|failed)' "$LOG" || true
}

drill_reload() {
  start_server reload
  local before after i pid deadline reused=0 finished failed
  mapfile -t before < <(workers "$SUP")
  start_load
  for ((i = 1; i <= 3; i++)); do
    sleep_until_us $((LOAD_START_US + i * DRILL_SECONDS * 1000000 / 4))
    # One reload at a time: wait (bounded) for the previous one to end,
    # so each HUP is a reload of its own and not folded into one running.
    deadline=$(($(now_us) + 10000000))
    while (($(reloads_done) < i - 1)) && (($(now_us) < deadline)); do sleep 0.1; done
    kill -HUP "$SUP" 2>/dev/null || fail_setup "supervisor gone before reload $i"
  done
  wait_load
  deadline=$(($(now_us) + 15000000))
  while (($(reloads_done) < 3)) && (($(now_us) < deadline)); do sleep 0.1; done
  finished=$(grep -c '"message":"reload finished"' "$LOG" || true)
  failed=$(grep -c '"message":"reload failed' "$LOG" || true)
  wait_workers || true # check_end reports it
  mapfile -t after < <(workers "$SUP")
  for pid in "${after[@]}"; do
    if [[ " ${before[*]} " == *" $pid "* ]]; then reused=$((reused + 1)); fi
  done
  ((ERRORS == 0)) || miss "errors $ERRORS > 0"
  ((reused == 0)) || miss "$reused of the workers at the end were there at the start"
  ((finished == 3)) || miss "$finished of 3 reloads finished ($failed failed)"
  check_end
  verdict "requests=$REQUESTS errors=$ERRORS bar=0 reloads=$finished/3 old-pids-left=$reused" \
    "workers=$WORKERS/$DRILL_WORKERS exit=$STOP | $LOAD"
}

# drill_recycle: every worker is recycled at --max-age (2-3 s) under load,
# one slot at a time, replacement first. Bar: 0 errors, at least 2
# recycles.
drill_recycle() {
  start_server recycle --max-age 2s --max-age-jitter 1s
  start_load
  wait_load
  local recycled
  recycled=$(grep -c '"reason":"recycled: max-age"' "$LOG" || true)
  ((ERRORS == 0)) || miss "errors $ERRORS > 0"
  ((recycled >= 2)) || miss "$recycled workers recycled, want at least 2"
  check_end
  verdict "requests=$REQUESTS errors=$ERRORS bar=0 recycled=$recycled" \
    "workers=$WORKERS/$DRILL_WORKERS exit=$STOP | $LOAD"
}

# drill_upgrade: `spread upgrade` twice under load; the supervisor itself
# is replaced, with its sockets. Bar: 0 errors, 2 upgrades, the first
# supervisor exits 0, the last one stops on SIGTERM with no worker left.
drill_upgrade() {
  start_server upgrade
  local first=$SUP i upgraded=0 rc=0 deadline kids kid
  start_load
  for ((i = 1; i <= 2; i++)); do
    sleep_until_us $((LOAD_START_US + i * DRILL_SECONDS * 1000000 / 3))
    if "$DRILL_BIN" upgrade --addr "127.0.0.1:$PORT" >>"$LOG" 2>&1; then
      upgraded=$((upgraded + 1))
    fi
  done
  wait_load
  # The first supervisor drains its workers and exits 0.
  deadline=$(($(now_us) + STOP_SECONDS * 1000000))
  while alive "$first" && (($(now_us) < deadline)); do sleep 0.05; done
  wait "$first" || rc=$?
  ((rc == 0)) || miss "the first supervisor exited $rc"
  # The supervisor serving now: one that is neither upgrading nor handed
  # over (a loaded machine may still show the last handover under way).
  deadline=$(($(now_us) + RECOVER_SECONDS * 1000000))
  SUP=""
  while [[ -z $SUP ]] && (($(now_us) < deadline)); do
    SUP=$("$DRILL_BIN" status --addr "127.0.0.1:$PORT" --json 2>/dev/null |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print("" if d.get("upgrading") or d.get("handed_over") else d["pid"])' 2>/dev/null || true)
    [[ -n $SUP ]] || sleep 0.1
  done
  [[ $SUP =~ ^[0-9]+$ ]] || fail_setup "no supervisor answers after the upgrades"
  wait_workers || miss "workers ${WORKERS}/${DRILL_WORKERS} after ${RECOVER_SECONDS}s"
  # Not this shell's child: stop it and watch it go.
  record_kids
  mapfile -t kids < <(workers "$SUP")
  kill -TERM "$SUP" 2>/dev/null || true
  deadline=$(($(now_us) + STOP_SECONDS * 1000000))
  while alive "$SUP" && (($(now_us) < deadline)); do sleep 0.05; done
  STOP=0
  if alive "$SUP"; then
    STOP=hung
    kill -KILL "$SUP" 2>/dev/null || true
    miss "the upgraded supervisor did not stop on SIGTERM"
  fi
  LEFT=0
  for kid in "${kids[@]}"; do
    if alive "$kid"; then LEFT=$((LEFT + 1)); fi
  done
  SUP=""
  ((ERRORS == 0)) || miss "errors $ERRORS > 0"
  ((upgraded == 2)) || miss "$upgraded of 2 upgrades succeeded"
  ((LEFT == 0)) || miss "$LEFT workers alive after the supervisor exited"
  verdict "requests=$REQUESTS errors=$ERRORS bar=0 upgrades=$upgraded/2" \
    "workers=$WORKERS/$DRILL_WORKERS exit=$STOP | $LOAD"
}

drill_supervisor_kill() {
  start_server supervisor-kill
  local kids kid left t0 deadline gone_ms=- port=no rc=0
  mapfile -t kids < <(workers "$SUP")
  start_load
  sleep_until_us $((LOAD_START_US + 1000000))
  # bash reports a background job killed by a signal ("... Killed") on
  # stderr at some later command; that is this drill's point, not news.
  # stderr goes back once the supervisor is reaped.
  exec 3>&2 2>/dev/null
  kill -KILL "$SUP"
  t0=$(now_us)
  deadline=$((t0 + ORPHAN_SECONDS * 1000000))
  while :; do
    left=0
    for kid in "${kids[@]}"; do
      if alive "$kid"; then left=$((left + 1)); fi
    done
    if ((left == 0)); then
      gone_ms=$((($(now_us) - t0) / 1000))
      break
    fi
    (($(now_us) < deadline)) || break
    sleep 0.05
  done
  # The port counts as free once no listener is left on it; that may
  # take the last orphan's exit, so it gets the same deadline.
  while (($(now_us) < deadline)); do
    if port_bindable "$PORT"; then port=yes; break; fi
    sleep 0.05
  done
  if [[ $port == no ]] && port_bindable "$PORT"; then port=late; fi
  stop_load
  wait "$SUP" || rc=$?
  SUP=""
  exec 2>&3 3>&-
  wait_load
  ((left == 0)) || miss "$left of ${#kids[@]} workers alive ${ORPHAN_SECONDS}s after the supervisor's SIGKILL"
  [[ $port == yes ]] || miss "127.0.0.1:$PORT not bindable within ${ORPHAN_SECONDS}s (port=$port)"
  verdict "orphans=$left/${#kids[@]} gone-after=${gone_ms}ms port-bindable=$port supervisor-exit=$rc" \
    "requests=$REQUESTS errors=$ERRORS (not counted) | $LOAD"
}

# run_drill NAME runs one drill in a subshell with its own cleanup, prints
# its verdict, and the tail of its log when it failed (counted in FAILED).
FAILED=0
run_drill() {
  local name=$1 rc=0 verdict_file="$LOG_DIR/$1.verdict"
  # set -e does not apply inside a subshell that is part of a condition
  # (`if (...)`, `(...) || x`), so the subshell runs on its own line with
  # errexit off around it.
  set +e
  (
    set -euo pipefail
    DRILL=$name
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    "drill_${name//-/_}"
  )
  rc=$?
  set -e
  # The subshell's INT/TERM trap exits 130 to run its cleanup; the user
  # meant to stop every drill, not only this one.
  if ((rc == 130)); then
    echo "drill $name$CMD_TAG: interrupted" >&2
    exit 130
  fi
  if [[ -s $verdict_file ]]; then
    cat "$verdict_file"
  else
    echo "drill $name$CMD_TAG: FAIL the drill script stopped (exit $rc) before its verdict"
  fi
  if ((rc == 0)) && [[ $(head -n 1 "$verdict_file" 2>/dev/null) == "drill $name$CMD_TAG: PASS"* ]]; then
    return 0
  fi
  FAILED=$((FAILED + 1))
  {
    echo "--- tail of the spread log $LOG_DIR/$name.log"
    tail -n 30 "$LOG_DIR/$name.log" 2>/dev/null || true
    if [[ -s $LOG_DIR/$name.hey ]] && [[ -n $(hey_errors "$LOG_DIR/$name.hey") ]]; then
      echo "--- hey errors"
      hey_errors "$LOG_DIR/$name.hey"
    fi
    if [[ -s $LOG_DIR/$name.wrk ]]; then
      echo "--- wrk"
      grep -E 'requests in|Socket errors|Non-2xx' "$LOG_DIR/$name.wrk" || true
    fi
    echo "---"
  } >&2
}

for name in "${selected[@]}"; do
  run_drill "$name"
done
if ((FAILED == 0)) && [[ ${DRILL_KEEP_LOGS:-0} != 1 ]]; then
  rm -rf "$LOG_DIR"
else
  note "logs in $LOG_DIR"
fi
((FAILED == 0))
