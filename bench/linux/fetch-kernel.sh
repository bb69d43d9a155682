#!/usr/bin/env bash
# bench/linux/fetch-kernel.sh - Debian's kernel for the Linux guest of `make bench`.
#
# Downloads Debian's linux-image package with `apt-get download` (the machine's
# own apt configuration; nothing is installed, /boot and the dpkg database are
# untouched) and unpacks from it only what the guest needs into build/linux/kernel/:
#
#     vmlinuz           the kernel QEMU boots with -kernel
#     config            its build configuration (for reference)
#     modules/*.ko      the NIC/virtio modules mkinitramfs.sh may copy into the
#     modules/deps      initramfs, and their dependencies (NAME FILE DEP...)
#     package           "PACKAGE VERSION SHA256-OF-THE-.deb" - what was used
#
# Which package: $LINUX_IMAGE if set (e.g. linux-image-6.1.0-56-amd64, or with
# =VERSION), else the one Debian's metapackage linux-image-amd64 depends on
# today.  Once build/linux/kernel/ holds a kernel it is kept (no network, no
# apt): the figures of later runs come from the same kernel.  LINUX_REFRESH=1
# (or a different $LINUX_IMAGE) fetches again.  The package line is printed
# by bench/linux.py with every run, so a result names its kernel exactly.
set -euo pipefail

# The drivers a guest may need: virtio-net and e1000 (Keel's NIC models),
# virtio-rng; and nftables with connection tracking for the forwarding pair
# (bench/linux.py, keelbench=forward; libcrc32c asks the crypto API for
# crc32c, hence crc32c_generic first).  Their dependencies come along.
KEEP_MODULES="virtio_pci virtio_net e1000 e1000e virtio_rng crc32c_generic nf_tables nft_ct nf_conntrack"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/build/linux/kernel"
DL="$ROOT/build/linux/download"
LOG="$ROOT/build/logs/linux-kernel.log"
say() { echo "fetch-kernel: $*" >&2; }
die() { echo "fetch-kernel: error: $*" >&2; exit 1; }

want="${LINUX_IMAGE:-}"
if [ -f "$OUT/package" ] && [ -f "$OUT/vmlinuz" ] && [ "${LINUX_REFRESH:-0}" != 1 ]; then
    read -r have_pkg have_ver _ <"$OUT/package"
    # A module added to KEEP_MODULES since: the same package again.
    missing=""
    for m in $KEEP_MODULES; do
        grep -q "^$m " "$OUT/modules/deps" 2>/dev/null || missing="$missing $m"
    done
    if [ -n "$missing" ] && [ -z "$want" ]; then
        say "modules missing from ${OUT#"$ROOT"/}:$missing; fetching $have_pkg $have_ver again"
        want="$have_pkg=$have_ver"
    elif [ -z "$missing" ]; then
        case "$want" in
            "" | "$have_pkg" | "$have_pkg=$have_ver") exit 0 ;;
        esac
    fi
fi

command -v apt-get >/dev/null || die "apt-get not found (a Debian machine is needed)"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (apt-get install dpkg)"
mkdir -p "$DL" "$(dirname "$LOG")"
: >"$LOG"

# The concrete package behind the metapackage (linux-image-amd64 depends on
# exactly one linux-image-X.Y.Z-N-amd64).
resolve() {
    apt-cache depends --no-recommends --no-suggests linux-image-amd64 2>>"$LOG" |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
if [ -z "$want" ]; then
    want="$(resolve || true)"
    if [ -z "$want" ]; then
        # A fresh machine may have no package lists yet.
        say "no package lists for linux-image-amd64; apt-get update"
        apt-get -q -o DPkg::Lock::Timeout=300 update >>"$LOG" 2>&1 || die "apt-get update failed (see $LOG)"
        want="$(resolve || true)"
    fi
    [ -n "$want" ] || die "cannot tell which kernel linux-image-amd64 depends on (see $LOG)"
fi

say "downloading $want (apt-get download)"
rm -f "$DL"/*.deb
(cd "$DL" && apt-get -q -o APT::Sandbox::User=root download "$want" >>"$LOG" 2>&1) ||
    die "apt-get download $want failed (see $LOG)"
deb="$(ls "$DL"/*.deb | head -n 1)"
[ -f "$deb" ] || die "no .deb downloaded (see $LOG)"
pkg="$(dpkg-deb -f "$deb" Package)"
ver="$(dpkg-deb -f "$deb" Version)"
sum="$(sha256sum "$deb" | cut -d' ' -f1)"

tmp="$(mktemp -d "$ROOT/build/linux/.unpack.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Only the kernel, its config and the modules (no 400 MB unpack of everything).
dpkg-deb --fsys-tarfile "$deb" |
    tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' './boot/config-*' './lib/modules/*.ko' 2>>"$LOG" ||
    die "cannot unpack $deb (see $LOG)"
mkdir -p "$tmp/out/modules"
mv "$tmp"/boot/vmlinuz-* "$tmp/out/vmlinuz"
mv "$tmp"/boot/config-* "$tmp/out/config"

# Keep the modules of KEEP_MODULES and what they depend on (the .modinfo
# section's depends= field; the package ships no modules.dep), in a flat
# directory, with modules/deps listing "NAME FILE DEP..." in load order
# (dependencies first).  Module names use '_' where file names may use '-'.
declare -A file_of=() done_=()
while IFS= read -r -d '' f; do
    b="$(basename "$f" .ko)"
    file_of[${b//-/_}]="$f"
done < <(find "$tmp/lib/modules" -name '*.ko' -print0)
: >"$tmp/out/modules/deps"
visit() {
    local name="$1" f deps d
    [ -z "${done_[$name]:-}" ] || return 0
    f="${file_of[$name]:-}"
    [ -n "$f" ] || die "module $name is not in $pkg"
    deps="$(objcopy -O binary --only-section=.modinfo "$f" /dev/stdout | tr '\0' '\n' |
            sed -n 's/^depends=//p' | tr ',' ' ')"
    for d in $deps; do visit "$d"; done
    done_[$name]=1
    cp "$f" "$tmp/out/modules/"
    echo "$name $(basename "$f") $deps" >>"$tmp/out/modules/deps"
}
for m in $KEEP_MODULES; do visit "$m"; done
echo "$pkg $ver $sum" >"$tmp/out/package"
rm -rf "$OUT"
mv "$tmp/out" "$OUT"
rm -f "$deb"
say "$pkg $ver (sha256 of the .deb $sum) -> ${OUT#"$ROOT"/}/"
