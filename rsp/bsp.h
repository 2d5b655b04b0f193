/*
 * rsp/bsp.h - Bound Profile Package secure channel (BSP, formerly SCP03t).
 *
 * Three parts, used by the SM-DP+ (protect side) and the eUICC simulator
 * (verify side):
 *
 *  - ECKA: one-time EC key pairs on NIST P-256 or brainpoolP256r1 and the
 *    ECDH shared secret (X coordinate) with a peer point given uncompressed
 *    (04 || X || Y, the content of tag 5F49).
 *  - KDF: ANSI X9.63 with SHA-256 over the shared secret, giving the initial
 *    MAC chaining value, S-ENC and S-MAC.
 *  - Segments: tag || BER length || payload || 8-byte MAC.  Tags 86 and 87 are
 *    encrypted (AES-128-CBC, IV = AES-ECB(S-ENC, counter), padding 80 00..)
 *    and MACed; tag 88 is MACed only.  MAC = AES-CMAC(S-MAC, MCV || tag ||
 *    length || payload), first 8 bytes; the full CMAC is the next MCV.
 *
 * State rules (checked against the SGP.22 known-answer vectors): one block
 * counter and one MCV per key set.  The counter starts at 1 and goes up by one
 * per segment, encrypted or MAC-only alike, so 87 -> 88 -> 87 under the
 * session keys use counters 1, 2, 3 and chain their MACs.  A new key set (the
 * PPKs of ReplaceSessionKeys) is a fresh rsp_bsp_init(): counter 1, MCV = its
 * initial MCV.  The MAC covers the MCV but not the counter: a counter out of
 * step with a correct MCV shows only as bad padding or wrong plaintext.
 *
 * Conventions: functions return 0 (RSP_BSP_OK) or a negative RSP_BSP_E* code.
 * A failed wrap or unwrap leaves the state unchanged and appends nothing to
 * the output buffer.  Output goes to a caller-owned rsp_bsp_buf that grows on
 * the heap; the caller frees it with rsp_bsp_buf_free().  Key material lives
 * in plain structs; wipe them with rsp_bsp_clear() / rsp_bsp_keys_clear().
 * A state is not shared between threads; distinct states may be used
 * concurrently.  EVP_PKEYs returned here are owned by the caller
 * (EVP_PKEY_free).
 */
#ifndef RSP_BSP_H
#define RSP_BSP_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

enum {
    RSP_BSP_OK = 0,
    RSP_BSP_EINVAL = -1,    /* bad argument: unknown tag, wrong key or host id size */
    RSP_BSP_ENOMEM = -2,    /* output buffer could not grow */
    RSP_BSP_ECRYPTO = -3,   /* OpenSSL failure */
    RSP_BSP_ECURVE = -4,    /* key not on P-256 or brainpoolP256r1 */
    RSP_BSP_EPOINT = -5,    /* peer point malformed or not on the curve */
    RSP_BSP_EFORMAT = -6,   /* segment TLV malformed (length, trailing bytes, block size) */
    RSP_BSP_ETAG = -7,      /* segment tag differs from the expected one */
    RSP_BSP_ESIZE = -8,     /* segment over 1020 bytes, or plaintext over rsp_bsp_max_plain() */
    RSP_BSP_EMAC = -9,      /* MAC does not verify (wrong key, MCV, order or data) */
    RSP_BSP_EPADDING = -10, /* MAC fine but padding is not 80 00.. within the last block */
    RSP_BSP_ECOUNTER = -11, /* block counter exhausted */
};

#define RSP_BSP_KEY_LEN 16
#define RSP_BSP_MAC_LEN 8
#define RSP_BSP_EID_LEN 16
#define RSP_BSP_HOST_ID_MAX 16 /* hostId is OctetTo16 */
#define RSP_BSP_SECRET_LEN 32  /* ECDH X coordinate on 256-bit curves */
#define RSP_BSP_POINT_LEN 65   /* 04 || X || Y */

/* A segment is at most 1020 bytes including tag, length and MAC.  With the
 * 4 header bytes (tag, 82 xx xx) that leaves 1008 payload bytes: 1008 bytes
 * of plaintext MAC-only, 1007 encrypted (padding always adds one byte). */
#define RSP_BSP_MAX_SEGMENT 1020
#define RSP_BSP_MAX_PLAIN_MAC 1008
#define RSP_BSP_MAX_PLAIN_ENC 1007
/* The most plaintext a segment with a 82 xx xx length can carry, encrypted (padded) or not. */
#define RSP_BSP_MAX_PLAIN_LONG 65519

#define RSP_BSP_TAG_UPP 0x86 /* sequenceOf86: profile package, encrypted */
#define RSP_BSP_TAG_ENC 0x87 /* first/secondSequenceOf87: encrypted */
#define RSP_BSP_TAG_MAC 0x88 /* sequenceOf88: MAC only */

/* keyType and keyLen of the controlRefTemplate (and of the KDF SharedInfo). */
#define RSP_BSP_KEY_TYPE_AES 0x88
#define RSP_BSP_KEY_LEN_CODE 0x10

/* Unwrap flag: accept segments above RSP_BSP_MAX_SEGMENT.  Only for decoding
 * legacy material such as the pySim BPP vector; a conformant eUICC refuses. */
#define RSP_BSP_ALLOW_OVERSIZE 0x1u

typedef struct rsp_bsp_buf {
    uint8_t *data; /* heap, NULL until the first append */
    size_t len;
    size_t cap;
} rsp_bsp_buf;

