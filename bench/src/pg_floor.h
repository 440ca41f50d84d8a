/*
 * The floor under hbeatd's beats on PostgreSQL: the same UPDATE a plain
 * beat costs hbeatd (prepared, synchronous_commit off), sent by the bench
 * itself over libpq, with no hbeatd in between. One round trip to the
 * database per call.
 */
#ifndef BENCH_PG_FLOOR_H
#define BENCH_PG_FLOOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_pg_floor bench_pg_floor;

/* Connects to `uri` and prepares the beat of run `run` (which must exist,
   in status R). NULL with a message in err on failure. */
bench_pg_floor *bench_pg_floor_open(const char *uri, int64_t run, char *err, size_t len);
/* One beat: 0, or -1 with a message in err. */
int bench_pg_floor_once(bench_pg_floor *f, char *err, size_t len);
void bench_pg_floor_close(bench_pg_floor *f);

#endif /* BENCH_PG_FLOOR_H */
