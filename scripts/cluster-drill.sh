#!/usr/bin/env bash
# Cluster drill: three spread hosts behind HAProxy, built from network
# namespaces on this machine, loaded from a client namespace while hosts
# are redeployed, crash and come back.
#
#   scripts/cluster-drill.sh
#
# Topology (all addresses from 198.18.0.0/15, assigned inside the
# namespaces only; the root namespace gets no address and no route):
#
#   client 198.18.0.100 ─┐
#   h1     198.18.0.11  ─┤ br0 in the balancer namespace, 198.18.0.1
#   h2     198.18.0.12  ─┤   HAProxy listens on 198.18.0.1:8080 and checks
#   h3     198.18.0.13  ─┘   GET /healthz on every host's :8000
#
# Each host runs bin/spread (built-in server, --drain-delay) under `ip netns
# exec`, with a control socket of its own. Scenarios, one verdict line each:
#
#   rolling   `spread reload` host by host, then `spread stop --wait` and a
#             new start of each host in turn. Bar: 0 errors.
#   crash     SIGSTOP, then SIGKILL, every process of one host. Bar:
#             errors <= the connections that host held, HAProxy marks it
#             DOWN within inter + (fall-1)*fastinter + fall*(timeout check)
#             + 1.5s of the SIGSTOP, and sends it nothing after.
#   return    the crashed host starts again. Bar: HAProxy marks it UP and it
#             answers a share of the load again.
#   workers   one worker SIGKILLed on every host at once. Bar: errors <= the
#             connections the victims held.
#
# Each verdict line ends with the share of the requests HAProxy sent to each
# host during the scenario (from its stats socket).
#
# CLUSTER_BALANCER=nginx puts nginx (examples/nginx/upstream.conf) in
# HAProxy's place. nginx has no active checks and no statistics: the
# per-host counts come from its access log ($upstream_addr), and the crash
# scenario has no DOWN bar.
#
# Environment: CLUSTER_SECONDS (load of the crash/return/workers scenarios,
# default 10; CI uses 4), CLUSTER_BIN (default bin/spread, built when
# missing), CLUSTER_KEEP_LOGS=1 (keep the logs of a passing run),
# CLUSTER_WRK=0 (hey alone even when wrk is installed), CLUSTER_DRAIN_DELAY
# (the hosts' --drain-delay, default 2s), CLUSTER_RETRY=0 (HAProxy without
# retry-on and redispatch: what the drain delay alone is worth).
#
# Needs root (namespaces), haproxy (Debian package haproxy), curl, and hey
# (installed with go install when missing).
# Everything is torn down on exit, failed or not.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SPREAD_ROOT"

case ${1:-} in
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
  "") ;;
  *) die "no arguments expected (see --help)" ;;
esac

CLUSTER_SECONDS=${CLUSTER_SECONDS:-10}
CLUSTER_BIN=${CLUSTER_BIN:-$SPREAD_ROOT/bin/spread}
if [[ ! $CLUSTER_SECONDS =~ ^[0-9]+$ ]] || ((CLUSTER_SECONDS < 3)); then
  die "CLUSTER_SECONDS must be an integer >= 3, got '$CLUSTER_SECONDS'"
fi
((EUID == 0)) || die "needs root: it creates network namespaces"
BALANCER=${CLUSTER_BALANCER:-haproxy}
case $BALANCER in
  haproxy | nginx) ;;
  *) die "CLUSTER_BALANCER must be haproxy or nginx, got '$BALANCER'" ;;
esac
command -v "$BALANCER" >/dev/null 2>&1 || die "$BALANCER is missing: apt-get install -y $BALANCER"
command -v curl >/dev/null 2>&1 || die "curl is missing"

