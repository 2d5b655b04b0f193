#include "rsp/jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/codec.h"

#define FIRST_CAP 256

void rsp_jsonw_init(rsp_jsonw *w, rsp_arena *arena, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->arena = arena;
    w->max = max ? max : SIZE_MAX / 2;
}

void rsp_jsonw_reset(rsp_jsonw *w)
{
    w->len = 0;
    w->err = RSP_JSONW_OK;
    w->depth = 0;
    w->want_value = false;
    w->done = false;
}

void rsp_jsonw_free(rsp_jsonw *w)
{
    if (!w->arena)
        free(w->buf);
    w->buf = NULL;
    w->cap = 0;
    rsp_jsonw_reset(w);
}

static int set_err(rsp_jsonw *w, int err)
{
    w->err = err;
    return err;
}

/* Makes room for n more bytes plus the final NUL. */
static int reserve(rsp_jsonw *w, size_t n)
{
    if (w->err)
        return w->err;
    if (n > w->max - w->len)
        return set_err(w, RSP_JSONW_ELIMIT);
    size_t need = w->len + n + 1;
    if (need <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : FIRST_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *nb;
    if (w->arena) {
        nb = rsp_arena_alloc(w->arena, cap);
        if (nb && w->len)
            memcpy(nb, w->buf, w->len);
    } else {
        nb = realloc(w->buf, cap);
    }
    if (!nb)
        return set_err(w, RSP_JSONW_ENOMEM);
    w->buf = nb;
    w->cap = cap;
    return 0;
}

static int put(rsp_jsonw *w, const char *s, size_t n)
{
    if (reserve(w, n))
        return w->err;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    return 0;
}

/* Checks that a value may come now and writes the separating comma. */
static int value_start(rsp_jsonw *w)
{
    if (w->err)
        return w->err;
    if (w->depth == 0) {
        if (w->done)
            return set_err(w, RSP_JSONW_ESTATE);
        return 0;
    }
    unsigned top = w->depth - 1;
    if (w->stack[top] == '{') {
        if (!w->want_value)
            return set_err(w, RSP_JSONW_ESTATE);
        w->want_value = false;
        return 0;
    }
    if (!w->first[top] && put(w, ",", 1))
        return w->err;
    w->first[top] = false;
    return 0;
}

static int value_end(rsp_jsonw *w)
{
    if (w->depth == 0 && !w->err)
        w->done = true;
    return w->err;
}

/* Quoted, escaped string; refuses malformed UTF-8 before writing anything. */
static int put_string(rsp_jsonw *w, const char *s, size_t n)
{
    if (w->err)
        return w->err;
    if (!rsp_utf8_valid(s, n))
        return set_err(w, RSP_JSONW_EUTF8);
    if (put(w, "\"", 1))
        return w->err;
    size_t run = 0; /* start of the pending unescaped bytes */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (put(w, s + run, i - run))
            return w->err;
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"':
            put(w, "\\\"", 2);
            break;
        case '\\':
            put(w, "\\\\", 2);
            break;
        case '\n':
            put(w, "\\n", 2);
            break;
        case '\r':
            put(w, "\\r", 2);
            break;
        case '\t':
            put(w, "\\t", 2);
            break;
        case '\b':
            put(w, "\\b", 2);
            break;
        case '\f':
            put(w, "\\f", 2);
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            put(w, esc, 6);
            break;
        }
    }
    put(w, s + run, n - run);
    return put(w, "\"", 1);
}

static int open_container(rsp_jsonw *w, char kind)
{
    if (value_start(w))
        return w->err;
    if (w->depth >= RSP_JSONW_MAX_DEPTH)
        return set_err(w, RSP_JSONW_ESTATE);
    if (put(w, kind == '{' ? "{" : "[", 1))
        return w->err;
    w->stack[w->depth] = kind;
    w->first[w->depth] = true;
    w->depth++;
    return 0;
}

static int close_container(rsp_jsonw *w, char kind)
{
    if (w->err)
        return w->err;
    if (w->depth == 0 || w->stack[w->depth - 1] != kind || w->want_value)
        return set_err(w, RSP_JSONW_ESTATE);
    if (put(w, kind == '{' ? "}" : "]", 1))
        return w->err;
    w->depth--;
    return value_end(w);
}

int rsp_jsonw_obj_begin(rsp_jsonw *w)
{
    return open_container(w, '{');
}

int rsp_jsonw_obj_end(rsp_jsonw *w)
{
    return close_container(w, '{');
}

int rsp_jsonw_arr_begin(rsp_jsonw *w)
{
    return open_container(w, '[');
}

int rsp_jsonw_arr_end(rsp_jsonw *w)
{
    return close_container(w, '[');
}

int rsp_jsonw_key(rsp_jsonw *w, const char *name)
{
    if (w->err)
        return w->err;
    if (w->depth == 0 || w->stack[w->depth - 1] != '{' || w->want_value)
        return set_err(w, RSP_JSONW_ESTATE);
    unsigned top = w->depth - 1;
    if (!w->first[top] && put(w, ",", 1))
        return w->err;
    if (put_string(w, name, strlen(name)) || put(w, ":", 1))
        return w->err;
    w->first[top] = false;
    w->want_value = true;
    return 0;
}

int rsp_jsonw_strn(rsp_jsonw *w, const char *s, size_t n)
{
    if (value_start(w) || put_string(w, s, n))
        return w->err;
    return value_end(w);
}

int rsp_jsonw_str(rsp_jsonw *w, const char *s)
{
    return rsp_jsonw_strn(w, s, strlen(s));
}

int rsp_jsonw_bool(rsp_jsonw *w, bool v)
{
    if (value_start(w) || put(w, v ? "true" : "false", v ? 4 : 5))
        return w->err;
    return value_end(w);
}

