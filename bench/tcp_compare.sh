#!/usr/bin/env bash
# TCP side by side (issue 17): redis-benchmark through outrigger (`run --tcp-listen`, a tcpRoute),
# HAProxy 2.6 (`mode tcp`, nbthread 1) and nginx 1.22 (`stream {}`, one worker), each pinned to
# PROXY_CPU, in front of one redis-server on LOAD_CPU; direct-to-redis is the ceiling. Two parts:
#
#   small ops:  redis-benchmark --csv -n N -t set / -t get -P 1 -c 50   (ops/s, p50, p99)
#   bulk:       redis-benchmark --csv -n BULK_N -t set / -t get -d BULK_SIZE -c 4 (GB/s: a 1 MB
#               value per op, SET moves it client → redis, GET redis → client)
#
# Per proxy and test: ops/s, ops per proxy CPU-second (the proxy's utime+stime over the run,
# divided into the op count), p50/p99 (redis-benchmark's), GB/s for bulk, the proxy's RSS after.
#
#   bash bench/tcp_compare.sh                        # N=100000, BULK_N=1000 (~1 GB each way)
#   N=5000 BULK_N=50 bash bench/tcp_compare.sh       # quick look
#   PROXIES="outrigger haproxy" bash bench/tcp_compare.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
N=${N:-100000}                  # requests per small-op test
CONNS=${CONNS:-50}
BULK_N=${BULK_N:-1000}          # requests per bulk test (0 = skip bulk)
BULK_SIZE=${BULK_SIZE:-1000000} # bytes per bulk value
BULK_CONNS=${BULK_CONNS:-4}
PROXIES=${PROXIES:-"outrigger haproxy nginx"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUTRIGGER=${OUTRIGGER:-$ROOT/build-bench/outrigger}
MESH=${MESH:-$HERE/peers/tcp-mesh.yaml}
SERVICE=redis-server.bench.svc.cluster.local
case "$N$CONNS$BULK_N$BULK_SIZE$BULK_CONNS" in *[!0-9]*) die "N, CONNS, BULK_N, BULK_SIZE and BULK_CONNS must be whole numbers";; esac
for p in $PROXIES; do
  case $p in outrigger | nginx | haproxy) ;; *) die "unknown proxy '$p' in PROXIES (outrigger haproxy nginx)";; esac
done

need_peers redis-server:redis-server redis-benchmark:redis-tools redis-cli:redis-tools \
  haproxy:haproxy nginx:nginx taskset:util-linux
NGINX=$(command -v nginx); HAPROXY=$(command -v haproxy)
HAPROXY_VER=$($HAPROXY -v 2>/dev/null | awk 'NR == 1 {print $3}')
case $HAPROXY_VER in 2.6.*) ;; *) log "warning: HAProxy $HAPROXY_VER, the fairness notes assume 2.6";; esac
# nginx's stream module: built in, or Debian's dynamic module (libnginx-mod-stream).
STREAM_LOAD=""
if [[ " $PROXIES " == *" nginx "* ]] && ! "$NGINX" -V 2>&1 | grep -q -- '--with-stream\( \|$\)'; then
  find_stream() { ls /usr/share/nginx/modules/ngx_stream_module.so /usr/lib/nginx/modules/ngx_stream_module.so 2>/dev/null | head -n 1; }
  mod=$(find_stream)
  if [ -z "$mod" ]; then
    log "nginx has no stream module built in: installing libnginx-mod-stream"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    /usr/sbin/policy-rc.d >/dev/null 2>&1 || rc=$?
    if [ "${rc:-0}" -eq 101 ]; then
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libnginx-mod-stream >/dev/null 2>&1 ||
        { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libnginx-mod-stream >/dev/null 2>&1; } || true
    fi
    mod=$(find_stream)
  fi
  if [ -n "$mod" ]; then
    STREAM_LOAD="load_module $mod;"
  else
    log "nginx: no stream module (install libnginx-mod-stream): skipping nginx"
    PROXIES=$(tr ' ' '\n' <<<"$PROXIES" | grep -vx nginx | tr '\n' ' ')
  fi
fi
[ -x "$OUTRIGGER" ] || (cd "$ROOT" && BUILD_DIR=build-bench BUILD_TYPE=Release bash scripts/build.sh >&2)
[ -f "$MESH" ] || die "mesh file $MESH not found"

