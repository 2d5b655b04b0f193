/*
 * Tests for rsp/bsp: the SGP.22 BSP known-answer vectors (shared
 * vectors/bsp-kat.json, every group in file order) and self-contained checks
 * of ECKA, segment protection, tampering, padding and size limits.
 */
#include "rsp/bsp.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define JSMN_STATIC
#include <jsmn.h>

#include "tests/unit/ut.h"

/* ---- small helpers ---- */

static uint8_t *xmalloc(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Strict hex decode of s[0..n); NULL on any bad digit or odd length. */
static uint8_t *hex_n(const char *s, size_t n, size_t *len)
{
    if (n % 2)
        return NULL;
    uint8_t *out = xmalloc(n / 2);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

static uint8_t *b64_n(const char *s, size_t n, size_t *len)
{
    if (n % 4 || n > (size_t)INT32_MAX)
        return NULL;
    uint8_t *out = xmalloc(n / 4 * 3);
    int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (r < 0) {
        free(out);
        return NULL;
    }
    size_t l = (size_t)r;
    /* EVP_DecodeBlock counts the bytes '=' padding stands for. */
    if (n && s[n - 1] == '=')
        l--;
    if (n > 1 && s[n - 2] == '=')
        l--;
    *len = l;
    return out;
}

static rsp_bsp_keys keys_of(uint8_t enc, uint8_t mac, uint8_t mcv)
{
    rsp_bsp_keys k;
    for (int i = 0; i < RSP_BSP_KEY_LEN; i++) {
        k.s_enc[i] = (uint8_t)(enc + i);
        k.s_mac[i] = (uint8_t)(mac + 3 * i);
        k.mcv[i] = (uint8_t)(mcv ^ (7 * i));
    }
    return k;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* ---- tiny JSON access over jsmn tokens ---- */

typedef struct json {
    char *text;
    jsmntok_t *tok;
    int n;
} json;

static int js_next(const json *j, int i)
{
    int end = j->tok[i].end;
    int k = i + 1;
    while (k < j->n && j->tok[k].start < end)
        k++;
    return k;
}

static bool js_is(const json *j, int i, const char *s)
{
    size_t n = (size_t)(j->tok[i].end - j->tok[i].start);
    return j->tok[i].type == JSMN_STRING && strlen(s) == n && memcmp(j->text + j->tok[i].start, s, n) == 0;
}

/* Value token of key in object obj, or -1. */
static int js_get(const json *j, int obj, const char *key)
{
    if (obj < 0 || j->tok[obj].type != JSMN_OBJECT)
        return -1;
    int k = obj + 1;
    for (int m = 0; m < j->tok[obj].size; m++) {
        if (js_is(j, k, key))
            return k + 1;
        k = js_next(j, k + 1);
    }
    return -1;
}

/* Element idx of array arr, or -1. */
static int js_at(const json *j, int arr, int idx)
{
    if (arr < 0 || j->tok[arr].type != JSMN_ARRAY || idx >= j->tok[arr].size)
        return -1;
    int k = arr + 1;
    for (int m = 0; m < idx; m++)
        k = js_next(j, k);
    return k;
}

static int js_len(const json *j, int arr)
{
    return arr >= 0 && j->tok[arr].type == JSMN_ARRAY ? j->tok[arr].size : -1;
}

/* Strings in the vector file carry no escapes in the fields read here. */
static char *js_str(const json *j, int i)
{
    if (i < 0 || j->tok[i].type != JSMN_STRING)
        return NULL;
    size_t n = (size_t)(j->tok[i].end - j->tok[i].start);
    char *s = (char *)xmalloc(n + 1);
    memcpy(s, j->text + j->tok[i].start, n);
    s[n] = 0;
    return s;
}

static uint8_t *js_hex(const json *j, int i, size_t *len)
{
    if (i < 0 || j->tok[i].type != JSMN_STRING)
        return NULL;
    return hex_n(j->text + j->tok[i].start, (size_t)(j->tok[i].end - j->tok[i].start), len);
}

static uint8_t *js_b64(const json *j, int i, size_t *len)
{
    if (i < 0 || j->tok[i].type != JSMN_STRING)
        return NULL;
    return b64_n(j->text + j->tok[i].start, (size_t)(j->tok[i].end - j->tok[i].start), len);
}

static long js_num(const json *j, int i)
{
    if (i < 0 || j->tok[i].type != JSMN_PRIMITIVE)
        return -1;
    return strtol(j->text + j->tok[i].start, NULL, 10);
}

/* True if the hex string at token i equals the n bytes at p. */
static bool js_hex_eq(const json *j, int i, const uint8_t *p, size_t n)
{
    size_t l = 0;
    uint8_t *v = js_hex(j, i, &l);
    bool eq = v && l == n && memcmp(v, p, n) == 0;
    free(v);
    return eq;
}

static bool js_keys(const json *j, int obj, rsp_bsp_keys *k)
{
    size_t a = 0, b = 0, c = 0;
    uint8_t *enc = js_hex(j, js_get(j, obj, "s_enc"), &a);
    uint8_t *mac = js_hex(j, js_get(j, obj, "s_mac"), &b);
    uint8_t *mcv = js_hex(j, js_get(j, obj, "initial_mcv"), &c);
    bool ok = enc && mac && mcv && a == 16 && b == 16 && c == 16;
    if (ok) {
        memcpy(k->s_enc, enc, 16);
        memcpy(k->s_mac, mac, 16);
        memcpy(k->mcv, mcv, 16);
    }
    free(enc);
    free(mac);
    free(mcv);
    return ok;
}

static json kat;
static bool kat_loaded;

static bool kat_load(const char *what)
{
    if (kat_loaded)
        return kat.text != NULL;
    kat_loaded = true;
    const char *dir = ut_shared_dir(what);
    if (!dir)
        return false;
    char path[4096];
    snprintf(path, sizeof(path), "%s/vectors/bsp-kat.json", dir);
    size_t len = 0;
    uint8_t *raw = ut_read_file(path, &len);
    if (!raw) {
        printf("SKIP %s: %s not found\n", what, path);
        return false;
    }
    kat.text = (char *)xmalloc(len + 1);
    memcpy(kat.text, raw, len);
    kat.text[len] = 0;
    free(raw);
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, kat.text, len, NULL, 0);
    UT_CHECK(n > 0);
    if (n <= 0)
        goto bad;
    kat.tok = calloc((size_t)n, sizeof(*kat.tok));
    jsmn_init(&p);
    kat.n = jsmn_parse(&p, kat.text, len, kat.tok, (unsigned)n);
    UT_EQ(kat.n, n);
    if (kat.n != n || kat.tok[0].type != JSMN_OBJECT)
        goto bad;
    return true;
bad:
    free(kat.tok);
    free(kat.text);
    kat.tok = NULL;
    kat.text = NULL;
    return false;
}

/* ---- minimal TLV walk for the BPP (asn1/der is not a dependency) ---- */

typedef struct tlv {
    uint32_t tag;
    const uint8_t *raw, *val;
    size_t raw_len, len;
} tlv;

static bool tlv_parse(const uint8_t *p, size_t n, tlv *t)
{
    size_t i = 0;
    if (n < 2)
        return false;
    t->tag = p[i++];
    if ((t->tag & 0x1F) == 0x1F) {
        do {
            if (i >= n || i > 3)
                return false;
            t->tag = t->tag << 8 | p[i];
        } while (p[i++] & 0x80);
    }
    if (i >= n)
        return false;
    size_t l = p[i++];
    if (l & 0x80) {
        size_t k = l & 0x7F;
        if (k == 0 || k > 3 || i + k > n)
            return false;
        l = 0;
        while (k--)
            l = l << 8 | p[i++];
    }
    if (l > n - i)
        return false;
    t->raw = p;
    t->val = p + i;
    t->len = l;
    t->raw_len = i + l;
    return true;
}

/* ---- known-answer vectors ---- */

static void test_kat_kdf(void)
{
    if (!kat_load("bsp KAT"))
        return;
    const json *j = &kat;
    int arr = js_get(j, 0, "kdf_vectors");
    UT_EQ(js_len(j, arr), 2);
    for (int v = 0; v < js_len(j, arr); v++) {
        int vec = js_at(j, arr, v);
        int in = js_get(j, vec, "inputs"), ex = js_get(j, vec, "expected");
        size_t zl = 0, hl = 0, el = 0, tl = 0, kl = 0;
        uint8_t *z = js_hex(j, js_get(j, in, "shared_secret"), &zl);
        uint8_t *host = js_hex(j, js_get(j, in, "host_id"), &hl);
        uint8_t *eid = js_hex(j, js_get(j, in, "eid"), &el);
        uint8_t *kt = js_hex(j, js_get(j, in, "key_type"), &tl);
        uint8_t *klen = js_hex(j, js_get(j, in, "key_length"), &kl);
        UT_CHECK(z && host && eid && kt && klen);
        UT_EQ(el, RSP_BSP_EID_LEN);
        if (!z || !host || !eid || !kt || !klen || el != RSP_BSP_EID_LEN)
            goto next;
        /* The KDF fixes keyType and keyLen; the vectors must agree. */
        UT_CHECK(tl == 1 && kt[0] == RSP_BSP_KEY_TYPE_AES);
        UT_CHECK(kl == 1 && klen[0] == RSP_BSP_KEY_LEN_CODE);
        rsp_bsp_keys k;
        UT_EQ(rsp_bsp_kdf(z, zl, host, hl, eid, &k), RSP_BSP_OK);
        UT_CHECK(js_hex_eq(j, js_get(j, ex, "s_enc"), k.s_enc, 16));
        UT_CHECK(js_hex_eq(j, js_get(j, ex, "s_mac"), k.s_mac, 16));
        UT_CHECK(js_hex_eq(j, js_get(j, ex, "initial_mcv"), k.mcv, 16));
        uint8_t all[48];
        memcpy(all, k.mcv, 16);
        memcpy(all + 16, k.s_enc, 16);
        memcpy(all + 32, k.s_mac, 16);
        UT_CHECK(
            js_hex_eq(j, js_get(j, js_get(j, vec, "intermediate_computed_by_us"), "kdf_output_48"), all, 48));
    next:
        free(z);
        free(host);
        free(eid);
        free(kt);
        free(klen);
    }
}

/* Runs one protect step on enc and the matching verify step on dec, checking
 * the expected segment and the recorded counter and MCV chaining. */
static void kat_step(const json *j, int s, rsp_bsp *enc, rsp_bsp *dec)
{
    size_t tl = 0, pl = 0;
    uint8_t *tag = js_hex(j, js_get(j, s, "tag"), &tl);
    uint8_t *pt = js_hex(j, js_get(j, s, "plaintext"), &pl);
    char *fn = js_str(j, js_get(j, s, "function"));
    int im = js_get(j, s, "intermediate_computed_by_us");
    UT_CHECK(tag && tl == 1 && pt && fn);
    if (!tag || tl != 1 || !pt || !fn)
        goto out;
    long len = js_num(j, js_get(j, s, "plaintext_length"));
    if (len >= 0)
        UT_EQ(pl, len);
    /* The function names say which tags are MAC-only. */
    bool mac_only = strcmp(fn, "mac_only") == 0;
    UT_CHECK(mac_only || strncmp(fn, "encrypt_and_mac", 15) == 0);
    UT_EQ(mac_only, tag[0] == RSP_BSP_TAG_MAC);

    UT_EQ(enc->counter, js_num(j, js_get(j, im, "block_counter")));
    UT_CHECK(js_hex_eq(j, js_get(j, im, "mcv_before"), enc->k.mcv, 16));

    rsp_bsp_buf out;
    rsp_bsp_buf_init(&out);
    UT_EQ(rsp_bsp_wrap(enc, tag[0], pt, pl, &out), RSP_BSP_OK);
    UT_CHECK(js_hex_eq(j, js_get(j, s, "expected_segment"), out.data, out.len));
    long sl = js_num(j, js_get(j, s, "expected_segment_length"));
    if (sl >= 0)
        UT_EQ(out.len, sl);
    UT_CHECK(js_hex_eq(j, js_get(j, im, "cmac_full_becomes_next_mcv"), enc->k.mcv, 16));

    /* eUICC side: the expected segment itself verifies and opens. */
    size_t el = 0;
    uint8_t *exp = js_hex(j, js_get(j, s, "expected_segment"), &el);
    rsp_bsp_buf plain;
    rsp_bsp_buf_init(&plain);
    UT_EQ(rsp_bsp_unwrap(dec, tag[0], exp, el, 0, &plain), RSP_BSP_OK);
    UT_CHECK(plain.len == pl && memcmp(plain.data, pt, pl) == 0);
    UT_CHECK(memcmp(dec, enc, sizeof(*dec)) == 0);
    free(exp);
    rsp_bsp_buf_free(&plain);
    rsp_bsp_buf_free(&out);
out:
    free(tag);
    free(pt);
    free(fn);
}

/* Reads ReplaceSessionKeysRequest BF26 { 80 mcv, 81 ppkEnc, 82 ppkCmac }. */
static bool parse_bf26(const uint8_t *p, size_t n, rsp_bsp_keys *k)
{
    tlv t, e;
    if (!tlv_parse(p, n, &t) || t.raw_len != n || t.tag != 0xBF26)
        return false;
    const uint8_t *q = t.val, *end = t.val + t.len;
    uint8_t *dst[3] = {k->mcv, k->s_enc, k->s_mac};
    for (uint32_t want = 0x80; want <= 0x82; want++) {
        if (!tlv_parse(q, (size_t)(end - q), &e) || e.tag != want || e.len != 16)
            return false;
        memcpy(dst[want - 0x80], e.val, 16);
        q += e.raw_len;
    }
    return q == end;
}

static rsp_bsp_keys ppk_from_step3;
static bool have_ppk_from_step3;

static void test_kat_ciphering_sequence(void)
{
    if (!kat_load("bsp KAT"))
        return;
    const json *j = &kat;
    int cs = js_get(j, 0, "ciphering_sequence");
    rsp_bsp_keys k;
    UT_CHECK(js_keys(j, js_get(j, cs, "keys"), &k));

    /* The key set is the output of kdf-2. */
    int kdf2 = js_get(j, js_at(j, js_get(j, 0, "kdf_vectors"), 1), "expected");
    UT_CHECK(js_hex_eq(j, js_get(j, kdf2, "s_enc"), k.s_enc, 16));
    UT_CHECK(js_hex_eq(j, js_get(j, kdf2, "s_mac"), k.s_mac, 16));
    UT_CHECK(js_hex_eq(j, js_get(j, kdf2, "initial_mcv"), k.mcv, 16));

    rsp_bsp enc, dec;
    rsp_bsp_init(&enc, &k);
    rsp_bsp_init(&dec, &k);
    int steps = js_get(j, cs, "steps");
    UT_EQ(js_len(j, steps), 3);
    for (int i = 0; i < js_len(j, steps); i++) {
        int s = js_at(j, steps, i);
        UT_EQ(js_num(j, js_get(j, s, "step")), i + 1);
        kat_step(j, s, &enc, &dec);
    }
    UT_EQ(enc.counter, 4);

    /* Step 3 carries the PPKs that ppk_segments uses. */
    size_t pl = 0;
    uint8_t *pt = js_hex(j, js_get(j, js_at(j, steps, 2), "plaintext"), &pl);
    have_ppk_from_step3 = pt && parse_bf26(pt, pl, &ppk_from_step3);
    UT_CHECK(have_ppk_from_step3);
    free(pt);
    rsp_bsp_clear(&enc);
    rsp_bsp_clear(&dec);
}

static void test_kat_ppk_segments(void)
{
    if (!kat_load("bsp KAT"))
        return;
    const json *j = &kat;
    int ps = js_get(j, 0, "ppk_segments");
    rsp_bsp_keys k;
    UT_CHECK(js_keys(j, js_get(j, ps, "keys"), &k));
    if (have_ppk_from_step3)
        UT_CHECK(memcmp(&k, &ppk_from_step3, sizeof(k)) == 0);

    rsp_bsp enc, dec;
    rsp_bsp_init(&enc, &k);
    rsp_bsp_init(&dec, &k);
    int segs = js_get(j, ps, "segments");
    UT_EQ(js_len(j, segs), 2);
    rsp_bsp_buf all_pt, all_seg;
    rsp_bsp_buf_init(&all_pt);
    rsp_bsp_buf_init(&all_seg);
    for (int i = 0; i < js_len(j, segs); i++) {
        int s = js_at(j, segs, i);
        kat_step(j, s, &enc, &dec);
        size_t n = 0;
        uint8_t *v = js_hex(j, js_get(j, s, "plaintext"), &n);
        UT_EQ(rsp_bsp_buf_append(&all_pt, v, n), RSP_BSP_OK);
        free(v);
        v = js_hex(j, js_get(j, s, "expected_segment"), &n);
        UT_EQ(n, RSP_BSP_MAX_SEGMENT);
        UT_EQ(rsp_bsp_buf_append(&all_seg, v, n), RSP_BSP_OK);
        free(v);
    }

    /* Both plaintexts are maximal, so the splitter must cut the joined
     * plaintext into exactly these two segments. */
    rsp_bsp split;
    rsp_bsp_init(&split, &k);
    rsp_bsp_buf out;
    rsp_bsp_buf_init(&out);
    size_t nseg = 0;
    UT_EQ(rsp_bsp_wrap_split(&split, RSP_BSP_TAG_UPP, all_pt.data, all_pt.len, &out, &nseg), RSP_BSP_OK);
    UT_EQ(nseg, 2);
    UT_CHECK(out.len == all_seg.len && memcmp(out.data, all_seg.data, out.len) == 0);
    UT_CHECK(memcmp(&split, &enc, sizeof(split)) == 0);

    /* A fresh session-key instance must not open PPK segments. */
    int cs_keys = js_get(j, js_get(j, 0, "ciphering_sequence"), "keys");
    rsp_bsp_keys sk;
    if (js_keys(j, cs_keys, &sk)) {
        rsp_bsp wrong;
        rsp_bsp_init(&wrong, &sk);
        rsp_bsp_buf plain;
        rsp_bsp_buf_init(&plain);
        UT_EQ(rsp_bsp_unwrap(&wrong, RSP_BSP_TAG_UPP, all_seg.data, RSP_BSP_MAX_SEGMENT, 0, &plain),
              RSP_BSP_EMAC);
        UT_EQ(plain.len, 0);
        rsp_bsp_buf_free(&plain);
    }
    rsp_bsp_buf_free(&out);
    rsp_bsp_buf_free(&all_pt);
    rsp_bsp_buf_free(&all_seg);
}

/* Opens every element of a SEQUENCE OF container.  In this vector each element
 * is an outer 87/88/86 TLV whose value is the BSP segment (see its quirks). */
static int bpp_open_container(const tlv *c, uint8_t tag, rsp_bsp *st, unsigned flags, rsp_bsp_buf *out)
{
    const uint8_t *p = c->val, *end = c->val + c->len;
    int count = 0;
    while (p < end) {
        tlv outer, inner;
        if (!tlv_parse(p, (size_t)(end - p), &outer) || outer.tag != tag)
            return -1;
        if (!tlv_parse(outer.val, outer.len, &inner) || inner.raw_len != outer.len || inner.tag != tag)
            return -1;
        int rc = rsp_bsp_unwrap(st, tag, inner.raw, inner.raw_len, flags, out);
        UT_EQ(rc, RSP_BSP_OK);
        if (rc)
            return -1;
        count++;
        p += outer.raw_len;
    }
    return count;
}

static void test_kat_bound_profile_package(void)
{
    if (!kat_load("bsp KAT"))
        return;
    const json *j = &kat;
    int b = js_get(j, 0, "bound_profile_package");
    int ex = js_get(j, b, "expected");
    int parsed = js_get(j, b, "parsed_by_us");
    int counts = js_get(j, parsed, "segment_counts");
    size_t bl = 0, ul = 0, cl = 0, sl = 0;
    uint8_t *bpp = js_b64(j, js_get(j, b, "bpp_b64"), &bl);
    uint8_t *upp = js_b64(j, js_get(j, ex, "upp_b64"), &ul);
    uint8_t *conf = js_hex(j, js_get(j, ex, "configure_isdp_plaintext"), &cl);
    uint8_t *meta = js_hex(j, js_get(j, ex, "store_metadata_plaintext"), &sl);
    rsp_bsp_keys sk, pk;
    UT_CHECK(bpp && upp && conf && meta);
    UT_CHECK(js_keys(j, js_get(j, b, "session_keys"), &sk));
    UT_CHECK(js_keys(j, js_get(j, b, "ppk_keys"), &pk));
    if (!bpp || !upp || !conf || !meta)
        goto out;
    UT_EQ(bl, js_num(j, js_get(j, b, "bpp_length")));
    UT_EQ(ul, js_num(j, js_get(j, ex, "upp_length")));
    uint8_t h[SHA256_DIGEST_LENGTH];
    SHA256(upp, ul, h);
    UT_CHECK(js_hex_eq(j, js_get(j, ex, "upp_sha256"), h, sizeof(h)));

    tlv top;
    UT_CHECK(tlv_parse(bpp, bl, &top) && top.raw_len == bl && top.tag == 0xBF36);
    if (top.tag != 0xBF36)
        goto out;
    tlv part[5];
    int np = 0;
    for (const uint8_t *p = top.val, *end = top.val + top.len; p < end && np < 5; np++) {
        if (!tlv_parse(p, (size_t)(end - p), &part[np]))
            break;
        p += part[np].raw_len;
    }
    /* BF23, A0, A1, A3: no A2 in this vector. */
    UT_EQ(np, 4);
    if (np != 4)
        goto out;
    UT_EQ(part[0].tag, 0xBF23);
    UT_EQ(part[1].tag, 0xA0);
    UT_EQ(part[2].tag, 0xA1);
    UT_EQ(part[3].tag, 0xA3);
    UT_EQ(js_num(j, js_get(j, counts, "A2_87")), 0);

    /* InitialiseSecureChannel: hostId and smdpOtpk as the file records. */
    int isc = js_get(j, parsed, "initialise_secure_channel");
    bool saw_host = false, saw_otpk = false;
    for (const uint8_t *p = part[0].val, *end = part[0].val + part[0].len; p < end;) {
        tlv e;
        if (!tlv_parse(p, (size_t)(end - p), &e))
            break;
        if (e.tag == 0xA6) {
            for (const uint8_t *q = e.val; q < e.val + e.len;) {
                tlv f;
                if (!tlv_parse(q, (size_t)(e.val + e.len - q), &f))
                    break;
                if (f.tag == 0x84)
                    saw_host = js_hex_eq(j, js_get(j, isc, "host_id"), f.val, f.len);
                q += f.raw_len;
            }
        } else if (e.tag == 0x5F49) {
            saw_otpk = js_hex_eq(j, js_get(j, isc, "smdp_otpk"), e.val, e.len);
            /* This SM-DP+ used brainpoolP256r1; the point is not on P-256. */
            EVP_PKEY *peer = NULL;
            UT_EQ(rsp_ecka_peer(NID_brainpoolP256r1, e.val, e.len, &peer), RSP_BSP_OK);
            UT_EQ(rsp_ecka_curve_nid(peer), NID_brainpoolP256r1);
            EVP_PKEY_free(peer);
            peer = NULL;
            UT_EQ(rsp_ecka_peer(NID_X9_62_prime256v1, e.val, e.len, &peer), RSP_BSP_EPOINT);
            UT_CHECK(peer == NULL);
        }
        p += e.raw_len;
    }
    UT_CHECK(saw_host);
    UT_CHECK(saw_otpk);

    rsp_bsp sess, ppk;
    rsp_bsp_init(&sess, &sk);
    rsp_bsp_init(&ppk, &pk);
    rsp_bsp_buf o;
    rsp_bsp_buf_init(&o);

    /* A0 then A1 on the same session-key instance. */
    UT_EQ(bpp_open_container(&part[1], RSP_BSP_TAG_ENC, &sess, 0, &o), js_num(j, js_get(j, counts, "A0_87")));
    UT_CHECK(o.len == cl && memcmp(o.data, conf, cl) == 0);
    o.len = 0;
    UT_EQ(bpp_open_container(&part[2], RSP_BSP_TAG_MAC, &sess, 0, &o), js_num(j, js_get(j, counts, "A1_88")));
    UT_CHECK(o.len == sl && memcmp(o.data, meta, sl) == 0);
    UT_EQ(sess.counter, 3);
    o.len = 0;

    /* A3's first segment: oversized, and not under the continued session
     * keys; both are refused without touching the state. */
    tlv outer, inner;
    UT_CHECK(tlv_parse(part[3].val, part[3].len, &outer) && tlv_parse(outer.val, outer.len, &inner));
    UT_EQ(inner.raw_len, 1036);
    rsp_bsp before = ppk;
    UT_EQ(rsp_bsp_unwrap(&ppk, RSP_BSP_TAG_UPP, inner.raw, inner.raw_len, 0, &o), RSP_BSP_ESIZE);
    UT_CHECK(memcmp(&before, &ppk, sizeof(ppk)) == 0);
    UT_EQ(rsp_bsp_unwrap(&sess, RSP_BSP_TAG_UPP, inner.raw, inner.raw_len, RSP_BSP_ALLOW_OVERSIZE, &o),
          RSP_BSP_EMAC);
    UT_EQ(o.len, 0);

    /* A3 on the PPK instance (counter 1, its own MCV). */
    UT_EQ(bpp_open_container(&part[3], RSP_BSP_TAG_UPP, &ppk, RSP_BSP_ALLOW_OVERSIZE, &o),
          js_num(j, js_get(j, counts, "A3_86")));
    UT_CHECK(o.len == ul && memcmp(o.data, upp, ul) == 0);
    UT_EQ(ppk.counter, 1 + js_num(j, js_get(j, counts, "A3_86")));
    rsp_bsp_buf_free(&o);
out:
    free(bpp);
    free(upp);
    free(conf);
    free(meta);
}

/* ---- self-contained tests ---- */

/* Independent segment builder (OpenSSL directly): encrypts an already padded
 * payload as given and MACs it, so tests can forge bad padding and oversize
 * segments with valid MACs. */
static size_t forge(const rsp_bsp *st, uint8_t tag, const uint8_t *payload, size_t plen, bool encrypt,
                    uint8_t *out)
{
    size_t v = plen + 8, h = 0;
    out[h++] = tag;
    if (v >= 256) {
        out[h++] = 0x82;
        out[h++] = (uint8_t)(v >> 8);
    } else if (v >= 128) {
        out[h++] = 0x81;
    }
    out[h++] = (uint8_t)v;
    memcpy(out + h, payload, plen);
    int l = 0;
    if (encrypt) {
        uint8_t ctr[16] = {0}, iv[16];
        for (int i = 0; i < 8; i++)
            ctr[15 - i] = (uint8_t)(st->counter >> (8 * i));
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, st->k.s_enc, NULL);
        EVP_CIPHER_CTX_set_padding(c, 0);
        EVP_EncryptUpdate(c, iv, &l, ctr, 16);
        EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, st->k.s_enc, iv);
        EVP_CIPHER_CTX_set_padding(c, 0);
        EVP_EncryptUpdate(c, out + h, &l, out + h, (int)plen);
        EVP_CIPHER_CTX_free(c);
    }
    uint8_t mac[16];
    size_t ml = 0;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *mc = EVP_MAC_CTX_new(m);
    OSSL_PARAM prm[] = {OSSL_PARAM_construct_utf8_string("cipher", "AES-128-CBC", 0),
                        OSSL_PARAM_construct_end()};
    EVP_MAC_init(mc, st->k.s_mac, 16, prm);
    EVP_MAC_update(mc, st->k.mcv, 16);
    EVP_MAC_update(mc, out, h + plen);
    EVP_MAC_final(mc, mac, &ml, 16);
    EVP_MAC_CTX_free(mc);
    EVP_MAC_free(m);
    memcpy(out + h + plen, mac, 8);
    return h + plen + 8;
}

