/*
 * What the server fuzz targets check the engine against: a fresh in-memory
 * engine per input (so that every crash reproduces from its input alone),
 * seeded with one run in each of the 13 statuses, a fixed clock, and a copy
 * of Jobmon's workflow-run state machine written independently of the server's.
 */
#ifndef HBEAT_FUZZ_SERVER_MODEL_H
#define HBEAT_FUZZ_SERVER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "support/engine_wait.h"

/* The engine's clock: every beat happens at this Unix time. */
#define FZ_NOW 1764280000.25

/* Runs 1..13, run i in the i-th status of FZ_STATUSES, of workflow 100 + i.
   The R run (6) has beaten once, with an increment of 45 s. */
#define FZ_STATUSES  "GLBIORDSECHTA"
#define FZ_SEED_RUNS 13

/* Every run an engine holds, in id order. */
typedef struct fz_snapshot {
    hbd_run *runs;
    size_t count;
} fz_snapshot;

/* A seeded engine; aborts when it cannot be made. */
hbd_engine *fz_engine_open(void);
void fz_engine_close(hbd_engine *e);

/* Lists every run the engine holds into *out (free with
   fz_snapshot_free). */
void fz_snapshot_take(hbd_engine *e, fz_snapshot *out);
void fz_snapshot_free(fz_snapshot *s);
const hbd_run *fz_snapshot_find(const fz_snapshot *s, int64_t id);
/* 1 when both hold the same runs with the same fields. */
int fz_run_equal(const hbd_run *a, const hbd_run *b);
int fz_snapshot_equal(const fz_snapshot *a, const fz_snapshot *b);
/* Checks that `after` is `before` with `changed` (when not NULL) in place of
   the run with its id, or appended when that id is new; `what` names the
   request for the message. */
void fz_expect_state(const fz_snapshot *before, const fz_snapshot *after, const hbd_run *changed,
                     const char *what);

/* 1 when `token` is one of the 13 status codes. */
int fz_status_known(const char *token);

typedef enum fz_transition { FZ_INVALID, FZ_VALID, FZ_UNTIMELY } fz_transition;
/* Jobmon's table, for two known codes. */
fz_transition fz_transition_of(const char *from, const char *to);

/* Waits until `ticket` is durable (the reply may be sent) and checks that
   it became so. 0 is durable already. */
void fz_wait_durable(hbd_engine *e, uint64_t ticket);

#endif /* HBEAT_FUZZ_SERVER_MODEL_H */