# HAProxy's health checks and the drain delay that goes with them: a host
# that starts to answer 503 is marked DOWN after at most
# inter + (fall-1)*fastinter (+ timeout check for a check already under
# way); the drain delay must be longer, with a margin, or the balancer
# still sends requests when the workers drain.
INTER_MS=500
FASTINTER_MS=250
FALL=2
RISE=2
CHECK_TIMEOUT_MS=500
# A frozen host fails each check only when it times out, so the bar for
# DOWN after a crash counts the check timeout once per failed check, plus
# 1.5s for the stats reads that observe it: one read took up to 0.7s on a
# loaded 2-core machine.
DOWN_BAR_MS=$((INTER_MS + (FALL - 1) * FASTINTER_MS + FALL * CHECK_TIMEOUT_MS + 1500))
# >= 500 + 250 + 500 ms, plus 750 ms of margin. CLUSTER_DRAIN_DELAY=0s
# shows what the rolling deploy costs without it.
DRAIN_DELAY=${CLUSTER_DRAIN_DELAY:-2s}
WORKERS=2
HOSTS=(h1 h2 h3)
PORT=8000
LB_IP=198.18.0.1
LB_PORT=8080
CLIENT_IP=198.18.0.100
CONNECTIONS=32
REQUEST_TIMEOUT=10
READY_SECONDS=15
# The longest a rolling deploy may take before it counts as stuck: three
# reloads, then three stop/start rounds of drain delay, drain, start and
# rise. The rolling load runs until the deploy is done, within this.
ROLLING_LIMIT=120

# SPREAD_* variables set spread's flags; the hosts run with what the drill
# passes and the defaults for the rest.
while read -r var; do
  unset "$var"
done < <(compgen -e | grep '^SPREAD_' || true)

ensure_hey
if [[ ! -x $CLUSTER_BIN ]]; then
  note "building $CLUSTER_BIN"
  go build -o "$CLUSTER_BIN" . || die "go build failed"
fi
CLUSTER_BIN=$(readlink -f "$CLUSTER_BIN")
DIR=$(mktemp -d "${TMPDIR:-/tmp}/spread-cluster.XXXXXX")
chmod 0755 "$DIR"

# Namespace names carry this script's pid, so two drills never collide and
# teardown deletes only its own.
NS_PREFIX="spc$$"
NS_LB="${NS_PREFIX}lb"
NS_CLIENT="${NS_PREFIX}cl"
declare -A NS_HOST IP_HOST SUP
for i in "${!HOSTS[@]}"; do
  h=${HOSTS[i]}
  NS_HOST[$h]="${NS_PREFIX}$h"
  IP_HOST[$h]="198.18.0.$((11 + i))"
  SUP[$h]=""
done
NAMESPACES=()
HAPROXY=""
LOAD_PIDS=()
FAILED=0

