#include "smdp_default/bpp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "asn1/der.h"
#include "asn1/sgp22.h"
#include "rsp/bsp.h"
#include "smdp_default/profile.h"
#include "tests/unit/ut.h"

#define OTSK_RAW_TAG 0x02 /* first octet of a sealed raw one-time key (bpp.h) */

/* SGP.26 test EID 89049032123451234512345678901235 */
static const uint8_t EID[16] = {0x89, 0x04, 0x90, 0x32, 0x12, 0x34, 0x51, 0x23,
                                0x45, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x35};
static const uint8_t HOST_ID[8] = {'S', 'M', 'D', 'P', 'H', 'O', 'S', 'T'};

/* ---- signatures (checked with OpenSSL directly, not rsp/sig) ---- */

static int fail_sign(void *arg, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t sig[64])
{
    (void)arg, (void)a, (void)alen, (void)b, (void)blen, (void)sig;
    return -1;
}

static int verify_raw(EVP_PKEY *key, const uint8_t *msg, size_t n, const uint8_t sig[64])
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    uint8_t *der = NULL;
    int dlen = i2d_ECDSA_SIG(s, &der);
    ECDSA_SIG_free(s);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = dlen > 0 && EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(c, der, (size_t)dlen, msg, n) == 1;
    EVP_MD_CTX_free(c);
    OPENSSL_free(der);
    return ok;
}

/* ---- synthetic UPP: header, one large element, end ---- */

static uint8_t *synthetic_upp(const char *iccid_bcd_hex, size_t body, size_t *len)
{
    der_writer w;
    der_w_init(&w);
    size_t il;
    uint8_t *iccid = ut_hex(iccid_bcd_hex, &il);
    der_w_begin(&w, 0xA0);
    der_w_int(&w, 0x80, 2);
    der_w_int(&w, 0x81, 3);
    der_w_tlv(&w, 0x82, "Synthetic", 9);
    der_w_tlv(&w, 0x83, iccid, il);
    der_w_begin(&w, 0xA5);
    der_w_tlv(&w, 0x81, NULL, 0);
    der_w_end(&w);
    der_w_begin(&w, 0xA6);
    der_w_end(&w);
    der_w_end(&w);
    free(iccid);
    uint8_t *fill = malloc(body);
    RAND_bytes(fill, (int)body);
    der_w_begin(&w, 0xA1); /* genericFileManagement */
    der_w_tlv(&w, 0x81, fill, body);
    der_w_end(&w);
    free(fill);
    der_w_begin(&w, 0xAA);
    der_w_begin(&w, 0xA0);
    der_w_int(&w, 0x81, 2);
    der_w_end(&w);
    der_w_end(&w);
    if (der_w_finish(&w)) {
        der_w_free(&w);
        return NULL;
    }
    *len = w.len;
    return w.buf;
}

/* ---- eUICC side ---- */

typedef struct decoded {
    uint8_t *cfg; /* ConfigureISDPRequest */
    size_t cfg_len;
    uint8_t *md; /* StoreMetadataRequest */
    size_t md_len;
    uint8_t ppk[48]; /* ppkEnc || ppkCmac || initialMCV as carried in BF26 */
    uint8_t *upp;
    size_t upp_len;
    size_t seg86;
    size_t max_seg;
    size_t tail_off; /* offset of what follows BF23 (A0..A3) */
} decoded;

static void decoded_free(decoded *d)
{
    free(d->cfg);
    free(d->md);
    free(d->upp);
    memset(d, 0, sizeof(*d));
}

/* Unwraps every segment of list (tag seg_tag) into a fresh buffer. */
static int open_list(rsp_bsp *st, const der_tlv *list, uint8_t seg_tag, uint8_t **pt, size_t *pt_len,
                     size_t *count, size_t *max_seg)
{
    rsp_bsp_buf out;
    rsp_bsp_buf_init(&out);
    const uint8_t *p = list->value;
    size_t left = list->len, n = 0;
    while (left) {
        size_t sl;
        if (rsp_bsp_segment_len(p, left, &sl) || sl > left)
            goto fail;
        if (sl > *max_seg)
            *max_seg = sl;
        if (rsp_bsp_unwrap(st, seg_tag, p, sl, 0, &out))
            goto fail;
        p += sl;
        left -= sl;
        n++;
    }
    *pt = out.data;
    *pt_len = out.len;
    if (count)
        *count = n;
    return n ? 0 : -1;
fail:
    rsp_bsp_buf_free(&out);
    return -1;
}

