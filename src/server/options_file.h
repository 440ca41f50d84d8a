/*
 * hbeatd's configuration file (--config FILE): reading it into the
 * options (hbd_options_read_file, declared in options.h), the commented
 * template the packages install, and what SIGHUP says about it.
 */
#ifndef HBD_OPTIONS_FILE_H
#define HBD_OPTIONS_FILE_H

#include <stdio.h>

#include "options.h"

/* Every key, commented out, with its help and its default. */
void hbd_options_write_template(FILE *out);

/* The file as it was read at start; on SIGHUP, report logs which of its
   settings have changed since (they take a restart) or that none did.
   start returns NULL for a NULL path (no file), or when the file cannot
   be read again. */
typedef struct hbd_config_watch hbd_config_watch;
hbd_config_watch *hbd_config_watch_start(const char *path);
void hbd_config_watch_report(hbd_config_watch *w);
void hbd_config_watch_free(hbd_config_watch *w);

#endif /* HBD_OPTIONS_FILE_H */
