#!/usr/bin/env bash
# mksite.sh OUT CONF CONF_CHECK - the site archive: CONF as appliance.conf,
# plus every file it names (certificates, keys), at the paths the config
# uses, relative to CONF's folder.  A config with errors is still packed
# (the appliance boots deny-all and shows the errors); a missing named file
# stops the build with its name.
set -euo pipefail
out=$1 conf=$2 check=$3
dir=$(cd "$(dirname "$conf")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$conf" "$stage/appliance.conf"
if ! files=$("$check" "$conf"); then
    echo "mksite: $conf has errors (above): packed as is; the appliance will start deny-all and report them" >&2
fi
for f in $files; do
    case "$f" in
    /* | *..*) echo "mksite: $conf names $f: only paths inside its folder can be packed" >&2; exit 1 ;;
    esac
    if [ ! -f "$dir/$f" ]; then
        echo "mksite: $conf names $f, which does not exist in $dir" >&2
        exit 1
    fi
    mkdir -p "$stage/$(dirname "$f")"
    cp "$dir/$f" "$stage/$f"
done
find "$stage" -exec touch -d @0 {} +
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./||' | cpio --quiet -o -H newc -R 0:0 --reproducible) > "$out"
