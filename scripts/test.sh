#!/usr/bin/env bash
# Runs hbeat's tests: the one test command of the README and of CI.
#
#   scripts/test.sh              plain, package, asan, tsan, valgrind, fuzz and
#                                nogrpc, in order
#   scripts/test.sh plain        format check; build/ with warnings as errors;
#                                every CTest test (unit, integration, install,
#                                python) but the package test
#   scripts/test.sh package      build/'s package test, alone: builds the .deb
#                                packages, installs them on this machine
#                                (needs root), checks and purges them
#   scripts/test.sh asan         build-asan/ under ASan+UBSan; unit + integration
#   scripts/test.sh tsan         build-tsan/ under TSan; unit + integration
#   scripts/test.sh valgrind     build-valgrind/; every unit test under
#                                valgrind memcheck: no errors, no leaks
#   scripts/test.sh fuzz         build-fuzz/ (clang): every libFuzzer target
#                                replays its seeds and regressions, then
#                                fuzzes for HBEAT_FUZZ_SECONDS (default 15)
#   scripts/test.sh nogrpc       build-nogrpc/ without gRPC (-DHBEAT_WITH_GRPC=OFF);
#                                unit + integration
#   scripts/test.sh static       build-static/ with a static libhbeat; the
#                                install tests (package, pkg-config, symbols)
#   scripts/test.sh asan tsan    several modes
#
# Every mode runs even when an earlier one failed; the last line sums up and
# the exit status is non-zero when any mode failed.
#
# Environment:
#   HBEAT_SKIP_DEPS=1   do not install missing Debian packages first
#   HBEAT_JOBS=N        build and test parallelism (default 2)
#   HBEAT_CMAKE_ARGS    extra configure arguments, split on spaces
#                       (e.g. "-G Ninja -DHBEAT_WITH_REST=OFF")
#   CC                  the C compiler (CMake's default otherwise)
#   CLANG_FORMAT        the formatter for the format check
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${HBEAT_JOBS:-2}
read -r -a user_args <<<"${HBEAT_CMAKE_ARGS:-}"

modes=("$@")
if [ ${#modes[@]} -eq 0 ]; then
    modes=(plain package asan tsan valgrind fuzz nogrpc)
fi
for m in "${modes[@]}"; do
    case "$m" in
    plain | package | asan | tsan | valgrind | fuzz | nogrpc | static) ;;
    *)
        echo "usage: scripts/test.sh [plain|package|asan|tsan|valgrind|fuzz|nogrpc|static]..." >&2
        exit 2
        ;;
    esac
done

# The step each mode is in, for the summary when it fails.
step_file=$(mktemp)
trap 'rm -f "$step_file"' EXIT
log() {
    printf '\n==== test.sh %s: %s\n' "$mode" "$*"
    echo "$*" >"$step_file"
}
fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

configure_and_build() { # <build dir> <cmake args...>
    local dir=$1
    shift
    log "configure $dir"
    cmake -S "$root" -B "$root/$dir" -DHBEAT_WERROR=ON "$@" "${user_args[@]}"
    log "build $dir (-j$jobs)"
    cmake --build "$root/$dir" -j "$jobs"
}

# ---- plain: format, warnings as errors, every test -------------------------
run_plain() {
    # A formatting slip must not hide the build and test results: check
    # first, fail the mode last.
    local format=0
    log "format check"
    "$root/scripts/check-format.sh" || format=1
    configure_and_build build
    log "ctest build (all tests but the package test)"
    ctest --test-dir "$root/build" --output-on-failure -j "$jobs" -LE package
    if [ $format -ne 0 ]; then
        log "format check"
        echo "test.sh: the build and tests passed, but the format check failed (above)" >&2
        return 1
    fi
}

# ---- package: the .deb packages, installed and purged -------------------------
# Installs system-wide for a minute, so never beside other tests. Skipped
# (and said so) when not root.
run_package() {
    configure_and_build build
    log "ctest build (package)"
    local out
    out=$(mktemp)
    ctest --test-dir "$root/build" --output-on-failure -L package | tee "$out"
    if grep -q "Skipped" "$out"; then
        echo "test.sh: the package test was SKIPPED (it needs root): packages not checked" >&2
    fi
    rm -f "$out"
}

# ---- asan: AddressSanitizer + UndefinedBehaviorSanitizer -------------------
run_asan() {
    configure_and_build build-asan -DHBEAT_SANITIZE=address
    # Keep settings the caller chose; otherwise fail loudly on any finding.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:strict_init_order=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    log "ctest build-asan (unit, integration, pg)"
    ctest --test-dir "$root/build-asan" --output-on-failure -j "$jobs" -L 'unit|integration|pg'
}