typedef struct rsp_bsp_keys {
    uint8_t s_enc[RSP_BSP_KEY_LEN];
    uint8_t s_mac[RSP_BSP_KEY_LEN];
    uint8_t mcv[RSP_BSP_KEY_LEN]; /* initial MAC chaining value */
} rsp_bsp_keys;

typedef struct rsp_bsp {
    rsp_bsp_keys k;   /* k.mcv is the current MCV */
    uint64_t counter; /* block counter for the next segment, starts at 1 */
} rsp_bsp;

const char *rsp_bsp_strerror(int err);

/* ---- byte buffer ---- */

/* Zeroes b (no allocation). */
void rsp_bsp_buf_init(rsp_bsp_buf *b);
/* Appends n bytes (p may be NULL when n is 0). */
int rsp_bsp_buf_append(rsp_bsp_buf *b, const void *p, size_t n);
/* Wipes and frees the contents and re-initialises b. */
void rsp_bsp_buf_free(rsp_bsp_buf *b);

/* ---- ECKA ---- */

/* OpenSSL NID of key's curve if it is P-256 or brainpoolP256r1, else
 * RSP_BSP_ECURVE (or RSP_BSP_EINVAL for a non-EC key). */
int rsp_ecka_curve_nid(const EVP_PKEY *key);

/* New one-time key pair on curve nid (NID_X9_62_prime256v1 or
 * NID_brainpoolP256r1). */
int rsp_ecka_generate(int nid, EVP_PKEY **out);

/* New one-time key pair on the same curve as like (e.g. the public key of
 * CERT.DPpb or CERT.EUICC). */
int rsp_ecka_generate_like(const EVP_PKEY *like, EVP_PKEY **out);

/* Our public point, uncompressed 04 || X || Y. */
int rsp_ecka_public(const EVP_PKEY *key, uint8_t out[RSP_BSP_POINT_LEN]);

/* Builds a public key on curve nid from an uncompressed point, refusing
 * anything but 65 bytes starting with 04 that lie on the curve. */
int rsp_ecka_peer(int nid, const uint8_t *point, size_t len, EVP_PKEY **out);

/* ECDH: X coordinate of priv * peer, where peer is an uncompressed point on
 * priv's curve (RSP_BSP_EPOINT if not). */
int rsp_ecka_shared(EVP_PKEY *priv, const uint8_t *peer, size_t peer_len, uint8_t z[RSP_BSP_SECRET_LEN]);

/* ---- KDF ---- */

/* X9.63 KDF (SHA-256, 48 bytes) over z with SharedInfo = 88 || 10 ||
 * len(host_id) || host_id || 10 || eid; output = initial MCV || S-ENC ||
 * S-MAC.  host_id_len must be 1..RSP_BSP_HOST_ID_MAX. */
int rsp_bsp_kdf(const uint8_t *z, size_t z_len, const uint8_t *host_id, size_t host_id_len,
                const uint8_t eid[RSP_BSP_EID_LEN], rsp_bsp_keys *out);

/* ---- segments ---- */

/* Starts a key set: counter 1, MCV = keys->mcv.  Also the key-set change for
 * ReplaceSessionKeys (PPK-ENC, PPK-MAC, initial MCV). */
void rsp_bsp_init(rsp_bsp *st, const rsp_bsp_keys *keys);
void rsp_bsp_clear(rsp_bsp *st);
void rsp_bsp_keys_clear(rsp_bsp_keys *k);

/* Largest plaintext one segment with this tag can carry (1007 for 86/87,
 * 1008 for 88), or 0 for an unknown tag. */
size_t rsp_bsp_max_plain(uint8_t tag);

/* Protects pt as one segment with tag 86/87 (encrypt + MAC) or 88 (MAC only)
 * and appends it to out.  RSP_BSP_ESIZE if pt is longer than
 * rsp_bsp_max_plain(tag). */
int rsp_bsp_wrap(rsp_bsp *st, uint8_t tag, const uint8_t *pt, size_t len, rsp_bsp_buf *out);

/* Splits pt into segments of rsp_bsp_max_plain(tag) bytes (the last one
 * shorter) and appends them all to out; *nseg (if not NULL) gets the count.
 * An empty pt gives one segment.  On failure out and st are as before. */
int rsp_bsp_wrap_split(rsp_bsp *st, uint8_t tag, const uint8_t *pt, size_t len, rsp_bsp_buf *out,
                       size_t *nseg);

/* The same with segments of up to max_plain plaintext bytes (0: rsp_bsp_max_plain(tag)).  Above it
 * the segments exceed the 1020 bytes of SGP.22 (1023 gives the 1036-byte 86 segments some SM-DP+
 * send): only for testing receivers.  RSP_BSP_EINVAL above RSP_BSP_MAX_PLAIN_LONG. */
int rsp_bsp_wrap_split_at(rsp_bsp *st, uint8_t tag, const uint8_t *pt, size_t len, size_t max_plain,
                          rsp_bsp_buf *out, size_t *nseg);

/* Length of the segment TLV at the start of buf (header + value), checking
 * only the header (tag byte and minimal BER length of at most 82 xx xx).  For
 * walking concatenated segments. */
int rsp_bsp_segment_len(const uint8_t *buf, size_t len, size_t *seg_len);

/* Verifies and opens exactly one segment seg[0..len) whose tag must be tag
 * (86/87: decrypt, 88: MAC only) and appends the plaintext to out.  The MAC is
 * compared in constant time; padding is checked only after the MAC verified.
 * flags: 0 or RSP_BSP_ALLOW_OVERSIZE.  seg must not point into out. */
int rsp_bsp_unwrap(rsp_bsp *st, uint8_t tag, const uint8_t *seg, size_t len, unsigned flags,
                   rsp_bsp_buf *out);

#endif
