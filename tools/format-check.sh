#!/bin/sh
# format-check.sh: every C file git tracks is as clang-format (.clang-format)
# writes it.  One line per file that differs; the closing line counts files
# (`N passed, N failed`, as tests/run-suite.sh wants).  `make format` fixes.
cd "$(dirname "$0")/.." || exit 2
pass=0
fail=0
for f in $(git ls-files '*.c' '*.h'); do
    if clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        pass=$((pass + 1))
    else
        echo "FAIL format.$f: differs from clang-format's layout (make format)"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
