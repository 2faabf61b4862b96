#!/usr/bin/env bash
# Reload pause benchmark (issue 7 item 4): does a hot reload of a 10,000-service mesh stall request
# handling for more than 5 ms? One command; see bench/README.md "Reload pause".
#
#   bash bench/reload_pause.sh                 # 10,000 services, 10 reloads, verdict at the end
#   SERVICES=2000 RELOADS=4 bash bench/reload_pause.sh
#
# Steps: generate two variants of the mesh (weights 90/10 vs 80/20 on every route) and validate
# them; start one nginx upstream (CPU LOAD_CPU) and outrigger --workers 1 (CPU PROXY_CPU); paced
# keep-alive load at a few services, recording every request; BASELINE seconds without reloads,
# then RELOADS x POST /reload alternating the variants; attribute latencies to reload windows.
# Exit status: 0 goal holds, 3 goal missed, anything else = the harness failed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"

SERVICES=${SERVICES:-10000}       # virtual services in the generated mesh
RELOADS=${RELOADS:-10}            # POST /reload calls, alternating the two variants
GAP=${GAP:-1}                     # seconds of quiet before, between and after reloads
BASELINE=${BASELINE:-8}           # seconds of load before the first reload
RATE=${RATE:-2000}                # requests/s over all connections (paced); 0 = closed loop
CONNS=${CONNS:-4}                 # keep-alive connections (each to one of TARGETS services in turn)
TARGETS=${TARGETS:-3}             # services svc0..svc{TARGETS-1} get traffic
TAIL_MS=${TAIL_MS:-100}           # a reload window ends this long after POST /reload answered
GOAL_MS=${GOAL_MS:-5}
PROXY_CPU=${PROXY_CPU:-0}         # the whole outrigger process (all its threads)
LOAD_CPU=${LOAD_CPU:-1}           # nginx upstream and the load client
NICE=${NICE:-$([ "$(id -u)" -eq 0 ] && echo -10 || echo 0)}  # nice of everything started here (see README)
OUTRIGGER=${OUTRIGGER:-$ROOT/build/outrigger}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$HERE/results/reload-$STAMP}
RUN=$OUT/run

case "$SERVICES$RELOADS$BASELINE$CONNS$TARGETS" in *[!0-9]*) die "SERVICES, RELOADS, BASELINE, CONNS and TARGETS must be whole numbers";; esac
[ -x "$OUTRIGGER" ] || die "no outrigger binary at $OUTRIGGER (ninja -C build -j2 outrigger)"
command -v nginx >/dev/null || die "nginx is missing (apt-get install nginx-light; bench/compare.sh installs it)"
command -v taskset >/dev/null || die "taskset is missing (util-linux)"
command -v python3 >/dev/null || die "python3 is missing"
[ "$TARGETS" -ge 1 ] && [ "$TARGETS" -lt "$SERVICES" ] || die "TARGETS must be in 1..SERVICES-1"
mkdir -p "$RUN/tmp"
trap 'stop_all' EXIT
trap 'log "interrupted"; exit 130' INT TERM

log "results in $OUT (load average: $(cut -d' ' -f1-3 /proc/loadavg))"

# 1. The mesh: two variants, validated, with their load/validate time.
log "generating $SERVICES services (variants a: 90/10, b: 80/20)"
python3 "$HERE/gen_mesh.py" "$SERVICES" a "$RUN/mesh-a.yaml"
python3 "$HERE/gen_mesh.py" "$SERVICES" b "$RUN/mesh-b.yaml"
cp "$RUN/mesh-a.yaml" "$RUN/mesh.yaml"
for v in a b; do
  t0=$(now)
  "$OUTRIGGER" validate --node bench/client "$RUN/mesh-$v.yaml" >"$RUN/validate-$v.out" 2>&1 \
    || { cat "$RUN/validate-$v.out" >&2; die "generated mesh $v is invalid"; }
  t1=$(now)
  printf 'validate\t%s\t%.0f ms\t%s MB\n' "$v" "$(echo "($t1 - $t0) * 1000" | bc)" \
    "$(($(stat -c %s "$RUN/mesh-$v.yaml") / 1048576))" | tee -a "$OUT/meta.tsv" >&2
done

# 2. Upstream and proxy.
read -r UP_PORT EGRESS_PORT ADMIN_PORT <<<"$(free_ports 3)"
USER_LINE=""; if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;"; fi
render "$HERE/peers/nginx-upstream.conf.in" "$RUN/upstream-up.conf" \
  RUN="$RUN" NAME="up" PORT="$UP_PORT" USER="$USER_LINE"
