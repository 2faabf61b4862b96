#!/usr/bin/env bash
# gRPC unary calls side by side (issue 16): h2load (h2c, prior knowledge) POSTs a fixed gRPC
# request (one length-prefixed protobuf message, `content-type: application/grpc`, `te:
# trailers`) to /bench.Echo/Say through
#   - outrigger: a sidecar's egress (node bench/client, bench/peers/grpc-mesh.yaml) → router with
#     a grpcRoute (serviceName bench.Echo) → node echo, whose listener is grpc: h2 upstream;
#   - HAProxy 2.6: `bind ... proto h2`, `server ... proto h2` (h2 both sides, `http-reuse always`);
#   - nginx 1.22: `listen ... http2`, `grpc_pass grpc://echo` (`keepalive 256`);
# each one worker pinned to PROXY_CPU, in front of one gRPC upstream on LOAD_CPU (with h2load).
# "direct" is h2load straight at the upstream: the ceiling.
#
# The upstream is nghttpd (nghttp2-server, C, one thread) serving a fixed HealthCheck-sized reply
# file for the method's path with `--trailer 'grpc-status: 0'`: HEADERS :status 200, DATA with
# one length-prefixed message, trailers `grpc-status: 0`, which is all a unary gRPC answer is (a
# grpcio client accepts it; the check below makes one call through every proxy when Debian's
# python3-grpcio is there). It answers ~80k calls/s on one core here. A grpcio server (the real
# library, handlers in Python) does ~12k/s on one core: it would be the bottleneck, not the
# proxies. nghttpd sends no content-type (the path has no extension); nothing on the path
# checks it. Its --echo-upload mode would echo the request but spools every upload to a temp
# file (~10k/s).
#
# Per proxy and stream count: calls/s, calls per proxy CPU-second (utime+stime over the run),
# the proxy's CPU share of the run, p50/p99 ms (from h2load --log-file), failed calls, upstream
# connections open after the run (multiplexing: nginx's grpc_pass uses one stream per upstream
# connection), RSS kB after the run.
#
#   bash bench/grpc_compare.sh                      # 200,000 calls per run; 10 and 100 streams
#   REQUESTS=50000 bash bench/grpc_compare.sh       # quick look
#   CONNS=2 STREAMS="50" PROXIES="outrigger haproxy" bash bench/grpc_compare.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
REQUESTS=${REQUESTS:-200000}      # per run (h2load -n)
CONNS=${CONNS:-1}                 # h2load connections; concurrent streams = CONNS × each of STREAMS
STREAMS=${STREAMS:-"10 100"}
WARMUP=${WARMUP:-20000}           # calls per target before the first measured run (0: none)
PROXIES=${PROXIES:-"outrigger haproxy nginx"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUTRIGGER=${OUTRIGGER:-$ROOT/build-bench/outrigger}
MESH=${MESH:-$HERE/peers/grpc-mesh.yaml}
METHOD=/bench.Echo/Say
AUTHORITY=echo.bench.svc.cluster.local:8080
case "$REQUESTS$CONNS$WARMUP${STREAMS// /}" in *[!0-9]*) die "REQUESTS, CONNS, WARMUP and STREAMS must be whole numbers";; esac
for p in $PROXIES; do
  case $p in outrigger | nginx | haproxy) ;; *) die "unknown proxy '$p' in PROXIES (outrigger haproxy nginx)";; esac
done

need_peers h2load:nghttp2-client nghttp:nghttp2-client nghttpd:nghttp2-server nginx:nginx \
  haproxy:haproxy taskset:util-linux ss:iproute2
NGINX=$(command -v nginx); HAPROXY=$(command -v haproxy); NGHTTPD=$(command -v nghttpd)
HAPROXY_VER=$($HAPROXY -v 2>/dev/null | awk 'NR == 1 {print $3}')
case $HAPROXY_VER in 2.6.*) ;; *) log "warning: HAProxy $HAPROXY_VER, the fairness notes assume 2.6";; esac
[ -x "$OUTRIGGER" ] || (cd "$ROOT" && BUILD_DIR=build-bench BUILD_TYPE=Release bash scripts/build.sh >&2)
[ -f "$MESH" ] || die "mesh file $MESH not found"

RUN=$(mktemp -d /tmp/outrigger-grpcbench.XXXXXX)
mkdir -p "$RUN/tmp" "$RUN/www${METHOD%/*}"; chmod 755 "$RUN" "$RUN/tmp"
trap 'stop_all' EXIT
trap 'log "interrupted"; exit 130' INT TERM
USER_LINE=""; if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;"; fi
read -r UP_PORT O_PORT H_PORT N_PORT <<<"$(free_ports 4)"
declare -A PORT=([direct]=$UP_PORT [outrigger]=$O_PORT [haproxy]=$H_PORT [nginx]=$N_PORT) PID

