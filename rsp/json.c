/* The one translation unit that compiles jsmn's implementation (see json.h). */
#include "rsp/json.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <jsmn.h>

#include "rsp/codec.h"

struct rsp_json_doc {
    const char *js;
    size_t len;
    jsmntok_t *tok;
    int ntok;
    rsp_arena *arena;
};

static void set_err(rsp_json_err *err, rsp_status st, const char *reason, size_t offset)
{
    if (!err)
        return;
    err->status = st;
    err->reason = reason;
    err->field[0] = '\0';
    err->offset = offset;
}

/* ---- Step 1: strict syntax check, counting the tokens jsmn will produce ---- */

struct val {
    const unsigned char *s, *p, *end;
    size_t ntok, max_tok;
    unsigned depth, max_depth;
    unsigned char stack[RSP_JSON_MAX_DEPTH]; /* '{' or '[' per open container */
    const char *why;
};

static int vfail(struct val *v, const char *why)
{
    v->why = why;
    return -1;
}

static void vws(struct val *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at p (already bounds-checked by the caller); -1 if not hex. */
static long hex4(const unsigned char *p)
{
    long r = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        r = r << 4 | h;
    }
    return r;
}

static int vtoken(struct val *v)
{
    if (++v->ntok > v->max_tok)
        return vfail(v, "too many tokens");
    return 0;
}

/* At the opening quote; leaves p after the closing quote. */
static int vstring(struct val *v)
{
    if (vtoken(v))
        return -1;
    v->p++;
    while (v->p < v->end) {
        unsigned char c = *v->p;
        if (c == '"') {
            v->p++;
            return 0;
        }
        if (c < 0x20)
            return vfail(v, "control character in string");
        if (c >= 0x80) {
            size_t l = rsp_utf8_char(v->p, (size_t)(v->end - v->p));
            if (l == 0)
                return vfail(v, "invalid UTF-8");
            v->p += l;
            continue;
        }
        if (c != '\\') {
            v->p++;
            continue;
        }
        if (v->end - v->p < 2)
            break;
        c = v->p[1];
        if (c != 'u') {
            if (!strchr("\"\\/bfnrt", c) || c == '\0')
                return vfail(v, "invalid escape");
            v->p += 2;
            continue;
        }
        if (v->end - v->p < 6)
            break;
        long cp = hex4(v->p + 2);
        if (cp < 0)
            return vfail(v, "invalid escape");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return vfail(v, "unpaired surrogate");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (v->end - v->p < 12 || v->p[6] != '\\' || v->p[7] != 'u')
                return vfail(v, "unpaired surrogate");
            long lo = hex4(v->p + 8);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return vfail(v, "unpaired surrogate");
            v->p += 6;
        }
        v->p += 6;
    }
    return vfail(v, "unterminated string");
}

static int vdigits(struct val *v)
{
    if (v->p >= v->end || *v->p < '0' || *v->p > '9')
        return vfail(v, "invalid number");
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
        v->p++;
    return 0;
}

static int vnumber(struct val *v)
{
    if (vtoken(v))
        return -1;
    if (*v->p == '-')
        v->p++;
    if (v->p < v->end && *v->p == '0')
        v->p++;
    else if (vdigits(v))
        return -1;
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (vdigits(v))
            return -1;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
            v->p++;
        if (vdigits(v))
            return -1;
    }
    return 0;
}

static int vliteral(struct val *v, const char *lit)
{
    size_t n = strlen(lit);
    if (vtoken(v))
        return -1;
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n) != 0)
        return vfail(v, "invalid literal");
    v->p += n;
    return 0;
}

/* A member name and its colon; leaves p at the value. */
static int vkey(struct val *v)
{
    if (v->p >= v->end || *v->p != '"')
        return vfail(v, "expected a member name");
    if (vstring(v))
        return -1;
    vws(v);
    if (v->p >= v->end || *v->p != ':')
        return vfail(v, "expected ':'");
    v->p++;
    vws(v);
    return 0;
}

