#!/usr/bin/env bash
# Ingress gateway side by side (issue 18): wrk on /paths/x through outrigger `run --gateway`
# (VirtualGateway + GatewayRoute prefix /paths/ rewritten to / → virtual service → router 90/10
# → two nodes, bench/peers/gateway-mesh.yaml), nginx (`location /paths/ { proxy_pass
# http://app/; }`) and HAProxy 2.6 (`http-request replace-path /paths/(.*) /\1`), each one worker
# pinned to PROXY_CPU, in front of the same two nginx `return 200` upstreams (weights 90/10,
# upstream keep-alive, the fairness settings of bench/peers/*.in) on LOAD_CPU. Direct-to-upstream
# (v1, on /x) is the ceiling. The upstreams answer 404 on /paths/, so an unrewritten request
# cannot pass as a success.
#
# Per proxy: req/s, req/s per proxy CPU-second (utime+stime over the run divided into wrk's
# request count), p50/p99 (wrk --latency), non-2xx + socket errors, RSS after the run.
#
#   bash bench/gateway_compare.sh                   # wrk -t1 -c50 -d10s, one run per proxy
#   DURATION=2 bash bench/gateway_compare.sh        # quick look
#   REPS=3 CONNS=200 bash bench/gateway_compare.sh  # interleaved repetitions
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
REPS=${REPS:-1}
WARMUP=${WARMUP:-1}             # seconds of unmeasured load per path before the first rep
PROXIES=${PROXIES:-"outrigger nginx haproxy"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}
OUTRIGGER=${OUTRIGGER:-$ROOT/build-bench/outrigger}
MESH=${MESH:-$HERE/peers/gateway-mesh.yaml}
URL_PATH=${URL_PATH:-/paths/x}
case "$DURATION$CONNS$REPS$WARMUP" in *[!0-9]*) die "DURATION, CONNS, REPS and WARMUP must be whole numbers";; esac
for p in $PROXIES; do
  case $p in outrigger | nginx | haproxy) ;; *) die "unknown proxy '$p' in PROXIES (outrigger nginx haproxy)";; esac
done

need_peers wrk:wrk nginx:nginx haproxy:haproxy curl:curl taskset:util-linux
NGINX=$(command -v nginx); HAPROXY=$(command -v haproxy)
HAPROXY_VER=$($HAPROXY -v 2>/dev/null | awk 'NR == 1 {print $3}')
case $HAPROXY_VER in 2.6.*) ;; *) log "warning: HAProxy $HAPROXY_VER, the fairness notes assume 2.6";; esac
[ -x "$OUTRIGGER" ] || (cd "$ROOT" && BUILD_DIR=build-bench BUILD_TYPE=Release bash scripts/build.sh >&2)
[ -f "$MESH" ] || die "mesh file $MESH not found"

RUN=$(mktemp -d /tmp/outrigger-gwbench.XXXXXX)
mkdir -p "$RUN/tmp"; chmod 755 "$RUN" "$RUN/tmp"
trap 'stop_all' EXIT
trap 'log "interrupted"; exit 130' INT TERM
USER_LINE=""; if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;"; fi
read -r V1_PORT V2_PORT O_PORT N_PORT H_PORT <<<"$(free_ports 5)"
declare -A PORT=([direct]=$V1_PORT [outrigger]=$O_PORT [nginx]=$N_PORT [haproxy]=$H_PORT) PID

