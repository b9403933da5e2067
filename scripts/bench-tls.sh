#!/usr/bin/env bash
# TLS and access-log measurements for `make bench`, on 127.0.0.1 only.
#
#   scripts/bench-tls.sh     (make bench runs it after scripts/bench.sh)
#
# Subjects, run interleaved for ROUNDS rounds, each started fresh per run
# (new port, new processes) and stopped after it:
#   nginx-tls         nginx (Debian package), 2 workers, listen reuseport ssl,
#                     `return 200`, TLS 1.2/1.3
#   spread-tls        spread serve --workers 2 --tls-cert/--tls-key (net/http)
#   spread            spread serve --workers 2, plain HTTP
#   spread-accesslog  the same with --access-log to a file
# Both TLS servers get the same self-signed ECDSA P-256 certificate, made
# with openssl at the start of the run.
#
# Per run, wrk -t1 -c${BENCH_CONNECTIONS} -d${BENCH_SECONDS}s:
#   keepalive   requests/s on kept-alive connections (TLS: record layer only)
#   handshake   (TLS subjects) the same with "Connection: close": every
#               request is a new TCP connection and a full TLS handshake
#               (wrk does not resume sessions), so requests/s = handshakes/s
# The load average is read before each run; other sessions share the cores.
#
# Output: a markdown table of medians on stdout, also saved as
# bench/results-tls.md; every run in bench/results-tls.csv.
#
# Environment: ROUNDS=3, BENCH_SECONDS=5, BENCH_CONNECTIONS=64,
# BENCH_WORKERS=2, SPREAD=bin/spread, BENCH_TLS_CSV=bench/results-tls.csv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNECTIONS:-64}
WORKERS=${BENCH_WORKERS:-2}
SPREAD=${SPREAD:-$ROOT/bin/spread}
CSV=${BENCH_TLS_CSV:-$ROOT/bench/results-tls.csv}
MD=${CSV%.csv}.md

note() { echo "bench-tls: $*" >&2; }
die() { note "$*"; exit 2; }

[[ -x $SPREAD ]] || die "$SPREAD is missing: run make build"
command -v wrk >/dev/null || bash "$ROOT/scripts/deps.sh" wrk=wrk
command -v nginx >/dev/null || bash "$ROOT/scripts/deps.sh" nginx=nginx
command -v openssl >/dev/null || bash "$ROOT/scripts/deps.sh" openssl=openssl
NGINX=$(command -v nginx)

WORK=$(mktemp -d /tmp/spread-bench-tls.XXXXXX)
SERVER_PID=""
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start SUBJECT PORT: runs the server in the background (SERVER_PID) and
# waits, at most 20 s, until it answers.
start() {
  local subject=$1 port=$2 scheme=http
  case $subject in
    nginx-tls)
      scheme=https
      mkdir -p "$WORK/nginx"
      cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
master_process on;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port ssl reuseport;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    keepalive_requests 1000000;
    location / { return 200 "hello\n"; }
  }
}
CONF
      "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/server.log" 2>&1 &
      ;;
    spread-tls)
      scheme=https
      "$SPREAD" serve --addr "127.0.0.1:$port" --workers "$WORKERS" --control-socket "$WORK/ctl-$port.sock" \
        --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --log-format json >"$WORK/server.log" 2>&1 &
      ;;
    spread)
      "$SPREAD" serve --addr "127.0.0.1:$port" --workers "$WORKERS" --control-socket "$WORK/ctl-$port.sock" \
        --log-format json >"$WORK/server.log" 2>&1 &
      ;;
    spread-accesslog)
      "$SPREAD" serve --addr "127.0.0.1:$port" --workers "$WORKERS" --control-socket "$WORK/ctl-$port.sock" \
        --access-log "$WORK/access.log" --log-format json >"$WORK/server.log" 2>&1 &
      ;;
    *) die "unknown subject $subject" ;;
  esac
  SERVER_PID=$!
  URL="$scheme://127.0.0.1:$port/"
  for _ in $(seq 200); do
    curl -ksf -o /dev/null "$URL" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/server.log" >&2
  die "$subject did not answer on $URL within 20 s"
}

# run_wrk MODE: requests/s of one wrk run against URL; fails on socket
# errors other than the closes a handshake run asks for, or non-2xx answers.
run_wrk() {
  local mode=$1 out
  local args=(-t1 -c"$CONNS" -d"${DURATION}s")
  [[ $mode == handshake ]] && args+=(-H "Connection: close")
  out=$(timeout $((DURATION + 30)) wrk "${args[@]}" "$URL")
  if grep -q "Non-2xx" <<<"$out"; then
    echo "$out" >&2
    die "non-2xx answers from $URL"
  fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

loadavg() { cut -d' ' -f1 /proc/loadavg; }

median() { sort -n | awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }

echo "round,subject,mode,requests_per_sec,loadavg_1m" >"$CSV"
for round in $(seq "$ROUNDS"); do
  for subject in nginx-tls spread-tls spread spread-accesslog; do
    port=$(free_port)
    start "$subject" "$port"
    modes=(keepalive)
    [[ $subject == *tls ]] && modes+=(handshake)
    for mode in "${modes[@]}"; do
      load=$(loadavg)
      rate=$(run_wrk "$mode")
      note "round $round $subject $mode: $rate req/s (load average $load)"
      echo "$round,$subject,$mode,$rate,$load" >>"$CSV"
    done
    stop_server
  done
done

med() { awk -F, -v s="$1" -v m="$2" '$2==s && $3==m {print $4}' "$CSV" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
  echo "TLS and access log, $(date -u +%Y-%m-%d), $(nproc) cores, $ROUNDS rounds of ${DURATION}s, wrk -t1 -c$CONNS, $WORKERS workers each;"
  echo "load average during the runs: $(awk -F, 'NR>1 {print $5}' "$CSV" | median) (median; other sessions share the cores)."
  echo
  echo "| measure | nginx | spread | spread / nginx |"
  echo "| --- | --- | --- | --- |"
  for mode in keepalive handshake; do
    n=$(med nginx-tls "$mode") s=$(med spread-tls "$mode")
    label="TLS requests/s, keep-alive"
    [[ $mode == handshake ]] && label="TLS handshakes/s (new connection per request)"
    echo "| $label | $n | $s | $(ratio "$s" "$n") |"
  done
  off=$(med spread keepalive) on=$(med spread-accesslog keepalive)
  cost=$(awk -v a="$on" -v b="$off" 'BEGIN { if (a > 0 && b > 0) printf "%.1f", 1e6 / a - 1e6 / b; else print "-" }')
  echo
  echo "| access log | requests/s | |"
  echo "| --- | --- | --- |"
  echo "| off | $off | |"
  echo "| on (file) | $on | $(ratio "$on" "$off") of off; ${cost} µs more per request (wall time at this load) |"
} | tee "$MD"