static int validate(struct val *v)
{
    vws(v);
    for (;;) {
        /* A value is expected at p. */
        if (v->p >= v->end)
            return vfail(v, "unexpected end");
        unsigned char c = *v->p;
        if (c == '{' || c == '[') {
            if (vtoken(v))
                return -1;
            if (v->depth >= v->max_depth)
                return vfail(v, "nesting too deep");
            v->stack[v->depth++] = c;
            v->p++;
            vws(v);
            if (v->p < v->end && *v->p == (c == '{' ? '}' : ']')) {
                v->p++;
                v->depth--;
            } else {
                if (c == '{' && vkey(v))
                    return -1;
                continue;
            }
        } else if (c == '"') {
            if (vstring(v))
                return -1;
        } else if (c == 't' || c == 'f' || c == 'n') {
            if (vliteral(v, c == 't' ? "true" : c == 'f' ? "false" : "null"))
                return -1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (vnumber(v))
                return -1;
        } else {
            return vfail(v, "unexpected character");
        }
        /* After a complete value: close containers until a comma or the end. */
        for (;;) {
            vws(v);
            if (v->depth == 0) {
                if (v->p != v->end)
                    return vfail(v, "data after the top-level value");
                return 0;
            }
            if (v->p >= v->end)
                return vfail(v, "unexpected end");
            unsigned char top = v->stack[v->depth - 1];
            if (*v->p == ',') {
                v->p++;
                vws(v);
                if (top == '{' && vkey(v))
                    return -1;
                break;
            }
            if (*v->p != (top == '{' ? '}' : ']'))
                return vfail(v, top == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
            v->p++;
            v->depth--;
        }
    }
}

rsp_status rsp_json_doc_parse(rsp_arena *a, const char *body, size_t len, const rsp_json_limits *lim,
                              rsp_json_doc **doc, rsp_json_err *err)
{
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : RSP_JSON_DEFAULT_MAX_BYTES;
    size_t max_tokens = lim && lim->max_tokens ? lim->max_tokens : RSP_JSON_DEFAULT_MAX_TOKENS;
    unsigned max_depth = lim && lim->max_depth ? lim->max_depth : RSP_JSON_DEFAULT_MAX_DEPTH;
    if (max_bytes > INT_MAX - 1)
        max_bytes = INT_MAX - 1; /* jsmn keeps offsets in int */
    if (max_tokens > INT_MAX / 2)
        max_tokens = INT_MAX / 2;
    if (max_depth > RSP_JSON_MAX_DEPTH)
        max_depth = RSP_JSON_MAX_DEPTH;
    *doc = NULL;
    if (len > max_bytes) {
        set_err(err, RSP_ST_INVALID_FIELD, "body too large", max_bytes);
        return RSP_ST_INVALID_FIELD;
    }

    struct val v = {.s = (const unsigned char *)body,
                    .p = (const unsigned char *)body,
                    .end = (const unsigned char *)body + len,
                    .max_tok = max_tokens,
                    .max_depth = max_depth};
    if (validate(&v)) {
        set_err(err, RSP_ST_INVALID_FIELD, v.why, (size_t)(v.p - v.s));
        return RSP_ST_INVALID_FIELD;
    }
    size_t first = 0;
    while (body[first] == ' ' || body[first] == '\t' || body[first] == '\n' || body[first] == '\r')
        first++;
    if (body[first] != '{') {
        set_err(err, RSP_ST_INVALID_FIELD, "top level is not an object", first);
        return RSP_ST_INVALID_FIELD;
    }

    rsp_json_doc *d = rsp_arena_alloc(a, sizeof(*d));
    jsmntok_t *tok = rsp_arena_calloc(a, v.ntok, sizeof(*tok));
    if (!d || !tok) {
        set_err(err, RSP_ST_INTERNAL, "out of memory", 0);
        return RSP_ST_INTERNAL;
    }
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, body, len, tok, (unsigned)v.ntok);
    if (n < 0 || (size_t)n != v.ntok || tok[0].type != JSMN_OBJECT) {
        /* The checker above accepts only what jsmn tokenizes this way. */
        set_err(err, RSP_ST_INTERNAL, "tokenizer disagrees with the syntax check", 0);
        return RSP_ST_INTERNAL;
    }
    d->js = body;
    d->len = len;
    d->tok = tok;
    d->ntok = n;
    d->arena = a;
    *doc = d;
    return RSP_OK;
}

/* ---- Step 2: binding objects to field tables ---- */

/* Streams the decoded bytes of a JSON string body that passed the syntax check. */
struct sdec {
    const unsigned char *p, *end;
    unsigned char buf[4];
    int n, i;
};

static void sdec_init(struct sdec *d, const char *s, size_t len)
{
    d->p = (const unsigned char *)s;
    d->end = d->p + len;
    d->n = d->i = 0;
}

