#!/usr/bin/env bash
# Redirects a pod's TCP traffic through the outrigger sidecar, as App Mesh's init container
# (proxy-route-manager) did. Run it once per pod, before the app starts, with NET_ADMIN, in the
# pod's network namespace:
#
#   deploy/iptables-init.sh          install (or re-install) the rules; idempotent
#   deploy/iptables-init.sh clean    remove every rule and chain this script made
#   deploy/iptables-init.sh show     print them
#
# What it installs, in the nat table, for IPv4 (iptables) and IPv6 (ip6tables, when it works):
#   OUTPUT     -p tcp -> OUTRIGGER_EGRESS:  RETURN for the proxy's own UID (its upstream
#              connections), loopback destinations, excluded ports and CIDRs; everything else
#              REDIRECT to the egress port (outrigger run --transparent reads SO_ORIGINAL_DST).
#   PREROUTING -p tcp -> OUTRIGGER_INGRESS: the app's listener ports REDIRECT to the ingress port.
#
# Environment (App Mesh's names first, so an App Mesh pod spec keeps working):
#   APPMESH_IGNORE_UID or OUTRIGGER_PROXY_UID   UID of the proxy              (default 1337)
#   APPMESH_IGNORE_GID                          also skip this GID             (default: none)
#   APPMESH_ENVOY_EGRESS_PORT                   egress listener port           (default 15001)
#   APPMESH_ENVOY_INGRESS_PORT                  ingress listener port          (default 15000)
#   APPMESH_APP_PORTS                           app listener ports, comma-separated (default: none,
#                                               i.e. no inbound redirect)
#   APPMESH_EGRESS_IGNORED_PORTS                outbound ports not redirected, comma-separated;
#                                               an item may be a range LOW:HIGH, as App Mesh's
#                                               `-m multiport --dports` took it (default 22; set
#                                               it empty for none)
#   APPMESH_EGRESS_IGNORED_IP                   outbound IPv4/IPv6 addresses or CIDRs not
#                                               redirected, comma-separated, both families in one
#                                               list as App Mesh's CNI takes it (default
#                                               169.254.169.254, the instance metadata service;
#                                               ECS also lists 169.254.170.2)
# Everything else (TLS to external APIs, databases, server-first protocols) is redirected and
# handled by the proxy by original destination port and first bytes (docs/tcp.md); these two
# lists are for traffic that must not see the proxy at all.
#   APPMESH_ENABLE_IPV6                         0 skips ip6tables               (default 1)
#   IPTABLES, IP6TABLES                         the commands                   (default iptables,
#                                               ip6tables)
#
# IPv6: the REDIRECT of an app's IPv6 connection lands on [::1]:EGRESS_PORT, so a dual-stack pod
# runs the proxy with `--egress-address ::` (one socket for both families).
set -euo pipefail

mode="${1:-install}"
egress_chain=OUTRIGGER_EGRESS
ingress_chain=OUTRIGGER_INGRESS

proxy_uid="${OUTRIGGER_PROXY_UID:-${APPMESH_IGNORE_UID:-1337}}"
proxy_gid="${APPMESH_IGNORE_GID:-}"
egress_port="${APPMESH_ENVOY_EGRESS_PORT:-15001}"
ingress_port="${APPMESH_ENVOY_INGRESS_PORT:-15000}"
app_ports="${APPMESH_APP_PORTS:-}"
ignored_ports="${APPMESH_EGRESS_IGNORED_PORTS-22}"
ignored_ips="${APPMESH_EGRESS_IGNORED_IP-169.254.169.254}"
enable_ipv6="${APPMESH_ENABLE_IPV6:-1}"
ipt4="${IPTABLES:-iptables}"
ipt6="${IP6TABLES:-ip6tables}"

die() { echo "iptables-init: $*" >&2; exit 2; }

# Comma list -> words, trimmed, empty items dropped.
split_list() { tr ',' '\n' <<<"$1" | tr -d ' \t' | grep -v '^$' || true; }

