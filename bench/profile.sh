#!/usr/bin/env bash
# Instruction profile of outrigger's request path: two nginx `return 200` upstreams, outrigger
# (one worker, the canary mesh: 90/10 weighted route) under callgrind, wrk keep-alive load for a
# fixed number of seconds. Prints instructions per request (repeatable, unaffected by machine
# load, unlike req/s) and the top functions by inclusive and self cost.
#
#   bash bench/profile.sh                       # 20 s of load at 10 connections
#   SECONDS_LOAD=30 CONNS=50 bash bench/profile.sh
#   TOOL=perf bash bench/profile.sh             # perf record (software clock) instead of callgrind
#   MODE=gateway bash bench/profile.sh          # `run --gateway` on bench/peers/gateway-mesh.yaml
#                                               # (GET /paths/x: prefix rewrite, then the 90/10 router)
#
# Needs valgrind (or perf), wrk and nginx; installs them from Debian when missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
. "$HERE/lib/common.sh"
SECONDS_LOAD=${SECONDS_LOAD:-20}
CONNS=${CONNS:-10}
TOOL=${TOOL:-callgrind}
OUTRIGGER=${OUTRIGGER:-$ROOT/build-bench/outrigger}
MODE=${MODE:-sidecar}
case $MODE in
  sidecar)
    MESH=${MESH:-$ROOT/examples/canary/mesh.yaml}
    HOST_HEADER=my-interview-service.my-app:8080
    URL_PATH=/
    V1_HOST=my-interview-service-v1.my-app.svc.cluster.local:8080
    V2_HOST=my-interview-service-v2.my-app.svc.cluster.local:8080 ;;
  gateway)
    MESH=${MESH:-$HERE/peers/gateway-mesh.yaml}
    HOST_HEADER=ingress.example.com
    URL_PATH=/paths/x
    V1_HOST=v1.bench.svc.cluster.local:8080
    V2_HOST=v2.bench.svc.cluster.local:8080 ;;
  *) die "MODE must be sidecar or gateway" ;;
esac
case $TOOL in
  callgrind) need_peers wrk:wrk nginx:nginx valgrind:valgrind ;;
  perf) need_peers wrk:wrk nginx:nginx perf:linux-perf ;;
  *) die "TOOL must be callgrind or perf" ;;
esac
[ -x "$OUTRIGGER" ] || (cd "$ROOT" && BUILD_DIR=build-bench bash scripts/build.sh >&2)
RUN=$(mktemp -d /tmp/outrigger-profile.XXXXXX)
mkdir -p "$RUN/tmp"
cleanup() {
  for p in "${STARTED_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
read -r V1_PORT V2_PORT PORT < <(free_ports 3)
for v in v1:$V1_PORT v2:$V2_PORT; do
  name=${v%%:*}; port=${v##*:}
  sed -e "s|@RUN@|$RUN|g" -e "s|@PORT@|$port|g" -e "s|@NAME@|$name|g" -e "s|@USER@||" \
    "$HERE/peers/nginx-upstream.conf.in" >"$RUN/upstream-$name.conf"
  start_bg "upstream-$name" 1 nginx -p "$RUN" -e "$RUN/upstream-$name.error.log" -c "$RUN/upstream-$name.conf"
  wait_listen "upstream-$name" "$LAST_PID" "$port"
done
args=(run --mesh "$MESH" --workers 1 --admin-port 0
  --connect-to "$V1_HOST:127.0.0.1:$V1_PORT" --connect-to "$V2_HOST:127.0.0.1:$V2_PORT")
if [ "$MODE" = gateway ]; then
  args+=(--gateway bench/ingress --gateway-address 127.0.0.1 --gateway-port "8088=$PORT" --no-watch)
else
  args+=(--egress-port "$PORT" --ingress-port 0)
fi
case $TOOL in
  callgrind)
    start_bg outrigger 0 valgrind --tool=callgrind --callgrind-out-file="$RUN/callgrind.out" \
      --instr-atstart=no "$OUTRIGGER" "${args[@]}"
    wait_listen outrigger "$LAST_PID" "$PORT" 60
    OPID=$LAST_PID
    # Warm up (pools, first DNS lookups), then count only the measured load.
    wrk -t1 -c "$CONNS" -d 2s -H "Host: $HOST_HEADER" "http://127.0.0.1:$PORT$URL_PATH" >/dev/null
    callgrind_control -i on "$OPID" >/dev/null 2>&1 || true   # instrument from here: the measured load
    ;;
  perf)
    start_bg outrigger 0 "$OUTRIGGER" "${args[@]}"
    wait_listen outrigger "$LAST_PID" "$PORT"
    OPID=$LAST_PID
    wrk -t1 -c "$CONNS" -d 2s -H "Host: $HOST_HEADER" "http://127.0.0.1:$PORT$URL_PATH" >/dev/null
    perf record -e cpu-clock -F 2000 -g -p "$OPID" -o "$RUN/perf.data" 2>"$RUN/perf.err" &
    PERF_PID=$!
    ;;
esac
taskset -c 1 wrk -t1 -c "$CONNS" -d "${SECONDS_LOAD}s" -H "Host: $HOST_HEADER" "http://127.0.0.1:$PORT$URL_PATH" | tee "$RUN/wrk.txt"
requests=$(awk '/requests in/ {print $1}' "$RUN/wrk.txt")
case $TOOL in
  callgrind)
    callgrind_control -i off "$OPID" >/dev/null 2>&1 || true
    kill -TERM "$OPID"; wait "$OPID" 2>/dev/null || true
    out=$RUN/callgrind.out
    [ -s "$out" ] || die "callgrind wrote no dump at $out"
    total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !t {gsub(",", "", $1); t = $1} END {print t}')
    echo
    echo "requests: $requests   instructions: $total   per request: $((total / requests))"
    echo
    echo "--- top inclusive ---"
    callgrind_annotate --inclusive=yes "$out" 2>/dev/null | sed -n '/^Ir/,$p' | head -45 || true
    echo "--- top self ---"
    callgrind_annotate "$out" 2>/dev/null | sed -n '/^Ir/,$p' | head -45 || true
    echo "(full profile: $out; kcachegrind or callgrind_annotate)"
    trap - EXIT; cleanup
    ;;
  perf)
    kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true
    echo "requests: $requests"
    perf report -i "$RUN/perf.data" --no-children --percent-limit 0.7 --stdio 2>/dev/null | grep -v '^$' | grep -E '^ +[0-9]' | head -50
    echo "(full profile: $RUN/perf.data)"
    ;;
esac
