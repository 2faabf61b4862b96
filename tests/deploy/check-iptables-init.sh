#!/usr/bin/env bash
# deploy/iptables-init.sh without root: IPTABLES/IP6TABLES point at a recorder, and the rules it
# would install are checked: App Mesh's APPMESH_EGRESS_IGNORED_PORTS (ports and LOW:HIGH ranges)
# and APPMESH_EGRESS_IGNORED_IP (IPv4 and IPv6 addresses/CIDRs in one list, each family getting
# its own), the defaults, and clear errors (exit 2) for bad values.
set -euo pipefail
script="$(cd "$(dirname "$0")/../.." && pwd)/deploy/iptables-init.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-iptables-init: FAIL: $*" >&2; exit 1; }

cat > "$work/iptables" <<'SH'
#!/bin/bash
echo "$(basename "$0") $*" >> "$FAKE_LOG"
for a in "$@"; do [ "$a" = "-C" ] && exit 1; done   # no rule exists yet
exit 0
SH
chmod +x "$work/iptables"
cp "$work/iptables" "$work/ip6tables"

run() {  # env assignments...; runs the script, output in $work/out, rules in $work/log
  : > "$work/log"
  env -i PATH="$PATH" FAKE_LOG="$work/log" IPTABLES="$work/iptables" IP6TABLES="$work/ip6tables" \
    "$@" bash "$script" > "$work/out" 2>&1
}
has() { grep -qxF -- "$1" "$work/log" || fail "missing rule: $1"; }
hasnt() { ! grep -qF -- "$1" "$work/log" || fail "unexpected rule: $1"; }

# Defaults: port 22 and the instance metadata address are not redirected.
run || fail "defaults: exit $?"
has "iptables -t nat -A OUTRIGGER_EGRESS -p tcp --dport 22 -j RETURN"
has "iptables -t nat -A OUTRIGGER_EGRESS -p tcp -d 169.254.169.254 -j RETURN"
has "iptables -t nat -A OUTRIGGER_EGRESS -p tcp -j REDIRECT --to-ports 15001"
hasnt "ip6tables -t nat -A OUTRIGGER_EGRESS -p tcp -d 169.254.169.254"

# Lists, ranges, both families in one list.
run APPMESH_EGRESS_IGNORED_PORTS="22, 5432,8000:8100" \
    APPMESH_EGRESS_IGNORED_IP="169.254.169.254,169.254.170.2,10.0.0.0/8,fd00::/8,2001:db8::1" \
    APPMESH_APP_PORTS=6379 || fail "lists: exit $?"
for ipt in iptables ip6tables; do
  has "$ipt -t nat -A OUTRIGGER_EGRESS -p tcp --dport 5432 -j RETURN"
  has "$ipt -t nat -A OUTRIGGER_EGRESS -p tcp --dport 8000:8100 -j RETURN"
  has "$ipt -t nat -A OUTRIGGER_INGRESS -p tcp --dport 6379 -j REDIRECT --to-ports 15000"
done
has "iptables -t nat -A OUTRIGGER_EGRESS -p tcp -d 169.254.170.2 -j RETURN"
has "iptables -t nat -A OUTRIGGER_EGRESS -p tcp -d 10.0.0.0/8 -j RETURN"
has "ip6tables -t nat -A OUTRIGGER_EGRESS -p tcp -d fd00::/8 -j RETURN"
has "ip6tables -t nat -A OUTRIGGER_EGRESS -p tcp -d 2001:db8::1 -j RETURN"
hasnt "iptables -t nat -A OUTRIGGER_EGRESS -p tcp -d fd00::/8"
hasnt "ip6tables -t nat -A OUTRIGGER_EGRESS -p tcp -d 10.0.0.0/8"

# Empty lists: nothing ignored but the proxy's own UID and loopback.
run APPMESH_EGRESS_IGNORED_PORTS= APPMESH_EGRESS_IGNORED_IP= || fail "empty: exit $?"
hasnt "--dport 22"
hasnt "169.254.169.254"

# Bad values: exit 2, one line naming the variable, no rule installed.
for bad in "APPMESH_EGRESS_IGNORED_PORTS=8100:8000" "APPMESH_EGRESS_IGNORED_PORTS=1:2:3" \
           "APPMESH_EGRESS_IGNORED_PORTS=70000" "APPMESH_EGRESS_IGNORED_IP=10.0.0.300" \
           "APPMESH_EGRESS_IGNORED_IP=10.0.0.0/33" "APPMESH_EGRESS_IGNORED_IP=metadata.internal" \
           "APPMESH_EGRESS_IGNORED_IP=fd00::/129" "APPMESH_APP_PORTS=80:90"; do
  set +e
  run "$bad"
  rc=$?
  set -e
  [ "$rc" = 2 ] || fail "$bad: exit $rc, want 2"
  grep -q "${bad%%=*}" "$work/out" || fail "$bad: message does not name the variable: $(cat "$work/out")"
  [ ! -s "$work/log" ] || fail "$bad: rules were installed"
done
echo "check-iptables-init: ok"
