/*
 * asn1/der.h - zero-copy DER reader and growable DER writer.
 *
 * Reader: a der_tlv points into the caller's buffer; nothing is copied or
 * allocated, so the buffer must outlive every der_tlv taken from it.  Tags are
 * kept in their encoded form as an integer (0x30, 0x5F37, 0xBF20, 0x7F21), which
 * is how SGP.22 names them.  Only definite lengths of at most 4 length octets in
 * minimal form are accepted (DER), and constructed values may nest at most
 * DER_MAX_DEPTH levels when walked with der_validate().
 *
 * Writer: appends into a heap buffer that grows as needed; constructed values
 * are opened with der_w_begin() and closed with der_w_end(), which fixes up the
 * length.  Errors are sticky: after the first failure every call is a no-op and
 * der_w_finish() reports it.
 *
 * All functions return 0 on success or a negative DER_E* code; der_strerror()
 * names a code.
 */
#ifndef ASN1_DER_H
#define ASN1_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    DER_OK = 0,
    DER_EEOF = -1,        /* input ends inside a tag, length or value */
    DER_ETAG = -2,        /* tag too long (over 4 octets) or malformed */
    DER_EINDEF = -3,      /* indefinite length (forbidden in DER) */
    DER_ELENLONG = -4,    /* length field over 4 octets */
    DER_ENONMINIMAL = -5, /* length not in minimal form */
    DER_EDEPTH = -6,      /* nesting deeper than DER_MAX_DEPTH */
    DER_ETRAILING = -7,   /* bytes left after the expected value */
    DER_EUNEXPECTED = -8, /* a different tag than the one required */
    DER_ENOMEM = -9,      /* writer could not grow its buffer */
    DER_EVALUE = -10,     /* value malformed for its type (e.g. INTEGER, BOOLEAN) */
    DER_ESTATE = -11,     /* writer misuse: unbalanced begin/end */
};

#define DER_MAX_DEPTH 32

/* Tag classes and flags (first tag octet). */
#define DER_CLASS_MASK 0xC0
#define DER_CONSTRUCTED 0x20

typedef struct der_tlv {
    uint32_t tag;         /* encoded tag octets, big-endian (e.g. 0xBF20) */
    const uint8_t *raw;   /* first octet of the tag */
    size_t raw_len;       /* tag + length + value octets */
    const uint8_t *value; /* first value octet */
    size_t len;           /* value length */
} der_tlv;

/* A cursor over consecutive TLVs in a buffer (e.g. the value of a SEQUENCE). */
typedef struct der_reader {
    const uint8_t *p;
    const uint8_t *end;
} der_reader;

const char *der_strerror(int err);

/* True if the encoded tag's first octet has the constructed bit. */
bool der_tag_constructed(uint32_t tag);

/* Parses one TLV at the start of buf[0..len).  Does not look inside. */
int der_parse(const uint8_t *buf, size_t len, der_tlv *out);

/* Parses exactly one TLV that fills buf[0..len); DER_ETRAILING otherwise. */
int der_parse_exact(const uint8_t *buf, size_t len, der_tlv *out);

/* Checks that buf holds exactly one TLV whose constructed values parse
 * recursively, no deeper than DER_MAX_DEPTH. */
int der_validate(const uint8_t *buf, size_t len);

void der_reader_init(der_reader *r, const uint8_t *buf, size_t len);
/* Reader over the value of a TLV (its children when constructed). */
void der_reader_of(der_reader *r, const der_tlv *t);
bool der_reader_done(const der_reader *r);
/* Reads the next TLV; DER_EEOF when the reader is empty. */
int der_next(der_reader *r, der_tlv *out);
/* Peeks at the next tag without consuming; 0 when empty or malformed. */
uint32_t der_peek_tag(const der_reader *r);
/* Reads the next TLV and requires it to have `tag` (DER_EUNEXPECTED otherwise,
 * reader unchanged). */
int der_expect(der_reader *r, uint32_t tag, der_tlv *out);
/* If the next TLV has `tag`, reads it and returns 1; returns 0 when it does not
 * (reader unchanged), or a negative error. */
int der_optional(der_reader *r, uint32_t tag, der_tlv *out);
/* Skips TLVs until one with `tag` is found (returns 1 and fills out) or the
 * reader ends (returns 0).  For SEQUENCEs whose unknown extensions must be
 * skipped. */
int der_find(der_reader *r, uint32_t tag, der_tlv *out);

/* Value decoders.  Each checks DER rules for its type. */
int der_get_bool(const der_tlv *t, bool *out);
/* Non-negative or negative INTEGER / ENUMERATED that fits in int64_t. */
int der_get_int(const der_tlv *t, int64_t *out);

/* ---- writer ---- */

typedef struct der_writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
    int err;                     /* sticky error */
    size_t stack[DER_MAX_DEPTH]; /* offsets of open length fields */
    int depth;
} der_writer;

void der_w_init(der_writer *w);
/* Frees the buffer; the writer may be re-initialised. */
void der_w_free(der_writer *w);
/* Appends raw bytes (an already encoded TLV, for instance). */
void der_w_raw(der_writer *w, const void *data, size_t len);
/* Appends a complete primitive TLV. */
void der_w_tlv(der_writer *w, uint32_t tag, const void *value, size_t len);
void der_w_bool(der_writer *w, uint32_t tag, bool v);
/* Minimal two's-complement INTEGER/ENUMERATED content. */
void der_w_int(der_writer *w, uint32_t tag, int64_t v);
/* Opens a constructed value; the length is fixed up by der_w_end(). */
void der_w_begin(der_writer *w, uint32_t tag);
void der_w_end(der_writer *w);
/* Returns the sticky error (DER_ESTATE if a value is still open).  On success
 * the caller may take w->buf / w->len (and must free w->buf, or call
 * der_w_free). */
int der_w_finish(der_writer *w);

/* Encodes a tag into out (up to 4 octets); returns the number of octets. */
size_t der_put_tag(uint8_t *out, uint32_t tag);
/* Encodes a length into out (up to 5 octets); returns the number of octets. */
size_t der_put_len(uint8_t *out, size_t len);

#endif
