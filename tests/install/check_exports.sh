#!/usr/bin/env bash
# Checks what libhbeat exports:
#   - a shared libhbeat exports hbeat_<name> symbols only: nothing internal
#     (hbeat__*, which the protobuf-c descriptors share), nothing of another
#     library compiled in, and its soname carries the major version;
#   - a static libhbeat defines global symbols under the hbeat_ prefix only
#     (internal hbeat__ included), so it cannot clash with a user's names;
#   - either way, every function a public header declares with HBEAT_API is
#     defined (a declared but missing function breaks users at link time).
set -euo pipefail

if [ $# -lt 4 ]; then
    echo "usage: check_exports.sh LIB shared|static SOVERSION HEADER... " >&2
    exit 2
fi
lib=$1 kind=$2 soversion=$3
shift 3
nm=${NM:-nm}
objdump=${OBJDUMP:-objdump}
fail=0
bad() {
    echo "check-exports: $*" >&2
    fail=1
}

if [ "$kind" = shared ]; then
    # Versioned names print as name@@VERSION: keep the name.
    defined=$("$nm" -D --defined-only "$lib" | awk 'NF >= 3 {sub(/@.*/, "", $3); print $3}' |
        sort -u)
    leaked=$(grep -Ev '^hbeat_[A-Za-z0-9]' <<<"$defined" || true)
    if [ -n "$leaked" ]; then
        bad "$lib exports symbols outside the public API (hbeat_*):"
        sed 's/^/    /' <<<"$leaked" >&2
    fi
    soname=$("$objdump" -p "$lib" | awk '$1 == "SONAME" {print $2}')
    [ "$soname" = "libhbeat.so.$soversion" ] ||
        bad "soname is '$soname', expected libhbeat.so.$soversion"
else
    # --defined-only -g lists every member's global definitions.
    defined=$("$nm" -g --defined-only "$lib" | awk 'NF >= 3 {print $3}' | sort -u)
    leaked=$(grep -Ev '^hbeat_' <<<"$defined" || true)
    if [ -n "$leaked" ]; then
        bad "$lib defines global symbols outside the hbeat_ prefix:"
        sed 's/^/    /' <<<"$leaked" >&2
    fi
fi

# Every HBEAT_API declaration: "HBEAT_API <type> [*]name(", preprocessor
# lines (the macro's own definition) left out.
declared=$(cat "$@" | grep -v '^[[:space:]]*#' | tr '\n' ' ' | grep -oE 'HBEAT_API[^;(]*\(' |
    sed -E 's/.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\($/\1/' | sort -u)
[ -n "$declared" ] || bad "found no HBEAT_API declaration in: $*"
missing=$(comm -23 <(echo "$declared") <(echo "$defined"))
if [ -n "$missing" ]; then
    bad "declared in the public headers but not defined in $lib:"
    sed 's/^/    /' <<<"$missing" >&2
fi

if [ $fail -ne 0 ]; then
    exit 1
fi
echo "check-exports: $lib: $(wc -l <<<"$declared") public functions, all defined;" \
    "nothing else exported"
