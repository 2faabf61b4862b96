#!/usr/bin/env bash
# Builds the Dockerfile's two images on this machine, without a Docker engine or a registry, and
# checks them (CI's IMAGE stage, scripts/test.sh):
#   outrigger        the runtime (FROM scratch: binary + the libraries ldd names + UID 1337)
#   outrigger-init   the init container (debian:12-slim + iptables + deploy/iptables-init.sh)
# The debian:12-slim base is made locally when missing: `mmdebstrap --variant=minbase bookworm`
# (with -slim's dpkg excludes) into $BASE_CACHE (default /var/cache/outrigger/debian-12-slim.tar,
# kept for the next run), then `podman import`. Builds use `buildah bud --isolation chroot --layers`; a ccache directory
# ($CCACHE_HOST_DIR, default ccache's own) is mounted into the build stage, so an image built
# after a host build with the same flags compiles nothing.
#
#   bash scripts/build-image.sh                       # build, check, print sizes
#   CMAKE_ARGS=-DOUTRIGGER_WERROR=ON bash scripts/build-image.sh
# Checks: `outrigger version` and `outrigger validate` on the canary mesh run inside the runtime
# image (buildah run --isolation chroot); every library ldd names for the image's binary is in the
# image at that path (and those of the probes' bash, head, grep, cat, sleep), and the image holds
# no other shared object; the dynamic loader inside the image resolves them all; the image user is 1337:1337 and /etc/passwd names UID 1337; the init
# image runs iptables and holds deploy/iptables-init.sh as its entrypoint; the readiness probe and
# preStop command of deploy/kubernetes pass against `outrigger run` inside the runtime image. Fails when the runtime
# image exceeds MAX_RUNTIME_BYTES (default 40000000, 40 MB). Needs root (buildah mount).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME_TAG=${RUNTIME_TAG:-localhost/outrigger:latest}
INIT_TAG=${INIT_TAG:-localhost/outrigger-init:latest}
BASE_CACHE=${BASE_CACHE:-/var/cache/outrigger/debian-12-slim.tar}
MAX_RUNTIME_BYTES=${MAX_RUNTIME_BYTES:-40000000}
started=$(date +%s)
step() { echo "--- build-image: $* ($(( $(date +%s) - started ))s)"; }
die() { echo "build-image: FAIL: $*" >&2; exit 1; }

for t in buildah podman mmdebstrap ldd; do
  command -v "$t" >/dev/null || die "$t not found (bash scripts/setup.sh installs it)"
done
[ "$(id -u)" -eq 0 ] || die "run as root (buildah mount and mmdebstrap's root mode)"

# 1. The base image, debian:12-slim, made here when missing: minbase plus the dpkg path
# excludes Debian's own -slim images are made with (no man pages, docs or translations; the
# copyright files stay). They stay in the image's dpkg config, so apt-get inside the build keeps
# them out too.
if ! podman image exists localhost/debian:12-slim; then
  if [ ! -s "$BASE_CACHE" ]; then
    step "mmdebstrap --variant=minbase bookworm -> $BASE_CACHE"
    mkdir -p "$(dirname "$BASE_CACHE")"
    mmdebstrap --quiet --variant=minbase \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      bookworm "$BASE_CACHE.partial.tar"
    mv "$BASE_CACHE.partial.tar" "$BASE_CACHE"
  fi
  step "podman import $BASE_CACHE -> debian:12-slim"
  podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' "$BASE_CACHE" localhost/debian:12-slim >/dev/null
fi
# `FROM debian:12-slim` resolves to the local image, never to a registry.
podman tag localhost/debian:12-slim docker.io/library/debian:12-slim

# 2. Both targets.
bud=(buildah bud --isolation chroot --layers --pull=false --build-arg "CMAKE_ARGS=${CMAKE_ARGS:-}")
ccache_dir=${CCACHE_HOST_DIR:-$(ccache -k cache_dir 2>/dev/null || true)}
if [ -n "$ccache_dir" ]; then
  mkdir -p "$ccache_dir"
  bud+=(-v "$ccache_dir:/ccache" --build-arg "CCACHE_LANG=${LANG:-}")