# ---- tsan: ThreadSanitizer ---------------------------------------------------
# gcc 12's TSan (Debian 12) knows the address layout of kernels with up to 28
# bits of mmap randomness. Newer kernels and some hosts use 32 bits, and every
# TSan program then dies at start with "FATAL: ThreadSanitizer: unexpected
# memory mapping". A probe program finds out; the workarounds, in order:
#   1. run the tests under `setarch $(uname -m) -R` (ASLR off for ctest and
#      everything it starts; needs no privileges, but may be refused by a
#      container's seccomp profile);
#   2. `sysctl -w vm.mmap_rnd_bits=28` (root; changes the whole machine until
#      reboot).
tsan_runner=()
tsan_setup() {
    local dir rc=0
    dir=$(mktemp -d)
    cat >"$dir/probe.c" <<'EOF'
#include <pthread.h>
static void *run(void *arg) { return arg; }
int main(void) { pthread_t t; pthread_create(&t, 0, run, 0); return pthread_join(t, 0); }
EOF
    if ! "${CC:-cc}" -fsanitize=thread -pthread -o "$dir/probe" "$dir/probe.c"; then
        echo "test.sh: cannot build a TSan program with ${CC:-cc}" >&2
        rm -rf "$dir"
        return 1
    fi
    if "$dir/probe" 2>"$dir/err"; then
        echo "TSan probe: runs as is (vm.mmap_rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo '?'))"
    elif grep -q "unexpected memory mapping" "$dir/err"; then
        echo "TSan probe: unexpected memory mapping (ASLR too wide for this TSan)"
        if setarch "$(uname -m)" -R "$dir/probe" 2>/dev/null; then
            echo "TSan probe: running the tests under setarch -R (ASLR off)"
            tsan_runner=(setarch "$(uname -m)" -R)
        elif [ -w /proc/sys/vm/mmap_rnd_bits ] && sysctl -w vm.mmap_rnd_bits=28 &&
            "$dir/probe"; then
            echo "TSan probe: vm.mmap_rnd_bits lowered to 28"
        else
            echo "test.sh: TSan cannot run here: setarch -R is refused and" \
                "vm.mmap_rnd_bits cannot be lowered (run as root: sysctl -w vm.mmap_rnd_bits=28)" >&2
            rc=1
        fi
    else
        echo "test.sh: the TSan probe failed:" >&2
        cat "$dir/err" >&2
        rc=1
    fi
    rm -rf "$dir"
    return $rc
}

run_tsan() {
    tsan_setup
    configure_and_build build-tsan -DHBEAT_SANITIZE=thread
    # gRPC's libraries are not instrumented: its hand-offs would show as
    # races in every program that runs it, hbeatd included
    # (tests/grpc.tsan.supp says which reports it silences).
    export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1:history_size=4:suppressions=$root/tests/grpc.tsan.supp}
    log "ctest build-tsan (unit, integration)"
    "${tsan_runner[@]}" ctest --test-dir "$root/build-tsan" --output-on-failure -j "$jobs" \
        -L 'unit|integration'
}

# ---- valgrind: memcheck over the unit tests ----------------------------------
# CMake puts the emulator in front of every test program, so each unit test
# runs under memcheck and fails on any error or definite/indirect leak.
# tests/valgrind.supp names the few reports that are not ours to fix.
run_valgrind() {
    local vg="valgrind;--error-exitcode=99;--leak-check=full"
    vg+=";--errors-for-leak-kinds=definite,indirect;--show-leak-kinds=definite,indirect"
    vg+=";--suppressions=$root/tests/valgrind.supp;--quiet"
    configure_and_build build-valgrind "-DCMAKE_CROSSCOMPILING_EMULATOR=$vg"
    log "ctest build-valgrind (unit, under memcheck)"
    ctest --test-dir "$root/build-valgrind" --output-on-failure -j "$jobs" -L unit --timeout 900
}

# ---- fuzz: a short run of every libFuzzer target ------------------------------
run_fuzz() {
    log "fuzz: ${HBEAT_FUZZ_SECONDS:-15} s per target (scripts/fuzz.sh)"
    HBEAT_FUZZ_BUILD="$root/build-fuzz" "$root/scripts/fuzz.sh" "${HBEAT_FUZZ_SECONDS:-15}"
    log "ctest build-fuzz (fuzz: replay seeds and regressions)"
    ctest --test-dir "$root/build-fuzz" --output-on-failure -j "$jobs" -L fuzz
}

# ---- nogrpc: gRPC is optional, and the build without it works ----------------
run_nogrpc() {
    configure_and_build build-nogrpc -DHBEAT_WITH_GRPC=OFF
    log "ctest build-nogrpc (unit, integration)"
    ctest --test-dir "$root/build-nogrpc" --output-on-failure -j "$jobs" -L 'unit|integration'
}

# ---- static: a static libhbeat installs and links as well -----------------
run_static() {
    configure_and_build build-static -DBUILD_SHARED_LIBS=OFF
    log "ctest build-static (install)"
    ctest --test-dir "$root/build-static" --output-on-failure -j "$jobs" -L install
}

# ---- packages: a fresh machine has none of them ------------------------------
if [ "${HBEAT_SKIP_DEPS:-0}" != 1 ]; then
    "$root/scripts/install-deps.sh" --missing
fi

# ---- run the modes -----------------------------------------------------------
start=$SECONDS
results=()
failed=0
for mode in "${modes[@]}"; do
    t0=$SECONDS
    : >"$step_file"
    set +e
    (
        set -eEuo pipefail
        trap 'echo "test.sh $mode: FAILED at: $BASH_COMMAND" >&2' ERR
        "run_$mode"
    )
    rc=$?
    set -e
    took=$(fmt_time $((SECONDS - t0)))
    if [ $rc -eq 0 ]; then
        results+=("$mode: ok ($took)")
    else
        results+=("$mode: FAILED in '$(cat "$step_file")' ($took)")
        failed=1
    fi
done

summary=$(printf '%s, ' "${results[@]}")
summary="${summary%, }; total $(fmt_time $((SECONDS - start)))"
if [ $failed -eq 0 ]; then
    echo "test.sh: PASSED: $summary"
else
    echo "test.sh: FAILED: $summary"
    exit 1
fi
