#!/usr/bin/env bash
# Benchmark spread against a single-process baseline, on loopback only.
#
#   scripts/bench.sh            (or `make bench`, which builds and installs hey first)
#
# Subjects (default; N = nproc):
#   spread-Nw            spread, N workers, net/http engine
#   plainhttp            bench/plainhttp: Go's net/http in one process, no spread
#                        code: the base of the net/http subjects
#   spread-Nw-fasthttp   spread, N workers, fasthttp engine
#   fastprefork          bench/fastprefork: fasthttp/prefork, one child per CPU:
#                        the base of the fasthttp subjects
#   netprefork           bench/plainhttp -prefork N: the same net/http server
#                        in N child processes on SO_REUSEPORT sockets, each with
#                        GOMAXPROCS 1, no spread code: spread-Nw's shape without
#                        spread, so the report can tell spread's own cost from
#                        the cost of N Go processes on N cores
# Every run also reports requests per CPU-second: requests over the utime +
# stime of the server's whole process tree (from /proc, before and after).
# They run interleaved (A B C D A B C D ...) for ROUNDS rounds. Every subject
# is started fresh in every round (new port, new processes) and stopped after
# it: each round is an independent sample, and the reuseport hash that spreads
# connections over the workers is drawn again. Per subject and round:
#   1. start, wait for readiness (all workers online, /healthz 200), deadline 20s
#   2. wrk warm-up (WARMUP_SECONDS, default 1; not recorded)
#   3. wrk -t1 -c64 -d${BENCH_SECONDS}s --latency         keep-alive
#   4. hey -c 50 -n 20000                                  keep-alive (hey's default)
#     (hey -disable-keepalive -c 50 -n 20000 too, with BENCH_NOKEEPALIVE=1)
#   5. memory (RssAnon, PSS), then the supervisor's CPU over an idle window
#      (IDLE_SECONDS, default 5), then memory again
#   6. SIGTERM, deadline 15s, then SIGKILL of the process group
# Each worker's share of requests comes from `spread status --json`, read
# before and after each tool; RSS and CPU from /proc. Every load is bounded
# (wrk by -d, hey by -n, both by timeout) and targets 127.0.0.1 only. On exit,
# normal or not, the load tool and the server under test are stopped.
#
# The machine's cores are shared with other work: each run also records the
# CPU that neither the server nor the load tool used ("other load", from
# /proc/stat minus the two) and the machine's accept-queue drops.
#
# Output: a markdown table and the targets on stdout (also saved next to the
# CSV as bench/results.md), progress on stderr, and bench/results.csv (one row
# per subject, round and tool, with machine info and the load that other
# processes put on the machine meanwhile: the cores are shared).
#
# Environment:
#   ROUNDS=3              rounds
#   BENCH_SECONDS=5       wrk duration per run (SECONDS itself is bash's clock)
#   BENCH_CONNECTIONS=64  wrk connections;  HEY_CONCURRENCY=50, HEY_REQUESTS=20000
#   WARMUP_SECONDS=1      IDLE_SECONDS=5 (0 skips the idle window)
#   BENCH_WORKERS=$(nproc)  N above
#   BENCH_SUBJECTS="..."  replace the subject list (space or comma separated);
#                         names: plainhttp, netprefork, fastprefork, standalone[-fasthttp]
#                         (`spread standalone`: one process, no supervisor) or
#                         spread-<n>w[-fasthttp][-gmp<k>][-defer|-nodefer][-backlog<k>]
#                         [-nospare][-nosteer][-noquietsysmon]
#                         (-gmp<k>: env GOMAXPROCS=k; -defer: --tcp-defer-accept;
#                         -nodefer: --tcp-defer-accept=false; -backlog<k>: --backlog k;
#                         -nospare: --spare=false; -nosteer: --steer off;
#                         -noquietsysmon: --quiet-sysmon=false)
#   BENCH_GOMAXPROCS=1    add spread-Nw-gmp1 and spread-Nw-gmp<nproc>
#   BENCH_SOCKOPTS=1      add spread-Nw-defer, spread-Nw-nodefer and spread-Nw-backlog128
#                         (skipped, with a note, when the binary lacks the flags)
#   BENCH_ROTATE=1        rotate the order every round (A B C, B C A, C A B, ...)
#                         so that no subject always runs first
#   BENCH_NOKEEPALIVE=1   add a third pass per run: hey -disable-keepalive
#                         (a new connection per request; where accept matters)
#   BENCH_QUIET=PCT       before each run, wait (at most BENCH_QUIET_WAIT=60 s) until
#                         the machine's CPUs are less than PCT% busy over 1 s: other
#                         sessions' tests share the cores (default: off)
#   BENCH_KILLS=5         the kill pass after the rounds: that many SIGKILLs of a
#                         random worker of spread-Nw, 1 s apart, under hey
#                         -disable-keepalive; exit to online and hey's p99 (0 skips it)
#   BENCH_GO=1            also run the hot paths' Go benchmarks (-benchmem; 0 skips them)
#   BENCH_CSV=bench/results.csv (the report goes to the same name in .md)
#   BENCH_RAW=DIR         keep every wrk/hey report and server log there
# shellcheck disable=SC2034 # the result arrays are read through namerefs
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SPREAD_ROOT"

for fn in die note ensure_hey free_port children workers alive wrk_summary hey_summary; do
  declare -F "$fn" >/dev/null || { echo "bench.sh: scripts/lib.sh lacks $fn" >&2; exit 2; }
done

# Nothing from the caller's environment may change the servers: the flags
# below say everything, and GOMAXPROCS is set per subject.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SPREAD_|GOMAXPROCS$|GODEBUG$|GOGC$|GOMEMLIMIT$)' || true)

NPROC=$(nproc)
ROUNDS=${ROUNDS:-3}
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
HEY_CONCURRENCY=${HEY_CONCURRENCY:-50}
HEY_REQUESTS=${HEY_REQUESTS:-20000}
WARMUP_SECONDS=${WARMUP_SECONDS:-1}
IDLE_SECONDS=${IDLE_SECONDS:-5}
WORKERS=${BENCH_WORKERS:-$NPROC}
BENCH_CSV=${BENCH_CSV:-bench/results.csv}
BENCH_RAW=${BENCH_RAW:-}
HZ=$(getconf CLK_TCK)

for v in ROUNDS BENCH_SECONDS BENCH_CONNECTIONS HEY_CONCURRENCY HEY_REQUESTS WORKERS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
for v in WARMUP_SECONDS IDLE_SECONDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((HEY_CONCURRENCY <= HEY_REQUESTS)) || die "HEY_CONCURRENCY must not exceed HEY_REQUESTS"

t_start=$(now_us)
uptime_start=$(uptime | sed 's/.*load average: //')

# ---------------------------------------------------------------- tools
apt_install() { # apt_install PKG: from Debian, updating the lists once if needed
  command -v apt-get >/dev/null 2>&1 || die "$1 is missing and there is no apt-get to install it"
  note "installing $1 from Debian"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null || die "apt-get install $1 failed"
  fi
}
have_wrk || apt_install wrk
command -v jq >/dev/null 2>&1 || apt_install jq
command -v curl >/dev/null 2>&1 || apt_install curl
ensure_hey

