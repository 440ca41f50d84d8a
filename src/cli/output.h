/*
 * How `hbeat` prints things: runs as a readable line or table, or as JSON
 * (one object per line) for scripts.
 */
#ifndef HBEAT_CLI_OUTPUT_H
#define HBEAT_CLI_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

#include "hbeat/hbeat.h"

/* Write @p s as a JSON string literal, quotes included. */
void cli_json_string(FILE *f, const char *s);

/* One run as a JSON object (no newline), with the field names of hbeatd's
   REST API. */
void cli_json_run(FILE *f, const hbeat_run_info *run);

/* "run 1: workflow 7, status R (running), 3 beats, last beat ..., deadline ..." */
void cli_print_run_line(FILE *f, const hbeat_run_info *run);

/* A table with a header line and one row per run. */
void cli_print_run_table(FILE *f, const hbeat_run_info *runs, size_t count);

/* "R (running)", or just "X" for a status Jobmon does not name. */
const char *cli_status_label(const char *status, char *buf, size_t size);

#endif /* HBEAT_CLI_OUTPUT_H */