static int euicc_decode(const uint8_t *bpp, size_t len, EVP_PKEY *euicc_ot, EVP_PKEY *dppb,
                        const uint8_t *tid, size_t tid_len, decoded *d)
{
    memset(d, 0, sizeof(*d));
    der_tlv top, bf23, t, a0, a1, a2, a3;
    der_reader r, ir;
    if (der_parse_exact(bpp, len, &top) || top.tag != 0xBF36)
        return -1;
    der_reader_of(&r, &top);
    if (der_expect(&r, 0xBF23, &bf23))
        return -2;
    d->tail_off = (size_t)(bf23.raw + bf23.raw_len - bpp);
    der_reader_of(&ir, &bf23);
    const uint8_t *signed_start = ir.p;
    int64_t op;
    if (der_expect(&ir, 0x82, &t) || der_get_int(&t, &op) || op != 1)
        return -3;
    if (der_expect(&ir, 0x80, &t) || t.len != tid_len || memcmp(t.value, tid, tid_len))
        return -4;
    der_tlv crt, kt, kl, host;
    if (der_expect(&ir, 0xA6, &crt))
        return -5;
    der_reader cr;
    der_reader_of(&cr, &crt);
    if (der_expect(&cr, 0x80, &kt) || kt.len != 1 || kt.value[0] != 0x88 || der_expect(&cr, 0x81, &kl) ||
        kl.len != 1 || kl.value[0] != 0x10 || der_expect(&cr, 0x84, &host) || !der_reader_done(&cr))
        return -6;
    der_tlv otpk, sig;
    if (der_expect(&ir, 0x5F49, &otpk) || otpk.len != 65)
        return -7;
    const uint8_t *signed_end = ir.p;
    if (der_expect(&ir, 0x5F37, &sig) || sig.len != 64 || !der_reader_done(&ir))
        return -8;
    /* smdpSign covers the four fields || 5F49 otPK.EUICC */
    uint8_t mine[65];
    rsp_ecka_public(euicc_ot, mine);
    size_t slen = (size_t)(signed_end - signed_start);
    uint8_t *msg = malloc(slen + 68);
    memcpy(msg, signed_start, slen);
    msg[slen] = 0x5F, msg[slen + 1] = 0x49, msg[slen + 2] = 65;
    memcpy(msg + slen + 3, mine, 65);
    int vok = verify_raw(dppb, msg, slen + 68, sig.value);
    free(msg);
    if (!vok)
        return -9;

    uint8_t z[32];
    rsp_bsp_keys keys;
    rsp_bsp st;
    if (rsp_ecka_shared(euicc_ot, otpk.value, otpk.len, z) ||
        rsp_bsp_kdf(z, 32, host.value, host.len, EID, &keys))
        return -10;
    rsp_bsp_init(&st, &keys);

    if (der_expect(&r, 0xA0, &a0) || der_expect(&r, 0xA1, &a1) || der_expect(&r, 0xA2, &a2) ||
        der_expect(&r, 0xA3, &a3) || !der_reader_done(&r))
        return -11;
    if (open_list(&st, &a0, 0x87, &d->cfg, &d->cfg_len, NULL, &d->max_seg))
        return -12;
    if (open_list(&st, &a1, 0x88, &d->md, &d->md_len, NULL, &d->max_seg))
        return -13;
    uint8_t *rsk;
    size_t rsk_len;
    if (open_list(&st, &a2, 0x87, &rsk, &rsk_len, NULL, &d->max_seg))
        return -14;
    der_tlv rt, f;
    der_reader rr;
    int bad = der_parse_exact(rsk, rsk_len, &rt) || rt.tag != 0xBF26;
    if (!bad) {
        der_reader_of(&rr, &rt);
        static const uint32_t tags[3] = {0x80, 0x81, 0x82};
        uint8_t *dst[3] = {keys.mcv, keys.s_enc, keys.s_mac};
        for (int i = 0; i < 3 && !bad; i++) {
            bad = der_expect(&rr, tags[i], &f) || f.len != 16;
            if (!bad)
                memcpy(dst[i], f.value, 16);
        }
        bad = bad || !der_reader_done(&rr);
    }
    free(rsk);
    if (bad)
        return -15;
    memcpy(d->ppk, keys.s_enc, 16);
    memcpy(d->ppk + 16, keys.s_mac, 16);
    memcpy(d->ppk + 32, keys.mcv, 16);
    rsp_bsp_init(&st, &keys); /* new key set: counter 1, MCV = initial */
    if (open_list(&st, &a3, 0x86, &d->upp, &d->upp_len, &d->seg86, &d->max_seg))
        return -16;
    return 0;
}

/* ---- fixtures ---- */

typedef struct fixture {
    smdp_mkey mk;
    EVP_PKEY *dppb;     /* SK.DPpb */
    EVP_PKEY *euicc_ot; /* eUICC one-time pair */
    EVP_PKEY *smdp_ot;  /* SM-DP+ one-time pair */
    uint8_t euicc_otpk[65];
    uint8_t tid[16];
    uint8_t *md;
    size_t md_len;
} fixture;

