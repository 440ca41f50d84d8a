#!/usr/bin/env bash
# The hbeat demo: one workflow run, kept alive by three clients over three
# different transports, steered by an operator.
#
#   bash scripts/demo.sh
#
# It builds hbeat into build-demo/, starts the reference server hbeatd with
# its embedded SQLite store in a temporary directory, creates a run, has one
# client heartbeat it over nng (protobuf request/reply), another over
# Jobmon's REST API and a third over gRPC, moves the run to "C" (cold
# resume) with the `hbeat` tool, and shows every client noticing and
# stopping. Everything it starts
# is stopped on exit, and every wait is bounded, so it never hangs.
#
# Run as root on a fresh Debian 12 machine, it first installs the packages
# it needs with scripts/install-deps.sh. Environment:
#   HBEAT_DEMO_BUILD=DIR       build directory (default: build-demo in the repo)
#   HBEAT_DEMO_SKIP_DEPS=1     do not check for missing packages
#   HBEAT_DEMO_HBEATD, HBEAT_DEMO_HBEAT (both)
#                              programs already built: no build step (its test)
# Exit status: 0 when every client saw the change and stopped cleanly.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${HBEAT_DEMO_BUILD:-$root/build-demo}
interval=0.5

# Bold headings on a terminal only, so that a log stays plain text.
if [ -t 1 ]; then
    bold=$'\033[1m' plain=$'\033[0m'
else
    bold= plain=
fi

step=0
say() {
    step=$((step + 1))
    printf '\n%s%d. %s%s\n' "$bold" "$step" "$1" "$plain"
    shift
    local line
    for line in "$@"; do printf '   %s\n' "$line"; done
}
note() { printf '   %s\n' "$@"; }
# Show a file with every line prefixed, e.g. "[nng client]  beat 3 run 1: status R".
show() {
    local prefix=$1 file=$2
    sed "s/^/   $prefix  /" "$file"
}
demo_name=demo
# shellcheck source=scripts/demo_lib.sh
. "$root/scripts/demo_lib.sh"

# ---- processes we start, and the one place that stops them ---------------
tmp=
pids=()
cleanup() {
    local rc=$?
    stop_pids "${pids[@]}"
    if [ -n "$tmp" ]; then
        if [ "$rc" -ne 0 ] && [ -s "$tmp/hbeatd.log" ]; then
            printf '\nhbeatd log (last lines):\n' >&2
            tail -n 20 "$tmp/hbeatd.log" >&2
        fi
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf '%shbeat demo%s: heartbeats for a long-running job, the way Jobmon does them.\n' "$bold" "$plain"
note "A job (here: the \`hbeat beat\` command) reports every few seconds that it" \
    "is alive, and says when the server should expect the next report. The" \
    "server answers with the status it holds for the job's workflow run; if an" \
    "operator changed it (e.g. to C, cold resume), the job learns it from the" \
    "answer and stops."

# ---- 1. packages -------------------------------------------------------------
if [ "${HBEAT_DEMO_SKIP_DEPS:-0}" != 1 ] && [ -x "$root/scripts/install-deps.sh" ] &&
    command -v dpkg-query >/dev/null; then
    missing=()
    while read -r pkg; do
        [ -n "$pkg" ] || continue
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$pkg")
    done < <("$root/scripts/install-deps.sh" --print)
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -eq 0 ]; then
            say "Installing the Debian packages hbeat needs" "missing: ${missing[*]}"
            "$root/scripts/install-deps.sh" >"${TMPDIR:-/tmp}/hbeat-demo-apt.log" 2>&1 ||
                die "package installation failed; see ${TMPDIR:-/tmp}/hbeat-demo-apt.log"
        else
            die "missing packages: ${missing[*]} (run scripts/install-deps.sh as root)"
        fi
    fi
fi

# ---- 2. build ----------------------------------------------------------------
if [ -n "${HBEAT_DEMO_HBEATD:-}" ] && [ -n "${HBEAT_DEMO_HBEAT:-}" ]; then
    # Programs already built (the test that runs this demo).
    hbeatd=$HBEAT_DEMO_HBEATD
    hbeat=$HBEAT_DEMO_HBEAT
