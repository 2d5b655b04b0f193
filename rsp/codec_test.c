#include "rsp/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ut.h"

/* Decodes NUL-terminated base64 text into buf; returns the codec code. */
static int b64d(const char *in, uint8_t *buf, size_t cap, size_t *len)
{
    return rsp_b64_decode(in, strlen(in), buf, cap, len);
}

static void test_b64_rfc4648_vectors(void)
{
    static const struct {
        const char *plain, *enc;
    } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[16];
        size_t n = 99;
        size_t pl = strlen(v[i].plain);
        UT_EQ(rsp_b64_encoded_len(pl), strlen(v[i].enc));
        UT_EQ(rsp_b64_encode((const uint8_t *)v[i].plain, pl, out, sizeof(out), &n), RSP_CODEC_OK);
        UT_EQ(n, strlen(v[i].enc));
        UT_CHECK(strcmp(out, v[i].enc) == 0);
        uint8_t dec[16];
        UT_EQ(b64d(v[i].enc, dec, sizeof(dec), &n), RSP_CODEC_OK);
        UT_EQ(n, pl);
        UT_CHECK(memcmp(dec, v[i].plain, pl) == 0);
    }
}

static void test_b64_all_byte_values(void)
{
    uint8_t in[256], dec[256];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    char enc[400];
    size_t n;
    UT_EQ(rsp_b64_encode(in, 256, enc, sizeof(enc), &n), RSP_CODEC_OK);
    UT_EQ(n, 344);
    /* The alphabet is the standard one: '+' and '/' appear, '-' and '_' do not. */
    UT_CHECK(strchr(enc, '+') && strchr(enc, '/'));
    UT_CHECK(!strchr(enc, '-') && !strchr(enc, '_'));
    UT_EQ(rsp_b64_decode(enc, n, dec, sizeof(dec), &n), RSP_CODEC_OK);
    UT_EQ(n, 256);
    UT_CHECK(memcmp(in, dec, 256) == 0);
}