fi
step "buildah bud --target init -> $INIT_TAG"
"${bud[@]}" --target init -t "$INIT_TAG" . >/tmp/outrigger-image-init.log 2>&1 ||
  { tail -40 /tmp/outrigger-image-init.log; die "init image build (log: /tmp/outrigger-image-init.log)"; }
step "buildah bud (runtime) -> $RUNTIME_TAG"
"${bud[@]}" -t "$RUNTIME_TAG" . >/tmp/outrigger-image-runtime.log 2>&1 ||
  { tail -60 /tmp/outrigger-image-runtime.log; die "runtime image build (log: /tmp/outrigger-image-runtime.log)"; }
grep '^ccache, this build:' /tmp/outrigger-image-runtime.log | sed 's/^/build-image: /' || true

# 3. Checks, in containers of each image.
ctrs=()
cleanup() {
  for c in "${ctrs[@]}"; do buildah umount "$c" >/dev/null 2>&1 || true; buildah rm "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
step "checks"
rt=$(buildah from --pull=false "$RUNTIME_TAG"); ctrs+=("$rt")
run() { buildah run --isolation chroot "$@"; }

ver=$(run "$rt" -- /usr/local/bin/outrigger version) || die "outrigger version failed in the runtime image"
echo "build-image: runtime: outrigger version -> $ver"
grep -q '[0-9]\.[0-9]' <<<"$ver" || die "outrigger version printed no version: $ver"
val=$(run "$rt" -- /usr/local/bin/outrigger validate /etc/outrigger/mesh.yaml 2>&1) ||
  { echo "$val"; die "outrigger validate /etc/outrigger/mesh.yaml failed in the runtime image"; }
echo "build-image: runtime: outrigger validate /etc/outrigger/mesh.yaml -> $(tail -1 <<<"$val")"

mnt=$(buildah mount "$rt")
# What the binary and the probes' tools need (ldd on this Debian 12 host) ...
mapfile -t needed < <(bash scripts/image-rootfs.sh --libraries "$mnt/usr/local/bin/outrigger") ||
  die "ldd cannot resolve the libraries of the image's binary"
[ ${#needed[@]} -gt 0 ] || die "ldd named no library for the image's binary"
for p in "${needed[@]}"; do
  [ -f "$mnt$p" ] || die "$p (named by ldd) is not in the runtime image"
done
# ... is exactly the shared objects in the image ...
mapfile -t present < <(cd "$mnt" && find . -name '*.so*' \( -type f -o -type l \) | sed 's|^\.||' | sort -u)
extra=$(comm -13 <(printf '%s\n' "${needed[@]}") <(printf '%s\n' "${present[@]}"))
[ -z "$extra" ] || die "the runtime image holds shared objects ldd does not name: $extra"
# ... and the loader inside the image finds them there.
loader=$(ldd "$mnt/usr/local/bin/outrigger" | awk '!/=>/ && $1 ~ /^\// {print $1}')
for f in /usr/local/bin/outrigger /usr/bin/bash /usr/bin/head /usr/bin/grep /usr/bin/cat /usr/bin/sleep; do
  list=$(run "$rt" -- "$loader" --list "$f") || die "the image's dynamic loader cannot list $f's libraries"
  ! grep -q 'not found' <<<"$list" || die "inside the image, for $f: $(grep 'not found' <<<"$list")"
done
echo "build-image: runtime: ${#needed[@]} files from ldd (libraries and loader), all present, nothing else"
# The readiness probe's pipeline, with the image's PATH.
run "$rt" -- bash -c "printf 'HTTP/1.0 200 OK\r\n\r\n' | head -1 | grep -q ' 200 ' && cat /etc/passwd >/dev/null && sleep 0" ||
  die "the probe tools (bash head grep cat sleep) do not run in the runtime image"

user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$RUNTIME_TAG")
[ "$user" = "1337:1337" ] || die "runtime image user is '$user', not 1337:1337"
grep -q '^outrigger:x:1337:1337:' "$mnt/etc/passwd" || die "/etc/passwd has no outrigger with UID 1337"
entry=$(buildah inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$RUNTIME_TAG")
[ "$entry" = '[/usr/local/bin/outrigger run]' ] || die "runtime entrypoint is $entry"
echo "build-image: runtime: user $user, entrypoint $entry"
# The sidecar's own probes (deploy/kubernetes, word for word) against `outrigger run` inside the
# image, in a private network namespace (its 127.0.0.1:9901 is the image's alone).
manifest=deploy/kubernetes/20-my-interview-service-v1.yaml
ready_cmd=$(sed -n 's|^ *- \(exec 3<>/dev/tcp/127\.0\.0\.1/9901 .*GET /ready .*\)$|\1|p' "$manifest" | head -1)
drain_cmd=$(sed -n 's|^ *- \(exec 3<>/dev/tcp/127\.0\.0\.1/9901 .*/drain_listeners.*\)$|\1|p' "$manifest" | head -1)
[ -n "$ready_cmd" ] && [ -n "$drain_cmd" ] || die "no readiness/preStop command found in $manifest"
buildah config --env "READY_CMD=$ready_cmd" --env "DRAIN_CMD=$drain_cmd" "$rt"
probe_script='outrigger run --mesh /etc/outrigger/mesh.yaml --log-level warn & pid=$!
for ((i = 0; i < 100; i++)); do bash -c "$READY_CMD" && break; sleep 0.1; done
((i < 100)) || { echo "readiness probe never passed"; kill $pid; exit 1; }
bash -c "$DRAIN_CMD" || { echo "preStop command failed"; kill $pid; exit 1; }
kill -TERM $pid && wait $pid'
unshare --net sh -c 'ip link set lo up && exec "$@"' sh \
  buildah run --isolation chroot "$rt" -- bash -c "$probe_script" ||
  die "the readiness probe and preStop of $manifest do not work against outrigger run in the image"
echo "build-image: runtime: the manifests' readiness probe and preStop pass against outrigger run in the image"
runtime_bytes=$(podman image inspect --format '{{.Size}}' "$RUNTIME_TAG")
runtime_gz=$(tar -C "$mnt" -cf - . | gzip -9 | wc -c)

it=$(buildah from --pull=false "$INIT_TAG"); ctrs+=("$it")
ipt=$(run "$it" -- iptables --version) || die "iptables does not run in the init image"
run "$it" -- ip6tables --version >/dev/null || die "ip6tables does not run in the init image"
imnt=$(buildah mount "$it")
cmp -s deploy/iptables-init.sh "$imnt/usr/local/bin/iptables-init.sh" ||
  die "the init image's /usr/local/bin/iptables-init.sh is not deploy/iptables-init.sh"
[ -x "$imnt/usr/local/bin/iptables-init.sh" ] || die "the init script is not executable"
ientry=$(buildah inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$INIT_TAG")
[ "$ientry" = '[/usr/local/bin/iptables-init.sh]' ] || die "init entrypoint is $ientry"
run "$it" -- bash -n /usr/local/bin/iptables-init.sh || die "the init script does not parse in the init image"
echo "build-image: init: $ipt, entrypoint $ientry"
init_bytes=$(podman image inspect --format '{{.Size}}' "$INIT_TAG")
init_gz=$(tar -C "$imnt" -cf - . | gzip -6 | wc -c)

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
step "sizes"
echo "build-image: $RUNTIME_TAG  $(mb "$runtime_bytes")  (gzip of its filesystem: $(mb "$runtime_gz"))"
echo "build-image: $INIT_TAG  $(mb "$init_bytes")  (gzip of its filesystem: $(mb "$init_gz"))"
[ "$runtime_bytes" -le "$MAX_RUNTIME_BYTES" ] ||
  die "runtime image is $(mb "$runtime_bytes"), over the $(mb "$MAX_RUNTIME_BYTES") budget"
step "ok"