/* Both ends of a download on one curve: ECKA, KDF, the 87/88/87 session part,
 * the key change to PPKs and a split 86 profile. */
static void roundtrip_on(int nid)
{
    EVP_PKEY *dp_cert = NULL, *dp = NULL, *eu = NULL;
    UT_EQ(rsp_ecka_generate(nid, &dp_cert), RSP_BSP_OK);
    /* The one-time key follows the curve of CERT.DPpb. */
    UT_EQ(rsp_ecka_generate_like(dp_cert, &dp), RSP_BSP_OK);
    UT_EQ(rsp_ecka_curve_nid(dp), nid);
    UT_EQ(rsp_ecka_generate(nid, &eu), RSP_BSP_OK);
    if (!dp || !eu)
        goto out;
    uint8_t dp_pub[65], eu_pub[65], z1[32], z2[32];
    UT_EQ(rsp_ecka_public(dp, dp_pub), RSP_BSP_OK);
    UT_EQ(rsp_ecka_public(eu, eu_pub), RSP_BSP_OK);
    UT_EQ(dp_pub[0], 0x04);
    UT_EQ(rsp_ecka_shared(dp, eu_pub, sizeof(eu_pub), z1), RSP_BSP_OK);
    UT_EQ(rsp_ecka_shared(eu, dp_pub, sizeof(dp_pub), z2), RSP_BSP_OK);
    UT_CHECK(memcmp(z1, z2, 32) == 0);

    static const uint8_t host[] = "mahlzeit";
    uint8_t eid[16];
    size_t el = 0;
    uint8_t *e = hex_n("89049032123451234512345678901235", 32, &el);
    memcpy(eid, e, 16);
    free(e);
    rsp_bsp_keys k1, k2;
    UT_EQ(rsp_bsp_kdf(z1, 32, host, 8, eid, &k1), RSP_BSP_OK);
    UT_EQ(rsp_bsp_kdf(z2, 32, host, 8, eid, &k2), RSP_BSP_OK);
    UT_CHECK(memcmp(&k1, &k2, sizeof(k1)) == 0);

    rsp_bsp dpst, eust;
    rsp_bsp_init(&dpst, &k1);
    rsp_bsp_init(&eust, &k2);
    uint8_t bf24[] = {0xBF, 0x24, 0x00}, meta[300], bf26[3 + 3 * 18];
    fill(meta, sizeof(meta), (uint32_t)nid);
    rsp_bsp_keys ppk;
    RAND_bytes((uint8_t *)&ppk, sizeof(ppk));
    bf26[0] = 0xBF;
    bf26[1] = 0x26;
    bf26[2] = 54;
    uint8_t *fields[3] = {ppk.mcv, ppk.s_enc, ppk.s_mac};
    for (int i = 0; i < 3; i++) {
        bf26[3 + 18 * i] = (uint8_t)(0x80 + i);
        bf26[4 + 18 * i] = 16;
        memcpy(bf26 + 5 + 18 * i, fields[i], 16);
    }
    rsp_bsp_buf a0, a1, a2, a3, o;
    rsp_bsp_buf_init(&a0);
    rsp_bsp_buf_init(&a1);
    rsp_bsp_buf_init(&a2);
    rsp_bsp_buf_init(&a3);
    rsp_bsp_buf_init(&o);
    UT_EQ(rsp_bsp_wrap(&dpst, RSP_BSP_TAG_ENC, bf24, sizeof(bf24), &a0), RSP_BSP_OK);
    UT_EQ(rsp_bsp_wrap(&dpst, RSP_BSP_TAG_MAC, meta, sizeof(meta), &a1), RSP_BSP_OK);
    UT_EQ(rsp_bsp_wrap(&dpst, RSP_BSP_TAG_ENC, bf26, sizeof(bf26), &a2), RSP_BSP_OK);
    UT_EQ(dpst.counter, 4);

    size_t upp_len = 5000, nseg = 0;
    uint8_t *upp = xmalloc(upp_len);
    fill(upp, upp_len, 77);
    rsp_bsp dpppk;
    rsp_bsp_init(&dpppk, &ppk);
    UT_EQ(rsp_bsp_wrap_split(&dpppk, RSP_BSP_TAG_UPP, upp, upp_len, &a3, &nseg), RSP_BSP_OK);
    UT_EQ(nseg, 5);

    UT_EQ(rsp_bsp_unwrap(&eust, RSP_BSP_TAG_ENC, a0.data, a0.len, 0, &o), RSP_BSP_OK);
    UT_CHECK(o.len == sizeof(bf24) && memcmp(o.data, bf24, o.len) == 0);
    o.len = 0;
    UT_EQ(rsp_bsp_unwrap(&eust, RSP_BSP_TAG_MAC, a1.data, a1.len, 0, &o), RSP_BSP_OK);
    UT_CHECK(o.len == sizeof(meta) && memcmp(o.data, meta, o.len) == 0);
    /* MAC-only keeps the plaintext readable in the segment. */
    UT_CHECK(memcmp(a1.data + 4, meta, sizeof(meta)) == 0);
    o.len = 0;
    UT_EQ(rsp_bsp_unwrap(&eust, RSP_BSP_TAG_ENC, a2.data, a2.len, 0, &o), RSP_BSP_OK);
    rsp_bsp_keys got;
    UT_CHECK(parse_bf26(o.data, o.len, &got) && memcmp(&got, &ppk, sizeof(ppk)) == 0);
    o.len = 0;

    rsp_bsp euppk;
    rsp_bsp_init(&euppk, &got);
    size_t off = 0, segs = 0;
    while (off < a3.len) {
        size_t sl = 0;
        UT_EQ(rsp_bsp_segment_len(a3.data + off, a3.len - off, &sl), RSP_BSP_OK);
        if (!sl)
            break;
        UT_CHECK(sl <= RSP_BSP_MAX_SEGMENT);
        UT_EQ(rsp_bsp_unwrap(&euppk, RSP_BSP_TAG_UPP, a3.data + off, sl, 0, &o), RSP_BSP_OK);
        off += sl;
        segs++;
    }
    UT_EQ(segs, 5);
    UT_CHECK(o.len == upp_len && memcmp(o.data, upp, upp_len) == 0);
    UT_CHECK(memcmp(&euppk, &dpppk, sizeof(euppk)) == 0);

    /* Continuing the session keys instead of switching refuses A3. */
    o.len = 0;
    UT_EQ(rsp_bsp_unwrap(&eust, RSP_BSP_TAG_UPP, a3.data, RSP_BSP_MAX_SEGMENT, 0, &o), RSP_BSP_EMAC);

    free(upp);
    rsp_bsp_buf_free(&a0);
    rsp_bsp_buf_free(&a1);
    rsp_bsp_buf_free(&a2);
    rsp_bsp_buf_free(&a3);
    rsp_bsp_buf_free(&o);
    rsp_bsp_clear(&dpst);
    rsp_bsp_clear(&eust);
out:
    EVP_PKEY_free(dp_cert);
    EVP_PKEY_free(dp);
    EVP_PKEY_free(eu);
}

