/*
 * SGP.22 codecs.  Most structures are SEQUENCEs described by a field table and
 * handled by one table-driven decoder and encoder; the CHOICEs are written out
 * by hand around them.
 */
#include "asn1/sgp22.h"

#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NOLIM SIZE_MAX

/* ---- error location ---- */

static _Thread_local char err_where[96];

const char *sgp22_err_field(void)
{
    return err_where;
}

static void err_clear(void)
{
    err_where[0] = '\0';
}

/* Records the innermost failure only: callers return the code unchanged. */
static void err_set(const char *where, const char *field)
{
    if (err_where[0])
        return;
    if (field)
        snprintf(err_where, sizeof(err_where), "%s.%s", where, field);
    else
        snprintf(err_where, sizeof(err_where), "%s", where);
}

/* ---- value checks shared by decoders and encoders ---- */

/* Valid UTF-8 without NUL; counts characters (SIZE constraints on UTF8String
 * count characters, not octets). */
static bool utf8_ok(const uint8_t *p, size_t n, size_t *chars)
{
    size_t i = 0, c = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t k;
        uint32_t cp;
        if (b == 0)
            return false;
        if (b < 0x80) {
            i++;
            c++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) {
            k = 1;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            k = 2;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            k = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            uint8_t cb = p[i + j];
            if ((cb & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (cb & 0x3F);
        }
        if (k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            return false;
        if (k == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            return false;
        i += k + 1;
        c++;
    }
    *chars = c;
    return true;
}

/* DER BIT STRING value: unused-bit count 0..7, none for an empty string, and
 * the unused bits zero. */
static bool bits_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || p[0] > 7)
        return false;
    if (n == 1)
        return p[0] == 0;
    return (p[n - 1] & ((1u << p[0]) - 1)) == 0;
}

/* OBJECT IDENTIFIER value: non-empty, each sub-identifier minimal (no leading
 * 0x80) and terminated. */
static bool oid_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || (p[n - 1] & 0x80))
        return false;
    bool start = true;
    for (size_t i = 0; i < n; i++) {
        if (start && p[i] == 0x80)
            return false;
        start = !(p[i] & 0x80);
    }
    return true;
}

/* ---- field tables ---- */

enum kind {
    K_OCTETS, /* sgp22_bytes */
    K_UTF8,   /* sgp22_bytes, UTF-8, bounds in characters */
    K_BITS,   /* sgp22_bytes, BIT STRING value */
    K_OID,    /* sgp22_bytes, OBJECT IDENTIFIER value */
    K_INT,    /* int64_t */
    K_OPTINT, /* sgp22_int */
    K_BOOL,   /* bool */
    K_TLV,    /* der_tlv kept whole */
    K_LIST,   /* sgp22_list */
    K_SEQ,    /* nested struct described by `sub` */
    K_CUSTOM, /* handled by `custom` */
};

enum elem {
    E_VALUE, /* primitive element; items are sgp22_bytes values */
    E_TLV,   /* opaque element; items are sgp22_bytes holding complete TLVs */
    E_SEQ,   /* SEQUENCE element described by `sub`; items are structs */
};

#define F_OPT 0x01   /* OPTIONAL */
#define F_ANY 0x02   /* may appear anywhere (v3 fields whose position we do not know) */
#define F_POINT 0x04 /* uncompressed EC point: first octet 04 */
#define F_RANGE 0x08 /* K_INT: value in [min, max] */

struct spec;

struct custom_ops {
    bool (*match)(uint32_t tag); /* NULL: the field's tag */
    int (*dec)(const der_tlv *t, void *out);
    void (*enc)(der_writer *w, const void *in);
};

struct field {
    const char *name;
    uint32_t tag;
    uint8_t kind;
    uint8_t flags;
    uint8_t elem;
    uint32_t elem_tag;
    size_t min, max; /* octets, characters, or the K_INT range; for lists, per element */
    size_t off;
    size_t has_off; /* optional K_SEQ: offset of its `bool has_...`; 0 if none */
    const struct spec *sub;
    const struct custom_ops *custom;
};

/* Every struct a spec describes starts with `der_tlv raw`. */
struct spec {
    const char *name;
    size_t size;
    const struct field *f;
    size_t n;
};

#define SPEC(var, nm, type, fields) static const struct spec var = {nm, sizeof(type), fields, COUNT(fields)}

#define FLD(T, m, nm, tg, k, fl) .name = nm, .tag = tg, .kind = k, .flags = fl, .off = offsetof(T, m)
#define OCTETS(T, m, nm, tg, fl, lo, hi)                                                                     \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_OCTETS, fl), .min = lo, .max = hi                                                \
    }
#define UTF8(T, m, nm, tg, fl, lo, hi)                                                                       \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_UTF8, fl), .min = lo, .max = hi                                                  \
    }
#define BITS(T, m, nm, tg, fl)                                                                               \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_BITS, fl), .min = 1, .max = NOLIM                                                \
    }
#define OID(T, m, nm, tg, fl)                                                                                \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_OID, fl), .min = 1, .max = NOLIM                                                 \
    }
#define INT(T, m, nm, tg)                                                                                    \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_INT, 0)                                                                          \
    }
#define INTR(T, m, nm, tg, lo, hi)                                                                           \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_INT, F_RANGE), .min = lo, .max = hi                                              \
    }
#define OPTINT(T, m, nm, tg)                                                                                 \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_OPTINT, F_OPT)                                                                   \
    }
#define BOOL(T, m, nm, tg)                                                                                   \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_BOOL, 0)                                                                         \
    }
#define TLV(T, m, nm, tg, fl)                                                                                \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_TLV, fl), .min = 0, .max = NOLIM                                                 \
    }
#define LIST(T, m, nm, tg, fl, el, etg, lo, hi, sb)                                                          \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_LIST, fl), .elem = el, .elem_tag = etg, .min = lo, .max = hi, .sub = sb          \
    }
#define PKIDS(T, m, nm, tg, fl) LIST(T, m, nm, tg, fl, E_VALUE, 0x04, 1, 64, NULL)
#define SEQ(T, m, nm, tg, sb)                                                                                \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_SEQ, 0), .sub = sb                                                               \
    }
#define OPTSEQ(T, m, nm, tg, sb, has)                                                                        \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_SEQ, F_OPT), .sub = sb, .has_off = offsetof(T, has)                              \
    }
#define CUSTOM(T, m, nm, tg, ops)                                                                            \
    {                                                                                                        \
        FLD(T, m, nm, tg, K_CUSTOM, 0), .custom = ops                                                        \
    }

#define TID(T) OCTETS(T, transaction_id, "transactionId", 0x80, 0, 1, SGP22_TID_MAX)
#define VERSION(T, m, nm, tg, fl) OCTETS(T, m, nm, tg, fl, 3, 3)

/* ---- table-driven decoding ---- */

static int seq_decode(const struct spec *s, const der_tlv *t, void *out);

static int dfail(const struct spec *s, const struct field *f, int rc)
{
    err_set(s->name, f ? f->name : NULL);
    return rc;
}

