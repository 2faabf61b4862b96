#!/usr/bin/env bash
# Side-by-side benchmark: outrigger vs nginx vs HAProxy 2.6 (and direct-to-upstream as the
# ceiling) on this machine, one proxy worker pinned to one CPU. One command:
#
#   bash bench/compare.sh                      # full run: 3 interleaved reps x 10 s x 10/50/200 conns
#   DURATION=3 REPS=1 bash bench/compare.sh    # quick look
#   LONG=300 bash bench/compare.sh             # also: outrigger RSS over 5 min at 200 conns
#
# See bench/README.md for every knob, what each column means and the fairness notes.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"

DURATION=${DURATION:-10}          # seconds per measured wrk run
REPS=${REPS:-3}                   # interleaved repetitions (0 = skip the comparison)
CONNS=${CONNS:-"10 50 200"}       # wrk connection counts
PROXIES=${PROXIES:-"outrigger nginx haproxy"}
WARMUP=${WARMUP:-2}               # seconds of unmeasured load per proxy before the first rep
LONG=${LONG:-0}                   # >0: outrigger under LONG_CONNS conns for LONG s, RSS every 10 s
LONG_CONNS=${LONG_CONNS:-200}
SPLIT_N=${SPLIT_N:-1000}          # requests per proxy in the 90/10 split check (0 = skip)
PROXY_CPU=${PROXY_CPU:-0}         # the proxy under test
LOAD_CPU=${LOAD_CPU:-1}           # wrk and the two upstreams
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}
OUTRIGGER=${OUTRIGGER:-$ROOT/build-bench/outrigger}
MESH=${MESH:-$ROOT/examples/canary/mesh.yaml}
HOST_HEADER=${HOST_HEADER:-my-interview-service.my-app:8080}
V1_HOST=${V1_HOST:-my-interview-service-v1.my-app.svc.cluster.local:8080}
V2_HOST=${V2_HOST:-my-interview-service-v2.my-app.svc.cluster.local:8080}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$HERE/results/$STAMP}

case "$DURATION$REPS$WARMUP$LONG$LONG_CONNS$SPLIT_N" in *[!0-9]*) die "DURATION, REPS, WARMUP, LONG, LONG_CONNS and SPLIT_N must be whole numbers";; esac
for p in $PROXIES; do
  case $p in outrigger | nginx | haproxy) ;; *) die "unknown proxy '$p' in PROXIES (outrigger nginx haproxy)";; esac
done
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 CPUs; PROXY_CPU and LOAD_CPU will share a core"

# ---------------------------------------------------------------------------------------------
# 1. Tools. wrk, nginx, haproxy and gnuplot are benchmark peers only, never runtime dependencies
# of outrigger. Installing them must not start system services: /usr/sbin/policy-rc.d answers 101.
need_peers wrk:wrk nginx:nginx haproxy:haproxy gnuplot:gnuplot-nox curl:curl taskset:util-linux
NGINX=$(command -v nginx); HAPROXY=$(command -v haproxy)
HAPROXY_VER=$($HAPROXY -v 2>/dev/null | awk 'NR == 1 {print $3}')
case $HAPROXY_VER in 2.6.*) ;; *) log "warning: HAProxy $HAPROXY_VER, the fairness notes assume 2.6";; esac

if [[ " $PROXIES " == *" outrigger "* ]] && [ ! -x "$OUTRIGGER" ]; then
  log "building outrigger into build-bench/ (RelWithDebInfo)"
  (cd "$ROOT" && bash scripts/setup.sh && BUILD_DIR=build-bench bash scripts/build.sh) >&2
  [ -x "$OUTRIGGER" ] || die "no outrigger binary at $OUTRIGGER after the build"
fi
[ -f "$MESH" ] || die "mesh file $MESH not found"

# ---------------------------------------------------------------------------------------------
# 2. Scratch and results. Results are never committed: bench/results/.gitignore ignores itself.
mkdir -p "$OUT" "$OUT/run/tmp" "$HERE/results"
[ -f "$HERE/results/.gitignore" ] || printf '*\n' >"$HERE/results/.gitignore"
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
RUN=$OUT/run
chmod 755 "$OUT" "$RUN" "$RUN/tmp"
trap 'stop_all' EXIT
trap 'log "interrupted"; exit 130' INT TERM