static int sdec_next(struct sdec *d)
{
    if (d->i < d->n)
        return d->buf[d->i++];
    if (d->p >= d->end)
        return -1;
    if (*d->p != '\\')
        return *d->p++;
    unsigned char c = d->p[1];
    d->p += 2;
    switch (c) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default: /* " \ / */
        return c;
    }
    unsigned long cp = (unsigned long)hex4(d->p);
    d->p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned long lo = (unsigned long)hex4(d->p + 2);
        d->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp < 0x80) {
        return (int)cp;
    } else if (cp < 0x800) {
        d->buf[0] = (unsigned char)(0xC0 | cp >> 6);
        d->buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
        d->n = 2;
    } else if (cp < 0x10000) {
        d->buf[0] = (unsigned char)(0xE0 | cp >> 12);
        d->buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d->buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
        d->n = 3;
    } else {
        d->buf[0] = (unsigned char)(0xF0 | cp >> 18);
        d->buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        d->buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d->buf[3] = (unsigned char)(0x80 | (cp & 0x3F));
        d->n = 4;
    }
    d->i = 1;
    return d->buf[0];
}

struct bctx {
    const rsp_json_doc *doc;
    rsp_json_err *err;
    char path[RSP_JSON_MAX_PATH];
    size_t plen;
};

static const char *tok_text(const struct bctx *c, int i)
{
    return c->doc->js + c->doc->tok[i].start;
}

static size_t tok_len(const struct bctx *c, int i)
{
    return (size_t)(c->doc->tok[i].end - c->doc->tok[i].start);
}

/* Index of the token after the value at i and everything inside it. */
static int tok_skip(const struct bctx *c, int i)
{
    const jsmntok_t *t = c->doc->tok;
    int j = i + 1;
    if (t[i].type == JSMN_OBJECT || t[i].type == JSMN_ARRAY)
        while (j < c->doc->ntok && t[j].start < t[i].end)
            j++;
    return j;
}

/* Appends to the error path; truncates rather than overflow.  Only printable
 * ASCII is kept because the path may end up in a reply message. */
static void path_push(struct bctx *c, const char *prefix, const char *s, size_t n)
{
    for (const char *q = prefix; *q && c->plen + 1 < sizeof(c->path); q++)
        c->path[c->plen++] = *q;
    for (size_t k = 0; k < n && c->plen + 1 < sizeof(c->path); k++) {
        unsigned char ch = (unsigned char)s[k];
        c->path[c->plen++] = ch >= 0x20 && ch < 0x7F ? (char)ch : '?';
    }
    c->path[c->plen] = '\0';
}

static rsp_status fail(struct bctx *c, rsp_status st, const char *reason)
{
    rsp_json_err *err = c->err;
    if (err) {
        err->status = st;
        err->reason = reason;
        memcpy(err->field, c->path, c->plen + 1);
        err->offset = 0;
    }
    return st;
}

static void *out_at(void *base, size_t off)
{
    return (void *)((uintptr_t)base + off);
}

static void reset_outputs(const rsp_json_field *f, void *base)
{
    for (; f->name; f++) {
        void *o = out_at(base, f->off);
        switch (f->kind) {
        case RSP_JSON_STRING:
            *(const char **)o = NULL;
            break;
        case RSP_JSON_HEX:
        case RSP_JSON_BASE64:
            *(rsp_json_bin *)o = (rsp_json_bin){NULL, 0};
            break;
        case RSP_JSON_BOOL:
            *(bool *)o = false;
            break;
        case RSP_JSON_INT:
            *(int64_t *)o = 0;
            break;
        case RSP_JSON_OBJECT:
            reset_outputs(f->sub, o);
            break;
        case RSP_JSON_ARRAY:
            *(rsp_json_array *)o = (rsp_json_array){NULL, 0};
            break;
        }
    }
}

/* Decoded copy of string token i, NUL-terminated, in the arena. */
static char *decode_string(struct bctx *c, int i, size_t *outlen)
{
    const char *s = tok_text(c, i);
    size_t n = tok_len(c, i);
    if (!memchr(s, '\\', n)) {
        *outlen = n;
        return rsp_arena_strndup(c->doc->arena, s, n);
    }
    char *out = rsp_arena_alloc(c->doc->arena, n + 1); /* unescaping never grows */
    if (!out)
        return NULL;
    struct sdec d;
    sdec_init(&d, s, n);
    size_t k = 0;
    for (int b; (b = sdec_next(&d)) >= 0;)
        out[k++] = (char)b;
    out[k] = '\0';
    *outlen = k;
    return out;
}

