#!/usr/bin/env bash
# Fault-and-soak run (issue 8 item 5; not part of the per-commit suite): DURATION seconds of wrk
# keep-alive load through outrigger while upstreams are SIGKILLed and restarted at random and the
# mesh is hot-reloaded (SIGHUP and POST /reload alternately, route weights changing). One command:
#
#   bash bench/soak.sh                 # the real run: 10 minutes
#   DURATION=60 bash bench/soak.sh     # a quick look
#
# Prints a Markdown summary and exits non-zero when outrigger crashed, when any request failed
# (non-2xx or a wrk socket error; with a live endpoint always left per target, every upstream
# failure here is one the route's retryPolicy should have saved), when RSS grew more than
# RSS_GROWTH_MB after warm-up, when fds leaked, or when a reload was refused.
# See bench/README.md ("Fault and soak run") for the setup and how failures are classified.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"

DURATION=${DURATION:-600}        # seconds of load
CONNS=${CONNS:-50}               # wrk connections (keep-alive)
WRK_THREADS=${WRK_THREADS:-2}
WRK_TIMEOUT=${WRK_TIMEOUT:-5s}   # a request without an answer for this long is a wrk timeout error
WORKERS=${WORKERS:-2}            # outrigger --workers
EPS=${EPS:-4}                    # endpoints (nginx upstreams) per target; two targets
MIN_LIVE=${MIN_LIVE:-2}          # never kill an endpoint if fewer than MIN_LIVE of its target stay up
KILL_EVERY=${KILL_EVERY:-"1 5"}  # seconds between kills: uniform in [min, max]
DOWN_FOR=${DOWN_FOR:-"1 6"}      # seconds an upstream stays dead before its restart
RELOAD_EVERY=${RELOAD_EVERY:-"2 6"}
SAMPLE_EVERY=${SAMPLE_EVERY:-10} # seconds between RSS/fd samples
WARMUP=${WARMUP:-}               # seconds before the RSS baseline; default min(60, DURATION/5)
RSS_GROWTH_MB=${RSS_GROWTH_MB:-10}
FD_SLACK=${FD_SLACK:-16}
FD_SETTLE=${FD_SETTLE:-70}       # seconds to wait after the load for idle pooled connections to close
SEED=${SEED:-$$}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$HERE/results/soak-$STAMP}
KEEP_ACCESS_LOG=${KEEP_ACCESS_LOG:-0}

case "$DURATION$CONNS$WORKERS$EPS$MIN_LIVE$SAMPLE_EVERY$RSS_GROWTH_MB$FD_SLACK$FD_SETTLE$WRK_THREADS${WARMUP}" in
  *[!0-9]*) die "DURATION, CONNS, WORKERS, EPS, MIN_LIVE, SAMPLE_EVERY, RSS_GROWTH_MB, FD_SLACK, FD_SETTLE, WRK_THREADS and WARMUP must be whole numbers" ;;
esac
[ "$DURATION" -ge 10 ] || die "DURATION must be at least 10 seconds"
{ [ "$MIN_LIVE" -ge 1 ] && [ "$MIN_LIVE" -lt "$EPS" ]; } || die "need 1 <= MIN_LIVE < EPS"
[ -n "$WARMUP" ] || WARMUP=$((DURATION / 5 < 60 ? DURATION / 5 : 60))
RANDOM=$SEED

# ---------------------------------------------------------------------------------------------
# 1. Peers (wrk, nginx, curl) from Debian; benchmark peers only. No service may start on install.
need_peers wrk:wrk nginx:nginx curl:curl taskset:util-linux
NGINX=$(command -v nginx)

# Binary: OUTRIGGER, else build-bench/ or build/ (RelWithDebInfo), else build build-bench/.
if [ -z "${OUTRIGGER:-}" ]; then
  for b in "$ROOT/build-bench/outrigger" "$ROOT/build/outrigger"; do
    if [ -x "$b" ]; then OUTRIGGER=$b; break; fi
  done
fi
if [ -z "${OUTRIGGER:-}" ]; then
  log "building outrigger into build-bench/ (RelWithDebInfo)"
  (cd "$ROOT" && bash scripts/setup.sh && BUILD_DIR=build-bench bash scripts/build.sh) >&2
  OUTRIGGER=$ROOT/build-bench/outrigger