read -r V1_PORT V2_PORT OUTRIGGER_PORT NGINX_PORT HAPROXY_PORT <<<"$(free_ports 5)"
USER_LINE=""; if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;"; fi

declare -A PORT PID
PORT[direct]=$V1_PORT

start_upstream() { # NAME PORT
  render "$HERE/peers/nginx-upstream.conf.in" "$RUN/upstream-$1.conf" \
    RUN="$RUN" NAME="$1" PORT="$2" USER="$USER_LINE"
  "$NGINX" -t -q -p "$RUN" -e "$RUN/upstream-$1.error.log" -c "$RUN/upstream-$1.conf" 2>"$RUN/upstream-$1.t.err" ||
    { cat "$RUN/upstream-$1.t.err" >&2; die "upstream $1: nginx rejected $RUN/upstream-$1.conf"; }
  start_bg "upstream-$1" "$LOAD_CPU" "$NGINX" -p "$RUN" -e "$RUN/upstream-$1.error.log" -c "$RUN/upstream-$1.conf"
  wait_listen "upstream-$1" "$LAST_PID" "$2"
}

start_proxy() { # NAME
  local name=$1
  case $name in
    outrigger)
      PORT[outrigger]=$OUTRIGGER_PORT
      start_bg outrigger "$PROXY_CPU" "$OUTRIGGER" run --mesh "$MESH" --workers 1 \
        --egress-port "$OUTRIGGER_PORT" --ingress-port 0 --admin-port 0 \
        --connect-to "$V1_HOST:127.0.0.1:$V1_PORT" --connect-to "$V2_HOST:127.0.0.1:$V2_PORT"
      ;;
    nginx)
      PORT[nginx]=$NGINX_PORT
      render "$HERE/peers/nginx-proxy.conf.in" "$RUN/nginx-proxy.conf" \
        RUN="$RUN" PORT="$NGINX_PORT" V1_PORT="$V1_PORT" V2_PORT="$V2_PORT" USER="$USER_LINE"
      "$NGINX" -t -q -p "$RUN" -e "$RUN/nginx-proxy.error.log" -c "$RUN/nginx-proxy.conf" 2>"$RUN/nginx.t.err" ||
        { cat "$RUN/nginx.t.err" >&2; die "nginx rejected $RUN/nginx-proxy.conf"; }
      start_bg nginx "$PROXY_CPU" "$NGINX" -p "$RUN" -e "$RUN/nginx-proxy.error.log" -c "$RUN/nginx-proxy.conf"
      ;;
    haproxy)
      PORT[haproxy]=$HAPROXY_PORT
      render "$HERE/peers/haproxy.cfg.in" "$RUN/haproxy.cfg" \
        RUN="$RUN" PORT="$HAPROXY_PORT" V1_PORT="$V1_PORT" V2_PORT="$V2_PORT"
      "$HAPROXY" -c -q -f "$RUN/haproxy.cfg" 2>"$RUN/haproxy.c.err" ||
        { cat "$RUN/haproxy.c.err" >&2; die "haproxy rejected $RUN/haproxy.cfg"; }
      start_bg haproxy "$PROXY_CPU" "$HAPROXY" -db -f "$RUN/haproxy.cfg"
      ;;
  esac
  PID[$name]=$LAST_PID
  wait_listen "$name" "$LAST_PID" "${PORT[$name]}"
}