static void fixture_init(fixture *f, int nid, const char *iccid)
{
    memset(f, 0, sizeof(*f));
    uint8_t k[32];
    RAND_bytes(k, sizeof(k));
    smdp_mkey_set(&f->mk, k);
    UT_EQ(rsp_ecka_generate(nid, &f->dppb), 0);
    UT_EQ(rsp_ecka_generate(nid, &f->euicc_ot), 0);
    UT_EQ(rsp_ecka_generate_like(f->dppb, &f->smdp_ot), 0);
    rsp_ecka_public(f->euicc_ot, f->euicc_otpk);
    RAND_bytes(f->tid, sizeof(f->tid));
    der_writer w;
    der_w_init(&w);
    smdp_metadata m = {.iccid = iccid,
                       .service_provider_name = "Test Operator",
                       .profile_name = "Test Profile \xC3\xA9",
                       .profile_class = SMDP_CLASS_TEST};
    UT_EQ(smdp_metadata_encode(&w, &m), 0);
    UT_EQ(der_w_finish(&w), 0);
    f->md = w.buf;
    f->md_len = w.len;
}

static void fixture_free(fixture *f)
{
    EVP_PKEY_free(f->dppb);
    EVP_PKEY_free(f->euicc_ot);
    EVP_PKEY_free(f->smdp_ot);
    free(f->md);
    smdp_mkey_wipe(&f->mk);
}

static smdp_bpp_input input_of(fixture *f, const char *iccid, const smdp_ppp *ppp)
{
    return (smdp_bpp_input){.transaction_id = f->tid,
                            .transaction_id_len = sizeof(f->tid),
                            .eid = EID,
                            .host_id = HOST_ID,
                            .host_id_len = sizeof(HOST_ID),
                            .euicc_otpk = f->euicc_otpk,
                            .euicc_otpk_len = sizeof(f->euicc_otpk),
                            .smdp_ot = f->smdp_ot,
                            .sign = smdp_sign_with_key,
                            .sign_arg = f->dppb,
                            .metadata = f->md,
                            .metadata_len = f->md_len,
                            .mk = &f->mk,
                            .iccid = iccid,
                            .ppk_blob = ppp->ppk_blob,
                            .ppk_blob_len = sizeof(ppp->ppk_blob),
                            .seq86 = ppp->seq86,
                            .seq86_len = ppp->seq86_len};
}

/* Full round trip: protect, build, decode as the eUICC; returns the PPKs. */
static void roundtrip(int nid, const uint8_t *upp, size_t upp_len, uint8_t ppk_out[48])
{
    smdp_profile_info info;
    UT_EQ(smdp_profile_parse(upp, upp_len, &info), 0);
    fixture f;
    fixture_init(&f, nid, info.iccid);
    smdp_ppp ppp;
    UT_EQ(smdp_ppp_protect(&f.mk, info.iccid, upp, upp_len, &ppp), 0);
    UT_EQ(ppp.segments, (upp_len + RSP_BSP_MAX_PLAIN_ENC - 1) / RSP_BSP_MAX_PLAIN_ENC);
    smdp_bpp_input in = input_of(&f, info.iccid, &ppp);
    uint8_t *bpp;
    size_t bpp_len;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bpp_len), 0);
    /* the shared SGP.22 codecs read the same structure */
    sgp22_bpp sb;
    UT_EQ(sgp22_bpp_decode(bpp, bpp_len, &sb), 0);
    UT_EQ(sb.init_secure_channel.remote_op_id, 1);
    UT_CHECK(sb.init_secure_channel.transaction_id.len == 16 &&
             memcmp(sb.init_secure_channel.transaction_id.p, f.tid, 16) == 0);
    UT_CHECK(sb.init_secure_channel.control_ref_template.host_id.len == sizeof(HOST_ID));
    UT_EQ(sb.first_seq87.count, 1);
    UT_EQ(sb.seq88.count, (f.md_len + RSP_BSP_MAX_PLAIN_MAC - 1) / RSP_BSP_MAX_PLAIN_MAC);
    UT_EQ(sb.second_seq87.count, 1);
    UT_EQ(sb.seq86.count, ppp.segments);
    sgp22_store_metadata smd;
    UT_EQ(sgp22_store_metadata_decode(f.md, f.md_len, &smd), 0);
    UT_CHECK(smd.profile_class.present && smd.profile_class.v == SMDP_CLASS_TEST);
    decoded d;
    int rc = euicc_decode(bpp, bpp_len, f.euicc_ot, f.dppb, f.tid, sizeof(f.tid), &d);
    UT_EQ(rc, 0);
    if (rc == 0) {
        sgp22_configure_isdp cfg;
        UT_EQ(sgp22_configure_isdp_decode(d.cfg, d.cfg_len, &cfg), 0);
        static const uint8_t empty_cfg[2] = {0xBF, 0x24};
        UT_CHECK(d.cfg_len == 3 && memcmp(d.cfg, empty_cfg, 2) == 0 && d.cfg[2] == 0);
        UT_CHECK(d.md_len == f.md_len && memcmp(d.md, f.md, f.md_len) == 0);
        UT_CHECK(d.upp_len == upp_len && memcmp(d.upp, upp, upp_len) == 0);
        UT_EQ(d.seg86, ppp.segments);
        UT_CHECK(d.max_seg <= RSP_BSP_MAX_SEGMENT);
        /* the clear PPKs appear neither in the sealed blob nor in A3 */
        for (int i = 0; i < 3; i++) {
            UT_CHECK(memmem(ppp.ppk_blob, sizeof(ppp.ppk_blob), d.ppk + 16 * i, 16) == NULL);
            UT_CHECK(memmem(bpp, bpp_len, d.ppk + 16 * i, 16) == NULL);
        }
        /* and the metadata's ICCID is the swapped EF.ICCID form */
        uint8_t ef[10];
        smdp_iccid_to_ef(info.iccid, ef);
        UT_CHECK(d.md_len > 15 && d.md[3] == 0x5A && d.md[4] == 10 && memcmp(d.md + 5, ef, 10) == 0);
        if (ppk_out)
            memcpy(ppk_out, d.ppk, 48);
    }
    decoded_free(&d);
    free(bpp);
    smdp_ppp_free(&ppp);
    fixture_free(&f);
}

