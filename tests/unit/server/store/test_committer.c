/*
 * Group commit: concurrent changes from many threads all end up in the
 * store, in per-run order; a waiter is released only once its batch is
 * committed; a failed commit fails every later waiter and change.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "committer.h"
#include "run_status.h"
#include "store.h"

#define NTHREADS 16
#define NCHANGES 200

static char path[64];

static int setup(void **state)
{
    snprintf(path, sizeof path, "/tmp/hbd-commit-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    unlink(path);
    return 0;
}

typedef struct worker {
    hbd_committer *c;
    int64_t id;
    uint64_t last_ticket;
    int errors;
} worker;

/* Each thread owns one run and writes NCHANGES versions of it, waiting
   for each before the next, like a client waiting for its reply. */
static void *work(void *arg)
{
    worker *w = arg;
    for (uint64_t i = 1; i <= NCHANGES; i++) {
        hbd_run_record r;
        memset(&r, 0, sizeof r);
        r.id = w->id;
        r.workflow_id = 1;
        r.status = HBD_ST_R;
        r.beats = i;
        r.deadline = (double)i;
        uint64_t ticket;
        if (hbd_committer_add(w->c, &r, &ticket, NULL) != 0 ||
            hbd_committer_wait(w->c, ticket, NULL) != 0) {
            w->errors++;
            return NULL;
        }
        if (ticket <= w->last_ticket)
            w->errors++; /* tickets only grow */
        w->last_ticket = ticket;
    }
    return NULL;
}

typedef struct seen {
    uint64_t beats[NTHREADS + 1];
    size_t n;
} seen;

static int collect(void *arg, const hbd_run_record *r)
{
    seen *s = arg;
    if (r->id < 1 || r->id > NTHREADS)
        return -1;
    s->beats[r->id] = r->beats;
    s->n++;
    return 0;
}

static void test_concurrent_changes_all_durable(void **state)
{
    hbd_store *store;
    hbd_committer *c;
    assert_int_equal(hbd_store_open(&store, path, NULL), 0);
    assert_int_equal(hbd_committer_start(&c, store, NULL), 0);
    worker w[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].c = c;
        w[i].id = i + 1;
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    uint64_t max_ticket = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].errors, 0);
        if (w[i].last_ticket > max_ticket)
            max_ticket = w[i].last_ticket;
    }
    /* Each waited for its own commit, so the store is up to date even
       before stop: read it through a second connection... which the
       exclusive lock forbids, so close and reopen instead. */
    hbd_committer_stop(c);
    hbd_store_close(store);
    /* Fewer batches than changes is the point of group commit, but it
       depends on scheduling, so only the upper bound is a rule. */
    assert_true(max_ticket <= (uint64_t)NTHREADS * NCHANGES);

    assert_int_equal(hbd_store_open(&store, path, NULL), 0);
    seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(hbd_store_load(store, collect, &s, NULL), 0);
    assert_int_equal(s.n, NTHREADS);
    for (int i = 1; i <= NTHREADS; i++)
        assert_int_equal(s.beats[i], NCHANGES); /* the last version won */
    hbd_store_close(store);
}

typedef struct note {
    int calls;
    int rc;
} note;

static void on_durable(void *arg, int rc)
{
    note *n = arg;
    n->calls++;
    n->rc = rc;
}

static void test_notify(void **state)
{
    hbd_store *store;
    hbd_committer *c;
    assert_int_equal(hbd_store_open(&store, ":memory:", NULL), 0);
    assert_int_equal(hbd_committer_start(&c, store, NULL), 0);

    /* Ticket 0 (nothing to wait for) is reported at once, in this thread. */
    note n0 = {0, -1};
    hbd_durable d0;
    hbd_committer_notify(c, 0, &d0, on_durable, &n0);
    assert_int_equal(n0.calls, 1);
    assert_int_equal(n0.rc, 0);
    assert_int_equal(hbd_committer_wait(c, 0, NULL), 0);

    hbd_run_record r;
    memset(&r, 0, sizeof r);
    r.id = 1;
    r.status = HBD_ST_G;
    uint64_t ticket;
    assert_int_equal(hbd_committer_add(c, &r, &ticket, NULL), 0);
    assert_true(ticket > 0);
    note n1 = {0, -1};
    hbd_durable d1;
    hbd_committer_notify(c, ticket, &d1, on_durable, &n1);
    assert_int_equal(hbd_committer_wait(c, ticket, NULL), 0);
    /* Stop flushes and never leaves a callback uncalled; each is called
       exactly once. */
    hbd_committer_stop(c);
    assert_int_equal(n1.calls, 1);
    assert_int_equal(n1.rc, 0);
    hbd_store_close(store);
}

static void test_fail_stop(void **state)
{
    hbd_store *store;
    hbd_committer *c;
    assert_int_equal(hbd_store_open(&store, path, NULL), 0);
    assert_int_equal(hbd_committer_start(&c, store, NULL), 0);
    hbd_run_record good;
    memset(&good, 0, sizeof good);
    good.id = 1;
    good.status = HBD_ST_R;
    uint64_t t1, t2;
    assert_int_equal(hbd_committer_add(c, &good, &t1, NULL), 0);
    assert_int_equal(hbd_committer_wait(c, t1, NULL), 0);
    assert_int_equal(hbd_committer_failed(c), 0);

    /* A row the store refuses (no status token) fails its batch. */
    hbd_run_record bad = good;
    bad.id = 2;
    bad.status = 250;
    assert_int_equal(hbd_committer_add(c, &bad, &t2, NULL), 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_committer_wait(c, t2, &err), HBEAT_ESYSTEM);
    assert_int_equal(hbd_committer_failed(c), 1);
    /* Later changes are refused, later waiters fail, earlier ones hold. */
    assert_int_equal(hbd_committer_add(c, &good, &t2, &err), HBEAT_ESYSTEM);
    assert_int_equal(hbd_committer_wait(c, t1, NULL), 0);
    note n = {0, -1};
    hbd_durable d;
    hbd_committer_notify(c, t1 + 1, &d, on_durable, &n);
    assert_int_equal(n.calls, 1);
    assert_int_equal(n.rc, HBEAT_ESYSTEM);
    hbd_committer_stop(c);
    hbd_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_changes_all_durable, setup, teardown),
        cmocka_unit_test(test_notify),
        cmocka_unit_test_setup_teardown(test_fail_stop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
