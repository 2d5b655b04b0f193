#include "asn1/der.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ut.h"

static int parse_hex(const char *hex, der_tlv *t, uint8_t **keep)
{
    size_t n;
    uint8_t *b = ut_hex(hex, &n);
    int rc = der_parse(b, n, t);
    *keep = b;
    return rc;
}

static void test_short_and_long_lengths(void)
{
    der_tlv t;
    uint8_t *b;
    UT_EQ(parse_hex("0403AABBCC", &t, &b), DER_OK);
    UT_EQ(t.tag, 0x04);
    UT_EQ(t.len, 3);
    UT_EQ(t.raw_len, 5);
    UT_EQ(t.value[0], 0xAA);
    free(b);

    /* 0x81 form is needed for 128..255 */
    size_t n = 3 + 200;
    uint8_t *buf = calloc(1, n);
    buf[0] = 0x04;
    buf[1] = 0x81;
    buf[2] = 200;
    UT_EQ(der_parse(buf, n, &t), DER_OK);
    UT_EQ(t.len, 200);
    UT_EQ(der_parse(buf, n - 1, &t), DER_EEOF);
    free(buf);

    /* 4-byte length, value present */
    n = 6 + 0x010000;
    buf = calloc(1, n);
    memcpy(buf, "\x04\x83\x01\x00\x00", 5);
    UT_EQ(der_parse(buf, n, &t), DER_OK);
    UT_EQ(t.len, 0x010000);
    free(buf);
}

static void test_refusals(void)
{
    der_tlv t;
    uint8_t *b;
    UT_EQ(parse_hex("0480", &t, &b), DER_EINDEF);
    free(b);
    UT_EQ(parse_hex("04850100000000", &t, &b), DER_ELENLONG);
    free(b);
    UT_EQ(parse_hex("04817F"
                    "00",
                    &t, &b),
          DER_ENONMINIMAL); /* 0x7F must be short form */
    free(b);
    UT_EQ(parse_hex("0482007F", &t, &b), DER_ENONMINIMAL); /* leading zero length octet */
    free(b);
    UT_EQ(parse_hex("0405AABB", &t, &b), DER_EEOF); /* length past buffer */
    free(b);
    UT_EQ(parse_hex("04", &t, &b), DER_EEOF);
    free(b);
    UT_EQ(parse_hex("", &t, &b), DER_EEOF);
    free(b);
    UT_EQ(parse_hex("0484FFFFFFFF00", &t, &b), DER_EEOF); /* huge length, no overflow */
    free(b);
    UT_EQ(parse_hex("5F", &t, &b), DER_EEOF);
    free(b);
    UT_EQ(parse_hex("5F8080800100", &t, &b), DER_ETAG); /* non-minimal tag */
    free(b);
    UT_EQ(parse_hex("1F0100", &t, &b), DER_ETAG); /* tag number fits short form */
    free(b);
    UT_EQ(parse_hex("5FFFFFFF0100", &t, &b), DER_ETAG); /* tag over 4 octets */
    free(b);
    UT_EQ(parse_hex("5F81", &t, &b), DER_EEOF);
    free(b);
}

static void test_multibyte_tags(void)
{
    der_tlv t;
    uint8_t *b;
    UT_EQ(parse_hex("5F370140", &t, &b), DER_OK);
    UT_EQ(t.tag, 0x5F37);
    UT_CHECK(!der_tag_constructed(t.tag));
    free(b);
    UT_EQ(parse_hex("BF2000", &t, &b), DER_OK);
    UT_EQ(t.tag, 0xBF20);
    UT_CHECK(der_tag_constructed(t.tag));
    free(b);
    UT_EQ(parse_hex("7F2100", &t, &b), DER_OK);
    UT_EQ(t.tag, 0x7F21);
    UT_CHECK(der_tag_constructed(t.tag));
    free(b);
    UT_EQ(parse_hex("9F810100", &t, &b), DER_OK); /* 3-octet tag */
    UT_EQ(t.tag, 0x9F8101);
    free(b);
}