RUN=$(mktemp -d /tmp/outrigger-tcpbench.XXXXXX)
chmod 755 "$RUN"
trap 'stop_all' EXIT
trap 'log "interrupted"; exit 130' INT TERM
USER_LINE=""; if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;"; fi
read -r R_PORT O_PORT H_PORT N_PORT <<<"$(free_ports 4)"
declare -A PORT=([direct]=$R_PORT [outrigger]=$O_PORT [haproxy]=$H_PORT [nginx]=$N_PORT) PID

log "scratch in $RUN; redis-server on 127.0.0.1:$R_PORT (CPU $LOAD_CPU)"
start_bg redis "$LOAD_CPU" redis-server --port "$R_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --protected-mode no --daemonize no
wait_listen redis "$LAST_PID" "$R_PORT"

cat >"$RUN/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
defaults
    mode tcp
    maxconn 8000
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend fe
    bind 127.0.0.1:$H_PORT
    default_backend be
backend be
    retries 2
    server redis 127.0.0.1:$R_PORT
EOF
cat >"$RUN/nginx-stream.conf" <<EOF
$STREAM_LOAD
$USER_LINE
worker_processes 1;
daemon off;
master_process on;
pid $RUN/nginx-stream.pid;
error_log $RUN/nginx-stream.error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 8000; }
stream {
    upstream redis { server 127.0.0.1:$R_PORT; }
    server {
        listen 127.0.0.1:$N_PORT backlog=4096;
        proxy_pass redis;
        proxy_next_upstream_tries 3;
        proxy_timeout 300s;
    }
}
EOF
for p in $PROXIES; do
  log "starting $p on CPU $PROXY_CPU (127.0.0.1:${PORT[$p]})"
  case $p in
    outrigger)
      start_bg outrigger "$PROXY_CPU" "$OUTRIGGER" run --mesh "$MESH" --node bench/client --workers 1 \
        --admin-port 0 --no-watch --egress-port 0 --ingress-port 0 --ingress-address 127.0.0.1 \
        --tcp-listen "127.0.0.1:$O_PORT=$SERVICE:6379" \
        --connect-to "redis.bench.svc.cluster.local:6379:127.0.0.1:$R_PORT" ;;
    haproxy)
      "$HAPROXY" -c -q -f "$RUN/haproxy.cfg" 2>"$RUN/haproxy.c.err" ||
        { cat "$RUN/haproxy.c.err" >&2; die "haproxy rejected $RUN/haproxy.cfg"; }
      start_bg haproxy "$PROXY_CPU" "$HAPROXY" -db -f "$RUN/haproxy.cfg" ;;
    nginx)
      "$NGINX" -t -q -p "$RUN" -e "$RUN/nginx-stream.error.log" -c "$RUN/nginx-stream.conf" 2>"$RUN/nginx.t.err" ||
        { cat "$RUN/nginx.t.err" >&2; die "nginx rejected $RUN/nginx-stream.conf"; }
      start_bg nginx "$PROXY_CPU" "$NGINX" -p "$RUN" -e "$RUN/nginx-stream.error.log" -c "$RUN/nginx-stream.conf" ;;
  esac
  PID[$p]=$LAST_PID
  wait_listen "$p" "$LAST_PID" "${PORT[$p]}"
