/*
 * The index stores positions, not records, so the records stay in one
 * sorted array (for paging) and the index costs 4 bytes a slot. The load
 * factor is kept under 1/2, which keeps linear probing short.
 */
#include "runs.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(int64_t id, size_t nslots)
{
    /* Fibonacci hashing: sequential ids spread over the table. */
    uint64_t h = (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (nslots - 1);
}

void hbd_run_table_init(hbd_run_table *runs)
{
    memset(runs, 0, sizeof *runs);
}

void hbd_run_table_free(hbd_run_table *runs)
{
    free(runs->recs);
    free(runs->slots);
    memset(runs, 0, sizeof *runs);
}

hbd_run_record *hbd_run_table_find(const hbd_run_table *runs, int64_t id)
{
    if (runs->nslots == 0)
        return NULL;
    for (size_t s = slot_of(id, runs->nslots);; s = (s + 1) & (runs->nslots - 1)) {
        uint32_t pos = runs->slots[s];
        if (pos == 0)
            return NULL;
        if (runs->recs[pos - 1].id == id)
            return &runs->recs[pos - 1];
    }
}

static void index_put(uint32_t *slots, size_t nslots, int64_t id, uint32_t pos)
{
    size_t s = slot_of(id, nslots);
    while (slots[s] != 0)
        s = (s + 1) & (nslots - 1);
    slots[s] = pos;
}

static int grow_index(hbd_run_table *runs)
{
    size_t nslots = runs->nslots ? runs->nslots * 2 : 64;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < runs->count; i++)
        index_put(slots, nslots, runs->recs[i].id, (uint32_t)(i + 1));
    free(runs->slots);
    runs->slots = slots;
    runs->nslots = nslots;
    return 0;
}

hbd_run_record *hbd_run_table_add(hbd_run_table *runs, const hbd_run_record *rec)
{
    if (runs->count > 0 && rec->id <= runs->recs[runs->count - 1].id)
        return NULL;
    if (runs->count >= UINT32_MAX - 1)
        return NULL;
    if (runs->count == runs->cap) {
        /* 1.5x growth: less slack per run than doubling. */
        size_t cap = runs->cap ? runs->cap + runs->cap / 2 : 64;
        hbd_run_record *recs = realloc(runs->recs, cap * sizeof *recs);
        if (recs == NULL)
            return NULL;
        runs->recs = recs;
        runs->cap = cap;
    }
    if ((runs->count + 1) * 2 > runs->nslots && grow_index(runs) != 0)
        return NULL;
    runs->recs[runs->count] = *rec;
    index_put(runs->slots, runs->nslots, rec->id, (uint32_t)(runs->count + 1));
    return &runs->recs[runs->count++];
}

size_t hbd_run_table_after(const hbd_run_table *runs, int64_t after_id)
{
    size_t lo = 0, hi = runs->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (runs->recs[mid].id <= after_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
