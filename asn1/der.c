#include "asn1/der.h"

#include <stdlib.h>
#include <string.h>

const char *der_strerror(int err)
{
    switch (err) {
    case DER_OK:
        return "success";
    case DER_EEOF:
        return "input ends inside a TLV";
    case DER_ETAG:
        return "malformed or over-long tag";
    case DER_EINDEF:
        return "indefinite length";
    case DER_ELENLONG:
        return "length field too long";
    case DER_ENONMINIMAL:
        return "length not minimally encoded";
    case DER_EDEPTH:
        return "nesting too deep";
    case DER_ETRAILING:
        return "trailing bytes";
    case DER_EUNEXPECTED:
        return "unexpected tag";
    case DER_ENOMEM:
        return "out of memory";
    case DER_EVALUE:
        return "malformed value";
    case DER_ESTATE:
        return "unbalanced constructed value";
    default:
        return "unknown error";
    }
}

bool der_tag_constructed(uint32_t tag)
{
    uint32_t first = tag;
    while (first > 0xFF)
        first >>= 8;
    return (first & DER_CONSTRUCTED) != 0;
}

int der_parse(const uint8_t *buf, size_t len, der_tlv *out)
{
    size_t i = 0;
    if (len < 2)
        return DER_EEOF;
    uint32_t tag = buf[i++];
    if ((tag & 0x1F) == 0x1F) {
        /* High tag number form: continuation octets with bit 8 set, the first
         * of which may not be 0x80 (non-minimal).  At most 3 more octets. */
        int n = 0;
        if (buf[i] == 0x80 || buf[i] < 0x1F)
            return DER_ETAG; /* leading zero bits, or a number that fits the short form */
        for (;;) {
            if (i >= len)
                return DER_EEOF;
            if (++n > 3)
                return DER_ETAG;
            uint8_t b = buf[i++];
            tag = (tag << 8) | b;
            if (!(b & 0x80))
                break;
        }
    }
    if (i >= len)
        return DER_EEOF;
    uint8_t l0 = buf[i++];
    size_t vlen;
    if (l0 < 0x80) {
        vlen = l0;
    } else if (l0 == 0x80) {
        return DER_EINDEF;
    } else {
        size_t n = l0 & 0x7F;
        if (n > 4)
            return DER_ELENLONG;
        if (len - i < n)
            return DER_EEOF;
        if (buf[i] == 0)
            return DER_ENONMINIMAL;
        vlen = 0;
        for (size_t k = 0; k < n; k++)
            vlen = (vlen << 8) | buf[i++];
        if (vlen < 0x80)
            return DER_ENONMINIMAL;
    }
    if (len - i < vlen)
        return DER_EEOF;
    out->tag = tag;
    out->raw = buf;
    out->raw_len = i + vlen;
    out->value = buf + i;
    out->len = vlen;
    return DER_OK;
}

int der_parse_exact(const uint8_t *buf, size_t len, der_tlv *out)
{
    int rc = der_parse(buf, len, out);
    if (rc == DER_OK && out->raw_len != len)
        return DER_ETRAILING;
    return rc;
}

static int validate_rec(const uint8_t *buf, size_t len, int depth)
{
    while (len > 0) {
        der_tlv t;
        int rc = der_parse(buf, len, &t);
        if (rc)
            return rc;
        if (der_tag_constructed(t.tag)) {
            if (depth + 1 >= DER_MAX_DEPTH)
                return DER_EDEPTH;
            rc = validate_rec(t.value, t.len, depth + 1);
            if (rc)
                return rc;
        }
        buf += t.raw_len;
        len -= t.raw_len;
    }
    return DER_OK;
}

int der_validate(const uint8_t *buf, size_t len)
{
    der_tlv t;
    int rc = der_parse_exact(buf, len, &t);
    if (rc)
        return rc;
    if (der_tag_constructed(t.tag))
        return validate_rec(t.value, t.len, 1);
    return DER_OK;
}

void der_reader_init(der_reader *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->end = buf + len;
}

void der_reader_of(der_reader *r, const der_tlv *t)
{
    der_reader_init(r, t->value, t->len);
}

bool der_reader_done(const der_reader *r)
{
    return r->p >= r->end;
}

int der_next(der_reader *r, der_tlv *out)
{
    if (r->p >= r->end)
        return DER_EEOF;
    int rc = der_parse(r->p, (size_t)(r->end - r->p), out);
    if (rc == DER_OK)
        r->p += out->raw_len;
    return rc;
}

uint32_t der_peek_tag(const der_reader *r)
{
    der_tlv t;
    if (r->p >= r->end || der_parse(r->p, (size_t)(r->end - r->p), &t) != DER_OK)
        return 0;
    return t.tag;
}

int der_expect(der_reader *r, uint32_t tag, der_tlv *out)
{
    der_reader save = *r;
    int rc = der_next(r, out);
    if (rc)
        return rc;
    if (out->tag != tag) {
        *r = save;
        return DER_EUNEXPECTED;
    }
    return DER_OK;
}

int der_optional(der_reader *r, uint32_t tag, der_tlv *out)
{
    if (der_reader_done(r))
        return 0;
    der_tlv t;
    int rc = der_parse(r->p, (size_t)(r->end - r->p), &t);
    if (rc)
        return rc;
    if (t.tag != tag)
        return 0;
    r->p += t.raw_len;
    *out = t;
    return 1;
}

