#!/usr/bin/env bash
# Installs every Debian 12 package hbeat's build, tests, examples and CI need.
# The one list: README, .ci/run and anything else that sets up a machine call
# this script (or `scripts/install-deps.sh --print` for the names only).
#
#   scripts/install-deps.sh            apt-get update + install (as root, or via sudo)
#   scripts/install-deps.sh --print    print the package names, one a line
#   scripts/install-deps.sh --missing  install only when a package is missing
#                                      (quick when everything is there)
set -euo pipefail

packages=(
    # toolchain
    build-essential gcc g++ make cmake pkg-config binutils
    clang clang-format llvm libclang-rt-14-dev # fuzzers, format check, symbolizer
    git                                        # the format check lists files with it
    # libraries: core (libc, pthreads), transports, server, tests
    libprotobuf-c-dev protobuf-c-compiler # nng transport + hbeatd wire schema
    libprotobuf-dev                       # descriptor.proto, for the schema's C prefix
    libnng-dev                            # nng transport, hbeatd
    libgrpc-dev                           # gRPC transport (gRPC's C core)
    libcurl4-openssl-dev libjansson-dev   # REST transport
    libsqlite3-dev libmicrohttpd-dev      # hbeatd: run store, REST front end
    libpq-dev postgresql-15               # hbeatd: PostgreSQL store (libpq); its tests run a cluster
    libsystemd-dev                        # hbeatd: sd_notify (readiness, watchdog)
    libcmocka-dev                         # unit and integration tests
    # tools the tests and examples run
    valgrind openssl libssl-dev sqlite3 curl python3 python3-aiohttp
    python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc # gRPC peer
    procps util-linux # sysctl and setarch, for the TSan probe
    chromium          # the status page test renders hbeatd's page headless
    # packaging: man pages from --help, the completion test, the package
    # test (dpkg-shlibdeps is in build-essential's dpkg-dev; systemd for
    # systemd-analyze verify, harmless without a running systemd)
    help2man bash-completion man-db adduser systemd
    # the Python package: its install into a venv and its pytest suite
    python3-setuptools python3-pip python3-venv python3-pytest python3-pytest-asyncio
)

if [ "${1:-}" = "--print" ]; then
    printf '%s\n' "${packages[@]}"
    exit 0
elif [ "${1:-}" = "--missing" ]; then
    missing=()
    for pkg in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && exit 0
    echo "install-deps: missing: ${missing[*]}"
elif [ $# -gt 0 ]; then
    echo "usage: $0 [--print|--missing]" >&2
    exit 2
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "install-deps: run as root (or install sudo)" >&2
        exit 1
    }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y "${packages[@]}"
