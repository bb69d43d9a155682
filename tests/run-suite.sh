#!/usr/bin/env bash
# Run test programs and add up their results.
#
#   tests/run-suite.sh PROG [PROG...]
#
# Each PROG is a file (run directly if executable, else by extension: .py with
# python3, .sh with bash) or, if no such file exists, a shell command string.
# A program's stdout must end with a line `N passed, N failed`; its output is
# shown as it runs. The last line printed here is the total, `N passed, N failed`.
#
# Exit status is non-zero if any program exits non-zero, crashes, reports a
# failure or prints no closing line, or if the total of passed+failed is 0.
# A program that fails without reporting a failed test (crash, no closing
# line, non-zero exit with `0 failed`) counts as one failed test in the total,
# announced by a `FAIL suite/PROG: reason` line.
set -u

if [ $# -eq 0 ]; then
    echo "usage: $0 PROG [PROG...]" >&2
    echo "0 passed, 0 failed"
    exit 2
fi

total_pass=0
total_fail=0
bad=0
summary=()
tmp=$(mktemp "${TMPDIR:-/tmp}/run-suite.XXXXXX")
trap 'rm -f "$tmp"' EXIT

for prog in "$@"; do
    if [ -f "$prog" ]; then
        if [ -x "$prog" ]; then
            case "$prog" in */*) cmd=("$prog") ;; *) cmd=("./$prog") ;; esac
        else
            case "$prog" in
                *.py) cmd=(python3 "$prog") ;;
                *.sh) cmd=(bash "$prog") ;;
                *) cmd=("$prog") ;;
            esac
        fi
    else
        cmd=(bash -c "$prog")
    fi

    echo "=== $prog"
    start=$SECONDS
    "${cmd[@]}" </dev/null | tee "$tmp"
    rc=${PIPESTATUS[0]}
    secs=$((SECONDS - start))

    # the closing line must be the last non-empty line of stdout
    last=$(tr -d '\r' <"$tmp" | awk 'NF { l = $0 } END { print l }')
    reason=""
    if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        p=${BASH_REMATCH[1]}
        f=${BASH_REMATCH[2]}
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
        if [ "$f" -ne 0 ]; then
            bad=1          # already counted in the total
        elif [ "$rc" -ne 0 ]; then
            reason="exit status $rc but reported 0 failed"
        fi
        line="$p passed, $f failed"
    else
        p=0
        f=0
        if [ "$rc" -gt 128 ]; then
            reason="killed by signal $((rc - 128)), no closing line"
        elif [ "$rc" -ne 0 ]; then
            reason="exit status $rc, no closing line"
        else
            reason="no closing 'N passed, N failed' line"
        fi
        line="no result"
    fi
    if [ -n "$reason" ]; then
        echo "FAIL suite/$prog: $reason"
        total_fail=$((total_fail + 1))
        bad=1
    fi
    summary+=("$(printf '  %-40s %s (exit %d, %ds)' "$prog" "$line" "$rc" "$secs")")
done

echo "=== summary"
printf '%s\n' "${summary[@]}"
if [ $((total_pass + total_fail)) -eq 0 ]; then
    echo "no tests ran" >&2
    bad=1
fi
echo "$total_pass passed, $total_fail failed"
[ "$bad" -eq 0 ] && [ "$total_fail" -eq 0 ]
