/*
 * Captures what hbeatd logs (log.c writes every line to stderr) into a
 * temporary file, so that a test can check which lines were written.
 * One capture at a time.
 */
#ifndef HBD_TEST_LOG_CAPTURE_H
#define HBD_TEST_LOG_CAPTURE_H

/* Points stderr at a fresh temporary file. 0 or -1. */
int log_capture_start(void);
/* Restores stderr and returns what was written meanwhile (malloc'ed,
   NUL-terminated; free() it), or NULL when nothing was being captured. */
char *log_capture_stop(void);
/* How many times `needle` occurs in `text`. */
int log_count(const char *text, const char *needle);

#endif /* HBD_TEST_LOG_CAPTURE_H */
