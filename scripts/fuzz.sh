#!/usr/bin/env bash
# Fuzzes hbeat's decoders with libFuzzer: builds every target in
# tests/fuzz/ with clang under ASan+UBSan (the libraries instrumented for
# coverage too) and runs each for SECONDS, starting from a scratch copy of
# its committed seeds and regression inputs. Fails when any target crashes,
# leaks, hangs or breaks one of its checks.
#
#   scripts/fuzz.sh [SECONDS]          default 30 s per target
#   scripts/fuzz.sh 20 fuzz_url        only the named targets
#
# Environment:
#   CC                clang (default: clang)
#   HBEAT_JOBS=N      build parallelism, and targets fuzzed at once (default 2)
#   HBEAT_FUZZ_BUILD  build directory (default <repo>/build-fuzz)
#   HBEAT_FUZZ_ARGS   extra libFuzzer flags, split on spaces (e.g. "-jobs=2")
#
# The committed corpus is never written to. The scratch corpora stay in
# $HBEAT_FUZZ_BUILD/fuzz-work/<target>/ for a later look (or a -merge=1 into
# the seeds); a crashing input is saved in $HBEAT_FUZZ_BUILD/fuzz-artifacts/.
# To keep one as a regression test, copy it to
# tests/fuzz/regressions/<target>/<what-it-does> (not "crash-*", which git
# ignores): the "fuzz" CTest tests replay every file there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))
cc=${CC:-clang}
jobs=${HBEAT_JOBS:-2}
build=${HBEAT_FUZZ_BUILD:-$root/build-fuzz}
read -r -a extra <<<"${HBEAT_FUZZ_ARGS:-}"

if ! "$cc" --version 2>/dev/null | grep -qi clang; then
    echo "fuzz.sh: libFuzzer needs clang; CC=$cc is not clang" >&2
    exit 2
fi

echo "==== fuzz.sh: configure $build"
cmake -S "$root" -B "$build" \
    -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHBEAT_BUILD_FUZZERS=ON \
    -DHBEAT_WERROR=ON \
    -DHBEAT_SANITIZE=address \
    -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
    -DHBEAT_BUILD_EXAMPLES=OFF \
    -DHBEAT_BUILD_CLI=OFF >/dev/null
echo "==== fuzz.sh: build"
cmake --build "$build" --target hbeat_fuzzers -j "$jobs" >/dev/null

# Every target with seeds, unless some were named.
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for d in "$root"/tests/fuzz/corpus/*/; do
        targets+=("$(basename "$d")")
    done
fi

work=$build/fuzz-work
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target: fuzz it from a scratch corpus; its exit status goes to
# $work/<target>/rc.
run_one() {
    local t=$1 bin=$build/tests/fuzz/$1
    rm -rf "${work:?}/$t"
    rm -f "$artifacts/$t-"*
    mkdir -p "$work/$t/corpus"
    cp "$root/tests/fuzz/corpus/$t/"* "$work/$t/corpus/"
    if [ -d "$root/tests/fuzz/regressions/$t" ]; then
        find "$root/tests/fuzz/regressions/$t" -type f ! -name 'README*' \
            -exec cp {} "$work/$t/corpus/" \;
    fi
    local args=(-max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/$t-")
    if [ -f "$root/tests/fuzz/dict/$t.dict" ]; then
        args+=(-dict="$root/tests/fuzz/dict/$t.dict")
    fi
    local rc=0
    # The outer limit catches a target that hangs where libFuzzer's own
    # -timeout cannot (in its start-up, or in a thread it does not watch).
    (cd "$work/$t" && timeout --kill-after=10 $((secs + 120)) \
        "$bin" "${args[@]}" "${extra[@]}" corpus) >"$work/$t/fuzz.log" 2>&1 || rc=$?
    echo "$rc" >"$work/$t/rc"
}

# HBEAT_JOBS targets at a time: each is one process on one core.
running=0
ran=()
for t in "${targets[@]}"; do
    if [ ! -x "$build/tests/fuzz/$t" ]; then
        echo "==== fuzz.sh: $t was not built (its component is off); skipped"
        continue
    fi
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    echo "==== fuzz.sh: $t for ${secs}s"
    run_one "$t" &
    running=$((running + 1))
    ran+=("$t")
done
wait || true

failed=()
for t in "${ran[@]}"; do
    rc=$(cat "$work/$t/rc" 2>/dev/null || echo missing)
    printf '%-28s %s\n' "$t" "$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$t/fuzz.log" | tail -1)"
    if [ "$rc" != 0 ]; then
        echo "---- $t FAILED (exit $rc); the end of $work/$t/fuzz.log:"
        tail -n 40 "$work/$t/fuzz.log"
        find "$artifacts" -name "$t-*" -printf '     input: %p\n'
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "==== fuzz.sh: FAILED: ${failed[*]}"
    exit 1
fi
echo "==== fuzz.sh: every target ran ${secs}s without a failure"