static void test_roundtrip_p256(void)
{
    roundtrip_on(NID_X9_62_prime256v1);
}

static void test_roundtrip_brainpool(void)
{
    roundtrip_on(NID_brainpoolP256r1);
}

static void test_ecka_refusals(void)
{
    EVP_PKEY *k = NULL, *bp = NULL, *other = NULL, *peer = NULL;
    uint8_t pub[65], bad[65], z[32];
    UT_EQ(rsp_ecka_generate(NID_X9_62_prime256v1, &k), RSP_BSP_OK);
    UT_EQ(rsp_ecka_generate(NID_brainpoolP256r1, &bp), RSP_BSP_OK);
    UT_EQ(rsp_ecka_generate(NID_X9_62_prime256v1, &other), RSP_BSP_OK);
    if (!k || !bp || !other)
        goto out;
    UT_EQ(rsp_ecka_public(other, pub), RSP_BSP_OK);
    UT_EQ(rsp_ecka_shared(k, pub, 65, z), RSP_BSP_OK);

    /* Y changed: off the curve. */
    memcpy(bad, pub, 65);
    bad[64] ^= 1;
    UT_EQ(rsp_ecka_shared(k, bad, 65, z), RSP_BSP_EPOINT);
    UT_EQ(rsp_ecka_peer(NID_X9_62_prime256v1, bad, 65, &peer), RSP_BSP_EPOINT);
    UT_CHECK(peer == NULL);
    /* A P-256 point is not on brainpoolP256r1. */
    UT_EQ(rsp_ecka_shared(bp, pub, 65, z), RSP_BSP_EPOINT);
    /* Point at infinity, compressed form, wrong lengths, wrong prefix. */
    memset(bad, 0, 65);
    bad[0] = 0x04;
    UT_EQ(rsp_ecka_shared(k, bad, 65, z), RSP_BSP_EPOINT);
    memcpy(bad, pub, 33);
    bad[0] = (uint8_t)(0x02 | (pub[64] & 1));
    UT_EQ(rsp_ecka_shared(k, bad, 33, z), RSP_BSP_EPOINT);
    UT_EQ(rsp_ecka_shared(k, pub, 64, z), RSP_BSP_EPOINT);
    UT_EQ(rsp_ecka_shared(k, pub, 0, z), RSP_BSP_EPOINT);
    memcpy(bad, pub, 65);
    bad[0] = 0x06; /* hybrid form */
    UT_EQ(rsp_ecka_shared(k, bad, 65, z), RSP_BSP_EPOINT);
    /* X past the field prime. */
    bad[0] = 0x04;
    memset(bad + 1, 0xFF, 32);
    UT_EQ(rsp_ecka_shared(k, bad, 65, z), RSP_BSP_EPOINT);

    /* Curves other than the two SGP.22 ones. */
    EVP_PKEY *p384 = NULL;
    UT_EQ(rsp_ecka_generate(NID_secp384r1, &p384), RSP_BSP_ECURVE);
    UT_CHECK(p384 == NULL);
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *tmp = NULL;
    UT_EQ(rsp_ecka_generate_like(p384, &tmp), RSP_BSP_ECURVE);
    UT_CHECK(tmp == NULL);
    UT_EQ(rsp_ecka_shared(p384, pub, 65, z), RSP_BSP_ECURVE);
    EVP_PKEY_free(p384);
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    UT_EQ(rsp_ecka_curve_nid(ed), RSP_BSP_EINVAL);
    EVP_PKEY_free(ed);
out:
    EVP_PKEY_free(k);
    EVP_PKEY_free(bp);
    EVP_PKEY_free(other);
}

