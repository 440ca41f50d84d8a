/* Request bodies and strict reply parsing.
 *
 * The heartbeat body is written with a fixed format rather than through
 * jansson: it must match Jobmon's client byte for byte (Python's
 * json.dumps spacing, the increment as a real such as 45.0), and the
 * steady-state beat should not allocate. The admin bodies go through
 * jansson. Replies are always parsed with jansson, duplicates and trailing
 * bytes refused. */
#define _POSIX_C_SOURCE 200809L

#include "transports/rest/rest_internal.h"

#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Numbers are written in the C locale whatever the application set with
   setlocale(): a decimal comma would not be JSON. */
static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;

static void c_numeric_init(void)
{
    c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* The shortest of %.15g..%.17g that reads back as the same double, then
   ".0" when it would otherwise read as an integer: Python's repr does the
   same, which is what Jobmon's client sends. */
static int format_real(char *out, size_t cap, double v)
{
    if (!isfinite(v))
        return -1;
    pthread_once(&c_numeric_once, c_numeric_init);
    locale_t old = (locale_t)0;
    if (c_numeric != (locale_t)0)
        old = uselocale(c_numeric);
    int n = -1;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, cap, "%.*g", prec, v);
        if (n < 0 || (size_t)n >= cap || strtod(out, NULL) == v)
            break;
    }
    if (old != (locale_t)0)
        uselocale(old);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    if (strpbrk(out, ".eEn") == NULL) {
        if ((size_t)n + 2 >= cap)
            return -1;
        memcpy(out + n, ".0", 3);
        n += 2;
    }
    return n;
}

/* A status token is printable ASCII; only '"' and '\\' need escaping. */
static int escape_token(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s; s++) {
        if (o + 3 > cap)
            return -1;
        if (*s == '"' || *s == '\\')
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o] = '\0';
    return (int)o;
}

int hbeat__rest_json_heartbeat_body(char *out, size_t cap, const char *status, double increment)
{
    char tok[2 * HBEAT_STATUS_MAX + 1];
    char num[40];
    if (escape_token(tok, sizeof(tok), status) < 0 || format_real(num, sizeof(num), increment) < 0)
        return -1;
    int n = snprintf(out, cap, "{\"status\": \"%s\", \"next_report_increment\": %s}", tok, num);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int hbeat__rest_json_status_body(char *out, size_t cap, const char *status)
{
    char tok[2 * HBEAT_STATUS_MAX + 1];
    if (escape_token(tok, sizeof(tok), status) < 0)
        return -1;
    int n = snprintf(out, cap, "{\"status\": \"%s\"}", tok);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int dump_into(json_t *j, char *out, size_t cap)
{
    if (j == NULL)
        return -1;
    size_t n = json_dumpb(j, out, cap, JSON_PRESERVE_ORDER);
    json_decref(j);
    return n == 0 || n >= cap ? -1 : (int)n;
}

int hbeat__rest_json_create_body(char *out, size_t cap, int64_t workflow_id, const char *status,
                                 const double *increment)
{
    if (increment == NULL)
        return dump_into(
            json_pack("{s:I, s:s}", "workflow_id", (json_int_t)workflow_id, "status", status), out,
            cap);
    if (!isfinite(*increment))
        return -1;
    return dump_into(json_pack("{s:I, s:s, s:f}", "workflow_id", (json_int_t)workflow_id, "status",
                               status, "next_report_increment", *increment),
                     out, cap);
}

int hbeat__rest_json_set_status_body(char *out, size_t cap, const char *status, int force)
{
    return dump_into(json_pack("{s:s, s:b}", "status", status, "force", force != 0), out, cap);
}

/* Reply parsing ------------------------------------------------------------ */

static json_t *load(const rest_slot *s, hbeat_error *err)
{
    json_error_t je;
    json_t *j = json_loadb(s->reply, s->reply_len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        char why[64];
        snprintf(why, sizeof(why), "the body is not valid JSON (at byte %d)", je.position);
        hbeat__rest_proto_error(s, why, err);
    }
    return j;
}

static int valid_token(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) <= HBEAT_STATUS_MAX &&
           hbeat_status_is_valid(json_string_value(v));
}

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The reply Jobmon's server and hbeatd send, {"status":"R"} (trailing
   whitespace allowed), read without building a document: a steady beat
   then costs no allocation. 1 when it matched and the token is valid;
   anything else (spaces inside, escapes, other members, a bad token) is
   left to jansson, which accepts or refuses it with the usual message. */