static bool key_equals(const struct bctx *c, int i, const char *name)
{
    const char *s = tok_text(c, i);
    size_t n = tok_len(c, i);
    if (!memchr(s, '\\', n))
        return strlen(name) == n && memcmp(s, name, n) == 0;
    struct sdec d;
    sdec_init(&d, s, n);
    const unsigned char *q = (const unsigned char *)name;
    for (;; q++) {
        int b = sdec_next(&d);
        if (b < 0)
            return *q == '\0';
        if (*q == '\0' || b != *q)
            return false;
    }
}

/* Orders two member names by their decoded bytes. */
static int keys_cmp(const struct bctx *c, int i, int j)
{
    struct sdec a, b;
    sdec_init(&a, tok_text(c, i), tok_len(c, i));
    sdec_init(&b, tok_text(c, j), tok_len(c, j));
    for (;;) {
        int x = sdec_next(&a), y = sdec_next(&b);
        if (x != y)
            return x < y ? -1 : 1;
        if (x < 0)
            return 0;
    }
}

/* Bottom-up merge sort of key token indices: O(n log n) comparisons whatever
 * the names, so crafted keys cannot slow the duplicate check down (a hash
 * table could be flooded with colliding names). */
static void sort_keys(const struct bctx *c, int *keys, int *tmp, int n)
{
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n;
            int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                tmp[o++] = keys_cmp(c, keys[i], keys[j]) <= 0 ? keys[i++] : keys[j++];
            while (i < mid)
                tmp[o++] = keys[i++];
            while (j < hi)
                tmp[o++] = keys[j++];
        }
        memcpy(keys, tmp, (size_t)n * sizeof(int));
    }
}

/* Refuses an object (token obj) holding the same key twice. */
static rsp_status check_duplicates(struct bctx *c, int obj)
{
    int nkeys = c->doc->tok[obj].size;
    if (nkeys < 2)
        return RSP_OK;
    int small[2 * 32];
    int *keys = small;
    if (nkeys > 32) {
        keys = rsp_arena_alloc(c->doc->arena, 2 * (size_t)nkeys * sizeof(int));
        if (!keys)
            return fail(c, RSP_ST_INTERNAL, "out of memory");
    }
    int k = obj + 1;
    for (int n = 0; n < nkeys; n++) {
        keys[n] = k;
        k = tok_skip(c, k + 1);
    }
    sort_keys(c, keys, keys + nkeys, nkeys);
    for (int n = 1; n < nkeys; n++) {
        if (keys_cmp(c, keys[n - 1], keys[n]) == 0) {
            size_t saved = c->plen;
            path_push(c, c->plen ? "." : "", tok_text(c, keys[n]), tok_len(c, keys[n]));
            rsp_status st = fail(c, RSP_ST_INVALID_FIELD, "duplicate key");
            c->plen = saved;
            c->path[saved] = '\0';
            return st;
        }
    }
    return RSP_OK;
}

static rsp_status bind_object(struct bctx *c, int obj, const rsp_json_field *fields, void *base);

static rsp_status bind_binary(struct bctx *c, const rsp_json_field *f, int i, rsp_json_bin *out)
{
    size_t n;
    const char *s = tok_text(c, i);
    if (memchr(s, '\\', tok_len(c, i))) {
        /* Escaped text such as "\/" or "\n" between wrapped base64 lines. */
        s = decode_string(c, i, &n);
        if (!s)
            return fail(c, RSP_ST_INTERNAL, "out of memory");
    } else {
        n = tok_len(c, i);
    }
    uint8_t *data;
    size_t len;
    int rc = f->kind == RSP_JSON_HEX ? rsp_hex_decode_arena(c->doc->arena, s, n, &data, &len)
                                     : rsp_b64_decode_arena(c->doc->arena, s, n, &data, &len);
    if (rc == RSP_CODEC_ENOMEM)
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    if (rc != RSP_CODEC_OK)
        return fail(c, RSP_ST_INVALID_FIELD, f->kind == RSP_JSON_HEX ? "not valid hex" : "not valid base64");
    if (len < f->min)
        return fail(c, RSP_ST_INVALID_FIELD, "too short");
    if (f->max && len > f->max)
        return fail(c, RSP_ST_INVALID_FIELD, "too long");
    out->data = data;
    out->len = len;
    return RSP_OK;
}