static void test_synthetic(void)
{
    size_t len;
    uint8_t *upp = synthetic_upp("8901234567890123456F", 4000, &len);
    UT_CHECK(upp != NULL);
    uint8_t k1[48], k2[48];
    roundtrip(NID_X9_62_prime256v1, upp, len, k1);
    roundtrip(NID_brainpoolP256r1, upp, len, k2);
    /* two protections of the same profile still use different PPKs */
    UT_CHECK(memcmp(k1, k2, 16) != 0 && memcmp(k1 + 16, k2 + 16, 16) != 0 &&
             memcmp(k1 + 32, k2 + 32, 16) != 0);
    free(upp);
    /* sizes at the segment boundaries */
    static const size_t sizes[] = {1, 900, 1007 * 2 - 60, 1007 * 2 - 59, 1007 * 3};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        upp = synthetic_upp("89012345678901234567", sizes[i], &len);
        roundtrip(NID_X9_62_prime256v1, upp, len, NULL);
        free(upp);
    }
}

static void test_ts48(void)
{
    const char *dir = ut_shared_dir("TS.48 profiles");
    if (!dir)
        return;
    static const char *files[] = {"TS48V1-A-UNIQUE.der", "TS48V2-SAIP2-1-BERTLV-UNIQUE.der",
                                  "TS48V3-SAIP2-3-NOBERTLV-UNIQUE.der", "TS48V4-SAIP2-1A-NOBERTLV-UNIQUE.der",
                                  "TS48V5-SAIP2-3-BERTLV-SUCI-UNIQUE.der"};
    uint8_t prev[48] = {0};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/profiles/ts48/%s", dir, files[i]);
        size_t len;
        uint8_t *upp = ut_read_file(path, &len);
        if (!upp) {
            printf("SKIP %s: not found\n", path);
            continue;
        }
        uint8_t k[48];
        roundtrip(i % 2 ? NID_brainpoolP256r1 : NID_X9_62_prime256v1, upp, len, k);
        UT_CHECK(memcmp(k, prev, 48) != 0);
        memcpy(prev, k, 48);
        free(upp);
    }
}

static void test_sealed_ppk(void)
{
    size_t len;
    uint8_t *upp = synthetic_upp("8901234567890123456F", 2500, &len);
    const char *iccid = "8901234567890123456";
    fixture f;
    fixture_init(&f, NID_X9_62_prime256v1, iccid);
    smdp_ppp a, b;
    UT_EQ(smdp_ppp_protect(&f.mk, iccid, upp, len, &a), 0);
    UT_EQ(smdp_ppp_protect(&f.mk, iccid, upp, len, &b), 0);
    /* fresh keys each time: different blobs, different ciphertext */
    UT_CHECK(memcmp(a.ppk_blob, b.ppk_blob, sizeof(a.ppk_blob)) != 0);
    UT_CHECK(a.seq86_len == b.seq86_len && memcmp(a.seq86, b.seq86, a.seq86_len) != 0);
    uint8_t ka[48], kb[48];
    size_t n;
    UT_EQ(smdp_unseal(&f.mk, "ppk", iccid, a.ppk_blob, sizeof(a.ppk_blob), ka, sizeof(ka), &n), 0);
    UT_EQ(n, 48);
    UT_EQ(smdp_unseal(&f.mk, "ppk", iccid, b.ppk_blob, sizeof(b.ppk_blob), kb, sizeof(kb), &n), 0);
    UT_CHECK(memcmp(ka, kb, 48) != 0);
    for (int i = 0; i < 3; i++)
        UT_CHECK(memmem(a.ppk_blob, sizeof(a.ppk_blob), ka + 16 * i, 16) == NULL);

    /* every single-bit flip of the blob is refused by the build */
    uint8_t *bpp;
    size_t bpp_len;
    smdp_bpp_input in = input_of(&f, iccid, &a);
    int refused = 0;
    for (size_t i = 0; i < sizeof(a.ppk_blob); i++) {
        a.ppk_blob[i] ^= 0x01;
        if (smdp_bpp_build(&in, &bpp, &bpp_len) == SMDP_BPP_ESEAL && bpp == NULL)
            refused++;
        a.ppk_blob[i] ^= 0x01;
    }
    UT_EQ(refused, (int)sizeof(a.ppk_blob));
    /* truncated blob, another profile's context, another master key */
    in.ppk_blob_len = sizeof(a.ppk_blob) - 1;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bpp_len), SMDP_BPP_ESEAL);
    in.ppk_blob_len = sizeof(a.ppk_blob);
    in.iccid = "8901234567890123457";
    UT_EQ(smdp_bpp_build(&in, &bpp, &bpp_len), SMDP_BPP_ESEAL);
    in.iccid = iccid;
    smdp_mkey other;
    uint8_t ok[32] = {1};
    smdp_mkey_set(&other, ok);
    in.mk = &other;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bpp_len), SMDP_BPP_ESEAL);
    in.mk = &f.mk;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bpp_len), 0);
    free(bpp);
    /* purpose is bound too */
    UT_EQ(smdp_unseal(&f.mk, "otsk", iccid, a.ppk_blob, sizeof(a.ppk_blob), ka, sizeof(ka), &n),
          SMDP_BPP_ESEAL);

    smdp_ppp_free(&a);
    smdp_ppp_free(&b);
    fixture_free(&f);
    free(upp);
}

