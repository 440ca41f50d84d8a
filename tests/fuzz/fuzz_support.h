/*
 * Helpers shared by the fuzz targets. A target reports a broken contract
 * with FUZZ_CHECK, which aborts, so that libFuzzer keeps the input as a
 * crash exactly as it keeps one for a sanitizer report.
 */
#ifndef HBEAT_FUZZ_SUPPORT_H
#define HBEAT_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Aborts with the failed condition and a message when `cond` is false. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A malloc'ed NUL-terminated copy of `len` bytes (which may hold NULs). */
char *fuzz_strndup(const uint8_t *data, size_t len);

/* 1 when `s` (of `len` bytes) is well-formed UTF-8: what protobuf string
   fields and JSON text must be for other implementations to read them. */
int fuzz_utf8_valid(const char *s, size_t len);

/* Sends the library's own log lines to a sink that formats and drops
   them, so that the code paths run without flooding the fuzzer's output.
   HBEAT_FUZZ_LOG=1 in the environment shows them instead. */
void fuzz_quiet_logs(void);

/* 1 when HBEAT_FUZZ_LOG asks for log output. */
int fuzz_verbose(void);

#endif /* HBEAT_FUZZ_SUPPORT_H */
