/*
 * Every limit and threshold of the hostile suite, in one place to tune.
 * Sizes are small enough for 2 shared cores under ASan: each case runs
 * for a few seconds when hbeatd withstands it. The patterns' own rates
 * (connect timeout, reconnect delay, trickle speed, declared sizes) are
 * at the top of attacks.c and in attacks.h: the hand-run tool shares
 * them.
 */
#ifndef HBEAT_ITEST_HOSTILE_TUNING_H
#define HBEAT_ITEST_HOSTILE_TUNING_H

/* ---- hbeatd: small limits, so that an attack bites fast ---- */
#define HX_MAX_CONNECTIONS "64" /* --max-connections, per front end */
#define HX_MAX_PER_IP      "16" /* --max-connections-per-ip (and per uid on ipc) */
#define HX_READ_TIMEOUT    "2"  /* --read-timeout, seconds */
#define HX_READ_TIMEOUT_S  2.0
#define HX_MAX_CONN_N      64

/* ---- the honest clients (honest.h) ---- */
/* Pacing between beats, and how long one beat may take before it counts
   as failed (the library's request and connect timeouts). */
#define HX_HONEST_PAUSE_S   0.1
#define HX_HONEST_TIMEOUT_S 3.0
/* Share of beats that must succeed from the attack's start until hbeatd
   is back at its baseline. */
#define HX_DURING_MIN_OK 0.90
/* At least this many beats per client must have been tried then, or the
   share means nothing (a client stuck in one 3 s timeout tries few). */
#define HX_DURING_MIN_TRIES 2
/* Beats each client must have made before the baseline is taken, and how
   long that may take. */
#define HX_WARMUP_BEATS 3
#define HX_WARMUP_S     20.0

/* ---- baseline and recovery ---- */
/* The baseline is the highest of this many samples, this far apart, with
   the honest clients beating (their connections come and go). */
#define HX_BASELINE_SAMPLES 8
#define HX_SAMPLE_EVERY_S   0.05
/* How far above the baseline hbeatd may stay after the attack. The
   baseline is the highest sample, the later counts the lowest of three
   (so neither a fresh client's connection in flight nor hbeatd's own ipc
   probe count): one descriptor, two slots (the scrape counts itself), and
   RSS that malloc keeps. */
#define HX_FD_SLACK      1
#define HX_SLOT_SLACK    2
#define HX_RSS_SLACK_MIB 32
#define HX_RSS_SLACK_SAN 48 /* under a sanitizer (shadow memory, quarantine) */
/* ASan's quarantine for hbeatd, so that its RSS means something. */
#define HX_ASAN_QUARANTINE_MIB 16
/* How long hbeatd has to get back to its baseline once the attack is over
   (every attack socket closed); polled, no fixed sleep. */
#define HX_RECOVER_S 10.0
/* After the recovery, the honest clients beat on for this long, and until
   each has tried HX_AFTER_MIN_BEATS (at most HX_AFTER_MAX_S): every beat
   must succeed, and hbeatd's descriptors must not grow (by more than
   HX_FD_GROWTH) while the fresh clients connect and disconnect. */
#define HX_AFTER_S         2.0
#define HX_AFTER_MIN_BEATS 3
#define HX_AFTER_MAX_S     8.0
#define HX_FD_GROWTH       1

/* ---- bounds while the attack runs ---- */
/* Descriptors: one per connection the nng front end admits, and a few. */
#define HX_PEAK_FD_SLACK 32
/* Memory: what may be pinned by the attack at its height. 32 MiB is half
   of what 64 connections (--max-connections) could pin with 1 MiB each,
   so a server that reserves a declared length it will refuse fails. */
#define HX_PEAK_RSS_MIB     32
#define HX_PEAK_RSS_SAN_MIB 64

/* ---- the attacks (test_hostile.c), each bounded in count and time ---- */
/* The control case: no attack for this long. */
#define HX_CONTROL_S 2.0
/* 1: rounds of 5 connections, 5 garbage requests each, closed unread. */
#define HX_ABANDON_S         3.0
#define HX_ABANDON_PER_ROUND 5
/* 2: one connection that never reads: 60,000 requests over tcp (~960 KB),
   4,000 over ipc, then silence for the rest of HX_NONREADER_S. The
   server must end it within HX_NONREADER_CLOSE_S of its handshake. */
#define HX_NONREADER_S       4.0
#define HX_NONREADER_TCP     60000
#define HX_NONREADER_IPC     4000
#define HX_NONREADER_CLOSE_S 10.0
/* 3: connections that never send a byte, spread over HX_FLOOD_S from
   HX_FLOOD_SOURCES addresses; the server must end each within
   HX_FLOOD_CLOSE_S of its connect. */
#define HX_FLOOD_S       3.0
#define HX_FLOOD_TCP     2000
#define HX_FLOOD_TLS     500
#define HX_FLOOD_SOURCES 8
#define HX_FLOOD_CLOSE_S 15.0
/* 4: handshaked idle (and trickling) connections: 20 from each of 5
   addresses (more than the per-address and the total limit) and 80 over
   ipc, remade when closed; each must be ended within HX_IDLE_CLOSE_S of
   its handshake. */
#define HX_IDLE_S        5.0
#define HX_IDLE_PER_ADDR 20
#define HX_IDLE_ADDRS    5
#define HX_IDLE_IPC      80
#define HX_IDLE_CLOSE_S  (HX_READ_TIMEOUT_S + 2.0)
/* 5: ipc connections that stall inside a message (1 MiB declared, above
   --max-request; and 60 KiB declared, below it); each must be ended
   within HX_PARTIAL_CLOSE_S. */
#define HX_PARTIAL_S       3.0
#define HX_PARTIAL_BIG     200
#define HX_PARTIAL_SMALL_N 50
#define HX_PARTIAL_CLOSE_S (HX_READ_TIMEOUT_S + 2.0)
/* 7: connect and close before the handshake every 0.3 s. */
#define HX_WATCH_S 6.0
/* 8: REST slowloris: 20 trickling connections from each of 5 addresses
   counted up from HX_SLOW_SRC (the 127.0.0.1..5: the honest REST
   clients share 127.0.0.1 with one of them). Here hbeatd's read timeout
   is longer than the honest clients' (3 s): with the suite's 2 s, a
   connection waiting for a slot is served in time whatever the policy. */
#define HX_SLOW_S            5.0
#define HX_SLOW_READ_TIMEOUT "10"
#define HX_SLOW_PER_ADDR     20
#define HX_SLOW_ADDRS        5
#define HX_SLOW_SRC          "127.0.0.1"

#endif
