#!/bin/sh
# format-check.sh: every C file git tracks is as clang-format (.clang-format)
# writes it.  One line per file that differs; the closing line counts files
# (`N passed, N failed`, as tests/run-suite.sh wants).  `make format` fixes.
# One clang-format run over all files (it names each file that differs):
# a process per file cost ~40 s of make test on a loaded 2-core host.
cd "$(dirname "$0")/.." || exit 2
files=$(git ls-files '*.c' '*.h')
total=$(printf '%s\n' "$files" | grep -c .)
if ! command -v clang-format >/dev/null 2>&1; then
    echo "FAIL format.clang-format: not installed"
    echo "0 passed, 1 failed"
    exit 1
fi
out=$(printf '%s\n' "$files" | xargs clang-format --dry-run -Werror 2>&1)
rc=$?
bad=$(printf '%s\n' "$out" |
    sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u)
fail=0
if [ "$rc" -ne 0 ] && [ -z "$bad" ]; then # it failed, and not on layout: say how
    echo "FAIL format.clang-format: exit $rc: $(printf '%s\n' "$out" | head -n 1)"
    fail=1
fi
for f in $bad; do
    echo "FAIL format.$f: differs from clang-format's layout (make format)"
    fail=$((fail + 1))
done
pass=$((total - fail))
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