# ---------------------------------------------------------------------------
# Teardown: load first, then every process in each namespace (spread's
# supervisors and workers, HAProxy), then the namespaces. Only namespaces
# this run created, found by name; only processes inside them.
teardown() {
  local rc=$? pid ns tries
  set +e
  for pid in "${LOAD_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null; done
  for ns in "${NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for pid in "${LOAD_PIDS[@]}" "$HAPROXY" "${SUP[@]}"; do
    [[ -n $pid ]] && wait "$pid" 2>/dev/null
  done
  for ns in "${NAMESPACES[@]}"; do
    for ((tries = 0; tries < 50; tries++)); do
      [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
      sleep 0.1
    done
    ip netns del "$ns" 2>/dev/null || note "could not delete namespace $ns"
  done
  if ((rc == 0 && FAILED == 0)) && [[ ${CLUSTER_KEEP_LOGS:-0} != 1 ]]; then
    rm -rf "$DIR"
  else
    note "logs in $DIR"
  fi
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# The network.

# in_ns NS CMD... runs CMD inside NS. A command started in the
# background calls `ip netns exec` itself, so that $! is its pid (ip execs
# the command) and not a subshell's.
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

add_ns() {
  ip netns add "$1"
  NAMESPACES+=("$1")
  ip -n "$1" link set lo up
}

# link_to_bridge NS IP: a veth pair whose one end is eth0 of NS, with IP,
# and whose other end is a port of br0 in the balancer namespace. Both
# ends are created inside the namespaces, never in the root one.
link_to_bridge() {
  local ns=$1 ip=$2 port="v${1#"$NS_PREFIX"}"
  ip -n "$NS_LB" link add "$port" type veth peer name eth0 netns "$ns"
  ip -n "$NS_LB" link set "$port" master br0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
}

build_network() {
  local h
  add_ns "$NS_LB"
  add_ns "$NS_CLIENT"
  ip -n "$NS_LB" link add br0 type bridge
  ip -n "$NS_LB" addr add "$LB_IP/24" dev br0
  ip -n "$NS_LB" link set br0 up
  link_to_bridge "$NS_CLIENT" "$CLIENT_IP"
  for h in "${HOSTS[@]}"; do
    add_ns "${NS_HOST[$h]}"
    link_to_bridge "${NS_HOST[$h]}" "${IP_HOST[$h]}"
    # What spread's log asks for: connections queued on a closed socket
    # move to a sibling instead of being reset (per namespace).
    in_ns "${NS_HOST[$h]}" sysctl -qw net.ipv4.tcp_migrate_req=1 2>/dev/null || true
  done
}

# ---------------------------------------------------------------------------
# spread on the hosts.

# start_host H starts spread in H's namespace and waits until it answers
# /healthz from the balancer's namespace with every worker.
start_host() {
  local h=$1 deadline n
  ip netns exec "${NS_HOST[$h]}" "$CLUSTER_BIN" serve --addr "${IP_HOST[$h]}:$PORT" --workers "$WORKERS" \
    --drain-delay "$DRAIN_DELAY" --control-socket "$DIR/$h.sock" --log-format json \
    >>"$DIR/$h.log" 2>&1 &
  SUP[$h]=$! # ip netns exec execs spread: this is the supervisor
  deadline=$(($(now_us) + READY_SECONDS * 1000000))
  while (($(now_us) < deadline)); do
    alive "${SUP[$h]}" || die "spread on $h exited during start-up: $(tail -2 "$DIR/$h.log")"
    n=$(workers "${SUP[$h]}" | wc -l)
    if ((n == WORKERS)) && in_ns "$NS_LB" curl -sf -o /dev/null --max-time 1 "http://${IP_HOST[$h]}:$PORT/healthz"; then
      return 0
    fi
    sleep 0.1
  done
  die "spread on $h not ready after ${READY_SECONDS}s"
}

# spreadctl H CMD [ARGS...] runs a spread client command against H.
spreadctl() {
  local h=$1 cmd=$2
  shift 2
  "$CLUSTER_BIN" "$cmd" --control-socket "$DIR/$h.sock" "$@"
}

# reap_host H waits for H's supervisor, which has exited or is exiting,
# and sets REAPED to its exit code. Not in $(...): a subshell cannot wait
# for its parent's children.
reap_host() {
  REAPED=0
  wait "${SUP[$1]}" 2>/dev/null || REAPED=$?
  SUP[$1]=""
}

# ---------------------------------------------------------------------------
# HAProxy.

# retry_settings prints HAProxy's retry lines; CLUSTER_RETRY=0 leaves them
# out, to see what the drain delay alone is worth.
retry_settings() {
  if [[ ${CLUSTER_RETRY:-1} == 0 ]]; then
    echo "    retries 0"
    return
  fi
  echo "    retries 3"
  echo "    retry-on conn-failure empty-response response-timeout"
  echo "    option redispatch 1"
}

write_haproxy_cfg() {
  local h
  {
    cat <<EOF
# Written by scripts/cluster-drill.sh; examples/haproxy/haproxy.cfg is the
# same settings for a real deployment.
global
    stats socket $DIR/haproxy.sock mode 600 level admin
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 15s
    timeout server 15s
    timeout check ${CHECK_TIMEOUT_MS}ms
    # A request that found a host gone (refused, reset, closed without an
    # answer) is sent again, to another host: GETs only, as HAProxy retries
    # only idempotent requests unless told otherwise.
$(retry_settings)

frontend web
    bind $LB_IP:$LB_PORT
    default_backend spread

# Statistics for the drill, on a Unix socket (read with curl --unix-socket).
frontend stats
    bind unix@$DIR/stats.sock mode 600
    stats enable
    stats uri /stats

backend spread
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter ${INTER_MS}ms fastinter ${FASTINTER_MS}ms downinter ${INTER_MS}ms fall $FALL rise $RISE
EOF
    for h in "${HOSTS[@]}"; do
      echo "    server $h ${IP_HOST[$h]}:$PORT"
    done
  } >"$DIR/haproxy.cfg"
}

start_haproxy() {
  write_haproxy_cfg
  haproxy -c -q -f "$DIR/haproxy.cfg" || die "haproxy rejects $DIR/haproxy.cfg"
  ip netns exec "$NS_LB" haproxy -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
  HAPROXY=$!
  local deadline=$(($(now_us) + READY_SECONDS * 1000000))
  while (($(now_us) < deadline)); do
    alive "$HAPROXY" || die "haproxy exited: $(tail -2 "$DIR/haproxy.log")"
    [[ -S $DIR/stats.sock ]] && haproxy_stats >/dev/null && return 0
    sleep 0.1
  done
  die "haproxy's stats socket did not appear"
}

# start_nginx runs nginx in the balancer namespace with
# examples/nginx/upstream.conf, its addresses replaced by the drill's, and
# an access log of the upstream address of every attempt.
start_nginx() {
  sed -e "s/192.0.2.11/${IP_HOST[h1]}/; s/192.0.2.12/${IP_HOST[h2]}/; s/192.0.2.13/${IP_HOST[h3]}/" \
    -e "s/listen 80;/listen $LB_IP:$LB_PORT;/" examples/nginx/upstream.conf >"$DIR/upstream.conf"
  printf '%s\n' "daemon off;" "worker_processes 1;" "pid $DIR/nginx.pid;" \
    "error_log $DIR/nginx.err warn;" "events { worker_connections 4096; }" \
    "http { log_format up '\$upstream_addr'; access_log $DIR/upstream.log up;" \
    "       include $DIR/upstream.conf; }" >"$DIR/nginx.conf"
  : >"$DIR/upstream.log"
  in_ns "$NS_LB" nginx -t -q -c "$DIR/nginx.conf" || die "nginx rejects $DIR/nginx.conf"
  ip netns exec "$NS_LB" nginx -c "$DIR/nginx.conf" >"$DIR/nginx.log" 2>&1 &
  HAPROXY=$!
  local deadline=$(($(now_us) + READY_SECONDS * 1000000))
  while (($(now_us) < deadline)); do
    alive "$HAPROXY" || die "nginx exited: $(tail -2 "$DIR/nginx.log" "$DIR/nginx.err")"
    in_ns "$NS_CLIENT" curl -sf -o /dev/null --max-time 1 "${URL}healthz" && return 0
    sleep 0.1
  done
  die "nginx does not answer on $URL"
}

# nginx_stats prints what haproxy_stats does, from nginx's access log: the
# attempts per host (a retried request names every host it tried), and UP
# for every host, as nginx has no active checks to say otherwise.
nginx_stats() {
  local h map=""
  for h in "${HOSTS[@]}"; do map+="${IP_HOST[$h]}:$PORT=$h "; done
  awk -v map="$map" 'BEGIN { n = split(map, m, " "); for (i = 1; i <= n; i++) { split(m[i], p, "="); host[p[1]] = p[2]; order[i] = p[2]; count[p[2]] = 0 } }
    { k = split($0, a, /, /); for (i = 1; i <= k; i++) if (a[i] in host) count[host[a[i]]]++ }
    END { for (i = 1; i <= n; i++) print order[i], "UP", count[order[i]] }' "$DIR/upstream.log"
}

# haproxy_stats prints "server status requests" for each host, from
# HAProxy's statistics in CSV, served on a Unix socket of its own (the
# stats frontend): curl reads it in milliseconds, where a python3 client
# of the CLI socket took a second to start on a loaded machine, which
# blurred the time to DOWN. Columns are found by their names.
haproxy_stats() {
  if [[ $BALANCER == nginx ]]; then
    nginx_stats
    return
  fi
  curl -sf --max-time 2 --unix-socket "$DIR/stats.sock" 'http://haproxy/stats;csv' |
    awk -F, 'NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
      $col["pxname"] == "spread" && $col["svname"] != "FRONTEND" && $col["svname"] != "BACKEND" {
        st = $col["status"]; gsub(/ /, "_", st)
        print $col["svname"], st, $col["stot"]
      }'
}

# host_status H prints H's status word as HAProxy sees it (UP, DOWN,
# UP_1/2 ...).
host_status() {
  haproxy_stats | awk -v h="$1" '$1 == h { print $2 }'
}

# wait_status H WORD SECONDS waits until H's status is exactly WORD; sets
# WAITED_MS to the time it took.
wait_status() {
  local start deadline
  start=$(now_us)
  deadline=$((start + $3 * 1000000))
  while (($(now_us) < deadline)); do
    if [[ $(host_status "$1") == "$2" ]]; then
      WAITED_MS=$((($(now_us) - start) / 1000))
      return 0
    fi
    sleep 0.05
  done
  WAITED_MS=$((($(now_us) - start) / 1000))
  return 1
}

# requests_by_host prints "h1=N h2=N h3=N": the sessions HAProxy sent to
# each host so far.
requests_by_host() {
  local r t
  t=$(date +%T.%N)
  r=$(haproxy_stats | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $1, $3 }')
  echo "$t-$(date +%T.%N) $r" >>"$DIR/requests.log"
  echo "$r"
}

# shares BEFORE AFTER prints each host's share of the requests sent
# between two requests_by_host readings.
shares() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) {
      split(x[i], p, "="); split(y[i], q, "=")
      name[i] = p[1]; d[i] = q[2] - p[2]; total += d[i]
    }
    for (i = 1; i <= n; i++)
      printf "%s%s=%.1f%%", (i > 1 ? " " : ""), name[i], total ? 100 * d[i] / total : 0
  }'
}