int rsp_jsonw_int(rsp_jsonw *w, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64, v);
    if (value_start(w) || put(w, num, (size_t)n))
        return w->err;
    return value_end(w);
}

int rsp_jsonw_null(rsp_jsonw *w)
{
    if (value_start(w) || put(w, "null", 4))
        return w->err;
    return value_end(w);
}

/* Encodes straight into the buffer; the encoder's NUL is overwritten by the
 * closing quote. */
static int put_encoded(rsp_jsonw *w, const uint8_t *data, size_t n, bool hex)
{
    size_t enc = hex ? rsp_hex_encoded_len(n) : rsp_b64_encoded_len(n);
    if (value_start(w))
        return w->err;
    if (enc == SIZE_MAX || enc > SIZE_MAX / 2)
        return set_err(w, RSP_JSONW_ELIMIT);
    if (reserve(w, enc + 2))
        return w->err;
    w->buf[w->len++] = '"';
    size_t cap = w->cap - w->len;
    int rc = hex ? rsp_hex_encode(data, n, w->buf + w->len, cap, NULL)
                 : rsp_b64_encode(data, n, w->buf + w->len, cap, NULL);
    if (rc != RSP_CODEC_OK)
        return set_err(w, RSP_JSONW_ENOMEM);
    w->len += enc;
    w->buf[w->len++] = '"';
    return value_end(w);
}

int rsp_jsonw_base64(rsp_jsonw *w, const uint8_t *data, size_t n)
{
    return put_encoded(w, data, n, false);
}

int rsp_jsonw_hex(rsp_jsonw *w, const uint8_t *data, size_t n)
{
    return put_encoded(w, data, n, true);
}

int rsp_jsonw_kstr(rsp_jsonw *w, const char *name, const char *s)
{
    rsp_jsonw_key(w, name);
    return rsp_jsonw_str(w, s);
}

int rsp_jsonw_kbool(rsp_jsonw *w, const char *name, bool v)
{
    rsp_jsonw_key(w, name);
    return rsp_jsonw_bool(w, v);
}

int rsp_jsonw_kint(rsp_jsonw *w, const char *name, int64_t v)
{
    rsp_jsonw_key(w, name);
    return rsp_jsonw_int(w, v);
}

int rsp_jsonw_kbase64(rsp_jsonw *w, const char *name, const uint8_t *data, size_t n)
{
    rsp_jsonw_key(w, name);
    return rsp_jsonw_base64(w, data, n);
}

int rsp_jsonw_khex(rsp_jsonw *w, const char *name, const uint8_t *data, size_t n)
{
    rsp_jsonw_key(w, name);
    return rsp_jsonw_hex(w, data, n);
}

int rsp_jsonw_header_msg(rsp_jsonw *w, rsp_status st, const char *message)
{
    rsp_jsonw_key(w, "header");
    rsp_jsonw_obj_begin(w);
    rsp_jsonw_key(w, "functionExecutionStatus");
    rsp_jsonw_obj_begin(w);
    if (st == RSP_OK) {
        rsp_jsonw_kstr(w, "status", "Executed-Success");
    } else {
        const rsp_status_info *info = rsp_status_get(st);
        if (!info->subject)
            info = rsp_status_get(RSP_ST_INTERNAL);
        rsp_jsonw_kstr(w, "status", "Failed");
        rsp_jsonw_key(w, "statusCodeData");
        rsp_jsonw_obj_begin(w);
        rsp_jsonw_kstr(w, "subjectCode", info->subject);
        rsp_jsonw_kstr(w, "reasonCode", info->reason);
        rsp_jsonw_kstr(w, "message", message ? message : info->message);
        rsp_jsonw_obj_end(w);
    }
    rsp_jsonw_obj_end(w);
    return rsp_jsonw_obj_end(w);
}

int rsp_jsonw_header(rsp_jsonw *w, rsp_status st)
{
    return rsp_jsonw_header_msg(w, st, NULL);
}

int rsp_jsonw_req_header(rsp_jsonw *w, const char *requester, const char *call_id)
{
    rsp_jsonw_key(w, "header");
    rsp_jsonw_obj_begin(w);
    rsp_jsonw_kstr(w, "functionRequesterIdentifier", requester);
    rsp_jsonw_kstr(w, "functionCallIdentifier", call_id);
    return rsp_jsonw_obj_end(w);
}

int rsp_jsonw_finish(rsp_jsonw *w, const char **out, size_t *len)
{
    if (w->err)
        return w->err;
    if (!w->done || w->depth != 0)
        return set_err(w, RSP_JSONW_ESTATE);
    if (reserve(w, 0))
        return w->err;
    w->buf[w->len] = '\0';
    *out = w->buf;
    if (len)
        *len = w->len;
    return 0;
}

int rsp_jsonw_print_line(rsp_jsonw *w, FILE *f)
{
    const char *text;
    size_t len;
    int rc = rsp_jsonw_finish(w, &text, &len);
    if (rc == 0 && (fwrite(text, 1, len, f) != len || fputc('\n', f) == EOF))
        rc = RSP_JSONW_EIO;
    rsp_jsonw_free(w);
    return rc;
}

const char *rsp_jsonw_strerror(int err)
{
    switch (err) {
    case RSP_JSONW_OK:
        return "ok";
    case RSP_JSONW_ENOMEM:
        return "out of memory";
    case RSP_JSONW_ELIMIT:
        return "output size limit reached";
    case RSP_JSONW_ESTATE:
        return "call not allowed in this state";
    case RSP_JSONW_EUTF8:
        return "string is not valid UTF-8";
    case RSP_JSONW_EIO:
        return "cannot write the text";
    }
    return "unknown writer error";
}
