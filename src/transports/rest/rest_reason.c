/* The reason an error reply gives, for a person. Jobmon answers a failed
   request with {"error": {"type": T, "exception_message": M,
   "status_code": "500"}} (hbeatd's REST front end too), and a route it
   does not know with {"error": "Route ... not found"}. The reason sits
   behind a long type name ("<class 'sqlalchemy.exc.NoResultFound'>"), so
   quoting the raw start of the body cuts it off; this finds it. */
#include "transports/rest/rest_internal.h"

#include <jansson.h>
#include <string.h>

/* Appends src to out[*o..cap-1] as printable ASCII: tab, CR and LF become
   a space, other control bytes '?', and each non-ASCII character (one
   UTF-8 sequence, which jansson has checked) one '?'. Stops at `limit`
   bytes of output; returns 0 when all of src fitted. */
static int put_printable(char *out, size_t limit, size_t *o, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        char ch;
        if (c >= 0x80 && (c & 0xc0) == 0x80)
            continue; /* a continuation byte: its character is written */
        if (c == '\t' || c == '\n' || c == '\r')
            ch = ' ';
        else if (c < 0x20 || c >= 0x7f)
            ch = '?';
        else
            ch = (char)c;
        if (*o >= limit)
            return -1;
        out[(*o)++] = ch;
    }
    return 0;
}

/* "<class 'sqlalchemy.exc.NoResultFound'>" (Python's str(type(e))) or
   "InvalidUsage" -> the class name; NULL unless it is a plain
   identifier, so that odd input adds nothing to the message. */
static const char *short_type(const char *t, size_t *len)
{
    size_t n = strlen(t);
    static const char head[] = "<class '";
    if (n > sizeof(head) + 1 && strncmp(t, head, sizeof(head) - 1) == 0 &&
        strcmp(t + n - 2, "'>") == 0) {
        t += sizeof(head) - 1;
        n -= sizeof(head) + 1;
    }
    for (size_t i = n; i > 0; i--) {
        if (t[i - 1] == '.') {
            t += i;
            n -= i;
            break;
        }
    }
    if (n == 0 || n > 64)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return NULL;
    }
    *len = n;
    return t;
}

int hbeat__rest_error_reason(const char *body, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    out[0] = '\0';
    if (body == NULL || len == 0 || cap < 8)
        return 0;
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *e = json_object_get(doc, "error");
    const char *msg = NULL, *type = NULL;
    size_t msg_len = 0, type_len = 0;
    if (json_is_string(e)) {
        msg = json_string_value(e);
        msg_len = json_string_length(e);
    } else if (json_is_object(e)) {
        json_t *m = json_object_get(e, "exception_message");
        json_t *t = json_object_get(e, "type");
        if (json_is_string(m)) {
            msg = json_string_value(m);
            msg_len = json_string_length(m);
        }
        if (json_is_string(t))
            type = short_type(json_string_value(t), &type_len);
    }
    size_t limit = cap - 1 < REST_REASON_MAX ? cap - 1 : REST_REASON_MAX;
    size_t o = 0;
    int found = msg_len > 0 || (msg != NULL && type != NULL);
    if (found) {
        /* The type leads when the whole message fits after it; the
           message itself is what must not be cut. */
        if (type != NULL && (msg_len == 0 || type_len + 2 + msg_len <= limit)) {
            put_printable(out, limit, &o, type, type_len);
            if (msg_len > 0)
                put_printable(out, limit, &o, ": ", 2);
        }
        if (put_printable(out, limit, &o, msg, msg_len) != 0) {
            o = limit - 3;
            memcpy(out + o, "...", 3);
            o += 3;
        }
        out[o] = '\0';
    }
    json_decref(doc);
    return found;
}
