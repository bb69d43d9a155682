#!/usr/bin/env bash
# tools/fetch-deps.sh
#
# Fetch Keel's third-party C sources (lwIP, Mbed TLS) as Debian *source*
# packages, verify the upstream tarballs against the sums pinned in
# third_party.sha256, and unpack them (Debian patches applied) to
#
#     build/third_party/lwip/      (e.g. src/core/tcp.c)
#     build/third_party/mbedtls/   (e.g. library/ssl_tls.c)
#
# Why Debian source packages: the only package registry our machines and CI
# can reach is Debian's, so that is where the sources come from. `apt-get
# source` gets them through the machine's configured mirror (and proxy, if
# any), with apt's usual signature chain (Release -> Sources -> files).
# The sha256 pins in the repo then make sure we build exactly the bytes we
# reviewed, whatever the mirror serves.
#
# Why a project-local apt state: `apt-get source` needs deb-src index files,
# which a stock machine does not have. Rather than add deb-src lines to
# /etc/apt and refresh /var/lib/apt/lists (changing the machine for everyone),
# we derive a deb-src sources.list from the machine's own Debian entries and
# point apt at lists/cache/state directories under build/apt/. Nothing under
# /etc/apt or /var/lib/apt is written; the dpkg status file is only read.
#
# Idempotent: a stamp per package (build/third_party/.stamp-PKG, holding the
# pinned version and sums) lets a re-run with everything in place exit at once
# without touching apt or the network.
#
# Usage: tools/fetch-deps.sh        (no arguments; run as root on Debian)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIN_FILE="$ROOT/third_party.sha256"
BUILD_DIR="$ROOT/build"
APT_DIR="$BUILD_DIR/apt"
TP_DIR="$BUILD_DIR/third_party"
DL_DIR="$TP_DIR/download"
LOG_DIR="$BUILD_DIR/logs"
LOG="$LOG_DIR/fetch-deps.log"

say() { echo "fetch-deps: $*"; }
die() { echo "fetch-deps: error: $*" >&2; exit 1; }

# Run a command with its output going to the log; on failure show the tail.
logged() {
    echo "+ $*" >>"$LOG"
    if ! "$@" >>"$LOG" 2>&1; then
        echo "fetch-deps: error: command failed: $*" >&2
        echo "fetch-deps: last lines of ${LOG#"$ROOT"/}:" >&2
        tail -n 25 "$LOG" >&2
        [ -z "${LOGGED_HINT:-}" ] || echo "fetch-deps: hint: $LOGGED_HINT" >&2
        exit 1
    fi
}

# ---------------------------------------------------------------------------
# 1. Read the pins.
#
# third_party.sha256 is a sha256sum-style file (so `sha256sum -c` works on it
# from the download directory); our directives live in comment lines:
#   # suite   trixie                         Debian release the pins are from
#   # version PKG DEBIAN-VERSION              source package + exact version
#   # check   PKG RELATIVE/PATH               file that must exist after unpack
#   SHA256  PKG_UPSTREAMVERSION.orig.tar.xx   pinned upstream tarball(s)
# A tarball belongs to the package named before the first '_' of its name.
# ---------------------------------------------------------------------------
[ -f "$PIN_FILE" ] || die "pin file missing: $PIN_FILE"

