# shellcheck shell=bash
# Helpers shared by the demo scripts (sourced): die, wait_for, stop_pids.
# The sourcing script sets demo_name (for messages) first.

die() {
    printf '\n%s: %s\n' "${demo_name:-demo}" "$*" >&2
    exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.1 s.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local tries=$((seconds * 10))
    while ! "$@"; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || die "gave up after ${seconds}s waiting for $what"
        sleep 0.1
    done
}

# stop_pids PID...: SIGTERM to each, 5 s for a clean stop, then SIGKILL.
stop_pids() {
    local pid
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        local n=50
        while kill -0 "$pid" 2>/dev/null && [ "$n" -gt 0 ]; do
            sleep 0.1
            n=$((n - 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
