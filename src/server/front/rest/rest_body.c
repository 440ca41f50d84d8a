/*
 * Strict request bodies: one JSON object, nothing after it, no duplicate
 * keys, every field of the type Jobmon's server expects. Unknown fields are
 * ignored, as Jobmon ignores them, so newer clients keep working.
 */
#include "rest_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hbeat/status.h"

int hbd_rest_parse_int(const char *s, size_t len, int64_t min, int64_t *out)
{
    if (s == NULL || len == 0)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min)
        return -1;
    *out = v;
    return 0;
}

int hbd_rest_body_object(const hbd_rest_request *req, hbd_rest_reply *r, json_t **out)
{
    *out = NULL;
    if (req->body_len == 0) {
        hbd_rest_reply_error(r, req, 400, "request body is empty; expected a JSON object");
        return -1;
    }
    json_error_t jerr;
    /* Without JSON_DISABLE_EOF_CHECK, anything but whitespace after the
       object is an error; without JSON_ALLOW_NUL, so is a NUL in a string.
       jansson rejects NaN and Infinity (not JSON) and numbers that
       overflow a double or a json_int_t. */
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        /* jansson's text may quote the input ("near '...'"): cut it. */
        char text[HBD_REST_ECHO_MAX + 4];
        hbd_rest_echo(text, sizeof text, jerr.text, strlen(jerr.text));
        hbd_rest_reply_error(r, req, 400, "invalid JSON at line %d, column %d: %s", jerr.line,
                             jerr.column, text);
        return -1;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        hbd_rest_reply_error(r, req, 400, "request body must be a JSON object");
        return -1;
    }
    *out = doc;
    return 0;
}

int hbd_rest_field_status(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj,
                          const char *key, const char *fallback, char out[HBEAT_STATUS_MAX + 1])
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL && fallback != NULL) {
        snprintf(out, HBEAT_STATUS_MAX + 1, "%s", fallback);
        return 0;
    }
    if (v == NULL) {
        hbd_rest_reply_error(r, req, 400, "missing field \"%s\"", key);
        return -1;
    }
    if (!json_is_string(v)) {
        hbd_rest_reply_error(r, req, 400, "field \"%s\" must be a string", key);
        return -1;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len > HBEAT_STATUS_MAX || !hbeat_status_is_valid(s)) {
        char echo[HBD_REST_ECHO_MAX + 4];
        hbd_rest_echo(echo, sizeof echo, s, len);
        hbd_rest_reply_error(r, req, 400,
                             "field \"%s\" is not a valid status: \"%s\" (1 to %d printable "
                             "ASCII characters)",
                             key, echo, HBEAT_STATUS_MAX);
        return -1;
    }
    memcpy(out, s, len + 1);
    return 0;
}

int hbd_rest_field_number(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj,
                          const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        hbd_rest_reply_error(r, req, 400, "missing field \"%s\"", key);
        return -1;
    }
    if (!json_is_number(v)) {
        hbd_rest_reply_error(r, req, 400, "field \"%s\" must be a number", key);
        return -1;
    }
    double d = json_number_value(v);
    if (!isfinite(d)) {
        hbd_rest_reply_error(r, req, 400, "field \"%s\" must be a finite number", key);
        return -1;
    }
    *out = d;
    return 0;
}

int hbd_rest_field_optional_number(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj,
                                   const char *key, double *out, int *present)
{
    json_t *v = json_object_get(obj, key);
    *present = v != NULL && !json_is_null(v);
    if (!*present)
        return 0;
    return hbd_rest_field_number(req, r, obj, key, out);
}

int hbd_rest_field_id(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj, const char *key,
                      int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        hbd_rest_reply_error(r, req, 400, "missing field \"%s\"", key);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        hbd_rest_reply_error(r, req, 400, "field \"%s\" must be a positive integer", key);
        return -1;
    }
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int hbd_rest_field_bool(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj,
                        const char *key, int fallback, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        *out = fallback;
        return 0;
    }
    if (!json_is_boolean(v)) {
        hbd_rest_reply_error(r, req, 400, "field \"%s\" must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}
