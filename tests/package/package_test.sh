#!/usr/bin/env bash
# Package test: build the .deb packages (cmake/HbeatPackage.cmake) from a
# tree configured for /usr, install them on this machine the way an
# operator does (dpkg -i, then apt-get -f install for what they need),
# check what they installed, and purge them again:
#   - hbeatd --version and hbeat --help run from /usr/bin, as they are;
#   - a program built with pkg-config and one built with find_package
#     against the installed files (nothing else on their paths) link and run,
#     and one linked with libhbeat.a (pkg-config hbeat-static);
#   - the man pages, the bash completion, the conffile, the system user and
#     the store directory are there; hbeatd runs as its user with the
#     packaged configuration file; systemd-analyze verify accepts the unit;
#   - reinstalling keeps an edited configuration file; remove keeps it and
#     the store;
#   - purge leaves none of the packages' files, /etc/hbeat, /var/lib/hbeat
#     nor the unit's enable link behind (the system user stays: Debian keeps
#     system users).
# It installs system-wide, so it needs root and must run alone (CTest:
# RUN_SERIAL, label package; scripts/test.sh runs it in its own mode).
# Exit 77 (skipped) when not root or without dpkg and apt-get.
set -euo pipefail

usage() {
    echo "usage: package_test.sh --source DIR --work DIR --version V [--cc CC] [--generator G]" \
        "[--cmake CMAKE] [--ctest CTEST]" >&2
    exit 2
}
src= work= version= cc=cc generator= cmake_cmd=cmake ctest_cmd=ctest
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case "$1" in
    --source) src=$2 ;;
    --work) work=$2 ;;
    --version) version=$2 ;;
    --cc) cc=$2 ;;
    --generator) generator=$2 ;;
    --cmake) cmake_cmd=$2 ;;
    --ctest) ctest_cmd=$2 ;;
    *) usage ;;
    esac
    shift 2
done
[ -n "$src" ] && [ -n "$work" ] && [ -n "$version" ] || usage

say() { echo "package-test: $*"; }
die() {
    echo "package-test: FAILED: $*" >&2
    exit 1
}
if [ "$(id -u)" -ne 0 ]; then
    say "SKIPPED: installs packages system-wide, which needs root"
    exit 77
fi
for tool in dpkg apt-get dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null || {
        say "SKIPPED: no $tool (not a Debian machine)"
        exit 77
    }
done

packages=(libhbeat0 libhbeat-dev hbeatd hbeat-tools)
installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qv '^not-installed$'; }
for p in "${packages[@]}"; do
    if installed "$p"; then
        die "$p is installed already; this test would replace it. Remove it first" \
            "(dpkg --purge ${packages[*]})"
    fi
done

step=start
trap 'echo "package-test: FAILED during: $step" >&2' ERR
ours=0
cleanup() {
    [ $ours = 1 ] || return 0
    local left=()
    for p in hbeat-tools hbeatd libhbeat-dev libhbeat0; do
        installed "$p" && left+=("$p")
    done
    if [ ${#left[@]} -gt 0 ]; then
        say "cleaning up: dpkg --purge ${left[*]}"
        dpkg --purge "${left[@]}" >/dev/null || true
    fi
}
trap cleanup EXIT

# ---- build the packages ----
build=$work/build-deb
step="configuring $build for /usr"
say "$step"
mkdir -p "$work"
gen_args=()
[ -n "$generator" ] && gen_args=(-G "$generator")
"$cmake_cmd" -S "$src" -B "$build" "${gen_args[@]}" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_SKIP_INSTALL_RPATH=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHBEAT_BUILD_TESTS=OFF -DHBEAT_BUILD_EXAMPLES=OFF -DHBEAT_WERROR=ON \
    >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; die "$step"; }
step="building the packages (cmake --build --target package)"
say "$step"
rm -rf "$build/packages"
"$cmake_cmd" --build "$build" -j "${HBEAT_JOBS:-2}" --target package >"$work/build.log" 2>&1 ||
    { tail -50 "$work/build.log"; die "$step"; }
debs=()
: >"$work/files"
for p in "${packages[@]}"; do
    f=$(ls "$build/packages/${p}_${version}-1_"*.deb 2>/dev/null) || die "no package $p $version"
    debs+=("$f")
    dpkg-deb -c "$f" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}' >>"$work/files"
done
sort -u -o "$work/files" "$work/files"
grep -qx /etc/hbeat/hbeatd.conf "$work/files" || die "no /etc/hbeat/hbeatd.conf in the packages"

