#!/bin/sh
# check-segments.sh ELF: refuses (and removes) a user program with a
# loadable segment init cannot map.  init maps each segment as one frame
# object, and a frame holds at most 1024 pages (4 MiB, the kernel's
# MAX_FRAME_PAGES), so a bigger segment would only fail at boot.
elf=$1
readelf -lW "$elf" | awk -v name="$(basename "$elf" .elf)" '
	function hex(s, i, v) { v = 0; for (i = 3; i <= length(s); i++)
		v = v * 16 + index("0123456789abcdef", substr(tolower(s), i, 1)) - 1; return v }
	$1 == "LOAD" && hex($6) > 4194304 { print name ": a segment of " hex($6) " bytes: more than 4 MiB, init cannot load it" > "/dev/stderr"; bad = 1 }
	END { exit bad }' || { rm -f "$elf"; exit 1; }
