#include "rsp/codec.h"

#include <stdbool.h>

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hex_digits[] = "0123456789ABCDEF";

/* Value of a base64 character, -1 if outside the alphabet. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static bool b64_space(unsigned char c)
{
    return c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

size_t rsp_b64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > SIZE_MAX / 4 - 1)
        return SIZE_MAX;
    return groups * 4;
}

size_t rsp_b64_decoded_max(size_t n)
{
    return n / 4 * 3 + (n % 4 ? 3 : 0);
}

int rsp_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen)
{
    size_t need = rsp_b64_encoded_len(n);
    if (need == SIZE_MAX)
        return RSP_CODEC_ENOMEM;
    if (cap <= need)
        return RSP_CODEC_ESPACE;
    size_t o = 0, i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return RSP_CODEC_OK;
}

int rsp_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    unsigned q[4];
    int k = 0, pad = 0;
    bool done = false; /* a padded group ended the data */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (b64_space(c))
            continue;
        if (done)
            return c != '=' && b64_value(c) < 0 ? RSP_CODEC_ECHAR : RSP_CODEC_EPAD;
        if (c == '=') {
            if (k < 2)
                return RSP_CODEC_EPAD;
            pad++;
            q[k++] = 0;
        } else {
            int v = b64_value(c);
            if (v < 0)
                return RSP_CODEC_ECHAR;
            if (pad)
                return RSP_CODEC_EPAD;
            q[k++] = (unsigned)v;
        }
        if (k < 4)
            continue;
        uint32_t v = q[0] << 18 | q[1] << 12 | q[2] << 6 | q[3];
        int bytes = 3 - pad;
        if ((pad == 1 && (q[2] & 3)) || (pad == 2 && (q[1] & 15)))
            return RSP_CODEC_EBITS;
        if (cap - o < (size_t)bytes)
            return RSP_CODEC_ESPACE;
        out[o++] = (uint8_t)(v >> 16);
        if (bytes > 1)
            out[o++] = (uint8_t)(v >> 8);
        if (bytes > 2)
            out[o++] = (uint8_t)v;
        k = 0;
        done = pad != 0;
    }
    if (k != 0)
        return RSP_CODEC_EPAD;
    if (outlen)
        *outlen = o;
    return RSP_CODEC_OK;
}

size_t rsp_hex_encoded_len(size_t n)
{
    return n > (SIZE_MAX - 1) / 2 ? SIZE_MAX : 2 * n;
}

size_t rsp_hex_decoded_len(size_t n)
{
    return n / 2;
}

int rsp_hex_encode(const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen)
{
    size_t need = rsp_hex_encoded_len(n);
    if (need == SIZE_MAX)
        return RSP_CODEC_ENOMEM;
    if (cap <= need)
        return RSP_CODEC_ESPACE;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 15];
    }
    out[need] = '\0';
    if (outlen)
        *outlen = need;
    return RSP_CODEC_OK;
}

int rsp_hex_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    /* Characters are checked before the length so that "A" and "G" give
     * different answers: the wrong character is the more useful report. */
    for (size_t i = 0; i < n; i++)
        if (hex_value((unsigned char)in[i]) < 0)
            return RSP_CODEC_ECHAR;
    if (n % 2)
        return RSP_CODEC_ELEN;
    if (cap < n / 2)
        return RSP_CODEC_ESPACE;
    for (size_t i = 0; i < n / 2; i++)
        out[i] =
            (uint8_t)(hex_value((unsigned char)in[2 * i]) << 4 | hex_value((unsigned char)in[2 * i + 1]));
    if (outlen)
        *outlen = n / 2;
    return RSP_CODEC_OK;
}

int rsp_b64_encode_arena(rsp_arena *a, const uint8_t *in, size_t n, char **out, size_t *outlen)
{
    size_t need = rsp_b64_encoded_len(n);
    if (need == SIZE_MAX)
        return RSP_CODEC_ENOMEM;
    char *buf = rsp_arena_alloc(a, need + 1);
    if (!buf)
        return RSP_CODEC_ENOMEM;
    int rc = rsp_b64_encode(in, n, buf, need + 1, outlen);
    if (rc == RSP_CODEC_OK)
        *out = buf;
    return rc;
}

int rsp_b64_decode_arena(rsp_arena *a, const char *in, size_t n, uint8_t **out, size_t *outlen)
{
    /* Size the buffer from the significant characters only, so wrapped
     * input does not cost more arena than compact input. */
    size_t sig = 0;
    for (size_t i = 0; i < n; i++)
        sig += !b64_space((unsigned char)in[i]);
    size_t cap = rsp_b64_decoded_max(sig);
    uint8_t *buf = rsp_arena_alloc(a, cap);
    if (!buf)
        return RSP_CODEC_ENOMEM;
    int rc = rsp_b64_decode(in, n, buf, cap, outlen);
    if (rc == RSP_CODEC_OK)
        *out = buf;
    return rc;
}

int rsp_hex_encode_arena(rsp_arena *a, const uint8_t *in, size_t n, char **out, size_t *outlen)
{
    size_t need = rsp_hex_encoded_len(n);
    if (need == SIZE_MAX)
        return RSP_CODEC_ENOMEM;
    char *buf = rsp_arena_alloc(a, need + 1);
    if (!buf)
        return RSP_CODEC_ENOMEM;
    int rc = rsp_hex_encode(in, n, buf, need + 1, outlen);
    if (rc == RSP_CODEC_OK)
        *out = buf;
    return rc;
}

int rsp_hex_decode_arena(rsp_arena *a, const char *in, size_t n, uint8_t **out, size_t *outlen)
{
    uint8_t *buf = rsp_arena_alloc(a, n / 2);
    if (!buf)
        return RSP_CODEC_ENOMEM;
    int rc = rsp_hex_decode(in, n, buf, n / 2, outlen);
    if (rc == RSP_CODEC_OK)
        *out = buf;
    return rc;
}

size_t rsp_utf8_char(const uint8_t *s, size_t n)
{
    if (n == 0)
        return 0;
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

bool rsp_utf8_valid(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = rsp_utf8_char(p + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

const char *rsp_codec_strerror(int err)
{
    switch (err) {
    case RSP_CODEC_OK:
        return "ok";
    case RSP_CODEC_ESPACE:
        return "output buffer too small";
    case RSP_CODEC_ECHAR:
        return "invalid character";
    case RSP_CODEC_EPAD:
        return "bad padding or length";
    case RSP_CODEC_EBITS:
        return "non-canonical trailing bits";
    case RSP_CODEC_ELEN:
        return "odd number of hex digits";
    case RSP_CODEC_ENOMEM:
        return "out of memory";
    }
    return "unknown codec error";
}
