#!/usr/bin/env bash
# Fails when a C source or header of the project differs from what
# clang-format makes of it with the committed .clang-format. Generated code
# (protobuf-c output, version.h) lives in build trees and is not looked at.
#
#   scripts/check-format.sh           check (what CI runs)
#   scripts/check-format.sh --fix     rewrite the files in place
# CLANG_FORMAT=<binary> picks the formatter (default: clang-format, which is
# clang-format 14 on Debian 12; other versions may format differently).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
clang_format=${CLANG_FORMAT:-clang-format}

# Tracked files plus new ones not yet committed; ignored paths (build trees)
# stay out.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' |
        grep -v '\.pb-c\.[ch]$' | while read -r f; do [ -f "$f" ] && echo "$f"; done)
else
    mapfile -t files < <(find include src tests examples bench -name '*.[ch]' \
        ! -name '*.pb-c.[ch]' 2>/dev/null | sort)
fi
if [ ${#files[@]} -eq 0 ]; then
    echo "check-format: no C files found" >&2
    exit 1
fi

if [ "${1:-}" = "--fix" ]; then
    "$clang_format" -i "${files[@]}"
    echo "check-format: formatted ${#files[@]} files"
    exit 0
fi
if "$clang_format" --dry-run -Werror "${files[@]}"; then
    echo "check-format: ${#files[@]} files OK ($("$clang_format" --version | head -1))"
else
    echo "check-format: FAILED: run scripts/check-format.sh --fix (or clang-format -i <file>)" >&2
    exit 1
fi