static void test_kdf_args(void)
{
    uint8_t z[32] = {1}, eid[16] = {0x89}, host[17] = {0};
    rsp_bsp_keys k;
    UT_EQ(rsp_bsp_kdf(z, 32, host, 0, eid, &k), RSP_BSP_EINVAL);
    UT_EQ(rsp_bsp_kdf(z, 32, host, 17, eid, &k), RSP_BSP_EINVAL);
    UT_EQ(rsp_bsp_kdf(z, 0, host, 8, eid, &k), RSP_BSP_EINVAL);
    UT_EQ(rsp_bsp_kdf(z, 32, host, 16, eid, &k), RSP_BSP_OK);
    /* hostId and EID both enter the derivation. */
    rsp_bsp_keys k2;
    UT_EQ(rsp_bsp_kdf(z, 32, host, 15, eid, &k2), RSP_BSP_OK);
    UT_CHECK(memcmp(&k, &k2, sizeof(k)) != 0);
    eid[15] = 1;
    UT_EQ(rsp_bsp_kdf(z, 32, host, 16, eid, &k2), RSP_BSP_OK);
    UT_CHECK(memcmp(&k, &k2, sizeof(k)) != 0);
}

/* Every single-bit change of a segment is refused and leaves the state as it
 * was; the untouched segment still opens afterwards. */
