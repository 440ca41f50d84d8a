/*
 * Reading the small files hbeatd's configuration names (the token file,
 * the TLS certificate, key and client CAs): opened without blocking and
 * read only when it is a regular file, since a FIFO in its place would
 * block open() until a writer came (at start, or in the main loop that
 * also stops hbeatd on SIGTERM).
 */
#ifndef HBD_CONFIG_FILE_H
#define HBD_CONFIG_FILE_H

#include <stddef.h>

#include "hbeat/errors.h"

/* Reads all of `path`, at most `max` bytes. `what` names the file in
   messages ("token file", "--tls-key"); `secret` warns when other users
   may read or write it. *out is NUL-terminated and the caller's: wipe it
   (when secret) and free it. HBEAT_EINVAL with a message that names the
   file and what is wrong with it. */
int hbd_read_config_file(const char *what, const char *path, size_t max, int secret, char **out,
                         size_t *len, hbeat_error *err);

#endif /* HBD_CONFIG_FILE_H */
