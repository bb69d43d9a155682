#!/usr/bin/env bash
# tools/install-packages.sh PKG...
#
# Install Debian packages, but only the ones that are not installed yet.
#
# Why: every machine that builds Keel (a developer's, CI's) may be a fresh
# Debian 12 machine, so the project's own scripts must install what they need.
# At the same time a re-run on a machine that already has everything must be
# cheap and quiet: no `apt-get update`, no network, (almost) no output.
#
# Uses the machine's own apt configuration (mirror, proxy, keys) unchanged; no
# registry host is named here. Must run as root (CI and sessions do).
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 PKG..." >&2
    exit 2
fi

# Repo root, so the log lands in <repo>/build/logs whatever the caller's cwd.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_DIR="$ROOT/build/logs"
APT_LOG="$LOG_DIR/apt.log"

# Which of the requested packages are missing? dpkg-query prints
# "install ok installed" only for a fully installed package; anything else
# (unknown, removed-but-config-left "deinstall ok config-files", half-installed)
# counts as missing. dpkg-query exits non-zero for a package it has never
# heard of, hence the `|| true`.
missing=()
for pkg in "$@"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done

# Nothing to do: stay silent so repeated calls (from every build script) add
# no noise.
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-packages: need root to install: ${missing[*]}" >&2
    exit 1
fi

mkdir -p "$LOG_DIR"
echo "install-packages: installing ${missing[*]} (log: ${APT_LOG#"$ROOT"/})"

# Other sessions/tools may be using apt at the same moment; wait for the dpkg
# lock for a while instead of failing at once.
apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)

# A fresh machine has no (or stale) package lists: refresh them exactly once,
# and only because something is actually missing.
if ! apt-get "${apt_opts[@]}" -q update >>"$APT_LOG" 2>&1; then
    echo "install-packages: 'apt-get update' failed; last lines of $APT_LOG:" >&2
    tail -n 20 "$APT_LOG" >&2
    exit 1
fi

# noninteractive: no debconf prompts (CI has no stdin).
# --no-install-recommends: install what was asked, not half of Debian.
if ! DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -q -y \
        --no-install-recommends install "${missing[@]}" >>"$APT_LOG" 2>&1; then
    echo "install-packages: 'apt-get install ${missing[*]}' failed; last lines of $APT_LOG:" >&2
    tail -n 20 "$APT_LOG" >&2
    exit 1
fi