else
    say "Building hbeat (library, hbeatd server, hbeat tool) into ${build#"$root"/}" \
        "cmake -S . -B ${build#"$root"/} && cmake --build ${build#"$root"/} -j2"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHBEAT_BUILD_TESTS=OFF \
        >"$build.configure.log" 2>&1 || {
        cat "$build.configure.log" >&2
        die "cmake configure failed"
    }
    cmake --build "$build" -j2 >"$build.build.log" 2>&1 || {
        tail -n 40 "$build.build.log" >&2
        die "build failed (full log: $build.build.log)"
    }
    rm -f "$build.configure.log" "$build.build.log"
    hbeatd=$build/src/server/hbeatd
    hbeat=$build/src/cli/hbeat
fi
[ -x "$hbeatd" ] && [ -x "$hbeat" ] || die "the build did not produce hbeatd and hbeat"
note "built: $("$hbeat" --version)"

# ---- 3. server ---------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hbeat-demo.XXXXXX")
say "Starting hbeatd, the reference server, with its SQLite store in a temp dir" \
    "hbeatd --listen tcp://127.0.0.1:0 --http 127.0.0.1:0 --grpc 127.0.0.1:0 --db $tmp/hbeatd.db" \
    "Port 0 lets the system pick free ports; hbeatd writes the addresses it" \
    "bound to its --ready-file once it is listening."
"$hbeatd" --listen tcp://127.0.0.1:0 --http 127.0.0.1:0 --grpc 127.0.0.1:0 \
    --db "$tmp/hbeatd.db" --ready-file "$tmp/ready" --log-level info 2>"$tmp/hbeatd.log" &
server_pid=$!
pids+=("$server_pid")
server_ready() {
    kill -0 "$server_pid" 2>/dev/null || die "hbeatd exited at start-up"
    [ -s "$tmp/ready" ]
}
wait_for 10 "hbeatd's ready file" server_ready
nng_url=nng+$(awk '$1 == "nng" && $2 ~ /^tcp:/ { print $2; exit }' "$tmp/ready")
rest_url=$(awk '$1 == "http" { print $2; exit }' "$tmp/ready")
grpc_url=$(awk '$1 == "grpc" { print $2; exit }' "$tmp/ready")
[ "$nng_url" != nng+ ] && [ -n "$rest_url" ] && [ -n "$grpc_url" ] ||
    die "unexpected ready file: $(cat "$tmp/ready")"
note "nng (protobuf request/reply): $nng_url" \
    "REST (Jobmon's API):          $rest_url" \
    "gRPC (HeartbeatService):      $grpc_url"

# ---- 4. a run ----------------------------------------------------------------
say "Creating a workflow run in status O (launched), as Jobmon would" \
    "hbeat run create --workflow 1 --status O --url $rest_url"
created=$("$hbeat" run create --workflow 1 --status O --url "$rest_url" --json) ||
    die "run create failed"
run_id=$(sed -n 's/.*"workflow_run_id":\([0-9][0-9]*\).*/\1/p' <<<"$created")
[ -n "$run_id" ] || die "could not read the run id from: $created"
"$hbeat" run get "$run_id" --url "$rest_url" | sed 's/^/   /'

# ---- 5. three clients --------------------------------------------------------
say "Heartbeating run $run_id from three clients, every $interval s" \
    "hbeat beat $nng_url --run $run_id --interval $interval" \
    "hbeat beat $rest_url --run $run_id --interval $interval" \
    "hbeat beat $grpc_url --run $run_id --interval $interval" \
    "Each reports status R (running) and asks the server to expect the next" \
    "beat within interval x 3.1 s; the first beat moves the run from O to R."