start_bg upstream "$LOAD_CPU" nice -n "$NICE" nginx -p "$RUN" -c "$RUN/upstream-up.conf"
wait_listen upstream "$LAST_PID" "$UP_PORT"

connect_to=() hosts=""
for ((i = 0; i <= TARGETS; i++)); do  # svcI's route also targets svc{I+1}-node
  connect_to+=(--connect-to "svc$i.bench.svc.cluster.local:8080:127.0.0.1:$UP_PORT")
done
for ((i = 0; i < TARGETS; i++)); do hosts+="${hosts:+,}svc$i.bench:8080"; done
t0=$(now)
start_bg outrigger "$PROXY_CPU" nice -n "$NICE" "$OUTRIGGER" run --mesh "$RUN/mesh.yaml" --node bench/client \
  --workers 1 --egress-address 127.0.0.1 --egress-port "$EGRESS_PORT" --ingress-port 0 \
  --ingress-address 127.0.0.1 --admin-port "$ADMIN_PORT" --no-watch --log-level info "${connect_to[@]}"
PROXY_PID=$LAST_PID
wait_listen outrigger "$PROXY_PID" "$ADMIN_PORT" 120
wait_listen outrigger "$PROXY_PID" "$EGRESS_PORT" 120
printf 'startup\t%.0f ms (to listening, %s services)\n' "$(echo "($(now) - $t0) * 1000" | bc)" \
  "$SERVICES" | tee -a "$OUT/meta.tsv" >&2
code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$EGRESS_PORT" "http://svc0.bench:8080/")
[ "$code" = 200 ] || die "a request through outrigger got $code, not 200 (see $RUN/outrigger.err)"
printf 'threads\t%s\n' "$(ls /proc/$PROXY_PID/task | wc -l)" >>"$OUT/meta.tsv"

# 3. Load, first alone (baseline), then with reloads.
log "load: $CONNS connections, $RATE req/s, to $hosts; $BASELINE s baseline, then $RELOADS reloads"
taskset -c "$LOAD_CPU" nice -n "$NICE" python3 "$HERE/reload_pause.py" load --port "$EGRESS_PORT" --hosts "$hosts" \
  --conns "$CONNS" --rate "$RATE" --out "$OUT/requests.tsv" 2>"$RUN/load.err" &
LOAD_PID=$!
STARTED_PIDS+=("$LOAD_PID")
sleep "$BASELINE"
taskset -c "$LOAD_CPU" python3 "$HERE/reload_pause.py" reload --admin "$ADMIN_PORT" --mesh "$RUN/mesh.yaml" \
  --variants "$RUN/mesh-a.yaml" "$RUN/mesh-b.yaml" --count "$RELOADS" --gap "$GAP" \
  --out "$OUT/reloads.tsv" 2>&1 | tee "$RUN/reload.log" >&2
kill -0 "$PROXY_PID" 2>/dev/null || die "outrigger exited during the run (see $RUN/outrigger.err)"
kill -USR1 "$LOAD_PID"
wait "$LOAD_PID" || die "the load client failed: $(tail -n 5 "$RUN/load.err")"
cat "$RUN/load.err" >&2
grep -i 'reload' "$RUN/outrigger.err" "$RUN/outrigger.out" 2>/dev/null | tail -n "$((RELOADS + 2))" >"$RUN/outrigger-reload.log" || true

# 4. Report.
rc=0
python3 "$HERE/reload_pause.py" report --load "$OUT/requests.tsv" --windows "$OUT/reloads.tsv" \
  --tail-ms "$TAIL_MS" --goal-ms "$GOAL_MS" --json "$OUT/summary.json" >"$OUT/report.md" || rc=$?
{
  echo
  echo "settings: SERVICES=$SERVICES RELOADS=$RELOADS RATE=$RATE CONNS=$CONNS TARGETS=$TARGETS" \
    "PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU GAP=$GAP BASELINE=$BASELINE NICE=$NICE"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  sed 's/^/  /' "$OUT/meta.tsv"
  echo "outrigger's reload log lines:"
  sed 's/^/  /' "$RUN/outrigger-reload.log"
} >>"$OUT/report.md"
cat "$OUT/report.md"
[ "$rc" -le 3 ] || die "report failed"
exit "$rc"