# `make bench` has just built bin/spread; run by hand, build it here.
if [[ -z ${MAKELEVEL:-} ]]; then
  note "make build"
  make -s build >&2 || die "make build failed"
fi
[[ -x bin/spread ]] || die "bin/spread is missing"

work=$(mktemp -d "${TMPDIR:-/tmp}/spread-bench.XXXXXX")
# The benchmark runs a private copy: someone rebuilding bin/spread during
# the run would otherwise change the subject between rounds.
cp bin/spread "$work/spread"
SPREAD="$work/spread"
# The baselines: Go's net/http alone, and fasthttp's own prefork.
for b in plainhttp fastprefork; do
  go build -o "$work/$b" "./bench/$b" || die "go build ./bench/$b failed"
done

# ------------------------------------------------------- server control
SRV_PID= # the process currently under test (supervisor or standalone)
SRV_CTL=

stop_server() {
  local pid=$SRV_PID deadline
  [[ -n $pid ]] || return 0
  SRV_PID=
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(($(now_us) + 15000000))
    while alive "$pid" && (($(now_us) < deadline)); do sleep 0.05; done
  fi
  if alive "$pid"; then
    note "server $pid did not stop within 15s of SIGTERM; SIGKILL to its group"
  else
    wait "$pid" 2>/dev/null || true # reap it: a zombie still counts as a member of its group
    sleep 0.05
  fi
  # The server runs in its own process group (setsid): whatever is left of
  # it, the supervisor or a worker, goes with SIGKILL.
  if kill -0 -- "-$pid" 2>/dev/null; then
    # fasthttp's prefork master exits on SIGTERM without its children,
    # which notice only later: expected, not worth a note.
    [[ ${SRV_KIND:-} == fastprefork || ${SRV_KIND:-} == netprefork ]] || note "server $pid left processes behind: SIGKILL to its group"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# kill_tree PID: SIGTERM to PID and all its descendants, deepest first.
kill_tree() {
  local p
  for p in $(pgrep -P "$1" || true); do kill_tree "$p"; done
  kill -TERM "$1" 2>/dev/null || true
}

cleanup() {
  local rc=$? c
  trap - EXIT INT TERM
  # A load still running (interrupted run): this shell's children other
  # than the server are the load tool's subshell and its timeout.
  for c in $(pgrep -P $$ || true); do
    [[ $c == "${SRV_PID:-}" ]] || kill_tree "$c"
  done
  stop_server
  if [[ -n $BENCH_RAW ]] && mkdir -p "$BENCH_RAW"; then
    cp -r "$work"/raw/. "$BENCH_RAW"/ 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# parse_subject NAME sets S_KIND (serve|standalone), S_WORKERS, S_ENGINE,
# S_GMP (GOMAXPROCS or empty) and S_FLAGS (extra serve flags).
parse_subject() {
  local name=$1 rest
  S_ENGINE=net/http S_GMP='' S_FLAGS=() S_WORKERS=1
  case $name in
    plainhttp) S_KIND=plain; return 0 ;;
    fastprefork) S_KIND=fastprefork S_ENGINE=fasthttp S_WORKERS=$NPROC; return 0 ;;
    netprefork) S_KIND=netprefork S_WORKERS=$NPROC; return 0 ;;
  esac
  if [[ $name =~ ^standalone(-fasthttp)?$ ]]; then
    S_KIND=standalone
    [[ -n ${BASH_REMATCH[1]} ]] && S_ENGINE=fasthttp
    return 0
  fi
  [[ $name =~ ^spread-([1-9][0-9]*)w(.*)$ ]] || die "unknown subject '$name'"
  S_KIND=serve S_WORKERS=${BASH_REMATCH[1]}
  rest=${BASH_REMATCH[2]}
  while [[ -n $rest ]]; do
    if [[ $rest =~ ^-fasthttp(.*)$ ]]; then
      S_ENGINE=fasthttp
    elif [[ $rest =~ ^-gmp([1-9][0-9]*)(.*)$ ]]; then
      S_GMP=${BASH_REMATCH[1]}
      rest=${BASH_REMATCH[2]}
      continue
    elif [[ $rest =~ ^-defer(.*)$ ]]; then
      S_FLAGS+=(--tcp-defer-accept)
    elif [[ $rest =~ ^-nodefer(.*)$ ]]; then
      S_FLAGS+=(--tcp-defer-accept=false)
    elif [[ $rest =~ ^-nospare(.*)$ ]]; then
      S_FLAGS+=(--spare=false)
    elif [[ $rest =~ ^-nosteer(.*)$ ]]; then
      S_FLAGS+=(--steer off)
    elif [[ $rest =~ ^-noquietsysmon(.*)$ ]]; then
      S_FLAGS+=(--quiet-sysmon=false)
    elif [[ $rest =~ ^-backlog([1-9][0-9]*)(.*)$ ]]; then
      S_FLAGS+=(--backlog "${BASH_REMATCH[1]}")
      rest=${BASH_REMATCH[2]}
      continue
    else
      die "unknown part '$rest' of subject '$name'"
    fi
    rest=${BASH_REMATCH[1]}
  done
}

# start_server NAME PORT LOG starts the subject in its own process group and
# waits until it serves; it dies loudly when it does not within 20s.
start_server() {
  local name=$1 port=$2 log=$3 deadline online
  parse_subject "$name"
  local -a envs=(env)
  [[ -n $S_GMP ]] && envs+=("GOMAXPROCS=$S_GMP")
  if [[ $S_KIND == plain ]]; then
    setsid "${envs[@]}" "$work/plainhttp" -addr "127.0.0.1:$port" >"$log" 2>&1 </dev/null &
    SRV_CTL=
  elif [[ $S_KIND == fastprefork ]]; then
    # One child per CPU (the master's GOMAXPROCS), each with GOMAXPROCS 1.
    setsid "${envs[@]}" "$work/fastprefork" -addr "127.0.0.1:$port" >"$log" 2>&1 </dev/null &
    SRV_CTL=
  elif [[ $S_KIND == netprefork ]]; then
    setsid "${envs[@]}" "$work/plainhttp" -prefork "$S_WORKERS" -addr "127.0.0.1:$port" >"$log" 2>&1 </dev/null &
    SRV_CTL=
  elif [[ $S_KIND == standalone ]]; then
    setsid "${envs[@]}" "$SPREAD" standalone --addr "127.0.0.1:$port" --engine "$S_ENGINE" \
      --log-format json >"$log" 2>&1 </dev/null &
    SRV_CTL=
  else
    SRV_CTL="$work/ctl-$port.sock"
    setsid "${envs[@]}" "$SPREAD" serve --addr "127.0.0.1:$port" --workers "$S_WORKERS" \
      --engine "$S_ENGINE" --log-format json --control-socket "$SRV_CTL" "${S_FLAGS[@]}" \
      >"$log" 2>&1 </dev/null &
  fi
  SRV_PID=$! SRV_KIND=$S_KIND
  deadline=$(($(now_us) + 20000000))
  while :; do
    if ! alive "$SRV_PID"; then
      tail -n 20 "$log" >&2
      die "$name exited during start-up (log above)"
    fi
    if curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
      [[ $S_KIND == standalone || $S_KIND == plain ]] && return 0
      if [[ $S_KIND == fastprefork || $S_KIND == netprefork ]]; then
        (($(children "$SRV_PID" | wc -l) == S_WORKERS)) && return 0
      elif (($(workers "$SRV_PID" | wc -l) == S_WORKERS)); then
        online=$(status_json | jq -r '[.workers[] | select(.state == "online")] | length' 2>/dev/null || echo 0)
        ((online == S_WORKERS)) && return 0
      fi
    fi
    if (($(now_us) > deadline)); then
      tail -n 20 "$log" >&2
      die "$name did not come up on 127.0.0.1:$port within 20s (log above)"
    fi
    sleep 0.1
  done
}

