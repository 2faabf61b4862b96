# outrigger sidecar image (issue 9, issue 14). Multi-stage:
#   build    Debian 12 (slim) with the build packages of scripts/setup.sh; builds the `outrigger` binary
#            (Release) and lays out the runtime filesystem with scripts/image-rootfs.sh.
#   init     Debian 12 slim + iptables + deploy/iptables-init.sh: the pod's init container
#            (--target init). Runs as root with NET_ADMIN.
#   runtime  (default, last) FROM scratch: the stripped binary, the probes' bash, head, grep, cat
#            and sleep, exactly the shared libraries `ldd` names for those and the dynamic loader,
#            /etc/passwd with UID 1337, the canary mesh. No package manager.
#
# Here (no Docker engine): bash scripts/build-image.sh (buildah, checks, sizes). With Docker:
#   docker build -t outrigger . && docker build --target init -t outrigger-init .
#   docker run --rm -e APPMESH_VIRTUAL_NODE_NAME=... -v $PWD/examples/canary:/etc/outrigger:ro \
#       outrigger --transparent
#
# The runtime reads its mesh from OUTRIGGER_MESH (':'-separated files or directories) and the node
# it runs as from OUTRIGGER_NODE, APPMESH_RESOURCE_ARN or APPMESH_VIRTUAL_NODE_NAME (DECISIONS §1);
# arguments after the image name are appended to `outrigger run`.
#
# CMAKE_ARGS: extra configure flags (CI passes -DOUTRIGGER_WERROR=ON). With a ccache directory
# mounted at /ccache (buildah bud -v DIR:/ccache, as scripts/build-image.sh does) the compile reuses
# the host's cache: the build directory is /src/build-release, the host's is <checkout>/build-release.

FROM debian:12-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential g++ cmake ninja-build pkg-config ccache binutils \
      libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev \
      libssl-dev libyaml-cpp-dev libfmt-dev libre2-dev libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cli ./cli
COPY proxy ./proxy
COPY routing ./routing
COPY tls ./tls
COPY scripts/image-rootfs.sh ./scripts/
COPY examples/canary/mesh.yaml ./examples/canary/
ARG CMAKE_ARGS=""
# ccache hashes LANG: the host's value (scripts/build-image.sh passes it) makes its entries match.
ARG CCACHE_LANG=""
RUN if [ -d /ccache ]; then export CCACHE_DIR=/ccache CCACHE_BASEDIR=/src CCACHE_NOHASHDIR=1 \
      CCACHE_STATSLOG=/tmp/ccache-stats.log; \
      if [ -n "$CCACHE_LANG" ]; then export LANG="$CCACHE_LANG"; fi; \
    else export CCACHE_DISABLE=1; fi \
 && cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release $CMAKE_ARGS \
      -DOUTRIGGER_TESTS=OFF -DOUTRIGGER_BENCH=OFF >/dev/null \
 && ninja -C build-release outrigger \
 && if [ -d /ccache ]; then echo "ccache, this build: $(ccache --show-log-stats | grep -Ei '^ *(hits|misses):' | tr -s ' ' | tr '\n' ' ')"; fi \
 && build-release/outrigger version \
 && bash scripts/image-rootfs.sh build-release/outrigger /rootfs examples/canary/mesh.yaml

FROM debian:12-slim AS init
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY deploy/iptables-init.sh /usr/local/bin/iptables-init.sh
ENTRYPOINT ["/usr/local/bin/iptables-init.sh"]

FROM scratch AS runtime
COPY --from=build /rootfs /
ENV PATH=/usr/local/bin:/usr/bin OUTRIGGER_MESH=/etc/outrigger
# App Mesh's ports: 15000 ingress, 15001 egress, 9901 admin (127.0.0.1 only).
EXPOSE 15000
USER 1337:1337
ENTRYPOINT ["/usr/local/bin/outrigger", "run"]
