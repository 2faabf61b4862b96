#!/usr/bin/env bash
# Idle connection cost (issue 15): N keep-alive client connections, each having served one
# request and now waiting for the next, held open against outrigger (sidecar egress), nginx and
# HAProxy 2.6, one worker each, all in front of the same nginx `return 200` upstream. Reported
# per proxy: RSS before and with the N idle connections, and (RSS delta) ÷ N = bytes per idle
# connection. HTTP/1.1 always; HTTP/2 (h2c, prior knowledge) with PROTOS="h1 h2".
#
#   bash bench/idle.sh                      # N = 1000 and 10000, HTTP/1.1 and h2c
#   COUNTS=1000 PROTOS=h1 bash bench/idle.sh
#
# The client (bench/lib/idle_client.py) sends one request per connection, reads the whole answer
# (h2: ACKs the server's SETTINGS too) and holds the sockets; RSS is read once every connection
# is idle. nginx's RSS is master + worker; the connection cost is in the worker.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
COUNTS=${COUNTS:-"1000 10000"}
PROTOS=${PROTOS:-"h1 h2"}
PROXIES=${PROXIES:-"outrigger nginx haproxy"}
OUTRIGGER=${OUTRIGGER:-$ROOT/build-bench/outrigger}
need_peers nginx:nginx haproxy:haproxy python3:python3 taskset:util-linux
[ -x "$OUTRIGGER" ] || (cd "$ROOT" && BUILD_DIR=build-bench BUILD_TYPE=Release bash scripts/build.sh >&2)
max=0; for n in $COUNTS; do [ "$n" -gt "$max" ] && max=$n; done
# Every proxy needs an FD per idle connection, plus its own.
# (HAProxy asks for 2 × maxconn plus a few of its own.) Capped by the hard limit.
fds=$(( (max + 20) * 2 + 100 ))
hard=$(ulimit -Hn); [ "$hard" = unlimited ] || [ "$fds" -le "$hard" ] || fds=$hard
ulimit -n "$fds" 2>/dev/null || die "cannot raise the open-file limit to $fds (ulimit -Hn: $(ulimit -Hn))"
RUN=$(mktemp -d /tmp/outrigger-idle.XXXXXX)
mkdir -p "$RUN/tmp"; chmod 755 "$RUN" "$RUN/tmp"
trap 'stop_all' EXIT
USER_LINE=""; if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;"; fi
read -r UP_PORT O1 O2 N1 N2 H1 H2 <<<"$(free_ports 7)"
render "$HERE/peers/nginx-upstream.conf.in" "$RUN/upstream.conf" RUN="$RUN" NAME=v1 PORT="$UP_PORT" USER="$USER_LINE"
start_bg upstream 1 nginx -p "$RUN" -e "$RUN/upstream.error.log" -c "$RUN/upstream.conf"
wait_listen upstream "$LAST_PID" "$UP_PORT"
conns=$((max + 20))
# nginx: the bench proxy config (one upstream twice is fine), h2c on a second port.
render "$HERE/peers/nginx-proxy.conf.in" "$RUN/nginx.conf" RUN="$RUN" PORT="$N1" V1_PORT="$UP_PORT" V2_PORT="$UP_PORT" USER="$USER_LINE"
sed -i -e "s|worker_connections 8000;|worker_connections $conns;|" -e "s|worker_rlimit_nofile 20000;|worker_rlimit_nofile $((conns * 2));|" \
  -e "s|listen 127.0.0.1:$N1 backlog=4096;|listen 127.0.0.1:$N1 backlog=4096;\n        listen 127.0.0.1:$N2 http2 backlog=4096;|" "$RUN/nginx.conf"
grep -q "listen 127.0.0.1:$N2 http2" "$RUN/nginx.conf" || die "could not add the h2c listener to $RUN/nginx.conf"
render "$HERE/peers/haproxy.cfg.in" "$RUN/haproxy.cfg" RUN="$RUN" PORT="$H1" V1_PORT="$UP_PORT" V2_PORT="$UP_PORT"
sed -i -e "s|maxconn 8000|maxconn $conns|g" -e "s|bind 127.0.0.1:$H1|bind 127.0.0.1:$H1\n    bind 127.0.0.1:$H2 proto h2|" "$RUN/haproxy.cfg"
grep -q "proto h2" "$RUN/haproxy.cfg" || die "could not add the h2c bind to $RUN/haproxy.cfg"
HOST=my-interview-service.my-app:8080
declare -A PID PORT_H1=([outrigger]=$O1 [nginx]=$N1 [haproxy]=$H1) PORT_H2=([outrigger]=$O1 [nginx]=$N2 [haproxy]=$H2)
for p in $PROXIES; do
  case $p in
    outrigger) start_bg outrigger 0 "$OUTRIGGER" run --mesh "$ROOT/examples/canary/mesh.yaml" --workers 1 \
                 --egress-port "$O1" --ingress-port 0 --admin-port 0 --no-watch \
                 --connect-to "my-interview-service-v1.my-app.svc.cluster.local:8080:127.0.0.1:$UP_PORT" \
                 --connect-to "my-interview-service-v2.my-app.svc.cluster.local:8080:127.0.0.1:$UP_PORT" ;;
    nginx) start_bg nginx 0 nginx -p "$RUN" -e "$RUN/nginx.error.log" -c "$RUN/nginx.conf" ;;
    haproxy) start_bg haproxy 0 haproxy -db -f "$RUN/haproxy.cfg" ;;
    *) die "unknown proxy $p" ;;
  esac
  PID[$p]=$LAST_PID
  wait_listen "$p" "$LAST_PID" "${PORT_H1[$p]}"
done
rss_pids() { if [ "$1" = nginx ]; then echo "${PID[nginx]}"; children "${PID[nginx]}"; else echo "${PID[$1]}"; fi; }

echo "# idle: $(date -u '+%Y-%m-%d %H:%M UTC'), outrigger git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), HAProxy $(haproxy -v | awk 'NR == 1 {print $3}'), nginx $(nginx -v 2>&1 | sed 's/.*version: //')"
printf '%-6s %-10s %7s %12s %12s %14s\n' proto proxy conns rss_before_kB rss_idle_kB bytes_per_conn
for proto in $PROTOS; do
  for n in $COUNTS; do
    for p in $PROXIES; do
      if [ "$proto" = h2 ]; then port=${PORT_H2[$p]}; else port=${PORT_H1[$p]}; fi
      # One request first, so pools, upstream connections and lazy start-up memory exist.
      python3 "$HERE/lib/idle_client.py" "$port" 1 "$HOST" "$proto" </dev/null >/dev/null || die "$p: the $proto warm-up request failed"
      # shellcheck disable=SC2046
      before=$(rss_kb $(rss_pids "$p"))
      coproc IDLE { taskset -c 1 python3 "$HERE/lib/idle_client.py" "$port" "$n" "$HOST" "$proto"; }
      read -r line <&"${IDLE[0]}" || line=""
      case $line in "idle $n") ;; *) die "$p $proto: the idle client said '$line'";; esac
      # shellcheck disable=SC2046
      idle=$(rss_kb $(rss_pids "$p"))
      exec {IDLE[1]}>&-  # stdin closed: the client drops its connections
      wait "$IDLE_PID" 2>/dev/null || true
      printf '%-6s %-10s %7s %12s %12s %14s\n' "$proto" "$p" "$n" "$before" "$idle" "$(( (idle - before) * 1024 / n ))"
    done
  done
done