# Request: one message {1: "hello, outrigger"}; reply: {1: "hello back"} — protobuf field 1
# (tag 0x0a, length) inside the 5-byte gRPC prefix (uncompressed, 4-byte big-endian length).
printf '\0\0\0\0\x12\x0a\x10hello, outrigger' >"$RUN/request.bin"
printf '\0\0\0\0\x0c\x0a\x0ahello back' >"$RUN/www$METHOD"

log "scratch in $RUN; upstream nghttpd 127.0.0.1:$UP_PORT (CPU $LOAD_CPU)"
start_bg upstream "$LOAD_CPU" "$NGHTTPD" --no-tls --trailer 'grpc-status: 0' -d "$RUN/www" "$UP_PORT"
wait_listen upstream "$LAST_PID" "$UP_PORT"

cat >"$RUN/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend grpc
    bind 127.0.0.1:$H_PORT proto h2
    default_backend echo
backend echo
    http-reuse always
    server echo 127.0.0.1:$UP_PORT proto h2
EOF
cat >"$RUN/nginx-grpc.conf" <<EOF
$USER_LINE
worker_processes 1;
daemon off;
pid $RUN/nginx-grpc.pid;
error_log $RUN/nginx-grpc.error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    client_body_temp_path $RUN/tmp/b; proxy_temp_path $RUN/tmp/p; fastcgi_temp_path $RUN/tmp/f;
    uwsgi_temp_path $RUN/tmp/u; scgi_temp_path $RUN/tmp/s;
    http2_max_concurrent_streams 128;
    keepalive_requests 100000000;  # else nginx ends each h2 connection after 1,000 requests
    upstream echo { server 127.0.0.1:$UP_PORT; keepalive 256; keepalive_requests 100000000; }
    server {
        listen 127.0.0.1:$N_PORT http2;
        location / { grpc_pass grpc://echo; }
    }
}
EOF

for p in $PROXIES; do
  log "starting $p on CPU $PROXY_CPU (127.0.0.1:${PORT[$p]})"
  case $p in
    outrigger)
      start_bg outrigger "$PROXY_CPU" "$OUTRIGGER" run --mesh "$MESH" --node bench/client --workers 1 \
        --egress-port "$O_PORT" --ingress-port 0 --admin-port 0 --no-watch \
        --connect-to "$AUTHORITY:127.0.0.1:$UP_PORT" ;;
    haproxy)
      "$HAPROXY" -c -q -f "$RUN/haproxy.cfg" 2>"$RUN/haproxy.c.err" ||
        { cat "$RUN/haproxy.c.err" >&2; die "haproxy rejected $RUN/haproxy.cfg"; }
      start_bg haproxy "$PROXY_CPU" "$HAPROXY" -db -f "$RUN/haproxy.cfg" ;;
    nginx)
      "$NGINX" -t -q -p "$RUN" -e "$RUN/nginx-grpc.error.log" -c "$RUN/nginx-grpc.conf" 2>"$RUN/nginx.t.err" ||
        { cat "$RUN/nginx.t.err" >&2; die "nginx rejected $RUN/nginx-grpc.conf"; }
      start_bg nginx "$PROXY_CPU" "$NGINX" -p "$RUN" -e "$RUN/nginx-grpc.error.log" -c "$RUN/nginx-grpc.conf" ;;
  esac
  PID[$p]=$LAST_PID
  wait_listen "$p" "$LAST_PID" "${PORT[$p]}"
done
cpu_pids() { if [ "$1" = nginx ]; then children "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }
rss_pids() { if [ "$1" = nginx ]; then echo "${PID[nginx]}"; children "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }

# Every target must answer a call with :status 200, the reply message and grpc-status 0 in the
# trailers before anything is measured; a real gRPC client must accept it too when there is one.
GRPC_PEER=$ROOT/tests/integration/http2/grpc_peer.py
HAVE_GRPCIO=0; /usr/bin/python3 -c 'import grpc' 2>/dev/null && HAVE_GRPCIO=1
for p in direct $PROXIES; do
  nghttp -v -d "$RUN/request.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    -H ":authority: $AUTHORITY" "http://127.0.0.1:${PORT[$p]}$METHOD" >"$RUN/$p.probe" 2>&1 || true
  if ! grep -aq ':status: 200' "$RUN/$p.probe" || ! grep -aq 'grpc-status: 0' "$RUN/$p.probe"; then
    printf '[bench] error: %s on 127.0.0.1:%s did not answer a gRPC call (:status 200, grpc-status 0):\n' "$p" "${PORT[$p]}" >&2
    grep -a 'recv (stream_id=13)\|GOAWAY\|RST_STREAM' "$RUN/$p.probe" | head -20 >&2
    [ "$p" = direct ] || tail -n 30 "$RUN/$p.err" >&2
    exit 1
  fi
  if [ "$HAVE_GRPCIO" = 1 ]; then
    out=$(/usr/bin/python3 "$GRPC_PEER" call "127.0.0.1:${PORT[$p]}" "$AUTHORITY" "$METHOD" x 2>&1 || true)
    case $out in OK*) ;; *) die "$p: a grpcio client's call failed: $(head -c 300 <<<"$out")";; esac
  fi
