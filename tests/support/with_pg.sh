#!/usr/bin/env bash
# Runs a command against a PostgreSQL cluster of its own: starts one with
# pg_cluster.sh in a fresh temp dir, exports what pg_cluster.sh prints
# (PG_URI, PG_TCP_URI, PG_PASSWORD, PG_PORT, PG_DIR) and PG_CLUSTER (this
# directory's pg_cluster.sh, for a test that restarts the cluster), runs
# the command, then stops the cluster and removes the dir, whatever the
# command did. Exit status: the command's; 77 (CTest's skip) when no
# PostgreSQL server is installed.
#
#   with_pg.sh COMMAND [ARG...]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/hbeat-pg.XXXXXX)
cleanup() {
    "$here/pg_cluster.sh" stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rc=0
"$here/pg_cluster.sh" start "$dir" >/dev/null || rc=$?
[ $rc -eq 0 ] || exit $rc
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
export PG_CLUSTER="$here/pg_cluster.sh"
"$@" || rc=$?
exit $rc