static bool field_matches(const struct field *f, uint32_t tag)
{
    if (f->kind == K_CUSTOM && f->custom->match)
        return f->custom->match(tag);
    return f->tag == tag;
}

/* Checks a primitive value against the field's kind and bounds. */
static bool value_ok(const struct field *f, const uint8_t *p, size_t n, size_t lo, size_t hi)
{
    size_t size = n;
    switch (f->kind) {
    case K_UTF8:
        if (!utf8_ok(p, n, &size))
            return false;
        break;
    case K_BITS:
        if (!bits_ok(p, n))
            return false;
        break;
    case K_OID:
        if (!oid_ok(p, n))
            return false;
        break;
    default:
        break;
    }
    if (size < lo || size > hi)
        return false;
    if ((f->flags & F_POINT) && (n == 0 || p[0] != 0x04))
        return false;
    return true;
}

static int list_decode(const struct spec *s, const struct field *f, const der_tlv *t, sgp22_list *l)
{
    alignas(max_align_t) unsigned char tmp[256];
    der_reader r;
    size_t count = 0;
    der_reader_of(&r, t);
    while (!der_reader_done(&r)) {
        der_tlv e;
        int rc = der_next(&r, &e);
        if (rc)
            return dfail(s, f, rc);
        if (e.tag != f->elem_tag)
            return dfail(s, f, DER_EUNEXPECTED);
        switch (f->elem) {
        case E_VALUE:
            if (e.len < f->min || e.len > f->max)
                return dfail(s, f, DER_EVALUE);
            break;
        case E_TLV:
            if (e.len == 0)
                return dfail(s, f, DER_EVALUE);
            break;
        case E_SEQ:
            if (f->sub->size > sizeof(tmp))
                return dfail(s, f, DER_ESTATE);
            memset(tmp, 0, f->sub->size);
            rc = seq_decode(f->sub, &e, tmp);
            if (rc)
                return rc;
            break;
        }
        count++;
    }
    l->tlv = *t;
    l->count = count;
    l->items = NULL;
    return DER_OK;
}

static int field_decode(const struct spec *s, const struct field *f, const der_tlv *e, uint8_t *base)
{
    void *dst = base + f->off;
    int rc;
    switch (f->kind) {
    case K_OCTETS:
    case K_UTF8:
    case K_BITS:
    case K_OID: {
        if (!value_ok(f, e->value, e->len, f->min, f->max))
            return dfail(s, f, DER_EVALUE);
        sgp22_bytes *b = dst;
        b->p = e->value;
        b->len = e->len;
        return DER_OK;
    }
    case K_INT:
    case K_OPTINT: {
        int64_t v;
        if (der_get_int(e, &v))
            return dfail(s, f, DER_EVALUE);
        if ((f->flags & F_RANGE) && (v < 0 || (uint64_t)v < f->min || (uint64_t)v > f->max))
            return dfail(s, f, DER_EVALUE);
        if (f->kind == K_INT) {
            *(int64_t *)dst = v;
        } else {
            sgp22_int *o = dst;
            o->v = v;
            o->present = true;
        }
        return DER_OK;
    }
    case K_BOOL:
        if (der_get_bool(e, dst))
            return dfail(s, f, DER_EVALUE);
        return DER_OK;
    case K_TLV:
        if (e->len < f->min)
            return dfail(s, f, DER_EVALUE);
        *(der_tlv *)dst = *e;
        return DER_OK;
    case K_LIST:
        return list_decode(s, f, e, dst);
    case K_SEQ:
        rc = seq_decode(f->sub, e, dst);
        if (rc == DER_OK && f->has_off)
            *(bool *)(base + f->has_off) = true;
        return rc;
    case K_CUSTOM:
        return f->custom->dec(e, dst);
    }
    return dfail(s, f, DER_ESTATE);
}

/*
 * Fields must come in table order; fields with unknown tags are skipped (later
 * versions append them), and repeats are refused.  The first field at or after
 * the current position takes a tag, so consecutive fields may share one
 * (euiccSigned1, euiccCertificate, eumCertificate are all 30).
 */
static int seq_decode(const struct spec *s, const der_tlv *t, void *out)
{
    uint8_t *base = out;
    der_reader r;
    size_t next = 0;
    uint64_t seen = 0;
    memcpy(base, t, sizeof(*t));
    der_reader_of(&r, t);
    while (!der_reader_done(&r)) {
        der_tlv e;
        int rc = der_next(&r, &e);
        if (rc)
            return dfail(s, NULL, rc);
        size_t i;
        for (i = next; i < s->n; i++)
            if (!(s->f[i].flags & F_ANY) && field_matches(&s->f[i], e.tag))
                break;
        if (i == s->n) {
            /* Latest matching field, so a repeat names the field it repeats. */
            for (i = s->n; i-- > 0;)
                if (field_matches(&s->f[i], e.tag) && ((s->f[i].flags & F_ANY) || i < next))
                    break;
            if (i == (size_t)-1)
                continue; /* an extension we do not know */
        }
        const struct field *f = &s->f[i];
        if ((seen >> i) & 1 || (!(f->flags & F_ANY) && i < next))
            return dfail(s, f, DER_EUNEXPECTED); /* repeated or out of order */
        if (!(f->flags & F_ANY)) {
            for (size_t j = next; j < i; j++)
                if (!(s->f[j].flags & F_OPT))
                    return dfail(s, &s->f[j], DER_EUNEXPECTED); /* mandatory field missing */
            next = i + 1;
        }
        seen |= (uint64_t)1 << i;
        rc = field_decode(s, f, &e, base);
        if (rc)
            return rc;
    }
    for (size_t j = next; j < s->n; j++)
        if (!(s->f[j].flags & F_OPT))
            return dfail(s, &s->f[j], DER_EUNEXPECTED);
    return DER_OK;
}

static int top_decode(const struct spec *s, uint32_t tag, const uint8_t *buf, size_t len, void *out)
{
    der_tlv t;
    err_clear();
    memset(out, 0, s->size);
    int rc = der_parse_exact(buf, len, &t);
    if (rc)
        return dfail(s, NULL, rc);
    if (t.tag != tag)
        return dfail(s, NULL, DER_EUNEXPECTED);
    return seq_decode(s, &t, out);
}

/* A CHOICE at the top level: outer `tag` holding exactly one alternative. */
static int choice_open(const char *name, uint32_t tag, const uint8_t *buf, size_t len, der_tlv *outer,
                       der_tlv *alt)
{
    err_clear();
    int rc = der_parse_exact(buf, len, outer);
    if (rc == DER_OK && outer->tag != tag)
        rc = DER_EUNEXPECTED;
    if (rc == DER_OK)
        rc = der_parse_exact(outer->value, outer->len, alt);
    if (rc)
        err_set(name, NULL);
    return rc;
}

/* ---- table-driven encoding ---- */

static void seq_encode(der_writer *w, uint32_t tag, const struct spec *s, const void *in);

static void efail(der_writer *w, const struct spec *s, const struct field *f, int rc)
{
    if (!w->err) {
        w->err = rc;
        err_set(s->name, f ? f->name : NULL);
    }
}