static void test_retry_same_binding(void)
{
    size_t len;
    uint8_t *upp = synthetic_upp("8901234567890123456F", 3000, &len);
    const char *iccid = "8901234567890123456";
    fixture f;
    fixture_init(&f, NID_X9_62_prime256v1, iccid);
    smdp_ppp ppp;
    UT_EQ(smdp_ppp_protect(&f.mk, iccid, upp, len, &ppp), 0);
    smdp_bpp_input in = input_of(&f, iccid, &ppp);
    uint8_t *b1, *b2;
    size_t l1, l2;
    UT_EQ(smdp_bpp_build(&in, &b1, &l1), 0);

    /* keep otSK sealed, restore it, bind again under a new transaction */
    uint8_t *blob;
    size_t blen;
    UT_EQ(smdp_otsk_seal(&f.mk, iccid, f.smdp_ot, &blob, &blen), 0);
    EVP_PKEY *restored;
    UT_EQ(smdp_otsk_unseal(&f.mk, "8901234567890123457", blob, blen, &restored), SMDP_BPP_ESEAL);
    UT_CHECK(restored == NULL);
    UT_EQ(smdp_otsk_unseal(&f.mk, iccid, blob, blen, &restored), 0);
    uint8_t tid2[16];
    RAND_bytes(tid2, sizeof(tid2));
    in.transaction_id = tid2;
    in.smdp_ot = restored;
    UT_EQ(smdp_bpp_build(&in, &b2, &l2), 0);
    decoded d1, d2;
    UT_EQ(euicc_decode(b1, l1, f.euicc_ot, f.dppb, f.tid, 16, &d1), 0);
    UT_EQ(euicc_decode(b2, l2, f.euicc_ot, f.dppb, tid2, 16, &d2), 0);
    /* same session keys: everything after BF23 is byte-identical */
    UT_CHECK(l1 == l2 && d1.tail_off == d2.tail_off && d1.tail_off > 0 && d1.tail_off < l1);
    UT_CHECK(memcmp(b1 + d1.tail_off, b2 + d2.tail_off, l1 - d1.tail_off) == 0);
    /* while BF23 differs (transactionId, signature) */
    UT_CHECK(memcmp(b1, b2, d1.tail_off) != 0);
    UT_CHECK(memcmp(d1.ppk, d2.ppk, 48) == 0);
    decoded_free(&d1);
    decoded_free(&d2);
    free(b2);

    /* a different eUICC one-time key cannot open the first BPP */
    EVP_PKEY *other;
    UT_EQ(rsp_ecka_generate(NID_X9_62_prime256v1, &other), 0);
    UT_CHECK(euicc_decode(b1, l1, other, f.dppb, f.tid, 16, &d1) != 0);
    decoded_free(&d1);
    EVP_PKEY_free(other);

    free(b1);
    free(blob);
    EVP_PKEY_free(restored);
    smdp_ppp_free(&ppp);
    fixture_free(&f);
    free(upp);
}

/* Seals plaintext as an otSK blob would be. */
static size_t seal_otsk(const smdp_mkey *mk, const char *iccid, const uint8_t *pt, size_t n, uint8_t *out)
{
    size_t len = 0;
    UT_EQ(smdp_seal(mk, "otsk", iccid, pt, n, out, n + SMDP_SEAL_OVERHEAD, &len), 0);
    return len;
}

