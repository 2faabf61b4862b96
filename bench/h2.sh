#!/usr/bin/env bash
# HTTP/2 side by side: h2load (h2c, prior knowledge) through outrigger, HAProxy 2.6 (`bind ...
# proto h2`) and nginx 1.22 (`listen ... http2`), each one worker pinned to one CPU, in front of
# the same two nginx `return 200` upstreams spoken to in HTTP/1.1 with keep-alive (the canary's
# 90/10 split). 1, 10 and 100 streams per connection. Prints req/s, req/s per proxy CPU-second
# (the per-core figure) and the proxy's RSS after the run.
#
#   bash bench/h2.sh                        # 300,000 requests per run, 10 connections, streams 1 10 100
#   REQUESTS=100000 CONNS=20 bash bench/h2.sh
#
# h2 → h1 is the one path all three proxies serve; outrigger's h2 → h2 (an http2 node listener)
# is exercised by tests/integration/http2 and not compared here (nginx cannot proxy h2 upstream).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
. "$HERE/lib/common.sh"
REQUESTS=${REQUESTS:-300000}      # per run (h2load -n: its -D mode sends nothing to nginx 1.22)
CONNS=${CONNS:-10}
STREAMS=${STREAMS:-"1 10 100"}
PROXIES=${PROXIES:-"outrigger haproxy nginx"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUTRIGGER=${OUTRIGGER:-$ROOT/build-bench/outrigger}
MESH=${MESH:-$ROOT/examples/canary/mesh.yaml}
AUTHORITY=my-interview-service.my-app:8080
V1_HOST=my-interview-service-v1.my-app.svc.cluster.local:8080
V2_HOST=my-interview-service-v2.my-app.svc.cluster.local:8080
need_peers h2load:nghttp2-client nginx:nginx haproxy:haproxy taskset:util-linux
NGINX=$(command -v nginx); HAPROXY=$(command -v haproxy)
[ -x "$OUTRIGGER" ] || (cd "$ROOT" && BUILD_DIR=build-bench BUILD_TYPE=Release bash scripts/build.sh >&2)
RUN=$(mktemp -d /tmp/outrigger-h2bench.XXXXXX)
mkdir -p "$RUN/tmp"; chmod 755 "$RUN" "$RUN/tmp"
trap 'stop_all' EXIT
USER_LINE=""; if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;"; fi
read -r V1_PORT V2_PORT O_PORT H_PORT N_PORT <<<"$(free_ports 5)"
declare -A PORT=([outrigger]=$O_PORT [haproxy]=$H_PORT [nginx]=$N_PORT) PID

for v in v1:$V1_PORT v2:$V2_PORT; do
  render "$HERE/peers/nginx-upstream.conf.in" "$RUN/upstream-${v%%:*}.conf" \
    RUN="$RUN" NAME="${v%%:*}" PORT="${v##*:}" USER="$USER_LINE"
  start_bg "upstream-${v%%:*}" "$LOAD_CPU" "$NGINX" -p "$RUN" -c "$RUN/upstream-${v%%:*}.conf"
  wait_listen "upstream-${v%%:*}" "$LAST_PID" "${v##*:}"
done

cat >"$RUN/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 5000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend h2
    bind 127.0.0.1:$H_PORT proto h2
    default_backend canary
backend canary
    balance roundrobin
    http-reuse always
    server v1 127.0.0.1:$V1_PORT weight 90
    server v2 127.0.0.1:$V2_PORT weight 10
EOF
cat >"$RUN/nginx-h2.conf" <<EOF
$USER_LINE
worker_processes 1;
daemon off;
pid $RUN/nginx-h2.pid;
error_log $RUN/nginx-h2.error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    client_body_temp_path $RUN/tmp/b; proxy_temp_path $RUN/tmp/p; fastcgi_temp_path $RUN/tmp/f;
    uwsgi_temp_path $RUN/tmp/u; scgi_temp_path $RUN/tmp/s;
    http2_max_concurrent_streams 128;
    keepalive_requests 100000000;  # else nginx ends each h2 connection after 1,000 requests
    upstream canary { server 127.0.0.1:$V1_PORT weight=9; server 127.0.0.1:$V2_PORT weight=1; keepalive 256; }
    server {
        listen 127.0.0.1:$N_PORT http2;
        location / { proxy_pass http://canary; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
for p in $PROXIES; do
  case $p in
    outrigger) start_bg outrigger "$PROXY_CPU" "$OUTRIGGER" run --mesh "$MESH" --workers 1 \
                 --egress-port "$O_PORT" --ingress-port 0 --admin-port 0 \
                 --connect-to "$V1_HOST:127.0.0.1:$V1_PORT" --connect-to "$V2_HOST:127.0.0.1:$V2_PORT" ;;
    haproxy) start_bg haproxy "$PROXY_CPU" "$HAPROXY" -db -f "$RUN/haproxy.cfg" ;;
    nginx) start_bg nginx "$PROXY_CPU" "$NGINX" -p "$RUN" -c "$RUN/nginx-h2.conf" ;;
  esac
  PID[$p]=$LAST_PID
  wait_listen "$p" "$LAST_PID" "${PORT[$p]}"
done
cpu_pids() { if [ "$1" = nginx ]; then children "${PID[nginx]}"; echo "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }

printf '%-10s %7s %10s %14s %9s\n' proxy streams req/s req/s/cpu-s rss_kB
for m in $STREAMS; do
  for p in $PROXIES; do
    # shellcheck disable=SC2046
    t0=$(cpu_ticks $(cpu_pids "$p"))
    out=$(taskset -c "$LOAD_CPU" h2load -c "$CONNS" -m "$m" -n "$REQUESTS" \
      -H ":authority: $AUTHORITY" "http://127.0.0.1:${PORT[$p]}/" 2>&1)
    # shellcheck disable=SC2046
    t1=$(cpu_ticks $(cpu_pids "$p"))
    rps=$(awk '/^finished in/ {gsub(",", ""); print $4}' <<<"$out")
    ok=$(awk '/^requests:/ {print $8}' <<<"$out")
    cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN {print (b - a) / hz}')
    done_n=$(awk '/^requests:/ {print $6}' <<<"$out")
    per=$(awk -v n="$done_n" -v c="$cpu_s" 'BEGIN {if (c > 0) printf "%.0f", n / c; else print "-"}')
    # shellcheck disable=SC2046
    printf '%-10s %7s %10s %14s %9s  (%s succeeded)\n' "$p" "$m" "$rps" "$per" "$(rss_kb $(cpu_pids "$p"))" "$ok"
  done
done
