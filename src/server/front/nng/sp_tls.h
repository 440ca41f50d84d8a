/*
 * TLS for hbeatd's tls+tcp:// listeners, on OpenSSL with non-blocking
 * sockets: the front end's event loop drives the handshake and the I/O,
 * and a peer that never finishes its handshake is timed out like any
 * other slow request. TLS 1.2 and later; renegotiation is off; with a
 * client CA, a client certificate is required and verified.
 */
#ifndef HBD_SP_TLS_H
#define HBD_SP_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "hbeat/errors.h"
#include "tls.h"

/* What the I/O calls return besides a byte count (> 0) or 0 (the peer
   closed). */
#define HBD_IO_AGAIN (-1)
#define HBD_IO_ERROR (-2)

typedef struct hbd_sp_tls_ctx hbd_sp_tls_ctx;
typedef struct hbd_sp_tls hbd_sp_tls;

/* The server's certificate, key and (optional) client CAs, from `tls`.
   HBEAT_EINVAL with the reason when they do not load. */
int hbd_sp_tls_ctx_new(hbd_sp_tls_ctx **out, const hbd_tls *tls, hbeat_error *err);
void hbd_sp_tls_ctx_free(hbd_sp_tls_ctx *ctx);

/* A server-side session on connected socket `fd` (not taken over: the
   caller closes it); NULL when out of memory. */
hbd_sp_tls *hbd_sp_tls_new(hbd_sp_tls_ctx *ctx, int fd);
/* 1 once the handshake is done, HBD_IO_AGAIN, or HBD_IO_ERROR. */
int hbd_sp_tls_handshake(hbd_sp_tls *t);
ssize_t hbd_sp_tls_recv(hbd_sp_tls *t, void *buf, size_t len);
ssize_t hbd_sp_tls_send(hbd_sp_tls *t, const void *buf, size_t len);
/* 1 when OpenSSL holds received bytes not yet read. */
int hbd_sp_tls_pending(const hbd_sp_tls *t);
/* 1 when the last call stopped because the socket could not take more. */
int hbd_sp_tls_wants_write(const hbd_sp_tls *t);
/* Why the last call failed, for the log. */
const char *hbd_sp_tls_reason(hbd_sp_tls *t);
void hbd_sp_tls_free(hbd_sp_tls *t);

#endif /* HBD_SP_TLS_H */