static void bitflips(uint8_t tag, size_t ptlen)
{
    rsp_bsp_keys k = keys_of(0x10, 0x20, 0x30);
    rsp_bsp enc, dec;
    rsp_bsp_init(&enc, &k);
    rsp_bsp_init(&dec, &k);
    uint8_t pt[300];
    fill(pt, sizeof(pt), (uint32_t)ptlen);
    rsp_bsp_buf seg, o;
    rsp_bsp_buf_init(&seg);
    rsp_bsp_buf_init(&o);
    /* Advance once so the chaining value is not the initial one. */
    UT_EQ(rsp_bsp_wrap(&enc, RSP_BSP_TAG_MAC, pt, 5, &seg), RSP_BSP_OK);
    UT_EQ(rsp_bsp_unwrap(&dec, RSP_BSP_TAG_MAC, seg.data, seg.len, 0, &o), RSP_BSP_OK);
    seg.len = 0;
    o.len = 0;
    UT_EQ(rsp_bsp_wrap(&enc, tag, pt, ptlen, &seg), RSP_BSP_OK);
    int refused = 0, total = 0;
    for (size_t i = 0; i < seg.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            rsp_bsp before = dec;
            seg.data[i] ^= (uint8_t)(1u << bit);
            int rc = rsp_bsp_unwrap(&dec, tag, seg.data, seg.len, 0, &o);
            seg.data[i] ^= (uint8_t)(1u << bit);
            total++;
            refused += rc < 0 && o.len == 0 && memcmp(&before, &dec, sizeof(dec)) == 0;
        }
    }
    UT_EQ(refused, total);
    UT_EQ(rsp_bsp_unwrap(&dec, tag, seg.data, seg.len, 0, &o), RSP_BSP_OK);
    UT_CHECK(o.len == ptlen && memcmp(o.data, pt, ptlen) == 0);
    rsp_bsp_buf_free(&seg);
    rsp_bsp_buf_free(&o);
}