/* Copies a caller-supplied TLV after checking it is one TLV with `tag`. */
static void copy_tlv(der_writer *w, const struct spec *s, const struct field *f, const uint8_t *p, size_t n,
                     uint32_t tag)
{
    der_tlv t;
    if (der_parse_exact(p, n, &t) != DER_OK || t.tag != tag) {
        efail(w, s, f, DER_EVALUE);
        return;
    }
    der_w_raw(w, p, n);
}

/* A nested structure: its raw bytes when set, else its fields. */
static void nested_encode(der_writer *w, const struct spec *parent, const struct field *f, uint32_t tag,
                          const struct spec *s, const void *in)
{
    const der_tlv *raw = in;
    if (raw->raw)
        copy_tlv(w, parent, f, raw->raw, raw->raw_len, tag);
    else
        seq_encode(w, tag, s, in);
}

static void list_encode(der_writer *w, const struct spec *s, const struct field *f, const sgp22_list *l)
{
    if (l->tlv.raw) {
        copy_tlv(w, s, f, l->tlv.raw, l->tlv.raw_len, f->tag);
        return;
    }
    if (!l->items && (f->flags & F_OPT))
        return;
    if (!l->items && l->count) {
        efail(w, s, f, DER_EVALUE);
        return;
    }
    der_w_begin(w, f->tag);
    for (size_t i = 0; i < l->count; i++) {
        if (f->elem == E_SEQ) {
            const uint8_t *item = (const uint8_t *)l->items + i * f->sub->size;
            nested_encode(w, s, f, f->elem_tag, f->sub, item);
            continue;
        }
        const sgp22_bytes *b = (const sgp22_bytes *)l->items + i;
        if (!b->p) {
            efail(w, s, f, DER_EVALUE);
        } else if (f->elem == E_VALUE) {
            if (b->len < f->min || b->len > f->max)
                efail(w, s, f, DER_EVALUE);
            der_w_tlv(w, f->elem_tag, b->p, b->len);
        } else {
            der_tlv t;
            if (der_parse_exact(b->p, b->len, &t) != DER_OK || t.tag != f->elem_tag || t.len == 0)
                efail(w, s, f, DER_EVALUE);
            der_w_raw(w, b->p, b->len);
        }
    }
    der_w_end(w);
}

static void field_encode(der_writer *w, const struct spec *s, const struct field *f, const uint8_t *base)
{
    const void *src = base + f->off;
    switch (f->kind) {
    case K_OCTETS:
    case K_UTF8:
    case K_BITS:
    case K_OID: {
        const sgp22_bytes *b = src;
        const uint8_t *p = b->p;
        if (!p) {
            if (f->flags & F_OPT)
                return;
            if (b->len || !value_ok(f, (const uint8_t *)"", 0, f->min, f->max)) {
                efail(w, s, f, DER_EVALUE);
                return;
            }
            p = (const uint8_t *)"";
        }
        if (!value_ok(f, p, b->len, f->min, f->max)) {
            efail(w, s, f, DER_EVALUE);
            return;
        }
        der_w_tlv(w, f->tag, p, b->len);
        return;
    }
    case K_INT: {
        int64_t v = *(const int64_t *)src;
        if ((f->flags & F_RANGE) && (v < 0 || (uint64_t)v < f->min || (uint64_t)v > f->max)) {
            efail(w, s, f, DER_EVALUE);
            return;
        }
        der_w_int(w, f->tag, v);
        return;
    }
    case K_OPTINT: {
        const sgp22_int *o = src;
        if (o->present)
            der_w_int(w, f->tag, o->v);
        return;
    }
    case K_BOOL:
        der_w_bool(w, f->tag, *(const bool *)src);
        return;
    case K_TLV: {
        const der_tlv *t = src;
        if (!t->raw) {
            if (!(f->flags & F_OPT))
                efail(w, s, f, DER_EVALUE);
            return;
        }
        copy_tlv(w, s, f, t->raw, t->raw_len, f->tag);
        return;
    }
    case K_LIST:
        list_encode(w, s, f, src);
        return;
    case K_SEQ:
        if (f->has_off && !*(const bool *)(base + f->has_off))
            return;
        nested_encode(w, s, f, f->tag, f->sub, src);
        return;
    case K_CUSTOM:
        f->custom->enc(w, src);
        return;
    }
}

static void fields_encode(der_writer *w, const struct spec *s, const void *in, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        field_encode(w, s, &s->f[i], in);
}

static void seq_encode(der_writer *w, uint32_t tag, const struct spec *s, const void *in)
{
    der_w_begin(w, tag);
    fields_encode(w, s, in, 0, s->n);
    der_w_end(w);
}

static int top_encode(der_writer *w, uint32_t tag, const struct spec *s, const void *in)
{
    err_clear();
    seq_encode(w, tag, s, in);
    return w->err;
}

/* ---- the structures ---- */

#define T sgp22_euicc_info1
static const struct field f_euicc_info1[] = {
    VERSION(T, svn, "svn", 0x82, 0),
    PKIDS(T, ci_pkid_verify, "euiccCiPKIdListForVerification", 0xA9, 0),
    PKIDS(T, ci_pkid_sign, "euiccCiPKIdListForSigning", 0xAA, 0),
    PKIDS(T, ci_pkid_sign_v3, "euiccCiPKIdListForSigningV3", 0xB1, F_OPT | F_ANY),
    BITS(T, rsp_capability, "euiccRspCapability", 0x88, F_OPT | F_ANY),
    VERSION(T, highest_svn, "highestSvn", 0x93, F_OPT | F_ANY),
};
SPEC(spec_euicc_info1, "EUICCInfo1", T, f_euicc_info1);
#undef T

#define T sgp22_euicc_info2
static const struct field f_euicc_info2[] = {
    VERSION(T, profile_version, "profileVersion", 0x81, 0),
    VERSION(T, svn, "svn", 0x82, 0),
    VERSION(T, firmware_version, "euiccFirmwareVer", 0x83, 0),
    OCTETS(T, ext_card_resource, "extCardResource", 0x84, 0, 0, NOLIM),
    BITS(T, uicc_capability, "uiccCapability", 0x85, 0),
    VERSION(T, ts102241_version, "ts102241Version", 0x86, F_OPT),
    VERSION(T, gp_version, "globalplatformVersion", 0x87, F_OPT),
    BITS(T, rsp_capability, "rspCapability", 0x88, 0),
    PKIDS(T, ci_pkid_verify, "euiccCiPKIdListForVerification", 0xA9, 0),
    PKIDS(T, ci_pkid_sign, "euiccCiPKIdListForSigning", 0xAA, 0),
    OPTINT(T, euicc_category, "euiccCategory", 0x8B),
    BITS(T, forbidden_ppr, "forbiddenProfilePolicyRules", 0x99, F_OPT),
    VERSION(T, pp_version, "ppVersion", 0x04, 0),
    UTF8(T, sas_accreditation, "sasAcreditationNumber", 0x0C, 0, 0, 64),
    TLV(T, certification_data, "certificationDataObject", 0xAC, F_OPT),
    BITS(T, tre_properties, "treProperties", 0x8D, F_OPT),
    UTF8(T, tre_product_ref, "treProductReference", 0x8E, F_OPT, 0, NOLIM),
    TLV(T, additional_pp_versions, "additionalEuiccProfilePackageVersions", 0xAF, F_OPT),
    OPTINT(T, lpa_mode, "lpaMode", 0x90),
    PKIDS(T, ci_pkid_sign_v3, "euiccCiPKIdListForSigningV3", 0xB1, F_OPT),
    OCTETS(T, additional_info, "additionalEuiccInfo", 0x92, F_OPT, 0, 32),
    VERSION(T, highest_svn, "highestSvn", 0x93, F_OPT),
    TLV(T, iot_specific_info, "iotSpecificInfo", 0xB4, F_OPT),
    OCTETS(T, min_security_level, "euiccMinimumSecurityLevel", 0x95, F_OPT, 1, 1),
};
SPEC(spec_euicc_info2, "EUICCInfo2", T, f_euicc_info2);
#undef T