PIN_SUITE=""
PKGS=()
declare -A PKG_VERSION=() PKG_CHECK=() PKG_FILES=() FILE_SUM=()
while IFS= read -r line || [ -n "$line" ]; do
    read -r -a w <<<"$line" || true
    [ "${#w[@]}" -eq 0 ] && continue
    if [ "${w[0]}" = "#" ]; then
        case "${w[1]:-}" in
            suite)   PIN_SUITE="${w[2]:?suite line needs a name}" ;;
            version) PKGS+=("${w[2]:?}"); PKG_VERSION[${w[2]}]="${w[3]:?version line needs PKG VERSION}" ;;
            check)   PKG_CHECK[${w[2]:?}]="${w[3]:?check line needs PKG PATH}" ;;
        esac
        continue
    fi
    [[ "${w[0]}" == \#* ]] && continue
    if [[ "$line" =~ ^([0-9a-f]{64})\ [\ *](.+)$ ]]; then
        sum="${BASH_REMATCH[1]}" file="${BASH_REMATCH[2]}"
        FILE_SUM[$file]="$sum"
        PKG_FILES[${file%%_*}]+="$file "
    else
        die "${PIN_FILE#"$ROOT"/}: cannot parse line: $line"
    fi
done <"$PIN_FILE"

[ -n "$PIN_SUITE" ] || die "${PIN_FILE#"$ROOT"/}: no '# suite NAME' line"
[ "${#PKGS[@]}" -gt 0 ] || die "${PIN_FILE#"$ROOT"/}: no '# version PKG VERSION' lines"
for pkg in "${PKGS[@]}"; do
    [ -n "${PKG_FILES[$pkg]:-}" ] || die "${PIN_FILE#"$ROOT"/}: no pinned sha256 for any $pkg tarball"
done

# What the stamp of a package must contain: its pinned version and sums.
# Keel's own fixes to a package, applied after Debian's: third_party/patches/PKG/*.patch
# (patch -p1 from the package's top directory, in name order).  Each is a
# change we wrote and can explain; its header says why.
keel_patches() { compgen -G "$ROOT/third_party/patches/$1/*.patch" | LC_ALL=C sort || true; }

stamp_text() {
    local pkg="$1" f
    echo "$pkg ${PKG_VERSION[$pkg]}"
    for f in ${PKG_FILES[$pkg]}; do echo "${FILE_SUM[$f]}  $f"; done
    for f in $(keel_patches "$pkg"); do echo "$(sha256sum "$f" | cut -d' ' -f1)  ${f#"$ROOT"/}"; done
}

up_to_date() {
    local pkg="$1" stamp="$TP_DIR/.stamp-$1"
    [ -f "$stamp" ] && [ -d "$TP_DIR/$pkg" ] || return 1
    if [ -n "${PKG_CHECK[$pkg]:-}" ]; then
        [ -e "$TP_DIR/$pkg/${PKG_CHECK[$pkg]}" ] || return 1
    fi
    [ "$(cat "$stamp")" = "$(stamp_text "$pkg")" ]
}

# ---------------------------------------------------------------------------
# 2. Fast path: everything unpacked at the pinned version -> nothing to do.
# A lock serialises concurrent builds that call this script.
# ---------------------------------------------------------------------------
mkdir -p "$TP_DIR"
exec 9>"$TP_DIR/.lock"
flock 9

TODO=()
for pkg in "${PKGS[@]}"; do
    up_to_date "$pkg" || TODO+=("$pkg")
done
[ "${#TODO[@]}" -eq 0 ] && exit 0

mkdir -p "$LOG_DIR" "$DL_DIR"
: >"$LOG"
say "fetching ${TODO[*]} (log: ${LOG#"$ROOT"/})"

# dpkg-source (unpacking, applying patches) is in dpkg-dev, which a minimal
# Debian machine lacks. apt itself is always there.
"$ROOT/tools/install-packages.sh" dpkg-dev

# ---------------------------------------------------------------------------
# 3. Derive build/apt/sources.list (deb-src lines) from the machine's apt
# configuration. Where the machine keeps its sources is itself asked of apt.
# Only Debian's own release suites are taken (<release>, -updates, -security,
# component main): third-party repositories (nodejs, cloud SDKs, ...) publish
# no source indexes and would make `apt-get update` fail.
# The release part of each suite is rewritten to the pinned release, so a
# machine on another Debian release still fetches the pinned versions from
# the same mirror.
# ---------------------------------------------------------------------------
SYS_SOURCELIST="" SYS_SOURCEPARTS="" SYS_DPKG_STATUS=""
eval "$(apt-config shell SYS_SOURCELIST Dir::Etc::sourcelist/f \
                         SYS_SOURCEPARTS Dir::Etc::sourceparts/d \
                         SYS_DPKG_STATUS Dir::State::status/f)"
SYS_DPKG_STATUS="${SYS_DPKG_STATUS:-/var/lib/dpkg/status}"

MACHINE_SUITE="$(sed -n 's/^VERSION_CODENAME=["'\'']\{0,1\}\([^"'\'']*\).*/\1/p' /etc/os-release 2>/dev/null || true)"
MACHINE_SUITE="${MACHINE_SUITE:-$PIN_SUITE}"

rm -rf "$APT_DIR/keys"
mkdir -p "$APT_DIR/keys" "$APT_DIR/sources.list.d" "$APT_DIR/lists/partial" \
         "$APT_DIR/cache/archives/partial" "$APT_DIR/state" "$APT_DIR/log"

# Both parsers print one normalised entry per line:
#     OPTIONS <TAB> URI <TAB> SUITE <TAB> COMPONENTS
# where OPTIONS is "" or e.g. "signed-by=/usr/share/keyrings/x.gpg".

# deb822 (*.sources): stanzas of "Field: value", separated by blank lines.
parse_deb822() {
    awk -v keydir="$APT_DIR/keys" '
    BEGIN { RS = ""; FS = "\n"; nkey = 0 }
    {
        split("", f); last = ""
        for (i = 1; i <= NF; i++) {
            line = $i
            if (line ~ /^#/) continue
            if (line ~ /^[ \t]/) {                 # continuation line
                if (last != "") f[last] = f[last] "\n" line
                continue
            }
            p = index(line, ":"); if (!p) continue
            key = tolower(substr(line, 1, p - 1)); val = substr(line, p + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", val)
            f[key] = val; last = key
        }
        if (tolower(f["enabled"]) == "no") next
        if (f["types"] !~ /(^|[ \t])deb(-src)?([ \t]|$)/) next
        opts = ""
        if ("signed-by" in f) {
            sb = f["signed-by"]
            if (sb ~ /\n/) {
                # Inline ASCII-armoured key: one-line sources cannot hold it,
                # so write it to a file and point signed-by at that.
                keyfile = keydir "/inline-" (++nkey) ".asc"
                n = split(sb, kl, "\n")
                for (j = 1; j <= n; j++) {
                    l = kl[j]; sub(/^[ \t]/, "", l)
                    if (l == ".") l = ""
                    if (j == 1 && l == "") continue
                    print l > keyfile
                }
                close(keyfile)
                opts = "signed-by=" keyfile
            } else {
                gsub(/[ \t]+/, ",", sb)            # fingerprints/paths list
                opts = "signed-by=" sb
            }
        }
        if (tolower(f["trusted"]) == "yes") opts = opts (opts == "" ? "" : " ") "trusted=yes"
        nu = split(f["uris"], U, /[ \t]+/); ns = split(f["suites"], S, /[ \t]+/)
        for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++)
            if (U[a] != "" && S[b] != "")
                printf "%s\t%s\t%s\t%s\n", opts, U[a], S[b], f["components"]
    }' "$@"
}

# One-line format (sources.list, *.list): deb [opt=val ...] URI SUITE COMP...
parse_oneline() {
    awk '
    {
        sub(/#.*/, "")
        if ($1 != "deb" && $1 != "deb-src") next
        line = $0; opts = ""
        if (match(line, /\[[^]]*\]/)) {
            n = split(substr(line, RSTART + 1, RLENGTH - 2), o, /[ \t]+/)
            for (i = 1; i <= n; i++)
                if (o[i] ~ /^(signed-by|trusted)=/) opts = opts (opts == "" ? "" : " ") o[i]
            line = substr(line, 1, RSTART - 1) " " substr(line, RSTART + RLENGTH)
        }
        n = split(line, t, /[ \t]+/); k = 0
        for (i = 1; i <= n; i++) if (t[i] != "") w[++k] = t[i]
        if (k < 3) next
        comps = ""
        for (i = 4; i <= k; i++) comps = comps (comps == "" ? "" : " ") w[i]
        printf "%s\t%s\t%s\t%s\n", opts, w[2], w[3], comps
    }' "$@"
}

{
    shopt -s nullglob
    oneline=() deb822=()
    [ -f "$SYS_SOURCELIST" ] && oneline+=("$SYS_SOURCELIST")
    if [ -d "$SYS_SOURCEPARTS" ]; then
        oneline+=("$SYS_SOURCEPARTS"/*.list)
        deb822+=("$SYS_SOURCEPARTS"/*.sources)
    fi
    shopt -u nullglob
    [ "${#oneline[@]}" -gt 0 ] && parse_oneline "${oneline[@]}"
    [ "${#deb822[@]}" -gt 0 ] && parse_deb822 "${deb822[@]}"
    true
} | awk -F '\t' -v msuite="$MACHINE_SUITE" -v psuite="$PIN_SUITE" '
    {
        suite = $3; comps = " " $4 " "
        if (comps !~ /[ \t]main[ \t]/) next
        base = suite; sfx = ""
        if (match(suite, /-(updates|security)$/)) {
            base = substr(suite, 1, RSTART - 1); sfx = substr(suite, RSTART)
        }
        if (base != msuite && base != psuite && base != "stable" && base != "oldstable") next
        opts = ($1 == "" ? "" : "[" $1 "] ")
        line = "deb-src " opts $2 " " psuite sfx " main"
        if (!seen[line]++) print line
    }' >"$APT_DIR/sources.list.new"

if ! grep -q . "$APT_DIR/sources.list.new"; then
    die "found no Debian '$MACHINE_SUITE' entries (component main) in $SYS_SOURCELIST or $SYS_SOURCEPARTS"
fi
mv "$APT_DIR/sources.list.new" "$APT_DIR/sources.list"

# Local apt configuration, read after the machine's own (apt-get -c), so the
# machine's proxy, key and method settings still apply, while every place apt
# would write goes to build/apt/.
cat >"$APT_DIR/apt.conf" <<EOF
// Generated by tools/fetch-deps.sh: project-local apt state for 'apt-get source'.
Dir::Etc::SourceList "$APT_DIR/sources.list";
Dir::Etc::SourceParts "$APT_DIR/sources.list.d/";
Dir::State "$APT_DIR/state/";
Dir::State::Lists "$APT_DIR/lists/";
Dir::State::status "$SYS_DPKG_STATUS";
Dir::Cache "$APT_DIR/cache/";
Dir::Cache::archives "archives/";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Dir::Log "$APT_DIR/log/";
// The machine's update hooks (PackageKit, AppStream cache refresh, ...) act
// on system state; they have no business running for our private lists.
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear DPkg::Pre-Invoke;
#clear DPkg::Post-Invoke;
// Downloads land in the repo's build/ tree, which apt's unprivileged '_apt'
// user typically cannot write (or even reach); download as the invoking user
// instead of falling back with a warning. Files are still checked against
// the signed Release/Sources indexes, and the tarballs against our pins.
APT::Sandbox::User "root";
APT::Get::Only-Source "true";
Acquire::Languages "none";
EOF

APT=(apt-get -q -c "$APT_DIR/apt.conf")

# ---------------------------------------------------------------------------
# 4. Refresh the private source indexes (once per run; only reached when
# something actually needs fetching).
# ---------------------------------------------------------------------------
logged "${APT[@]}" update

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# The sha256 a .dsc lists for FILE in its Checksums-Sha256 field.
dsc_sum() {
    awk -v want="$2" '
        /^Checksums-Sha256:/ { in_f = 1; next }
        in_f && /^ / { if ($3 == want) print $1; next }
        { in_f = 0 }' "$1"
}

for pkg in "${TODO[@]}"; do
    ver="${PKG_VERSION[$pkg]}"
    dsc="$DL_DIR/${pkg}_${ver#*:}.dsc"      # file names carry no epoch
    say "$pkg $ver: downloading"

    # -----------------------------------------------------------------------
    # 5. Download exactly the pinned version (.dsc, upstream tarball(s),
    # debian tarball). apt skips files already present with the right hash.
    # -----------------------------------------------------------------------
    (cd "$DL_DIR" && LOGGED_HINT="if Debian no longer serves $pkg $ver (superseded by a point or security release), bump the pin: see docs/BUILD-DEPS.md" \
        logged "${APT[@]}" source --download-only "$pkg=$ver")
    [ -f "$dsc" ] || die "$pkg: expected $dsc after download, not found"

    # -----------------------------------------------------------------------
    # 6. Verify the upstream tarball(s) against the pins, and make sure the
    # pins and the .dsc agree about which upstream tarballs make up this
    # version (so a stale file from an older download cannot pass for it).
    # -----------------------------------------------------------------------
    for f in ${PKG_FILES[$pkg]}; do
        [ -f "$DL_DIR/$f" ] || die "$pkg: pinned file $f was not downloaded (does ${PKG_VERSION[$pkg]} still use it?)"
        expected="${FILE_SUM[$f]}"
        actual="$(sha256_of "$DL_DIR/$f")"
        if [ "$actual" != "$expected" ]; then
            echo "fetch-deps: error: checksum mismatch for $f" >&2
            echo "fetch-deps:   expected (third_party.sha256): $expected" >&2
            echo "fetch-deps:   actual   (downloaded file):    $actual" >&2
            exit 1
        fi
        in_dsc="$(dsc_sum "$dsc" "$f")"
        [ "$in_dsc" = "$expected" ] ||
            die "$pkg: ${dsc##*/} lists $f with sha256 '${in_dsc:-<not listed>}', pin says $expected"
    done
    while read -r f; do
        case "$f" in
            *.asc) ;;
            *.orig.tar.*|*.orig-*.tar.*)
                [ -n "${FILE_SUM[$f]:-}" ] || die "$pkg: ${dsc##*/} uses upstream tarball $f, which has no pin in third_party.sha256" ;;
        esac
    done < <(awk '/^Checksums-Sha256:/{i=1;next} i&&/^ /{print $3;next} {i=0}' "$dsc")

    # -----------------------------------------------------------------------
    # 7. Unpack with the Debian patches applied, into a temporary directory
    # first, then move it to the stable, version-free name. The stamp goes
    # last, so an interrupted run is simply redone next time.
    # -----------------------------------------------------------------------
    say "$pkg $ver: unpacking"
    tmp="$TP_DIR/.unpack-$pkg"
    rm -rf "$tmp"
    logged dpkg-source --no-copy -x "$dsc" "$tmp"
    for p in $(keel_patches "$pkg"); do
        say "$pkg: applying ${p#"$ROOT"/}"
        logged patch -p1 --batch --forward -d "$tmp" -i "$p" || die "$pkg: ${p#"$ROOT"/} does not apply to ${dsc##*/}"
    done
    if [ -n "${PKG_CHECK[$pkg]:-}" ] && [ ! -e "$tmp/${PKG_CHECK[$pkg]}" ]; then
        die "$pkg: ${PKG_CHECK[$pkg]} missing after unpacking ${dsc##*/}"
    fi
    rm -f "$TP_DIR/.stamp-$pkg"
    rm -rf "${TP_DIR:?}/$pkg"
    mv "$tmp" "$TP_DIR/$pkg"
    stamp_text "$pkg" >"$TP_DIR/.stamp-$pkg"
    say "$pkg $ver: ready in ${TP_DIR#"$ROOT"/}/$pkg"
done
