#!/usr/bin/env bash
# Installs the Debian 12 packages outrigger needs to build, test and run its demo.
# Idempotent: safe to run again. Needs root (or sudo) and Debian's package mirrors.
set -euo pipefail
pkgs=(
  build-essential g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libssl-dev libyaml-cpp-dev libfmt-dev catch2 libre2-dev libnghttp2-dev
  curl openssl python3
  # Tests only: a second YAML reader for `outrigger inject`'s output (tests/integration/cli).
  python3-yaml
  # Tests only, not a runtime dependency: tests/netns/multipod.sh (iptables inside network
  # namespaces, as deploy/iptables-init.sh does in a pod's init container; tcpdump to check that
  # the bytes between the pods are TLS).
  iptables tcpdump
  # Tests only: the TCP proxy tests (tests/integration/tcp) run real redis servers and redis-cli.
  # redis-benchmark (redis-tools) also drives bench/redis_tcp.sh; util-linux's setpriv runs the
  # app and the sidecar as different UIDs in tests/netns/tcp_transparent.sh.
  redis-server redis-tools util-linux
  # Tests only: psql through two sidecars into an inbound tcp listener (tests/integration/tcp,
  # skipped without it). initdb/pg_ctl run from /usr/lib/postgresql/15/bin; no service started.
  postgresql postgresql-client
  # Tests only: real HTTP/2 peers (nghttp, h2load; nghttpd as an h2 upstream).
  nghttp2-client nghttp2-server
  # Tests only: real gRPC peers (tests/integration/http2/grpc_peer.py) and
  # python h2 peers (h2_peer.py, the grpc-timeout black hole); run with /usr/bin/python3.
  python3-grpcio python3-h2
  # CI's image stage (scripts/build-image.sh): builds the Dockerfile without a Docker engine.
  buildah podman mmdebstrap
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Never let a package's post-install start a system service (nginx, haproxy in bench/).
  if [ ! -f /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