# share_of HOST BEFORE AFTER prints HOST's request count between readings.
count_of() {
  awk -v h="$1" -v a="$2" -v b="$3" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) {
      split(x[i], p, "="); split(y[i], q, "=")
      if (p[1] == h) print q[2] - p[2]
    }
  }'
}

# ---------------------------------------------------------------------------
# Load, from the client namespace through HAProxy.

URL="http://$LB_IP:$LB_PORT/"
HEY_OUT=""
WRK_OUT=""

# start_load NAME SECONDS runs hey -disable-keepalive (and wrk, keep-alive,
# when installed) for SECONDS. -z bounds them; timeout(1) is the backstop,
# with SIGINT, on which both still print their report.
start_load() {
  local name=$1 seconds=$2 limit=$(($2 + REQUEST_TIMEOUT + 20))
  HEY_OUT="$DIR/$name.hey" WRK_OUT=""
  LOAD_PIDS=()
  ip netns exec "$NS_CLIENT" timeout -s INT -k 5 "$limit" hey -disable-keepalive -c "$CONNECTIONS" \
    -z "${seconds}s" -t "$REQUEST_TIMEOUT" "$URL" >"$HEY_OUT" 2>&1 &
  LOAD_PIDS+=($!)
  if [[ ${CLUSTER_WRK:-1} != 0 ]] && have_wrk; then
    WRK_OUT="$DIR/$name.wrk"
    ip netns exec "$NS_CLIENT" timeout -s INT -k 5 "$limit" wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" \
      --latency --timeout "${REQUEST_TIMEOUT}s" "$URL" >"$WRK_OUT" 2>&1 &
    LOAD_PIDS+=($!)
  fi
}