# ---- install ----
step="dpkg -i ${debs[*]##*/}"
say "$step"
ours=1
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -i "${debs[@]}" >"$work/dpkg.log" 2>&1; then
    say "dpkg -i left dependencies open; apt-get -f install"
fi
step="apt-get -f install"
apt-get -f install -y -q >>"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; die "$step"; }
for p in "${packages[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p")" = "ii " ] ||
        { cat "$work/dpkg.log"; die "$p is not installed: $(dpkg-query -W -f='${db:Status-Abbrev}' "$p")"; }
done

# ---- the programs, from /usr/bin as they are ----
step="hbeatd --version and hbeat --help from /usr/bin"
say "$step"
clean_env=(env -i PATH=/usr/bin:/bin)
got=$("${clean_env[@]}" hbeatd --version)
[ "$got" = "hbeatd $version" ] || die "hbeatd --version says '$got'"
[ "$(command -v hbeatd)" = /usr/bin/hbeatd ] || die "hbeatd is not /usr/bin/hbeatd"
# (Output is captured before grep: grep -q stops reading early, and the
# writer's SIGPIPE would fail the pipeline.)
got=$("${clean_env[@]}" /usr/bin/hbeat --help)
grep -q '^Usage: hbeat' <<<"$got" || die "hbeat --help says: $got"
# The packaged libhbeat, not another (/lib is /usr/lib on a merged /usr).
packaged_lib=$(readlink -f "$(grep '/libhbeat\.so\.[0-9]*$' "$work/files")")
loads_packaged_lib() {
    local where
    where=$(ldd "$1" | awk '/libhbeat\.so/ {print $3}')
    [ -n "$where" ] && [ "$(readlink -f "$where")" = "$packaged_lib" ] ||
        die "$1 loads libhbeat from '${where:-nowhere}', not $packaged_lib"
}
loads_packaged_lib /usr/bin/hbeat

# ---- programs built against the installed files ----
unset PKG_CONFIG_PATH CMAKE_PREFIX_PATH LD_LIBRARY_PATH
step="a program built with pkg-config"
say "$step"
[ "$(pkg-config --modversion hbeat)" = "$version" ] || die "pkg-config --modversion hbeat"
# shellcheck disable=SC2046 # the flags are meant to split
"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/pkgconfig-consumer" \
    "$src/tests/install/consumer/main.c" $(pkg-config --cflags --libs hbeat)
"$work/pkgconfig-consumer"
loads_packaged_lib "$work/pkgconfig-consumer"

step="a program built with pkg-config against libhbeat.a (hbeat-static)"
say "$step"
# shellcheck disable=SC2046 # the flags are meant to split
"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/static-consumer" \
    "$src/tests/install/consumer/main.c" $(pkg-config --cflags --libs hbeat-static)
"$work/static-consumer"
got=$(ldd "$work/static-consumer")
! grep -q libhbeat <<<"$got" || die "$step: it loads a shared libhbeat: $got"

step="a program built with find_package(hbeat)"
say "$step"
rm -rf "$work/cmake-consumer"
"$cmake_cmd" -S "$src/tests/install/consumer" -B "$work/cmake-consumer" "${gen_args[@]}" \
    -DCMAKE_C_COMPILER="$cc" -DHBEAT_EXPECTED_VERSION="$version" \
    >"$work/consumer.log" 2>&1 || { cat "$work/consumer.log"; die "$step"; }