static rsp_status bind_int(struct bctx *c, const rsp_json_field *f, int i, int64_t *out)
{
    const char *s = tok_text(c, i);
    size_t n = tok_len(c, i);
    if (s[0] != '-' && (s[0] < '0' || s[0] > '9'))
        return fail(c, RSP_ST_INVALID_FIELD, "wrong type");
    bool neg = s[0] == '-';
    uint64_t v = 0;
    /* Magnitude limit: 2^63 for negative values, 2^63 - 1 otherwise. */
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t k = neg; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return fail(c, RSP_ST_INVALID_FIELD, "not an integer");
        unsigned d = (unsigned)(s[k] - '0');
        if (v > (lim - d) / 10)
            return fail(c, RSP_ST_INVALID_FIELD, "out of range");
        v = v * 10 + d;
    }
    int64_t r = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    if ((f->min || f->max) && (r < 0 || (uint64_t)r < f->min || (f->max && (uint64_t)r > f->max)))
        return fail(c, RSP_ST_INVALID_FIELD, "out of range");
    *out = r;
    return RSP_OK;
}

static rsp_status bind_array(struct bctx *c, const rsp_json_field *f, int i, rsp_json_array *out)
{
    const jsmntok_t *t = c->doc->tok;
    size_t count = (size_t)t[i].size;
    if (count < f->min)
        return fail(c, RSP_ST_INVALID_FIELD, "too few elements");
    if (f->max && count > f->max)
        return fail(c, RSP_ST_INVALID_FIELD, "too many elements");
    unsigned char *items = rsp_arena_calloc(c->doc->arena, count, f->elem_size);
    if (!items)
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    size_t saved = c->plen;
    int e = i + 1;
    for (size_t k = 0; k < count; k++) {
        char idx[24];
        snprintf(idx, sizeof(idx), "[%zu]", k);
        path_push(c, idx, "", 0);
        if (t[e].type != JSMN_OBJECT)
            return fail(c, RSP_ST_INVALID_FIELD, "wrong type");
        rsp_status st = bind_object(c, e, f->sub, items + k * f->elem_size);
        if (st != RSP_OK)
            return st;
        c->plen = saved;
        c->path[saved] = '\0';
        e = tok_skip(c, e);
    }
    out->items = items;
    out->count = count;
    return RSP_OK;
}

static rsp_status bind_value(struct bctx *c, const rsp_json_field *f, int i, void *base)
{
    const jsmntok_t *t = &c->doc->tok[i];
    void *o = out_at(base, f->off);
    char first = tok_text(c, i)[0];
    switch (f->kind) {
    case RSP_JSON_STRING: {
        if (t->type != JSMN_STRING)
            return fail(c, RSP_ST_INVALID_FIELD, "wrong type");
        size_t n;
        char *s = decode_string(c, i, &n);
        if (!s)
            return fail(c, RSP_ST_INTERNAL, "out of memory");
        if (strlen(s) != n)
            return fail(c, RSP_ST_INVALID_FIELD, "contains NUL");
        if (n < f->min)
            return fail(c, RSP_ST_INVALID_FIELD, "too short");
        if (f->max && n > f->max)
            return fail(c, RSP_ST_INVALID_FIELD, "too long");
        *(const char **)o = s;
        return RSP_OK;
    }
    case RSP_JSON_HEX:
    case RSP_JSON_BASE64:
        if (t->type != JSMN_STRING)
            return fail(c, RSP_ST_INVALID_FIELD, "wrong type");
        return bind_binary(c, f, i, o);
    case RSP_JSON_BOOL:
        if (t->type != JSMN_PRIMITIVE || (first != 't' && first != 'f'))
            return fail(c, RSP_ST_INVALID_FIELD, "wrong type");
        *(bool *)o = first == 't';
        return RSP_OK;
    case RSP_JSON_INT:
        if (t->type != JSMN_PRIMITIVE)
            return fail(c, RSP_ST_INVALID_FIELD, "wrong type");
        return bind_int(c, f, i, o);
    case RSP_JSON_OBJECT:
        if (t->type != JSMN_OBJECT)
            return fail(c, RSP_ST_INVALID_FIELD, "wrong type");
        return bind_object(c, i, f->sub, o);
    case RSP_JSON_ARRAY:
        if (t->type != JSMN_ARRAY)
            return fail(c, RSP_ST_INVALID_FIELD, "wrong type");
        return bind_array(c, f, i, o);
    }
    return fail(c, RSP_ST_INTERNAL, "bad field kind");
}