static void test_bitflip_refused(void)
{
    bitflips(RSP_BSP_TAG_ENC, 3);
    bitflips(RSP_BSP_TAG_UPP, 200); /* two-byte length */
    bitflips(RSP_BSP_TAG_MAC, 0);
    bitflips(RSP_BSP_TAG_MAC, 130);
    bitflips(RSP_BSP_TAG_MAC, 300); /* three-byte length */
}

static void test_wrong_mac_key_tag(void)
{
    rsp_bsp_keys k = keys_of(1, 2, 3);
    rsp_bsp enc, dec;
    rsp_bsp_init(&enc, &k);
    rsp_bsp_init(&dec, &k);
    uint8_t pt[40];
    fill(pt, sizeof(pt), 5);
    rsp_bsp_buf seg, o;
    rsp_bsp_buf_init(&seg);
    rsp_bsp_buf_init(&o);
    UT_EQ(rsp_bsp_wrap(&enc, RSP_BSP_TAG_ENC, pt, sizeof(pt), &seg), RSP_BSP_OK);

    uint8_t *bad = xmalloc(seg.len);
    memcpy(bad, seg.data, seg.len);
    memset(bad + seg.len - 8, 0, 8);
    UT_EQ(rsp_bsp_unwrap(&dec, RSP_BSP_TAG_ENC, bad, seg.len, 0, &o), RSP_BSP_EMAC);
    /* The MAC is the first half of the CMAC, not the second. */
    memcpy(bad + seg.len - 8, enc.k.mcv + 8, 8);
    UT_EQ(rsp_bsp_unwrap(&dec, RSP_BSP_TAG_ENC, bad, seg.len, 0, &o), RSP_BSP_EMAC);
    UT_EQ(o.len, 0);
    UT_EQ(rsp_bsp_unwrap(&dec, RSP_BSP_TAG_UPP, seg.data, seg.len, 0, &o), RSP_BSP_ETAG);
    UT_EQ(rsp_bsp_unwrap(&dec, 0x85, seg.data, seg.len, 0, &o), RSP_BSP_EINVAL);

    /* Other keys: different S-MAC, different initial MCV. */
    rsp_bsp other;
    rsp_bsp_keys k2 = k;
    k2.s_mac[0] ^= 1;
    rsp_bsp_init(&other, &k2);
    UT_EQ(rsp_bsp_unwrap(&other, RSP_BSP_TAG_ENC, seg.data, seg.len, 0, &o), RSP_BSP_EMAC);
    k2 = k;
    k2.mcv[15] ^= 0x80;
    rsp_bsp_init(&other, &k2);
    UT_EQ(rsp_bsp_unwrap(&other, RSP_BSP_TAG_ENC, seg.data, seg.len, 0, &o), RSP_BSP_EMAC);
    /* Wrong S-ENC: the MAC verifies, the plaintext cannot come out right. */
    k2 = k;
    k2.s_enc[3] ^= 4;
    rsp_bsp_init(&other, &k2);
    int rc = rsp_bsp_unwrap(&other, RSP_BSP_TAG_ENC, seg.data, seg.len, 0, &o);
    UT_CHECK(rc == RSP_BSP_EPADDING ||
             (rc == RSP_BSP_OK && (o.len != sizeof(pt) || memcmp(o.data, pt, o.len))));
    o.len = 0;

    UT_EQ(rsp_bsp_unwrap(&dec, RSP_BSP_TAG_ENC, seg.data, seg.len, 0, &o), RSP_BSP_OK);
    UT_CHECK(o.len == sizeof(pt) && memcmp(o.data, pt, sizeof(pt)) == 0);
    /* Replay of the same segment: the MCV has moved on. */
    UT_EQ(rsp_bsp_unwrap(&dec, RSP_BSP_TAG_ENC, seg.data, seg.len, 0, &o), RSP_BSP_EMAC);
    free(bad);
    rsp_bsp_buf_free(&seg);
    rsp_bsp_buf_free(&o);
}

static void test_order_and_counter(void)
{
    rsp_bsp_keys k = keys_of(9, 8, 7);
    rsp_bsp enc, dec;
    rsp_bsp_init(&enc, &k);
    rsp_bsp_init(&dec, &k);
    uint8_t pt[3][20];
    rsp_bsp_buf s[3], o;
    rsp_bsp_buf_init(&o);
    static const uint8_t tags[3] = {RSP_BSP_TAG_ENC, RSP_BSP_TAG_MAC, RSP_BSP_TAG_ENC};
    for (int i = 0; i < 3; i++) {
        fill(pt[i], 20, (uint32_t)i);
        rsp_bsp_buf_init(&s[i]);
        UT_EQ(rsp_bsp_wrap(&enc, tags[i], pt[i], 20, &s[i]), RSP_BSP_OK);
    }
    /* Out of order or skipped: the chaining value does not match. */
    UT_EQ(rsp_bsp_unwrap(&dec, tags[1], s[1].data, s[1].len, 0, &o), RSP_BSP_EMAC);
    UT_EQ(rsp_bsp_unwrap(&dec, tags[2], s[2].data, s[2].len, 0, &o), RSP_BSP_EMAC);
    UT_EQ(dec.counter, 1);
    for (int i = 0; i < 3; i++) {
        o.len = 0;
        UT_EQ(rsp_bsp_unwrap(&dec, tags[i], s[i].data, s[i].len, 0, &o), RSP_BSP_OK);
        UT_CHECK(o.len == 20 && memcmp(o.data, pt[i], 20) == 0);
    }
    /* The MAC-only segment used counter 2, so the third used 3. */
    UT_EQ(dec.counter, 4);

    /* Counter out of step with a matching MCV: the MAC does not cover the
     * counter, but the IV does, so decryption cannot give the plaintext. */
    rsp_bsp e2, d2;
    rsp_bsp_init(&e2, &k);
    rsp_bsp_buf seg;
    rsp_bsp_buf_init(&seg);
    UT_EQ(rsp_bsp_wrap(&e2, RSP_BSP_TAG_ENC, pt[0], 5, &seg), RSP_BSP_OK);
    for (uint64_t c = 0; c < 6; c++) {
        if (c == 1)
            continue;
        rsp_bsp_init(&d2, &k);
        d2.counter = c;
        o.len = 0;
        int rc = rsp_bsp_unwrap(&d2, RSP_BSP_TAG_ENC, seg.data, seg.len, 0, &o);
        UT_CHECK(rc == RSP_BSP_EPADDING || (rc == RSP_BSP_OK && (o.len != 5 || memcmp(o.data, pt[0], 5))));
    }
    /* Counter 1 gives the plaintext: the check above is not vacuous. */
    rsp_bsp_init(&d2, &k);
    o.len = 0;
    UT_EQ(rsp_bsp_unwrap(&d2, RSP_BSP_TAG_ENC, seg.data, seg.len, 0, &o), RSP_BSP_OK);
    UT_CHECK(o.len == 5 && memcmp(o.data, pt[0], 5) == 0);

    /* Counter values past 255 and 65535 are big-endian in the IV block. */
    rsp_bsp f, g;
    rsp_bsp_init(&f, &k);
    f.counter = 0x0102030405ULL;
    g = f;
    uint8_t forged[64];
    uint8_t padded[16] = {'a', 'b', 0x80};
    size_t fl = forge(&g, RSP_BSP_TAG_ENC, padded, 16, true, forged);
    rsp_bsp_buf w;
    rsp_bsp_buf_init(&w);
    UT_EQ(rsp_bsp_wrap(&f, RSP_BSP_TAG_ENC, padded, 2, &w), RSP_BSP_OK);
    UT_CHECK(w.len == fl && memcmp(w.data, forged, fl) == 0);
    rsp_bsp_buf_free(&w);

    for (int i = 0; i < 3; i++)
        rsp_bsp_buf_free(&s[i]);
    rsp_bsp_buf_free(&seg);
    rsp_bsp_buf_free(&o);
}

