/*
 * The run store on PostgreSQL (pg_store.h). Jobs (one per operation) wait
 * in one queue; each worker owns a connection, takes up to HBD_PG_BATCH
 * jobs, sorts them by run id and sends them in one pipeline: one prepared
 * statement each, then a sync, which commits them as one implicit
 * transaction. A job's outputs are written, then its ticket reported, only
 * once the sync has come back: the batch is committed.
 *
 * Tickets: a job is registered under its ticket when submitted; whoever
 * comes second (the worker finishing it, or when_done asking for it)
 * reports it and frees it.
 */
#define _POSIX_C_SOURCE 200809L

#include "pg_store.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "defaults.h"
#include "log.h"
#include "metrics.h"
#include "monotonic.h"
#include "pg_listen.h"
#include "store.h"

/* Advisory lock keys (any two numbers no other application uses). */
#define LOCK_SCHEMA "6846585208094721"
#define LOCK_REAPER "6846585208094722"
/* Seconds between reconnect attempts of a worker that lost its link. */
#define RECONNECT_S 0.5

#define RUN_COLS "id, workflow_id, status, deadline, last_heartbeat, beats, changes"
/* Columns of RUN_COLS; a status change adds one (did it change). */
#define RUN_NCOLS 7

typedef struct job {
    hbd_run_op op;
    uint64_t ticket;
    struct job *next;     /* queue */
    struct job *reg_prev; /* registry */
    struct job *reg_next;
    int done, rc;   /* under reg_mu */
    hbd_durable *w; /* a waiter, once when_done came first */
    int strict;     /* a plain beat that found another status */
    size_t order;   /* submission order, for a stable sort */
} job;

typedef struct pg_store pg_store;

typedef struct worker {
    pg_store *s;
    PGconn *conn;
    int prepared; /* the statements are prepared on conn */
    int lazy;     /* synchronous_commit is off (1), on (0), unknown (-1) */
    int dead;     /* given up (no answer in time): reconnect */
    pthread_t thread;
    int started;
    int idle; /* waiting for jobs (under the store's mu) */
    int lent; /* its connection is a caller's for one job (under mu) */
} worker;

struct pg_store {
    char *conninfo;
    char where[256];
    int sync;
    double timeout;       /* seconds for an answer or a connection */
    pthread_mutex_t mu;   /* queue, stop */
    pthread_cond_t cond;  /* jobs queued: idle workers wait here */
    pthread_cond_t pause; /* stop: reconnecting workers wait here, so
                             that they never take a wake-up meant for an
                             idle one */
    job *head, *tail;
    size_t order;
    int stop;
    pthread_mutex_t reg_mu;
    job *reg; /* submitted, not yet reported */
    atomic_uint_fast64_t next_ticket;
    atomic_int connected; /* workers with a working connection */
    atomic_int busy;      /* jobs submitted and not finished */
    int lent;             /* workers lent to callers (under mu) */
    unsigned int nworkers;
    worker *workers;
    PGconn *reaper;            /* the reaper's own connection (its thread only) */
    hbd_pg_listener *listener; /* the feed of changes (pg_listen.h), once watched */
};

/* ---- small helpers ------------------------------------------------------ */

/* libpq's messages span lines; hbeatd's log and replies take one. */
static void one_line(char *text)
{
    for (char *p = text; *p != '\0'; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == ' ')
        text[--n] = '\0';
}

