# shellcheck shell=bash
# Helpers for bench/compare.sh (sourced, not run). Bash only; no state outside the caller's
# variables RUN (scratch dir) and the STARTED_PIDS array.

STARTED_PIDS=()

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# free_ports N: prints N distinct TCP ports that are free on 127.0.0.1 right now. Binds port 0
# (the kernel picks) with python3; without python3, picks from 20000-59999 and checks with bash.
free_ports() {
  local n=$1
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$n" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
  else
    local picked=() p
    while [ ${#picked[@]} -lt "$n" ]; do
      p=$((20000 + RANDOM % 40000))
      port_open "$p" && continue
      [[ " ${picked[*]} " == *" $p "* ]] && continue
      picked+=("$p")
    done
    echo "${picked[*]}"
  fi
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_bg NAME CPU CMD...: starts CMD pinned to CPU in the background, stdout/stderr to
# $RUN/NAME.out/.err, remembers its PID for the exit trap, and sets LAST_PID.
start_bg() {
  local name=$1 cpu=$2; shift 2
  taskset -c "$cpu" "$@" >"$RUN/$name.out" 2>"$RUN/$name.err" </dev/null &
  LAST_PID=$!
  STARTED_PIDS+=("$LAST_PID")
}

# wait_listen NAME PID PORT [SECONDS]: waits until PORT accepts connections; fails with the
# process's stderr when it exits or does not listen in time.
wait_listen() {
  local name=$1 pid=$2 port=$3 limit=${4:-10} i
  for ((i = 0; i < limit * 20; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0; wait "$pid" 2>/dev/null || rc=$?
      printf '[bench] error: %s (pid %s) exited with status %s before listening on 127.0.0.1:%s\n' \
        "$name" "$pid" "$rc" "$port" >&2
      printf -- '--- %s stderr (%s) ---\n' "$name" "$RUN/$name.err" >&2
      tail -n 30 "$RUN/$name.err" >&2
      exit 1
    fi
    port_open "$port" && return 0
    sleep 0.05
  done
  printf '[bench] error: %s (pid %s) is running but not listening on 127.0.0.1:%s after %ss\n' \
    "$name" "$pid" "$port" "$limit" >&2
  tail -n 30 "$RUN/$name.err" >&2
  exit 1
}

# stop_all: TERM every process we started (newest first), then KILL what is left after 3 s.
stop_all() {
  local pid i
  [ ${#STARTED_PIDS[@]} -eq 0 ] && return 0
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${STARTED_PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for ((i = 0; i < 30; i++)); do
    local alive=0
    for pid in "${STARTED_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${STARTED_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  STARTED_PIDS=()
}

# children PID: direct child PIDs (nginx workers of a master).
children() { cat "/proc/$1/task/"*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true; }

# rss_kb PID...: sum of VmRSS (kB) over the given processes.
rss_kb() {
  local sum=0 pid v
  for pid in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# cpu_ticks PID...: sum of utime+stime (clock ticks, all threads) over the given processes.
# Field 2 (comm) may contain spaces, so split after the last ')'.
cpu_ticks() {
  local sum=0 pid line rest
  local -a fld
  for pid in "$@"; do
    line=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${line##*) }
    # rest starts at field 3 (state); utime/stime are fields 14/15 -> indexes 11/12 here.
    read -r -a fld <<<"$rest"
    sum=$((sum + fld[11] + fld[12]))
  done
  echo "$sum"
}

now() { date +%s.%N; }

# render TEMPLATE OUT KEY=VALUE...: replaces @KEY@ with VALUE.
render() {
  local tpl=$1 out=$2; shift 2
  local args=() kv
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$tpl" >"$out"
  if grep -q '@[A-Z0-9_]*@' "$out"; then die "unrendered placeholder in $out: $(grep -o '@[A-Z0-9_]*@' "$out" | awk 'NR == 1')"; fi
}

# need_peers CMD:PACKAGE...: installs from Debian the packages whose command is missing (looked
# up with /usr/sbin and /sbin on PATH). Benchmark peers only, never runtime dependencies; no
# package may start a system service: /usr/sbin/policy-rc.d must answer 101 (made if absent).
need_peers() {
  PATH=$PATH:/usr/sbin:/sbin
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  local SUDO="" rc=0
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
  fi
  /usr/sbin/policy-rc.d >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 101 ] || die "/usr/sbin/policy-rc.d answers $rc, not 101: installing ${missing[*]} could start system services; fix it first"
  log "installing benchmark peers from Debian: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
