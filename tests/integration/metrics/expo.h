/*
 * A strict reader of the Prometheus text exposition format 0.0.4, written
 * for the tests (no Prometheus code): it checks every line and the rules
 * between lines, and keeps the samples for look-ups.
 *
 * Checked: metric and label names; label values (quoted, escapes \\ \" \n
 * only); sample values (floats, +Inf, -Inf, NaN) and optional integer
 * timestamps; "# HELP name text" and "# TYPE name type" at most once per
 * family, TYPE before the family's first sample; a family's samples in one
 * block; no series twice; counters end in _total; histograms have only
 * _bucket, _sum and _count, each series with buckets in increasing `le`
 * ending at +Inf, cumulative counts never decreasing, +Inf equal to
 * _count, and a _sum.
 */
#ifndef HBEAT_TEST_EXPO_H
#define HBEAT_TEST_EXPO_H

#include <stddef.h>

typedef struct expo_sample {
    char name[128];
    char labels[512]; /* as written, without braces; sorted by label name */
    double value;
} expo_sample;

typedef struct expo_family {
    char name[128];
    char type[16];
} expo_family;

typedef struct expo {
    expo_sample *samples;
    size_t count;
    expo_family *families; /* those with a TYPE line */
    size_t nfamilies;
    char error[256]; /* the first problem, with its line number */
} expo;

/* Parses and checks `text`. 0, or -1 with e->error set. Free with
   expo_free() either way. */
int expo_parse(expo *e, const char *text, size_t len);
void expo_free(expo *e);

/* The value of series `name` with exactly `labels` (sorted, as in the
   text: `a="x",b="y"`; "" for none); NaN when absent. */
double expo_get(const expo *e, const char *name, const char *labels);
/* The TYPE declared for family `name` ("counter", "gauge", ...), or NULL. */
const char *expo_type(const expo *e, const char *name);
/* Number of series of `name` (any labels). */
size_t expo_series(const expo *e, const char *name);

#endif