#define T sgp22_server_signed1
static const struct field f_server_signed1[] = {
    TID(T),
    OCTETS(T, euicc_challenge, "euiccChallenge", 0x81, 0, SGP22_CHALLENGE_LEN, SGP22_CHALLENGE_LEN),
    UTF8(T, server_address, "serverAddress", 0x83, 0, 0, NOLIM),
    OCTETS(T, server_challenge, "serverChallenge", 0x84, 0, SGP22_CHALLENGE_LEN, SGP22_CHALLENGE_LEN),
    TLV(T, session_context, "sessionContext", 0xA5, F_OPT),
    BITS(T, server_rsp_capability, "serverRspCapability", 0x86, F_OPT),
};
SPEC(spec_server_signed1, "ServerSigned1", T, f_server_signed1);
#undef T

#define T sgp22_device_capabilities
#define CAP(i, nm) VERSION(T, release[i], nm, 0x80 + (i), F_OPT)
static const struct field f_devcaps[] = {
    CAP(SGP22_DEVCAP_GSM, "gsmSupportedRelease"),
    CAP(SGP22_DEVCAP_UTRAN, "utranSupportedRelease"),
    CAP(SGP22_DEVCAP_CDMA2000_1X, "cdma2000onexSupportedRelease"),
    CAP(SGP22_DEVCAP_CDMA2000_HRPD, "cdma2000hrpdSupportedRelease"),
    CAP(SGP22_DEVCAP_CDMA2000_EHRPD, "cdma2000ehrpdSupportedRelease"),
    CAP(SGP22_DEVCAP_EUTRAN_EPC, "eutranEpcSupportedRelease"),
    CAP(SGP22_DEVCAP_CONTACTLESS, "contactlessSupportedRelease"),
    CAP(SGP22_DEVCAP_RSP_CRL, "rspCrlSupportedVersion"),
    CAP(SGP22_DEVCAP_NR_EPC, "nrEpcSupportedRelease"),
    CAP(SGP22_DEVCAP_NR_5GC, "nr5gcSupportedRelease"),
    CAP(SGP22_DEVCAP_EUTRAN_5GC, "eutran5gcSupportedRelease"),
    CAP(SGP22_DEVCAP_LPA_SVN, "lpaSvn"),
};
#undef CAP
SPEC(spec_devcaps, "DeviceCapabilities", T, f_devcaps);
#undef T

#define T sgp22_device_info
static const struct field f_device_info[] = {
    OCTETS(T, tac, "tac", 0x80, 0, 4, 4),
    SEQ(T, capabilities, "deviceCapabilities", 0xA1, &spec_devcaps),
    OCTETS(T, imei, "imei", 0x82, F_OPT, 8, 8),
};
SPEC(spec_device_info, "DeviceInfo", T, f_device_info);
#undef T

#define T sgp22_ctx_params1
static const struct field f_common_auth[] = {
    UTF8(T, matching_id, "matchingId", 0x80, F_OPT, 0, NOLIM),
    SEQ(T, device_info, "deviceInfo", 0xA1, &spec_device_info),
    BITS(T, operation_type, "operationType", 0x82, F_OPT),
    OCTETS(T, iccid, "iccid", 0x5A, F_OPT, SGP22_ICCID_LEN, SGP22_ICCID_LEN),
};
SPEC(spec_common_auth, "CtxParamsForCommonAuthentication", T, f_common_auth);
#undef T

bool sgp22_ctx_is_download(const sgp22_ctx_params1 *c)
{
    if (c->choice != 0 && c->choice != SGP22_CTX_COMMON_AUTH)
        return false;
    return c->operation_type.p == NULL || sgp22_bit(c->operation_type, SGP22_OP_PROFILE_DOWNLOAD);
}

/* CtxParams1 is an untagged CHOICE: its alternative's tag appears in place. */
static bool ctx_match(uint32_t tag)
{
    return tag >= 0xA0 && tag <= 0xA3;
}

static int ctx_dec(const der_tlv *t, void *out)
{
    sgp22_ctx_params1 *c = out;
    int rc = DER_OK;
    if (t->tag == SGP22_CTX_COMMON_AUTH)
        rc = seq_decode(&spec_common_auth, t, c);
    else
        c->raw = *t;
    c->choice = t->tag;
    return rc;
}

static const struct spec spec_ctx_params1 = {"CtxParams1", sizeof(sgp22_ctx_params1), NULL, 0};

static void ctx_enc(der_writer *w, const void *in)
{
    const sgp22_ctx_params1 *c = in;
    if (c->choice == 0 || c->choice == SGP22_CTX_COMMON_AUTH)
        nested_encode(w, &spec_ctx_params1, NULL, SGP22_CTX_COMMON_AUTH, &spec_common_auth, c);
    else if (c->raw.raw && ctx_match(c->choice))
        copy_tlv(w, &spec_ctx_params1, NULL, c->raw.raw, c->raw.raw_len, c->choice);
    else
        efail(w, &spec_ctx_params1, NULL, DER_EVALUE);
}

static const struct custom_ops ctx_ops = {ctx_match, ctx_dec, ctx_enc};

#define T sgp22_euicc_signed1
static const struct field f_euicc_signed1[] = {
    TID(T),
    UTF8(T, server_address, "serverAddress", 0x83, 0, 0, NOLIM),
    OCTETS(T, server_challenge, "serverChallenge", 0x84, 0, SGP22_CHALLENGE_LEN, SGP22_CHALLENGE_LEN),
    SEQ(T, euicc_info2, "euiccInfo2", SGP22_TAG_EUICC_INFO2, &spec_euicc_info2),
    CUSTOM(T, ctx_params1, "ctxParams1", 0, &ctx_ops),
};
SPEC(spec_euicc_signed1, "EuiccSigned1", T, f_euicc_signed1);
#undef T

#define T sgp22_auth_resp_ok
static const struct field f_auth_ok[] = {
    SEQ(T, euicc_signed1, "euiccSigned1", 0x30, &spec_euicc_signed1),
    OCTETS(T, euicc_signature1, "euiccSignature1", SGP22_TAG_SIGNATURE, 0, SGP22_SIG_LEN, SGP22_SIG_LEN),
    {FLD(T, euicc_certificate, "euiccCertificate", 0x30, K_TLV, 0), .min = 1},
    {FLD(T, eum_certificate, "eumCertificate", 0x30, K_TLV, 0), .min = 1},
    LIST(T, other_certs, "otherCertsInChain", 0xA0, F_OPT, E_TLV, 0x30, 0, NOLIM, NULL),
};
SPEC(spec_auth_ok, "AuthenticateResponseOk", T, f_auth_ok);
#undef T