static void test_bad_padding(void)
{
    rsp_bsp_keys k = keys_of(0x41, 0x42, 0x43);
    rsp_bsp st;
    rsp_bsp_init(&st, &k);
    struct {
        size_t len;
        uint8_t tail[20]; /* last bytes of the padded plaintext */
        size_t tail_len;
        int want;
    } cases[] = {
        {16, {0x00}, 1, RSP_BSP_EPADDING},                                         /* no 80 */
        {16, {0x80, 0x01}, 2, RSP_BSP_EPADDING},                                   /* non-zero after 80 */
        {16, {0x81}, 1, RSP_BSP_EPADDING},                                         /* wrong marker */
        {32, {0x80, 0}, 17, RSP_BSP_EPADDING},                                     /* padding of 17 bytes */
        {16, {0}, 16, RSP_BSP_EPADDING},                                           /* all zero */
        {16, {0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 16, RSP_BSP_OK}, /* empty plaintext */
        {32, {0x80}, 1, RSP_BSP_OK},                                               /* one byte padding */
        {32, {0x80, 0}, 16, RSP_BSP_OK},                                           /* sixteen bytes padding */
    };
    rsp_bsp_buf o;
    rsp_bsp_buf_init(&o);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t pl[64], seg[128];
        fill(pl, cases[i].len, (uint32_t)i);
        /* Keep filler bytes from looking like padding. */
        for (size_t b = 0; b < cases[i].len; b++)
            pl[b] |= 1;
        memcpy(pl + cases[i].len - cases[i].tail_len, cases[i].tail, cases[i].tail_len);
        size_t sl = forge(&st, RSP_BSP_TAG_UPP, pl, cases[i].len, true, seg);
        rsp_bsp before = st;
        o.len = 0;
        UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_UPP, seg, sl, 0, &o), cases[i].want);
        if (cases[i].want == RSP_BSP_OK) {
            UT_EQ(o.len, cases[i].len - cases[i].tail_len);
            UT_CHECK(memcmp(o.data, pl, o.len) == 0);
            UT_EQ(st.counter, before.counter + 1);
        } else {
            UT_EQ(o.len, 0);
            UT_CHECK(memcmp(&before, &st, sizeof(st)) == 0);
        }
    }
    rsp_bsp_buf_free(&o);
}

static void test_malformed(void)
{
    rsp_bsp_keys k = keys_of(5, 6, 7);
    rsp_bsp st;
    rsp_bsp_init(&st, &k);
    rsp_bsp_buf o;
    rsp_bsp_buf_init(&o);
    uint8_t seg[1100], pl[1100] = {0};
    size_t sl;

    /* Encrypted payload not a whole number of blocks, or empty. */
    sl = forge(&st, RSP_BSP_TAG_ENC, pl, 15, false, seg);
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_ENC, seg, sl, 0, &o), RSP_BSP_EFORMAT);
    sl = forge(&st, RSP_BSP_TAG_ENC, pl, 0, false, seg);
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_ENC, seg, sl, 0, &o), RSP_BSP_EFORMAT);
    /* Shorter than a MAC. */
    static const uint8_t short_mac[] = {0x88, 0x07, 1, 2, 3, 4, 5, 6, 7};
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_MAC, short_mac, sizeof(short_mac), 0, &o), RSP_BSP_EFORMAT);
    /* Length running past the end, trailing bytes, empty input. */
    sl = forge(&st, RSP_BSP_TAG_MAC, pl, 10, false, seg);
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_MAC, seg, sl - 1, 0, &o), RSP_BSP_EFORMAT);
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_MAC, seg, sl + 1, 0, &o), RSP_BSP_EFORMAT);
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_MAC, seg, 0, 0, &o), RSP_BSP_EFORMAT);
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_MAC, seg, sl, 0, &o), RSP_BSP_OK);
    /* Non-minimal and over-long length forms. */
    static const uint8_t nonmin1[] = {0x88, 0x81, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t nonmin2[] = {0x88, 0x82, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t long3[] = {0x88, 0x83, 0x00, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t indef[] = {0x88, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t mtag[] = {0x9F, 0x08, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
    size_t dummy;
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_MAC, nonmin1, sizeof(nonmin1), 0, &o), RSP_BSP_EFORMAT);
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_MAC, nonmin2, sizeof(nonmin2), 0, &o), RSP_BSP_EFORMAT);
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_MAC, long3, sizeof(long3), 0, &o), RSP_BSP_EFORMAT);
    UT_EQ(rsp_bsp_unwrap(&st, RSP_BSP_TAG_MAC, indef, sizeof(indef), 0, &o), RSP_BSP_EFORMAT);
    UT_EQ(rsp_bsp_segment_len(mtag, sizeof(mtag), &dummy), RSP_BSP_EFORMAT);
    UT_EQ(o.len, 10);
    UT_EQ(st.counter, 2);
    rsp_bsp_buf_free(&o);
}