fi
[ -x "$OUTRIGGER" ] || die "no outrigger binary at $OUTRIGGER"
BUILD_TYPE=$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$(dirname "$OUTRIGGER")/CMakeCache.txt" 2>/dev/null || true)
case $BUILD_TYPE in RelWithDebInfo | Release) ;; *) log "warning: $OUTRIGGER is a '${BUILD_TYPE:-unknown}' build; RSS and req/s are not release figures" ;; esac

# ---------------------------------------------------------------------------------------------
# 2. Scratch. Results are never committed (bench/results/.gitignore ignores itself).
mkdir -p "$OUT/run/tmp" "$HERE/results"
[ -f "$HERE/results/.gitignore" ] || printf '*\n' >"$HERE/results/.gitignore"
RUN=$OUT/run
chmod 755 "$OUT" "$RUN" "$RUN/tmp"
trap 'stop_all' EXIT
trap 'log "interrupted"; exit 130' INT TERM
CPUS="0-$(($(nproc) - 1))"
USER_LINE=""; if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;"; fi

# Upstream ports come from below the kernel's ephemeral range: a dead upstream's port must not be
# taken as the source port of one of outrigger's outgoing connections before the restart.
read -r EPH_LO _ </proc/sys/net/ipv4/ip_local_port_range
pick_low_ports() { # N -> N distinct ports in [EPH_LO-8000, EPH_LO) nobody listens on
  local n=$1 picked=() p
  while [ ${#picked[@]} -lt "$n" ]; do
    p=$((EPH_LO - 8000 + RANDOM % 8000))
    port_open "$p" && continue
    [[ " ${picked[*]} " == *" $p "* ]] && continue
    picked+=("$p")
  done
  echo "${picked[*]}"
}
read -r EGRESS_PORT ADMIN_PORT <<<"$(free_ports 2)"

# ---------------------------------------------------------------------------------------------
# 3. Mesh: a client node (access log with a short format), two targets (alpha, beta) with EPS
# endpoints each, one route with an explicit retryPolicy, weights rewritten by every reload.
# Several endpoints per node: DNS mode ENDPOINTS plus several --connect-to rules for the same
# HOST:PORT whose targets are IP literals (a static round-robin list, docs/decisions.md
# "Resilience"); /etc/hosts is not ours to edit and resolves a name to one address here.
MESH=$RUN/mesh.yaml
write_mesh() { # WEIGHT_ALPHA WEIGHT_BETA GENERATION: atomically replaces $MESH
  cat >"$MESH.tmp" <<YAML
# soak mesh, variant $3: alpha $1 / beta $2
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: {name: soak}
spec:
  egressFilter: {type: DROP_ALL}
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: client, namespace: soak}
spec:
  meshRef: {name: soak}
  backends:
    - virtualService:
        virtualServiceRef: {name: soak}
  logging:
    accessLog:
      file:
        path: /dev/stdout
        format:
          text: "%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_ATTEMPTS% %UPSTREAM_HOST% %BYTES_SENT% %DURATION%"
YAML
  local t
  for t in alpha beta; do
    cat >>"$MESH.tmp" <<YAML
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: $t, namespace: soak}
spec:
  meshRef: {name: soak}
  listeners:
    - portMapping: {port: 8080, protocol: http}
      outlierDetection:
        maxServerErrors: 2
        interval: {value: 1, unit: s}
        baseEjectionDuration: {value: 5, unit: s}
        maxEjectionPercent: 25
  serviceDiscovery:
    dns: {hostname: $t.soak.local, responseType: ENDPOINTS}
YAML
  done
  cat >>"$MESH.tmp" <<YAML
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: {name: soak, namespace: soak}
spec:
  meshRef: {name: soak}
  listeners:
    - portMapping: {port: 8080, protocol: http}
  routes:
    - name: all
      httpRoute:
        match: {prefix: /}
        action:
          weightedTargets:
            - virtualNodeRef: {name: alpha}
              weight: $1
            - virtualNodeRef: {name: beta}
              weight: $2
        retryPolicy:
          maxRetries: 3
          perRetryTimeout: {value: 2, unit: s}
          httpRetryEvents: [server-error, gateway-error]
          tcpRetryEvents: [connection-error]
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: {name: soak, namespace: soak}
spec:
  meshRef: {name: soak}
  awsName: soak.soak
  provider:
    virtualRouter:
      virtualRouterRef: {name: soak}
YAML
  mv "$MESH.tmp" "$MESH"
}
write_mesh 5 5 0
"$OUTRIGGER" validate --node soak/client "$MESH" >"$RUN/validate.out" 2>&1 ||
  { cat "$RUN/validate.out" >&2; die "the soak mesh does not validate"; }

