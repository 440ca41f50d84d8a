/* The PostgreSQL floor (pg_floor.h). */
#define _POSIX_C_SOURCE 200809L
#include "pg_floor.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct bench_pg_floor {
    PGconn *conn;
    char run[24];
};

/* hbeatd's plain beat (src/server/store/pg_store.c, sql_plain). */
static const char beat_sql[] =
    "UPDATE hbeat_runs SET deadline = $3, last_heartbeat = $4, beats = beats + 1"
    " WHERE id = $1 AND status = $2"
    " RETURNING id, workflow_id, status, deadline, last_heartbeat, beats";

static int ok_or(PGresult *r, int want, PGconn *c, char *err, size_t len)
{
    int ok = PQresultStatus(r) == want;
    if (!ok)
        snprintf(err, len, "postgresql: %s", PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

bench_pg_floor *bench_pg_floor_open(const char *uri, int64_t run, char *err, size_t len)
{
    bench_pg_floor *f = calloc(1, sizeof *f);
    if (f == NULL) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    snprintf(f->run, sizeof f->run, "%lld", (long long)run);
    f->conn = PQconnectdb(uri);
    if (PQstatus(f->conn) != CONNECTION_OK) {
        snprintf(err, len, "postgresql: %s", PQerrorMessage(f->conn));
        bench_pg_floor_close(f);
        return NULL;
    }
    if (ok_or(PQexec(f->conn, "SET synchronous_commit = off"), PGRES_COMMAND_OK, f->conn, err,
              len) != 0 ||
        ok_or(PQprepare(f->conn, "beat", beat_sql, 0, NULL), PGRES_COMMAND_OK, f->conn, err, len) !=
            0) {
        bench_pg_floor_close(f);
        return NULL;
    }
    return f;
}

int bench_pg_floor_once(bench_pg_floor *f, char *err, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char now[32], deadline[32];
    double t = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    snprintf(now, sizeof now, "%.17g", t);
    snprintf(deadline, sizeof deadline, "%.17g", t + 300);
    const char *values[4] = {f->run, "R", deadline, now};
    PGresult *r = PQexecPrepared(f->conn, "beat", 4, values, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) != 1) {
        PQclear(r);
        snprintf(err, len, "run %s is not in status R", f->run);
        return -1;
    }
    return ok_or(r, PGRES_TUPLES_OK, f->conn, err, len);
}

void bench_pg_floor_close(bench_pg_floor *f)
{
    if (f == NULL)
        return;
    PQfinish(f->conn);
    free(f);
}