#define T sgp22_tid_error
static const struct field f_tid_error[] = {
    TID(T),
    INT(T, code, "errorCode", 0x02),
};
SPEC(spec_tid_error, "ResponseError", T, f_tid_error);
#undef T

#define T sgp22_smdp_signed2
static const struct field f_smdp_signed2[] = {
    TID(T),
    BOOL(T, cc_required, "ccRequiredFlag", 0x01),
    OCTETS(T, bpp_euicc_otpk, "bppEuiccOtpk", SGP22_TAG_OTPK, F_OPT | F_POINT, SGP22_POINT_LEN,
           SGP22_POINT_LEN),
};
SPEC(spec_smdp_signed2, "SmdpSigned2", T, f_smdp_signed2);
#undef T

#define T sgp22_euicc_signed2
static const struct field f_euicc_signed2[] = {
    TID(T),
    OCTETS(T, euicc_otpk, "euiccOtpk", SGP22_TAG_OTPK, F_POINT, SGP22_POINT_LEN, SGP22_POINT_LEN),
    OCTETS(T, hash_cc, "hashCc", 0x04, F_OPT, 32, 32),
};
SPEC(spec_euicc_signed2, "EUICCSigned2", T, f_euicc_signed2);
#undef T

#define T sgp22_prepare_dl_ok
static const struct field f_prepare_dl_ok[] = {
    SEQ(T, euicc_signed2, "euiccSigned2", 0x30, &spec_euicc_signed2),
    OCTETS(T, euicc_signature2, "euiccSignature2", SGP22_TAG_SIGNATURE, 0, SGP22_SIG_LEN, SGP22_SIG_LEN),
};
SPEC(spec_prepare_dl_ok, "PrepareDownloadResponseOk", T, f_prepare_dl_ok);
#undef T

#define T sgp22_notif_config
static const struct field f_notif_config[] = {
    BITS(T, pmo, "profileManagementOperation", 0x80, 0),
    UTF8(T, address, "notificationAddress", 0x81, 0, 0, NOLIM),
};
SPEC(spec_notif_config, "NotificationConfigurationInformation", T, f_notif_config);
#undef T

#define T sgp22_operator_id
static const struct field f_operator_id[] = {
    OCTETS(T, mcc_mnc, "mccMnc", 0x80, 0, 3, 3),
    OCTETS(T, gid1, "gid1", 0x81, F_OPT, 0, NOLIM),
    OCTETS(T, gid2, "gid2", 0x82, F_OPT, 0, NOLIM),
};
SPEC(spec_operator_id, "OperatorId", T, f_operator_id);
#undef T

#define T sgp22_store_metadata
static const struct field f_store_metadata[] = {
    OCTETS(T, iccid, "iccid", 0x5A, 0, SGP22_ICCID_LEN, SGP22_ICCID_LEN),
    UTF8(T, service_provider_name, "serviceProviderName", 0x91, 0, 0, 32),
    UTF8(T, profile_name, "profileName", 0x92, 0, 0, 64),
    OPTINT(T, icon_type, "iconType", 0x93),
    OCTETS(T, icon, "icon", 0x94, F_OPT, 0, 1024),
    OPTINT(T, profile_class, "profileClass", 0x95),
    LIST(T, notification_config, "notificationConfigurationInfo", 0xB6, F_OPT, E_SEQ, 0x30, 0, NOLIM,
         &spec_notif_config),
    OPTSEQ(T, profile_owner, "profileOwner", 0xB7, &spec_operator_id, has_profile_owner),
    BITS(T, ppr, "profilePolicyRules", 0x99, F_OPT),
    TLV(T, service_specific_stored, "serviceSpecificDataStoredInEuicc", 0xBF22, F_OPT),
    TLV(T, service_specific_not_stored, "serviceSpecificDataNotStoredInEuicc", 0xBF23, F_OPT),
};
SPEC(spec_store_metadata, "StoreMetadataRequest", T, f_store_metadata);
#undef T

#define T sgp22_notification_metadata
static const struct field f_notification_metadata[] = {
    INT(T, seq_number, "seqNumber", 0x80),
    BITS(T, pmo, "profileManagementOperation", 0x81, 0),
    UTF8(T, notification_address, "notificationAddress", 0x0C, 0, 0, NOLIM),
    OCTETS(T, iccid, "iccid", 0x5A, F_OPT, SGP22_ICCID_LEN, SGP22_ICCID_LEN),
};
SPEC(spec_notification_metadata, "NotificationMetadata", T, f_notification_metadata);
#undef T

#define T sgp22_pir_success
static const struct field f_pir_success[] = {
    OCTETS(T, aid, "aid", 0x4F, 0, 5, 16),
    OCTETS(T, sima_response, "simaResponse", 0x04, 0, 0, NOLIM),
};
SPEC(spec_pir_success, "SuccessResult", T, f_pir_success);
#undef T

#define T sgp22_pir_error
static const struct field f_pir_error[] = {
    INT(T, bpp_command_id, "bppCommandId", 0x80),
    INT(T, error_reason, "errorReason", 0x81),
    OCTETS(T, sima_response, "simaResponse", 0x82, F_OPT, 0, NOLIM),
};
SPEC(spec_pir_error, "ErrorResult", T, f_pir_error);
#undef T

/* finalResult [2] CHOICE: a CHOICE tag is explicit, so A2 wraps A0 or A1. */
static const struct spec spec_final_result = {"finalResult", sizeof(sgp22_pir_final_result), NULL, 0};

static int final_dec(const der_tlv *t, void *out)
{
    sgp22_pir_final_result *fr = out;
    der_tlv alt;
    int rc = der_parse_exact(t->value, t->len, &alt);
    if (rc)
        return dfail(&spec_final_result, NULL, rc);
    fr->raw = *t;
    if (alt.tag == 0xA0) {
        fr->success = true;
        return seq_decode(&spec_pir_success, &alt, &fr->ok);
    }
    if (alt.tag == 0xA1) {
        fr->success = false;
        return seq_decode(&spec_pir_error, &alt, &fr->error);
    }
    return dfail(&spec_final_result, NULL, DER_EUNEXPECTED);
}

static void final_enc(der_writer *w, const void *in)
{
    const sgp22_pir_final_result *fr = in;
    if (fr->raw.raw) {
        copy_tlv(w, &spec_final_result, NULL, fr->raw.raw, fr->raw.raw_len, 0xA2);
        return;
    }
    der_w_begin(w, 0xA2);
    if (fr->success)
        nested_encode(w, &spec_final_result, NULL, 0xA0, &spec_pir_success, &fr->ok);
    else
        nested_encode(w, &spec_final_result, NULL, 0xA1, &spec_pir_error, &fr->error);
    der_w_end(w);
}

