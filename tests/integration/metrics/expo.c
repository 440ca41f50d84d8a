/* A strict Prometheus text-format reader for the tests; see expo.h. */
#include "expo.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 16

typedef struct family {
    char name[128];
    char type[16]; /* "" until TYPE */
    int help, typed, has_samples, closed;
} family;

typedef struct label {
    char name[64];
    char value[256]; /* raw, escapes kept */
} label;

typedef struct parser {
    expo *e;
    family *fams;
    size_t nfams, capfams;
    size_t cap;
    int line;
    family *current;
} parser;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(parser *p, const char *fmt, ...)
{
    if (p->e->error[0] != '\0')
        return -1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->e->error, sizeof p->e->error, "line %d: %s", p->line, msg);
    return -1;
}

static int is_name_start(char c, int colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static int is_name_char(char c, int colon)
{
    return is_name_start(c, colon) || (c >= '0' && c <= '9');
}

/* Reads a metric (colon 1) or label (colon 0) name at *s into out. */
static int read_name(parser *p, const char **s, const char *end, char *out, size_t cap, int colon)
{
    const char *q = *s;
    if (q >= end || !is_name_start(*q, colon))
        return fail(p, "expected a %s name", colon ? "metric" : "label");
    size_t n = 0;
    while (q < end && is_name_char(*q, colon)) {
        if (n + 1 >= cap)
            return fail(p, "name too long");
        out[n++] = *q++;
    }
    out[n] = '\0';
    *s = q;
    return 0;
}

static family *find_family(parser *p, const char *name)
{
    for (size_t i = 0; i < p->nfams; i++) {
        if (strcmp(p->fams[i].name, name) == 0)
            return &p->fams[i];
    }
    return NULL;
}

static family *add_family(parser *p, const char *name)
{
    family *f = find_family(p, name);
    if (f != NULL)
        return f;
    if (p->nfams == p->capfams) {
        size_t cap = p->capfams ? p->capfams * 2 : 16;
        family *n = realloc(p->fams, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        p->fams = n;
        p->capfams = cap;
    }
    f = &p->fams[p->nfams++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

/* A sample value: a float in decimal notation, or +Inf, -Inf, NaN. */
static int parse_value(const char *tok, double *out)
{
    if (strcmp(tok, "+Inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcmp(tok, "-Inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    if (strcmp(tok, "NaN") == 0) {
        *out = NAN;
        return 0;
    }
    if (tok[0] == '\0' || strspn(tok, "0123456789.eE+-") != strlen(tok))
        return -1;
    char *end = NULL;
    *out = strtod(tok, &end);
    return end != NULL && *end == '\0' ? 0 : -1;
}

static int comment(parser *p, const char *s, const char *end)
{
    /* "# HELP name text", "# TYPE name type", or any other comment. */
    const char *q = s + 1;
    if (q < end && *q == ' ')
        q++;
    int help = end - q >= 5 && strncmp(q, "HELP ", 5) == 0;
    int type = end - q >= 5 && strncmp(q, "TYPE ", 5) == 0;
    if (!help && !type)
        return 0;
    q += 5;
    char name[128];
    if (read_name(p, &q, end, name, sizeof name, 1) != 0)
        return -1;
    family *f = add_family(p, name);
    if (f == NULL)
        return fail(p, "out of memory");
    if (f->has_samples)
        return fail(p, "%s for %s after its samples", help ? "HELP" : "TYPE", name);
    if (help) {
        if (f->help)
            return fail(p, "second HELP for %s", name);
        f->help = 1;
        if (q < end && *q != ' ')
            return fail(p, "HELP name not followed by a space");
        for (const char *c = q; c < end; c++) {
            if (*c == '\\') {
                if (c + 1 >= end || (c[1] != '\\' && c[1] != 'n'))
                    return fail(p, "bad escape in HELP of %s", name);
                c++;
            }
        }
        return 0;
    }
    if (f->typed)
        return fail(p, "second TYPE for %s", name);
    if (q >= end || *q != ' ')
        return fail(p, "TYPE %s without a type", name);
    q++;
    size_t n = (size_t)(end - q);
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (n == strlen(types[i]) && strncmp(q, types[i], n) == 0) {
            snprintf(f->type, sizeof f->type, "%s", types[i]);
            f->typed = 1;
            if (strcmp(f->type, "counter") == 0 &&
                (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total") != 0))
                return fail(p, "counter %s does not end in _total", name);
            return 0;
        }
    }
    return fail(p, "unknown TYPE \"%.*s\" for %s", (int)n, q, name);
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const label *)a)->name, ((const label *)b)->name);
}

static int read_labels(parser *p, const char **s, const char *end, label *labels, size_t *n)
{
    const char *q = *s + 1; /* past '{' */
    *n = 0;
    while (q < end && *q != '}') {
        if (*n == MAX_LABELS)
            return fail(p, "too many labels");
        label *l = &labels[*n];
        if (read_name(p, &q, end, l->name, sizeof l->name, 0) != 0)
            return -1;
        if (q >= end || *q != '=')
            return fail(p, "label %s without '='", l->name);
        q++;
        if (q >= end || *q != '"')
            return fail(p, "label %s value not quoted", l->name);
        q++;
        size_t vn = 0;
        for (;;) {
            if (q >= end)
                return fail(p, "unterminated value of label %s", l->name);
            if (*q == '"')
                break;
            if (*q == '\\') {
                if (q + 1 >= end || (q[1] != '\\' && q[1] != '"' && q[1] != 'n'))
                    return fail(p, "bad escape in label %s", l->name);
                if (vn + 2 >= sizeof l->value)
                    return fail(p, "label value too long");
                l->value[vn++] = *q++;
            }
            if (vn + 1 >= sizeof l->value)
                return fail(p, "label value too long");
            l->value[vn++] = *q++;
        }
        l->value[vn] = '\0';
        q++; /* closing quote */
        for (size_t i = 0; i < *n; i++) {
            if (strcmp(labels[i].name, l->name) == 0)
                return fail(p, "label %s twice", l->name);
        }
        (*n)++;
        if (q < end && *q == ',')
            q++;
        else if (q < end && *q != '}')
            return fail(p, "expected ',' or '}' after label %s", l->name);
    }
    if (q >= end)
        return fail(p, "labels not closed");
    *s = q + 1;
    qsort(labels, *n, sizeof *labels, label_cmp);
    return 0;
}

static int sample(parser *p, const char *s, const char *end)
{
    expo *e = p->e;
    char name[128];
    if (read_name(p, &s, end, name, sizeof name, 1) != 0)
        return -1;
    label labels[MAX_LABELS];
    size_t nl = 0;
    if (s < end && *s == '{' && read_labels(p, &s, end, labels, &nl) != 0)
        return -1;
    if (s >= end || *s != ' ')
        return fail(p, "%s: expected a space before the value", name);
    s++;
    char tok[64];
    const char *sp = memchr(s, ' ', (size_t)(end - s));
    size_t tn = (size_t)((sp != NULL ? sp : end) - s);
    if (tn == 0 || tn >= sizeof tok)
        return fail(p, "%s: missing or oversized value", name);
    memcpy(tok, s, tn);
    tok[tn] = '\0';
    double value;
    if (parse_value(tok, &value) != 0)
        return fail(p, "%s: bad value \"%s\"", name, tok);
    if (sp != NULL) {
        const char *ts = sp + 1;
        if (ts >= end)
            return fail(p, "%s: trailing space", name);
        for (const char *c = ts; c < end; c++) {
            if (!((*c >= '0' && *c <= '9') || (c == ts && *c == '-')))
                return fail(p, "%s: bad timestamp", name);
        }
    }

    /* Which family: the name itself, or a histogram's/summary's part. */
    family *f = find_family(p, name);
    if (f == NULL || !f->typed) {
        static const char *const parts[] = {"_bucket", "_sum", "_count"};
        for (size_t i = 0; i < 3 && (f == NULL || !f->typed); i++) {
            size_t nn = strlen(name), pn = strlen(parts[i]);
            if (nn > pn && strcmp(name + nn - pn, parts[i]) == 0) {
                char base[128];
                snprintf(base, sizeof base, "%.*s", (int)(nn - pn), name);
                family *b = find_family(p, base);
                if (b != NULL && (strcmp(b->type, "histogram") == 0 ||
                                  (strcmp(b->type, "summary") == 0 && i > 0)))
                    f = b;
            }
        }
    }
    if (f == NULL || !f->typed)
        return fail(p, "sample %s without a TYPE line before it", name);
    if (strcmp(f->type, "histogram") == 0 && strcmp(f->name, name) == 0)
        return fail(p, "histogram %s: a bare sample (want _bucket, _sum, _count)", name);
    int has_le = 0;
    for (size_t i = 0; i < nl; i++)
        has_le |= strcmp(labels[i].name, "le") == 0;
    int is_bucket = strcmp(f->type, "histogram") == 0 && strlen(name) == strlen(f->name) + 7;
    if (is_bucket && !has_le)
        return fail(p, "%s without an le label", name);
    if (!is_bucket && has_le && strcmp(f->type, "histogram") == 0)
        return fail(p, "%s carries an le label", name);
    if (strcmp(f->type, "counter") == 0 && !(value >= 0))
        return fail(p, "counter %s is %g", name, value);
    if (f->closed)
        return fail(p, "samples of %s are not in one block", f->name);
    if (p->current != NULL && p->current != f)
        p->current->closed = 1;
    p->current = f;
    f->has_samples = 1;

    if (e->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        expo_sample *n = realloc(e->samples, cap * sizeof *n);
        if (n == NULL)
            return fail(p, "out of memory");
        e->samples = n;
        p->cap = cap;
    }
    expo_sample *out = &e->samples[e->count];
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    size_t off = 0;
    for (size_t i = 0; i < nl; i++) {
        int w = snprintf(out->labels + off, sizeof out->labels - off, "%s%s=\"%s\"", i ? "," : "",
                         labels[i].name, labels[i].value);
        if (w < 0 || (size_t)w >= sizeof out->labels - off)
            return fail(p, "%s: labels too long", name);
        off += (size_t)w;
    }
    out->value = value;
    for (size_t i = 0; i < e->count; i++) {
        if (strcmp(e->samples[i].name, out->name) == 0 &&
            strcmp(e->samples[i].labels, out->labels) == 0)
            return fail(p, "series %s{%s} twice", out->name, out->labels);
    }
    e->count++;
    return 0;
}

/* `labels` without its le="..." part, into out; the le value into le. */
static void split_le(const char *labels, char *out, size_t cap, char *le, size_t lecap)
{
    out[0] = '\0';
    le[0] = '\0';
    size_t off = 0;
    const char *s = labels;
    while (*s != '\0') {
        const char *end = s;
        int quoted = 0;
        while (*end != '\0' && (quoted || *end != ',')) {
            if (*end == '\\' && end[1] != '\0')
                end++;
            else if (*end == '"')
                quoted = !quoted;
            end++;
        }
        if (strncmp(s, "le=\"", 4) == 0) {
            snprintf(le, lecap, "%.*s", (int)(end - s - 5), s + 4);
        } else {
            off +=
                (size_t)snprintf(out + off, cap - off, "%s%.*s", off ? "," : "", (int)(end - s), s);
        }
        s = *end == ',' ? end + 1 : end;
    }
}

static int check_histograms(parser *p)
{
    expo *e = p->e;
    for (size_t fi = 0; fi < p->nfams; fi++) {
        family *f = &p->fams[fi];
        if (strcmp(f->type, "histogram") != 0)
            continue;
        char bucket[160], sum[160], count[160];
        snprintf(bucket, sizeof bucket, "%s_bucket", f->name);
        snprintf(sum, sizeof sum, "%s_sum", f->name);
        snprintf(count, sizeof count, "%s_count", f->name);
        for (size_t i = 0; i < e->count; i++) {
            if (strcmp(e->samples[i].name, count) != 0)
                continue;
            const char *series = e->samples[i].labels;
            double prev_le = -INFINITY, prev_v = -1, inf_v = NAN;
            int nb = 0;
            for (size_t j = 0; j < e->count; j++) {
                if (strcmp(e->samples[j].name, bucket) != 0)
                    continue;
                char rest[512], le[64];
                split_le(e->samples[j].labels, rest, sizeof rest, le, sizeof le);
                if (strcmp(rest, series) != 0)
                    continue;
                double lev;
                if (parse_value(le, &lev) != 0 || isnan(lev))
                    return fail(p, "%s{%s}: bad le \"%s\"", bucket, series, le);
                if (!(lev > prev_le))
                    return fail(p, "%s{%s}: le %s not above the one before", bucket, series, le);
                if (e->samples[j].value < prev_v)
                    return fail(p, "%s{%s}: bucket le=%s below the one before", bucket, series, le);
                prev_le = lev;
                prev_v = e->samples[j].value;
                if (isinf(lev))
                    inf_v = e->samples[j].value;
                nb++;
            }
            if (nb == 0 || !isinf(prev_le))
                return fail(p, "%s{%s}: no +Inf bucket", bucket, series);
            if (inf_v != e->samples[i].value)
                return fail(p, "%s{%s}: +Inf bucket %g != _count %g", f->name, series, inf_v,
                            e->samples[i].value);
            if (isnan(expo_get(e, sum, series)))
                return fail(p, "%s{%s}: no _sum", f->name, series);
        }
        /* Every bucket series needs its _count. */
        for (size_t j = 0; j < e->count; j++) {
            if (strcmp(e->samples[j].name, bucket) != 0)
                continue;
            char rest[512], le[64];
            split_le(e->samples[j].labels, rest, sizeof rest, le, sizeof le);
            if (isnan(expo_get(e, count, rest)))
                return fail(p, "%s{%s}: no _count", f->name, rest);
        }
    }
    return 0;
}

int expo_parse(expo *e, const char *text, size_t len)
{
    memset(e, 0, sizeof *e);
    parser p;
    memset(&p, 0, sizeof p);
    p.e = e;
    int rc = 0;
    if (len == 0 || text[len - 1] != '\n') {
        p.line = 0;
        rc = fail(&p, "the text does not end with a newline");
    }
    const char *s = text, *end = text + len;
    while (rc == 0 && s < end) {
        p.line++;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl != NULL ? nl : end;
        if (memchr(s, '\0', (size_t)(le - s)) != NULL || memchr(s, '\r', (size_t)(le - s)) != NULL)
            rc = fail(&p, "NUL or CR in the line");
        else if (le == s)
            ; /* an empty line is allowed */
        else if (*s == '#')
            rc = comment(&p, s, le);
        else
            rc = sample(&p, s, le);
        s = le + 1;
    }
    if (rc == 0)
        rc = check_histograms(&p);
    if (rc == 0 && p.nfams > 0 && (e->families = calloc(p.nfams, sizeof *e->families)) != NULL) {
        for (size_t i = 0; i < p.nfams; i++) {
            if (!p.fams[i].typed)
                continue;
            expo_family *f = &e->families[e->nfamilies++];
            snprintf(f->name, sizeof f->name, "%s", p.fams[i].name);
            snprintf(f->type, sizeof f->type, "%s", p.fams[i].type);
        }
    }
    free(p.fams);
    return rc;
}

void expo_free(expo *e)
{
    free(e->samples);
    free(e->families);
    e->samples = NULL;
    e->families = NULL;
    e->count = 0;
    e->nfamilies = 0;
}

const char *expo_type(const expo *e, const char *name)
{
    for (size_t i = 0; i < e->nfamilies; i++) {
        if (strcmp(e->families[i].name, name) == 0)
            return e->families[i].type;
    }
    return NULL;
}

double expo_get(const expo *e, const char *name, const char *labels)
{
    for (size_t i = 0; i < e->count; i++) {
        if (strcmp(e->samples[i].name, name) == 0 && strcmp(e->samples[i].labels, labels) == 0)
            return e->samples[i].value;
    }
    return NAN;
}

size_t expo_series(const expo *e, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < e->count; i++)
        n += strcmp(e->samples[i].name, name) == 0;
    return n;
}