static int fail(hbeat_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(hbeat_error *err, int code, const char *fmt, ...)
{
    char text[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    one_line(text);
    return hbeat_error_set(err, code, "%s", text);
}

int hbd_pg_is_conninfo(const char *db)
{
    if (db == NULL)
        return 0;
    return strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0;
}

static const char *status_token(int idx)
{
    const char *t = hbd_status_token(idx);
    return t != NULL ? t : "G";
}

/* A row of RUN_COLS into *out. */
static void read_run(const PGresult *r, int row, hbd_run *out)
{
    memset(out, 0, sizeof *out);
    out->id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
    out->workflow_id = strtoll(PQgetvalue(r, row, 1), NULL, 10);
    snprintf(out->status, sizeof out->status, "%s", PQgetvalue(r, row, 2));
    out->deadline = strtod(PQgetvalue(r, row, 3), NULL);
    out->last_heartbeat = strtod(PQgetvalue(r, row, 4), NULL);
    out->beats = strtoull(PQgetvalue(r, row, 5), NULL, 10);
    out->change = strtoull(PQgetvalue(r, row, 6), NULL, 10);
}

static int exec_ok(PGconn *c, const char *sql, hbeat_error *err)
{
    PGresult *r = PQexec(c, sql);
    int st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = fail(err, HBEAT_ESYSTEM, "postgresql: %s", PQerrorMessage(c));
    PQclear(r);
    return rc;
}

/* Waits until libpq can hand over a result without blocking, or until
   `deadline` (monotonic seconds): 0, or -1 when the database has not
   answered by then. A broken connection returns 0: the next
   PQgetResult() says what broke. */
static int await_input(PGconn *c, double deadline)
{
    while (PQisBusy(c)) {
        double left = deadline - hbd_mono_now();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
        int n = poll(&p, 1, (int)(left * 1000.0) + 1);
        if (n < 0 && errno != EINTR)
            return 0;
        if (n > 0 && !PQconsumeInput(c))
            return 0;
    }
    return 0;
}

/* A new connection, with a connect timeout unless the connection string
   names its own (it comes later, and wins). */
static PGconn *open_conn(const pg_store *s)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", (int)(s->timeout + 0.999));
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const values[] = {secs, s->conninfo, NULL};
    return PQconnectdbParams(keys, values, 1);
}

static PGconn *connect_db(const pg_store *s, hbeat_error *err)
{
    PGconn *c = open_conn(s);
    if (c == NULL) {
        fail(err, HBEAT_ENOMEM, "postgresql: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        /* libpq's message names the host and the failure, never the
           password. */
        fail(err, HBEAT_ESYSTEM, "cannot connect to postgresql: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* ---- schema ------------------------------------------------------------- */

/* migrations[i] brings the schema from version i to i+1. Append only. */
static const char *const migrations[] = {
    "CREATE TABLE hbeat_runs ("
    " id bigserial PRIMARY KEY,"
    " workflow_id bigint NOT NULL,"
    " status text NOT NULL,"
    " deadline double precision NOT NULL DEFAULT 0,"
    " last_heartbeat double precision NOT NULL DEFAULT 0,"
    " beats bigint NOT NULL DEFAULT 0,"
    " initial_increment double precision NOT NULL DEFAULT 0"
    ") WITH (fillfactor = 70);"
    /* The reaper reads only the runs that are due: a pass costs what is
       due, not what is stored. */
    "CREATE INDEX hbeat_runs_due ON hbeat_runs (deadline)"
    " WHERE status IN ('L', 'R', 'C', 'H') AND deadline > 0;"
    /* One row: when an instance last looked at the reaper, and until when
       the start-up grace of the service lasts. */
    "CREATE TABLE hbeat_reaper (one integer PRIMARY KEY CHECK (one = 1),"
    " last_seen double precision NOT NULL, grace_until double precision NOT NULL);"
    "INSERT INTO hbeat_reaper VALUES (1, 0, 0);",
    /* Every status change, whoever makes it (a call, the reaper, SQL by
       hand), is counted in its row and announced on HBD_PG_CHANNEL once
       committed: "id from to changes". hbeatd's statements count their
       own changes; the trigger counts one made by hand. An AFTER trigger
       on the status column only: a BEFORE row trigger would lock every
       row an UPDATE touches first (one more WAL record per plain beat),
       where this one is not even considered for a plain beat's UPDATE,
       which does not name the status. */
    "ALTER TABLE hbeat_runs ADD COLUMN changes bigint NOT NULL DEFAULT 0;"
    "CREATE OR REPLACE FUNCTION hbeat_runs_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE n bigint := NEW.changes;"
    " BEGIN"
    "  IF n = OLD.changes THEN"
    "   n := n + 1;"
    "   UPDATE hbeat_runs SET changes = n WHERE id = NEW.id;"
    "  END IF;"
    "  PERFORM pg_notify('" HBD_PG_CHANNEL "',"
    "   NEW.id || ' ' || OLD.status || ' ' || NEW.status || ' ' || n);"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER hbeat_runs_status_changed AFTER UPDATE OF status ON hbeat_runs"
    " FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)"
    " EXECUTE FUNCTION hbeat_runs_status_changed();",
};
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])

_Static_assert(NMIGRATIONS == HBD_PG_SCHEMA_VERSION, "one migration per schema version");

static int schema_version(PGconn *c, int *version, hbeat_error *err)
{
    PGresult *r = PQexec(c, "SELECT max(version) FROM hbeat_schema");
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = fail(err, HBEAT_ESYSTEM, "postgresql: reading the schema version: %s",
                  PQerrorMessage(c));
    else
        *version = PQgetisnull(r, 0, 0) ? 0 : atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* Under the schema lock: create, then migrate one version at a time,
   each in its own transaction. */
static int migrate(PGconn *c, int *version, hbeat_error *err)
{
    int rc = exec_ok(c,
                     "SET client_min_messages = warning;"
                     "CREATE TABLE IF NOT EXISTS hbeat_schema (version integer NOT NULL)",
                     err);
    if (rc == 0)
        rc = schema_version(c, version, err);
    if (rc == 0 && *version > (int)NMIGRATIONS)
        return fail(err, HBEAT_ESYSTEM,
                    "postgresql: the schema is version %d, newer than this hbeatd's %d", *version,
                    (int)NMIGRATIONS);
    while (rc == 0 && *version < (int)NMIGRATIONS) {
        char bump[96];
        snprintf(bump, sizeof bump, "INSERT INTO hbeat_schema VALUES (%d)", *version + 1);
        if ((rc = exec_ok(c, "BEGIN", err)) != 0)
            break;
        if ((rc = exec_ok(c, migrations[*version], err)) == 0 &&
            (rc = exec_ok(c, bump, err)) == 0 && (rc = exec_ok(c, "COMMIT", err)) == 0) {
            hbd_info("postgresql: schema migrated to version %d", *version + 1);
            ++*version;
        } else {
            hbeat_error ignored = HBEAT_ERROR_INIT;
            exec_ok(c, "ROLLBACK", &ignored);
        }
    }
    return rc;
}

/* The grace this instance keeps (pg_store.h), decided under the schema
   lock so that instances starting together agree. */
static int start_grace(PGconn *c, const hbd_pg_store_options *o, double *grace, hbeat_error *err)
{
    PGresult *r =
        PQexec(c, "SELECT last_seen, grace_until,"
                  " (SELECT coalesce(max(CASE WHEN last_heartbeat > 0"
                  "   THEN deadline - last_heartbeat ELSE initial_increment END), 0)"
                  "  FROM hbeat_runs WHERE status IN ('L', 'R', 'C', 'H') AND deadline > 0)"
                  " FROM hbeat_reaper");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        int rc = fail(err, HBEAT_ESYSTEM, "postgresql: reading the reaper's state: %s",
                      PQerrorMessage(c));
        PQclear(r);
        return rc;
    }
    double last_seen = strtod(PQgetvalue(r, 0, 0), NULL);
    double until = strtod(PQgetvalue(r, 0, 1), NULL);
    double window = strtod(PQgetvalue(r, 0, 2), NULL);
    PQclear(r);
    /* Another instance looked at the reaper within two of our intervals
       (and a second): the service stayed up, its grace stands. */
    double live = 2 * o->reap_interval + 1;
    if (o->now - last_seen <= live) {
        *grace = until > o->now ? until - o->now : 0;
        return 0;
    }
    *grace = o->reap_grace >= 0 ? o->reap_grace : window;
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE hbeat_reaper SET last_seen = %.6f, grace_until = %.6f",
             o->now, o->now + *grace);
    return exec_ok(c, sql, err);
}

/* ---- the registry of tickets -------------------------------------------- */

static void reg_add(pg_store *s, job *j)
{
    pthread_mutex_lock(&s->reg_mu);
    j->reg_prev = NULL;
    j->reg_next = s->reg;
    if (s->reg != NULL)
        s->reg->reg_prev = j;
    s->reg = j;
    pthread_mutex_unlock(&s->reg_mu);
}

static void reg_unlink(pg_store *s, job *j)
{
    if (j->reg_prev != NULL)
        j->reg_prev->reg_next = j->reg_next;
    else
        s->reg = j->reg_next;
    if (j->reg_next != NULL)
        j->reg_next->reg_prev = j->reg_prev;
}

/* The job is finished with `rc`: report it if its waiter is there. */
static void finish(pg_store *s, job *j, int rc)
{
    atomic_fetch_sub(&s->busy, 1);
    pthread_mutex_lock(&s->reg_mu);
    hbd_durable *w = j->w;
    if (w == NULL) {
        j->done = 1;
        j->rc = rc;
        pthread_mutex_unlock(&s->reg_mu);
        return;
    }
    reg_unlink(s, j);
    pthread_mutex_unlock(&s->reg_mu);
    free(j);
    w->fn(w->arg, rc);
}

static void when_done(void *self, uint64_t ticket, hbd_durable *w, hbd_durable_fn fn, void *arg)
{
    pg_store *s = self;
    w->fn = fn;
    w->arg = arg;
    w->ticket = ticket;
    if (ticket == 0) {
        fn(arg, 0);
        return;
    }
    pthread_mutex_lock(&s->reg_mu);
    job *j = s->reg;
    while (j != NULL && j->ticket != ticket)
        j = j->reg_next;
    if (j == NULL) {
        pthread_mutex_unlock(&s->reg_mu);
        hbd_error("postgresql: no operation with ticket %llu", (unsigned long long)ticket);
        fn(arg, HBEAT_ESYSTEM);
        return;
    }
    if (!j->done) {
        j->w = w;
        pthread_mutex_unlock(&s->reg_mu);
        return;
    }
    int rc = j->rc;
    reg_unlink(s, j);
    pthread_mutex_unlock(&s->reg_mu);
    free(j);
    fn(arg, rc);
}

/* ---- submitting ---------------------------------------------------------- */

static worker *lend_locked(pg_store *s);
static void run_lent(pg_store *s, worker *w, job *j);

static int store_up(void *self)
{
    pg_store *s = self;
    return atomic_load(&s->connected) > 0;
}

static int submit(void *self, const hbd_run_op *op, uint64_t *ticket)
{
    pg_store *s = self;
    *ticket = 0;
    if (!store_up(s))
        return hbeat_error_set(op->err, HBEAT_EBUSY,
                               "the database is unreachable (hbeatd is reconnecting)");
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return hbeat_error_set(op->err, HBEAT_ENOMEM, "out of memory");
    j->op = *op;
    j->ticket = atomic_fetch_add(&s->next_ticket, 1);
    reg_add(s, j);
    pthread_mutex_lock(&s->mu);
    if (s->stop) {
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&s->reg_mu);
        reg_unlink(s, j);
        pthread_mutex_unlock(&s->reg_mu);
        free(j);
        return hbeat_error_set(op->err, HBEAT_ECANCELED, "hbeatd is shutting down");
    }
    *ticket = j->ticket;
    j->order = s->order++;
    int alone = atomic_fetch_add(&s->busy, 1) == 0;
    worker *lent = op->may_wait && alone ? lend_locked(s) : NULL;
    if (lent == NULL) {
        if (s->tail != NULL)
            s->tail->next = j;
        else
            s->head = j;
        s->tail = j;
        /* A lent worker takes no job: make sure a free one hears. */
        if (s->lent > 0)
            pthread_cond_broadcast(&s->cond);
        else
            pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
    if (lent != NULL)
        run_lent(s, lent, j);
    return 0;
}

/* ---- one batch ----------------------------------------------------------- */

/* The statement of a job, and its parameters (at most 6). */
typedef struct stmt {
    const char *name; /* prepared on each connection (prepare()) */
    const char *values[6];
    char buf[6][32];
    int n;
} stmt;

static void param(stmt *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void param(stmt *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->buf[st->n], sizeof st->buf[st->n], fmt, ap);
    va_end(ap);
    st->values[st->n] = st->buf[st->n];
    st->n++;
}

static void param_str(stmt *st, const char *s)
{
    st->values[st->n++] = s;
}

/* A status change, conditional on the state machine's rule, and the run
   as it then stands: `changed` says which. The fallback row is read FOR
   SHARE, which sees the latest committed version, so a run changed by
   another instance meanwhile is reported as it is now. */
#define CHANGE(set)                                                                                \
    "WITH u AS (UPDATE hbeat_runs SET " set " WHERE id = $1 AND strpos($2, status) > 0"            \
    " RETURNING " RUN_COLS "), f AS (SELECT " RUN_COLS " FROM hbeat_runs"                          \
    " WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM u) FOR SHARE)"                                   \
    " SELECT " RUN_COLS ", true FROM u UNION ALL SELECT " RUN_COLS ", false FROM f"

/* A status change counts itself (SET reads the row as it was). */
#define COUNTED "changes = changes + (status <> $3)::int"
static const char sql_beat[] =
    CHANGE("status = $3, deadline = $4, last_heartbeat = $5, beats = beats + 1, " COUNTED);
static const char sql_status[] = CHANGE("status = $3, " COUNTED);
static const char sql_plain[] =
    "UPDATE hbeat_runs SET deadline = $3, last_heartbeat = $4, beats = beats + 1"
    " WHERE id = $1 AND status = $2 RETURNING " RUN_COLS;
static const char sql_create[] =
    "INSERT INTO hbeat_runs (workflow_id, status, deadline, initial_increment)"
    " VALUES ($1, $2, $3, $4) RETURNING " RUN_COLS;
static const char sql_get[] = "SELECT " RUN_COLS " FROM hbeat_runs WHERE id = $1";
static const char sql_list[] = "SELECT " RUN_COLS " FROM hbeat_runs WHERE id > $1"
                               " AND ($2 = '' OR status = $2) ORDER BY id LIMIT $3";
static const char sql_count[] = "SELECT status, count(*) FROM hbeat_runs GROUP BY status";

static const struct {
    const char *name, *sql;
} prepared[] = {{"plain", sql_plain},   {"beat", sql_beat}, {"status", sql_status},
                {"create", sql_create}, {"get", sql_get},   {"list", sql_list},
                {"count", sql_count}};

static void statement(const job *j, stmt *st)
{
    const hbd_run_op *op = &j->op;
    memset(st, 0, sizeof *st);
    param(st, "%lld", (long long)op->run_id);
    switch (op->kind) {
    case HBD_OP_HEARTBEAT:
        if (op->plain && !j->strict) {
            st->name = "plain";
            param_str(st, status_token(op->status));
        } else {
            st->name = "beat";
            param_str(st, op->from_ok);
            param_str(st, status_token(op->status));
        }
        param(st, "%.17g", op->now + op->increment);
        param(st, "%.17g", op->now);
        break;
    case HBD_OP_UPDATE_STATUS:
    case HBD_OP_SET_STATUS:
        st->name = "status";
        param_str(st, op->from_ok);
        param_str(st, status_token(op->status));
        break;
    case HBD_OP_CREATE:
        st->name = "create";
        st->n = 0;
        param(st, "%lld", (long long)op->workflow_id);
        param_str(st, status_token(op->status));
        param(st, "%.17g", op->has_increment ? op->now + op->increment : 0.0);
        param(st, "%.17g", op->has_increment ? op->increment : 0.0);
        break;
    case HBD_OP_GET:
        st->name = "get";
        break;
    case HBD_OP_COUNT:
        st->name = "count";
        st->n = 0;
        break;
    default: /* LIST */
        st->name = "list";
        st->n = 0;
        param(st, "%lld", (long long)op->after_id);
        param_str(st, op->status >= 0 ? status_token(op->status) : "");
        /* One more than the page: its presence says the page is not the
           last. */
        param(st, "%u", op->limit + 1);
        break;
    }
}

/* A job's outcome, read from its statement's result. */
typedef enum outcome { DONE, RETRY_STRICT } outcome;

static outcome take_result(pg_store *s, job *j, const PGresult *r, int *rc)
{
    hbd_run_op *op = &j->op;
    *rc = 0;
    int rows = PQntuples(r);
    if (op->kind == HBD_OP_COUNT) {
        for (int i = 0; i < rows; i++) {
            int st = hbd_status_index(PQgetvalue(r, i, 0));
            if (st >= 0)
                op->counts[st] += strtoull(PQgetvalue(r, i, 1), NULL, 10);
        }
        return DONE;
    }
    if (op->kind == HBD_OP_LIST) {
        size_t n = rows > (int)op->limit ? op->limit : (size_t)rows;
        hbd_run *page = malloc((n ? n : 1) * sizeof *page);
        if (page == NULL) {
            *rc = hbeat_error_set(op->err, HBEAT_ENOMEM, "out of memory listing runs");
            return DONE;
        }
        for (size_t i = 0; i < n; i++)
            read_run(r, (int)i, &page[i]);
        *op->list = page;
        *op->count = n;
        *op->next_after_id = rows > (int)op->limit ? page[n - 1].id : 0;
        return DONE;
    }
    if (rows == 0) {
        if (op->kind == HBD_OP_HEARTBEAT && op->plain && !j->strict)
            return RETRY_STRICT;
        *rc = hbeat_error_set(op->err, HBEAT_ENOTFOUND, "no workflow run %lld",
                              (long long)op->run_id);
        return DONE;
    }
    read_run(r, 0, op->out);
    int changed = PQnfields(r) > RUN_NCOLS ? PQgetvalue(r, 0, RUN_NCOLS)[0] == 't' : 1;
    const char *to = status_token(op->status);
    int kept = !changed && strchr(op->keep_ok, op->out->status[0]) != NULL;
    if (!changed && !kept && op->kind == HBD_OP_SET_STATUS)
        *rc = hbeat_error_set(op->err, HBEAT_EINVAL,
                              "run %lld: %s -> %s is not a valid transition (force overrides)",
                              (long long)op->run_id, op->out->status, to);
    else if (!changed && !kept)
        hbd_info_limited(
            "engine: invalid transition", "run %lld: %s with invalid transition %s -> %s ignored",
            (long long)op->run_id, op->kind == HBD_OP_HEARTBEAT ? "heartbeat" : "update_status",
            op->out->status, to);
    (void)s;
    return DONE;
}

/* The run a job locks, for the order of a batch; new runs, pages and
   counts lock none. */
static int64_t locks(const job *j)
{
    hbd_run_op_kind k = j->op.kind;
    return k == HBD_OP_CREATE || k == HBD_OP_LIST || k == HBD_OP_COUNT ? INT64_MAX : j->op.run_id;
}

/* Order of a batch: by the run locked, then as submitted; what locks no
   run goes last. */
static int by_run(const void *a, const void *b)
{
    const job *x = *(job *const *)a, *y = *(job *const *)b;
    int64_t ix = locks(x), iy = locks(y);
    if (ix != iy)
        return ix < iy ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int is_lazy(const job *j)
{
    return j->op.kind == HBD_OP_HEARTBEAT && j->op.plain && !j->strict;
}

static void log_change(const job *j)
{
    const hbd_run_op *op = &j->op;
    if (op->kind == HBD_OP_CREATE)
        hbd_info("created run %lld of workflow %lld in %s", (long long)op->out->id,
                 (long long)op->workflow_id, op->out->status);
    else if (op->kind == HBD_OP_SET_STATUS && op->out->status[0] == status_token(op->status)[0])
        hbd_info("run %lld: set to %s by operator%s", (long long)op->run_id, op->out->status,
                 op->force ? " (forced)" : "");
}

/* PQgetResult() once it need not block: NULL at the end of a query's
   results, or when the database has not answered by `deadline` (w->dead
   is then set). */
static PGresult *next_result(worker *w, double deadline)
{
    if (await_input(w->conn, deadline) != 0) {
        w->dead = 1;
        return NULL;
    }
    return PQgetResult(w->conn);
}

/* Why a batch got no answer: the database's silence or the broken link. */
static void no_answer(const pg_store *s, const worker *w, char *why, size_t why_len)
{
    if (w->dead)
        snprintf(why, why_len, "the database did not answer within %g s", s->timeout);
    else
        snprintf(why, why_len, "%s", PQerrorMessage(w->conn));
}

/* Sends the batch in one pipeline and reads it back. Returns 0, or the
   error every job of the batch gets (with `why`). Jobs that must run
   again (a plain beat that found another status) are put in *again. */
static int run_batch(pg_store *s, worker *w, job **jobs, size_t n, int *rcs, outcome *outs,
                     char *why, size_t why_len)
{
    PGconn *c = w->conn;
    int preparing = !w->prepared;
    if (preparing)
        w->lazy = -1;
    int lazy = s->sync != HBD_SYNC_FULL;
    for (size_t i = 0; i < n && lazy; i++)
        lazy = is_lazy(jobs[i]);
    /* Everything up to the sync is one implicit transaction: one commit
       for the batch, and nothing of it if any statement fails. A batch of
       plain beats only moves deadlines: its commit need not wait for the
       WAL flush (a crash of the database may take the last of them back,
       which the start-up grace absorbs; store.h, hbd_sync). The setting
       is the session's, sent only when it changes. On a new connection
       every statement is first parsed and planned, in the same round
       trip. */
    int ok = PQenterPipelineMode(c);
    size_t pre = 0;
    for (size_t i = 0; ok && preparing && i < sizeof prepared / sizeof prepared[0]; i++, pre++)
        ok = PQsendPrepare(c, prepared[i].name, prepared[i].sql, 0, NULL);
    if (ok && w->lazy != lazy) {
        ok = PQsendQueryParams(
            c, lazy ? "SET synchronous_commit = off" : "SET synchronous_commit = on", 0, NULL, NULL,
            NULL, NULL, 0);
        pre++;
    }
    for (size_t i = 0; i < n && ok; i++) {
        stmt st;
        statement(jobs[i], &st);
        ok = PQsendQueryPrepared(c, st.name, st.n, st.values, NULL, NULL, 0);
    }
    ok = ok && PQpipelineSync(c);
    int failed = !ok;
    if (!ok)
        snprintf(why, why_len, "%s", PQerrorMessage(c));
    /* Results: the setting, each statement (each query's end with a
       NULL), then the sync's. A database that does not answer in time is
       given up: the batch fails (it may still commit, but no reply says
       it did) and the connection is replaced. */
    double deadline = hbd_mono_now() + s->timeout;
    size_t expect = n + pre;
    for (size_t q = 0; q < expect && ok; q++) {
        PGresult *r;
        int first = 1;
        while ((r = next_result(w, deadline)) != NULL) {
            int st = PQresultStatus(r);
            if (st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED) {
                if (!failed)
                    snprintf(why, why_len, "%s", PQresultErrorMessage(r));
                failed = 1;
            } else if (first && q >= pre && q < pre + n && !failed) {
                outs[q - pre] = take_result(s, jobs[q - pre], r, &rcs[q - pre]);
            }
            first = 0;
            PQclear(r);
        }
        if (w->dead || PQstatus(c) == CONNECTION_BAD) {
            ok = 0;
            failed = 1;
            no_answer(s, w, why, why_len);
        }
    }
    if (ok) {
        PGresult *r = next_result(w, deadline);
        if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
            if (!failed && (w->dead || PQstatus(c) == CONNECTION_BAD))
                no_answer(s, w, why, why_len);
            else if (!failed)
                snprintf(why, why_len, "unexpected reply from the database");
            failed = 1;
        }
        PQclear(r);
    }
    /* A failed transaction took the setting back with it. Statements
       prepared by a failed batch may or may not exist: the connection is
       replaced rather than guessed about. */
    w->lazy = failed ? -1 : lazy;
    if (preparing && failed)
        w->dead = 1;
    else if (preparing)
        w->prepared = 1;
    if (!w->dead && !PQexitPipelineMode(c) && PQstatus(c) == CONNECTION_OK) {
        /* Results left over: the connection is out of step; start it
           again rather than read a later batch's answers as this one's. */
        failed = 1;
        snprintf(why, why_len, "the connection got out of step; reconnecting");
        w->dead = 1;
    }
    one_line(why);
    return failed ? -1 : 0;
}

/* ---- workers ------------------------------------------------------------- */

/* The worker's connection answers (as far as anyone knows). */
static int conn_ok(const worker *w)
{
    return w->conn != NULL && !w->dead && PQstatus(w->conn) == CONNECTION_OK;
}

static void set_connected(pg_store *s, int delta)
{
    int now = atomic_fetch_add(&s->connected, delta) + delta;
    hbd_metrics_store_up(now > 0);
}

/* Fails every queued job with `code`: the database is gone, and a client
   waits for no one. */
static void fail_queue(pg_store *s, int code, const char *why)
{
    pthread_mutex_lock(&s->mu);
    job *list = s->head;
    s->head = s->tail = NULL;
    pthread_mutex_unlock(&s->mu);
    while (list != NULL) {
        job *next = list->next;
        hbeat_error_set(list->op.err, code, "%s", why);
        finish(s, list, code);
        list = next;
    }
}

/* Runs a batch on w's connection and finishes its jobs. Returns those
   that must run again (a plain beat that found another status), linked by
   `next`. */
static job *run_jobs(pg_store *s, worker *w, job **jobs, size_t n)
{
    int rcs[HBD_PG_BATCH];
    outcome outs[HBD_PG_BATCH];
    char why[256];
    qsort(jobs, n, sizeof jobs[0], by_run);
    for (size_t i = 0; i < n; i++) {
        rcs[i] = 0;
        outs[i] = DONE;
    }
    why[0] = '\0';
    int rc = run_batch(s, w, jobs, n, rcs, outs, why, sizeof why);
    int lost = !conn_ok(w);
    if (lost) {
        set_connected(s, -1);
        hbd_error("postgresql: lost the connection to %s: %s", s->where, why);
    }
    job *again = NULL;
    for (size_t i = 0; i < n; i++) {
        job *j = jobs[i];
        if (rc != 0) {
            int code = lost ? HBEAT_EBUSY : HBEAT_ESYSTEM;
            hbeat_error_set(j->op.err, code, "the database failed: %s", why);
            finish(s, j, code);
        } else if (outs[i] == RETRY_STRICT) {
            j->strict = 1;
            j->next = again;
            again = j;
        } else {
            if (rcs[i] == 0)
                log_change(j);
            finish(s, j, rcs[i]);
        }
    }
    if (lost && !store_up(s))
        fail_queue(s, HBEAT_EBUSY, "the database is unreachable (hbeatd is reconnecting)");
    return again;
}

/* An idle worker whose connection a caller may use for one job, or NULL.
   Under mu. */
static worker *lend_locked(pg_store *s)
{
    for (unsigned int i = 0; i < s->nworkers; i++) {
        worker *w = &s->workers[i];
        if (w->idle && !w->lent && conn_ok(w)) {
            w->lent = 1;
            s->lent++;
            return w;
        }
    }
    return NULL;
}

/* One job on a lent worker's connection, in the caller's thread: the
   batch of one the worker would have sent, without handing the job to
   the worker and its result back. */
static void run_lent(pg_store *s, worker *w, job *j)
{
    job *one = j;
    while (one != NULL)
        one = run_jobs(s, w, &one, 1);
    pthread_mutex_lock(&s->mu);
    w->lent = 0;
    s->lent--;
    /* Jobs queued meanwhile, or a connection to reconnect: the workers
       look again (a lone request wakes no one). */
    if (s->head != NULL || !conn_ok(w))
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pg_store *s = w->s;
    job *jobs[HBD_PG_BATCH];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (!conn_ok(w)) {
            if (s->stop)
                break;
            struct timespec at = hbd_mono_deadline(RECONNECT_S);
            pthread_cond_timedwait(&s->pause, &s->mu, &at);
            if (s->stop)
                break;
            pthread_mutex_unlock(&s->mu);
            PQfinish(w->conn);
            w->conn = open_conn(s);
            w->dead = 0;
            w->prepared = 0;
            if (conn_ok(w)) {
                set_connected(s, 1);
                hbd_info("postgresql: reconnected to %s", s->where);
            }
            pthread_mutex_lock(&s->mu);
            continue;
        }
        /* While lent, the connection is the caller's: not a look at it. */
        w->idle = 1;
        while (w->lent || (!s->stop && s->head == NULL && conn_ok(w)))
            pthread_cond_wait(&s->cond, &s->mu);
        w->idle = 0;
        if (!conn_ok(w))
            continue; /* a caller lost it */
        if (s->head == NULL)
            break; /* stopping, nothing left */
        size_t n = 0;
        while (s->head != NULL && n < HBD_PG_BATCH) {
            jobs[n] = s->head;
            s->head = s->head->next;
            jobs[n]->next = NULL;
            n++;
        }
        if (s->head == NULL)
            s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        job *again = run_jobs(s, w, jobs, n);
        pthread_mutex_lock(&s->mu);
        while (again != NULL) {
            /* To the front: it was already waiting. */
            job *next = again->next;
            again->next = s->head;
            s->head = again;
            if (s->tail == NULL)
                s->tail = again;
            again = next;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the reaper ---------------------------------------------------------- */

/* One statement of the reaper's, its answer bounded by the store's
   timeout: 0 and its result in *out (when out is not NULL), or an error.
   A database that does not answer in time costs the connection (the
   next pass opens another). */
static int reaper_exec(pg_store *s, const char *sql, const char *param, PGresult **out,
                       hbeat_error *err)
{
    PGconn *c = s->reaper;
    const char *const p[1] = {param};
    PGresult *last = NULL;
    int late = 0;
    if (PQsendQueryParams(c, sql, param != NULL ? 1 : 0, NULL, p, NULL, NULL, 0)) {
        double deadline = hbd_mono_now() + s->timeout;
        while (!late) {
            if (await_input(c, deadline) != 0) {
                late = 1;
                break;
            }
            PGresult *r = PQgetResult(c);
            if (r == NULL)
                break;
            PQclear(last);
            last = r;
        }
    }
    int st = last != NULL ? PQresultStatus(last) : PGRES_FATAL_ERROR;
    if (!late && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
        if (out != NULL)
            *out = last;
        else
            PQclear(last);
        return 0;
    }
    PQclear(last);
    if (late) {
        PQfinish(c);
        s->reaper = NULL;
        return fail(err, HBEAT_EBUSY, "reaper: the database did not answer within %g s",
                    s->timeout);
    }
    return fail(err, PQstatus(c) == CONNECTION_OK ? HBEAT_ESYSTEM : HBEAT_EBUSY, "reaper: %s",
                PQerrorMessage(c));
}

/* The due runs, moved to their reaper targets. FOR UPDATE re-reads a run
   changed meanwhile and checks it again, so a run beaten during the pass
   is not reaped; SKIP LOCKED leaves a run being beaten right now to the
   next pass. */
static const char sql_reap[] =
    "WITH due AS (SELECT id, status, deadline FROM hbeat_runs"
    " WHERE status IN ('L', 'R', 'C', 'H') AND deadline > 0 AND deadline < $1"
    " ORDER BY id FOR UPDATE SKIP LOCKED)"
    " UPDATE hbeat_runs r SET status = CASE due.status WHEN 'L' THEN 'A' WHEN 'R' THEN 'E'"
    " ELSE 'T' END, changes = r.changes + 1 FROM due WHERE r.id = due.id"
    " RETURNING r.id, due.status, r.status, due.deadline";

/* The rows sql_reap returned, for the engine. */
static int read_reaped(const PGresult *r, double now, hbd_reaped_run **moved, size_t *count,
                       hbeat_error *err)
{
    int n = PQntuples(r);
    if (n == 0)
        return 0;
    hbd_reaped_run *m = malloc((size_t)n * sizeof *m);
    if (m == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "reaper: out of memory");
    for (int i = 0; i < n; i++) {
        m[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        m[i].from = (uint8_t)hbd_status_index(PQgetvalue(r, i, 1));
        m[i].to = (uint8_t)hbd_status_index(PQgetvalue(r, i, 2));
        m[i].late = now - strtod(PQgetvalue(r, i, 3), NULL);
        m[i].change = 0; /* reported by the listener (watch) */
    }
    *moved = m;
    *count = (size_t)n;
    return 0;
}

static int reap(void *self, double now, int look_only, hbd_reaped_run **moved, size_t *count,
                hbeat_error *err)
{
    pg_store *s = self;
    *moved = NULL;
    *count = 0;
    if (s->reaper == NULL || PQstatus(s->reaper) != CONNECTION_OK) {
        PQfinish(s->reaper);
        s->reaper = open_conn(s);
        if (s->reaper == NULL || PQstatus(s->reaper) != CONNECTION_OK)
            return fail(err, HBEAT_EBUSY, "reaper: cannot reach the database: %s",
                        s->reaper != NULL ? PQerrorMessage(s->reaper) : "out of memory");
    }
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%.6f", now);
    /* Seen, whether or not this instance reaps: the service is up. */
    int rc = reaper_exec(s, "BEGIN", NULL, NULL, err);
    if (rc == 0)
        rc = reaper_exec(s, "UPDATE hbeat_reaper SET last_seen = greatest(last_seen, $1)", stamp,
                         NULL, err);
    /* One instance reaps at a time; the others skip this pass. */
    int mine = 0;
    PGresult *r = NULL;
    if (rc == 0 && !look_only &&
        (rc = reaper_exec(s, "SELECT pg_try_advisory_xact_lock(" LOCK_REAPER ")", NULL, &r, err)) ==
            0) {
        mine = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
    }
    if (rc == 0 && mine && (rc = reaper_exec(s, sql_reap, stamp, &r, err)) == 0) {
        rc = read_reaped(r, now, moved, count, err);
        PQclear(r);
    }
    if (rc == 0)
        rc = reaper_exec(s, "COMMIT", NULL, NULL, err);
    if (rc != 0) {
        free(*moved);
        *moved = NULL;
        *count = 0;
        hbeat_error ignored = HBEAT_ERROR_INIT;
        if (s->reaper != NULL && PQstatus(s->reaper) == CONNECTION_OK)
            reaper_exec(s, "ROLLBACK", NULL, NULL, &ignored);
    }
    return rc;
}

/* ---- life ---------------------------------------------------------------- */

static int store_failed(void *self)
{
    (void)self;
    /* A database that goes away comes back: never fail-stop. */
    return 0;
}

static void store_close(void *self)
{
    pg_store *s = self;
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_cond_broadcast(&s->pause);
    pthread_mutex_unlock(&s->mu);
    for (unsigned int i = 0; i < s->nworkers; i++)
        if (s->workers[i].started)
            pthread_join(s->workers[i].thread, NULL);
    hbd_pg_listen_stop(s->listener);
    /* Workers with no connection left jobs behind. */
    fail_queue(s, HBEAT_ECANCELED, "hbeatd is shutting down");
    for (unsigned int i = 0; i < s->nworkers; i++)
        if (s->workers[i].conn != NULL)
            PQfinish(s->workers[i].conn);
    if (s->reaper != NULL)
        PQfinish(s->reaper);
    /* Whatever is still registered was never waited for. */
    while (s->reg != NULL) {
        job *j = s->reg;
        s->reg = j->reg_next;
        free(j);
    }
    free(s->workers);
    free(s->conninfo);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->pause);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->reg_mu);
    free(s);
}

static int store_watch(void *self, hbd_store_change_fn fn, void *arg, hbeat_error *err)
{
    pg_store *s = self;
    PGconn *c = connect_db(s, err);
    if (c == NULL)
        return err->code;
    return hbd_pg_listen_start(&s->listener, c, s->where, s->timeout, fn, arg, err);
}

static const hbd_run_store_ops pg_ops = {
    .version = HBD_RUN_STORE_OPS_VERSION,
    .name = "postgresql",
    .submit = submit,
    .when_done = when_done,
    .reap = reap,
    .deferred = 1,
    .failed = store_failed,
    .up = store_up,
    .close = store_close,
    .watch = store_watch,
};

static void describe(pg_store *s, PGconn *c)
{
    const char *host = PQhost(c);
    snprintf(s->where, sizeof s->where, "host=%s port=%s dbname=%s user=%s",
             host != NULL && host[0] != '\0' ? host : "(default)", PQport(c), PQdb(c), PQuser(c));
}

int hbd_pg_store_open(void **self, const hbd_run_store_ops **ops, const hbd_pg_store_options *o,
                      double *grace, hbeat_error *err)
{
    *self = NULL;
    *ops = &pg_ops;
    pg_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->conninfo = strdup(o->conninfo)) == NULL) {
        free(s);
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory");
    }
    s->sync = o->sync != HBD_SYNC_DEFAULT ? o->sync : HBD_SYNC_CHANGES;
    s->timeout = o->timeout > 0 ? o->timeout : HBD_DEFAULT_DB_TIMEOUT;
    pthread_mutex_init(&s->mu, NULL);
    hbd_mono_cond_init(&s->cond);
    hbd_mono_cond_init(&s->pause);
    pthread_mutex_init(&s->reg_mu, NULL);
    atomic_init(&s->next_ticket, 1);
    atomic_init(&s->connected, 0);
    atomic_init(&s->busy, 0);
    s->nworkers = o->workers > 0 ? o->workers : 4;
    s->workers = calloc(s->nworkers, sizeof *s->workers);
    if (s->workers == NULL) {
        store_close(s);
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory");
    }

    /* The schema and the grace, on the reaper's connection, under the
       schema lock: an instance starting at the same moment waits. */
    int rc = 0;
    s->reaper = connect_db(s, err);
    if (s->reaper == NULL)
        rc = err->code;
    int version = 0;
    if (rc == 0) {
        describe(s, s->reaper);
        rc = exec_ok(s->reaper, "SELECT pg_advisory_lock(" LOCK_SCHEMA ")", err);
        if (rc == 0) {
            rc = migrate(s->reaper, &version, err);
            if (rc == 0)
                rc = start_grace(s->reaper, o, grace, err);
            hbeat_error ignored = HBEAT_ERROR_INIT;
            exec_ok(s->reaper, "SELECT pg_advisory_unlock(" LOCK_SCHEMA ")", &ignored);
        }
    }
    for (unsigned int i = 0; i < s->nworkers && rc == 0; i++) {
        worker *w = &s->workers[i];
        w->s = s;
        w->conn = connect_db(s, err);
        if (w->conn == NULL) {
            rc = err->code;
            break;
        }
        set_connected(s, 1);
        int prc = pthread_create(&w->thread, NULL, worker_main, w);
        if (prc != 0) {
            rc = hbeat_error_set(err, HBEAT_ESYSTEM, "postgresql: cannot start a worker: %s",
                                 strerror(prc));
            break;
        }
        w->started = 1;
    }
    if (rc != 0) {
        store_close(s);
        return rc;
    }
    hbd_info("store postgresql (%s): schema v%d, %u connections", s->where, version, s->nworkers);
    *self = s;
    return 0;
}