found=$(sed -n 's/^hbeat_DIR:[A-Z]*=//p' "$work/cmake-consumer/CMakeCache.txt")
case "$found" in
/usr/lib/*/cmake/hbeat) ;;
*) die "find_package found hbeat in '$found', not in /usr/lib" ;;
esac
"$cmake_cmd" --build "$work/cmake-consumer" >>"$work/consumer.log" 2>&1 ||
    { cat "$work/consumer.log"; die "$step"; }
"$ctest_cmd" --test-dir "$work/cmake-consumer" --output-on-failure
loads_packaged_lib "$work/cmake-consumer/hbeat_consumer"

# ---- what hbeatd and hbeat-tools bring ----
step="man pages, completion, conffile, user, state directory"
say "$step"
[ "$(man -w hbeatd)" = /usr/share/man/man8/hbeatd.8.gz ] || die "man -w hbeatd: $(man -w hbeatd)"
[ "$(man -w 1 hbeat)" = /usr/share/man/man1/hbeat.1.gz ] || die "man -w 1 hbeat"
for page in /usr/share/man/man8/hbeatd.8.gz /usr/share/man/man1/hbeat.1.gz; do
    warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    [ -z "$warnings" ] || die "$page: $warnings"
done
got=$(zcat /usr/share/man/man8/hbeatd.8.gz)
grep -q -- 'token\\-file' <<<"$got" || die "hbeatd(8) lacks --token-file"
[ -f /usr/share/bash-completion/completions/hbeat ] || die "no bash completion"
got=$(dpkg-query -W -f='${Conffiles}\n' hbeatd)
grep -q ' /etc/hbeat/hbeatd.conf ' <<<"$got" || die "/etc/hbeat/hbeatd.conf is not a conffile: $got"
getent passwd hbeatd >/dev/null || die "no system user hbeatd"
[ "$(stat -c '%U:%G %a' /var/lib/hbeat)" = "hbeatd:hbeatd 750" ] ||
    die "/var/lib/hbeat is $(stat -c '%U:%G %a' /var/lib/hbeat)"

step="hbeatd as its user, with the packaged configuration file"
say "$step"
# As the unit runs it (User=hbeatd, WorkingDirectory=/var/lib/hbeat), on
# free ports; every line of the packaged file is commented out.
ready=/var/lib/hbeat/ready
setpriv --reuid=hbeatd --regid=hbeatd --init-groups sh -c \
    'cd /var/lib/hbeat && exec /usr/bin/hbeatd --config /etc/hbeat/hbeatd.conf \
        --listen tcp://127.0.0.1:0 --http 127.0.0.1:0 --ready-file /var/lib/hbeat/ready' \
    >"$work/hbeatd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    [ -f "$ready" ] && break
    kill -0 $pid 2>/dev/null || { cat "$work/hbeatd.log"; die "hbeatd exited"; }
    sleep 0.1
done
[ -f "$ready" ] || { kill $pid; cat "$work/hbeatd.log"; die "hbeatd was not ready in 10 s"; }
kill -TERM $pid
wait $pid || die "hbeatd stopped with status $?"
[ "$(stat -c %U /var/lib/hbeat/hbeatd.db)" = hbeatd ] || die "the store is not hbeatd's"

step="systemd-analyze verify hbeatd.service"
unit=$(grep '/hbeatd.service$' "$work/files")
if command -v systemd-analyze >/dev/null; then
    say "$step"
    systemd-analyze verify "$unit"
else
    say "NOT CHECKED: systemd-analyze verify (no systemd-analyze here; install Debian's systemd)"
fi
step="systemctl enable hbeatd (offline)"
link=/etc/systemd/system/multi-user.target.wants/hbeatd.service
if command -v systemctl >/dev/null; then
    say "$step"
    systemctl enable hbeatd.service >/dev/null 2>&1
    [ -L "$link" ] || die "systemctl enable made no $link"
fi

# ---- upgrade, remove, purge ----
step="dpkg -i again keeps an edited configuration file"
say "$step"
echo "# edited here" >>/etc/hbeat/hbeatd.conf
dpkg -i "$(ls "$build/packages/hbeatd_${version}-1_"*.deb)" >>"$work/dpkg.log" 2>&1
got=$(tail -1 /etc/hbeat/hbeatd.conf)
[ "$got" = "# edited here" ] || die "the edit was lost: the file ends with '$got'"

step="dpkg --remove keeps the configuration file and the store"
say "$step"
dpkg --remove hbeat-tools hbeatd libhbeat-dev libhbeat0 >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log"; die "$step"; }
[ -f /etc/hbeat/hbeatd.conf ] || die "dpkg --remove deleted /etc/hbeat/hbeatd.conf"
[ -f /var/lib/hbeat/hbeatd.db ] || die "dpkg --remove deleted the store"
[ ! -e /usr/bin/hbeatd ] || die "dpkg --remove left /usr/bin/hbeatd"

step="dpkg --purge"
say "$step"
dpkg --purge hbeat-tools hbeatd libhbeat-dev libhbeat0 >>"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log"; die "$step"; }
ours=0
for p in "${packages[@]}"; do
    ! installed "$p" || die "$p is still known to dpkg: $(dpkg-query -W -f='${db:Status-Abbrev}' "$p")"
done
left=()
while read -r f; do
    [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done <"$work/files"
for f in /etc/hbeat /var/lib/hbeat "$link"; do
    [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done
[ ${#left[@]} -eq 0 ] || die "purge left behind: ${left[*]}"
say "the system user hbeatd stays after purge, as Debian keeps system users"

trap - ERR
say "OK (${#debs[@]} packages built, installed, checked and purged)"