static rsp_status bind_object(struct bctx *c, int obj, const rsp_json_field *fields, void *base)
{
    size_t nf = 0;
    while (fields[nf].name)
        nf++;
    if (nf > RSP_JSON_MAX_FIELDS)
        return fail(c, RSP_ST_INTERNAL, "field table too large");
    reset_outputs(fields, base);
    rsp_status st = check_duplicates(c, obj);
    if (st != RSP_OK)
        return st;

    bool seen[RSP_JSON_MAX_FIELDS] = {false};
    size_t saved = c->plen;
    int k = obj + 1;
    for (int n = 0; n < c->doc->tok[obj].size; n++) {
        int v = k + 1;
        for (size_t fi = 0; fi < nf; fi++) {
            const rsp_json_field *f = &fields[fi];
            if (!key_equals(c, k, f->name))
                continue;
            bool is_null = c->doc->tok[v].type == JSMN_PRIMITIVE && tok_text(c, v)[0] == 'n';
            if (!is_null) {
                path_push(c, c->plen ? "." : "", f->name, strlen(f->name));
                st = bind_value(c, f, v, base);
                if (st != RSP_OK)
                    return st;
                c->plen = saved;
                c->path[saved] = '\0';
                seen[fi] = true;
            }
            break;
        }
        k = tok_skip(c, v);
    }
    for (size_t fi = 0; fi < nf; fi++) {
        if ((fields[fi].flags & RSP_JSON_MANDATORY) && !seen[fi]) {
            path_push(c, c->plen ? "." : "", fields[fi].name, strlen(fields[fi].name));
            return fail(c, RSP_ST_MANDATORY_MISSING, "missing");
        }
    }
    return RSP_OK;
}

rsp_status rsp_json_bind(const rsp_json_doc *doc, const rsp_json_field *fields, void *base, rsp_json_err *err)
{
    struct bctx c = {.doc = doc, .err = err};
    return bind_object(&c, 0, fields, base);
}

rsp_status rsp_json_parse(rsp_arena *a, const char *body, size_t len, const rsp_json_limits *lim,
                          const rsp_json_field *fields, void *base, rsp_json_err *err)
{
    rsp_json_doc *doc;
    rsp_status st = rsp_json_doc_parse(a, body, len, lim, &doc, err);
    if (st != RSP_OK) {
        /* Outputs must not keep stale values from an earlier request. */
        reset_outputs(fields, base);
        return st;
    }
    return rsp_json_bind(doc, fields, base, err);
}

const char *rsp_json_err_message(const rsp_json_err *err, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    const char *reason = err->reason ? err->reason : "invalid";
    size_t k = 0;
    for (const char *p = err->field; *p && k + 1 < cap; p++)
        buf[k++] = (*p >= 0x20 && *p < 0x7F) ? *p : '?';
    if (k && k + 2 < cap) {
        buf[k++] = ':';
        buf[k++] = ' ';
    }
    for (const char *p = reason; *p && k + 1 < cap; p++)
        buf[k++] = *p;
    buf[k] = '\0';
    return buf;
}

/* ---- Header tables ---- */

/* The notes give no length limits for these members [R]; the bounds only keep
 * a request's memory small. */
const rsp_json_field rsp_json_req_header_fields[] = {
    RSP_JSON_F("functionRequesterIdentifier", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 256,
               rsp_json_req_header, requester),
    RSP_JSON_F("functionCallIdentifier", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 256, rsp_json_req_header,
               call_id),
    RSP_JSON_END,
};

static const rsp_json_field status_code_data_fields[] = {
    RSP_JSON_F("subjectCode", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 32, rsp_json_resp_header, subject),
    RSP_JSON_F("reasonCode", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 32, rsp_json_resp_header, reason),
    RSP_JSON_F("subjectIdentifier", RSP_JSON_STRING, 0, 0, 256, rsp_json_resp_header, subject_id),
    RSP_JSON_F("message", RSP_JSON_STRING, 0, 0, 4096, rsp_json_resp_header, message),
    RSP_JSON_END,
};

static const rsp_json_field execution_status_fields[] = {
    RSP_JSON_F("status", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 64, rsp_json_resp_header, status),
    {"statusCodeData", RSP_JSON_OBJECT, 0, 0, 0, 0, status_code_data_fields, 0},
    RSP_JSON_END,
};

const rsp_json_field rsp_json_resp_header_fields[] = {
    {"functionExecutionStatus", RSP_JSON_OBJECT, RSP_JSON_MANDATORY, 0, 0, 0, execution_status_fields, 0},
    RSP_JSON_END,
};

bool rsp_json_resp_ok(const rsp_json_resp_header *h)
{
    return h->status &&
           (strcmp(h->status, "Executed-Success") == 0 || strcmp(h->status, "Executed-WithWarning") == 0);
}