/* Segment sizes at the 1007/1008/1020 bounds and BER length boundaries. */
static void test_sizes(void)
{
    rsp_bsp_keys k = keys_of(0x61, 0x62, 0x63);
    rsp_bsp enc, dec;
    rsp_bsp_init(&enc, &k);
    rsp_bsp_init(&dec, &k);
    static uint8_t pt[4 * 1008 + 1];
    fill(pt, sizeof(pt), 99);
    rsp_bsp_buf out, o;
    rsp_bsp_buf_init(&out);
    rsp_bsp_buf_init(&o);

    UT_EQ(rsp_bsp_max_plain(RSP_BSP_TAG_UPP), 1007);
    UT_EQ(rsp_bsp_max_plain(RSP_BSP_TAG_ENC), 1007);
    UT_EQ(rsp_bsp_max_plain(RSP_BSP_TAG_MAC), 1008);
    UT_EQ(rsp_bsp_max_plain(0x30), 0);

    /* Largest single segments are exactly 1020 bytes; one byte more is
     * refused with nothing appended and the state untouched. */
    UT_EQ(rsp_bsp_wrap(&enc, RSP_BSP_TAG_UPP, pt, 1007, &out), RSP_BSP_OK);
    UT_EQ(out.len, 1020);
    UT_EQ(out.data[1], 0x82);
    UT_EQ(rsp_bsp_wrap(&enc, RSP_BSP_TAG_MAC, pt, 1008, &out), RSP_BSP_OK);
    UT_EQ(out.len, 2040);
    rsp_bsp before = enc;
    UT_EQ(rsp_bsp_wrap(&enc, RSP_BSP_TAG_UPP, pt, 1008, &out), RSP_BSP_ESIZE);
    UT_EQ(rsp_bsp_wrap(&enc, RSP_BSP_TAG_ENC, pt, 1008, &out), RSP_BSP_ESIZE);
    UT_EQ(rsp_bsp_wrap(&enc, RSP_BSP_TAG_MAC, pt, 1009, &out), RSP_BSP_ESIZE);
    UT_EQ(rsp_bsp_wrap(&enc, 0x85, pt, 10, &out), RSP_BSP_EINVAL);
    UT_EQ(out.len, 2040);
    UT_CHECK(memcmp(&before, &enc, sizeof(enc)) == 0);
    UT_EQ(rsp_bsp_unwrap(&dec, RSP_BSP_TAG_UPP, out.data, 1020, 0, &o), RSP_BSP_OK);
    UT_EQ(rsp_bsp_unwrap(&dec, RSP_BSP_TAG_MAC, out.data + 1020, 1020, 0, &o), RSP_BSP_OK);
    UT_CHECK(o.len == 2015 && memcmp(o.data, pt, 1007) == 0 && memcmp(o.data + 1007, pt, 1008) == 0);

    /* Splits: (tag, length) -> segment count and last segment size. */
    struct {
        uint8_t tag;
        size_t len, nseg, last;
    } sp[] = {
        {RSP_BSP_TAG_UPP, 0, 1, 2 + 16 + 8},
        {RSP_BSP_TAG_UPP, 1007, 1, 1020},
        {RSP_BSP_TAG_UPP, 1008, 2, 2 + 16 + 8},
        {RSP_BSP_TAG_UPP, 3 * 1007, 3, 1020},
        {RSP_BSP_TAG_UPP, 3 * 1007 + 1, 4, 2 + 16 + 8},
        {RSP_BSP_TAG_MAC, 0, 1, 2 + 8},
        {RSP_BSP_TAG_MAC, 1008, 1, 1020},
        {RSP_BSP_TAG_MAC, 1009, 2, 2 + 1 + 8},
        {RSP_BSP_TAG_MAC, 4 * 1008, 4, 1020},
        {RSP_BSP_TAG_MAC, 4 * 1008 + 1, 5, 2 + 1 + 8},
    };
    for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]); i++) {
        rsp_bsp a, b;
        rsp_bsp_init(&a, &k);
        rsp_bsp_init(&b, &k);
        out.len = 0;
        o.len = 0;
        size_t n = 0, off = 0, segs = 0, last = 0;
        UT_EQ(rsp_bsp_wrap_split(&a, sp[i].tag, pt, sp[i].len, &out, &n), RSP_BSP_OK);
        UT_EQ(n, sp[i].nseg);
        UT_EQ(a.counter, 1 + sp[i].nseg);
        while (off < out.len) {
            size_t sl = 0;
            if (rsp_bsp_segment_len(out.data + off, out.len - off, &sl) != RSP_BSP_OK)
                break;
            UT_CHECK(sl <= RSP_BSP_MAX_SEGMENT);
            /* All but the last are full. */
            if (segs + 1 < n)
                UT_EQ(sl, RSP_BSP_MAX_SEGMENT);
            UT_EQ(rsp_bsp_unwrap(&b, sp[i].tag, out.data + off, sl, 0, &o), RSP_BSP_OK);
            off += sl;
            last = sl;
            segs++;
        }
        UT_EQ(off, out.len);
        UT_EQ(segs, sp[i].nseg);
        UT_EQ(last, sp[i].last);
        UT_CHECK(o.len == sp[i].len && (sp[i].len == 0 || memcmp(o.data, pt, sp[i].len) == 0));
    }

    /* A failed split leaves output and state as they were. */
    out.len = 0;
    UT_EQ(rsp_bsp_wrap_split(&enc, 0x30, pt, 10, &out, NULL), RSP_BSP_EINVAL);
    UT_EQ(out.len, 0);

    /* Longer segments on request (1023 bytes: the 1036-byte 86 TLVs of some SM-DP+): refused by a
     * strict unwrap, opened with RSP_BSP_ALLOW_OVERSIZE; past the BER limit, refused. */
    {
        rsp_bsp a, b;
        rsp_bsp_init(&a, &k);
        rsp_bsp_init(&b, &k);
        out.len = 0;
        o.len = 0;
        size_t n = 0, sl = 0;
        UT_EQ(rsp_bsp_wrap_split_at(&a, RSP_BSP_TAG_UPP, pt, 2 * 1023 + 5, 1023, &out, &n), RSP_BSP_OK);
        UT_EQ(n, 3);
        UT_EQ(rsp_bsp_segment_len(out.data, out.len, &sl), RSP_BSP_OK);
        UT_EQ(sl, 1036);
        rsp_bsp strict = b;
        UT_EQ(rsp_bsp_unwrap(&strict, RSP_BSP_TAG_UPP, out.data, sl, 0, &o), RSP_BSP_ESIZE);
        for (size_t off = 0; off < out.len; off += sl) {
            UT_EQ(rsp_bsp_segment_len(out.data + off, out.len - off, &sl), RSP_BSP_OK);
            UT_EQ(rsp_bsp_unwrap(&b, RSP_BSP_TAG_UPP, out.data + off, sl, RSP_BSP_ALLOW_OVERSIZE, &o),
                  RSP_BSP_OK);
        }
        UT_CHECK(o.len == 2 * 1023 + 5 && memcmp(o.data, pt, o.len) == 0);
        out.len = 0;
        UT_EQ(rsp_bsp_wrap_split_at(&a, RSP_BSP_TAG_UPP, pt, 10, RSP_BSP_MAX_PLAIN_LONG + 1, &out, NULL),
              RSP_BSP_EINVAL);
        UT_EQ(out.len, 0);
        /* 0 is the standard size */
        UT_EQ(rsp_bsp_wrap_split_at(&a, RSP_BSP_TAG_MAC, pt, 1009, 0, &out, &n), RSP_BSP_OK);
        UT_EQ(n, 2);
    }

    /* BER length steps: 7F, 81 80, 81 FF, 82 01 00. */
    struct {
        size_t len;
        size_t hdr;
    } ber[] = {{119, 2}, {120, 3}, {247, 3}, {248, 4}};
    for (size_t i = 0; i < 4; i++) {
        rsp_bsp a, b;
        rsp_bsp_init(&a, &k);
        rsp_bsp_init(&b, &k);
        out.len = 0;
        o.len = 0;
        UT_EQ(rsp_bsp_wrap(&a, RSP_BSP_TAG_MAC, pt, ber[i].len, &out), RSP_BSP_OK);
        UT_EQ(out.len, ber[i].hdr + ber[i].len + 8);
        UT_EQ(rsp_bsp_unwrap(&b, RSP_BSP_TAG_MAC, out.data, out.len, 0, &o), RSP_BSP_OK);
        UT_CHECK(o.len == ber[i].len && memcmp(o.data, pt, o.len) == 0);
    }

    /* Over 1020 bytes: refused unless the caller asks for legacy input. */
    rsp_bsp a;
    rsp_bsp_init(&a, &k);
    uint8_t seg[1100], padded[1024];
    memcpy(padded, pt, 1008);
    padded[1008] = 0x80;
    memset(padded + 1009, 0, 15);
    size_t sl = forge(&a, RSP_BSP_TAG_UPP, padded, 1024, true, seg);
    UT_EQ(sl, 1036);
    o.len = 0;
    UT_EQ(rsp_bsp_unwrap(&a, RSP_BSP_TAG_UPP, seg, sl, 0, &o), RSP_BSP_ESIZE);
    UT_EQ(rsp_bsp_unwrap(&a, RSP_BSP_TAG_UPP, seg, sl, RSP_BSP_ALLOW_OVERSIZE, &o), RSP_BSP_OK);
    UT_CHECK(o.len == 1008 && memcmp(o.data, pt, 1008) == 0);
    /* 1021 bytes MAC-only. */
    rsp_bsp_init(&a, &k);
    sl = forge(&a, RSP_BSP_TAG_MAC, pt, 1009, false, seg);
    UT_EQ(sl, 1021);
    UT_EQ(rsp_bsp_unwrap(&a, RSP_BSP_TAG_MAC, seg, sl, 0, &o), RSP_BSP_ESIZE);

    rsp_bsp_buf_free(&out);
    rsp_bsp_buf_free(&o);
}

/* The wrap output matches the independent builder for every length around
 * the block boundaries (padding always added). */
static void test_padding_lengths(void)
{
    rsp_bsp_keys k = keys_of(0x71, 0x72, 0x73);
    rsp_bsp a, b;
    rsp_bsp_init(&a, &k);
    rsp_bsp_init(&b, &k);
    uint8_t pt[64], padded[80], seg[128];
    fill(pt, sizeof(pt), 3);
    rsp_bsp_buf out;
    rsp_bsp_buf_init(&out);
    for (size_t len = 0; len <= 48; len++) {
        size_t plen = (len / 16 + 1) * 16;
        memcpy(padded, pt, len);
        padded[len] = 0x80;
        memset(padded + len + 1, 0, plen - len - 1);
        size_t sl = forge(&b, RSP_BSP_TAG_ENC, padded, plen, true, seg);
        out.len = 0;
        UT_EQ(rsp_bsp_wrap(&a, RSP_BSP_TAG_ENC, pt, len, &out), RSP_BSP_OK);
        UT_CHECK(out.len == sl && memcmp(out.data, seg, sl) == 0);
        memcpy(b.k.mcv, a.k.mcv, 16);
        b.counter++;
    }
    rsp_bsp_buf_free(&out);
}

int main(void)
{
    UT_RUN(test_kat_kdf);
    UT_RUN(test_kat_ciphering_sequence);
    UT_RUN(test_kat_ppk_segments);
    UT_RUN(test_kat_bound_profile_package);
    UT_RUN(test_roundtrip_p256);
    UT_RUN(test_roundtrip_brainpool);
    UT_RUN(test_ecka_refusals);
    UT_RUN(test_kdf_args);
    UT_RUN(test_bitflip_refused);
    UT_RUN(test_wrong_mac_key_tag);
    UT_RUN(test_order_and_counter);
    UT_RUN(test_bad_padding);
    UT_RUN(test_malformed);
    UT_RUN(test_sizes);
    UT_RUN(test_padding_lengths);
    free(kat.tok);
    free(kat.text);
    return ut_finish();
}