static void test_otsk_forms(void)
{
    const char *iccid = "8901234567890123456";
    smdp_mkey mk;
    uint8_t k[SMDP_MKEY_LEN];
    RAND_bytes(k, sizeof(k));
    smdp_mkey_set(&mk, k);
    static const char *const curves[] = {"prime256v1", "brainpoolP256r1"};
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]), *back = NULL;
        uint8_t *blob;
        size_t blen;
        UT_EQ(smdp_otsk_seal(&mk, iccid, key, &blob, &blen), 0);
        /* 02 || len || curve || 20 || scalar || 65-octet point, in the sealed envelope */
        UT_EQ(blen, SMDP_SEAL_OVERHEAD + 3 + strlen(curves[i]) + 32 + 65);
        UT_EQ(smdp_otsk_unseal(&mk, iccid, blob, blen, &back), 0);
        UT_EQ(EVP_PKEY_eq(key, back), 1);
        EVP_PKEY_free(back);

        /* what earlier versions sealed: ECPrivateKey DER */
        uint8_t *der = NULL;
        int dl = i2d_PrivateKey(key, &der);
        uint8_t old[512];
        size_t ol = seal_otsk(&mk, iccid, der, (size_t)dl, old);
        UT_EQ(smdp_otsk_unseal(&mk, iccid, old, ol, &back), 0);
        UT_EQ(EVP_PKEY_eq(key, back), 1);
        EVP_PKEY_free(back);
        OPENSSL_clear_free(der, (size_t)dl);

        /* malformed raw forms, properly sealed: refused */
        uint8_t pt[256];
        size_t cap = sizeof(pt), n;
        UT_EQ(smdp_unseal(&mk, "otsk", iccid, blob, blen, pt, cap, &n), 0);
        size_t cl = strlen(curves[i]);
        struct {
            size_t off;
            uint8_t val;
            size_t len;
        } bad[] = {
            {1, 0, n},                      /* no curve name */
            {1, (uint8_t)(n), n},           /* curve name past the end */
            {2 + cl, 0, n},                 /* no scalar */
            {2 + cl, (uint8_t)(n - cl), n}, /* scalar past the end */
            {2, 'X', n},                    /* unknown curve */
            {0, OTSK_RAW_TAG, 2},           /* truncated */
            {0, OTSK_RAW_TAG, 3 + cl + 32}, /* no point */
            {0, OTSK_RAW_TAG, n - 1},       /* point cut short */
            {n - 1, pt[n - 1] ^ 1, n},      /* point off the curve */
            {3 + cl, 0xFF, n},              /* scalar not matching the point */
        };
        for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            uint8_t m[256], sealed[512];
            memcpy(m, pt, n);
            m[bad[j].off] = bad[j].val;
            size_t sl = seal_otsk(&mk, iccid, m, bad[j].len, sealed);
            back = NULL;
            int rc = smdp_otsk_unseal(&mk, iccid, sealed, sl, &back);
            if (rc != SMDP_BPP_ESEAL)
                fprintf(stderr, "    malformed form %zu accepted\n", j);
            UT_EQ(rc, SMDP_BPP_ESEAL);
            UT_CHECK(back == NULL);
        }
        OPENSSL_cleanse(pt, sizeof(pt));
        free(blob);
        EVP_PKEY_free(key);
    }
    smdp_mkey_wipe(&mk);
}

static void test_bad_inputs(void)
{
    size_t len;
    uint8_t *upp = synthetic_upp("8901234567890123456F", 500, &len);
    const char *iccid = "8901234567890123456";
    fixture f;
    fixture_init(&f, NID_X9_62_prime256v1, iccid);
    smdp_ppp ppp;
    UT_EQ(smdp_ppp_protect(&f.mk, iccid, upp, len, &ppp), 0);
    uint8_t *bpp = (uint8_t *)1;
    size_t bl;
    smdp_bpp_input in;

    in = input_of(&f, iccid, &ppp);
    uint8_t bad_point[65];
    memcpy(bad_point, f.euicc_otpk, 65);
    bad_point[64] ^= 1;
    in.euicc_otpk = bad_point;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_EPOINT);
    UT_CHECK(bpp == NULL);

    in = input_of(&f, iccid, &ppp);
    in.host_id_len = 17;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_EINVAL);
    in = input_of(&f, iccid, &ppp);
    in.transaction_id_len = 17;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_EINVAL);
    in = input_of(&f, iccid, &ppp);
    in.euicc_otpk_len = 64;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_EINVAL);
    in = input_of(&f, iccid, &ppp);
    in.metadata_len--;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_EINVAL);
    in = input_of(&f, iccid, &ppp);
    in.sign = fail_sign;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_ESIGN);
    in = input_of(&f, iccid, &ppp);
    in.sign_arg = NULL;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_ESIGN);
    in = input_of(&f, iccid, &ppp);
    ppp.seq86[0] = 0x87;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_EINVAL);
    ppp.seq86[0] = 0x86;
    in.seq86_len--;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_EINVAL);

    /* a one-time key on another curve than otPK.EUICC */
    in = input_of(&f, iccid, &ppp);
    EVP_PKEY *bp;
    UT_EQ(rsp_ecka_generate(NID_brainpoolP256r1, &bp), 0);
    in.smdp_ot = bp;
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), SMDP_BPP_EPOINT);
    EVP_PKEY_free(bp);

    /* dpProprietaryData is carried in BF24 */
    in = input_of(&f, iccid, &ppp);
    static const uint8_t oid[] = {0x87, 0x67, 0x0A}; /* 2.999.10 */
    in.dp_oid = oid;
    in.dp_oid_len = sizeof(oid);
    UT_EQ(smdp_bpp_build(&in, &bpp, &bl), 0);
    decoded d;
    UT_EQ(euicc_decode(bpp, bl, f.euicc_ot, f.dppb, f.tid, 16, &d), 0);
    static const uint8_t want[] = {0xBF, 0x24, 0x07, 0xB8, 0x05, 0x80, 0x03, 0x87, 0x67, 0x0A};
    UT_CHECK(d.cfg_len == sizeof(want) && memcmp(d.cfg, want, sizeof(want)) == 0);
    decoded_free(&d);
    free(bpp);

    smdp_ppp_free(&ppp);
    UT_EQ(smdp_ppp_protect(&f.mk, "123", upp, len, &ppp), SMDP_BPP_EINVAL);
    UT_CHECK(ppp.seq86 == NULL);
    fixture_free(&f);
    free(upp);
}

