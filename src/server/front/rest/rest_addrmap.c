/*
 * Open connections per client address (rest_secure.h). hbeatd counts these
 * itself rather than leave it to libmicrohttpd, because when a table is
 * full the count decides which connection gives way (rest_deadline.c), and
 * that has to happen before a new connection is refused, not after.
 *
 * Each address present has a record of its own, which its connections
 * point at, so reading an address's count while choosing whom to close is
 * a load, not a lookup. The records come from an array sized for every
 * connection hbeatd admits, so the map never fills and never allocates
 * under the lock.
 *
 * The index is open addressing with linear probing. Its hash is seeded at
 * start: an attacker with many IPv6 addresses cannot line them up on one
 * probe chain without knowing the seed.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rest_secure.h"

struct hbd_rest_addrmap {
    hbd_rest_addr *records;
    hbd_rest_addr **index; /* NULL: empty slot */
    hbd_rest_addr *free_list;
    size_t mask;
    uint64_t seed;
};

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static size_t home(const hbd_rest_addrmap *m, const unsigned char key[16])
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    return (size_t)(mix(mix(a ^ m->seed) ^ b) & m->mask);
}

hbd_rest_addrmap *hbd_rest_addrmap_new(size_t max)
{
    hbd_rest_addrmap *m = calloc(1, sizeof *m);
    if (m == NULL || max == 0 || max > ((size_t)1 << 28)) {
        free(m);
        return NULL;
    }
    size_t cap = 16;
    while (cap < 2 * max)
        cap *= 2;
    m->records = calloc(max, sizeof *m->records);
    m->index = calloc(cap, sizeof *m->index);
    if (m->records == NULL || m->index == NULL) {
        hbd_rest_addrmap_free(m);
        return NULL;
    }
    for (size_t i = 0; i < max; i++) {
        m->records[i].next_free = m->free_list;
        m->free_list = &m->records[i];
    }
    m->mask = cap - 1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    m->seed = mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)m);
    return m;
}

void hbd_rest_addrmap_free(hbd_rest_addrmap *m)
{
    if (m == NULL)
        return;
    free(m->records);
    free(m->index);
    free(m);
}

hbd_rest_addr *hbd_rest_addrmap_join(hbd_rest_addrmap *m, const unsigned char key[16])
{
    size_t i = home(m, key);
    /* The index is at most half full, so an empty slot always comes. */
    while (m->index[i] != NULL && memcmp(m->index[i]->key, key, 16) != 0)
        i = (i + 1) & m->mask;
    hbd_rest_addr *a = m->index[i];
    if (a == NULL) {
        if (m->free_list == NULL)
            return NULL; /* more connections than the map was made for */
        a = m->free_list;
        m->free_list = a->next_free;
        memcpy(a->key, key, 16);
        a->count = 0;
        m->index[i] = a;
    }
    a->count++;
    return a;
}

/* Empties slot i and moves later members of its probe chain back, so that
   no lookup meets a hole before its key (no tombstones to pile up). */
static void erase(hbd_rest_addrmap *m, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        if (m->index[j] == NULL)
            break;
        size_t k = home(m, m->index[j]->key);
        /* Slot j stays where it is when its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        m->index[i] = m->index[j];
        i = j;
    }
    m->index[i] = NULL;
}

void hbd_rest_addrmap_leave(hbd_rest_addrmap *m, hbd_rest_addr *a)
{
    if (a == NULL || a->count == 0)
        return;
    if (--a->count > 0)
        return;
    size_t i = home(m, a->key);
    while (m->index[i] != a)
        i = (i + 1) & m->mask;
    erase(m, i);
    a->next_free = m->free_list;
    m->free_list = a;
}

unsigned long hbd_rest_addrmap_count(hbd_rest_addrmap *m, const unsigned char key[16])
{
    size_t i = home(m, key);
    while (m->index[i] != NULL) {
        if (memcmp(m->index[i]->key, key, 16) == 0)
            return m->index[i]->count;
        i = (i + 1) & m->mask;
    }
    return 0;
}
