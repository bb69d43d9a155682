#!/usr/bin/env bash
# mkcpio.sh OUT FILE... - pack FILEs (by their base names) into a cpio newc
# archive, reproducibly: fixed order, owner root, mtime 0, no device numbers.
set -euo pipefail
out=$1
shift
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for f in "$@"; do
    cp "$f" "$stage/$(basename "$f")"
    # ELF binaries travel without debug sections: the PXE server sends every
    # byte, and the unstripped files stay in build/ for gdb.
    if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = "177ELF" ]; then
        strip --strip-debug "$stage/$(basename "$f")"
    fi
done
touch -d @0 "$stage"/*
(cd "$stage" && ls -1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) > "$out"