status_json() {
  timeout 5 "$SPREAD" status --control-socket "$SRV_CTL" --json
}

# worker_counts prints "slot requests" a line for every worker.
worker_counts() {
  status_json | jq -r '.workers[] | "\(.slot) \(.requests)"' || die "spread status --json failed (control socket $SRV_CTL)"
}

# shares BEFORE AFTER prints each slot's share of the requests between two
# worker_counts snapshots, as "51/49" (percent, by slot).
shares() {
  awk 'NR == FNR { b[$1] = $2; next } { d[$1] = $2 - b[$1]; t += d[$1]; if ($1 > m) m = $1 }
       END { s = ""; for (i = 0; i <= m; i++) s = s (i ? "/" : "") (t ? sprintf("%.0f", 100 * d[i] / t) : "-"); print s }' \
    <(echo "$1") <(echo "$2")
}

# deltas BEFORE AFTER prints each slot's request count between two snapshots.
deltas() {
  awk 'NR == FNR { b[$1] = $2; next } { d[$1] = $2 - b[$1]; if ($1 > m) m = $1 }
       END { s = ""; for (i = 0; i <= m; i++) s = s (i ? ";" : "") d[i]; print s }' \
    <(echo "$1") <(echo "$2")
}

cpu_ticks() { # utime + stime of PID, in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# group_ticks PID: CPU ticks of PID and its live children (a supervisor and
# its workers).
group_ticks() {
  local p t=0
  for p in "$1" $(children "$1"); do t=$((t + $(cpu_ticks "$p" 2>/dev/null || echo 0))); done
  echo "$t"
}

machine_ticks() { # "busy total" CPU ticks of the whole machine, from /proc/stat
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat
}

# listen_drops: the machine's count of connections dropped at a full accept
# queue (TcpExt ListenDrops, which includes ListenOverflows).
listen_drops() {
  awk '$1 == "TcpExt:" { if (!n++) { for (i = 2; i <= NF; i++) col[$i] = i } else { print $col["ListenDrops"] + 0; exit } }' /proc/net/netstat
}

rss_kb() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# pss_kb PID: PID's proportional set size: each page shared by n processes
# (the binary's, mapped by a supervisor and its workers) counts 1/n.
pss_kb() {
  awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"
}

# tree_memory PID prints "sup_rss sup_anon sup_pss worker_rss worker_anon
# worker_pss" in kB: PID's as a supervisor and the largest of its
# children's, or "-" for the supervisor and PID's own as the worker when it
# has no children (a single process).
tree_memory() {
  local kids p
  kids=$(children "$1")
  if [[ -z $kids ]]; then
    echo "- - - $(rss_kb "$1") $(anon_kb "$1") $(pss_kb "$1")"
    return
  fi
  echo "$(rss_kb "$1") $(anon_kb "$1") $(pss_kb "$1")" \
    "$(for p in $kids; do rss_kb "$p"; done | sort -n | tail -n 1)" \
    "$(for p in $kids; do anon_kb "$p"; done | sort -n | tail -n 1)" \
    "$(for p in $kids; do pss_kb "$p"; done | sort -n | tail -n 1)"
}

# tree_ticks PID: utime + stime of PID and all its live descendants, in
# clock ticks: the CPU a server's whole process tree has used.
tree_ticks() {
  local p t
  t=$(cpu_ticks "$1" 2>/dev/null || echo 0)
  for p in $(children "$1"); do t=$((t + $(tree_ticks "$p"))); done
  echo "$t"
}

# anon_kb PID: the anonymous part of PID's RSS (heap, stacks): what the
# process owns. The rest of RSS is mostly the binary's pages, which the
# supervisor and its workers map from the same file and share.
anon_kb() {
  awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"
}

median() { # median of the numeric arguments ("-" and empty are skipped)
  printf '%s\n' "$@" | awk '$1 != "-" && $1 != ""' | sort -g |
    awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
         if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --------------------------------------------------------------- subjects
N=$WORKERS
if [[ -n ${BENCH_SUBJECTS:-} ]]; then
  read -r -a subjects <<<"${BENCH_SUBJECTS//,/ }"
else
  subjects=("spread-${N}w" plainhttp netprefork "spread-${N}w-fasthttp" fastprefork)
fi
serve_help=$("$SPREAD" serve --help 2>&1 || true)
has_sockopts=0
grep -q -- '--tcp-defer-accept' <<<"$serve_help" && grep -q -- '--backlog' <<<"$serve_help" && has_sockopts=1
if [[ ${BENCH_GOMAXPROCS:-0} == 1 ]]; then
  subjects+=("spread-${N}w-gmp1" "spread-${N}w-gmp${NPROC}")
fi
if [[ ${BENCH_SOCKOPTS:-0} == 1 ]]; then
  if ((has_sockopts)); then
    subjects+=("spread-${N}w-defer" "spread-${N}w-nodefer" "spread-${N}w-backlog128")
  else
    note "this build has no --tcp-defer-accept/--backlog: socket options not measured"
  fi
fi
declare -A seen=()
for s in "${subjects[@]}"; do
  [[ -z ${seen[$s]:-} ]] || die "subject $s is listed twice"
  seen[$s]=1
  parse_subject "$s"
  if ((${#S_FLAGS[@]} && !has_sockopts)); then die "subject $s needs --tcp-defer-accept/--backlog, which this build lacks"; fi
done

tools=(wrk hey)
[[ ${BENCH_NOKEEPALIVE:-0} == 1 ]] && tools+=(hey-nokeepalive)

# ------------------------------------------------------------ machine info
cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
[[ -n $cpu_model ]] || cpu_model=unknown
kernel=$(uname -r)
gover=$(go version 2>/dev/null | awk '{ print $3 }')
bench_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo -)
# "+dirty": the binary was built from Go sources that differ from the commit.
[[ -n $(git status --porcelain --untracked-files=no -- '*.go' go.mod go.sum 2>/dev/null) ]] && commit+="+dirty"
somaxconn=$(cat /proc/sys/net/core/somaxconn 2>/dev/null || echo -)

mkdir -p "$(dirname "$BENCH_CSV")" "$work/raw"
csv_tmp="$work/results.csv"
echo "date,commit,nproc,kernel,go,cpu_model,subject,round,tool,rps,p50_ms,p99_ms,requests,errors,worker_requests,share_pct,sup_rss_kb,sup_anon_kb,sup_idle_cpu_pct,sup_load_cpu_pct,worker_rss_max_kb,worker_anon_max_kb,loadavg1,other_cpu_pct,listen_drops,server_cpu_ticks,req_per_cpu_s,sup_pss_kb,worker_pss_max_kb,sup_anon_idle_kb,worker_anon_idle_max_kb,sup_anon_load_kb,worker_anon_load_max_kb" >"$csv_tmp"

# Results, keyed "subject|tool|round" and "subject|round"; the report reads
# them through namerefs (hence SC2034 off for the file).
declare -A RPS RPC CPU P50 P99 ERR WREQ SUP_RSS SUP_ANON SUP_PSS SUP_IDLE SUP_LOAD WRSS WANON WPSS FOREIGN SUP_ANON_IDLE WANON_IDLE SUP_ANON_LOAD WANON_LOAD

wrk_cmd=(wrk -t1 "-c$BENCH_CONNECTIONS" "-d${BENCH_SECONDS}s" --latency)
hey_cmd=(hey -c "$HEY_CONCURRENCY" -n "$HEY_REQUESTS")

# run_tool TOOL URL OUT runs one bounded load and prints "total ok errors
# rps p50 p99 tool_ticks", the last being the CPU the load tool used.
run_tool() {
  local tool=$1 url=$2 out=$3 rc=0
  case $tool in
    wrk) timeout -k 5 $((BENCH_SECONDS + 20)) "${wrk_cmd[@]}" "$url" >"$out" 2>&1 || rc=$? ;;
    hey) timeout -s INT -k 5 90 "${hey_cmd[@]}" "$url" >"$out" 2>&1 || rc=$? ;;
    hey-nokeepalive) timeout -s INT -k 5 90 "${hey_cmd[@]}" -disable-keepalive "$url" >"$out" 2>&1 || rc=$? ;;
  esac
  ((rc == 0)) || { cat "$out" >&2; die "$tool against $url failed (exit $rc)"; }
  local summary used
  if [[ $tool == wrk ]]; then summary=$(wrk_summary "$out"); else summary=$(hey_summary "$out"); fi
  # This runs in a subshell whose only reaped child was the load tool
  # (under timeout): bash's `times` gives its user and system CPU. It must
  # run in this shell, not in a pipe's or $(...)'s subshell (whose children
  # used nothing), hence the file.
  times >"$out.times"
  used=$(awk -v hz="$HZ" 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }; printf "%d", t * hz }' "$out.times")
  echo "$summary $used"
}