static void test_exact_and_validate(void)
{
    size_t n;
    der_tlv t;
    uint8_t *b = ut_hex("3005A0030401FF0500", &n);
    UT_EQ(der_parse_exact(b, n, &t), DER_ETRAILING);
    UT_EQ(der_validate(b, n), DER_ETRAILING);
    UT_EQ(der_parse_exact(b, n - 2, &t), DER_OK);
    UT_EQ(der_validate(b, n - 2), DER_OK);
    free(b);

    /* constructed child overruns its parent */
    b = ut_hex("3005A0060401FF", &n);
    UT_EQ(der_validate(b, n), DER_EEOF);
    free(b);

    /* nesting limit */
    uint8_t deep[2 * (DER_MAX_DEPTH + 2)];
    size_t levels = DER_MAX_DEPTH + 2;
    for (size_t i = 0; i < levels; i++) {
        deep[2 * i] = 0x30;
        deep[2 * i + 1] = (uint8_t)(2 * (levels - i - 1));
    }
    UT_EQ(der_validate(deep, sizeof(deep)), DER_EDEPTH);
    levels = DER_MAX_DEPTH - 1;
    for (size_t i = 0; i < levels; i++) {
        deep[2 * i] = 0x30;
        deep[2 * i + 1] = (uint8_t)(2 * (levels - i - 1));
    }
    UT_EQ(der_validate(deep, 2 * levels), DER_OK);
}

static void test_reader(void)
{
    size_t n;
    uint8_t *b = ut_hex("3010800101810200FF8203AABBCCBF200100", &n);
    der_tlv seq, t;
    UT_EQ(der_parse_exact(b, n, &seq), DER_OK);
    der_reader r;
    der_reader_of(&r, &seq);
    UT_EQ(der_peek_tag(&r), 0x80);
    UT_EQ(der_expect(&r, 0x81, &t), DER_EUNEXPECTED);
    UT_EQ(der_peek_tag(&r), 0x80); /* unchanged after a mismatch */
    UT_EQ(der_expect(&r, 0x80, &t), DER_OK);
    int64_t v;
    UT_EQ(der_get_int(&t, &v), DER_OK);
    UT_EQ(v, 1);
    UT_EQ(der_optional(&r, 0x99, &t), 0);
    UT_EQ(der_optional(&r, 0x81, &t), 1);
    UT_EQ(der_get_int(&t, &v), DER_OK);
    UT_EQ(v, 255);
    UT_EQ(der_find(&r, 0xBF20, &t), 1);
    UT_EQ(t.len, 1);
    UT_CHECK(der_reader_done(&r));
    UT_EQ(der_next(&r, &t), DER_EEOF);
    UT_EQ(der_find(&r, 0x80, &t), 0);
    free(b);
}

static void test_values(void)
{
    der_tlv t;
    uint8_t *b;
    bool bv;
    int64_t v;
    UT_EQ(parse_hex("0101FF", &t, &b), DER_OK);
    UT_EQ(der_get_bool(&t, &bv), DER_OK);
    UT_CHECK(bv);
    free(b);
    UT_EQ(parse_hex("010101", &t, &b), DER_OK);
    UT_EQ(der_get_bool(&t, &bv), DER_EVALUE); /* DER TRUE is FF */
    free(b);
    UT_EQ(parse_hex("020180", &t, &b), DER_OK);
    UT_EQ(der_get_int(&t, &v), DER_OK);
    UT_EQ(v, -128);
    free(b);
    UT_EQ(parse_hex("02020001", &t, &b), DER_OK);
    UT_EQ(der_get_int(&t, &v), DER_EVALUE); /* non-minimal */
    free(b);
    UT_EQ(parse_hex("0202FF80", &t, &b), DER_OK);
    UT_EQ(der_get_int(&t, &v), DER_EVALUE);
    free(b);
    UT_EQ(parse_hex("0200", &t, &b), DER_OK);
    UT_EQ(der_get_int(&t, &v), DER_EVALUE);
    free(b);
    UT_EQ(parse_hex("0209010000000000000000", &t, &b), DER_OK);
    UT_EQ(der_get_int(&t, &v), DER_EVALUE); /* too large */
    free(b);
}