static const struct custom_ops final_ops = {NULL, final_dec, final_enc};

#define T sgp22_pir_data
static const struct field f_pir_data[] = {
    TID(T),
    SEQ(T, notification_metadata, "notificationMetadata", SGP22_TAG_NOTIFICATION_METADATA,
        &spec_notification_metadata),
    OID(T, smdp_oid, "smdpOid", 0x06, F_OPT),
    CUSTOM(T, final_result, "finalResult", 0xA2, &final_ops),
};
SPEC(spec_pir_data, "ProfileInstallationResultData", T, f_pir_data);
#undef T

#define T sgp22_pir
static const struct field f_pir[] = {
    SEQ(T, data, "profileInstallationResultData", SGP22_TAG_PIR_DATA, &spec_pir_data),
    OCTETS(T, euicc_sign_pir, "euiccSignPIR", SGP22_TAG_SIGNATURE, 0, SGP22_SIG_LEN, SGP22_SIG_LEN),
};
SPEC(spec_pir, "ProfileInstallationResult", T, f_pir);
#undef T

#define T sgp22_cancel_session_signed
static const struct field f_cancel_signed[] = {
    TID(T),
    OID(T, smdp_oid, "smdpOid", 0x81, 0),
    INT(T, reason, "reason", 0x82),
};
SPEC(spec_cancel_signed, "EuiccCancelSessionSigned", T, f_cancel_signed);
#undef T

#define T sgp22_cancel_session_ok
static const struct field f_cancel_ok[] = {
    SEQ(T, euicc_cancel_session_signed, "euiccCancelSessionSigned", 0x30, &spec_cancel_signed),
    OCTETS(T, euicc_cancel_session_signature, "euiccCancelSessionSignature", SGP22_TAG_SIGNATURE, 0,
           SGP22_SIG_LEN, SGP22_SIG_LEN),
};
SPEC(spec_cancel_ok, "CancelSessionResponseOk", T, f_cancel_ok);
#undef T

#define T sgp22_crt
static const struct field f_crt[] = {
    OCTETS(T, key_type, "keyType", 0x80, 0, 1, 1),
    OCTETS(T, key_len, "keyLen", 0x81, 0, 1, 1),
    OCTETS(T, host_id, "hostId", 0x84, 0, 1, 16),
};
SPEC(spec_crt, "ControlRefTemplate", T, f_crt);
#undef T

#define T sgp22_init_secure_channel
static const struct field f_isc[] = {
    INTR(T, remote_op_id, "remoteOpId", 0x82, 1, 1),
    TID(T),
    SEQ(T, control_ref_template, "controlRefTemplate", 0xA6, &spec_crt),
    OCTETS(T, smdp_otpk, "smdpOtpk", SGP22_TAG_OTPK, F_POINT, SGP22_POINT_LEN, SGP22_POINT_LEN),
    OCTETS(T, smdp_sign, "smdpSign", SGP22_TAG_SIGNATURE, 0, SGP22_SIG_LEN, SGP22_SIG_LEN),
};
SPEC(spec_isc, "InitialiseSecureChannelRequest", T, f_isc);
#undef T

#define T sgp22_dp_proprietary_data
static const struct field f_dp_prop[] = {
    OID(T, dp_oid, "dpOid", 0x80, 0),
};
SPEC(spec_dp_prop, "DpProprietaryData", T, f_dp_prop);
#undef T

#define T sgp22_configure_isdp
static const struct field f_configure_isdp[] = {
    OPTSEQ(T, dp_proprietary_data, "dpProprietaryData", 0xB8, &spec_dp_prop, has_dp_proprietary_data),
};
SPEC(spec_configure_isdp, "ConfigureISDPRequest", T, f_configure_isdp);
#undef T

#define T sgp22_replace_session_keys
static const struct field f_rsk[] = {
    OCTETS(T, initial_mcv, "initialMacChainingValue", 0x80, 0, 16, 16),
    OCTETS(T, ppk_enc, "ppkEnc", 0x81, 0, 16, 16),
    OCTETS(T, ppk_cmac, "ppkCmac", 0x82, 0, 16, 16),
};
SPEC(spec_rsk, "ReplaceSessionKeysRequest", T, f_rsk);
#undef T

#define T sgp22_bpp
#define SEGS(m, nm, tg, fl, et) LIST(T, m, nm, tg, fl, E_TLV, et, 0, NOLIM, NULL)
static const struct field f_bpp[] = {
    SEQ(T, init_secure_channel, "initialiseSecureChannelRequest", SGP22_TAG_INIT_SECURE_CHANNEL, &spec_isc),
    SEGS(first_seq87, "firstSequenceOf87", 0xA0, 0, 0x87),
    SEGS(seq88, "sequenceOf88", 0xA1, 0, 0x88),
    SEGS(second_seq87, "secondSequenceOf87", 0xA2, F_OPT, 0x87),
    SEGS(seq86, "sequenceOf86", 0xA3, 0, 0x86),
};
#undef SEGS
SPEC(spec_bpp, "BoundProfilePackage", T, f_bpp);
#undef T

#define T sgp22_event_entry
static const struct field f_event_entry[] = {
    UTF8(T, event_id, "eventId", 0x80, 0, 0, NOLIM),
    UTF8(T, rsp_server_address, "rspServerAddress", 0x81, 0, 0, NOLIM),
};
SPEC(spec_event_entry, "EventEntries", T, f_event_entry);
#undef T

#define T sgp22_es11_ok
static const struct field f_es11_ok[] = {
    TID(T),
    LIST(T, event_entries, "eventEntries", 0xA1, 0, E_SEQ, 0x30, 0, NOLIM, &spec_event_entry),
};
SPEC(spec_es11_ok, "AuthenticateClientOkEs11", T, f_es11_ok);
#undef T

/* ---- public: helpers ---- */

bool sgp22_bit(sgp22_bytes bits, unsigned n)
{
    if (!bits.p || bits.len < 2 || bits.p[0] > 7)
        return false;
    size_t byte = 1 + n / 8;
    unsigned shift = 7 - n % 8;
    if (byte >= bits.len || (byte == bits.len - 1 && shift < bits.p[0]))
        return false;
    return (bits.p[byte] >> shift) & 1;
}

size_t sgp22_bits_from_mask(uint32_t mask, uint8_t out[5])
{
    if (mask == 0) {
        out[0] = 0;
        return 1;
    }
    unsigned high = 0;
    for (unsigned n = 0; n < 32; n++)
        if ((mask >> n) & 1)
            high = n;
    size_t nbytes = high / 8 + 1;
    memset(out + 1, 0, nbytes);
    for (unsigned n = 0; n <= high; n++)
        if ((mask >> n) & 1)
            out[1 + n / 8] |= (uint8_t)(0x80 >> (n % 8));
    out[0] = (uint8_t)(7 - high % 8);
    return nbytes + 1;
}

void sgp22_list_reader(const sgp22_list *l, der_reader *r)
{
    if (l->tlv.raw)
        der_reader_of(r, &l->tlv);
    else
        der_reader_init(r, NULL, 0);
}