# stop_load ends the load early; both tools report what they did.
stop_load() {
  local pid
  for pid in "${LOAD_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
}

# wait_load waits for the load and sets REQUESTS, ERRORS and LOAD.
wait_load() {
  local pid total errors rps p99
  for pid in "${LOAD_PIDS[@]}"; do wait "$pid" || true; done
  LOAD_PIDS=()
  REQUESTS=0 ERRORS=0 LOAD=""
  if ! grep -q '^Summary:' "$HEY_OUT"; then
    miss "hey printed no report: $(tail -3 "$HEY_OUT" | tr '\n' ' ')"
    return
  fi
  read -r total _ errors rps _ p99 < <(hey_summary "$HEY_OUT")
  REQUESTS=$((REQUESTS + total)) ERRORS=$((ERRORS + errors))
  LOAD="hey:${total}/${errors}err/${rps}rps/p99=${p99}ms"
  if [[ -n $WRK_OUT ]]; then
    if ! grep -q 'requests in' "$WRK_OUT"; then
      miss "wrk printed no report: $(tail -3 "$WRK_OUT" | tr '\n' ' ')"
      return
    fi
    read -r total _ errors rps _ p99 < <(wrk_summary "$WRK_OUT")
    REQUESTS=$((REQUESTS + total)) ERRORS=$((ERRORS + errors))
    LOAD+=" wrk:${total}/${errors}err/${rps}rps/p99=${p99}ms"
  fi
}

