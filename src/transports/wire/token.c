/* The bearer token from hbeat_gateway_options, as the nng and gRPC
   transports send it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transports/wire/wire.h"

/* Bearer tokens are token68 text; anything else would not survive the
   server's checks and is more likely a wrong file than a real token. */
static int check_token(const char *token, const char *who, const char *what, hbeat_error *err)
{
    size_t len = strlen(token);
    if (len == 0) {
        return hbeat_error_set(err, HBEAT_EINVAL, "%s: %s is empty", who, what);
    }
    if (len > HBEAT__WIRE_TOKEN_MAX) {
        return hbeat_error_set(err, HBEAT_EINVAL, "%s: %s is longer than %d bytes", who, what,
                               HBEAT__WIRE_TOKEN_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        if (c <= 0x20 || c >= 0x7f) {
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "%s: %s holds a character that is not printable ASCII "
                                   "(byte %zu)",
                                   who, what, i);
        }
    }
    return 0;
}

static int read_token_file(char **out, const char *path, const char *who, hbeat_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        int rc = hbeat_error_set(err, HBEAT_EINVAL, "%s: cannot open token_file %.160s: %s", who,
                                 path, strerror(e));
        if (err != NULL) {
            err->native = e;
        }
        return rc;
    }
    char line[HBEAT__WIRE_TOKEN_MAX + 2];
    int rc = 0;
    if (fgets(line, sizeof(line), f) == NULL) {
        rc = hbeat_error_set(err, HBEAT_EINVAL, "%s: token_file %.160s is empty", who, path);
    } else {
        size_t len = strcspn(line, "\r\n");
        if (len == strlen(line) && !feof(f)) {
            rc = hbeat_error_set(err, HBEAT_EINVAL,
                                 "%s: the first line of token_file %.160s is longer than %d "
                                 "bytes",
                                 who, path, HBEAT__WIRE_TOKEN_MAX);
        } else {
            line[len] = '\0';
            rc = check_token(line, who, "the token in token_file", err);
            if (rc == 0 && (*out = strdup(line)) == NULL) {
                rc = hbeat_error_set(err, HBEAT_ENOMEM, "%s: out of memory", who);
            }
        }
    }
    fclose(f);
    return rc;
}

int hbeat__wire_token(char **out, const hbeat_gateway_options *opts, const char *who,
                      hbeat_error *err)
{
    *out = NULL;
    int rc = 0;
    if (opts->token != NULL) {
        rc = check_token(opts->token, who, "token", err);
        if (rc == 0 && (*out = strdup(opts->token)) == NULL) {
            rc = hbeat_error_set(err, HBEAT_ENOMEM, "%s: out of memory", who);
        }
    } else if (opts->token_file != NULL) {
        rc = read_token_file(out, opts->token_file, who, err);
    }
    return rc;
}

void hbeat__wire_secret_free(char *secret)
{
    if (secret != NULL) {
        /* A credential: do not leave it in freed memory. */
        volatile char *p = secret;
        while (*p != '\0') {
            *p++ = '\0';
        }
        free(secret);
    }
}