int sgp22_list_at(const sgp22_list *l, size_t i, der_tlv *out)
{
    der_reader r;
    sgp22_list_reader(l, &r);
    for (size_t k = 0;; k++) {
        int rc = der_next(&r, out);
        if (rc || k == i)
            return rc;
    }
}

bool sgp22_list_has(const sgp22_list *l, const uint8_t *id, size_t len)
{
    if (!l->tlv.raw) {
        const sgp22_bytes *items = l->items;
        for (size_t i = 0; items && i < l->count; i++)
            if (items[i].p && items[i].len == len && memcmp(items[i].p, id, len) == 0)
                return true;
        return false;
    }
    der_reader r;
    der_tlv e;
    sgp22_list_reader(l, &r);
    while (der_next(&r, &e) == DER_OK)
        if (e.len == len && memcmp(e.value, id, len) == 0)
            return true;
    return false;
}

static int elem_decode(const struct spec *s, const der_tlv *elem, void *out)
{
    err_clear();
    memset(out, 0, s->size);
    if (elem->tag != 0x30)
        return dfail(s, NULL, DER_EUNEXPECTED);
    return seq_decode(s, elem, out);
}

int sgp22_event_entry_decode(const der_tlv *elem, sgp22_event_entry *out)
{
    return elem_decode(&spec_event_entry, elem, out);
}

int sgp22_notif_config_decode(const der_tlv *elem, sgp22_notif_config *out)
{
    return elem_decode(&spec_notif_config, elem, out);
}

int sgp22_oid_encode(const char *dotted, uint8_t *out, size_t cap, size_t *out_len)
{
    uint64_t arcs[2] = {0, 0};
    size_t n = 0, len = 0;
    const char *p = dotted;
    for (;;) {
        if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
            return DER_EVALUE; /* empty arc or leading zero */
        uint64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                return DER_EVALUE;
            v = v * 10 + (uint64_t)(*p++ - '0');
        }
        if (n < 2) {
            arcs[n] = v;
        }
        if (n == 1) {
            if (arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) || arcs[1] > UINT64_MAX - 80)
                return DER_EVALUE;
            v = arcs[0] * 40 + arcs[1];
        }
        if (n >= 1) {
            uint8_t tmp[10];
            size_t k = 0;
            do {
                tmp[k++] = (uint8_t)(v & 0x7F);
                v >>= 7;
            } while (v);
            if (cap - len < k)
                return DER_EVALUE;
            while (k--)
                out[len++] = (uint8_t)(tmp[k] | (k ? 0x80 : 0));
        }
        n++;
        if (*p == '\0')
            break;
        if (*p++ != '.')
            return DER_EVALUE;
    }
    if (n < 2)
        return DER_EVALUE;
    *out_len = len;
    return DER_OK;
}

int sgp22_oid_format(const uint8_t *oid, size_t len, char *out, size_t cap)
{
    size_t pos = 0;
    bool first = true;
    if (!oid_ok(oid, len) || cap == 0)
        return DER_EVALUE;
    for (size_t i = 0; i < len;) {
        uint64_t v = 0;
        do {
            if (v >> 57)
                return DER_EVALUE;
            v = (v << 7) | (oid[i] & 0x7F);
        } while (oid[i++] & 0x80);
        int k;
        if (first) {
            uint64_t a = v < 40 ? 0 : v < 80 ? 1 : 2;
            k = snprintf(out + pos, cap - pos, "%llu.%llu", (unsigned long long)a,
                         (unsigned long long)(v - a * 40));
            first = false;
        } else {
            k = snprintf(out + pos, cap - pos, ".%llu", (unsigned long long)v);
        }
        if (k < 0 || (size_t)k >= cap - pos)
            return DER_EVALUE;
        pos += (size_t)k;
    }
    return DER_OK;
}

/* ---- public: SEQUENCE structures ---- */

#define SEQ_CODEC(fn, type, spec, tag)                                                                       \
    int fn##_decode(const uint8_t *buf, size_t len, type *out)                                               \
    {                                                                                                        \
        return top_decode(&spec, tag, buf, len, out);                                                        \
    }                                                                                                        \
    int fn##_encode(der_writer *w, const type *in)                                                           \
    {                                                                                                        \
        return top_encode(w, tag, &spec, in);                                                                \
    }

SEQ_CODEC(sgp22_euicc_info1, sgp22_euicc_info1, spec_euicc_info1, SGP22_TAG_EUICC_INFO1)
SEQ_CODEC(sgp22_euicc_info2, sgp22_euicc_info2, spec_euicc_info2, SGP22_TAG_EUICC_INFO2)
SEQ_CODEC(sgp22_server_signed1, sgp22_server_signed1, spec_server_signed1, 0x30)
SEQ_CODEC(sgp22_euicc_signed1, sgp22_euicc_signed1, spec_euicc_signed1, 0x30)
SEQ_CODEC(sgp22_smdp_signed2, sgp22_smdp_signed2, spec_smdp_signed2, 0x30)
SEQ_CODEC(sgp22_euicc_signed2, sgp22_euicc_signed2, spec_euicc_signed2, 0x30)
SEQ_CODEC(sgp22_pir_data, sgp22_pir_data, spec_pir_data, SGP22_TAG_PIR_DATA)
SEQ_CODEC(sgp22_pir, sgp22_pir, spec_pir, SGP22_TAG_PIR)
SEQ_CODEC(sgp22_notification_metadata, sgp22_notification_metadata, spec_notification_metadata,
          SGP22_TAG_NOTIFICATION_METADATA)
SEQ_CODEC(sgp22_cancel_session_signed, sgp22_cancel_session_signed, spec_cancel_signed, 0x30)
SEQ_CODEC(sgp22_init_secure_channel, sgp22_init_secure_channel, spec_isc, SGP22_TAG_INIT_SECURE_CHANNEL)
SEQ_CODEC(sgp22_configure_isdp, sgp22_configure_isdp, spec_configure_isdp, SGP22_TAG_CONFIGURE_ISDP)
SEQ_CODEC(sgp22_replace_session_keys, sgp22_replace_session_keys, spec_rsk, SGP22_TAG_REPLACE_SESSION_KEYS)
SEQ_CODEC(sgp22_bpp, sgp22_bpp, spec_bpp, SGP22_TAG_BPP)

/* The icon "SHALL only be present if iconType is present". */
int sgp22_store_metadata_decode(const uint8_t *buf, size_t len, sgp22_store_metadata *out)
{
    int rc = top_decode(&spec_store_metadata, SGP22_TAG_STORE_METADATA, buf, len, out);
    if (rc == DER_OK && out->icon.p && !out->icon_type.present) {
        err_set(spec_store_metadata.name, "icon");
        rc = DER_EVALUE;
    }
    return rc;
}

int sgp22_store_metadata_encode(der_writer *w, const sgp22_store_metadata *in)
{
    err_clear();
    if (in->icon.p && !in->icon_type.present) {
        efail(w, &spec_store_metadata, &f_store_metadata[4], DER_EVALUE);
        return w->err;
    }
    seq_encode(w, SGP22_TAG_STORE_METADATA, &spec_store_metadata, in);
    return w->err;
}