# wait_quiet: with BENCH_QUIET=PCT, wait until the machine is less than PCT%
# busy over one second (nothing of ours runs then), for BENCH_QUIET_WAIT s at most.
BENCH_QUIET=${BENCH_QUIET:-}
BENCH_QUIET_WAIT=${BENCH_QUIET_WAIT:-60}
QUIET_WAITED=0
wait_quiet() {
  [[ -n $BENCH_QUIET ]] || return 0
  local deadline=$(($(now_us) + BENCH_QUIET_WAIT * 1000000)) b0 t0 b1 t1 busy
  while :; do
    read -r b0 t0 < <(machine_ticks)
    sleep 1
    read -r b1 t1 < <(machine_ticks)
    busy=$((t1 > t0 ? 100 * (b1 - b0) / (t1 - t0) : 0))
    ((busy < BENCH_QUIET)) && return 0
    if (($(now_us) > deadline)); then
      note "machine still ${busy}% busy after ${BENCH_QUIET_WAIT}s of waiting; running anyway"
      return 0
    fi
    QUIET_WAITED=$((QUIET_WAITED + 1))
  done
}
[[ -z $BENCH_QUIET || $BENCH_QUIET =~ ^[1-9][0-9]?$ ]] || die "BENCH_QUIET must be a percentage (1-99), got '$BENCH_QUIET'"
[[ $BENCH_QUIET_WAIT =~ ^[0-9]+$ ]] || die "BENCH_QUIET_WAIT must be a number of seconds"

