/* A URL that lists several servers in libpq's style,
   scheme://h1:port,h2:port/path, split into one URL per server. */
#ifndef HBEAT_CORE_SERVER_LIST_H
#define HBEAT_CORE_SERVER_LIST_H

#include <stddef.h>

#include "hbeat/errors.h"
#include "hbeat/gateway.h"

typedef struct hbeat__server_list {
    size_t count; /* 1: the URL names one server, and urls[0] is NULL */
    char *urls[HBEAT_URL_MAX_SERVERS];
    char names[HBEAT_URL_MAX_SERVERS][HBEAT_SERVER_NAME_MAX + 1];
} hbeat__server_list;

/* Splits `url`, whose scheme `scheme` (lower case) is already checked.
   0, or HBEAT_EINVAL / HBEAT_ENOMEM with a message; free the list with
   hbeat__server_list_free() either way. */
int hbeat__server_list_parse(hbeat__server_list *out, const char *url, const char *scheme,
                             hbeat_error *err);
void hbeat__server_list_free(hbeat__server_list *list);

#endif
