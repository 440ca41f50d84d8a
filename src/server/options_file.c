/*
 * hbeatd's configuration file (--config FILE): one "key = value" a line,
 * the keys named as the long flags without "--", read through the same
 * table as the flags (options.c), so that a key, its range and its
 * default cannot differ between the two. Lines whose first non-blank
 * character is '#' are comments; a value runs to the end of its line, so
 * a path may hold '#' or spaces. Every mistake names the file and line.
 */
#define _POSIX_C_SOURCE 200809L

#include "options_file.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"
#include "log.h"

/* A configuration file is a few dozen lines; far more is a wrong file. */
#define MAX_FILE_BYTES (256 * 1024)

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int find_key(const char *key)
{
    for (size_t i = 0; i < hbd_options_count(); i++) {
        hbd_option_info info;
        hbd_options_describe(i, &info);
        if (strcmp(info.key, key) == 0)
            return (int)i;
    }
    return -1;
}

/* Splits `text` (changed in place) into lines and calls `each` for every
   setting; stops at the first error. */
typedef int (*line_fn)(void *arg, const char *path, unsigned line, size_t option, const char *value,
                       char *errbuf, size_t errlen);

static int each_setting(char *text, const char *path, line_fn each, void *arg, char *errbuf,
                        size_t errlen)
{
    unsigned seen[64] = {0}; /* the line each option was first given on */
    unsigned line = 0;
    for (char *p = text; p != NULL;) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        char *s = trim(p);
        p = nl != NULL ? nl + 1 : NULL;
        line++;
        if (s[0] == '\0' || s[0] == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL)
            return fail(errbuf, errlen, "%s:%u: expected 'key = value', got '%.60s'", path, line,
                        s);
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        int i = find_key(key);
        if (i < 0 || strcmp(key, "config") == 0)
            return fail(errbuf, errlen, "%s:%u: unknown key '%.60s'%s", path, line, key,
                        i < 0 ? " (the keys are hbeatd's long flags without '--')"
                              : " (a configuration file cannot name another)");
        hbd_option_info info;
        hbd_options_describe((size_t)i, &info);
        if (value[0] == '\0')
            return fail(errbuf, errlen, "%s:%u: %s: no value%s", path, line, key,
                        info.arg == NULL ? " (a switch takes yes or no)" : "");
        if ((size_t)i < sizeof seen / sizeof seen[0]) {
            if (seen[i] != 0 && !info.repeat)
                return fail(errbuf, errlen, "%s:%u: %s is given twice (first on line %u)", path,
                            line, key, seen[i]);
            if (seen[i] == 0)
                seen[i] = line;
        }
        if (each(arg, path, line, (size_t)i, value, errbuf, errlen) != 0)
            return -1;
    }
    return 0;
}

static int set_one(void *arg, const char *path, unsigned line, size_t option, const char *value,
                   char *errbuf, size_t errlen)
{
    hbd_option_info info;
    hbd_options_describe(option, &info);
    char where[600];
    snprintf(where, sizeof where, "%.500s:%u: %s", path, line, info.key);
    return hbd_options_set_key(arg, option, where, value, errbuf, errlen);
}

static int read_text(const char *path, char **text, char *errbuf, size_t errlen)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    size_t len;
    if (hbd_read_config_file("configuration file", path, MAX_FILE_BYTES, 0, text, &len, &err) != 0)
        return fail(errbuf, errlen, "--config: %s", err.message);
    if (strlen(*text) != len) {
        free(*text);
        *text = NULL;
        return fail(errbuf, errlen, "--config: %.200s holds a NUL byte: not a text file", path);
    }
    return 0;
}

int hbd_options_read_file(hbd_options *o, const char *path, char *errbuf, size_t errlen)
{
    char *text;
    if (read_text(path, &text, errbuf, errlen) != 0)
        return -1;
    /* The values point into the text: keep it until hbd_options_free. */
    o->file_text = text;
    return each_setting(text, path, set_one, o, errbuf, errlen);
}

void hbd_options_free(hbd_options *o)
{
    free(o->file_text);
    o->file_text = NULL;
}