is_port() { [[ "$1" =~ ^[0-9]{1,5}$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

# PORT or LOW:HIGH (iptables --dport syntax), LOW <= HIGH.
is_port_or_range() {
  local lo="${1%%:*}" hi="${1##*:}"
  is_port "$lo" && is_port "$hi" && [ "$lo" -le "$hi" ] && [[ "$1" != *:*:* ]]
}

# IPv4 a.b.c.d[/0-32] or IPv6 hex:colons[/0-128] (iptables -d would also resolve host names at
# install time; App Mesh documents addresses, and a name here is more likely a typo).
is_ip_or_cidr() {
  local ip="${1%%/*}" len=""
  [[ "$1" == */* ]] && len="${1#*/}"
  if [[ "$ip" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]]; then
    for o in "${BASH_REMATCH[@]:1}"; do [ "$o" -le 255 ] || return 1; done
    [ -z "$len" ] || { [[ "$len" =~ ^[0-9]{1,2}$ ]] && [ "$len" -le 32 ]; }
  elif [[ "$ip" == *:* && "$ip" =~ ^[0-9a-fA-F:.]+$ ]]; then
    [ -z "$len" ] || { [[ "$len" =~ ^[0-9]{1,3}$ ]] && [ "$len" -le 128 ]; }
  else
    return 1
  fi
}

for p in "$egress_port" "$ingress_port"; do
  is_port "$p" || die "invalid port \"$p\""
done
for p in $(split_list "$app_ports"); do
  is_port "$p" || die "invalid port \"$p\" in APPMESH_APP_PORTS"
done
for p in $(split_list "$ignored_ports"); do
  is_port_or_range "$p" || die "invalid port or range \"$p\" in APPMESH_EGRESS_IGNORED_PORTS (PORT or LOW:HIGH)"
done
for ip in $(split_list "$ignored_ips"); do
  is_ip_or_cidr "$ip" || die "invalid address \"$ip\" in APPMESH_EGRESS_IGNORED_IP (an IPv4/IPv6 address or CIDR)"
done
[[ "$proxy_uid" =~ ^[0-9]+$ ]] || die "invalid proxy UID \"$proxy_uid\""
[ -z "$proxy_gid" ] || [[ "$proxy_gid" =~ ^[0-9]+$ ]] || die "invalid GID \"$proxy_gid\""

# Removes the jump rules and the chains of one family. Quiet when there is nothing to remove.
clean_family() {
  local ipt="$1"
  while "$ipt" -t nat -C OUTPUT -p tcp -j "$egress_chain" 2>/dev/null; do
    "$ipt" -t nat -D OUTPUT -p tcp -j "$egress_chain"
  done
  while "$ipt" -t nat -C PREROUTING -p tcp -j "$ingress_chain" 2>/dev/null; do
    "$ipt" -t nat -D PREROUTING -p tcp -j "$ingress_chain"
  done
  for chain in "$egress_chain" "$ingress_chain"; do
    if "$ipt" -t nat -L "$chain" -n >/dev/null 2>&1; then
      "$ipt" -t nat -F "$chain"
      "$ipt" -t nat -X "$chain"
    fi
  done
}

# Installs the rules of one family: own chains, flushed and re-created, one jump each.
install_family() {
  local ipt="$1" family="$2" loopback ip
  if [ "$family" = 6 ]; then loopback="::1/128"; else loopback="127.0.0.0/8"; fi
  for chain in "$egress_chain" "$ingress_chain"; do
    "$ipt" -t nat -N "$chain" 2>/dev/null || true
    "$ipt" -t nat -F "$chain"
  done

  # Outbound.
  "$ipt" -t nat -A "$egress_chain" -p tcp -m owner --uid-owner "$proxy_uid" -j RETURN
  if [ -n "$proxy_gid" ]; then
    "$ipt" -t nat -A "$egress_chain" -p tcp -m owner --gid-owner "$proxy_gid" -j RETURN
  fi
  "$ipt" -t nat -A "$egress_chain" -p tcp -d "$loopback" -j RETURN
  for p in $(split_list "$ignored_ports"); do
    "$ipt" -t nat -A "$egress_chain" -p tcp --dport "$p" -j RETURN
  done
  for ip in $(split_list "$ignored_ips"); do
    # A CIDR of the other family is skipped: one list serves both.
    if [[ "$ip" == *:* ]]; then [ "$family" = 6 ] || continue; else [ "$family" = 4 ] || continue; fi
    "$ipt" -t nat -A "$egress_chain" -p tcp -d "$ip" -j RETURN
  done
  "$ipt" -t nat -A "$egress_chain" -p tcp -j REDIRECT --to-ports "$egress_port"

  # Inbound.
  for p in $(split_list "$app_ports"); do
    "$ipt" -t nat -A "$ingress_chain" -p tcp --dport "$p" -j REDIRECT --to-ports "$ingress_port"
  done

  "$ipt" -t nat -C OUTPUT -p tcp -j "$egress_chain" 2>/dev/null ||
    "$ipt" -t nat -A OUTPUT -p tcp -j "$egress_chain"
  "$ipt" -t nat -C PREROUTING -p tcp -j "$ingress_chain" 2>/dev/null ||
    "$ipt" -t nat -A PREROUTING -p tcp -j "$ingress_chain"
}

show_family() {
  local ipt="$1"
  for chain in OUTPUT PREROUTING "$egress_chain" "$ingress_chain"; do
    "$ipt" -t nat -S "$chain" 2>/dev/null | grep -E -- "$egress_chain|$ingress_chain" || true
  done
}

command -v "$ipt4" >/dev/null 2>&1 || die "$ipt4 not found (Debian: apt-get install iptables)"
families=("$ipt4:4")
if [ "$enable_ipv6" != 0 ] && command -v "$ipt6" >/dev/null 2>&1 &&
  "$ipt6" -t nat -L OUTPUT -n >/dev/null 2>&1; then
  families+=("$ipt6:6")
fi

for f in "${families[@]}"; do
  ipt="${f%:*}"
  family="${f##*:}"
  case "$mode" in
    install)
      install_family "$ipt" "$family"
      echo "iptables-init: IPv$family: outbound TCP -> :$egress_port (except UID $proxy_uid," \
        "ports [${ignored_ports}], CIDRs [${ignored_ips}]), inbound [${app_ports}] -> :$ingress_port"
      ;;
    clean)
      clean_family "$ipt"
      echo "iptables-init: IPv$family: removed"
      ;;
    show) show_family "$ipt" ;;
    *) die "unknown mode \"$mode\" (install, clean or show)" ;;
  esac
done