log "scratch in $RUN; upstreams v1 127.0.0.1:$V1_PORT, v2 127.0.0.1:$V2_PORT (CPU $LOAD_CPU)"
for v in v1:$V1_PORT v2:$V2_PORT; do
  name=${v%%:*}; port=${v##*:}
  render "$HERE/peers/nginx-upstream.conf.in" "$RUN/upstream-$name.conf" \
    RUN="$RUN" NAME="$name" PORT="$port" USER="$USER_LINE"
  # A request that reaches the upstream unrewritten gets a 404, never the version body.
  sed -i 's|^\( *\)location / {|\1location /paths/ { return 404 "not rewritten\\n"; }\n\1location / {|' "$RUN/upstream-$name.conf"
  grep -q 'not rewritten' "$RUN/upstream-$name.conf" || die "could not add the /paths/ guard to $RUN/upstream-$name.conf"
  start_bg "upstream-$name" "$LOAD_CPU" "$NGINX" -p "$RUN" -e "$RUN/upstream-$name.error.log" -c "$RUN/upstream-$name.conf"
  wait_listen "upstream-$name" "$LAST_PID" "$port"
done

# nginx: bench/peers/nginx-proxy.conf.in with the ingress location: proxy_pass with a URI part
# replaces the matched /paths/ with /.
render "$HERE/peers/nginx-proxy.conf.in" "$RUN/nginx-gw.conf" \
  RUN="$RUN" PORT="$N_PORT" V1_PORT="$V1_PORT" V2_PORT="$V2_PORT" USER="$USER_LINE"
sed -i -e 's|^\( *\)location / {|\1location /paths/ {|' -e 's|proxy_pass http://app;|proxy_pass http://app/;|' "$RUN/nginx-gw.conf"
grep -q 'location /paths/ {' "$RUN/nginx-gw.conf" && grep -q 'proxy_pass http://app/;' "$RUN/nginx-gw.conf" ||
  die "could not turn $RUN/nginx-gw.conf into the ingress config"
# HAProxy: bench/peers/haproxy.cfg.in with the rewrite on the frontend; other paths get 404.
render "$HERE/peers/haproxy.cfg.in" "$RUN/haproxy-gw.cfg" \
  RUN="$RUN" PORT="$H_PORT" V1_PORT="$V1_PORT" V2_PORT="$V2_PORT"
sed -i 's|^\( *\)default_backend be|\1acl paths path_beg /paths/\n\1http-request deny deny_status 404 unless paths\n\1http-request replace-path /paths/(.*) /\\1\n\1default_backend be|' "$RUN/haproxy-gw.cfg"
grep -q 'replace-path /paths/(.\*) /\\1' "$RUN/haproxy-gw.cfg" || die "could not add the rewrite to $RUN/haproxy-gw.cfg"

for p in $PROXIES; do
  log "starting $p on CPU $PROXY_CPU (127.0.0.1:${PORT[$p]})"
  case $p in
    outrigger)
      start_bg outrigger "$PROXY_CPU" "$OUTRIGGER" run --mesh "$MESH" --gateway bench/ingress --workers 1 \
        --gateway-address 127.0.0.1 --gateway-port "8088=$O_PORT" --admin-port 0 --no-watch \
        --connect-to "v1.bench.svc.cluster.local:8080:127.0.0.1:$V1_PORT" \
        --connect-to "v2.bench.svc.cluster.local:8080:127.0.0.1:$V2_PORT" ;;
    nginx)
      "$NGINX" -t -q -p "$RUN" -e "$RUN/nginx-gw.error.log" -c "$RUN/nginx-gw.conf" 2>"$RUN/nginx.t.err" ||
        { cat "$RUN/nginx.t.err" >&2; die "nginx rejected $RUN/nginx-gw.conf"; }
      start_bg nginx "$PROXY_CPU" "$NGINX" -p "$RUN" -e "$RUN/nginx-gw.error.log" -c "$RUN/nginx-gw.conf" ;;
    haproxy)
      "$HAPROXY" -c -q -f "$RUN/haproxy-gw.cfg" 2>"$RUN/haproxy.c.err" ||
        { cat "$RUN/haproxy.c.err" >&2; die "haproxy rejected $RUN/haproxy-gw.cfg"; }
      start_bg haproxy "$PROXY_CPU" "$HAPROXY" -db -f "$RUN/haproxy-gw.cfg" ;;
  esac
  PID[$p]=$LAST_PID
  wait_listen "$p" "$LAST_PID" "${PORT[$p]}"