int sgp22_init_secure_channel_tbs(der_writer *w, const sgp22_init_secure_channel *in,
                                  const uint8_t *euicc_otpk, size_t euicc_otpk_len)
{
    static const struct field otpk = OCTETS(sgp22_init_secure_channel, smdp_otpk, "euiccOtpk", SGP22_TAG_OTPK,
                                            F_POINT, SGP22_POINT_LEN, SGP22_POINT_LEN);
    err_clear();
    fields_encode(w, &spec_isc, in, 0, 4); /* remoteOpId .. smdpOtpk */
    if (!euicc_otpk || !value_ok(&otpk, euicc_otpk, euicc_otpk_len, otpk.min, otpk.max))
        efail(w, &spec_isc, &otpk, DER_EVALUE);
    else
        der_w_tlv(w, SGP22_TAG_OTPK, euicc_otpk, euicc_otpk_len);
    return w->err;
}

/* The remaining SEQUENCE-like entry point: CtxParams1 is a CHOICE of one
 * SEQUENCE (and v3 alternatives kept raw). */
int sgp22_ctx_params1_decode(const uint8_t *buf, size_t len, sgp22_ctx_params1 *out)
{
    der_tlv t;
    err_clear();
    memset(out, 0, sizeof(*out));
    int rc = der_parse_exact(buf, len, &t);
    if (rc == DER_OK && !ctx_match(t.tag))
        rc = DER_EUNEXPECTED;
    if (rc)
        return dfail(&spec_ctx_params1, NULL, rc);
    return ctx_dec(&t, out);
}

int sgp22_ctx_params1_encode(der_writer *w, const sgp22_ctx_params1 *in)
{
    err_clear();
    if (in->choice == 0 || in->choice == SGP22_CTX_COMMON_AUTH)
        seq_encode(w, SGP22_CTX_COMMON_AUTH, &spec_common_auth, in);
    else
        ctx_enc(w, in);
    return w->err;
}

/* ---- public: CHOICE structures ---- */

int sgp22_auth_server_resp_decode(const uint8_t *buf, size_t len, sgp22_auth_server_resp *out)
{
    der_tlv alt;
    memset(out, 0, sizeof(*out));
    int rc = choice_open("AuthenticateServerResponse", SGP22_TAG_AUTH_SERVER_RESP, buf, len, &out->raw, &alt);
    if (rc)
        return rc;
    if (alt.tag == 0xA0) {
        out->is_ok = true;
        return seq_decode(&spec_auth_ok, &alt, &out->ok);
    }
    if (alt.tag == 0xA1)
        return seq_decode(&spec_tid_error, &alt, &out->error);
    err_set("AuthenticateServerResponse", NULL);
    return DER_EUNEXPECTED;
}

int sgp22_auth_server_resp_encode(der_writer *w, const sgp22_auth_server_resp *in)
{
    err_clear();
    der_w_begin(w, SGP22_TAG_AUTH_SERVER_RESP);
    if (in->is_ok)
        nested_encode(w, &spec_auth_ok, NULL, 0xA0, &spec_auth_ok, &in->ok);
    else
        nested_encode(w, &spec_tid_error, NULL, 0xA1, &spec_tid_error, &in->error);
    der_w_end(w);
    return w->err;
}

int sgp22_prepare_download_resp_decode(const uint8_t *buf, size_t len, sgp22_prepare_download_resp *out)
{
    der_tlv alt;
    memset(out, 0, sizeof(*out));
    int rc = choice_open("PrepareDownloadResponse", SGP22_TAG_PREPARE_DOWNLOAD, buf, len, &out->raw, &alt);
    if (rc)
        return rc;
    if (alt.tag == 0xA0) {
        out->is_ok = true;
        return seq_decode(&spec_prepare_dl_ok, &alt, &out->ok);
    }
    if (alt.tag == 0xA1)
        return seq_decode(&spec_tid_error, &alt, &out->error);
    err_set("PrepareDownloadResponse", NULL);
    return DER_EUNEXPECTED;
}

int sgp22_prepare_download_resp_encode(der_writer *w, const sgp22_prepare_download_resp *in)
{
    err_clear();
    der_w_begin(w, SGP22_TAG_PREPARE_DOWNLOAD);
    if (in->is_ok)
        nested_encode(w, &spec_prepare_dl_ok, NULL, 0xA0, &spec_prepare_dl_ok, &in->ok);
    else
        nested_encode(w, &spec_tid_error, NULL, 0xA1, &spec_tid_error, &in->error);
    der_w_end(w);
    return w->err;
}

/* CHOICE { ok [0] SEQUENCE, error [1] INTEGER }: BF41 and BF40. */
static int ok_or_int_decode(const char *name, uint32_t tag, const struct spec *ok_spec, const uint8_t *buf,
                            size_t len, der_tlv *raw, bool *is_ok, void *ok, int64_t *error)
{
    der_tlv alt;
    int rc = choice_open(name, tag, buf, len, raw, &alt);
    if (rc)
        return rc;
    if (alt.tag == 0xA0) {
        *is_ok = true;
        return seq_decode(ok_spec, &alt, ok);
    }
    if (alt.tag == 0x81) {
        if (der_get_int(&alt, error) == DER_OK)
            return DER_OK;
        rc = DER_EVALUE;
    } else {
        rc = DER_EUNEXPECTED;
    }
    err_set(name, NULL);
    return rc;
}

static int ok_or_int_encode(der_writer *w, uint32_t tag, const struct spec *ok_spec, bool is_ok,
                            const void *ok, int64_t error)
{
    err_clear();
    der_w_begin(w, tag);
    if (is_ok)
        nested_encode(w, ok_spec, NULL, 0xA0, ok_spec, ok);
    else
        der_w_int(w, 0x81, error);
    der_w_end(w);
    return w->err;
}

int sgp22_cancel_session_resp_decode(const uint8_t *buf, size_t len, sgp22_cancel_session_resp *out)
{
    memset(out, 0, sizeof(*out));
    return ok_or_int_decode("CancelSessionResponse", SGP22_TAG_CANCEL_SESSION, &spec_cancel_ok, buf, len,
                            &out->raw, &out->is_ok, &out->ok, &out->error);
}

int sgp22_cancel_session_resp_encode(der_writer *w, const sgp22_cancel_session_resp *in)
{
    return ok_or_int_encode(w, SGP22_TAG_CANCEL_SESSION, &spec_cancel_ok, in->is_ok, &in->ok, in->error);
}

int sgp22_es11_auth_client_resp_decode(const uint8_t *buf, size_t len, sgp22_es11_auth_client_resp *out)
{
    memset(out, 0, sizeof(*out));
    return ok_or_int_decode("AuthenticateClientResponseEs11", SGP22_TAG_ES11_AUTH_CLIENT_RESP, &spec_es11_ok,
                            buf, len, &out->raw, &out->is_ok, &out->ok, &out->error);
}

int sgp22_es11_auth_client_resp_encode(der_writer *w, const sgp22_es11_auth_client_resp *in)
{
    return ok_or_int_encode(w, SGP22_TAG_ES11_AUTH_CLIENT_RESP, &spec_es11_ok, in->is_ok, &in->ok, in->error);
}