int der_find(der_reader *r, uint32_t tag, der_tlv *out)
{
    while (!der_reader_done(r)) {
        der_tlv t;
        int rc = der_next(r, &t);
        if (rc)
            return rc;
        if (t.tag == tag) {
            *out = t;
            return 1;
        }
    }
    return 0;
}

int der_get_bool(const der_tlv *t, bool *out)
{
    if (t->len != 1 || (t->value[0] != 0x00 && t->value[0] != 0xFF))
        return DER_EVALUE;
    *out = t->value[0] == 0xFF;
    return DER_OK;
}

int der_get_int(const der_tlv *t, int64_t *out)
{
    if (t->len == 0 || t->len > 8)
        return DER_EVALUE;
    /* DER integers are minimal: no redundant leading 00 or FF octet. */
    if (t->len > 1 &&
        ((t->value[0] == 0x00 && !(t->value[1] & 0x80)) || (t->value[0] == 0xFF && (t->value[1] & 0x80))))
        return DER_EVALUE;
    uint64_t v = (t->value[0] & 0x80) ? UINT64_MAX : 0;
    for (size_t i = 0; i < t->len; i++)
        v = (v << 8) | t->value[i];
    *out = (int64_t)v;
    return DER_OK;
}

/* ---- writer ---- */

void der_w_init(der_writer *w)
{
    memset(w, 0, sizeof(*w));
}

void der_w_free(der_writer *w)
{
    free(w->buf);
    der_w_init(w);
}

static bool w_reserve(der_writer *w, size_t extra)
{
    if (w->err)
        return false;
    if (extra > SIZE_MAX / 2 - w->len) {
        w->err = DER_ENOMEM;
        return false;
    }
    if (w->len + extra <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < w->len + extra)
        cap *= 2;
    uint8_t *nb = realloc(w->buf, cap);
    if (!nb) {
        w->err = DER_ENOMEM;
        return false;
    }
    w->buf = nb;
    w->cap = cap;
    return true;
}

void der_w_raw(der_writer *w, const void *data, size_t len)
{
    if (!w_reserve(w, len))
        return;
    if (len)
        memcpy(w->buf + w->len, data, len);
    w->len += len;
}

size_t der_put_tag(uint8_t *out, uint32_t tag)
{
    size_t n = tag > 0xFFFFFF ? 4 : tag > 0xFFFF ? 3 : tag > 0xFF ? 2 : 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(tag >> (8 * (n - 1 - i)));
    return n;
}

size_t der_put_len(uint8_t *out, size_t len)
{
    if (len < 0x80) {
        out[0] = (uint8_t)len;
        return 1;
    }
    size_t n = len > 0xFFFFFF ? 4 : len > 0xFFFF ? 3 : len > 0xFF ? 2 : 1;
    out[0] = (uint8_t)(0x80 | n);
    for (size_t i = 0; i < n; i++)
        out[1 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
    return n + 1;
}

void der_w_tlv(der_writer *w, uint32_t tag, const void *value, size_t len)
{
    uint8_t hdr[9];
    if (len > 0xFFFFFFFFu) {
        if (!w->err)
            w->err = DER_ELENLONG;
        return;
    }
    size_t n = der_put_tag(hdr, tag);
    n += der_put_len(hdr + n, len);
    der_w_raw(w, hdr, n);
    der_w_raw(w, value, len);
}

void der_w_bool(der_writer *w, uint32_t tag, bool v)
{
    uint8_t b = v ? 0xFF : 0x00;
    der_w_tlv(w, tag, &b, 1);
}

void der_w_int(der_writer *w, uint32_t tag, int64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (8 * (7 - i)));
    size_t s = 0;
    while (s < 7 && ((b[s] == 0x00 && !(b[s + 1] & 0x80)) || (b[s] == 0xFF && (b[s + 1] & 0x80))))
        s++;
    der_w_tlv(w, tag, b + s, 8 - s);
}

void der_w_begin(der_writer *w, uint32_t tag)
{
    if (w->err)
        return;
    if (w->depth >= DER_MAX_DEPTH) {
        w->err = DER_EDEPTH;
        return;
    }
    uint8_t hdr[4];
    size_t n = der_put_tag(hdr, tag);
    der_w_raw(w, hdr, n);
    /* One placeholder length octet; der_w_end() widens it if needed. */
    der_w_raw(w, "\0", 1);
    if (w->err)
        return;
    w->stack[w->depth++] = w->len - 1;
}

void der_w_end(der_writer *w)
{
    if (w->err)
        return;
    if (w->depth == 0) {
        w->err = DER_ESTATE;
        return;
    }
    size_t at = w->stack[--w->depth];
    size_t content = w->len - at - 1;
    if (content > 0xFFFFFFFFu) {
        w->err = DER_ELENLONG;
        return;
    }
    uint8_t lenbuf[5];
    size_t n = der_put_len(lenbuf, content);
    if (n > 1) {
        if (!w_reserve(w, n - 1))
            return;
        memmove(w->buf + at + n, w->buf + at + 1, content);
        w->len += n - 1;
    }
    memcpy(w->buf + at, lenbuf, n);
}

int der_w_finish(der_writer *w)
{
    if (w->err)
        return w->err;
    if (w->depth != 0)
        return DER_ESTATE;
    return DER_OK;
}
