/*
 * Bearer tokens (auth.h). The table is swapped whole on reload under a
 * read-write lock, so a check never sees half a file and a failed reload
 * leaves the old table in force.
 *
 * Comparison: every stored token is compared with the one presented, each
 * over the stored token's full length, with no early exit, and the result
 * is selected without a branch on secret data. How long a check takes thus
 * depends on the stored tokens' lengths, never on how much of a guess was
 * right. Token bytes are wiped before their memory is freed and never reach
 * a log line or an error message (errors name the line, not its content).
 */
#define _DEFAULT_SOURCE /* explicit_bzero */

#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_file.h"
#include "log.h"

/* A token file bigger than this is a mistake (a wrong path, a log file). */
#define FILE_MAX (1024 * 1024)
/* Longest token accepted; the clients refuse longer ones too. */
#define TOKEN_MAX 4096
/* Shortest token accepted: anything shorter can be guessed online. */
#define TOKEN_MIN 16

typedef struct entry {
    hbd_right right;
    size_t len;
    unsigned char *bytes; /* into table->blob */
} entry;

typedef struct table {
    entry *entries;
    size_t count;
    unsigned char *blob; /* every token's bytes, back to back */
    size_t blob_len;
} table;

struct hbd_auth {
    char *path; /* NULL: authentication off */
    pthread_rwlock_t lock;
    table *tokens; /* guarded by lock */
};

static void table_free(table *t)
{
    if (t == NULL)
        return;
    if (t->blob != NULL) {
        explicit_bzero(t->blob, t->blob_len);
        free(t->blob);
    }
    free(t->entries);
    free(t);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Token68-ish: printable ASCII without spaces, which is what an HTTP
   header and the clients' checks let through. */
static int token_byte_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* Parses "<right> <token>" lines into a new table. Errors name the line
   number only: the line may hold a secret. */
/* One line with something on it, [p, eol) trimmed: its right and its
   token, or an error that names the line. */
static int parse_line(const char *path, unsigned lineno, char *p, char *eol, hbd_right *right,
                      char **tok, size_t *tlen, hbeat_error *err)
{
    char *word_end = p;
    while (word_end < eol && !is_space(*word_end))
        word_end++;
    size_t wlen = (size_t)(word_end - p);
    *right = HBD_RIGHT_NONE;
    if (wlen == 6 && memcmp(p, "client", 6) == 0)
        *right = HBD_RIGHT_CLIENT;
    else if (wlen == 8 && memcmp(p, "operator", 8) == 0)
        *right = HBD_RIGHT_OPERATOR;
    *tok = word_end;
    while (*tok < eol && is_space(**tok))
        (*tok)++;
    *tlen = (size_t)(eol - *tok);
    if (*right == HBD_RIGHT_NONE)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "token file %.200s, line %u: expected \"client TOKEN\" or "
                               "\"operator TOKEN\"",
                               path, lineno);
    if (*tlen == 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "token file %.200s, line %u: no token", path,
                               lineno);
    if (*tlen < TOKEN_MIN || *tlen > TOKEN_MAX)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "token file %.200s, line %u: a token must be %d to %d bytes long",
                               path, lineno, TOKEN_MIN, TOKEN_MAX);
    for (size_t i = 0; i < *tlen; i++) {
        if (!token_byte_ok((unsigned char)(*tok)[i]))
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "token file %.200s, line %u: a token is printable ASCII "
                                   "without spaces",
                                   path, lineno);
    }
    return 0;
}

/* Appends a token to the table; its bytes go to the blob, their offset to
   offsets[] (pointers are fixed up once the blob is complete). */
static int add_entry(table *t, size_t **offsets, size_t *cap, hbd_right right, const char *tok,
                     size_t tlen, hbeat_error *err)
{
    if (t->count == *cap) {
        size_t ncap = *cap * 2;
        entry *e = realloc(t->entries, ncap * sizeof *e);
        size_t *o = e != NULL ? realloc(*offsets, ncap * sizeof *o) : NULL;
        if (e != NULL)
            t->entries = e;
        if (o != NULL)
            *offsets = o;
        if (e == NULL || o == NULL)
            return hbeat_error_set(err, HBEAT_ENOMEM, "token file: out of memory");
        *cap = ncap;
    }
    (*offsets)[t->count] = t->blob_len;
    memcpy(t->blob + t->blob_len, tok, tlen);
    t->blob_len += tlen;
    t->entries[t->count].right = right;
    t->entries[t->count].len = tlen;
    t->count++;
    return 0;
}

/* The same token twice is harmless only when both lines agree. */
static int check_conflicts(const char *path, const table *t, hbeat_error *err)
{
    for (size_t i = 0; i < t->count; i++) {
        for (size_t j = i + 1; j < t->count; j++) {
            if (t->entries[i].len == t->entries[j].len &&
                memcmp(t->entries[i].bytes, t->entries[j].bytes, t->entries[i].len) == 0 &&
                t->entries[i].right != t->entries[j].right)
                return hbeat_error_set(err, HBEAT_EINVAL,
                                       "token file %.200s: one token is listed with two "
                                       "different rights",
                                       path);
        }
    }
    return 0;
}

