#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests: initdb into DIR, a Unix
# socket in DIR and TCP on 127.0.0.1 at a free port, password logins over
# TCP, trust over the socket. PostgreSQL refuses to run as root, so as root
# (CI) the cluster runs as the `postgres` user of Debian's package.
#
#   pg_cluster.sh start DIR   start it; prints KEY='VALUE' lines (also in DIR/env, for `.`):
#                             PG_URI (socket, superuser), PG_TCP_URI (TCP,
#                             role hbeat with password PG_PASSWORD), PG_PORT
#   pg_cluster.sh stop DIR    stop it (fast), leave DIR for the caller to remove
#   pg_cluster.sh restart DIR stop it if it runs, then start the same cluster again
# PG_FSYNC=on keeps PostgreSQL's fsync (off by default: tests need no
# durability across a power loss, and it is faster).
set -euo pipefail

bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
[ -x "$bin/initdb" ] || {
    echo "pg_cluster: no PostgreSQL server (install postgresql-15)" >&2
    exit 77
}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_server() {
    local dir=$1 port
    port=$(cat "$dir/port")
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
}

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop|restart DIR" >&2
    exit 2
fi

case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    chmod 700 "$dir"
    as_owner test -w "$dir" || {
        echo "pg_cluster: the cluster's owner cannot reach $dir (a parent directory is" \
            "not searchable by it, e.g. a mktemp -d); use a directory of its own" >&2
        exit 1
    }
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 ||
        {
            cat "$dir/initdb.log" >&2
            exit 1
        }
    cat >"$dir/data/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 scram-sha-256
EOF
    # Tests, not production: no fsync (PG_FSYNC=on for measurements), a
    # small footprint.
    cat >>"$dir/data/postgresql.conf" <<EOF
fsync = ${PG_FSYNC:-off}
shared_buffers = 32MB
max_connections = 100
EOF
    free_port >"$dir/port"
    start_server "$dir"
    port=$(cat "$dir/port")
    password=hbeat-test-$RANDOM$RANDOM
    as_owner "$bin/psql" -q -h "$dir" -p "$port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -c "CREATE ROLE hbeat LOGIN PASSWORD '$password'" \
        -c "CREATE DATABASE hbeat OWNER hbeat" >/dev/null
    {
        echo "PG_URI='postgresql:///hbeat?host=$dir&port=$port&user=hbeat'"
        echo "PG_TCP_URI='postgresql://hbeat@127.0.0.1:$port/hbeat'"
        echo "PG_PASSWORD='$password'"
        echo "PG_PORT='$port'"
        echo "PG_DIR='$dir'"
    } | tee "$dir/env"
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
    ;;
restart)
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
    start_server "$dir"
    ;;
*)
    echo "usage: $0 start|stop|restart DIR" >&2
    exit 2
    ;;
esac
