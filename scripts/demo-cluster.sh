#!/usr/bin/env bash
# The cluster demo: two hbeatd sharing one PostgreSQL database, and a client
# whose URL names both. One hbeatd is killed (kill -9); the client carries
# on through the other, and the run loses nothing.
#
#   bash scripts/demo-cluster.sh
#
# It builds hbeatd and the `hbeat` tool into build-demo/ (HBEAT_DEMO_BUILD
# to change it), starts a throw-away PostgreSQL cluster in a temp dir
# (tests/support/pg_cluster.sh: Debian's postgresql-15, run as the postgres
# user when this runs as root), two hbeatd on it, creates a run through the
# first and heartbeats it with `hbeat beat nng+tcp://A,B`. Everything it
# starts is stopped on exit, and every wait is bounded. HBEAT_DEMO_HBEATD
# and HBEAT_DEMO_HBEAT (both) name programs already built instead (the
# CTest test demo_cluster does so).
# Exit status: 0 when the client carried on through the second hbeatd.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HBEAT_DEMO_BUILD:-$root/build-demo}
interval=0.5

say() {
    printf '\n== %s\n' "$1"
    shift
    local line
    for line in "$@"; do printf '   %s\n' "$line"; done
}
note() { printf '   %s\n' "$@"; }
demo_name=demo-cluster
# shellcheck source=scripts/demo_lib.sh
. "$root/scripts/demo_lib.sh"

tmp=
pg=
pids=()
cleanup() {
    local rc=$?
    stop_pids "${pids[@]}"
    if [ -n "$tmp" ]; then
        if [ "$rc" -ne 0 ]; then
            for f in "$tmp"/a.log "$tmp"/b.log; do
                [ -s "$f" ] && { printf '\n%s (last lines):\n' "$f" >&2; tail -n 10 "$f" >&2; }
            done
        fi
        rm -rf "$tmp"
    fi
    if [ -n "$pg" ]; then
        "$root/tests/support/pg_cluster.sh" stop "$pg" >/dev/null 2>&1 || true
        rm -rf "$pg"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${HBEAT_DEMO_HBEATD:-}" ] && [ -n "${HBEAT_DEMO_HBEAT:-}" ]; then
    hbeatd=$HBEAT_DEMO_HBEATD
    hbeat=$HBEAT_DEMO_HBEAT
else
    say "Building hbeatd and hbeat into ${build#"$root"/}"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHBEAT_BUILD_TESTS=OFF \
        >/dev/null 2>&1 || die "cmake configure failed (run scripts/install-deps.sh as root first?)"
    cmake --build "$build" -j2 --target hbeatd hbeat_cli \
        >"${TMPDIR:-/tmp}/hbeat-demo-cluster.build.log" 2>&1 ||
        die "build failed (log: ${TMPDIR:-/tmp}/hbeat-demo-cluster.build.log)"
    hbeatd=$build/src/server/hbeatd
    hbeat=$build/src/cli/hbeat
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hbeat-demo-cluster.XXXXXX")
# The cluster gets a directory of its own: PostgreSQL's user must reach it.
pg=$(mktemp -d "${TMPDIR:-/tmp}/hbeat-demo-pg.XXXXXX")
say "Starting PostgreSQL in a temp dir" "tests/support/pg_cluster.sh start $pg"
"$root/tests/support/pg_cluster.sh" start "$pg" >/dev/null || die "PostgreSQL did not start"
# shellcheck disable=SC1091
. "$pg/env"
note "database: $PG_URI"

# start_hbeatd NAME: its pid in $started.
start_hbeatd() {
    local name=$1
    "$hbeatd" --db "$PG_URI" --listen tcp://127.0.0.1:0 --http 127.0.0.1:0 \
        --ready-file "$tmp/$name.ready" 2>"$tmp/$name.log" &
    started=$!
    pids+=("$started")
    ready() { [ -s "$tmp/$name.ready" ]; }
    wait_for 10 "hbeatd $name" ready
}
say "Starting two hbeatd on the same database" \
    "hbeatd --db '$PG_URI' --listen tcp://127.0.0.1:0 ... (twice)"
start_hbeatd a
a_pid=$started
start_hbeatd b
b_pid=$started
nng_a=$(awk '$1 == "nng" { print $2; exit }' "$tmp/a.ready")
nng_b=$(awk '$1 == "nng" { print $2; exit }' "$tmp/b.ready")
rest_b=$(awk '$1 == "http" { print $2; exit }' "$tmp/b.ready")
url="nng+${nng_a},${nng_b#tcp://}"
note "A: $nng_a (pid $a_pid)" "B: $nng_b (pid $b_pid)"

say "Creating a run through A" "hbeat run create --workflow 1 --status R --url nng+$nng_a"
run_id=$("$hbeat" run create --workflow 1 --status R --url "nng+$nng_a" --json |
    sed -n 's/.*"workflow_run_id":\([0-9][0-9]*\).*/\1/p')
[ -n "$run_id" ] || die "run create failed"

say "A client with a two-host URL heartbeats it" \
    "hbeat beat $url --run $run_id --interval $interval --timeout 0.4" \
    "(a beat that meets a dead server goes to the next within the 0.4 s timeout)"
"$hbeat" beat "$url" --run "$run_id" --interval "$interval" --timeout 0.4 --count 20 \
    >"$tmp/client.out" 2>&1 &
client_pid=$!
pids+=("$client_pid")
beats() { [ "$(grep -c '^beat ' "$tmp/client.out" || true)" -ge "$1" ]; }
wait_for 15 "three beats" beats 3
sed 's/^/   [client] /' "$tmp/client.out"

say "kill -9 of A (pid $a_pid)"
kill -KILL "$a_pid"
wait "$a_pid" 2>/dev/null || true
before=$(grep -c '^beat ' "$tmp/client.out" || true)
lines=$(wc -l <"$tmp/client.out")
wait_for 10 "beats after the kill" beats $((before + 3))
say "The client carries on through B, its lease never lost"
sed "1,${lines}d" "$tmp/client.out" | head -n 8 | sed "s/^/   [client] /"
client_exited() { ! kill -0 "$client_pid" 2>/dev/null; }
wait_for 30 "the client's 20 beats" client_exited
client_rc=0
wait "$client_pid" || client_rc=$?
grep -q 'lease lost' "$tmp/client.out" && die "the client lost its lease"

say "What B holds for run $run_id (every beat counted, through either server)"
"$hbeat" run get "$run_id" --url "$rest_b" | sed 's/^/   /'
beats_held=$("$hbeat" run get "$run_id" --url "$rest_b" --json |
    sed -n 's/.*"beats":\([0-9][0-9]*\).*/\1/p')
[ "$client_rc" -eq 0 ] || die "the client exited with status $client_rc"
[ "${beats_held:-0}" -ge 20 ] || die "B holds $beats_held beats, expected 20"
say "Done: the run lived on through B after A died; nothing acknowledged was lost."