# wait_load_answers waits (bounded) until HAProxy has sent N more requests
# than BEFORE: the load is really running before a fault is injected.
wait_load_answers() {
  local before=$1 n=$2 deadline now
  deadline=$(($(now_us) + 10000000))
  while (($(now_us) < deadline)); do
    now=$(requests_by_host)
    (($(awk -v a="$before" -v b="$now" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) { split(x[i], p, "="); split(y[i], q, "="); t += q[2] - p[2] } print t }') >= n)) && return 0
    sleep 0.05
  done
  return 1
}

# ---------------------------------------------------------------------------
# Faults.

# ns_held_connections NS PID... prints how many ESTABLISHED TCP connections
# to :PORT the given processes of NS hold. /proc/PID/net/tcp is the table
# of PID's own namespace, not the reader's.
ns_held_connections() {
  local ns=$1 pid inodes=""
  shift
  for pid in "$@"; do
    inodes+=$({ find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null || true; } | tr -dc '0-9\n')
    inodes+=$'\n'
  done
  if [[ -z ${inodes//[[:space:]]/} ]]; then
    echo 0
    return
  fi
  awk -v port="$(printf '%04X' "$PORT")" 'NR == FNR { if ($1 != "") want[$1] = 1; next }
       FNR > 1 && $4 == "01" && ($10 in want) { split($2, l, ":"); if (l[2] == port) n++ }
       END { print n + 0 }' <(echo "$inodes") "/proc/$1/net/tcp" 2>/dev/null
}

# wait_frozen PID... waits (at most 1s) until every thread of every PID is
# stopped, as lib.sh's wait_stopped does for one, but with bash's read
# instead of a cat per thread: forks are slow on a loaded machine, and the
# longer the freeze, the more the count of held connections means.
wait_frozen() {
  local deadline=$(($(now_us) + 1000000)) pid task stat running
  while (($(now_us) < deadline)); do
    running=0
    for pid in "$@"; do
      for task in /proc/"$pid"/task/*/stat; do
        read -r stat <"$task" 2>/dev/null || continue
        stat=${stat##*) }
        [[ ${stat%% *} == [tTZX] ]] || running=1
      done
    done
    ((running)) || return 0
    sleep 0.005
  done
  return 1
}

# ---------------------------------------------------------------------------
# Verdicts.

WHY=()
miss() {
  WHY+=("$*")
}

verdict() {
  local name=$1 why
  shift
  if ((${#WHY[@]} == 0)); then
    echo "cluster $name: PASS $*"
  else
    why=$(printf '%s; ' "${WHY[@]}")
    echo "cluster $name: FAIL $* why: ${why%; }"
    FAILED=1
  fi
  WHY=()
}

# ---------------------------------------------------------------------------
# Scenarios.

scenario_rolling() {
  local h before after step out up back
  before=$(requests_by_host)
  # The load runs until the deploy is done (then SIGINT), bounded by
  # ROLLING_LIMIT.
  start_load rolling "$ROLLING_LIMIT"
  wait_load_answers "$before" 200 || miss "no load before the deploy"
  for h in "${HOSTS[@]}"; do
    spreadctl "$h" reload >>"$DIR/rolling.ctl" 2>&1 || miss "spread reload on $h failed"
  done
  for h in "${HOSTS[@]}"; do
    step=$(requests_by_host)
    spreadctl "$h" stop --wait >>"$DIR/rolling.ctl" 2>&1 || miss "spread stop --wait on $h failed"
    reap_host "$h"
    ((REAPED == 0)) || miss "spread on $h exited $REAPED after its stop"
    out=$(requests_by_host)
    start_host "$h"
    wait_status "$h" UP 15 || miss "$h not UP again within 15s of its start"
    up=$(requests_by_host)
    # A window of traffic to measure, not a wait for a condition.
    sleep 1
    back=$(requests_by_host)
    # The traffic moves off the host during its drain delay and comes
    # back once HAProxy marks it UP again.
    echo "  rolling: while $h drains: share $(shares "$step" "$out"); in its first second UP again: share $(shares "$up" "$back")"
  done
  stop_load
  wait_load
  after=$(requests_by_host)
  ((ERRORS == 0)) || miss "errors $ERRORS > 0"
  verdict rolling "requests=$REQUESTS errors=$ERRORS bar=0 (3 reloads, 3 stop/start with --drain-delay $DRAIN_DELAY)" \
    "| $LOAD | share $(shares "$before" "$after")"
}

scenario_crash() {
  local h=h2 before after at_down late pids held down_ms=-1 fault_us down_text
  before=$(requests_by_host)
  # Three seconds more than the others: the load goes on well after the
  # host is marked DOWN, so "nothing sent to it after" means something.
  start_load crash $((CLUSTER_SECONDS + 3))
  wait_load_answers "$before" 200 || miss "no load before the crash"
  sleep_until_us $(($(now_us) + 1000000))
  # Freeze every process of the host, so its count of connections is
  # exact, then kill them all.
  mapfile -t pids < <(ip netns pids "${NS_HOST[$h]}")
  ((${#pids[@]} > 0)) || miss "no process in $h"
  # The host fails when it is frozen: HAProxy's checks time out from then.
  fault_us=$(now_us)
  kill -STOP "${pids[@]}" 2>/dev/null || true
  wait_frozen "${pids[@]}" || true
  held=$(ns_held_connections "${NS_HOST[$h]}" "${pids[@]}")
  kill -KILL "${pids[@]}" 2>/dev/null || true
  if [[ $BALANCER == haproxy ]] && wait_status "$h" DOWN 10; then
    down_ms=$((($(now_us) - fault_us) / 1000))
  fi
  at_down=$(requests_by_host)
  reap_host "$h"
  wait_load
  after=$(requests_by_host)
  late=$(count_of "$h" "$at_down" "$after")
  down_text="down_after=${down_ms}ms bar<=${DOWN_BAR_MS}ms sent_after_down=$late bar=0"
  if [[ $BALANCER == haproxy ]]; then
    ((down_ms >= 0)) || miss "$h not marked DOWN within 10s"
    ((down_ms <= DOWN_BAR_MS)) || miss "$h marked DOWN after ${down_ms}ms > ${DOWN_BAR_MS}ms"
    ((late == 0)) || miss "HAProxy sent $late requests to $h after marking it DOWN"
  else
    # nginx has passive checks only: it keeps trying the dead host once
    # per fail_timeout, and each try is retried on another host.
    down_text="sent_after_kill=$late (nginx: passive checks, no DOWN bar)"
  fi
  ((ERRORS <= held)) || miss "errors $ERRORS > $held connections held by $h"
  (($(awk -v a="$at_down" -v b="$after" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) { split(x[i], p, "="); split(y[i], q, "="); t += q[2] - p[2] } print t }') > 0)) ||
    miss "no load left after $h was marked DOWN"
  verdict crash "requests=$REQUESTS errors=$ERRORS bar<=$held ($h held $held connections)" \
    "$down_text | $LOAD | share $(shares "$before" "$after"), after down $(shares "$at_down" "$after")"
}

scenario_return() {
  local h=h2 before after up_ms=-1 got share
  start_host "$h"
  if wait_status "$h" UP 15; then up_ms=$WAITED_MS; fi
  before=$(requests_by_host)
  start_load return "$CLUSTER_SECONDS"
  wait_load
  after=$(requests_by_host)
  got=$(count_of "$h" "$before" "$after")
  share=$(shares "$before" "$after")
  ((up_ms >= 0)) || miss "$h not marked UP within 15s of its start"
  ((got > 0)) || miss "$h got no request"
  # Round robin over three UP hosts: each gets about a third.
  [[ $(awk -v s="$share" -v h="$h" 'BEGIN { n = split(s, x, " "); for (i = 1; i <= n; i++) { split(x[i], p, "="); if (p[1] == h) print (p[2] + 0 >= 20) ? "ok" : "low" } }') == ok ]] ||
    miss "$h got less than 20% of the requests"
  ((ERRORS == 0)) || miss "errors $ERRORS > 0"
  verdict return "requests=$REQUESTS errors=$ERRORS bar=0 up_after=${up_ms}ms ${h}_requests=$got" \
    "| $LOAD | share $share"
}

scenario_workers() {
  local h before after victim victims=() kids held
  before=$(requests_by_host)
  start_load workers "$CLUSTER_SECONDS"
  wait_load_answers "$before" 200 || miss "no load before the kills"
  sleep_until_us $(($(now_us) + 1000000))
  for h in "${HOSTS[@]}"; do
    mapfile -t kids < <(workers "${SUP[$h]}")
    if ((${#kids[@]} > 0)); then victims+=("${kids[0]}"); fi
  done
  ((${#victims[@]} == ${#HOSTS[@]})) || miss "found ${#victims[@]} victims, want ${#HOSTS[@]}"
  kill -STOP "${victims[@]}" 2>/dev/null || true
  wait_frozen "${victims[@]}" || true
  held=0
  for h in "${HOSTS[@]}"; do
    # Count per namespace: each victim's sockets are in its host's table.
    for victim in "${victims[@]}"; do
      if [[ $(ip netns identify "$victim" 2>/dev/null) == "${NS_HOST[$h]}" ]]; then
        held=$((held + $(ns_held_connections "${NS_HOST[$h]}" "$victim")))
      fi
    done
  done
  kill -KILL "${victims[@]}" 2>/dev/null || true
  wait_load
  after=$(requests_by_host)
  ((ERRORS <= held)) || miss "errors $ERRORS > $held connections held by the victims"
  for h in "${HOSTS[@]}"; do
    [[ $(host_status "$h") == UP ]] || miss "$h is $(host_status "$h") after the kills"
  done
  verdict workers "requests=$REQUESTS errors=$ERRORS bar<=$held (${#victims[@]} victims held $held connections)" \
    "| $LOAD | share $(shares "$before" "$after")"
}

# ---------------------------------------------------------------------------

build_network
for h in "${HOSTS[@]}"; do start_host "$h"; done
if [[ $BALANCER == nginx ]]; then start_nginx; else start_haproxy; fi
for h in "${HOSTS[@]}"; do
  wait_status "$h" UP 10 || die "HAProxy does not see $h UP: $(haproxy_stats | tr '\n' ' ')"
done

scenario_rolling
scenario_crash
scenario_return
scenario_workers

# Every host stops cleanly at the end, with its drain delay.
for h in "${HOSTS[@]}"; do
  spreadctl "$h" stop --wait >/dev/null 2>&1 || miss "spread stop --wait on $h failed"
  reap_host "$h"
  ((REAPED == 0)) || miss "spread on $h exited $REAPED"
done
verdict stop "every host stopped with exit 0 after its drain delay"
exit "$FAILED"