static void test_metadata(void)
{
    der_writer w;
    der_w_init(&w);
    smdp_metadata m = {.iccid = "8949449999999990023",
                       .service_provider_name = "Op",
                       .profile_name = "P",
                       .profile_class = SMDP_CLASS_OPERATIONAL};
    UT_EQ(smdp_metadata_encode(&w, &m), 0);
    static const uint8_t want[] = {0xBF, 0x25, 0x13, 0x5A, 0x0A, 0x98, 0x94, 0x44, 0x99, 0x99, 0x99,
                                   0x99, 0x09, 0x20, 0xF3, 0x91, 0x02, 'O',  'p',  0x92, 0x01, 'P'};
    UT_CHECK(w.len == sizeof(want) && memcmp(w.buf, want, sizeof(want)) == 0);
    der_w_free(&w);

    m.profile_class = SMDP_CLASS_PROVISIONING;
    m.service_provider_name = NULL;
    UT_EQ(smdp_metadata_encode(&w, &m), 0);
    UT_CHECK(w.len == 23 && memcmp(w.buf + w.len - 3, "\x95\x01\x01", 3) == 0 && w.buf[15] == 0x91 &&
             w.buf[16] == 0);
    der_w_free(&w);

    /* 32 two-byte characters are fine, 33 are not */
    char spn[80] = "";
    for (int i = 0; i < 32; i++)
        strcat(spn, "\xC3\xA9");
    m.service_provider_name = spn;
    UT_EQ(smdp_metadata_encode(&w, &m), 0);
    der_w_free(&w);
    strcat(spn, "x");
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_EINVAL);
    m.service_provider_name = "bad \xFF";
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_EINVAL);
    m.service_provider_name = "ok";
    m.iccid = "12345";
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_EINVAL);
    m.iccid = "8949449999999990023";
    m.profile_class = 3;
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_EINVAL);
    der_w_free(&w);
}

static void test_seal(void)
{
    smdp_mkey mk;
    uint8_t k[32];
    RAND_bytes(k, sizeof(k));
    smdp_mkey_set(&mk, k);
    uint8_t blob[64], pt[16], out[64];
    size_t bl, n;
    RAND_bytes(pt, sizeof(pt));
    UT_EQ(smdp_seal(&mk, "p", "c", pt, sizeof(pt), blob, sizeof(blob), &bl), 0);
    UT_EQ(bl, sizeof(pt) + SMDP_SEAL_OVERHEAD);
    UT_EQ(smdp_unseal(&mk, "p", "c", blob, bl, out, sizeof(out), &n), 0);
    UT_CHECK(n == sizeof(pt) && memcmp(out, pt, n) == 0);
    UT_EQ(smdp_unseal(&mk, "p", "d", blob, bl, out, sizeof(out), &n), SMDP_BPP_ESEAL);
    UT_EQ(smdp_unseal(&mk, "q", "c", blob, bl, out, sizeof(out), &n), SMDP_BPP_ESEAL);
    /* "p"+"c" must not collide with "pc"+"" */
    UT_EQ(smdp_unseal(&mk, "pc", "", blob, bl, out, sizeof(out), &n), SMDP_BPP_ESEAL);
    UT_EQ(smdp_unseal(&mk, "p", "c", blob, bl - 1, out, sizeof(out), &n), SMDP_BPP_ESEAL);
    blob[0] = 2;
    UT_EQ(smdp_unseal(&mk, "p", "c", blob, bl, out, sizeof(out), &n), SMDP_BPP_ESEAL);
    UT_EQ(smdp_seal(&mk, "p", "c", pt, sizeof(pt), blob, sizeof(pt) + SMDP_SEAL_OVERHEAD - 1, &bl),
          SMDP_BPP_EINVAL);
    smdp_mkey_wipe(&mk);
    for (int e = 0; e >= -7; e--)
        UT_CHECK(strcmp(smdp_bpp_strerror(e), "unknown error") != 0);
}

