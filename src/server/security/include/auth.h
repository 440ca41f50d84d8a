/*
 * Bearer tokens for hbeatd, read from a token file that SIGHUP reloads.
 *
 * File format: one token per line, "<right> <token>", where right is
 * "client" (heartbeat and update_status) or "operator" (everything: admin
 * calls too); blank lines and lines starting with '#' are ignored. Tokens are
 * compared in constant time and never logged.
 */
#ifndef HBD_AUTH_H
#define HBD_AUTH_H

#include <stddef.h>

#include "calls.h"
#include "hbeat/errors.h"

typedef struct hbd_auth hbd_auth;

/* `token_file` NULL: authentication off (every request has every right). */
int hbd_auth_open(hbd_auth **out, const char *token_file, hbeat_error *err);
/* Re-reads the file; on error the old tokens stay in force. Thread-safe. */
int hbd_auth_reload(hbd_auth *auth, hbeat_error *err);
/* 1 when a token file is in force. */
int hbd_auth_enabled(const hbd_auth *auth);
/* The right `token` (of `len` bytes; NULL or 0: none given) grants;
   HBD_RIGHT_OPERATOR for everything when authentication is off. */
hbd_right hbd_auth_check(hbd_auth *auth, const char *token, size_t len);
void hbd_auth_close(hbd_auth *auth);

#endif /* HBD_AUTH_H */