static void test_b64_invalid_chars(void)
{
    uint8_t buf[64];
    size_t n;
    UT_EQ(b64d("Zm9v!A==", buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(b64d("Zm9-", buf, sizeof(buf), &n), RSP_CODEC_ECHAR); /* URL-safe alphabet */
    UT_EQ(b64d("Zm9_", buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(b64d("Zm9v\x80", buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(b64d("Zm9v\v", buf, sizeof(buf), &n), RSP_CODEC_ECHAR); /* only CR LF SP HT are skipped */
    UT_EQ(b64d("Zm9v\f", buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(rsp_b64_decode("Zm\0v", 4, buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(b64d("Zg==!", buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
}

static void test_b64_bad_padding_and_length(void)
{
    uint8_t buf[64];
    size_t n;
    UT_EQ(b64d("Zg", buf, sizeof(buf), &n), RSP_CODEC_EPAD);    /* unpadded */
    UT_EQ(b64d("Zm8", buf, sizeof(buf), &n), RSP_CODEC_EPAD);   /* unpadded */
    UT_EQ(b64d("Zg=", buf, sizeof(buf), &n), RSP_CODEC_EPAD);   /* half padding */
    UT_EQ(b64d("Z", buf, sizeof(buf), &n), RSP_CODEC_EPAD);     /* truncated */
    UT_EQ(b64d("Zm9vY", buf, sizeof(buf), &n), RSP_CODEC_EPAD); /* 5 characters */
    UT_EQ(b64d("Z===", buf, sizeof(buf), &n), RSP_CODEC_EPAD);  /* too much padding */
    UT_EQ(b64d("====", buf, sizeof(buf), &n), RSP_CODEC_EPAD);
    UT_EQ(b64d("=Zg=", buf, sizeof(buf), &n), RSP_CODEC_EPAD);     /* leading pad */
    UT_EQ(b64d("Zg=a", buf, sizeof(buf), &n), RSP_CODEC_EPAD);     /* data after pad in group */
    UT_EQ(b64d("Zg==Zg==", buf, sizeof(buf), &n), RSP_CODEC_EPAD); /* data after a padded group */
    UT_EQ(b64d("Zm8=Zm9v", buf, sizeof(buf), &n), RSP_CODEC_EPAD);
    UT_EQ(b64d("Zm9v=", buf, sizeof(buf), &n), RSP_CODEC_EPAD); /* stray pad after full group */
    UT_EQ(b64d("Zg===", buf, sizeof(buf), &n), RSP_CODEC_EPAD);
    UT_EQ(b64d("Zg== =", buf, sizeof(buf), &n), RSP_CODEC_EPAD);
}

static void test_b64_noncanonical_bits(void)
{
    uint8_t buf[8];
    size_t n;
    /* "Zg==" is 'f'; "Zh==" .. "Zv==" differ only in unused bits. */
    UT_EQ(b64d("Zh==", buf, sizeof(buf), &n), RSP_CODEC_EBITS);
    UT_EQ(b64d("Zv==", buf, sizeof(buf), &n), RSP_CODEC_EBITS);
    UT_EQ(b64d("Zm9=", buf, sizeof(buf), &n), RSP_CODEC_EBITS); /* "Zm8=" is canonical */
    UT_EQ(b64d("Zm/=", buf, sizeof(buf), &n), RSP_CODEC_EBITS);
    UT_EQ(b64d("Zm8=", buf, sizeof(buf), &n), RSP_CODEC_OK);
    UT_EQ(b64d("AA==", buf, sizeof(buf), &n), RSP_CODEC_OK);
    UT_EQ(b64d("AB==", buf, sizeof(buf), &n), RSP_CODEC_EBITS);
}

static void test_b64_whitespace(void)
{
    uint8_t buf[64];
    size_t n;
    UT_EQ(b64d("Zm9v\r\nYmFy", buf, sizeof(buf), &n), RSP_CODEC_OK);
    UT_EQ(n, 6);
    UT_CHECK(memcmp(buf, "foobar", 6) == 0);
    UT_EQ(b64d(" \tZ m\n9 v Y\r\ng = =\n", buf, sizeof(buf), &n), RSP_CODEC_OK);
    UT_EQ(n, 4);
    UT_CHECK(memcmp(buf, "foob", 4) == 0);
    UT_EQ(b64d("\r\n", buf, sizeof(buf), &n), RSP_CODEC_OK);
    UT_EQ(n, 0);
    UT_EQ(b64d("Zg\n=", buf, sizeof(buf), &n), RSP_CODEC_EPAD); /* whitespace doesn't replace padding */

    /* A 64-column wrapped encoding of 200 bytes decodes to the same bytes. */
    uint8_t in[200];
    for (int i = 0; i < 200; i++)
        in[i] = (uint8_t)(i * 7 + 3);
    char enc[300], wrapped[400];
    size_t el;
    UT_EQ(rsp_b64_encode(in, sizeof(in), enc, sizeof(enc), &el), RSP_CODEC_OK);
    size_t w = 0;
    for (size_t i = 0; i < el; i++) {
        if (i && i % 64 == 0) {
            wrapped[w++] = '\r';
            wrapped[w++] = '\n';
        }
        wrapped[w++] = enc[i];
    }
    uint8_t dec[200];
    UT_EQ(rsp_b64_decode(wrapped, w, dec, sizeof(dec), &n), RSP_CODEC_OK);
    UT_EQ(n, 200);
    UT_CHECK(memcmp(dec, in, 200) == 0);
}

static void test_b64_capacity(void)
{
    uint8_t buf[8];
    size_t n;
    UT_EQ(b64d("Zm9vYmFy", buf, 5, &n), RSP_CODEC_ESPACE);
    UT_EQ(b64d("Zm9vYmFy", buf, 6, &n), RSP_CODEC_OK);
    UT_EQ(b64d("Zm9vYg==", buf, 3, &n), RSP_CODEC_ESPACE);
    UT_EQ(b64d("Zm9vYg==", buf, 4, &n), RSP_CODEC_OK);
    UT_EQ(b64d("", NULL, 0, &n), RSP_CODEC_OK);
    UT_EQ(n, 0);
    char out[9];
    UT_EQ(rsp_b64_encode((const uint8_t *)"foobar", 6, out, 8, &n), RSP_CODEC_ESPACE); /* no room for NUL */
    UT_EQ(rsp_b64_encode((const uint8_t *)"foobar", 6, out, 9, NULL), RSP_CODEC_OK);
    UT_EQ(rsp_b64_encode(NULL, 0, out, 0, &n), RSP_CODEC_ESPACE);
    UT_EQ(rsp_b64_encode(NULL, 0, out, 1, &n), RSP_CODEC_OK);
    UT_EQ(out[0], '\0');
    /* Size helpers. */
    UT_EQ(rsp_b64_decoded_max(0), 0);
    UT_EQ(rsp_b64_decoded_max(4), 3);
    UT_EQ(rsp_b64_decoded_max(5), 6);
    UT_EQ(rsp_b64_encoded_len(SIZE_MAX), SIZE_MAX);
    UT_EQ(rsp_b64_encode(NULL, SIZE_MAX, out, sizeof(out), &n), RSP_CODEC_ENOMEM);
    /* decoded_max always suffices, whatever the padding. */
    static const char *const texts[] = {"Zg==", "Zm8=", "Zm9v", "Zm9vYg==", " Zm9v ", "Zm9vYmFy\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t cap = rsp_b64_decoded_max(strlen(texts[i]));
        uint8_t *exact = malloc(cap ? cap : 1);
        UT_EQ(rsp_b64_decode(texts[i], strlen(texts[i]), exact, cap, &n), RSP_CODEC_OK);
        free(exact);
    }
}

static void test_b64_round_trip_lengths(void)
{
    uint8_t in[300], dec[300];
    char enc[420];
    uint32_t x = 12345;
    for (size_t len = 0; len <= sizeof(in); len++) {
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            in[i] = (uint8_t)(x >> 16);
        }
        size_t el, dl;
        UT_EQ(rsp_b64_encode(in, len, enc, sizeof(enc), &el), RSP_CODEC_OK);
        UT_EQ(el, rsp_b64_encoded_len(len));
        UT_EQ(el % 4, 0);
        UT_EQ(rsp_b64_decode(enc, el, dec, sizeof(dec), &dl), RSP_CODEC_OK);
        UT_EQ(dl, len);
        UT_CHECK(memcmp(in, dec, len) == 0);
    }
}

static void test_hex(void)
{
    uint8_t buf[16];
    size_t n;
    char out[33];
    UT_EQ(rsp_hex_decode("", 0, buf, 0, &n), RSP_CODEC_OK);
    UT_EQ(n, 0);
    UT_EQ(rsp_hex_decode("00ff7F80", 8, buf, sizeof(buf), &n), RSP_CODEC_OK);
    UT_EQ(n, 4);
    UT_CHECK(buf[0] == 0x00 && buf[1] == 0xFF && buf[2] == 0x7F && buf[3] == 0x80);
    UT_EQ(rsp_hex_decode("aBcD", 4, buf, sizeof(buf), &n), RSP_CODEC_OK);
    UT_CHECK(buf[0] == 0xAB && buf[1] == 0xCD);
    UT_EQ(rsp_hex_decode("abc", 3, buf, sizeof(buf), &n), RSP_CODEC_ELEN);
    UT_EQ(rsp_hex_decode("a", 1, buf, sizeof(buf), &n), RSP_CODEC_ELEN);
    UT_EQ(rsp_hex_decode("0g", 2, buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(rsp_hex_decode("0x00", 4, buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(rsp_hex_decode(" 00 ", 4, buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(rsp_hex_decode("00\n", 3, buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(rsp_hex_decode("0\0", 2, buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(rsp_hex_decode("-1", 2, buf, sizeof(buf), &n), RSP_CODEC_ECHAR);
    UT_EQ(rsp_hex_decode("0011", 4, buf, 1, &n), RSP_CODEC_ESPACE);
    UT_EQ(rsp_hex_decoded_len(32), 16);

    static const uint8_t tid[4] = {0xDE, 0xAD, 0xbe, 0x0f};
    UT_EQ(rsp_hex_encode(tid, 4, out, sizeof(out), &n), RSP_CODEC_OK);
    UT_EQ(n, 8);
    UT_CHECK(strcmp(out, "DEADBE0F") == 0);
    UT_EQ(rsp_hex_encode(tid, 4, out, 8, &n), RSP_CODEC_ESPACE);
    UT_EQ(rsp_hex_encode(tid, 4, out, 9, &n), RSP_CODEC_OK);
    UT_EQ(rsp_hex_encoded_len(SIZE_MAX), SIZE_MAX);

    uint8_t all[256], back[256];
    char text[513];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    UT_EQ(rsp_hex_encode(all, 256, text, sizeof(text), &n), RSP_CODEC_OK);
    UT_EQ(rsp_hex_decode(text, n, back, sizeof(back), &n), RSP_CODEC_OK);
    UT_EQ(n, 256);
    UT_CHECK(memcmp(all, back, 256) == 0);
}

static void test_arena_variants(void)
{
    rsp_arena *a = rsp_arena_new(4096);
    char *s;
    uint8_t *b;
    size_t n;
    UT_EQ(rsp_b64_encode_arena(a, (const uint8_t *)"foob", 4, &s, &n), RSP_CODEC_OK);
    UT_CHECK(strcmp(s, "Zm9vYg==") == 0);
    UT_EQ(n, 8);
    UT_EQ(rsp_b64_decode_arena(a, "Zm9v\nYg==", 9, &b, &n), RSP_CODEC_OK);
    UT_EQ(n, 4);
    UT_CHECK(memcmp(b, "foob", 4) == 0);
    UT_EQ(rsp_b64_decode_arena(a, "", 0, &b, &n), RSP_CODEC_OK);
    UT_CHECK(b != NULL);
    UT_EQ(n, 0);
    UT_EQ(rsp_b64_decode_arena(a, "Zh==", 4, &b, &n), RSP_CODEC_EBITS);
    UT_EQ(rsp_hex_encode_arena(a, (const uint8_t *)"\x01\xab", 2, &s, &n), RSP_CODEC_OK);
    UT_CHECK(strcmp(s, "01AB") == 0);
    UT_EQ(rsp_hex_decode_arena(a, "01ab", 4, &b, &n), RSP_CODEC_OK);
    UT_CHECK(n == 2 && b[0] == 0x01 && b[1] == 0xAB);
    UT_EQ(rsp_hex_decode_arena(a, "01a", 3, &b, &n), RSP_CODEC_ELEN);
    rsp_arena_free(a);

    /* Arena limits surface as ENOMEM. */
    a = rsp_arena_new(64);
    uint8_t big[200] = {0};
    UT_EQ(rsp_b64_encode_arena(a, big, sizeof(big), &s, &n), RSP_CODEC_ENOMEM);
    UT_EQ(rsp_hex_encode_arena(a, big, sizeof(big), &s, &n), RSP_CODEC_ENOMEM);
    char text[400];
    memset(text, 'A', sizeof(text));
    UT_EQ(rsp_b64_decode_arena(a, text, sizeof(text), &b, &n), RSP_CODEC_ENOMEM);
    UT_EQ(rsp_hex_decode_arena(a, text, sizeof(text), &b, &n), RSP_CODEC_ENOMEM);
    /* Whitespace does not count towards the decode buffer size. */
    char spaced[300];
    memset(spaced, ' ', sizeof(spaced));
    memcpy(spaced + 150, "Zm9v", 4);
    UT_EQ(rsp_b64_decode_arena(a, spaced, sizeof(spaced), &b, &n), RSP_CODEC_OK);
    UT_EQ(n, 3);
    rsp_arena_free(a);
}

static void test_utf8(void)
{
    static const struct {
        const char *s;
        bool ok;
    } v[] = {
        {"", true},
        {"plain ASCII", true},
        {"\xC3\xA9", true},          /* U+00E9 */
        {"\xE2\x82\xAC", true},      /* U+20AC */
        {"\xF0\x9D\x84\x9E", true},  /* U+1D11E */
        {"\xF4\x8F\xBF\xBF", true},  /* U+10FFFF */
        {"\xED\x9F\xBF", true},      /* U+D7FF */
        {"\xEE\x80\x80", true},      /* U+E000 */
        {"\xEF\xBB\xBF", true},      /* U+FEFF */
        {"\xC0\x80", false},         /* overlong NUL */
        {"\xC1\xBF", false},         /* overlong */
        {"\xE0\x80\x80", false},     /* overlong */
        {"\xE0\x9F\xBF", false},     /* overlong */
        {"\xED\xA0\x80", false},     /* surrogate U+D800 */
        {"\xED\xBF\xBF", false},     /* surrogate U+DFFF */
        {"\xF0\x80\x80\x80", false}, /* overlong */
        {"\xF0\x8F\xBF\xBF", false}, /* overlong */
        {"\xF4\x90\x80\x80", false}, /* above U+10FFFF */
        {"\xF5\x80\x80\x80", false},
        {"\xFF", false},
        {"\x80", false},         /* lone continuation */
        {"a\xC3", false},        /* truncated */
        {"\xE2\x82", false},     /* truncated */
        {"\xE2\x28\xA1", false}, /* bad continuation */
        {"\xF0\x9D\x84", false}, /* truncated */
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        bool got = rsp_utf8_valid(v[i].s, strlen(v[i].s));
        if (got != v[i].ok)
            fprintf(stderr, "    utf8 case %zu\n", i);
        UT_EQ(got, v[i].ok);
    }
    UT_CHECK(rsp_utf8_valid("a\0b", 3));
    UT_EQ(rsp_utf8_char((const uint8_t *)"\xE2\x82\xAC", 3), 3);
    UT_EQ(rsp_utf8_char((const uint8_t *)"\xE2\x82\xAC", 2), 0);
    UT_EQ(rsp_utf8_char((const uint8_t *)"A", 0), 0);
}

static void test_strerror(void)
{
    for (int e = RSP_CODEC_OK; e >= RSP_CODEC_ENOMEM; e--)
        UT_CHECK(strcmp(rsp_codec_strerror(e), "unknown codec error") != 0);
    UT_CHECK(strcmp(rsp_codec_strerror(-100), "unknown codec error") == 0);
}

int main(void)
{
    UT_RUN(test_b64_rfc4648_vectors);
    UT_RUN(test_b64_all_byte_values);
    UT_RUN(test_b64_invalid_chars);
    UT_RUN(test_b64_bad_padding_and_length);
    UT_RUN(test_b64_noncanonical_bits);
    UT_RUN(test_b64_whitespace);
    UT_RUN(test_b64_capacity);
    UT_RUN(test_b64_round_trip_lengths);
    UT_RUN(test_hex);
    UT_RUN(test_arena_variants);
    UT_RUN(test_utf8);
    UT_RUN(test_strerror);
    return ut_finish();
}