done
cpu_pids() { if [ "$1" = nginx ]; then children "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }
rss_pids() { if [ "$1" = nginx ]; then echo "${PID[nginx]}"; children "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }
path_of() { if [ "$1" = direct ]; then echo "/${URL_PATH#/paths/}"; else echo "$URL_PATH"; fi; }

# Every path must answer 200 with a v1/v2 body (the rewrite happened: the upstreams 404 on
# /paths/), and every proxy 404 outside /paths/, before anything is measured.
for p in direct $PROXIES; do
  code=$(curl -s -o "$RUN/$p.probe" -w '%{http_code}' "http://127.0.0.1:${PORT[$p]}$(path_of "$p")" || true)
  if [ "$code" != 200 ] || ! grep -qE '^v[12]$' "$RUN/$p.probe"; then
    printf '[bench] error: %s on 127.0.0.1:%s%s answered %s with body:\n' "$p" "${PORT[$p]}" "$(path_of "$p")" "${code:-nothing}" >&2
    head -c 500 "$RUN/$p.probe" >&2; echo >&2
    [ "$p" = direct ] || tail -n 30 "$RUN/$p.err" >&2
    exit 1
  fi
  if [ "$p" != direct ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$p]}/other" || true)
    [ "$code" = 404 ] || die "$p answered $code (not 404) on /other, outside /paths/"
  fi
done

to_ms() { # wrk latency like 812.00us / 1.23ms / 2.01s -> ms
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.3f", n }'
}
HZ=$(getconf CLK_TCK)
# run_wrk PROXY SECONDS OUTFILE → cpu seconds of the proxy over the run (NA for direct)
run_wrk() {
  local p=$1 d=$2 f=$3 c0=0 c1=0
  # shellcheck disable=SC2046
  [ "$p" = direct ] || c0=$(cpu_ticks $(cpu_pids "$p"))
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${d}s" --timeout "$WRK_TIMEOUT" --latency \
    "http://127.0.0.1:${PORT[$p]}$(path_of "$p")" >"$f" 2>&1 </dev/null || true
  # shellcheck disable=SC2046
  [ "$p" = direct ] || c1=$(cpu_ticks $(cpu_pids "$p"))
  if [ "$p" = direct ]; then echo NA; else awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN {printf "%.3f", (b - a) / hz}'; fi
}

if [ "$WARMUP" -gt 0 ]; then
  for p in direct $PROXIES; do log "warm-up $p (${WARMUP}s, not measured)"; run_wrk "$p" "$WARMUP" "$RUN/warmup-$p.wrk" >/dev/null; done
fi

echo "# gateway_compare: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# outrigger $OUTRIGGER (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), HAProxy $HAPROXY_VER, nginx $($NGINX -v 2>&1 | sed 's/.*version: //')"
echo "# wrk -t1 -c$CONNS -d${DURATION}s --latency http://127.0.0.1:PORT$URL_PATH (direct: $(path_of direct) on v1)"
printf '%-4s %-10s %10s %14s %8s %8s %7s %9s\n' rep proxy req/s req/cpu-s p50_ms p99_ms errors rss_kB
for ((rep = 1; rep <= REPS; rep++)); do
  for p in direct $PROXIES; do
    f="$RUN/wrk-$p-r$rep.txt"
    cpu=$(run_wrk "$p" "$DURATION" "$f")
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
    req=$(awk '/requests in/ {print $1}' "$f")
    p50=$(awk '$1 == "50%" {print $2}' "$f"); p99=$(awk '$1 == "99%" {print $2}' "$f")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$f")
    sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$f")
    errs=$((${non2xx:-0} + ${sock:-0}))
    per=$(awk -v n="${req:-0}" -v c="$cpu" 'BEGIN {if (c != "NA" && c > 0) printf "%.0f", n / c; else print "-"}')
    if [ -z "$rps" ]; then log "wrk gave no result for $p: $(tr '\n' ' ' <"$f" | head -c 300)"; rps=NA; fi
    if [ "$p" = direct ]; then rss=-; elif kill -0 "${PID[$p]}" 2>/dev/null; then
      # shellcheck disable=SC2046
      rss=$(rss_kb $(rss_pids "$p"))
    else rss=DIED; log "$p died; stderr tail:"; tail -n 30 "$RUN/$p.err" >&2; fi
    printf '%-4s %-10s %10s %14s %8s %8s %7s %9s\n' "$rep" "$p" "$rps" "$per" \
      "$(to_ms "${p50:-0}")" "$(to_ms "${p99:-0}")" "$errs" "$rss"
    [ "$errs" -eq 0 ] || log "  $p: $(grep -E 'Non-2xx|Socket errors' "$f" | tr '\n' ' ')"
  done
done
stop_all
log "raw wrk output in $RUN/"
