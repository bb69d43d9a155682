#!/usr/bin/env bash
# bench/linux/mkinitramfs.sh OUT.cpio.gz [MODULE...]
#
# The initramfs of the Linux guest of `make bench`: a gzip'd cpio (newc) with
#
#     /init             bench/linux/init.c, gcc -static -O2 (glibc), stripped
#     /modules/*.ko     MODULE... and what they depend on, from Debian's
#                       package (bench/linux/fetch-kernel.sh must have run)
#     /modules/order    their file names in load order (dependencies first)
#
# plus, when $INITRAMFS_EXTRA names directories (colon-separated), their
# contents at the same paths (bench/tls.py: stunnel4 and its libraries from
# fetch-stunnel.sh, /etc/stunnel.conf and the certificate);
# and nothing else: no shell, no device nodes (init mounts devtmpfs itself),
# so the archive can be built without root and its size is what the
# benchmark needs.  Reproducible: fixed file order, owner 0:0, mtime 0,
# gzip without name or time stamp; the same inputs give the same bytes.
# Default MODULE list: virtio_pci virtio_net (Keel's default NIC model).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/bench/linux"
KDIR="$ROOT/build/linux/kernel"
die() { echo "mkinitramfs: error: $*" >&2; exit 1; }

[ "$#" -ge 1 ] || die "usage: $0 OUT.cpio.gz [MODULE...]"
out="$1"
shift
mods=("$@")
[ "${#mods[@]}" -gt 0 ] || mods=(virtio_pci virtio_net)
[ -f "$KDIR/modules/deps" ] || die "no kernel modules in ${KDIR#"$ROOT"/} (run bench/linux/fetch-kernel.sh)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/modules"

# -static needs libc.a (Debian: libc6-dev).
gcc -static -O2 -s -Wall -Wextra -Werror -o "$stage/init" "$HERE/init.c" ||
    die "cannot build /init (gcc -static needs libc6-dev)"

# The closure of the requested modules, in the load order of modules/deps.
declare -A file_of=() deps_of=() want=()
while read -r name file deps; do
    file_of[$name]="$file"
    deps_of[$name]="$deps"
done <"$KDIR/modules/deps"
mark() {
    [ -n "${file_of[$1]:-}" ] || die "module $1 is not in ${KDIR#"$ROOT"/}/modules (see KEEP_MODULES in fetch-kernel.sh)"
    [ -z "${want[$1]:-}" ] || return 0
    want[$1]=1
    local d
    for d in ${deps_of[$1]}; do mark "$d"; done
}
for m in "${mods[@]}"; do mark "${m//-/_}"; done
: >"$stage/modules/order"
while read -r name file _; do
    if [ -n "${want[$name]:-}" ]; then
        cp "$KDIR/modules/$file" "$stage/modules/"
        echo "$file" >>"$stage/modules/order"
    fi
done <"$KDIR/modules/deps"

IFS=: read -r -a extra <<<"${INITRAMFS_EXTRA:-}"
for d in "${extra[@]}"; do
    [ -n "$d" ] || continue
    [ -d "$d" ] || die "INITRAMFS_EXTRA: $d is not a directory"
    cp -a "$d/." "$stage/"
done

find "$stage" -exec touch -h -d @0 {} +
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
    cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -9 -n) >"$out.tmp"
if cmp -s "$out.tmp" "$out"; then rm -f "$out.tmp"; else mv "$out.tmp" "$out"; fi
