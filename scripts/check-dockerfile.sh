#!/usr/bin/env bash
# Checks the Dockerfile's runtime stage without a Docker engine: every shared library that
# `ldd BINARY` resolves must come from a Debian package that the runtime stage installs, that one
# of those pulls in (apt dependencies, recursively), or that debian:12-slim already has.
# Also checks that each listed package exists, and the stage's USER and ENTRYPOINT.
#
#   scripts/check-dockerfile.sh [BINARY] [DOCKERFILE]    (defaults: build/outrigger, Dockerfile)
#
# Exit 0 when everything is provided; 1 with one line per problem otherwise; 77 when the
# machine has no dpkg/apt to ask.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/outrigger}"
dockerfile="${2:-Dockerfile}"
[ -x "$bin" ] || { echo "check-dockerfile: $bin not built (ninja -C build outrigger)" >&2; exit 2; }
# Exit 77 (skipped under ctest) where the Debian tools or package lists are missing.
for t in ldd dpkg apt-cache; do
  command -v "$t" >/dev/null 2>&1 || { echo "check-dockerfile: SKIP: $t not found (not Debian?)"; exit 77; }
done
if ldd "$bin" | grep -Eq 'lib(asan|tsan|ubsan|lsan)\.so'; then
  echo "check-dockerfile: SKIP: $bin is a sanitizer build; check a release build"; exit 77
fi
apt-cache show libc6 >/dev/null 2>&1 ||
  { echo "check-dockerfile: SKIP: no apt package lists (run apt-get update)"; exit 77; }

# Packages of debian:12-slim that a binary may rely on (priority required + apt's dependencies).
base=(libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5 libbz2-1.0 libselinux1 libpcre2-8-0
      libcrypt1 libgmp10 libacl1 libattr1 libcap2 libsystemd0 liblz4-1 libgcrypt20 libgpg-error0)

# The runtime stage: from the last FROM to the end. Its packages are the words after
# `apt-get install` up to the end of that (continued) RUN line, options dropped.
runtime="$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$dockerfile")"
pkgs=()
while read -r w; do
  pkgs+=("$w")
done < <(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' <<<"$runtime" |
           grep -E 'apt-get install' |
           sed -E 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -Ev '^(-.*|)$')
[ ${#pkgs[@]} -gt 0 ] || { echo "check-dockerfile: no apt-get install in the runtime stage" >&2; exit 1; }

fail=0
for p in "${pkgs[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then
    echo "check-dockerfile: runtime package \"$p\" is unknown to apt (apt-get update?)"
    fail=1
  fi
done

# Everything the listed packages bring, recursively (Depends and PreDepends only).
declare -A provided=()
for p in "${base[@]}" "${pkgs[@]}"; do provided["$p"]=listed; done
while read -r dep; do
  [ -n "${provided[$dep]:-}" ] || provided["$dep"]=dependency
done < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances "${pkgs[@]}" 2>/dev/null |
         grep -E '^[a-z0-9]' | sed 's/:.*//' | sort -u)

# Libraries the binary names itself (DT_NEEDED) must come from a listed or base package; the
# libraries those pull in may come from a dependency.
declare -A direct=()
if command -v readelf >/dev/null 2>&1; then
  while read -r so; do direct["$so"]=1; done < <(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
fi

declare -A used=()
checked=0
while read -r lib path; do
  [ -n "$path" ] || continue
  real="$(readlink -f "$path")"
  owner="$(dpkg -S "$path" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true)"
  owner="${owner%%:*}"
  checked=$((checked + 1))
  if [ -z "$owner" ]; then
    echo "check-dockerfile: $lib ($path) belongs to no Debian package"
    fail=1
  elif [ -z "${provided[$owner]:-}" ]; then
    echo "check-dockerfile: $lib comes from $owner, which the runtime stage does not install"
    fail=1
  elif [ -n "${direct[$lib]:-}" ] && [ "${provided[$owner]}" = dependency ]; then
    echo "check-dockerfile: $lib (needed by the binary) comes from $owner, only installed as a" \
      "dependency: list it in the runtime stage"
    fail=1
  else
    echo "ok  $lib  <- $owner (${provided[$owner]})"
    used["$owner"]=1
  fi
done < <(ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $1, $3} !/=>/ && $1 ~ /^\// {print $1, $1}')

# Only what is needed: each listed package must provide one of the libraries.
for p in "${pkgs[@]}"; do
  [ -n "${used[$p]:-}" ] || { echo "check-dockerfile: runtime package \"$p\" provides no library the binary needs"; fail=1; }
done

# The rest of the stage.
grep -Eq '^USER 1337' <<<"$runtime" || { echo "check-dockerfile: runtime stage is not USER 1337"; fail=1; }
grep -Eq '^ENTRYPOINT \[.*outrigger", *"run"\]' <<<"$runtime" ||
  { echo "check-dockerfile: runtime ENTRYPOINT is not outrigger run"; fail=1; }
grep -Eq '^FROM debian:12-slim' <<<"$runtime" || { echo "check-dockerfile: runtime is not debian:12-slim"; fail=1; }

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "check-dockerfile: $checked shared libraries, all provided by the runtime stage (${pkgs[*]})"
