/*
 * hbeatd's log: one line per message on stderr, with a UTC time and level,
 * from any thread. The level is set once at start-up.
 *
 * A message a client can cause once per request (a refused request, a
 * refused connection) goes through hbd_warn_limited and its kin instead:
 * each such call site has a token bucket, so a flood of bad requests
 * writes a few lines and a count of what it left out ("N similar lines
 * suppressed"), not a line per request.
 */
#ifndef HBD_LOG_H
#define HBD_LOG_H

#include "hbeat/log.h"

void hbd_log_set_level(hbeat_log_level level);
/* "debug", "info", "warn", "error" -> level; -1 when unknown. */
int hbd_log_parse_level(const char *name);
void hbd_log(hbeat_log_level level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define hbd_debug(...) hbd_log(HBEAT_LOG_DEBUG, __VA_ARGS__)
#define hbd_info(...)  hbd_log(HBEAT_LOG_INFO, __VA_ARGS__)
#define hbd_warn(...)  hbd_log(HBEAT_LOG_WARN, __VA_ARGS__)
#define hbd_error(...) hbd_log(HBEAT_LOG_ERROR, __VA_ARGS__)

/* ---- rate-limited lines (log_limit.c) ---- */

/* Up to HBD_LOG_BURST lines from one site at once, then one line every
   HBD_LOG_INTERVAL_S seconds; what is left out is counted and reported in
   one line, before the site's next line or from hbd_log_flush_suppressed. */
#define HBD_LOG_BURST      10
#define HBD_LOG_INTERVAL_S 5.0

/* One per call site, in static storage (the macros below make it). All
   fields but `key` are private, guarded by log_limit.c's lock. */
typedef struct hbd_log_site {
    const char *key; /* names the kind of message in the summary line */
    hbeat_log_level level;
    int registered;
    double tokens, refilled;
    unsigned long suppressed;
    double since; /* when the first line now counted in `suppressed` came */
    struct hbd_log_site *next;
} hbd_log_site;

void hbd_log_limited(hbd_log_site *site, hbeat_log_level level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define HBD_LOG_LIMITED(level, key, ...)                                                           \
    do {                                                                                           \
        static hbd_log_site hbd_site_ = {key, HBEAT_LOG_DEBUG, 0, 0, 0, 0, 0, 0};                  \
        hbd_log_limited(&hbd_site_, level, __VA_ARGS__);                                           \
    } while (0)
#define hbd_info_limited(key, ...)  HBD_LOG_LIMITED(HBEAT_LOG_INFO, key, __VA_ARGS__)
#define hbd_warn_limited(key, ...)  HBD_LOG_LIMITED(HBEAT_LOG_WARN, key, __VA_ARGS__)
#define hbd_error_limited(key, ...) HBD_LOG_LIMITED(HBEAT_LOG_ERROR, key, __VA_ARGS__)

/* Reports every count of suppressed lines whose first line is at least
   HBD_LOG_INTERVAL_S old, so that the end of a flood is told too. hbeatd's
   main loop calls it a few times a second. */
void hbd_log_flush_suppressed(void);

/* Tests: the clock in seconds (NULL: CLOCK_MONOTONIC), and the bucket
   (burst lines, then one per interval; 0, 0 restores the defaults). Both
   also forget every site's state. */
void hbd_log_limit_set_clock(double (*now)(void));
void hbd_log_limit_configure(double burst, double interval_s);

#endif /* HBD_LOG_H */
