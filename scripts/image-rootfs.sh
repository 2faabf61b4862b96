#!/usr/bin/env bash
# Lays out the runtime image's whole filesystem in DESTDIR (the Dockerfile's build stage runs it;
# the runtime stage is `FROM scratch` + this tree):
#   /usr/local/bin/outrigger         BINARY, stripped
#   every library `ldd BINARY` names, at the path ldd resolved it to, and the dynamic loader
#   /etc/passwd, /etc/group          root and outrigger (UID/GID 1337); no shell, no home
#   /etc/nsswitch.conf               hosts: files dns (the DNS service discovery of the mesh)
#   /etc/outrigger/mesh.yaml         MESH, when given (the image's example mesh)
# Nothing else: no shell, no package manager, no CA bundle (outrigger trusts only the
# certificate files a mesh names; it never loads the system CA store).
#
#   scripts/image-rootfs.sh BINARY DESTDIR [MESH]
# Fails when ldd cannot resolve a library. Prints each file it copies.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BINARY DESTDIR [MESH]" >&2; exit 2; }
bin="$1" dest="$2" mesh="${3:-}"
[ -x "$bin" ] || { echo "image-rootfs: $bin is not an executable" >&2; exit 2; }

if ldd "$bin" | grep -q 'not found'; then
  echo "image-rootfs: ldd cannot resolve every library of $bin:" >&2
  ldd "$bin" | grep 'not found' >&2
  exit 1
fi

mkdir -p "$dest/usr/local/bin" "$dest/etc"
install -m 0755 "$bin" "$dest/usr/local/bin/outrigger"
strip "$dest/usr/local/bin/outrigger" 2>/dev/null || true
echo "image-rootfs: /usr/local/bin/outrigger"

# `libfoo.so.N => /path (0x...)` and the loader's own `/lib64/ld-linux-x86-64.so.2 (0x...)`;
# linux-vdso.so.1 has no file. Copied by content (-L) to the path the loader will look up.
n=0
while read -r path; do
  mkdir -p "$dest$(dirname "$path")"
  cp -L "$path" "$dest$path"
  echo "image-rootfs: $path"
  n=$((n + 1))
done < <(ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $3} !/=>/ && $1 ~ /^\// {print $1}' | sort -u)
[ "$n" -gt 0 ] || { echo "image-rootfs: ldd named no library (static binary?)" >&2; exit 1; }

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
echo "image-rootfs: $n libraries; $(du -sh "$dest" | cut -f1) in $dest"