"$hbeat" beat "$nng_url" --run "$run_id" --interval "$interval" >"$tmp/nng.out" 2>&1 &
nng_pid=$!
pids+=("$nng_pid")
"$hbeat" beat "$rest_url" --run "$run_id" --interval "$interval" >"$tmp/rest.out" 2>&1 &
rest_pid=$!
pids+=("$rest_pid")
"$hbeat" beat "$grpc_url" --run "$run_id" --interval "$interval" >"$tmp/grpc.out" 2>&1 &
grpc_pid=$!
pids+=("$grpc_pid")
beats_seen() {
    [ "$(grep -c '^beat ' "$tmp/nng.out" || true)" -ge 3 ] &&
        [ "$(grep -c '^beat ' "$tmp/rest.out" || true)" -ge 3 ] &&
        [ "$(grep -c '^beat ' "$tmp/grpc.out" || true)" -ge 3 ]
}
wait_for 30 "three beats from each client" beats_seen
show "[nng client] " "$tmp/nng.out"
show "[REST client]" "$tmp/rest.out"
show "[gRPC client]" "$tmp/grpc.out"
note "What the server holds now:"
"$hbeat" run get "$run_id" --url "$nng_url" | sed 's/^/   /'

# ---- 6. the operator steps in ------------------------------------------------
say "An operator asks for a cold resume: the run goes from R to C" \
    "hbeat run set-status $run_id C --url $nng_url" \
    "Clients are not called back; each learns the new status from the answer" \
    "to its next heartbeat, and a client told C must stop heartbeating."
"$hbeat" run set-status "$run_id" C --url "$nng_url" | sed 's/^/   /' ||
    die "set-status failed"
exited() {
    ! kill -0 "$nng_pid" 2>/dev/null && ! kill -0 "$rest_pid" 2>/dev/null &&
        ! kill -0 "$grpc_pid" 2>/dev/null
}
wait_for 30 "every client to stop" exited
nng_rc=0
wait "$nng_pid" || nng_rc=$?
rest_rc=0
wait "$rest_pid" || rest_rc=$?
grpc_rc=0
wait "$grpc_pid" || grpc_rc=$?
pids=("$server_pid")

say "Every client noticed the change and stopped by itself"
show "[nng client] " "$tmp/nng.out"
note "[nng client]  (exit status $nng_rc)"
show "[REST client]" "$tmp/rest.out"
note "[REST client] (exit status $rest_rc)"
show "[gRPC client]" "$tmp/grpc.out"
note "[gRPC client] (exit status $grpc_rc)"
"$hbeat" run list --url "$rest_url" | sed 's/^/   /'

ok=1
for out in "$tmp/nng.out" "$tmp/rest.out" "$tmp/grpc.out"; do
    grep -q '^status change R -> C$' "$out" || ok=0
done
[ "$nng_rc" -eq 0 ] && [ "$rest_rc" -eq 0 ] && [ "$grpc_rc" -eq 0 ] || ok=0

# ---- 7. stop ---------------------------------------------------------------
say "Stopping hbeatd (SIGTERM: it answers what is in flight and closes its store)"
kill -TERM "$server_pid"
server_stopped() { ! kill -0 "$server_pid" 2>/dev/null; }
wait_for 10 "hbeatd to stop" server_stopped
server_rc=0
wait "$server_pid" || server_rc=$?
pids=()
note "hbeatd exit status $server_rc"

[ "$ok" -eq 1 ] || die "a client did not see the change or did not stop cleanly"
[ "$server_rc" -eq 0 ] || die "hbeatd did not stop cleanly"

printf '\n%sDone.%s What you saw:\n' "$bold" "$plain"
note "- hbeatd kept run $run_id in SQLite and served it over nng, REST and gRPC at once." \
    "- Three clients kept the run alive, each telling the server when to expect" \
    "  its next beat; the same C library did all three, choosing the transport by URL." \
    "- One \`hbeat run set-status $run_id C\` reached every client through its" \
    "  next heartbeat; each printed the change and exited 0, as Jobmon's" \
    "  clients stop when asked to resume." \
    "Next: README.md (API tour), examples/basic.c, examples/custom_gateway.c."