static void test_writer(void)
{
    der_writer w;
    der_w_init(&w);
    der_w_begin(&w, 0xBF20);
    der_w_int(&w, 0x80, 0);
    der_w_int(&w, 0x81, 128);
    der_w_int(&w, 0x82, -1);
    der_w_int(&w, 0x83, -129);
    der_w_bool(&w, 0x84, true);
    der_w_begin(&w, 0xA5);
    der_w_tlv(&w, 0x5F37, "\x01\x02", 2);
    der_w_end(&w);
    der_w_end(&w);
    UT_EQ(der_w_finish(&w), DER_OK);
    size_t n;
    uint8_t *want = ut_hex("BF2018800100810200808201FF8302FF7F8401FFA5055F37020102", &n);
    UT_EQ(w.len, n);
    UT_CHECK(w.len == n && memcmp(w.buf, want, n) == 0);
    free(want);
    der_w_free(&w);
}

static void test_writer_long_fixup(void)
{
    der_writer w;
    der_w_init(&w);
    static uint8_t big[70000];
    memset(big, 0x5A, sizeof(big));
    der_w_begin(&w, 0x30);
    der_w_begin(&w, 0xA3);
    der_w_tlv(&w, 0x04, big, 200);
    der_w_end(&w);
    der_w_tlv(&w, 0x04, big, sizeof(big));
    der_w_end(&w);
    UT_EQ(der_w_finish(&w), DER_OK);
    /* Parse it back with the reader. */
    der_tlv seq, a3, o;
    UT_EQ(der_parse_exact(w.buf, w.len, &seq), DER_OK);
    UT_EQ(der_validate(w.buf, w.len), DER_OK);
    der_reader r;
    der_reader_of(&r, &seq);
    UT_EQ(der_expect(&r, 0xA3, &a3), DER_OK);
    UT_EQ(a3.len, 203);
    UT_EQ(der_expect(&r, 0x04, &o), DER_OK);
    UT_EQ(o.len, sizeof(big));
    UT_CHECK(der_reader_done(&r));
    der_w_free(&w);
}

static void test_writer_errors(void)
{
    der_writer w;
    der_w_init(&w);
    der_w_end(&w);
    UT_EQ(der_w_finish(&w), DER_ESTATE);
    der_w_tlv(&w, 0x04, "x", 1); /* sticky: no-op */
    UT_EQ(w.len, 0);
    der_w_free(&w);

    der_w_init(&w);
    der_w_begin(&w, 0x30);
    UT_EQ(der_w_finish(&w), DER_ESTATE);
    der_w_free(&w);

    der_w_init(&w);
    for (int i = 0; i < DER_MAX_DEPTH + 1; i++)
        der_w_begin(&w, 0x30);
    UT_EQ(der_w_finish(&w), DER_EDEPTH);
    der_w_free(&w);
}

static void test_strerror(void)
{
    for (int e = 0; e >= -11; e--)
        UT_CHECK(strcmp(der_strerror(e), "unknown error") != 0);
    UT_CHECK(strcmp(der_strerror(-99), "unknown error") == 0);
}

int main(void)
{
    UT_RUN(test_short_and_long_lengths);
    UT_RUN(test_refusals);
    UT_RUN(test_multibyte_tags);
    UT_RUN(test_exact_and_validate);
    UT_RUN(test_reader);
    UT_RUN(test_values);
    UT_RUN(test_writer);
    UT_RUN(test_writer_long_fixup);
    UT_RUN(test_writer_errors);
    UT_RUN(test_strerror);
    return ut_finish();
}