done
[ "$HAVE_GRPCIO" = 1 ] || log "python3-grpcio not installed: checked the answers with nghttp only"

HZ=$(getconf CLK_TCK)
# run_h2load PROXY STREAMS N OUTFILE → cpu seconds of the proxy over the run (NA for direct);
# per-call latencies go to OUTFILE.lat (h2load --log-file: start µs, status, duration µs).
run_h2load() {
  local p=$1 m=$2 n=$3 f=$4 c0=0 c1=0
  # shellcheck disable=SC2046
  [ "$p" = direct ] || c0=$(cpu_ticks $(cpu_pids "$p"))
  taskset -c "$LOAD_CPU" h2load -c "$CONNS" -m "$m" -n "$n" -d "$RUN/request.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' -H ":authority: $AUTHORITY" \
    --log-file="$f.lat" "http://127.0.0.1:${PORT[$p]}$METHOD" >"$f" 2>&1 </dev/null || true
  # shellcheck disable=SC2046
  [ "$p" = direct ] || c1=$(cpu_ticks $(cpu_pids "$p"))
  if [ "$p" = direct ]; then echo NA; else awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN {printf "%.3f", (b - a) / hz}'; fi
}
# percentiles FILE → "p50 p99" in ms over the calls that got a status
percentiles() {
  awk '$2 > 0 {print $3}' "$1" | sort -n | awk '{v[NR] = $1} END {
    if (NR == 0) {print "NA NA"; exit}
    i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1;
    printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000 }'
}
up_conns() { # established connections from PROXY to the upstream port
  local pid n=0
  # shellcheck disable=SC2046
  for pid in $(cpu_pids "$1"); do
    n=$((n + $(ss -Htnp state established "( dport = :$UP_PORT )" 2>/dev/null | grep -c "pid=$pid," || true)))
  done
  echo "$n"
}

if [ "$WARMUP" -gt 0 ]; then
  for p in direct $PROXIES; do
    log "warm-up $p ($WARMUP calls, not measured)"
    run_h2load "$p" 10 "$WARMUP" "$RUN/warmup-$p.h2load" >/dev/null
  done
fi

echo "# grpc_compare: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# outrigger $OUTRIGGER (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), HAProxy $HAPROXY_VER, nginx $($NGINX -v 2>&1 | sed 's/.*version: //'), upstream nghttpd $($NGHTTPD --version 2>&1 | awk '{print $NF}')"
echo "# h2load -c$CONNS -m STREAMS -n$REQUESTS -d request.bin (content-type application/grpc, te trailers) POST $METHOD; proxy on CPU $PROXY_CPU, h2load and upstream on CPU $LOAD_CPU"
printf '%-10s %7s %9s %13s %6s %8s %8s %7s %8s %8s\n' proxy streams calls/s calls/cpu-s cpu% p50_ms p99_ms failed up_conns rss_kB
for m in $STREAMS; do
  for p in direct $PROXIES; do
    f="$RUN/h2load-$p-m$m.txt"
    cpu=$(run_h2load "$p" "$m" "$REQUESTS" "$f")
    rps=$(awk '/^finished in/ {gsub(",", ""); print $4}' "$f")
    total=$(awk '/^requests:/ {print $2}' "$f")
    ok=$(awk '/^status codes:/ {print $3}' "$f")   # 2xx answers (h2load does not read trailers)
    failed=$(( ${total:-0} - ${ok:-0} ))
    per=$(awk -v n="${ok:-0}" -v c="$cpu" 'BEGIN {if (c != "NA" && c > 0) printf "%.0f", n / c; else print "-"}')
    # CPU share of the run: proxy CPU-seconds over the wall time h2load took (calls ÷ calls/s).
    share=$(awk -v c="$cpu" -v n="${ok:-0}" -v r="${rps:-0}" 'BEGIN {if (c != "NA" && r > 0) printf "%.0f", 100 * c * r / n; else print "-"}')
    read -r p50 p99 <<<"$(percentiles "$f.lat")"
    if [ -z "$rps" ]; then log "h2load gave no result for $p: $(tr '\n' ' ' <"$f" | head -c 300)"; rps=NA; fi
    if [ "$p" = direct ]; then rss=-; conns=-; elif kill -0 "${PID[$p]}" 2>/dev/null; then
      # shellcheck disable=SC2046
      rss=$(rss_kb $(rss_pids "$p")); conns=$(up_conns "$p")
    else rss=DIED; conns=-; log "$p died; stderr tail:"; tail -n 30 "$RUN/$p.err" >&2; fi
    printf '%-10s %7s %9s %13s %6s %8s %8s %7s %8s %8s\n' "$p" "$((CONNS * m))" "${rps%.*}" "$per" "$share" \
      "$p50" "$p99" "$failed" "$conns" "$rss"
    [ "$failed" -eq 0 ] || log "  $p: $(grep -E '^requests:|^status codes:' "$f" | tr '\n' ' ')"
  done
done
stop_all
log "raw h2load output in $RUN/"
