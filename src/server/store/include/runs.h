/*
 * The runs in memory: a compact record per run, kept in an array sorted by
 * id (ids only grow, so adding appends) and found through an open-addressing
 * hash index of array positions. Listing a page is a binary search plus a
 * scan; a lookup is one or two probes. Not thread-safe: the engine's lock
 * guards it.
 */
#ifndef HBD_RUNS_H
#define HBD_RUNS_H

#include <stddef.h>
#include <stdint.h>

/* One run. Kept small on purpose (56 bytes): hbeatd is sized for 100,000s
   of runs. */
typedef struct hbd_run_record {
    int64_t id;
    int64_t workflow_id;
    double deadline;       /* Unix seconds; 0: none */
    double last_heartbeat; /* Unix seconds; 0: never */
    uint64_t beats;
    uint64_t ticket; /* commit that makes the last change durable (committer.h) */
    /* The next_report_increment the run was created with (its first
       deadline's window), for the start-up grace of a run that never
       beat; 0 when none. A float fits the padding (the record stays 56
       bytes) and is exact to well under a second for any window allowed. */
    float initial_increment;
    uint8_t status; /* HBD_ST_* */
} hbd_run_record;

_Static_assert(sizeof(hbd_run_record) == 56,
               "hbd_run_record is sized for 100,000s of runs in memory");

typedef struct hbd_run_table {
    hbd_run_record *recs; /* sorted by id */
    size_t count, cap;
    uint32_t *slots; /* position + 1; 0 is empty */
    size_t nslots;   /* power of two */
} hbd_run_table;

void hbd_run_table_init(hbd_run_table *runs);
void hbd_run_table_free(hbd_run_table *runs);
/* The record with `id`, or NULL. Valid until the next hbd_run_table_add. */
hbd_run_record *hbd_run_table_find(const hbd_run_table *runs, int64_t id);
/* Appends a copy of `rec`, whose id must be greater than every id held.
   Returns the stored record, or NULL (out of memory, id out of order). */
hbd_run_record *hbd_run_table_add(hbd_run_table *runs, const hbd_run_record *rec);
/* Position of the first record with id > after_id (count when none). */
size_t hbd_run_table_after(const hbd_run_table *runs, int64_t after_id);

#endif /* HBD_RUNS_H */