note "subjects: ${subjects[*]}; $ROUNDS rounds; wrk ${BENCH_SECONDS}s x ${BENCH_CONNECTIONS} conns, hey -c $HEY_CONCURRENCY -n $HEY_REQUESTS"
# run_subject NAME ROUND: one run of one subject (start, loads, memory, idle
# CPU, stop). RUN_OTHER is then the highest "other load" of its passes.
run_subject() {
  local s=$1 round=$2
  RUN_OTHER=0
  rm -f "$work/rows-$round-$s"
  port=$(free_port)
  raw="$work/raw/r${round}-${s}"
  start_server "$s" "$port" "$raw.log"
  url="http://127.0.0.1:$port/"
  sup=$SRV_PID
  if ((WARMUP_SECONDS > 0)); then
    timeout -k 5 $((WARMUP_SECONDS + 20)) wrk -t1 "-c$BENCH_CONNECTIONS" "-d${WARMUP_SECONDS}s" "$url" >/dev/null 2>&1 ||
      die "wrk warm-up against $s failed"
  fi
  before=
  [[ $S_KIND == serve ]] && before=$(worker_counts)
  line="round $round/$ROUNDS $s:"
  for tool in "${tools[@]}"; do
    load1=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(cpu_ticks "$sup") u0=$(now_us) g0=$(tree_ticks "$sup")
    read -r m0_busy m0_total < <(machine_ticks)
    d0=$(listen_drops)
    # Memory under load: sampled halfway through the wrk run.
    sampler=
    if [[ $tool == wrk ]]; then
      (sleep "$((BENCH_SECONDS / 2)).5" && tree_memory "$sup" >"$raw.mem") &
      sampler=$!
    fi
    read -r total _ errors rps p50 p99 tool_ticks < <(run_tool "$tool" "$url" "$raw.$tool.txt")
    if [[ -n $sampler ]]; then
      wait "$sampler" || true
      read -r _ sup_anon_load _ _ wanon_load _ <"$raw.mem" || true
      SUP_ANON_LOAD["$s|$round"]=${sup_anon_load:--} WANON_LOAD["$s|$round"]=${wanon_load:--}
    fi
    if ! alive "$sup"; then
      tail -n 20 "$raw.log" >&2
      die "$s died during the $tool run of round $round (log above)"
    fi
    t1=$(cpu_ticks "$sup") u1=$(now_us) g1=$(tree_ticks "$sup")
    read -r m1_busy m1_total < <(machine_ticks)
    drops=$(($(listen_drops) - d0))
    ((drops == 0)) || note "$s round $round: $tool: $drops connections dropped at a full accept queue (machine-wide ListenDrops)"
    # Everything else the machine did meanwhile, in % of all its CPUs:
    # other sessions' builds and tests share these cores.
    foreign=$(awk -v b="$((m1_busy - m0_busy))" -v t="$((m1_total - m0_total))" -v g="$((g1 - g0))" -v w="${tool_ticks:-0}" \
      'BEGIN { f = t ? 100 * (b - g - w) / t : 0; if (f < 0) f = 0; printf "%.0f", f }')
    FOREIGN["$s|$tool|$round"]=$foreign
    ((foreign <= RUN_OTHER)) || RUN_OTHER=$foreign
    ((total > 0)) || die "$tool against $s completed no request"
    # Requests per CPU-second of the server's whole process tree (its
    # supervisor or master included; the load tool's CPU is not in it).
    CPU["$s|$tool|$round"]=$((g1 - g0))
    RPC["$s|$tool|$round"]=$(awk -v n="$total" -v t="$((g1 - g0))" -v hz="$HZ" 'BEGIN { if (t > 0) printf "%.0f", n * hz / t; else print "-" }')
    ((errors == 0)) || note "$s round $round: $tool counted $errors errors (see ${BENCH_RAW:-BENCH_RAW}/r${round}-${s}.$tool.txt)"
    share=- wreq=- sload=-
    if [[ $S_KIND == serve ]]; then
      after=$(worker_counts)
      share=$(shares "$before" "$after")
      wreq=$(deltas "$before" "$after")
      before=$after
      # The supervisor's CPU while the load ran, in % of one core.
      sload=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v us="$((u1 - u0))" 'BEGIN { printf "%.1f", 100 * t / hz / (us / 1e6) }')
      SUP_LOAD["$s|$tool|$round"]=$sload
    fi
    RPS["$s|$tool|$round"]=$rps P50["$s|$tool|$round"]=$p50 P99["$s|$tool|$round"]=$p99
    ERR["$s|$tool|$round"]=$errors
    WREQ["$s|$tool|$round"]=$wreq
    printf '%s,%s,%s,%s,%s,"%s",%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,@SUP_RSS@,@SUP_ANON@,@SUP_IDLE@,%s,@WRSS@,@WANON@,%s,%s,%s,%s,%s,@SUP_PSS@,@WPSS@,@SUP_ANON_IDLE@,@WANON_IDLE@,@SUP_ANON_LOAD@,@WANON_LOAD@\n' \
      "$bench_date" "$commit" "$NPROC" "$kernel" "$gover" "$cpu_model" "$s" "$round" "$tool" \
      "$rps" "$p50" "$p99" "$total" "$errors" "$wreq" "$share" "$sload" "$load1" "$foreign" "$drops" "$((g1 - g0))" "${RPC["$s|$tool|$round"]}" >>"$work/rows-$round-$s"
    line+=" $tool ${rps} req/s ${RPC["$s|$tool|$round"]} req/CPU-s p99 ${p99}ms (other load ${foreign}%)"
  done
  # Memory right after the load (what the load left resident), then the
  # supervisor's CPU over an idle window, then memory again at its end
  # (after a worker has returned what it no longer uses). The top process
  # is the supervisor (fasthttp's prefork: its master); its children are
  # the workers. A single process counts as a worker.
  sup_rss=- sup_anon=- sup_pss=- sup_idle=- sup_anon_idle=- wrss='' wanon='' wpss='' wanon_idle=-
  if [[ $S_KIND == serve ]]; then
    restarts=$(status_json | jq -r '[.workers[].restarts] | add')
    ((restarts == 0)) || note "$s round $round: $restarts worker restart(s) during the runs: its figures are suspect"
  fi
  read -r sup_rss sup_anon sup_pss wrss wanon wpss < <(tree_memory "$sup")
  if ((IDLE_SECONDS > 0)); then
    sleep 0.5
    t0=$(cpu_ticks "$sup") u0=$(now_us)
    sleep "$IDLE_SECONDS"
    t1=$(cpu_ticks "$sup") u1=$(now_us)
    if [[ $S_KIND == serve ]]; then
      sup_idle=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v us="$((u1 - u0))" 'BEGIN { printf "%.2f", 100 * t / hz / (us / 1e6) }')
    fi
    read -r _ sup_anon_idle _ _ wanon_idle _ < <(tree_memory "$sup")
  fi
  SUP_ANON_IDLE["$s|$round"]=$sup_anon_idle WANON_IDLE["$s|$round"]=$wanon_idle
  SUP_RSS["$s|$round"]=$sup_rss SUP_ANON["$s|$round"]=$sup_anon SUP_PSS["$s|$round"]=$sup_pss SUP_IDLE["$s|$round"]=$sup_idle
  WRSS["$s|$round"]=$wrss WANON["$s|$round"]=$wanon WPSS["$s|$round"]=$wpss
  sed -e "s/@SUP_RSS@/$sup_rss/" -e "s/@SUP_ANON@/$sup_anon/" -e "s/@SUP_IDLE@/$sup_idle/" -e "s/@SUP_PSS@/$sup_pss/" \
    -e "s/@WRSS@/$wrss/" -e "s/@WANON@/$wanon/" -e "s/@WPSS@/$wpss/" -e "s/@SUP_ANON_IDLE@/$sup_anon_idle/" -e "s/@WANON_IDLE@/$wanon_idle/" \
    -e "s/@SUP_ANON_LOAD@/${SUP_ANON_LOAD["$s|$round"]:--}/" -e "s/@WANON_LOAD@/${WANON_LOAD["$s|$round"]:--}/" "$work/rows-$round-$s" >"$work/done-$round-$s"
  rm -f "$work/rows-$round-$s"
  stop_server
  note "$line sup_rss ${sup_rss}kB idle ${sup_idle}%"
}

