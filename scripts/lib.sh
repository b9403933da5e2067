# shellcheck shell=bash
# Shared helpers of scripts/loadtest.sh and scripts/drill.sh. Source it; it
# defines functions and SPREAD_ROOT and changes nothing else.

# shellcheck disable=SC2034 # used by the scripts that source this file
SPREAD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The hey release the Makefile's `tools` target installs.
HEY_MODULE=github.com/rakyll/hey@v0.1.5

die() {
  echo "$(basename "$0"): $*" >&2
  exit 2
}

note() {
  echo "$(basename "$0"): $*" >&2
}

# ensure_hey puts Go's install directory on PATH and installs hey there
# when it is missing: `go install` is how hey is distributed, and a fresh
# machine has only Go.
ensure_hey() {
  local gobin
  if command -v go >/dev/null 2>&1; then
    gobin=$(go env GOBIN)
    if [[ -z $gobin ]]; then
      gobin=$(go env GOPATH)
      gobin="${gobin%%:*}/bin" # GOPATH may be a list; go install uses the first entry.
    fi
    case ":$PATH:" in
      *":$gobin:"*) ;;
      *) PATH="$gobin:$PATH" ;;
    esac
    export PATH
  fi
  command -v hey >/dev/null 2>&1 && return 0
  command -v go >/dev/null 2>&1 || die "hey is missing and there is no go to install it"
  note "installing $HEY_MODULE"
  go install "$HEY_MODULE" >&2 || die "go install $HEY_MODULE failed"
  command -v hey >/dev/null 2>&1 || die "hey is not on PATH after go install"
}

have_wrk() {
  command -v wrk >/dev/null 2>&1
}

# now_us prints the wall clock in microseconds (bash 5's EPOCHREALTIME,
# whose decimal separator follows the locale).
now_us() {
  local t=${EPOCHREALTIME//[.,]/}
  echo "$((10#$t))"
}

# sleep_until_us sleeps until the given now_us value; the drills schedule
# their faults on absolute times so that slow steps do not add up.
sleep_until_us() {
  local d=$(($1 - $(now_us)))
  ((d > 0)) || return 0
  sleep "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"
}

# free_port prints a TCP port of 127.0.0.1 that no socket uses. It is
# taken below the ephemeral range (ip_local_port_range), where the client
# ends of the load's own connections cannot take it meanwhile. Another
# program may still take it before spread binds it: start_server retries.
free_port() {
  local lo=32768 p tries
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((lo > 12000)) || lo=65000
  for ((tries = 0; tries < 100; tries++)); do
    p=$((10000 + RANDOM % (lo - 10000)))
    if port_unused "$p"; then
      echo "$p"
      return
    fi
  done
  die "found no free port"
}

# port_unused PORT succeeds when no TCP socket has PORT as its local port
# (ss sees connections too, which a test bind can miss) and it binds.
port_unused() {
  if command -v ss >/dev/null 2>&1 && [[ -n $(ss -Htan "sport = :$1") ]]; then
    return 1
  fi
  port_bindable "$1"
}

# port_bindable PORT succeeds when a new server could listen on
# 127.0.0.1:PORT, i.e. no listening socket is left on it. SO_REUSEADDR is
# set, as every server (Go's included) does, so that the TIME_WAIT sockets
# of closed connections do not count.
port_bindable() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)' "$1" 2>/dev/null
  else
    [[ -z $(ss -Htln "sport = :$1") ]]
  fi
}

# alive PID succeeds when PID is a process that is not a zombie: a killed
# child stays in /proc as a zombie until its parent reaps it. State Z is
# the main thread's; it is also what a process shows while another of its
# threads is in execve, with more than one thread (field 20) left.
alive() {
  local stat f
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # The command name may hold spaces; the state follows the last ") ".
  read -ra f <<<"${stat##*) }"
  [[ ${f[0]} != Z ]] || ((${f[17]:-1} > 1))
}

# start_time PID prints when PID started (field 22 of /proc/PID/stat, in
# clock ticks since boot), empty when it is gone. With the pid it names
# one process for good: a pid can be reused, a pid and start time cannot,
# and an exec keeps both.
start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) } # fields from the third on; the start time is the 20th of them
  read -r -a stat <<<"$stat"
  echo "${stat[19]}"
}

# children PID prints the live (non-zombie) child processes of PID, one a
# line: spread's workers are the supervisor's direct children.
children() {
  local kid
  for kid in $(pgrep -P "$1" || true); do
    if alive "$kid"; then echo "$kid"; fi
  done
}

# workers PID prints the workers among the children of supervisor PID:
# all of them but its spare, whose name in ps says "worker (spare)" until
# it takes a slot.
workers() {
  local kid
  for kid in $(children "$1"); do
    if ! tr '\0' ' ' <"/proc/$kid/cmdline" 2>/dev/null | grep -q 'worker (spare)'; then echo "$kid"; fi
  done
}

