/*
 * rsp/codec.h - base64 and hex text encodings used by the JSON binding.
 *
 * Base64 is the standard alphabet (RFC 4648 section 4) with '=' padding and no
 * line breaks on output.  The decoder is strict about content and lenient
 * about layout: it refuses characters outside the alphabet, missing or
 * misplaced padding, and non-zero unused bits in the last group (so every
 * accepted text is the one canonical encoding of its bytes), but skips CR, LF,
 * space and tab anywhere, because some servers wrap base64 lines.
 *
 * Hex output is upper case; the decoder accepts both cases and refuses odd
 * lengths and any other character (no whitespace).
 *
 * Buffer variants write into caller memory of explicit capacity and never
 * write past it.  Encoders NUL-terminate, so they need the encoded length plus
 * one byte; decoders write raw bytes.  The *_arena variants allocate the
 * output from an rsp_arena (see rsp/arena.h) and leave ownership with it.
 *
 * It also holds the UTF-8 well-formedness check the JSON reader and writer
 * share.
 *
 * Functions return RSP_CODEC_OK (0) or a negative RSP_CODEC_E* code; on error
 * *outlen and the output are unspecified.  rsp_codec_strerror() names a code.
 */
#ifndef RSP_CODEC_H
#define RSP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rsp/arena.h"

enum {
    RSP_CODEC_OK = 0,
    RSP_CODEC_ESPACE = -1, /* output buffer too small */
    RSP_CODEC_ECHAR = -2,  /* character outside the alphabet */
    RSP_CODEC_EPAD = -3,   /* base64: missing, misplaced or excess padding, or truncated group */
    RSP_CODEC_EBITS = -4,  /* base64: unused bits of the last group not zero (non-canonical) */
    RSP_CODEC_ELEN = -5,   /* hex: odd number of digits */
    RSP_CODEC_ENOMEM = -6, /* arena limit reached, or size overflow */
};

/* Characters of the base64 text for n bytes, without the NUL; SIZE_MAX if it
 * would overflow. */
size_t rsp_b64_encoded_len(size_t n);

/* Upper bound of the bytes decoded from n characters of base64 text. */
size_t rsp_b64_decoded_max(size_t n);

/* Encodes n bytes; cap must be at least rsp_b64_encoded_len(n) + 1.  *outlen
 * (may be NULL) gets the text length without the NUL. */
int rsp_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen);

/* Decodes n characters (need not be NUL-terminated).  Fails with
 * RSP_CODEC_ESPACE when cap is below the decoded length;
 * cap >= rsp_b64_decoded_max(n) always suffices. */
int rsp_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

/* 2 * n, or SIZE_MAX if that would overflow. */
size_t rsp_hex_encoded_len(size_t n);

/* n / 2: exact for every valid (even-length) input. */
size_t rsp_hex_decoded_len(size_t n);

/* Encodes n bytes as upper-case hex; cap must be at least 2n + 1. */
int rsp_hex_encode(const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen);

/* Decodes n hex digits (either case). */
int rsp_hex_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

/* Arena variants: *out is NUL-terminated text (encoders) or raw bytes
 * (decoders; a zero-length result still gets a valid pointer). */
int rsp_b64_encode_arena(rsp_arena *a, const uint8_t *in, size_t n, char **out, size_t *outlen);
int rsp_b64_decode_arena(rsp_arena *a, const char *in, size_t n, uint8_t **out, size_t *outlen);
int rsp_hex_encode_arena(rsp_arena *a, const uint8_t *in, size_t n, char **out, size_t *outlen);
int rsp_hex_decode_arena(rsp_arena *a, const char *in, size_t n, uint8_t **out, size_t *outlen);

/* Length (1 to 4) of the well-formed UTF-8 sequence at the start of s, with
 * n bytes available; 0 if it is truncated, overlong, a surrogate, above
 * U+10FFFF or not a lead byte (RFC 3629).  n == 0 gives 0. */
size_t rsp_utf8_char(const uint8_t *s, size_t n);

/* true if all n bytes are well-formed UTF-8 (NUL bytes included). */
bool rsp_utf8_valid(const char *s, size_t n);

/* Short English name of an RSP_CODEC_E* code. */
const char *rsp_codec_strerror(int err);

#endif
