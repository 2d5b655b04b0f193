/*
 * Fuzz target for rsp/codec: every input is decoded as base64 and as hex and
 * encoded both ways.  Accepted text must be canonical (re-encoding gives the
 * same text, whitespace aside, hex case aside), encodings must decode back to
 * the input, and capacity checks must be exact.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/codec.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void fuzz_b64_decode(const char *in, size_t n)
{
    size_t cap = rsp_b64_decoded_max(n);
    uint8_t *out = malloc(cap ? cap : 1);
    check(out != NULL);
    size_t len;
    int rc = rsp_b64_decode(in, n, out, cap, &len);
    check(rc == RSP_CODEC_OK || rc == RSP_CODEC_ECHAR || rc == RSP_CODEC_EPAD || rc == RSP_CODEC_EBITS);
    if (rc == RSP_CODEC_OK) {
        check(len <= cap);
        /* Canonical: encoding the bytes gives the input minus whitespace. */
        char *stripped = malloc(n + 1);
        check(stripped != NULL);
        size_t s = 0;
        for (size_t i = 0; i < n; i++)
            if (in[i] != '\r' && in[i] != '\n' && in[i] != ' ' && in[i] != '\t')
                stripped[s++] = in[i];
        char *enc = malloc(rsp_b64_encoded_len(len) + 1);
        check(enc != NULL);
        size_t el;
        check(rsp_b64_encode(out, len, enc, rsp_b64_encoded_len(len) + 1, &el) == RSP_CODEC_OK);
        check(el == s && memcmp(enc, stripped, s) == 0);
        /* One byte less room must be refused, not overrun. */
        if (len > 0) {
            uint8_t *tight = malloc(len - 1 ? len - 1 : 1);
            check(tight != NULL);
            check(rsp_b64_decode(in, n, tight, len - 1, NULL) == RSP_CODEC_ESPACE);
            free(tight);
        }
        free(enc);
        free(stripped);
    }
    free(out);
}

static void fuzz_hex_decode(const char *in, size_t n)
{
    size_t cap = rsp_hex_decoded_len(n);
    uint8_t *out = malloc(cap ? cap : 1);
    check(out != NULL);
    size_t len;
    int rc = rsp_hex_decode(in, n, out, cap, &len);
    check(rc == RSP_CODEC_OK || rc == RSP_CODEC_ECHAR || rc == RSP_CODEC_ELEN);
    if (rc == RSP_CODEC_OK) {
        check(len * 2 == n);
        char *enc = malloc(n + 1);
        check(enc != NULL);
        check(rsp_hex_encode(out, len, enc, n + 1, NULL) == RSP_CODEC_OK);
        for (size_t i = 0; i < n; i++) {
            char c = in[i];
            if (c >= 'a' && c <= 'f')
                c = (char)(c - 'a' + 'A');
            check(enc[i] == c);
        }
        free(enc);
    }
    free(out);
}

static void fuzz_encode(const uint8_t *data, size_t n)
{
    rsp_arena *a = rsp_arena_new(8 * n + 1024);
    check(a != NULL);
    char *b64, *hex;
    uint8_t *back;
    size_t bl, hl, dl;
    check(rsp_b64_encode_arena(a, data, n, &b64, &bl) == RSP_CODEC_OK);
    check(bl == rsp_b64_encoded_len(n) && strlen(b64) == bl);
    check(rsp_b64_decode_arena(a, b64, bl, &back, &dl) == RSP_CODEC_OK);
    check(dl == n && memcmp(back, data, n) == 0);
    check(rsp_hex_encode_arena(a, data, n, &hex, &hl) == RSP_CODEC_OK);
    check(hl == 2 * n && strlen(hex) == hl);
    check(rsp_hex_decode_arena(a, hex, hl, &back, &dl) == RSP_CODEC_OK);
    check(dl == n && memcmp(back, data, n) == 0);
    rsp_arena_free(a);
}

static void fuzz_utf8(const uint8_t *data, size_t n)
{
    /* The whole-buffer check agrees with stepping character by character. */
    bool ok = true;
    size_t i = 0;
    while (i < n) {
        size_t l = rsp_utf8_char(data + i, n - i);
        check(l <= 4 && l <= n - i);
        if (l == 0) {
            ok = false;
            break;
        }
        i += l;
    }
    check(ok == rsp_utf8_valid((const char *)data, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    fuzz_b64_decode(text, size);
    fuzz_hex_decode(text, size);
    fuzz_encode(data, size);
    fuzz_utf8(data, size);
    return 0;
}