static int status_fast(const rest_slot *s, hbeat_heartbeat_reply *reply)
{
    static const char head[] = "{\"status\":\"";
    size_t n = s->reply_len;
    while (n > 0 && is_json_space(s->reply[n - 1]))
        n--;
    size_t h = sizeof(head) - 1;
    if (n < h + 3 || memcmp(s->reply, head, h) != 0 || s->reply[n - 1] != '}' ||
        s->reply[n - 2] != '"')
        return 0;
    size_t len = n - 2 - h;
    if (len == 0 || len > HBEAT_STATUS_MAX)
        return 0;
    char tok[HBEAT_STATUS_MAX + 1];
    for (size_t i = 0; i < len; i++) {
        char c = s->reply[h + i];
        /* No quote, backslash or control byte: the string has no escapes. */
        if (c == '"' || c == '\\' || (unsigned char)c < 0x20)
            return 0;
        tok[i] = c;
    }
    tok[len] = '\0';
    if (!hbeat_status_is_valid(tok))
        return 0;
    memcpy(reply->status, tok, len + 1);
    return 1;
}

int hbeat__rest_json_status_reply(const rest_slot *s, hbeat_heartbeat_reply *reply,
                                  hbeat_error *err)
{
    if (status_fast(s, reply))
        return 0;
    json_t *j = load(s, err);
    if (j == NULL)
        return HBEAT_EPROTO;
    const json_t *v = json_object_get(j, "status");
    const char *why = NULL;
    if (!json_is_object(j))
        why = "the body is not a JSON object";
    else if (v == NULL)
        why = "the object has no \"status\"";
    else if (json_object_size(j) != 1)
        why = "the object has fields besides \"status\"";
    else if (!json_is_string(v))
        why = "\"status\" is not a string";
    else if (!valid_token(v))
        why = "\"status\" is not a valid status token";
    if (why == NULL)
        memcpy(reply->status, json_string_value(v), json_string_length(v) + 1);
    json_decref(j);
    return why != NULL ? hbeat__rest_proto_error(s, why, err) : 0;
}

/* Unset times may come as null or be left out; they read as 0. */
static int get_time(const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return -1;
    *out = json_number_value(v);
    return 0;
}

static int get_int(const json_t *o, const char *key, int64_t min, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return -1;
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* Fields a newer server adds to RUN are ignored; the known ones are
   checked for presence and type. */
static const char *parse_run(const json_t *o, hbeat_run_info *out)
{
    int64_t beats = 0;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(o))
        return "a run is not a JSON object";
    if (get_int(o, "workflow_run_id", 1, &out->workflow_run_id) != 0)
        return "a run lacks a positive integer \"workflow_run_id\"";
    if (get_int(o, "workflow_id", 0, &out->workflow_id) != 0)
        return "a run lacks an integer \"workflow_id\"";
    const json_t *st = json_object_get(o, "status");
    if (!valid_token(st))
        return "a run lacks a valid \"status\"";
    memcpy(out->status, json_string_value(st), json_string_length(st) + 1);
    if (get_time(o, "deadline", &out->deadline) != 0)
        return "a run's \"deadline\" is not a number";
    if (get_time(o, "last_heartbeat", &out->last_heartbeat) != 0)
        return "a run's \"last_heartbeat\" is not a number";
    if (get_int(o, "beats", 0, &beats) != 0)
        return "a run lacks a non-negative integer \"beats\"";
    out->beats = (uint64_t)beats;
    return NULL;
}

int hbeat__rest_json_run_reply(const rest_slot *s, hbeat_run_info *out, hbeat_error *err)
{
    json_t *j = load(s, err);
    if (j == NULL)
        return HBEAT_EPROTO;
    const char *why = NULL;
    if (!json_is_object(j) || json_object_get(j, "run") == NULL)
        why = "the body is not an object with \"run\"";
    else
        why = parse_run(json_object_get(j, "run"), out);
    json_decref(j);
    return why != NULL ? hbeat__rest_proto_error(s, why, err) : 0;
}

int hbeat__rest_json_runs_page(const rest_slot *s, hbeat_run_sink_fn sink, void *ctx,
                               int64_t *next_after_id, int *stopped, hbeat_error *err)
{
    json_t *j = load(s, err);
    if (j == NULL)
        return HBEAT_EPROTO;
    const json_t *runs = json_object_get(j, "runs");
    const char *why = NULL;
    if (!json_is_object(j) || !json_is_array(runs))
        why = "the body is not an object with a \"runs\" array";
    else if (get_int(j, "next_after_id", 0, next_after_id) != 0)
        why = "\"next_after_id\" is not a non-negative integer";
    /* Check the whole page before the sink sees any of it. */
    hbeat_run_info run;
    for (size_t i = 0; why == NULL && i < json_array_size(runs); i++)
        why = parse_run(json_array_get(runs, i), &run);
    *stopped = 0;
    for (size_t i = 0; why == NULL && i < json_array_size(runs); i++) {
        parse_run(json_array_get(runs, i), &run);
        if (sink(ctx, &run) != 0) {
            *stopped = 1;
            break;
        }
    }
    json_decref(j);
    return why != NULL ? hbeat__rest_proto_error(s, why, err) : 0;
}