done
# CPU: nginx's worker(s), else the process. RSS: nginx master + worker(s), else the process.
cpu_pids() { if [ "$1" = nginx ]; then children "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }
rss_pids() { if [ "$1" = nginx ]; then echo "${PID[nginx]}"; children "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }

# Every path must round-trip a value before anything is measured.
for p in direct $PROXIES; do
  got=$(redis-cli -h 127.0.0.1 -p "${PORT[$p]}" set "probe:$p" "via-$p" 2>&1 && redis-cli -h 127.0.0.1 -p "${PORT[$p]}" get "probe:$p" 2>&1 || true)
  if [ "$(tr '\n' ' ' <<<"$got")" != "OK via-$p " ]; then
    printf '[bench] error: %s on 127.0.0.1:%s: SET/GET answered: %s\n' "$p" "${PORT[$p]}" "$got" >&2
    [ "$p" = direct ] || tail -n 30 "$RUN/$p.err" >&2
    exit 1
  fi
done

HZ=$(getconf CLK_TCK)
# bench PROXY TEST REQUESTS CONNS SIZE → "rps p50 p99 cpu_s" (cpu_s NA for direct); the raw
# output stays in $RUN/rb-PROXY-TEST-SIZE.csv.
bench() {
  local p=$1 t=$2 n=$3 c=$4 d=$5 f c0=0 c1=0 line
  f="$RUN/rb-$p-$t-$d.csv"
  # shellcheck disable=SC2046
  [ "$p" = direct ] || c0=$(cpu_ticks $(cpu_pids "$p"))
  taskset -c "$LOAD_CPU" redis-benchmark -h 127.0.0.1 -p "${PORT[$p]}" --csv -n "$n" -c "$c" -P 1 \
    -d "$d" -t "$t" >"$f" 2>&1 </dev/null || true
  # shellcheck disable=SC2046
  [ "$p" = direct ] || c1=$(cpu_ticks $(cpu_pids "$p"))
  # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  line=$(awk -F'"' -v t="${t^^}" '$2 == t {print $4, $10, $14}' "$f")
  [ -n "$line" ] || { log "redis-benchmark gave no $t result for $p: $(tr '\n' ' ' <"$f" | head -c 300)"; line="NA NA NA"; }
  if [ "$p" = direct ]; then echo "$line NA"; else
    echo "$line $(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN {printf "%.3f", (b - a) / hz}')"; fi
}
per_cpu() { awk -v n="$1" -v c="$2" 'BEGIN {if (c != "NA" && c > 0) printf "%.0f", n / c; else print "-"}'; }

echo "# tcp_compare: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# outrigger $OUTRIGGER (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), HAProxy $HAPROXY_VER, nginx $($NGINX -v 2>&1 | sed 's/.*version: //'), redis $(redis-server --version | awk '{sub("v=", "", $3); print $3}')"
echo "# small: redis-benchmark --csv -n $N -c $CONNS -P 1 -t set|get (3-byte values)"
[ "$BULK_N" -eq 0 ] || echo "# bulk:  redis-benchmark --csv -n $BULK_N -c $BULK_CONNS -P 1 -d $BULK_SIZE -t set|get"
printf '%-10s %-9s %10s %14s %8s %8s %8s %12s %9s\n' proxy test ops/s ops/cpu-s p50_ms p99_ms GB/s GB/cpu-s rss_kB
for p in direct $PROXIES; do
  rows=()
  for t in set get; do
    read -r rps p50 p99 cpu <<<"$(bench "$p" "$t" "$N" "$CONNS" 3)"
    rows+=("$(printf '%-10s %-9s %10s %14s %8s %8s %8s %12s' "$p" "$t" "$rps" "$(per_cpu "$N" "$cpu")" "$p50" "$p99" - -)")
  done
  if [ "$BULK_N" -gt 0 ]; then
    for t in set get; do
      read -r rps p50 p99 cpu <<<"$(bench "$p" "$t" "$BULK_N" "$BULK_CONNS" "$BULK_SIZE")"
      gbs=$(awk -v r="$rps" -v d="$BULK_SIZE" 'BEGIN {if (r == "NA") print "NA"; else printf "%.2f", r * d / 1e9}')
      gbc=$(awk -v n="$BULK_N" -v d="$BULK_SIZE" -v c="$cpu" 'BEGIN {if (c != "NA" && c > 0) printf "%.2f", n * d / 1e9 / c; else print "-"}')
      rows+=("$(printf '%-10s %-9s %10s %14s %8s %8s %8s %12s' "$p" "bulk-$t" "$rps" "$(per_cpu "$BULK_N" "$cpu")" "$p50" "$p99" "$gbs" "$gbc")")
    done
  fi
  if [ "$p" = direct ]; then rss=-; elif kill -0 "${PID[$p]}" 2>/dev/null; then
    # shellcheck disable=SC2046
    rss=$(rss_kb $(rss_pids "$p"))
  else rss=DIED; log "$p died; stderr tail:"; tail -n 30 "$RUN/$p.err" >&2; fi
  for r in "${rows[@]}"; do printf '%s %9s\n' "$r" "$rss"; done
done
stop_all
log "raw redis-benchmark output in $RUN/"