# ---------------------------------------------------------------------------------------------
# 4. Upstreams: EPS nginx per target (one worker, `return 200`), killed with SIGKILL (master and
# worker at once: a worker outlives a killed master) and restarted on the same port.
declare -A UP_PORT UP_PID UP_TARGET UP_DOWN_UNTIL
UPSTREAMS=()
read -r -a LOW_PORTS <<<"$(pick_low_ports $((2 * EPS)))"
i=0
for t in alpha beta; do
  for ((k = 1; k <= EPS; k++)); do
    n=${t:0:1}$k
    UPSTREAMS+=("$n"); UP_TARGET[$n]=$t; UP_PORT[$n]=${LOW_PORTS[i]}; UP_DOWN_UNTIL[$n]=0
    i=$((i + 1))
    render "$HERE/peers/nginx-upstream.conf.in" "$RUN/upstream-$n.conf" \
      RUN="$RUN" NAME="$n" PORT="${UP_PORT[$n]}" USER="$USER_LINE"
  done
done

start_upstream() { # NAME -> 0 when it listens within 5 s
  local n=$1 j
  start_bg "upstream-$n" "$CPUS" "$NGINX" -p "$RUN" -e "$RUN/upstream-$n.error.log" -c "$RUN/upstream-$n.conf"
  UP_PID[$n]=$LAST_PID
  for ((j = 0; j < 100; j++)); do
    port_open "${UP_PORT[$n]}" && return 0
    kill -0 "${UP_PID[$n]}" 2>/dev/null || break
    sleep 0.05
  done
  log "upstream $n did not come back on :${UP_PORT[$n]}: $(tail -n 3 "$RUN/upstream-$n.err" "$RUN/upstream-$n.error.log" 2>/dev/null | tr '\n' ' ')"
  kill_upstream_pids "$n"
  return 1
}
forget_pid() { # PID: drop it from STARTED_PIDS (its number may be reused later)
  local kept=() p
  for p in "${STARTED_PIDS[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  STARTED_PIDS=("${kept[@]}")
}
kill_upstream_pids() { # NAME: SIGKILL master and workers, reap, forget
  local n=$1 m=${UP_PID[$1]} pids
  pids="$m $(children "$m" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  wait "$m" 2>/dev/null || true
  forget_pid "$m"
}
live_in() { # TARGET -> number of its endpoints up
  local t=$1 n c=0
  for n in "${UPSTREAMS[@]}"; do
    if [ "${UP_TARGET[$n]}" = "$t" ] && [ "${UP_DOWN_UNTIL[$n]}" = 0 ]; then c=$((c + 1)); fi
  done
  echo "$c"
}
rand_between() { # "MIN MAX" -> integer seconds uniform in [MIN, MAX]
  local lo hi; read -r lo hi <<<"$1"
  echo $((lo + RANDOM % (hi - lo + 1)))
}

log "results in $OUT (seed $SEED)"
log "starting ${#UPSTREAMS[@]} nginx upstreams: $(for n in "${UPSTREAMS[@]}"; do printf '%s:%s ' "$n" "${UP_PORT[$n]}"; done)"
for n in "${UPSTREAMS[@]}"; do start_upstream "$n" || die "upstream $n failed to start"; done

CONNECT_TO=()
for n in "${UPSTREAMS[@]}"; do CONNECT_TO+=(--connect-to "${UP_TARGET[$n]}.soak.local:8080:127.0.0.1:${UP_PORT[$n]}"); done