static void test_mkey_file(void)
{
    char dir[] = "/tmp/smdp_bpp_test.XXXXXX";
    UT_CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/master.key", dir);
    smdp_mkey a, b;
    UT_EQ(smdp_mkey_load(&a, path, 0), SMDP_BPP_EKEYFILE);
    UT_EQ(smdp_mkey_load(&a, path, 1), 0);
    struct stat st;
    UT_EQ(stat(path, &st), 0);
    UT_EQ(st.st_mode & 0777, 0600);
    UT_EQ(smdp_mkey_load(&b, path, 1), 0);
    UT_CHECK(memcmp(a.k, b.k, 32) == 0);
    uint8_t zero[32] = {0};
    UT_CHECK(memcmp(a.k, zero, 32) != 0);
    /* readable by others: refused */
    chmod(path, 0644);
    UT_EQ(smdp_mkey_load(&b, path, 1), SMDP_BPP_EKEYFILE);
    chmod(path, 0600);
    /* malformed */
    FILE *fp = fopen(path, "w");
    fputs("00112233\n", fp);
    fclose(fp);
    UT_EQ(smdp_mkey_load(&b, path, 1), SMDP_BPP_EKEYFILE);
    fp = fopen(path, "w");
    for (int i = 0; i < 32; i++)
        fputs("zz", fp);
    fclose(fp);
    UT_EQ(smdp_mkey_load(&b, path, 1), SMDP_BPP_EKEYFILE);
    unlink(path);
    rmdir(dir);
    smdp_mkey_wipe(&a);
    smdp_mkey_wipe(&b);
}

typedef struct mkey_race {
    pthread_barrier_t *bar;
    const char *path;
    smdp_mkey mk;
    int rc;
} mkey_race;

static void *mkey_thread(void *arg)
{
    mkey_race *r = arg;
    pthread_barrier_wait(r->bar);
    r->rc = smdp_mkey_load(&r->mk, r->path, 1);
    return NULL;
}

/* Starters racing to create the key all end up with the same one. */
static void test_mkey_race(void)
{
    char dir[] = "/tmp/smdp_bpp_race.XXXXXX";
    UT_CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/master.key", dir);
    enum { N = 8 };
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    pthread_t th[N];
    mkey_race r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (mkey_race){.bar = &bar, .path = path};
        pthread_create(&th[i], NULL, mkey_thread, &r[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        UT_EQ(r[i].rc, 0);
        UT_CHECK(memcmp(r[i].mk.k, r[0].mk.k, SMDP_MKEY_LEN) == 0);
    }
    pthread_barrier_destroy(&bar);
    unlink(path);
    UT_EQ(rmdir(dir), 0); /* no temporary file left behind */
}

/* The operator's metadata options: limits refused, nothing half-written is taken for valid. */
static void test_metadata_extra_limits(void)
{
    smdp_md_extra x;
    memset(&x, 0, sizeof(x));
    smdp_metadata m = {.iccid = "8949449999999990023", .profile_class = SMDP_CLASS_ABSENT, .extra = &x};
    der_writer w;
    /* notifications with nowhere to send them */
    x.notify_events = SMDP_NOTIFY_DELETE;
    der_w_init(&w);
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_EINVAL);
    der_w_free(&w);
    m.own_address = "smdp.example.com";
    der_w_init(&w);
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_OK);
    der_w_free(&w);
    x.notify_events = 0x10; /* not a NotificationEvent */
    der_w_init(&w);
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_EINVAL);
    der_w_free(&w);
    x.notify_events = 0;
    /* an icon needs a known type and 1..1024 octets */
    x.has_icon = true;
    x.icon_type = 7;
    x.icon_len = 3;
    der_w_init(&w);
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_EINVAL);
    der_w_free(&w);
    x.icon_type = SMDP_ICON_JPG;
    x.icon_len = SMDP_ICON_MAX + 1;
    der_w_init(&w);
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_EINVAL);
    der_w_free(&w);
    x.has_icon = false;
    x.has_ppr = true;
    x.ppr = 0x08;
    der_w_init(&w);
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_EINVAL);
    der_w_free(&w);
    /* an empty rule set is still encoded (99 01 00) */
    x.ppr = 0;
    der_w_init(&w);
    UT_EQ(smdp_metadata_encode(&w, &m), SMDP_BPP_OK);
    UT_EQ(der_w_finish(&w), DER_OK);
    UT_CHECK(w.len >= 3 && w.buf[w.len - 3] == 0x99 && w.buf[w.len - 2] == 1 && w.buf[w.len - 1] == 0);
    der_w_free(&w);
    uint8_t mm[3];
    UT_EQ(smdp_mccmnc_encode("23415", mm), 0);
    UT_CHECK(mm[0] == 0x32 && mm[1] == 0xF4 && mm[2] == 0x51);
    UT_EQ(smdp_mccmnc_encode("2341", mm), -1);
    UT_EQ(smdp_mccmnc_encode("23415a", mm), -1);
}

int main(void)
{
    UT_RUN(test_metadata_extra_limits);
    UT_RUN(test_synthetic);
    UT_RUN(test_ts48);
    UT_RUN(test_sealed_ppk);
    UT_RUN(test_retry_same_binding);
    UT_RUN(test_otsk_forms);
    UT_RUN(test_bad_inputs);
    UT_RUN(test_metadata);
    UT_RUN(test_seal);
    UT_RUN(test_mkey_file);
    UT_RUN(test_mkey_race);
    return ut_finish();
}
