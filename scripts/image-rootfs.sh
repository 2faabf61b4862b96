#!/usr/bin/env bash
# Lays out the runtime image's whole filesystem in DESTDIR (the Dockerfile's build stage runs it;
# the runtime stage is `FROM scratch` + this tree):
#   /usr/local/bin/outrigger         BINARY, stripped
#   /usr/bin/{bash,head,grep,cat,sleep}  the tools of the sidecar's readiness and preStop probes
#                                    (deploy/kubernetes, `outrigger inject`): bash's /dev/tcp to
#                                    the admin port on 127.0.0.1, which the kubelet cannot reach
#   every library `ldd` names for those, at the path ldd resolved it to, and the dynamic loader
#   /etc/passwd, /etc/group          root and outrigger (UID/GID 1337); no home
#   /etc/nsswitch.conf               hosts: files dns (the DNS service discovery of the mesh)
#   /etc/outrigger/mesh.yaml         MESH, when given (the image's example mesh)
# Nothing else: no package manager, no CA bundle (outrigger trusts only the certificate files a
# mesh names; it never loads the system CA store).
#
#   scripts/image-rootfs.sh BINARY DESTDIR [MESH]
#   scripts/image-rootfs.sh --libraries BINARY     print the files ldd names for BINARY and the
#                                                  probe tools (what the tree must hold), one a line
# Fails when ldd cannot resolve a library. Prints each file it copies.
set -euo pipefail
probe_tools=(bash head grep cat sleep)

# Files ldd names for each argument: `libfoo.so.N => /path (0x...)` and the loader's own
# `/lib64/ld-linux-x86-64.so.2 (0x...)`; linux-vdso.so.1 has no file.
ldd_files() {
  local f
  for f in "$@"; do
    if ldd "$f" | grep -q 'not found'; then
      echo "image-rootfs: ldd cannot resolve every library of $f:" >&2
      ldd "$f" | grep 'not found' >&2
      return 1
    fi
    ldd "$f" | awk '/=>/ && $3 ~ /^\// {print $3} !/=>/ && $1 ~ /^\// {print $1}'
  done | sort -u
}
tool_paths() {
  local t p
  for t in "${probe_tools[@]}"; do
    p=$(command -v "$t") || { echo "image-rootfs: $t not found" >&2; return 1; }
    readlink -f "$p"
  done
}

if [ "${1:-}" = --libraries ]; then
  [ $# -eq 2 ] || { echo "usage: $0 --libraries BINARY" >&2; exit 2; }
  mapfile -t tools < <(tool_paths)
  ldd_files "$2" "${tools[@]}"
  exit 0
fi
[ $# -ge 2 ] || { echo "usage: $0 BINARY DESTDIR [MESH]" >&2; exit 2; }
bin="$1" dest="$2" mesh="${3:-}"
[ -x "$bin" ] || { echo "image-rootfs: $bin is not an executable" >&2; exit 2; }
mapfile -t tools < <(tool_paths)
[ ${#tools[@]} -eq ${#probe_tools[@]} ] || exit 1
mapfile -t libs < <(ldd_files "$bin" "${tools[@]}")
[ ${#libs[@]} -gt 0 ] || { echo "image-rootfs: ldd named no library (static binary?)" >&2; exit 1; }

mkdir -p "$dest/usr/local/bin" "$dest/usr/bin" "$dest/etc"
install -m 0755 "$bin" "$dest/usr/local/bin/outrigger"
strip "$dest/usr/local/bin/outrigger" 2>/dev/null || true
echo "image-rootfs: /usr/local/bin/outrigger"
for i in "${!probe_tools[@]}"; do
  install -m 0755 "${tools[$i]}" "$dest/usr/bin/${probe_tools[$i]}"
  echo "image-rootfs: /usr/bin/${probe_tools[$i]}"
done
# Copied by content (-L) to the path the loader will look up.
for path in "${libs[@]}"; do
  mkdir -p "$dest$(dirname "$path")"
  cp -L "$path" "$dest$path"
  echo "image-rootfs: $path"
done

cat >"$dest/etc/passwd" <<'EOF'
root:x:0:0:root:/:/nonexistent
outrigger:x:1337:1337:outrigger sidecar:/nonexistent:/nonexistent
EOF
cat >"$dest/etc/group" <<'EOF'
root:x:0:
outrigger:x:1337:
EOF
echo 'hosts: files dns' >"$dest/etc/nsswitch.conf"
if [ -n "$mesh" ]; then
  mkdir -p "$dest/etc/outrigger"
  install -m 0644 "$mesh" "$dest/etc/outrigger/mesh.yaml"
fi
echo "image-rootfs: ${#libs[@]} libraries; $(du -sh "$dest" | cut -f1) in $dest"