# ---------------------------------------------------------------------------------------------
# 5. outrigger. --no-watch: reloads happen only when this script triggers them, so each one is
# counted (the inotify watcher would otherwise reload on the file write first).
start_bg outrigger "$CPUS" "$OUTRIGGER" run --mesh "$MESH" --node soak/client --workers "$WORKERS" \
  --egress-port "$EGRESS_PORT" --ingress-port 0 --admin-port "$ADMIN_PORT" --no-watch \
  --access-log "$RUN/access.log" --log-level warn "${CONNECT_TO[@]}"
OR_PID=$LAST_PID
wait_listen outrigger "$OR_PID" "$EGRESS_PORT"
wait_listen outrigger "$OR_PID" "$ADMIN_PORT"
code=$(curl -s -o "$RUN/probe.out" -w '%{http_code}' -H 'Host: soak.soak' "http://127.0.0.1:$EGRESS_PORT/" || true)
[ "$code" = 200 ] || { cat "$RUN/probe.out" >&2; tail -n 20 "$RUN/outrigger.err" >&2; die "probe through outrigger answered ${code:-nothing}"; }

fds_of() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
admin() { curl -s --max-time 5 "$@"; }
prom() { # NAME -> sum of the family's samples in $1 (a saved /stats/prometheus)
  awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $NF} END {printf "%d\n", s}' "$1"
}

RSS_START=$(rss_kb "$OR_PID"); FD_START=$(fds_of "$OR_PID"); THREADS_START=$(threads_of "$OR_PID")
log "outrigger pid $OR_PID on :$EGRESS_PORT (admin :$ADMIN_PORT), RSS ${RSS_START} kB, $FD_START fds"

# ---------------------------------------------------------------------------------------------
# 6. The run: wrk in the background; one loop paces kills, restarts, reloads and samples.
log "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s; kills every $KILL_EVERY s (down $DOWN_FOR s, >= $MIN_LIVE of $EPS live per target), reloads every $RELOAD_EVERY s"
start_bg wrk "$CPUS" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout "$WRK_TIMEOUT" --latency \
  -H 'Host: soak.soak' "http://127.0.0.1:$EGRESS_PORT/"
WRK_PID=$LAST_PID
T0=$(date +%s)
printf 't_s\trss_kb\tfds\tthreads\tupstreams_down\treloads\n' >"$OUT/samples.tsv"
printf '0\t%s\t%s\t%s\t0\t0\n' "$RSS_START" "$FD_START" "$THREADS_START" >>"$OUT/samples.tsv"
: >"$OUT/events.log"
event() { printf '%4ds %s\n' "$(($(date +%s) - T0))" "$*" >>"$OUT/events.log"; }

KILLS=0; RESTARTS=0; RESTART_FAILS=0; SKIPPED_KILLS=0
RELOADS_SIGHUP=0; RELOADS_POST=0; RELOAD_REFUSED=0; WEIGHT_A=5
RSS_BASE=""; RSS_MAX_AFTER=0; RSS_MAX=$RSS_START; CRASHED=0
next_kill=$((T0 + $(rand_between "$KILL_EVERY")))
next_reload=$((T0 + $(rand_between "$RELOAD_EVERY")))
next_sample=$((T0 + SAMPLE_EVERY))

