#!/usr/bin/env bash
# Checks the Dockerfile's runtime stage without building the image (ctest deploy_dockerfile_libraries;
# scripts/build-image.sh builds and checks the real images):
#   - the runtime stage is FROM scratch, copies the tree of scripts/image-rootfs.sh, runs as
#     USER 1337:1337 with ENTRYPOINT outrigger run, and the build stage runs image-rootfs.sh;
#   - scripts/image-rootfs.sh, run on BINARY, lays out a tree holding every library ldd names for
#     the binary and the probes' tools (and nothing else shared), with UID 1337 in /etc/passwd;
#   - as root: that tree alone runs the binary (`chroot TREE outrigger version`, and `outrigger
#     validate` on the canary mesh, and the probe tools), so no library is missing and none is
#     found on the host.
#
#   scripts/check-dockerfile.sh [BINARY] [DOCKERFILE]    (defaults: build/outrigger, Dockerfile)
#
# Exit 0 when all hold; 1 with one line per problem; 77 (skipped) for a sanitizer build, or
# when not root, after the checks that need no root.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/outrigger}"
dockerfile="${2:-Dockerfile}"
[ -x "$bin" ] || { echo "check-dockerfile: $bin not built (ninja -C build outrigger)" >&2; exit 2; }
command -v ldd >/dev/null || { echo "check-dockerfile: SKIP: no ldd"; exit 77; }
if ldd "$bin" | grep -Eq 'lib(asan|tsan|ubsan|lsan)\.so'; then
  echo "check-dockerfile: SKIP: $bin is a sanitizer build; check a release build"; exit 77
fi

fail=0
problem() { echo "check-dockerfile: $*"; fail=1; }

# The runtime stage: from the last FROM to the end.
runtime="$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$dockerfile")"
grep -Eq '^FROM scratch( AS runtime)?$' <<<"$runtime" || problem "runtime stage is not FROM scratch"
grep -Eq '^COPY --from=build /rootfs /$' <<<"$runtime" || problem "runtime stage does not COPY --from=build /rootfs /"
[ "$(grep -c '^COPY\|^ADD\|^RUN' <<<"$runtime")" = 1 ] ||
  problem "runtime stage adds more than the rootfs (one COPY expected, no RUN: scratch has no shell)"
grep -Eq '^USER 1337:1337$' <<<"$runtime" || problem "runtime stage is not USER 1337:1337"
grep -Eq '^ENTRYPOINT \["/usr/local/bin/outrigger", *"run"\]$' <<<"$runtime" ||
  problem "runtime ENTRYPOINT is not [\"/usr/local/bin/outrigger\", \"run\"]"
grep -Eq '^ENV PATH=/usr/local/bin:/usr/bin' <<<"$runtime" || problem "runtime stage sets no PATH (scratch has none)"
grep -Eq 'scripts/image-rootfs\.sh build-release/outrigger /rootfs' "$dockerfile" ||
  problem "the build stage does not run scripts/image-rootfs.sh build-release/outrigger /rootfs"

tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
if ! bash scripts/image-rootfs.sh "$bin" "$tree" examples/canary/mesh.yaml >"$tree.log" 2>&1; then
  cat "$tree.log"; rm -f "$tree.log"; problem "scripts/image-rootfs.sh failed"; exit 1
fi
rm -f "$tree.log"

mapfile -t needed < <(bash scripts/image-rootfs.sh --libraries "$bin")
for p in "${needed[@]}"; do
  [ -f "$tree$p" ] || problem "$p (ldd) is not in the tree"
done
extra=$(comm -13 <(printf '%s\n' "${needed[@]}") <(cd "$tree" && find . -name '*.so*' | sed 's|^\.||' | sort -u))
[ -z "$extra" ] || problem "the tree holds shared objects ldd does not name: $extra"
grep -q '^outrigger:x:1337:1337:' "$tree/etc/passwd" || problem "/etc/passwd has no outrigger with UID 1337"
[ -f "$tree/etc/outrigger/mesh.yaml" ] || problem "no /etc/outrigger/mesh.yaml in the tree"

if [ "$(id -u)" -ne 0 ]; then
  [ "$fail" -eq 0 ] || exit 1
  echo "check-dockerfile: SKIP: the chroot run needs root (${#needed[@]} files from ldd are in the tree)"
  exit 77
fi
# Only the tree: a library the loader found on the host before would be "not found" here.
if ! out=$(chroot "$tree" /usr/local/bin/outrigger version 2>&1); then
  problem "chroot: outrigger version failed: $out"
fi
if ! out=$(chroot "$tree" /usr/local/bin/outrigger validate /etc/outrigger/mesh.yaml 2>&1); then
  problem "chroot: outrigger validate /etc/outrigger/mesh.yaml failed: $out"
fi
loader=$(ldd "$bin" | awk '!/=>/ && $1 ~ /^\// {print $1}')
if list=$(chroot "$tree" "$loader" --list /usr/local/bin/outrigger 2>&1); then
  ! grep -q 'not found' <<<"$list" || problem "chroot: $(grep 'not found' <<<"$list")"
else
  problem "chroot: the tree's dynamic loader cannot list the binary: $list"
fi
# The readiness probe's pipeline (deploy/kubernetes, cli/inject) with its tools from the tree
# (a bare chroot has no /dev; scripts/build-image.sh runs the real probes in the image).
if ! out=$(chroot "$tree" /usr/bin/bash -c \
    "printf 'HTTP/1.0 200 OK\r\n\r\n' | head -1 | grep -q ' 200 ' && cat /etc/passwd | grep -q '^outrigger:' && sleep 0" 2>&1); then
  problem "chroot: the probe tools (bash head grep cat sleep) do not run: $out"
fi
[ "$fail" -eq 0 ] || exit 1
echo "check-dockerfile: ${#needed[@]} files from ldd in the runtime tree; outrigger version and validate run in it alone"