static int parse(const char *path, char *text, size_t len, table **out, hbeat_error *err)
{
    *out = NULL;
    table *t = calloc(1, sizeof *t);
    size_t cap = 16;
    if (t != NULL) {
        t->entries = calloc(cap, sizeof *t->entries);
        t->blob = malloc(len + 1);
    }
    size_t *offsets = calloc(cap, sizeof *offsets);
    if (t == NULL || t->entries == NULL || t->blob == NULL || offsets == NULL) {
        free(offsets);
        table_free(t);
        return hbeat_error_set(err, HBEAT_ENOMEM, "token file: out of memory");
    }

    int rc = 0;
    unsigned lineno = 0;
    char *p = text, *end = text + len;
    while (p < end && rc == 0) {
        lineno++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl != NULL ? nl : end;
        char *next = nl != NULL ? nl + 1 : end;
        if (eol > p && eol[-1] == '\r')
            eol--;
        while (p < eol && is_space(*p))
            p++;
        while (eol > p && is_space(eol[-1]))
            eol--;
        if (p != eol && *p != '#') {
            hbd_right right;
            char *tok;
            size_t tlen;
            rc = parse_line(path, lineno, p, eol, &right, &tok, &tlen, err);
            if (rc == 0)
                rc = add_entry(t, &offsets, &cap, right, tok, tlen, err);
        }
        p = next;
    }
    if (rc == 0) {
        for (size_t i = 0; i < t->count; i++)
            t->entries[i].bytes = t->blob + offsets[i];
        rc = check_conflicts(path, t, err);
    }
    free(offsets);
    if (rc != 0) {
        table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int load(const char *path, table **out, hbeat_error *err)
{
    char *text;
    size_t len = 0;
    int rc = hbd_read_config_file("token file", path, FILE_MAX, 1, &text, &len, err);
    if (rc != 0)
        return rc;
    rc = parse(path, text, len, out, err);
    explicit_bzero(text, len);
    free(text);
    return rc;
}

static size_t count_right(const table *t, hbd_right right)
{
    size_t n = 0;
    for (size_t i = 0; i < t->count; i++)
        n += t->entries[i].right == right;
    return n;
}

static void log_loaded(const hbd_auth *auth, const table *t, const char *what)
{
    hbd_info("%s %s: %zu client and %zu operator token(s)", what, auth->path,
             count_right(t, HBD_RIGHT_CLIENT), count_right(t, HBD_RIGHT_OPERATOR));
    if (t->count == 0)
        hbd_warn("token file %s holds no token: every request will be refused", auth->path);
}

int hbd_auth_open(hbd_auth **out, const char *token_file, hbeat_error *err)
{
    *out = NULL;
    hbd_auth *auth = calloc(1, sizeof *auth);
    if (auth == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "auth: out of memory");
    if (pthread_rwlock_init(&auth->lock, NULL) != 0) {
        free(auth);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "auth: cannot create a lock");
    }
    if (token_file != NULL) {
        auth->path = strdup(token_file);
        int rc = auth->path == NULL ? hbeat_error_set(err, HBEAT_ENOMEM, "auth: out of memory")
                                    : load(token_file, &auth->tokens, err);
        if (rc != 0) {
            hbd_auth_close(auth);
            return rc;
        }
        log_loaded(auth, auth->tokens, "tokens from");
    }
    *out = auth;
    return 0;
}

int hbd_auth_reload(hbd_auth *auth, hbeat_error *err)
{
    if (auth == NULL || auth->path == NULL)
        return hbeat_error_set(err, HBEAT_ESTATE, "no token file to reload");
    table *fresh;
    int rc = load(auth->path, &fresh, err);
    if (rc != 0)
        return rc;
    pthread_rwlock_wrlock(&auth->lock);
    table *old = auth->tokens;
    auth->tokens = fresh;
    pthread_rwlock_unlock(&auth->lock);
    table_free(old);
    log_loaded(auth, fresh, "reloaded tokens from");
    return 0;
}

int hbd_auth_enabled(const hbd_auth *auth)
{
    return auth != NULL && auth->path != NULL;
}

/* All ones when x is zero, else zero; no branch on x. */
static unsigned int mask_if_zero(unsigned int x)
{
    /* x | -x has its top bit set exactly when x != 0. */
    return (unsigned int)(((x | (0u - x)) >> (sizeof x * 8 - 1)) - 1u);
}

hbd_right hbd_auth_check(hbd_auth *auth, const char *token, size_t len)
{
    if (!hbd_auth_enabled(auth))
        return HBD_RIGHT_OPERATOR;
    if (token == NULL || len == 0 || len > TOKEN_MAX)
        return HBD_RIGHT_NONE;
    const unsigned char *given = (const unsigned char *)token;
    unsigned int granted = HBD_RIGHT_NONE;
    pthread_rwlock_rdlock(&auth->lock);
    const table *t = auth->tokens;
    for (size_t i = 0; i < t->count; i++) {
        const entry *e = &t->entries[i];
        /* Differences accumulate over the stored token's whole length;
           the given token is read cyclically so that no index depends on
           where the first difference is. */
        unsigned int diff = (unsigned int)(e->len ^ len);
        for (size_t k = 0; k < e->len; k++)
            diff |= (unsigned int)(e->bytes[k] ^ given[k % len]);
        /* At most one right can match: parse() refuses a token listed
           with two different rights. */
        granted |= (unsigned int)e->right & mask_if_zero(diff);
    }
    pthread_rwlock_unlock(&auth->lock);
    return (hbd_right)granted;
}

void hbd_auth_close(hbd_auth *auth)
{
    if (auth == NULL)
        return;
    table_free(auth->tokens);
    pthread_rwlock_destroy(&auth->lock);
    free(auth->path);
    free(auth);
}