# Processes whose CPU time is the proxy's own: nginx's worker(s), else the process itself.
cpu_pids() { if [ "$1" = nginx ]; then children "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }
# Processes whose RSS counts: nginx master + worker(s), else the process itself.
rss_pids() { if [ "$1" = nginx ]; then echo "${PID[nginx]}"; children "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }

alive() { [ "$1" = direct ] || kill -0 "${PID[$1]}" 2>/dev/null; }

log "results in $OUT"
log "starting upstreams v1 (127.0.0.1:$V1_PORT) and v2 (127.0.0.1:$V2_PORT) on CPU $LOAD_CPU"
start_upstream v1 "$V1_PORT"
start_upstream v2 "$V2_PORT"
for p in $PROXIES; do
  log "starting $p on CPU $PROXY_CPU"
  start_proxy "$p"
done

# Every proxy must answer 200 with a v1/v2 body before anything is measured.
for p in $PROXIES; do
  code=$(curl -s -o "$RUN/$p.probe" -w '%{http_code}' -H "Host: $HOST_HEADER" "http://127.0.0.1:${PORT[$p]}/" || true)
  if [ "$code" != 200 ] || ! grep -qE '^v[12]$' "$RUN/$p.probe"; then
    printf '[bench] error: %s on 127.0.0.1:%s answered %s with body:\n' "$p" "${PORT[$p]}" "${code:-nothing}" >&2
    head -c 500 "$RUN/$p.probe" >&2; echo >&2
    tail -n 30 "$RUN/$p.err" >&2
    exit 1
  fi
done

# ---------------------------------------------------------------------------------------------
# 3. Idle RSS, then the 90/10 split check (a separate run, one curl keep-alive connection,
#    SPLIT_N requests; never part of the measured runs).
: >"$OUT/rss_idle.tsv"
for p in $PROXIES; do
  # shellcheck disable=SC2046
  printf '%s\t%s\n' "$p" "$(rss_kb $(rss_pids "$p"))" >>"$OUT/rss_idle.tsv"
done

: >"$OUT/split.tsv"
if [ "$SPLIT_N" -gt 0 ]; then
  for p in $PROXIES; do
    {
      printf 'header = "Host: %s"\n' "$HOST_HEADER"
      for ((i = 0; i < SPLIT_N; i++)); do printf 'url = "http://127.0.0.1:%s/"\n' "${PORT[$p]}"; done
    } >"$RUN/split-$p.curl"
    taskset -c "$LOAD_CPU" curl -s -K "$RUN/split-$p.curl" >"$RUN/split-$p.out" 2>"$RUN/split-$p.err" || true
    v1=$(grep -cx 'v1' "$RUN/split-$p.out" || true)
    v2=$(grep -cx 'v2' "$RUN/split-$p.out" || true)
    printf '%s\t%s\t%s\t%s\n' "$p" "$SPLIT_N" "$v1" "$v2" >>"$OUT/split.tsv"
    log "split $p: v1=$v1 v2=$v2 of $SPLIT_N"
  done
fi

# ---------------------------------------------------------------------------------------------
# 4. Measured runs: for rep: for conns: for proxy (+ direct). wrk -t1 on LOAD_CPU.
printf 'rep\tconns\tproxy\trps\tp50_ms\tp99_ms\trequests\tnon2xx\tsock_connect\tsock_read\tsock_write\tsock_timeout\tcpu_share\trss_load_kb\talive\twrk_ok\n' >"$OUT/runs.tsv"

to_ms() { # wrk latency like 812.00us / 1.23ms / 2.01s / 1.10m -> ms
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.3f", n }'
}

# run_wrk PROXY CONNS SECONDS OUTFILE: runs wrk against PROXY in the foreground; a background
# sampler records the proxy's RSS once a second; CPU ticks are read right before and right after
# wrk. Sets RUN_CPU_SHARE (cores) and RUN_RSS_MAX (kB).
run_wrk() {
  local p=$1 c=$2 d=$3 out=$4 t0 t1 c0=0 c1=0 pids="" rpids="" sampler="" hz
  hz=$(getconf CLK_TCK)
  if [ "$p" != direct ]; then
    pids=$(cpu_pids "$p"); rpids=$(rss_pids "$p")
    # shellcheck disable=SC2086
    (while :; do rss_kb $rpids; sleep 1; done) >"$out.rss" 2>/dev/null &
    sampler=$!; STARTED_PIDS+=("$sampler")
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
  fi
  t0=$(now)
  taskset -c "$LOAD_CPU" wrk -t1 -c"$c" -d"${d}s" --timeout "$WRK_TIMEOUT" --latency \
    -H "Host: $HOST_HEADER" "http://127.0.0.1:${PORT[$p]}/" >"$out" 2>&1 </dev/null || true
  t1=$(now)
  if [ "$p" = direct ]; then RUN_CPU_SHARE=NA; RUN_RSS_MAX=NA; return 0; fi
  # shellcheck disable=SC2086
  c1=$(cpu_ticks $pids)
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  unset 'STARTED_PIDS[${#STARTED_PIDS[@]}-1]'
  RUN_CPU_SHARE=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz / (t1 - t0) }')
  RUN_RSS_MAX=$(sort -n "$out.rss" | tail -n 1); RUN_RSS_MAX=${RUN_RSS_MAX:-0}
  rm -f "$out.rss"
}

parse_wrk() { # FILE -> rps p50 p99 requests non2xx connect read write timeout
  local f=$1 rps p50 p99 req non2xx sc sr sw st
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
  p50=$(awk '$1 == "50%" {print $2}' "$f")
  p99=$(awk '$1 == "99%" {print $2}' "$f")
  req=$(awk '/requests in/ {print $1}' "$f")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$f")
  read -r sc sr sw st <<<"$(awk '/Socket errors:/ {gsub(",", ""); print $4, $6, $8, $10}' "$f")"
  if [ -z "$rps" ]; then # wrk could not run (e.g. connection refused): no figures, flagged
    printf 'NA\tNA\tNA\t0\t0\t0\t0\t0\t0\n'; return
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rps" "$(to_ms "${p50:-0}")" "$(to_ms "${p99:-0}")" \
    "${req:-0}" "${non2xx:-0}" "${sc:-0}" "${sr:-0}" "${sw:-0}" "${st:-0}"
}

max_conns=0; for c in $CONNS; do if [ "$c" -gt "$max_conns" ]; then max_conns=$c; fi; done
if [ "$REPS" -gt 0 ] && [ "$WARMUP" -gt 0 ]; then
  for p in direct $PROXIES; do
    log "warm-up $p (${WARMUP}s, $max_conns conns, not measured)"
    run_wrk "$p" "$max_conns" "$WARMUP" "$RUN/warmup-$p.wrk"
  done
fi

declare -A DEAD
for ((rep = 1; rep <= REPS; rep++)); do
  for c in $CONNS; do
    for p in direct $PROXIES; do
      if [ -n "${DEAD[$p]:-}" ]; then continue; fi
      f="$RUN/wrk-$p-c$c-r$rep.txt"
      run_wrk "$p" "$c" "$DURATION" "$f"
      ok=1; alive "$p" || { ok=0; RUN_CPU_SHARE=NA; RUN_RSS_MAX=NA; }
      row=$(parse_wrk "$f")
      wrk_ok=1; grep -q '^Requests/sec:' "$f" || wrk_ok=0
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$c" "$p" "$row" "$RUN_CPU_SHARE" "$RUN_RSS_MAX" "$ok" "$wrk_ok" >>"$OUT/runs.tsv"
      read -r rps p50 p99 req non2xx sc sr sw st <<<"$row"
      errs=$((non2xx + sc + sr + sw + st))
      log "rep $rep conns $c $p: $rps req/s p50 ${p50}ms p99 ${p99}ms cpu $RUN_CPU_SHARE rss ${RUN_RSS_MAX}kB errors $errs"
      if [ "$errs" -gt 0 ]; then log "  $p had errors: $(grep -E 'Non-2xx|Socket errors' "$f" | tr '\n' ' ')"; fi
      if [ $wrk_ok -eq 0 ]; then log "  wrk produced no result for $p: $(tr '\n' ' ' <"$f")"; fi
      if [ $ok -eq 0 ]; then
        DEAD[$p]=1
        st=0; wait "${PID[$p]}" 2>/dev/null || st=$?
        if [ "$st" -gt 128 ]; then st="$st (signal $((st - 128)))"; fi
        echo "exit status $st during: wrk -t1 -c$c -d${DURATION}s (rep $rep)" >"$RUN/$p.died"
        log "  $p DIED during this run, exit status $st; stderr tail:"
        tail -n 30 "$RUN/$p.err" >&2
      fi
    done
  done
done

: >"$OUT/rss_after.tsv"
for p in $PROXIES; do
  # shellcheck disable=SC2046
  if alive "$p"; then printf '%s\t%s\n' "$p" "$(rss_kb $(rss_pids "$p"))" >>"$OUT/rss_after.tsv"; fi
done

# ---------------------------------------------------------------------------------------------
# 5. LONG mode: outrigger under LONG_CONNS connections for LONG seconds, VmRSS every 10 s.
: >"$OUT/long.tsv"
if [ "$LONG" -gt 0 ]; then
  if [[ " $PROXIES " != *" outrigger "* ]]; then
    PORT[outrigger]=$OUTRIGGER_PORT; start_proxy outrigger
  fi
  if alive outrigger; then
    log "LONG: outrigger under $LONG_CONNS conns for ${LONG}s, RSS every 10 s"
    taskset -c "$LOAD_CPU" wrk -t1 -c"$LONG_CONNS" -d"${LONG}s" --timeout "$WRK_TIMEOUT" --latency \
      -H "Host: $HOST_HEADER" "http://127.0.0.1:${PORT[outrigger]}/" >"$RUN/wrk-long.txt" 2>&1 &
    wpid=$!; STARTED_PIDS+=("$wpid")
    t0=$(date +%s)
    printf '0\t%s\n' "$(rss_kb "${PID[outrigger]}")" >>"$OUT/long.tsv"
    while kill -0 "$wpid" 2>/dev/null; do
      sleep 10
      alive outrigger || { log "LONG: outrigger died"; tail -n 30 "$RUN/outrigger.err" >&2; break; }
      kill -0 "$wpid" 2>/dev/null || break
      printf '%s\t%s\n' "$(($(date +%s) - t0))" "$(rss_kb "${PID[outrigger]}")" >>"$OUT/long.tsv"
    done
    wait "$wpid" || true
    if alive outrigger; then printf 'end\t%s\n' "$(rss_kb "${PID[outrigger]}")" >>"$OUT/long.tsv"; fi
    parse_wrk "$RUN/wrk-long.txt" >"$OUT/long-wrk.tsv"
  fi
fi

# ---------------------------------------------------------------------------------------------
# 6. Report and plot.
{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  printf 'host\t%s, %s CPUs (%s), kernel %s\n' "$(hostname)" "$(nproc)" "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(uname -r)"
  printf 'loadavg_start\t%s\n' "$LOADAVG_START"
  printf 'outrigger\t%s (git %s%s)\n' "$OUTRIGGER" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(git -C "$ROOT" diff --quiet HEAD -- proxy routing tls cli 2>/dev/null || echo ', dirty tree')"
  printf 'nginx\t%s\n' "$($NGINX -v 2>&1 | sed 's/.*version: //')"
  printf 'haproxy\t%s\n' "$HAPROXY_VER"
  printf 'wrk\t%s\n' "$(wrk -v 2>&1 | awk 'NR == 1 {print $2}' || true)"
  printf 'settings\tDURATION=%s REPS=%s CONNS="%s" WARMUP=%s PROXY_CPU=%s LOAD_CPU=%s WRK_TIMEOUT=%s\n' \
    "$DURATION" "$REPS" "$CONNS" "$WARMUP" "$PROXY_CPU" "$LOAD_CPU" "$WRK_TIMEOUT"
  for p in $PROXIES; do if [ -n "${DEAD[$p]:-}" ]; then printf 'dead\t%s\n' "$p"; fi; done
} >"$OUT/meta.tsv"
for p in $PROXIES; do
  if [ -n "${DEAD[$p]:-}" ]; then cat "$RUN/$p.died" - <<<"--- stderr tail ---" >"$OUT/$p-crash.txt"; tail -n 30 "$RUN/$p.err" >>"$OUT/$p-crash.txt"; fi
done
# Load average at the end, to show how noisy the machine was.
printf 'loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.tsv"

python3 "$HERE/lib/report.py" "$OUT" "$PROXIES" "$CONNS"
if [ "$REPS" -gt 0 ]; then
  gnuplot -e "dir='$OUT'" "$HERE/plot.gp" 2>"$RUN/gnuplot.err" ||
    { log "warning: gnuplot failed:"; cat "$RUN/gnuplot.err" >&2; }
fi
stop_all
cat "$OUT/report.md"
log "report: $OUT/report.md  plot: $OUT/latency.png  raw: $OUT/runs.tsv, wrk output in $RUN/"
