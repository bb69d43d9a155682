#!/usr/bin/env bash
# bench/linux/fetch-stunnel.sh - the TLS terminator of the Linux guest of
# `make bench`: Debian's stunnel4, as a tree to add to the initramfs.
#
# Downloads stunnel4 and libwrap0 (not installed on a build machine as a
# rule) with `apt-get download` (nothing is installed), unpacks them, and
# builds build/linux/stunnel/root/ with
#
#     usr/bin/stunnel4
#     every shared library `ldd` resolves for them, at its own path: the
#     two packages' own, and the rest from this machine's Debian packages
#     (libc6, libssl3, libsystemd0 ... : the same release as the packages)
#     and the dynamic loader, and libgcc_s.so.1 (glibc loads it at run time)
#     packages      "PACKAGE VERSION" per line: what the tree came from
#
# Once built it is kept; STUNNEL_REFRESH=1 builds it again.  Any library
# ldd cannot resolve stops the script with its name.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/build/linux/stunnel"
LOG="$ROOT/build/logs/linux-stunnel.log"
PKGS="stunnel4 libwrap0"
say() { echo "fetch-stunnel: $*" >&2; }
die() { echo "fetch-stunnel: error: $*" >&2; exit 1; }

if [ -x "$OUT/root/usr/bin/stunnel4" ] && [ -f "$OUT/packages" ] && [ "${STUNNEL_REFRESH:-0}" != 1 ]; then
    exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found (a Debian machine is needed)"
mkdir -p "$OUT" "$(dirname "$LOG")"
rm -rf "$OUT/download" "$OUT/x" "$OUT/root"
mkdir -p "$OUT/download" "$OUT/x" "$OUT/root"
say "downloading $PKGS (apt-get download)"
# shellcheck disable=SC2086
(cd "$OUT/download" && apt-get -q -o APT::Sandbox::User=root download $PKGS >>"$LOG" 2>&1) ||
    die "apt-get download $PKGS failed (see $LOG)"
: >"$OUT/packages.tmp"
for deb in "$OUT"/download/*.deb; do
    dpkg-deb -x "$deb" "$OUT/x"
    dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >>"$OUT/packages.tmp"
done

# The binaries, then the closure of their libraries (ldd: the packages' own
# directory first, then the machine's).
x="$OUT/x"
libpath="$x/lib/x86_64-linux-gnu:$x/usr/lib/x86_64-linux-gnu:$x/usr/lib/x86_64-linux-gnu/stunnel"
bins=(usr/bin/stunnel4)
for b in "${bins[@]}"; do
    [ -f "$x/$b" ] || die "$b is not in the packages"
    mkdir -p "$OUT/root/$(dirname "$b")"
    cp -L "$x/$b" "$OUT/root/$b"
done
for b in "${bins[@]}"; do
    out=$(LD_LIBRARY_PATH="$libpath" ldd "$x/$b") || die "ldd $b failed"
    if grep -q "not found" <<<"$out"; then
        die "$b needs libraries this machine lacks: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ')"
    fi
    while read -r name arrow path _; do
        case "$arrow" in
        "=>") src="$path" ;;
        *) src="$name" ;; # the loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"
        esac
        [ -f "$src" ] || continue
        case "$src" in
        "$x"/*) dst="${src#"$x"/}" ;;
        /*)
            dst="${src#/}"
            { dpkg -S "$src" 2>/dev/null || dpkg -S "/usr$src" 2>/dev/null || true; } |
                head -1 | cut -d: -f1 >>"$OUT/libpkgs.tmp"
            ;;
        *) continue ;;
        esac
        mkdir -p "$OUT/root/$(dirname "$dst")"
        cp -L "$src" "$OUT/root/$dst"
    done <<<"$out"
done
# glibc loads libgcc_s.so.1 at run time (pthread_exit, thread cancellation):
# ldd does not list it.
for lib in /lib/x86_64-linux-gnu/libgcc_s.so.1; do
    [ -f "$lib" ] || die "$lib not found (Debian: libgcc-s1)"
    mkdir -p "$OUT/root/$(dirname "${lib#/}")"
    cp -L "$lib" "$OUT/root/${lib#/}"
    { dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || true; } | head -1 | cut -d: -f1 >>"$OUT/libpkgs.tmp"
done
# The machine's packages the libraries came from, with their versions.
if [ -f "$OUT/libpkgs.tmp" ]; then
    sort -u "$OUT/libpkgs.tmp" | while read -r p; do
        [ -n "$p" ] && dpkg-query -W -f='${Package} ${Version}\n' "$p" 2>/dev/null | head -1
    done >>"$OUT/packages.tmp"
    rm -f "$OUT/libpkgs.tmp"
fi
rm -rf "$x"
mv "$OUT/packages.tmp" "$OUT/packages"
say "stunnel tree in ${OUT#"$ROOT"/}/root ($(du -sk "$OUT/root" | cut -f1) KiB)"
