#!/usr/bin/env bash
# Install test: stage `cmake --install` of a build tree into a fresh prefix,
# check the installed tools start (`<tool> --version`), and build programs
# against that prefix only, the way users do:
#   - every --consumer DIR is a CMake project using find_package(hbeat CONFIG);
#     it is configured with CMAKE_PREFIX_PATH=<prefix>, built, and its own CTest
#     tests are run (a consumer without tests is only built);
#   - every --pkg-config-program FILE.c is compiled with
#     `pkg-config --cflags --libs hbeat` and run with no arguments.
# Registered by tests/install/CMakeLists.txt; add consumers there.
set -euo pipefail

usage() {
    cat >&2 <<'EOF'
usage: install_test.sh --build DIR --stage DIR --work DIR --libdir REL --version V
                       [--config CFG] [--cc CC] [--cflags FLAGS] [--generator G] [--static 0|1]
                       [--cmake CMAKE] [--ctest CTEST]
                       [--consumer DIR]... [--pkg-config-program FILE.c]...
EOF
    exit 2
}

build= stage= work= libdir= version= config= cc=cc cflags= generator= static=0
cmake_cmd=cmake ctest_cmd=ctest
consumers=() programs=()
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case "$1" in
    --build) build=$2 ;;
    --stage) stage=$2 ;;
    --work) work=$2 ;;
    --libdir) libdir=$2 ;;
    --version) version=$2 ;;
    --config) config=$2 ;;
    --cc) cc=$2 ;;
    --cflags) cflags=$2 ;;
    --generator) generator=$2 ;;
    --static) static=$2 ;;
    --cmake) cmake_cmd=$2 ;;
    --ctest) ctest_cmd=$2 ;;
    --consumer) consumers+=("$2") ;;
    --pkg-config-program) programs+=("$2") ;;
    *) usage ;;
    esac
    shift 2
done
[ -n "$build" ] && [ -n "$stage" ] && [ -n "$work" ] && [ -n "$libdir" ] && [ -n "$version" ] ||
    usage

step="start"
trap 'echo "install-test: FAILED during: $step" >&2' ERR
say() { echo "install-test: $*"; }
die() {
    echo "install-test: FAILED: $*" >&2
    exit 1
}

# DESTDIR would move the staged files away from the prefix the checks use.
unset DESTDIR
case "$libdir" in
/*) libpath=$libdir ;;
*) libpath=$stage/$libdir ;;
esac
config_args=()
[ -n "$config" ] && config_args=(--config "$config")

step="cmake --install into $stage"
say "$step"
rm -rf "$stage" "$work"
mkdir -p "$work"
"$cmake_cmd" --install "$build" --prefix "$stage" "${config_args[@]}" >"$work/install.log" ||
    { cat "$work/install.log"; die "$step"; }

step="checking the staged files"
for f in include/hbeat/hbeat.h include/hbeat/version.h include/hbeat/sys/gateway.h; do
    [ -f "$stage/$f" ] || die "$f was not installed"
done
for f in pkgconfig/hbeat.pc cmake/hbeat/hbeatConfig.cmake cmake/hbeat/hbeatConfigVersion.cmake; do
    [ -f "$libpath/$f" ] || die "$libdir/$f was not installed"
done
if [ -e "$stage/include/hbeat/version.h.in" ]; then
    die "the version.h template was installed"
fi
if [ "$static" = 1 ]; then
    [ -f "$libpath/libhbeat.a" ] || die "libhbeat.a was not installed"
else
    ls "$libpath"/libhbeat.so.* >/dev/null 2>&1 || die "libhbeat.so.* was not installed"
fi

# The installed tools must start from the prefix as they are, without help
# from LD_LIBRARY_PATH (their RPATH finds libhbeat).
for tool in "$stage"/bin/*; do
    [ -x "$tool" ] || continue
    step="running $tool --version"
    say "$step"
    env -u LD_LIBRARY_PATH "$tool" --version
done

export LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The program must load the staged libhbeat, not one from elsewhere.
check_loads_staged() {
    [ "$static" = 1 ] && return 0
    local where
    where=$(ldd "$1" | awk '/libhbeat\.so/ {print $3}')
    case "$where" in
    "$libpath"/*) ;;
    *) die "$1 loads libhbeat from '${where:-nowhere}', not from $libpath" ;;
    esac
}

# ---- CMake package ----
for dir in "${consumers[@]}"; do
    name=$(basename "$dir")
    bdir="$work/cmake-$name"
    step="configuring $name against the staged package"
    say "$step"
    gen_args=()
    [ -n "$generator" ] && gen_args=(-G "$generator")
    "$cmake_cmd" -S "$dir" -B "$bdir" "${gen_args[@]}" \
        -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_C_FLAGS="$cflags" \
        -DCMAKE_PREFIX_PATH="$stage" \
        -DCMAKE_BUILD_TYPE="${config:-RelWithDebInfo}" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
        -DHBEAT_INSTALL_TEST=ON \
        -DHBEAT_EXPECTED_VERSION="$version" >"$bdir.configure.log" 2>&1 ||
        { cat "$bdir.configure.log"; die "$step"; }
    found=$(sed -n 's/^hbeat_DIR:[A-Z]*=//p' "$bdir/CMakeCache.txt")
    case "$found" in
    "$stage"/*) ;;
    *) die "$name found hbeat in '$found', not in the staged prefix $stage" ;;
    esac

    step="building $name"
    say "$step"
    "$cmake_cmd" --build "$bdir" "${config_args[@]}" >"$bdir.build.log" 2>&1 ||
        { cat "$bdir.build.log"; die "$step"; }

    step="running the tests of $name"
    say "$step"
    "$ctest_cmd" --test-dir "$bdir" "${config_args[@]}" --output-on-failure --no-tests=ignore
    for exe in "$bdir"/*; do
        if [ -f "$exe" ] && [ -x "$exe" ]; then
            check_loads_staged "$exe"
        fi
    done
done

# ---- pkg-config ----
if [ ${#programs[@]} -gt 0 ]; then
    step="pkg-config hbeat"
    export PKG_CONFIG_PATH="$libpath/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    # A static libhbeat's .pc names its dependencies publicly (see
    # cmake/HbeatInstall.cmake), so no --static here either way.
    pc_args=()
    got=$(pkg-config --modversion hbeat)
    [ "$got" = "$version" ] || die "pkg-config says hbeat $got, expected $version"
    pkg-config --validate hbeat
    pc_cflags=$(pkg-config "${pc_args[@]}" --cflags hbeat)
    libs=$(pkg-config "${pc_args[@]}" --libs hbeat)
    say "pkg-config ${pc_args[*]} --cflags --libs hbeat: $pc_cflags $libs"
    case " $pc_cflags " in
    *" -I$stage/"*) ;;
    *) die "pkg-config's --cflags do not point into $stage: '$pc_cflags'" ;;
    esac
    for src in "${programs[@]}"; do
        name=$(basename "$src" .c)
        exe="$work/pkgconfig-$name"
        step="building $src with pkg-config's flags"
        say "$step"
        # shellcheck disable=SC2086 # the flags are meant to split
        "$cc" -std=c11 -Wall -Wextra -pedantic -Werror $cflags $pc_cflags -o "$exe" "$src" $libs
        step="running $exe"
        say "$step"
        "$exe"
        check_loads_staged "$exe"
    done
fi

trap - ERR
say "OK (${#consumers[@]} CMake consumer(s), ${#programs[@]} pkg-config program(s))"
