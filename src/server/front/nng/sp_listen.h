/*
 * The listening sockets of hbeatd's nng front end: one per listen URL
 * (tcp, tls+tcp, ipc), non-blocking, close-on-exec. An ipc socket file
 * left by a process that has gone is replaced; one that still answers is
 * not (another hbeatd is using it).
 */
#ifndef HBD_SP_LISTEN_H
#define HBD_SP_LISTEN_H

#include "hbeat/errors.h"
#include "sp_url.h"

typedef struct hbd_sp_listener {
    int fd;
    hbd_sp_url url;
    char bound[300]; /* the URL with the port the kernel picked */
} hbd_sp_listener;

/* Parses `url` and listens on it. HBEAT_EINVAL for a URL that is wrong in
   itself, HBEAT_ESYSTEM when the address cannot be bound. */
int hbd_sp_listen(hbd_sp_listener *l, const char *url, hbeat_error *err);
/* Closes the socket, and removes an ipc socket's file. */
void hbd_sp_listener_close(hbd_sp_listener *l);

#endif /* HBD_SP_LISTEN_H */