while kill -0 "$WRK_PID" 2>/dev/null; do
  now_s=$(date +%s)
  if ! kill -0 "$OR_PID" 2>/dev/null; then
    CRASHED=1; event "outrigger DIED"; log "outrigger DIED during the run"; break
  fi
  # Restarts due.
  for n in "${UPSTREAMS[@]}"; do
    d=${UP_DOWN_UNTIL[$n]}
    if [ "$d" != 0 ] && [ "$now_s" -ge "$d" ]; then
      if start_upstream "$n"; then
        UP_DOWN_UNTIL[$n]=0; RESTARTS=$((RESTARTS + 1)); event "restart $n (pid ${UP_PID[$n]})"
      else
        RESTART_FAILS=$((RESTART_FAILS + 1)); UP_DOWN_UNTIL[$n]=$((now_s + 1)); event "restart $n FAILED, again in 1 s"
      fi
    fi
  done
  # A kill: a random live endpoint whose target keeps MIN_LIVE live endpoints without it.
  if [ "$now_s" -ge "$next_kill" ] && [ "$now_s" -lt $((T0 + DURATION - 2)) ]; then
    cand=()
    for n in "${UPSTREAMS[@]}"; do
      if [ "${UP_DOWN_UNTIL[$n]}" = 0 ] && [ "$(live_in "${UP_TARGET[$n]}")" -gt "$MIN_LIVE" ]; then cand+=("$n"); fi
    done
    if [ ${#cand[@]} -gt 0 ]; then
      n=${cand[RANDOM % ${#cand[@]}]}
      kill_upstream_pids "$n"
      down=$(rand_between "$DOWN_FOR")
      UP_DOWN_UNTIL[$n]=$((now_s + down)); KILLS=$((KILLS + 1))
      event "SIGKILL $n (:${UP_PORT[$n]}), back in ${down}s; ${UP_TARGET[$n]} live: $(live_in "${UP_TARGET[$n]}")"
    else
      SKIPPED_KILLS=$((SKIPPED_KILLS + 1))
    fi
    next_kill=$((now_s + $(rand_between "$KILL_EVERY")))
  fi
  # A reload: new weights (always different), then SIGHUP and POST /reload alternately.
  if [ "$now_s" -ge "$next_reload" ] && [ "$now_s" -lt $((T0 + DURATION - 2)) ]; then
    w=$((1 + RANDOM % 9)); [ "$w" -ne "$WEIGHT_A" ] || w=$((w % 9 + 1)); WEIGHT_A=$w
    nr=$((RELOADS_SIGHUP + RELOADS_POST + 1))
    write_mesh "$w" $((10 - w)) "$nr"
    if [ $((nr % 2)) -eq 1 ]; then
      kill -HUP "$OR_PID"; RELOADS_SIGHUP=$((RELOADS_SIGHUP + 1)); event "reload #$nr SIGHUP alpha $w / beta $((10 - w))"
    else
      ans=$(admin -X POST "http://127.0.0.1:$ADMIN_PORT/reload" || true)
      RELOADS_POST=$((RELOADS_POST + 1)); event "reload #$nr POST alpha $w / beta $((10 - w)): $ans"
      case $ans in *"published generation"*) ;; *) RELOAD_REFUSED=$((RELOAD_REFUSED + 1)); log "POST /reload answered: ${ans:-nothing}" ;; esac
    fi
    next_reload=$((now_s + $(rand_between "$RELOAD_EVERY")))
  fi
  # Samples.
  if [ "$now_s" -ge "$next_sample" ]; then
    r=$(rss_kb "$OR_PID"); down=0
    for n in "${UPSTREAMS[@]}"; do [ "${UP_DOWN_UNTIL[$n]}" = 0 ] || down=$((down + 1)); done
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$((now_s - T0))" "$r" "$(fds_of "$OR_PID")" "$(threads_of "$OR_PID")" \
      "$down" "$((RELOADS_SIGHUP + RELOADS_POST))" >>"$OUT/samples.tsv"
    [ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
    if [ $((now_s - T0)) -ge "$WARMUP" ]; then
      if [ -z "$RSS_BASE" ]; then RSS_BASE=$r; RSS_BASE_T=$((now_s - T0)); fi
      [ "$r" -gt "$RSS_MAX_AFTER" ] && RSS_MAX_AFTER=$r
    fi
    next_sample=$((next_sample + SAMPLE_EVERY))
  fi
  sleep 0.2
done
wait "$WRK_PID" 2>/dev/null || true
forget_pid "$WRK_PID"
T_END=$(($(date +%s) - T0))
kill -0 "$OR_PID" 2>/dev/null || CRASHED=1

# ---------------------------------------------------------------------------------------------
# 7. After the load: final samples, counters, then SIGTERM (drain) and the exit line.
RSS_END=NA; FD_END=NA; FD_AFTER_LOAD=NA; FD_SETTLED_S=NA; THREADS_END=NA
if [ $CRASHED -eq 0 ]; then
  RSS_END=$(rss_kb "$OR_PID")
  [ -n "$RSS_BASE" ] || { RSS_BASE=$RSS_END; RSS_BASE_T=$T_END; }
  [ "$RSS_END" -gt "$RSS_MAX" ] && RSS_MAX=$RSS_END
  [ "$RSS_END" -gt "$RSS_MAX_AFTER" ] && RSS_MAX_AFTER=$RSS_END
  # fds once wrk's connections are gone (the listener gauge reaches 0; at most 10 s).
  for ((j = 0; j < 100; j++)); do
    admin "http://127.0.0.1:$ADMIN_PORT/stats/prometheus" >"$OUT/stats-end.prom" || true
    [ "$(prom "$OUT/stats-end.prom" envoy_http_downstream_cx_active)" -eq 0 ] && break
    sleep 0.1
  done
  FD_AFTER_LOAD=$(fds_of "$OR_PID"); THREADS_END=$(threads_of "$OR_PID")
  ss -tanp 2>/dev/null | grep "pid=$OR_PID," >"$RUN/sockets-after-load.txt" || true
  # Idle pooled upstream connections live up to 60 s (DECISIONS §3.3): wait up to FD_SETTLE s
  # for the count to come back to the start figure, so a leak is told apart from the pool.
  t_settle=$(date +%s)
  while [ "$(fds_of "$OR_PID")" -gt $((FD_START + FD_SLACK)) ] && [ $(($(date +%s) - t_settle)) -lt "$FD_SETTLE" ]; do
    sleep 1
  done
  FD_SETTLED_S=$(($(date +%s) - t_settle))
  FD_END=$(fds_of "$OR_PID")
  ss -tanp 2>/dev/null | grep "pid=$OR_PID," >"$RUN/sockets-end.txt" || true
  printf 'end\t%s\t%s\t%s\t-\t%s\n' "$RSS_END" "$FD_END" "$THREADS_END" "$((RELOADS_SIGHUP + RELOADS_POST))" >>"$OUT/samples.tsv"
  admin "http://127.0.0.1:$ADMIN_PORT/stats" >"$OUT/stats-end.txt" || true
  kill -TERM "$OR_PID"
fi
OR_STATUS=0
for ((j = 0; j < 200; j++)); do kill -0 "$OR_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$OR_PID" 2>/dev/null && { log "outrigger did not exit 20 s after SIGTERM; SIGKILL"; kill -KILL "$OR_PID"; }
wait "$OR_PID" 2>/dev/null || OR_STATUS=$?
forget_pid "$OR_PID"
stop_all

# ---------------------------------------------------------------------------------------------
# 8. Figures.
W=$RUN/wrk.out
REQS=$(awk '/requests in/ {print $1}' "$W"); REQS=${REQS:-0}
RPS=$(awk '/^Requests\/sec:/ {print $2}' "$W"); RPS=${RPS:-0}
P50=$(awk '$1 == "50%" {print $2}' "$W"); P99=$(awk '$1 == "99%" {print $2}' "$W")
NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$W"); NON2XX=${NON2XX:-0}
read -r S_CONN S_READ S_WRITE S_TIMEOUT <<<"$(awk '/Socket errors:/ {gsub(",", ""); print $4, $6, $8, $10}' "$W")"
S_CONN=${S_CONN:-0}; S_READ=${S_READ:-0}; S_WRITE=${S_WRITE:-0}; S_TIMEOUT=${S_TIMEOUT:-0}
WRK_OK=1; grep -q '^Requests/sec:' "$W" || WRK_OK=0

P=$OUT/stats-end.prom; [ -f "$P" ] || : >"$P"
ROUTE_RETRIES=$(prom "$P" envoy_route_rq_retry)
RQ_TOTAL=$(prom "$P" envoy_http_downstream_rq_total)
EJECTIONS=$(prom "$P" envoy_cluster_upstream_outlier_ejections)
RELOAD_OK=$(prom "$P" envoy_server_config_reload_success)
RELOAD_FAILED=$(prom "$P" envoy_server_config_reload_failed)
RELOAD_SKIPPED=$(prom "$P" envoy_server_config_reload_skipped)
LOG_DROPPED=$(prom "$P" envoy_access_log_dropped)
RELOADS=$((RELOADS_SIGHUP + RELOADS_POST))
RESILIENCE=$(grep -E '^outrigger: resilience:' "$RUN/outrigger.err" | tail -n 1 || true)
[ -n "$RESILIENCE" ] || RESILIENCE=$(grep -E '^outrigger: resilience:' "$RUN/outrigger.out" | tail -n 1 || true)

# Access log: one line per request, "STATUS FLAGS ATTEMPTS UPSTREAM_HOST BYTES_SENT DURATION_MS".
AL=$RUN/access.log; [ -f "$AL" ] || : >"$AL"
read -r AL_LINES AL_2XX AL_RETRIED AL_SAVED <<<"$(awk '
  { n++; if ($1 ~ /^2/) { ok++; if ($3 > 1) saved++ } if ($3 > 1) retried++ }
  END { printf "%d %d %d %d\n", n, ok, retried, saved }' "$AL")"
# Proxy-side request durations (%DURATION%, ms), from a histogram (the log may hold millions).
read -r D_P50 D_P99 D_MAX <<<"$(awk '{ h[$6 + 0]++; n++; if ($6 + 0 > mx) mx = $6 + 0 }
  END { if (n == 0) { print "NA NA NA"; exit } c = 0
        for (d = 0; d <= mx; d++) { c += h[d]; if (p50 == "" && c >= n * 0.5) p50 = d; if (p99 == "" && c >= n * 0.99) p99 = d }
        print p50, p99, mx }' "$AL")"
# Failing lines by status + flags (+ attempts), and the retry-saveable subset: a 5xx the proxy
# made for an upstream failure (UF connect, UC reset/closed before a response, URX retries
# exhausted, UH no endpoint, UT timeout). Upstreams here only ever answer 200.
awk '$1 !~ /^2/ {print $1, $2, "attempts=" $3}' "$AL" | sort | uniq -c | sort -rn >"$OUT/failures_by_status.txt"
awk '$1 !~ /^2/ && c++ < 1000' "$AL" >"$OUT/failing_lines.txt"
SAVEABLE=$(awk '$1 ~ /^5/ && $2 ~ /UF|UC|URX|UH|UT/ {c++} END {print c + 0}' "$AL")
OTHER_NON2XX=$(awk '$1 !~ /^2/ && !($1 ~ /^5/ && $2 ~ /UF|UC|URX|UH|UT/) {c++} END {print c + 0}' "$AL")
if [ "$KEEP_ACCESS_LOG" = 1 ]; then :; else rm -f "$AL"; fi

# Verdicts.
FAIL=()
[ $CRASHED -eq 0 ] || FAIL+=("outrigger crashed (exit status $OR_STATUS)")
[ $CRASHED -eq 1 ] || [ "$OR_STATUS" -eq 0 ] || FAIL+=("outrigger exited $OR_STATUS after SIGTERM")
[ $WRK_OK -eq 1 ] || FAIL+=("wrk produced no result")
[ "$SAVEABLE" -eq 0 ] || FAIL+=("$SAVEABLE requests failed that the retry policy should have saved")
[ "$OTHER_NON2XX" -eq 0 ] || FAIL+=("$OTHER_NON2XX other non-2xx responses")
[ "$NON2XX" -eq 0 ] || FAIL+=("wrk saw $NON2XX non-2xx responses")
SOCK=$((S_CONN + S_READ + S_WRITE + S_TIMEOUT))
[ "$SOCK" -eq 0 ] || FAIL+=("wrk socket errors: connect $S_CONN, read $S_READ, write $S_WRITE, timeout $S_TIMEOUT")
RSS_GROWTH=NA
if [ $CRASHED -eq 0 ]; then
  RSS_GROWTH=$((RSS_MAX_AFTER - RSS_BASE))
  [ "$RSS_GROWTH" -le $((RSS_GROWTH_MB * 1024)) ] || FAIL+=("RSS grew $RSS_GROWTH kB after warm-up (limit ${RSS_GROWTH_MB} MB)")
  [ "$FD_END" -le $((FD_START + FD_SLACK)) ] || FAIL+=("fds: $FD_START at start, $FD_END ${FD_SETTLED_S} s after the load (limit start + $FD_SLACK)")
  [ "$RELOAD_OK" -eq "$RELOADS" ] || FAIL+=("$RELOADS reloads triggered, $RELOAD_OK published (failed $RELOAD_FAILED, skipped $RELOAD_SKIPPED)")
fi
[ "$RELOAD_REFUSED" -eq 0 ] || FAIL+=("$RELOAD_REFUSED POST /reload not answered 'published'")
[ "$AL_LINES" -eq 0 ] || [ "$LOG_DROPPED" -eq 0 ] || log "note: $LOG_DROPPED access-log lines dropped (ring full); the status summary misses them"

mb() { awk -v k="$1" 'BEGIN { if (k == "NA") print "NA"; else printf "%.1f", k / 1024 }'; }
{
  echo "# outrigger fault-and-soak run"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(hostname), $(nproc) CPUs, load average at end $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Binary \`${OUTRIGGER#"$ROOT"/}\` (${BUILD_TYPE:-unknown}, git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), --workers $WORKERS;"
  echo "wrk -t$WRK_THREADS -c$CONNS --timeout $WRK_TIMEOUT; 2 targets x $EPS nginx endpoints; route retryPolicy maxRetries 3, perRetryTimeout 2 s, server-error/gateway-error/connection-error; seed $SEED."
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| duration | ${T_END} s (DURATION=$DURATION) |"
  echo "| requests (wrk) | $REQS |"
  echo "| req/s (wrk) | $RPS |"
  echo "| latency p50 / p99 (wrk) | ${P50:-NA} / ${P99:-NA} |"
  echo "| proxy request duration p50 / p99 / max (access log) | ${D_P50} / ${D_P99} / ${D_MAX} ms |"
  echo "| wrk socket errors connect/read/write/timeout | $S_CONN / $S_READ / $S_WRITE / $S_TIMEOUT |"
  echo "| non-2xx responses (wrk) | $NON2XX |"
  echo "| access-log lines / 2xx | $AL_LINES / $AL_2XX (dropped lines: $LOG_DROPPED) |"
  echo "| requests served after >1 attempt (all 2xx?) | $AL_RETRIED ($AL_SAVED 2xx) |"
  echo "| failed, a retry should have saved (5xx UF/UC/URX/UH/UT) | $SAVEABLE |"
  echo "| other non-2xx (access log) | $OTHER_NON2XX |"
  echo "| proxy downstream requests (/stats) | $RQ_TOTAL |"
  echo "| retries (route rq_retry, /stats) | $ROUTE_RETRIES |"
  echo "| outlier ejections (/stats; see README: not counted there) | $EJECTIONS |"
  echo "| exit counters | ${RESILIENCE#outrigger: resilience: } |"
  echo "| upstream kills (SIGKILL) / restarts | $KILLS / $RESTARTS (restart failures $RESTART_FAILS, kills skipped by the live-endpoint rule $SKIPPED_KILLS) |"
  echo "| reloads triggered (SIGHUP / POST) / published | $RELOADS ($RELOADS_SIGHUP / $RELOADS_POST) / $RELOAD_OK (failed $RELOAD_FAILED, skipped $RELOAD_SKIPPED) |"
  echo "| RSS start / baseline at ${RSS_BASE_T:-NA} s / end / max | $(mb "$RSS_START") / $(mb "${RSS_BASE:-NA}") / $(mb "$RSS_END") / $(mb "$RSS_MAX") MB |"
  echo "| RSS growth after warm-up (max - baseline) | $(mb "$RSS_GROWTH") MB (limit $RSS_GROWTH_MB MB) |"
  echo "| fds start / right after the load / end | $FD_START / $FD_AFTER_LOAD / $FD_END after ${FD_SETTLED_S} s idle (limit start + $FD_SLACK within $FD_SETTLE s) |"
  echo "| threads start / end | $THREADS_START / $THREADS_END |"
  echo "| outrigger alive at the end of the load | $([ $CRASHED -eq 0 ] && echo yes || echo NO) (exit status after SIGTERM: $OR_STATUS) |"
  echo
  if [ -s "$OUT/failures_by_status.txt" ]; then
    echo "Failing access-log lines by status, flags and attempts:"
    echo
    echo '```'
    head -n 20 "$OUT/failures_by_status.txt"
    echo '```'
    echo
  fi
  if [ ${#FAIL[@]} -eq 0 ]; then
    echo "**PASS**: no crash, no failed request, RSS growth within the limit, no fd leak, every reload published."
  else
    echo "**FAIL**:"
    for f in "${FAIL[@]}"; do echo "- $f"; done
  fi
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary: $OUT/summary.md; samples: $OUT/samples.tsv; events: $OUT/events.log; logs in $RUN/"
[ ${#FAIL[@]} -eq 0 ]