REDONE=0
for ((round = 1; round <= ROUNDS; round++)); do
  order=("${subjects[@]}")
  if [[ ${BENCH_ROTATE:-0} == 1 ]]; then # round r starts with subject r: no subject always runs first
    k=$(((round - 1) % ${#subjects[@]}))
    order=("${subjects[@]:k}" "${subjects[@]:0:k}")
  fi
  for s in "${order[@]}"; do
    for ((try = 0; ; try++)); do
      wait_quiet
      run_subject "$s" "$round"
      # With BENCH_QUIET, a run that other work disturbed is done again (twice at most).
      if [[ -n $BENCH_QUIET ]] && ((RUN_OTHER >= BENCH_QUIET && try < 2)); then
        note "round $round $s: other load reached ${RUN_OTHER}% (BENCH_QUIET=$BENCH_QUIET): run again"
        REDONE=$((REDONE + 1))
        continue
      fi
      break
    done
    cat "$work/done-$round-$s" >>"$csv_tmp"
  done
done
cp "$csv_tmp" "$BENCH_CSV"

# ---------------------------------------------------------- Go benchmarks
# The hot paths one by one, with -benchmem: each engine's handler, the
# accept and drain bookkeeping, the scoreboard's counting, and the whole
# path over loopback beside the same engine with no spread code ("plain").
# The handler and the per-request bookkeeping must allocate nothing (their
# tests fail otherwise).
GOBENCH_REPORT=
if [[ ${BENCH_GO:-1} == 1 ]]; then
  note "go test -bench (hot paths)"
  gb=$(go test -run '^$' -bench '^(BenchmarkHandler|BenchmarkBookkeeping|BenchmarkServe)$' -benchmem -benchtime 1s ./handler 2>&1 &&
    go test -run '^$' -bench '^BenchmarkCounters$' -benchmem -benchtime 1s ./supervisor 2>&1) ||
    die "go test -bench failed: $gb"
  GOBENCH_REPORT="Go benchmarks (hot paths, -benchmem, same machine and load):"$'\n\n'"$(grep '^Benchmark' <<<"$gb" | sed 's/^/    /')"
fi

# ------------------------------------------------------------ kill pass
# Restarts users cannot see: spread-Nw under hey -disable-keepalive (a new
# connection per request, so that connections wait in the slot's queue
# while its worker is replaced), and a random worker SIGKILLed every
# second, BENCH_KILLS times. Exit to online is the "down_ms" field of the
# replacement's "worker online" event; the bar is hey's p99.
BENCH_KILLS=${BENCH_KILLS:-5}
[[ $BENCH_KILLS =~ ^[0-9]+$ ]] || die "BENCH_KILLS must be a non-negative integer, got '$BENCH_KILLS'"
KILL_REPORT=
# kill_pass SUBJECT: one pass against SUBJECT; appends a line to KILL_REPORT.
kill_pass() {
  local s=$1 port raw sup t0 k kills k_total k_errors k_rps k_p99 n_p99 deadline downs down_med down_max
  port=$(free_port)
  raw="$work/raw/kill-${s}"
  start_server "$s" "$port" "$raw.log"
  sup=$SRV_PID
  # The same load with no kill first, on the same server: the p99 the
  # kills are to be read against on this machine at this moment.
  timeout -s INT -k 5 $((BENCH_KILLS + 40)) hey -disable-keepalive -c "$HEY_CONCURRENCY" -z "$((BENCH_KILLS + 2))s" -t 10 \
    "http://127.0.0.1:$port/" >"$raw.nokill.hey.txt" 2>&1 || die "hey failed before the kill pass (see ${BENCH_RAW:-BENCH_RAW}/kill-$s.nokill.hey.txt)"
  read -r _ _ _ _ _ n_p99 < <(hey_summary "$raw.nokill.hey.txt")
  t0=$(now_us)
  timeout -s INT -k 5 $((BENCH_KILLS + 40)) hey -disable-keepalive -c "$HEY_CONCURRENCY" -z "$((BENCH_KILLS + 2))s" -t 10 \
    "http://127.0.0.1:$port/" >"$raw.hey.txt" 2>&1 &
  hey_pid=$!
  kills=0
  for ((k = 1; k <= BENCH_KILLS; k++)); do
    sleep_until_us $((t0 + k * 1000000))
    mapfile -t kids < <(workers "$sup")
    ((${#kids[@]} > 0)) || continue
    kill -KILL "${kids[RANDOM % ${#kids[@]}]}" 2>/dev/null && kills=$((kills + 1))
  done
  wait "$hey_pid" || die "hey failed during the kill pass (see ${BENCH_RAW:-BENCH_RAW}/kill-$s.hey.txt)"
  read -r k_total _ k_errors k_rps _ k_p99 < <(hey_summary "$raw.hey.txt")
  # Let the last replacement come online before reading the log.
  deadline=$(($(now_us) + 10000000))
  while (($(grep -c '"down_ms":' "$raw.log" || true) < kills)) && (($(now_us) < deadline)); do sleep 0.1; done
  downs=$(grep '"message":"worker online"' "$raw.log" | grep -o '"down_ms":[0-9.]*' | cut -d: -f2 || true)
  stop_server
  down_med=$(median $downs) down_max=$(printf '%s\n' $downs | sort -g | tail -n 1)
  down_med=$(awk -v v="$down_med" 'BEGIN { if (v == "-") print v; else printf "%.1f", v }')
  down_max=$(awk -v v="$down_max" 'BEGIN { if (v == "") print "-"; else printf "%.1f", v }')
  note "kill pass $s: $kills kills, $(wc -w <<<"$downs") replacements online (down median ${down_med} ms), hey $k_total requests, $k_errors errors, p99 ${k_p99} ms (${n_p99} ms with no kill)"
  KILL_REPORT+="- restarts users cannot see ($s, $kills SIGKILLs of a random worker 1 s apart under hey -disable-keepalive -c $HEY_CONCURRENCY, $k_total requests at $k_rps req/s, $k_errors errors): exit to online median ${down_med} ms (max ${down_max} ms, $(wc -w <<<"$downs") replacements) → $(awk -v v="$down_med" 'BEGIN { if (v == "-") print "n/a"; else print (v <= 5 ? "met" : "missed") }') (≤ 5 ms); hey p99 ${k_p99} ms → $(awk -v v="$k_p99" 'BEGIN { print (v <= 50 ? "met" : "missed") }') (≤ 50 ms; the same load with no kill, just before: p99 ${n_p99} ms)"$'\n'
}
if ((BENCH_KILLS > 0)); then
  # With the spare (the default), then without it for comparison.
  kill_pass "spread-${N}w"
  kill_pass "spread-${N}w-nospare"
  KILL_REPORT=${KILL_REPORT%$'\n'}
fi

# ------------------------------------------------------------------ report
# digits ARRAY: how many decimals the report shows of a measure.
digits() {
  case $1 in
    RPS | RPC) echo 0 ;;
    SUP_LOAD) echo 1 ;;
    *) echo 2 ;;
  esac
}
# med SUBJECT TOOL ARRAY: median over rounds of one measure.
med() {
  local -n arr=$3
  local r vals=()
  for ((r = 1; r <= ROUNDS; r++)); do vals+=("${arr["$1|$2|$r"]:-}"); done
  median "${vals[@]}" | awk -v d="$(digits "$3")" '$1 == "-" { print; next } { printf "%.*f\n", d, $1 }'
}
med_round() { # med_round SUBJECT ARRAY: median over rounds of a per-round measure
  local -n arr=$2
  local r vals=()
  for ((r = 1; r <= ROUNDS; r++)); do vals+=("${arr["$1|$r"]:-}"); done
  median "${vals[@]}" | awk -v d="$(digits "$2")" '$1 == "-" { print; next } { printf "%.*f\n", d, $1 }'
}
max_round() {
  local -n arr=$2
  local r
  for ((r = 1; r <= ROUNDS; r++)); do echo "${arr["$1|$r"]:-}"; done |
    awk '$1 != "-" && $1 != "" { if (!n++ || $1 > m) m = $1 } END { print n ? m : "-" }'
}
# share_total SUBJECT TOOL: each slot's share of that tool's requests, all rounds together.
share_total() {
  local r v=
  for ((r = 1; r <= ROUNDS; r++)); do
    [[ ${WREQ["$1|$2|$r"]:--} == - ]] || v+="${WREQ["$1|$2|$r"]}"$'\n'
  done
  [[ -n $v ]] || { echo -; return; }
  printf '%s' "$v" | awk -F';' '{ for (i = 1; i <= NF; i++) { d[i] += $i; t += $i }; if (NF > m) m = NF }
    END { s = ""; for (i = 1; i <= m; i++) s = s (i > 1 ? "/" : "") sprintf("%.0f", 100 * d[i] / t); print s }'
}
# mem_cell SUBJECT LOAD AFTER IDLE PSS: "under load; after; idle (PSS)" in MB.
mem_cell() {
  echo "$(mb "$(max_round "$1" "$2")"); $(mb "$(max_round "$1" "$3")"); $(mb "$(max_round "$1" "$4")") ($(mb "$(max_round "$1" "$5")"))"
}
mb() { awk -v k="$1" 'BEGIN { if (k == "-" || k == "") print "-"; else printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
# round_ratios A B TOOL [ARRAY]: the ratio of A to B in every round
# ("0.97, 1.02, ..."), of req/s or of another per-run measure.
round_ratios() {
  local -n arr=${4:-RPS}
  local r out=()
  for ((r = 1; r <= ROUNDS; r++)); do out+=("$(ratio "${arr["$1|$3|$r"]:-}" "${arr["$2|$3|$r"]:-}")"); done
  local joined
  joined=$(printf '%s, ' "${out[@]}")
  echo "${joined%, }"
}

have() { [[ " ${subjects[*]} " == *" $1 "* ]]; }
# base_of SUBJECT: the subject it is compared with: plainhttp (Go's
# net/http alone) for the net/http engine, fastprefork (fasthttp's own
# prefork) for fasthttp; standalone[-fasthttp] when those are not run.
base_of() {
  parse_subject "$1"
  local b=plainhttp alt=standalone
  [[ $S_ENGINE == fasthttp ]] && b=fastprefork alt=standalone-fasthttp
  if have "$b"; then echo "$b"; elif have "$alt"; then echo "$alt"; else echo -; fi
}
# vs SUBJECT TOOL ARRAY: the median of SUBJECT over that of its base.
vs() {
  local b
  b=$(base_of "$1")
  [[ $b != - ]] || { echo -; return; }
  ratio "$(med "$1" "$2" "$3")" "$(med "$b" "$2" "$3")"
}

BENCH_MD=${BENCH_CSV%.csv}.md
report() {
  echo "Machine: ${NPROC} CPUs ($cpu_model), Linux $kernel, $gover, somaxconn $somaxconn; commit $commit; $bench_date"
  echo "Run: $ROUNDS interleaved rounds$([[ ${BENCH_ROTATE:-0} == 1 ]] && echo ' (order rotated every round)'), each subject started fresh per round; wrk -t1 -c$BENCH_CONNECTIONS -d${BENCH_SECONDS}s --latency (after a ${WARMUP_SECONDS}s warm-up), hey -c $HEY_CONCURRENCY -n $HEY_REQUESTS (keep-alive)$([[ " ${tools[*]} " == *" hey-nokeepalive "* ]] && echo ", hey -disable-keepalive -c $HEY_CONCURRENCY -n $HEY_REQUESTS"); medians over rounds; ${elapsed}s in all$([[ -n $BENCH_QUIET ]] && echo ", of which ${QUIET_WAITED}s waiting for the machine to be under ${BENCH_QUIET}% busy; $REDONE runs done again because other load reached ${BENCH_QUIET}%")."
  fvals=()
  for k in "${!FOREIGN[@]}"; do [[ $k == *"|wrk|"* ]] && fvals+=("${FOREIGN[$k]}"); done
  echo "Other load on the machine during the wrk runs (CPU not used by the server or the load tool, % of all CPUs): median $(median "${fvals[@]}")%, max $(printf '%s\n' "${fvals[@]}" | sort -g | tail -n 1)%. Load average (uptime) at the start: $uptime_start; at the end: $(uptime | sed 's/.*load average: //')."
  echo
  nk_load() { # the supervisor's CPU under hey -disable-keepalive, when that pass ran
    if [[ " ${tools[*]} " == *" hey-nokeepalive "* ]]; then echo "; $(med "$1" hey-nokeepalive SUP_LOAD)"; fi
  }
  cpu_hdr="(under wrk)"
  [[ " ${tools[*]} " == *" hey-nokeepalive "* ]] && cpu_hdr="(under wrk; hey no-keep-alive)"
  hdr="| subject | base | wrk req/s | × base | wrk req per CPU-s | × base | wrk p50 / p99 ms | hey req/s | hey req per CPU-s | × base | hey p50 / p99 ms |"
  sep="| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  if [[ " ${tools[*]} " == *" hey-nokeepalive "* ]]; then
    hdr+=" hey no-keep-alive req/s | req per CPU-s | p99 ms |"
    sep+=" ---: | ---: | ---: |"
  fi
  hdr+=" requests per worker % (wrk; hey) | supervisor RssAnon under load; after; idle MB (PSS) | supervisor CPU % idle $cpu_hdr | worker RssAnon under load; after; idle max MB (PSS) | errors |"
  sep+=" --- | ---: | ---: | ---: | ---: |"
  echo "$hdr"
  echo "$sep"
  for s in "${subjects[@]}"; do
    b=$(base_of "$s")
    [[ $b == "$s" ]] && b="(base)"
    parse_subject "$s"
    row="| $s | $b | $(med "$s" wrk RPS) | $(vs "$s" wrk RPS) | $(med "$s" wrk RPC) | $(vs "$s" wrk RPC) | $(med "$s" wrk P50) / $(med "$s" wrk P99) | $(med "$s" hey RPS) | $(med "$s" hey RPC) | $(vs "$s" hey RPC) | $(med "$s" hey P50) / $(med "$s" hey P99) |"
    if [[ " ${tools[*]} " == *" hey-nokeepalive "* ]]; then
      row+=" $(med "$s" hey-nokeepalive RPS) | $(med "$s" hey-nokeepalive RPC) | $(med "$s" hey-nokeepalive P99) |"
    fi
    errs=0
    for k in "${!ERR[@]}"; do [[ $k == "$s|"* ]] && errs=$((errs + ERR[$k])); done
    if [[ $S_KIND == serve ]]; then
      row+=" $(share_total "$s" wrk); $(share_total "$s" hey) | $(mem_cell "$s" SUP_ANON_LOAD SUP_ANON SUP_ANON_IDLE SUP_PSS) | $(med_round "$s" SUP_IDLE) ($(med "$s" wrk SUP_LOAD)$(nk_load "$s")) |"
    elif [[ $S_KIND == fastprefork || $S_KIND == netprefork ]]; then
      row+=" - | $(mem_cell "$s" SUP_ANON_LOAD SUP_ANON SUP_ANON_IDLE SUP_PSS) | - |"
    else
      row+=" - | - | - |"
    fi
    row+=" $(mem_cell "$s" WANON_LOAD WANON WANON_IDLE WPSS) | $errs |"
    echo "$row"
  done
  echo
  echo "base: the subject each is compared with, in the same run: plainhttp (Go's net/http, one process, no spread code) for net/http (netprefork too: the same server in N processes), fastprefork (fasthttp/prefork, one child per CPU) for fasthttp. Requests per CPU-second: requests over the utime + stime of the server's whole process tree (supervisor or master included), from /proc before and after each run; the load tool's CPU is not in it. Memory: maximum over rounds, of RssAnon under load (halfway through wrk), right after the last load and at the end of the ${IDLE_SECONDS}s idle window that follows, and of PSS right after the load; RssAnon is what a process owns (heap, stacks), PSS counts each page shared by n processes (the binary's) as 1/n; a single process counts as a worker. Supervisor CPU: % of one core over a ${IDLE_SECONDS}s idle window after the load (median; - when IDLE_SECONDS=0), and while wrk ran (median)."
  echo

  # Targets, each with its figure.
  verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { if (v == "-") { print "n/a"; exit }
    ok = (op == ">=") ? v >= t : (op == "<") ? v < t : v <= t; print ok ? "met" : "missed" }'; }
  spreadN="spread-${N}w" fast="spread-${N}w-fasthttp"
  echo "Targets:"
  if have "$spreadN" && have plainhttp; then
    r=$(vs "$spreadN" wrk RPC)
    echo "- $spreadN requests per CPU-second ≥ 1.0× plainhttp (wrk): ${r}× → $(verdict "$r" ">=" 1.0) (per round: $(round_ratios "$spreadN" plainhttp wrk RPC)); hey: $(vs "$spreadN" hey RPC)×"
    r=$(vs "$spreadN" wrk RPS)
    echo "- $spreadN req/s ≥ 1.0× plainhttp (wrk): ${r}× → $(verdict "$r" ">=" 1.0) (per round: $(round_ratios "$spreadN" plainhttp wrk)); hey: $(vs "$spreadN" hey RPS)×"
    p_s=$(med "$spreadN" wrk P99) p_b=$(med plainhttp wrk P99)
    echo "- p99 of $spreadN ≤ plainhttp's (wrk): ${p_s} ms vs ${p_b} ms → $(verdict "$p_s" "<=" "$p_b"); hey: $(med "$spreadN" hey P99) ms vs $(med plainhttp hey P99) ms → $(verdict "$(med "$spreadN" hey P99)" "<=" "$(med plainhttp hey P99)")"
  fi
  if have "$spreadN" && have plainhttp && have netprefork; then
    # Not a target: where the gap above comes from. netprefork is the same
    # shape as spread-Nw (N processes, GOMAXPROCS 1 each) without spread.
    echo "- where the net/http gap is (not a target; wrk, requests per CPU-second): netprefork / plainhttp $(vs netprefork wrk RPC)× (N Go processes instead of one, no spread code; per round: $(round_ratios netprefork plainhttp wrk RPC)); $spreadN / netprefork $(ratio "$(med "$spreadN" wrk RPC)" "$(med netprefork wrk RPC)")× (spread against the same shape with no spread code; per round: $(round_ratios "$spreadN" netprefork wrk RPC)); req/s: $(vs netprefork wrk RPS)× and $(ratio "$(med "$spreadN" wrk RPS)" "$(med netprefork wrk RPS)")×"
  fi
  if have "$fast" && have fastprefork; then
    r=$(vs "$fast" wrk RPS)
    echo "- $fast req/s ≥ 1.1× fastprefork (wrk): ${r}× → $(verdict "$r" ">=" 1.1) (per round: $(round_ratios "$fast" fastprefork wrk)); hey: $(vs "$fast" hey RPS)×"
    r=$(vs "$fast" wrk RPC)
    echo "- $fast requests per CPU-second ≥ 1.1× fastprefork (wrk): ${r}× → $(verdict "$r" ">=" 1.1) (per round: $(round_ratios "$fast" fastprefork wrk RPC)); hey: $(vs "$fast" hey RPC)×"
  fi
  if have "$fast" && have "$spreadN"; then
    r=$(ratio "$(med "$fast" wrk RPS)" "$(med "$spreadN" wrk RPS)")
    echo "- fasthttp ≥ 1.3× net/http ($fast / $spreadN, wrk): ${r}× → $(verdict "$r" ">=" 1.3) (per round: $(round_ratios "$fast" "$spreadN" wrk))"
  fi
  # max_serve ARRAY [ENGINE]: the largest value of a per-round measure over
  # every spread subject (of that engine).
  max_serve() {
    local s
    for s in "${subjects[@]}"; do
      parse_subject "$s"
      if [[ $S_KIND == serve && ${2:-$S_ENGINE} == "$S_ENGINE" ]]; then max_round "$s" "$1"; fi
    done | awk '$1 != "-" { if (!n++ || $1 > m) m = $1 } END { print n ? m : "-" }'
  }
  max_idle=$(for s in "${subjects[@]}"; do
    parse_subject "$s"
    if [[ $S_KIND == serve ]]; then med_round "$s" SUP_IDLE; fi
  done | awk '$1 != "-" { if (!n++ || $1 > m) m = $1 } END { print n ? m : "-" }')
  max_sup=$(max_serve SUP_RSS)
  if [[ $max_sup != - ]]; then
    a=$(mb "$(max_serve SUP_ANON_LOAD)") i=$(mb "$(max_serve SUP_ANON_IDLE)")
    echo "- supervisor RssAnon ≤ 3 MB: under load max $a MB → $(verdict "$a" "<=" 3); idle $i MB → $(verdict "$i" "<=" 3) (PSS $(mb "$(max_serve SUP_PSS)") MB, RSS $(mb "$max_sup") MB)"
    a=$(mb "$(max_serve WANON_LOAD net/http)") i=$(mb "$(max_serve WANON_IDLE net/http)")
    echo "- worker RssAnon ≤ 4 MB (net/http engine): under load (${BENCH_CONNECTIONS} connections) max $a MB → $(verdict "$a" "<=" 4); idle $i MB → $(verdict "$i" "<=" 4) (PSS $(mb "$(max_serve WPSS net/http)") MB, RSS $(mb "$(max_serve WRSS net/http)") MB; fasthttp: $(mb "$(max_serve WANON_LOAD fasthttp)") MB under load, idle $(mb "$(max_serve WANON_IDLE fasthttp)") MB)"
    echo "- supervisor ~0% CPU idle: worst median $max_idle % of a core → $(verdict "$max_idle" "<" 0.5) (threshold 0.5%)"
  fi
  [[ -z ${KILL_REPORT:-} ]] || printf '%s\n' "$KILL_REPORT"
  echo
  echo "Rows: $BENCH_CSV ($(($(wc -l <"$BENCH_CSV") - 1)) runs)."
  [[ -z ${GOBENCH_REPORT:-} ]] || { echo; printf '%s\n' "$GOBENCH_REPORT"; }
}
elapsed=$((($(now_us) - t_start) / 1000000))
report | tee "$BENCH_MD"
note "done in ${elapsed}s; report also in $BENCH_MD"