/* ---- what changed on SIGHUP -------------------------------------------- */

/* Every option's values in a file, joined, for comparing two readings. */
typedef struct snapshot {
    char values[64][512];
} snapshot;

static int record(void *arg, const char *path, unsigned line, size_t option, const char *value,
                  char *errbuf, size_t errlen)
{
    (void)path;
    (void)line;
    (void)errbuf;
    (void)errlen;
    snapshot *s = arg;
    if (option < sizeof s->values / sizeof s->values[0]) {
        size_t n = strlen(s->values[option]);
        snprintf(s->values[option] + n, sizeof s->values[option] - n, "%s\n", value);
    }
    return 0;
}

static int take_snapshot(const char *path, snapshot *s, char *errbuf, size_t errlen)
{
    memset(s, 0, sizeof *s);
    char *text;
    if (read_text(path, &text, errbuf, errlen) != 0)
        return -1;
    int rc = each_setting(text, path, record, s, errbuf, errlen);
    free(text);
    return rc;
}

struct hbd_config_watch {
    char *path;
    snapshot at_start;
};

hbd_config_watch *hbd_config_watch_start(const char *path)
{
    if (path == NULL)
        return NULL;
    hbd_config_watch *w = calloc(1, sizeof *w);
    char errbuf[256];
    if (w == NULL || (w->path = strdup(path)) == NULL ||
        take_snapshot(path, &w->at_start, errbuf, sizeof errbuf) != 0) {
        hbd_config_watch_free(w);
        return NULL;
    }
    return w;
}

void hbd_config_watch_report(hbd_config_watch *w)
{
    if (w == NULL)
        return;
    static snapshot now;
    char errbuf[512];
    if (take_snapshot(w->path, &now, errbuf, sizeof errbuf) != 0) {
        hbd_warn("SIGHUP: %s; nothing in it was reloaded", errbuf);
        return;
    }
    char changed[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < hbd_options_count() && i < sizeof now.values / sizeof now.values[0];
         i++) {
        if (strcmp(now.values[i], w->at_start.values[i]) == 0)
            continue;
        hbd_option_info info;
        hbd_options_describe(i, &info);
        n += (size_t)snprintf(changed + n, n < sizeof changed ? sizeof changed - n : 0, "%s%s",
                              n > 0 ? ", " : "", info.key);
        if (n >= sizeof changed)
            n = sizeof changed - 1;
    }
    if (changed[0] != '\0')
        hbd_warn("SIGHUP: %s: not reloaded, restart hbeatd to apply: %s", w->path, changed);
    else
        hbd_info("SIGHUP: %s is unchanged", w->path);
}

void hbd_config_watch_free(hbd_config_watch *w)
{
    if (w == NULL)
        return;
    free(w->path);
    free(w);
}

/* ---- the packaged file -------------------------------------------------- */

void hbd_options_write_template(FILE *out)
{
    fputs("# hbeatd's configuration: one 'key = value' a line, the keys named as\n"
          "# hbeatd's long flags (hbeatd --help, man 8 hbeatd). Every key is listed\n"
          "# here, commented out, with its default (a placeholder in capitals where it\n"
          "# has none). Command-line flags override this\n"
          "# file, and so do the HBEATD_* environment variables. 'listen' may be given\n"
          "# more than once. 'systemctl reload hbeatd' (SIGHUP) re-reads the token\n"
          "# file; every other change needs 'systemctl restart hbeatd'.\n",
          out);
    for (size_t i = 0; i < hbd_options_count(); i++) {
        hbd_option_info info;
        hbd_options_describe(i, &info);
        if (strcmp(info.key, "config") == 0)
            continue;
        fputs("\n# ", out);
        for (const char *p = info.help; *p != '\0'; p++) {
            fputc(*p, out);
            if (*p == '\n')
                fputs("# ", out);
        }
        fputc('\n', out);
        if (info.arg == NULL)
            fprintf(out, "#%s = no\n", info.key);
        else if (info.def != NULL)
            fprintf(out, "#%s = %s\n", info.key, info.def);
        else
            fprintf(out, "#%s = %s\n", info.key, info.arg);
    }
}
