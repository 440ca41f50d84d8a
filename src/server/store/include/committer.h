/*
 * Group commit. Changes are queued as record snapshots under the engine's
 * lock (cheap: a copy into an array); one writer thread takes everything
 * queued so far and writes it in one transaction, while new changes queue
 * behind it. Each change gets a ticket, the number of the batch it rides
 * in; a reply that depends on a change is sent only once that batch is
 * committed, so concurrent requests share one fsync without any of them
 * being answered early.
 *
 * If a commit fails the committer fails for good (fail-stop): every waiter
 * on that batch or a later one gets HBEAT_ESYSTEM, and so does every later
 * hbd_committer_add. What was committed stays committed; nothing that was
 * not is ever reported as done. The operator restarts hbeatd, which reloads
 * the durable state.
 */
#ifndef HBD_COMMITTER_H
#define HBD_COMMITTER_H

#include <stdint.h>

#include "durable.h"
#include "hbeat/errors.h"
#include "runs.h"
#include "store.h"

typedef struct hbd_committer hbd_committer;

/* Starts the writer thread over `store` (borrowed; outlives the committer). */
int hbd_committer_start(hbd_committer **out, hbd_store *store, hbeat_error *err);
/* Writes what is queued, stops the thread, frees. NULL is a no-op. */
void hbd_committer_stop(hbd_committer *c);
/* How batches reach the disk (store.h); HBD_SYNC_CHANGES until set. Call
   before the first add. */
void hbd_committer_set_sync(hbd_committer *c, hbd_sync mode);
/* Queues a copy of `rec`; *ticket gets its batch. HBEAT_ESYSTEM once the
   committer has failed, HBEAT_ENOMEM, HBEAT_ECANCELED after stop began. */
int hbd_committer_add(hbd_committer *c, const hbd_run_record *rec, uint64_t *ticket,
                      hbeat_error *err);
/* The same for a change that a power loss may take back without harm: a
   heartbeat that keeps the status and only moves the deadline (after a
   restart the reaper's start-up grace gives every client a full deadline
   to beat again). Under HBD_SYNC_CHANGES a batch of only such changes is
   committed without an fsync. */
int hbd_committer_add_lazy(hbd_committer *c, const hbd_run_record *rec, uint64_t *ticket,
                           hbeat_error *err);
/* Blocks until `ticket` is durable: 0, or HBEAT_ESYSTEM (commit failed).
   Ticket 0 is always durable. */
int hbd_committer_wait(hbd_committer *c, uint64_t ticket, hbeat_error *err);
/* Calls fn(arg, rc) once `ticket` is durable (rc 0) or can never be
   (HBEAT_ESYSTEM): at once in this thread when that is already known,
   otherwise later from the writer thread. `w` is caller-owned storage that
   must stay valid until fn is called. */
void hbd_committer_notify(hbd_committer *c, uint64_t ticket, hbd_durable *w, hbd_durable_fn fn,
                          void *arg);
/* 1 once a commit has failed. */
int hbd_committer_failed(hbd_committer *c);

#endif /* HBD_COMMITTER_H */
