# outrigger sidecar image (issue 9). Multi-stage:
#   build    Debian 12 with the packages of scripts/setup.sh; builds the `outrigger` binary only.
#   init     Debian 12 slim + iptables + deploy/iptables-init.sh: the pod's init container
#            (docker build --target init -t outrigger-init .). Runs as root with NET_ADMIN.
#   runtime  (default, last) Debian 12 slim with only the shared libraries the binary needs
#            (checked by scripts/check-dockerfile.sh), non-root UID 1337, `outrigger run`.
#
#   docker build -t outrigger .
#   docker run --rm -e OUTRIGGER_MESH=/etc/outrigger -e APPMESH_VIRTUAL_NODE_NAME=... \
#       -v $PWD/examples/canary:/etc/outrigger:ro outrigger --transparent
#
# The runtime reads its mesh from OUTRIGGER_MESH (':'-separated files or directories) and the node
# it runs as from OUTRIGGER_NODE, APPMESH_RESOURCE_ARN or APPMESH_VIRTUAL_NODE_NAME (DECISIONS §1);
# arguments after the image name are appended to `outrigger run`.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential g++ cmake ninja-build pkg-config \
      libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev \
      libssl-dev libyaml-cpp-dev libfmt-dev libre2-dev libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cli ./cli
COPY proxy ./proxy
COPY routing ./routing
COPY tls ./tls
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DOUTRIGGER_TESTS=OFF -DOUTRIGGER_BENCH=OFF \
 && ninja -C /build outrigger \
 && strip /build/outrigger \
 && /build/outrigger version

FROM debian:12-slim AS init
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/iptables-init.sh /usr/local/bin/iptables-init.sh
ENTRYPOINT ["/usr/local/bin/iptables-init.sh"]

FROM debian:12-slim AS runtime
# Runtime packages: one per shared library of the binary (scripts/check-dockerfile.sh keeps this
# list honest). libc6, libgcc-s1 and libstdc++6 come with the base image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libyaml-cpp0.7 libfmt9 libre2-9 libboost-json1.81.0 libboost-url1.81.0 libssl3 libnghttp2-14 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 1337 outrigger \
 && useradd --system --uid 1337 --gid 1337 --no-create-home --shell /usr/sbin/nologin outrigger
COPY --from=build /build/outrigger /usr/local/bin/outrigger
COPY examples/canary/mesh.yaml /etc/outrigger/mesh.yaml
ENV OUTRIGGER_MESH=/etc/outrigger
# App Mesh's ports: 15000 ingress, 15001 egress, 9901 admin (127.0.0.1 only).
EXPOSE 15000
USER 1337:1337
ENTRYPOINT ["/usr/local/bin/outrigger", "run"]