# wait_stopped PID waits (at most ~1s) until every thread of PID is
# stopped: kill -STOP returns before the signal takes effect, and a thread
# still running could accept one more connection.
wait_stopped() {
  local tries stat task running
  for ((tries = 0; tries < 200; tries++)); do
    running=0
    for task in /proc/"$1"/task/*/stat; do
      stat=$(cat "$task" 2>/dev/null) || continue
      stat=${stat##*) }
      [[ ${stat%% *} == [tTZX] ]] || running=1
    done
    ((running)) || return 0
    sleep 0.005
  done
  return 1
}

# held_connections PID prints how many ESTABLISHED TCP connections PID has
# open: its socket inodes (/proc/PID/fd) matched against the rows of
# /proc/net/tcp{,6} in state 01. A worker's listening socket is in state
# 0A and does not count.
held_connections() {
  local inodes
  inodes=$(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n')
  if [[ -z $inodes ]]; then
    echo 0
    return
  fi
  awk 'NR == FNR { want[$1] = 1; next }
       FNR > 1 && $4 == "01" && ($10 in want) { n++ }
       END { print n + 0 }' <(echo "$inodes") /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# hey_summary FILE reads the report hey wrote to FILE and prints
# "total ok errors rps p50_ms p99_ms". hey exits 0 whatever happened, so
# its report is the only source: ok are the 2xx responses, errors are the
# other status codes plus every entry of the "Error distribution" (resets,
# timeouts, refused connections). p50/p99 are "-" when nothing succeeded.
# hey v0.1.5 prints its percentiles as "50%% in X secs"; both forms match.
hey_summary() {
  awk '
    /^Status code distribution:/ { sec = "status"; next }
    /^Error distribution:/       { sec = "error"; next }
    /Requests\/sec:/             { rps = $2 }
    /^ *50%+ in /                { p50 = sprintf("%.2f", $3 * 1000) }
    /^ *99%+ in /                { p99 = sprintf("%.2f", $3 * 1000) }
    sec != "" && /^ *\[[0-9]+\]/ {
      key = $1; gsub(/[^0-9]/, "", key)
      if (sec == "status") {
        if (key ~ /^2/) ok += $2; else bad += $2
      } else {
        failed += key
      }
    }
    END {
      if (rps == "") rps = 0
      if (p50 == "") p50 = "-"
      if (p99 == "") p99 = "-"
      printf "%d %d %d %.0f %s %s\n", ok + bad + failed, ok, bad + failed, rps, p50, p99
    }' "$1"
}

# hey_errors FILE prints the non-2xx status codes and the error
# distribution of hey's report, one "[count] what" a line. hey lists each
# error text apart, and the client port is in the text, so every reset is
# a line of its own: the ports are masked and the counts summed.
hey_errors() {
  awk '/^Status code distribution:/ { sec = 1; next }
       /^Error distribution:/ { sec = 2; next }
       sec && /^ *\[[0-9]+\]/ {
         tag = $1; gsub(/[^0-9]/, "", tag)
         if (sec == 1) {
           if (tag ~ /^2/) next
           key = "status " tag; n = $2
         } else {
           sub(/^ *\[[0-9]+\][ \t]*/, "")
           gsub(/:[0-9]+->/, ":*->")
           key = $0; n = tag
         }
         if (!(key in count)) order[++keys] = key
         count[key] += n
       }
       END { for (i = 1; i <= keys; i++) printf "[%d]\t%s\n", count[order[i]], order[i] }' "$1"
}

# wrk_summary FILE reads the report of `wrk --latency` and prints
# "total ok errors rps p50_ms p99_ms", as hey_summary. wrk counts every
# completed response in "N requests in"; lost requests are its socket
# errors (connect, read, write), its timeouts and the non-2xx/3xx
# responses. The error lines appear only when non-zero.
wrk_summary() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return sprintf("%.2f", v / 1000)
      if (v ~ /ms$/) return sprintf("%.2f", v + 0)
      if (v ~ /m$/)  return sprintf("%.2f", v * 60000)
      if (v ~ /s$/)  return sprintf("%.2f", v * 1000)
      return v
    }
    / requests in /           { done = $1 }
    /Socket errors:/          { gsub(/,/, ""); sock = $4 + $6 + $8; tmo = $10 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    /^Requests\/sec:/         { rps = $2 }
    /^ +50% /                 { p50 = ms($2) }
    /^ +99% /                 { p99 = ms($2) }
    END {
      if (rps == "") rps = 0
      if (p50 == "") p50 = "-"
      if (p99 == "") p99 = "-"
      printf "%d %d %d %.0f %s %s\n", done + sock, done - bad, sock + tmo + bad, rps, p50, p99
    }' "$1"
}
