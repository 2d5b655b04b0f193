#include "asn1/sgp22.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ut.h"

/*
 * Known-good encodings written by hand from the RSPDefinitions module
 * (AUTOMATIC TAGS): each line is one TLV, lengths in hex.
 */
#define TID "00112233445566778899AABBCCDDEEFF"
#define ECHAL "0102030405060708090A0B0C0D0E0F10"
#define SCHAL "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"
#define ADDR "7273702E6578616D706C652E636F6D"   /* "rsp.example.com" (15) */
#define SMDP "736D64702E6578616D706C652E636F6D" /* "smdp.example.com" (16) */
#define SKI1 "F54172BDF98A95D65CBEB88A38A1C11D800A85C3"
#define SKI2 "C0BC70BA36929D43B467FF57570530E57AB8FCD8"
#define AB8 "ABABABABABABABAB"
#define SIG AB8 AB8 AB8 AB8 AB8 AB8 AB8 AB8
#define X8 "1111111111111111"
#define Y8 "2222222222222222"
#define POINT "04" X8 X8 X8 X8 Y8 Y8 Y8 Y8
#define CC8 "CCCCCCCCCCCCCCCC"
#define ICCID "89049032123456789012"
#define OID_DP "88370A" /* 2.999.10 */
#define CERT1 "3003020101"
#define CERT2 "3003020102"

static const char EI1[] = "BF204B"
                          "8203020200"
                          "A916"
                          "0414" SKI1 "AA2C"
                          "0414" SKI1 "0414" SKI2;

/* v3: SigningV3 list first (position unknown to us), extras, an unknown field. */
static const char EI1_V3[] = "BF205A"
                             "8203020200"
                             "B116"
                             "0414" SKI2 "A916"
                             "0414" SKI1 "AA16"
                             "0414" SKI1 "88020780"
                             "9303030100"
                             "9F7F0100";

static const char SS1[] = "3047"
                          "8010" TID "8110" ECHAL "830F" ADDR "8410" SCHAL;

static const char SS1_V3[] = "3052"
                             "8010" TID "8110" ECHAL "830F" ADDR "8410" SCHAL "A505"
                             "8003030100"
                             "86020780";

#define DEVINFO                                                                                              \
    "A121"                                                                                                   \
    "800435290611"                                                                                           \
    "A10F"                                                                                                   \
    "8003050000"                                                                                             \
    "8103080000"                                                                                             \
    "85030F0000"                                                                                             \
    "82083529061123456789"
#define CTX_PRESENT                                                                                          \
    "A02E"                                                                                                   \
    "8009"                                                                                                   \
    "414243442D31323334" DEVINFO /* matchingId "ABCD-1234" */
#define CTX_EMPTY                                                                                            \
    "A025"                                                                                                   \
    "8000" DEVINFO
#define CTX_ABSENT "A023" DEVINFO

#define EI2_A                                                                                                \
    "8103020300"                                                                                             \
    "8203020201"                                                                                             \
    "83030B0100"                                                                                             \
    "8403810100"
#define EI2_UICC "85030206FC"
#define EI2_C                                                                                                \
    "8603090200"                                                                                             \
    "8703020300"                                                                                             \
    "880206C0"                                                                                               \
    "A916"                                                                                                   \
    "0414" SKI1 "AA16"                                                                                       \
    "0414" SKI1
#define EI2_D                                                                                                \
    "8B0102"                                                                                                 \
    "99020640"                                                                                               \
    "0403010000"
#define EI2_SAS                                                                                              \
    "0C0A"                                                                                                   \
    "5341532D313233343536" /* "SAS-123456" */
#define EI2_BODY EI2_A EI2_UICC EI2_C EI2_D EI2_SAS
#define EI2 "BF226F" EI2_BODY

#define ES1                                                                                                  \
    "3081D7"                                                                                                 \
    "8010" TID "830F" ADDR "8410" SCHAL EI2 CTX_PRESENT

static const char BF38[] = "BF3882012B"
                           "A0820127" ES1 "5F3740" SIG CERT1 CERT2;

static const char BF38_ERR[] = "BF3817"
                               "A115"
                               "8010" TID "020106";

static const char SMDP_SIGNED2[] = "3059"
                                   "8010" TID "0101FF"
                                   "5F4941" POINT;

#define ESIGNED2                                                                                             \
    "3078"                                                                                                   \
    "8010" TID "5F4941" POINT "0420" CC8 CC8 CC8 CC8
static const char BF21[] = "BF2181C0"
                           "A081BD" ESIGNED2 "5F3740" SIG;
static const char BF21_ERR[] = "BF2117"
                               "A115"
                               "8010" TID "020102";

static const char BF25[] = "BF254B"
                           "5A0A" ICCID "9107"
                           "4578616D706C65" /* "Example" */
                           "920C"
                           "546573742050726F66696C65" /* "Test Profile" */
                           "950102"
                           "B618"
                           "3016"
                           "80020780"
                           "8110" SMDP "B705"
                           "800300F110"
                           "99020780";

#define NOTIF_META                                                                                           \
    "BF2F25"                                                                                                 \
    "800105"                                                                                                 \
    "81020780"                                                                                               \
    "0C10" SMDP "5A0A" ICCID
#define PIR_DATA                                                                                             \
    "BF2759"                                                                                                 \
    "8010" TID NOTIF_META "0603" OID_DP "A218"                                                               \
    "A016"                                                                                                   \
    "4F10"                                                                                                   \
    "A0000005591010FFFFFFFF8900001000"                                                                       \
    "04029000"
static const char BF37[] = "BF37819F" PIR_DATA "5F3740" SIG;
static const char BF37_ERR[] = "BF37818F"
                               "BF2749"
                               "8010" TID NOTIF_META "0603" OID_DP "A208"
                               "A106"
                               "800105"
                               "81010C"
                               "5F3740" SIG;

#define CANCEL_SIGNED                                                                                        \
    "301A"                                                                                                   \
    "8010" TID "8103" OID_DP "820100"
static const char BF41[] = "BF4161"
                           "A05F" CANCEL_SIGNED "5F3740" SIG;
static const char BF41_ERR[] = "BF4103"
                               "810105";

#define ISC                                                                                                  \
    "BF2381AE"                                                                                               \
    "820101"                                                                                                 \
    "8010" TID "A610"                                                                                        \
    "800188"                                                                                                 \
    "810110"                                                                                                 \
    "84080102030405060708"                                                                                   \
    "5F4941" POINT "5F3740" SIG
static const char BF23[] = ISC;
static const char BF24[] = "BF2400";
static const char BF24_DP[] = "BF2407"
                              "B805"
                              "8003" OID_DP;
#define K16(x) x x x x x x x x x x x x x x x x
static const char BF26[] = "BF2636"
                           "8010" K16("00") "8110" K16("11") "8210" K16("22");
static const char BF36[] = "BF3681C8" ISC "A005"
                           "8703AABBCC"
                           "A107"
                           "88020102"
                           "880103"
                           "A304"
                           "86020A0B";
static const char BF36_A2[] = "BF3681CD" ISC "A005"
                              "8703AABBCC"
                              "A104"
                              "88020102"
                              "A203"
                              "8701DD"
                              "A307"
                              "86020A0B"
                              "86010C";
static const char BF40[] = "BF4049"
                           "A047"
                           "8010" TID "A133"
                           "3018"
                           "8004"
                           "45562D31" /* "EV-1" */
                           "8110" SMDP "3017"
                           "8004"
                           "45562D32" /* "EV-2" */
                           "810F" ADDR;
static const char BF40_EMPTY[] = "BF4016"
                                 "A014"
                                 "8010" TID "A100";
static const char BF40_ERR[] = "BF4003"
                               "810106";

/* ---- helpers ---- */

typedef struct hexbuf {
    uint8_t *b;
    size_t n;
} hexbuf;

static hexbuf H(const char *hex)
{
    hexbuf h;
    h.b = ut_hex(hex, &h.n);
    return h;
}

static sgp22_bytes B(const hexbuf *h)
{
    return SGP22_BYTES(h->b, h->n);
}

static bool bytes_is(sgp22_bytes v, const char *hex)
{
    size_t n;
    uint8_t *b = ut_hex(hex, &n);
    bool ok = v.p && v.len == n && memcmp(v.p, b, n) == 0;
    free(b);
    return ok;
}

static bool str_is(sgp22_bytes v, const char *s)
{
    return v.p && v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}

static bool writer_is(const der_writer *w, const char *hex)
{
    size_t n;
    uint8_t *b = ut_hex(hex, &n);
    bool ok = w->err == DER_OK && w->len == n && memcmp(w->buf, b, n) == 0;
    if (!ok) {
        fprintf(stderr, "    encoded (err %d): ", w->err);
        for (size_t i = 0; i < w->len; i++)
            fprintf(stderr, "%02X", w->buf[i]);
        fprintf(stderr, "\n");
    }
    free(b);
    return ok;
}

/* Decode `hex`, re-encode, expect identical bytes. */
#define ROUNDTRIP(fn, type, hex)                                                                             \
    do {                                                                                                     \
        hexbuf h_ = H(hex);                                                                                  \
        type v_;                                                                                             \
        der_writer w_;                                                                                       \
        der_w_init(&w_);                                                                                     \
        UT_EQ(fn##_decode(h_.b, h_.n, &v_), DER_OK);                                                         \
        UT_EQ(fn##_encode(&w_, &v_), DER_OK);                                                                \
        UT_CHECK(writer_is(&w_, hex));                                                                       \
        der_w_free(&w_);                                                                                     \
        free(h_.b);                                                                                          \
    } while (0)

/* Decode `hex` and expect `rc` with sgp22_err_field() == `field`. */
#define REFUSE(fn, type, hex, rc, field)                                                                     \
    do {                                                                                                     \
        hexbuf h_ = H(hex);                                                                                  \
        type v_;                                                                                             \
        UT_EQ(fn##_decode(h_.b, h_.n, &v_), rc);                                                             \
        UT_CHECK(strcmp(sgp22_err_field(), field) == 0);                                                     \
        if (strcmp(sgp22_err_field(), field) != 0)                                                           \
            fprintf(stderr, "    field: %s\n", sgp22_err_field());                                           \
        free(h_.b);                                                                                          \
    } while (0)

/* ---- EUICCInfo1 ---- */

static void test_euicc_info1(void)
{
    hexbuf h = H(EI1);
    sgp22_euicc_info1 v;
    UT_EQ(sgp22_euicc_info1_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(strcmp(sgp22_err_field(), "") == 0);
    UT_CHECK(bytes_is(v.svn, "020200"));
    UT_EQ(v.ci_pkid_verify.count, 1);
    UT_EQ(v.ci_pkid_sign.count, 2);
    UT_CHECK(v.ci_pkid_sign_v3.tlv.raw == NULL);
    UT_CHECK(v.highest_svn.p == NULL);
    hexbuf k1 = H(SKI1), k2 = H(SKI2);
    UT_CHECK(sgp22_list_has(&v.ci_pkid_sign, k2.b, k2.n));
    UT_CHECK(!sgp22_list_has(&v.ci_pkid_verify, k2.b, k2.n));
    UT_CHECK(v.raw.raw == h.b && v.raw.raw_len == h.n);
    der_tlv e;
    UT_EQ(sgp22_list_at(&v.ci_pkid_sign, 1, &e), DER_OK);
    UT_EQ(e.tag, 0x04);
    UT_CHECK(e.len == k2.n && memcmp(e.value, k2.b, k2.n) == 0);
    UT_EQ(sgp22_list_at(&v.ci_pkid_sign, 2, &e), DER_EEOF);

    /* Encode from fields: a simulator's view. */
    sgp22_bytes verify[] = {B(&k1)}, sign[] = {B(&k1), B(&k2)};
    sgp22_euicc_info1 in = {
        .svn = SGP22_BYTES("\x02\x02\x00", 3),
        .ci_pkid_verify = {.items = verify, .count = 1},
        .ci_pkid_sign = {.items = sign, .count = 2},
    };
    UT_CHECK(sgp22_list_has(&in.ci_pkid_sign, k2.b, k2.n));
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_euicc_info1_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, EI1));
    der_w_free(&w);
    ROUNDTRIP(sgp22_euicc_info1, sgp22_euicc_info1, EI1);

    /* v3 fields exposed, unknown field skipped, lists anywhere after svn. */
    hexbuf h3 = H(EI1_V3);
    UT_EQ(sgp22_euicc_info1_decode(h3.b, h3.n, &v), DER_OK);
    UT_EQ(v.ci_pkid_sign_v3.count, 1);
    UT_CHECK(sgp22_list_has(&v.ci_pkid_sign_v3, k2.b, k2.n));
    UT_CHECK(bytes_is(v.highest_svn, "030100"));
    UT_CHECK(sgp22_bit(v.rsp_capability, 0));
    UT_CHECK(!sgp22_bit(v.rsp_capability, 1));

    /* Refusals. */
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF2105820302", DER_EEOF, "EUICCInfo1");
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF21058203020200", DER_EUNEXPECTED, "EUICCInfo1");
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF200A820402020000A900AA00", DER_EVALUE, "EUICCInfo1.svn");
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF20078203020200A900", DER_EUNEXPECTED,
           "EUICCInfo1.euiccCiPKIdListForSigning");
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF2004A900AA00" /* svn missing */, DER_EUNEXPECTED,
           "EUICCInfo1.svn");
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF2009AA008203020200A900", DER_EUNEXPECTED,
           "EUICCInfo1.svn"); /* out of order */
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF200E8203020200A9058103010203AA00", DER_EUNEXPECTED,
           "EUICCInfo1.euiccCiPKIdListForVerification"); /* element not an OCTET STRING */
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF20088203020200A90004", DER_EEOF,
           "EUICCInfo1"); /* truncated inner */
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF200B8203020200A900AA00A900", DER_EUNEXPECTED,
           "EUICCInfo1.euiccCiPKIdListForVerification"); /* repeated */
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF20098203020200A900AA0000", DER_ETRAILING, "EUICCInfo1");
    /* Key ids of 0 and 65 octets; 64 is the most accepted. */
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, "BF200B8203020200A9020400AA00", DER_EVALUE,
           "EUICCInfo1.euiccCiPKIdListForVerification");
    char hex[300] = "BF204B8203020200A9420440";
    for (int i = 0; i < 64; i++)
        strcat(hex, "5A");
    strcat(hex, "AA00");
    hexbuf big = H(hex);
    UT_EQ(sgp22_euicc_info1_decode(big.b, big.n, &v), DER_OK);
    free(big.b);
    strcpy(hex, "BF204C8203020200A9430441");
    for (int i = 0; i < 65; i++)
        strcat(hex, "5A");
    strcat(hex, "AA00");
    REFUSE(sgp22_euicc_info1, sgp22_euicc_info1, hex, DER_EVALUE,
           "EUICCInfo1.euiccCiPKIdListForVerification");
    free(h.b);
    free(h3.b);
    free(k1.b);
    free(k2.b);
}

/* ---- ServerSigned1 ---- */

static void test_server_signed1(void)
{
    hexbuf tid = H(TID), ec = H(ECHAL), sc = H(SCHAL);
    sgp22_server_signed1 in = {
        .transaction_id = B(&tid),
        .euicc_challenge = B(&ec),
        .server_address = SGP22_STR("rsp.example.com"),
        .server_challenge = B(&sc),
    };
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_server_signed1_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, SS1));

    sgp22_server_signed1 v;
    UT_EQ(sgp22_server_signed1_decode(w.buf, w.len, &v), DER_OK);
    UT_CHECK(bytes_is(v.transaction_id, TID));
    UT_CHECK(bytes_is(v.euicc_challenge, ECHAL));
    UT_CHECK(str_is(v.server_address, "rsp.example.com"));
    UT_CHECK(bytes_is(v.server_challenge, SCHAL));
    UT_CHECK(v.session_context.raw == NULL);
    der_w_free(&w);
    ROUNDTRIP(sgp22_server_signed1, sgp22_server_signed1, SS1);
    ROUNDTRIP(sgp22_server_signed1, sgp22_server_signed1, SS1_V3);

    hexbuf h3 = H(SS1_V3);
    UT_EQ(sgp22_server_signed1_decode(h3.b, h3.n, &v), DER_OK);
    UT_EQ(v.session_context.tag, 0xA5);
    UT_EQ(v.session_context.len, 5);
    UT_CHECK(sgp22_bit(v.server_rsp_capability, 0));
    free(h3.b);

    /* Wrong fixed sizes, on decode and on encode. */
    REFUSE(sgp22_server_signed1, sgp22_server_signed1,
           "3046"
           "8010" TID "810F"
           "02030405060708090A0B0C0D0E0F10"
           "830F" ADDR "8410" SCHAL,
           DER_EVALUE, "ServerSigned1.euiccChallenge");
    REFUSE(sgp22_server_signed1, sgp22_server_signed1,
           "3037"
           "8000"
           "8110" ECHAL "830F" ADDR "8410" SCHAL,
           DER_EVALUE, "ServerSigned1.transactionId");
    REFUSE(sgp22_server_signed1, sgp22_server_signed1,
           "3048"
           "8011" TID "00"
           "8110" ECHAL "830F" ADDR "8410" SCHAL,
           DER_EVALUE, "ServerSigned1.transactionId");
    REFUSE(sgp22_server_signed1, sgp22_server_signed1,
           "3036"
           "8010" TID "8110" ECHAL "8410" SCHAL,
           DER_EUNEXPECTED, "ServerSigned1.serverAddress");
    REFUSE(sgp22_server_signed1, sgp22_server_signed1,
           "3049"
           "8010" TID "8110" ECHAL "8311"
           "7273702E6578616D706C652E636F6DC328"
           "8410" SCHAL,
           DER_EVALUE, "ServerSigned1.serverAddress"); /* not UTF-8 */
    REFUSE(sgp22_server_signed1, sgp22_server_signed1,
           "3048"
           "8010" TID "8110" ECHAL "8310"
           "7273702E6578616D706C652E636F6D00"
           "8410" SCHAL,
           DER_EVALUE, "ServerSigned1.serverAddress"); /* NUL */

    sgp22_server_signed1 bad = in;
    bad.server_challenge.len = 15;
    der_w_init(&w);
    UT_EQ(sgp22_server_signed1_encode(&w, &bad), DER_EVALUE);
    UT_CHECK(strcmp(sgp22_err_field(), "ServerSigned1.serverChallenge") == 0);
    der_w_free(&w);
    bad = in;
    bad.transaction_id.len = 17;
    der_w_init(&w);
    UT_EQ(sgp22_server_signed1_encode(&w, &bad), DER_EVALUE);
    UT_CHECK(strcmp(sgp22_err_field(), "ServerSigned1.transactionId") == 0);
    der_w_free(&w);
    bad = in;
    bad.server_address = SGP22_STR("bad\xC3");
    der_w_init(&w);
    UT_EQ(sgp22_server_signed1_encode(&w, &bad), DER_EVALUE);
    der_w_free(&w);
    free(tid.b);
    free(ec.b);
    free(sc.b);
}

/* ---- CtxParams1 ---- */

static void check_devinfo(const sgp22_device_info *d)
{
    UT_CHECK(bytes_is(d->tac, "35290611"));
    UT_CHECK(bytes_is(d->imei, "3529061123456789"));
    UT_CHECK(bytes_is(d->capabilities.release[SGP22_DEVCAP_GSM], "050000"));
    UT_CHECK(bytes_is(d->capabilities.release[SGP22_DEVCAP_UTRAN], "080000"));
    UT_CHECK(bytes_is(d->capabilities.release[SGP22_DEVCAP_EUTRAN_EPC], "0F0000"));
    UT_CHECK(d->capabilities.release[SGP22_DEVCAP_CDMA2000_1X].p == NULL);
}

static void test_ctx_params1(void)
{
    sgp22_ctx_params1 v;
    hexbuf present = H(CTX_PRESENT), empty = H(CTX_EMPTY), absent = H(CTX_ABSENT);

    UT_EQ(sgp22_ctx_params1_decode(present.b, present.n, &v), DER_OK);
    UT_EQ(v.choice, SGP22_CTX_COMMON_AUTH);
    UT_CHECK(str_is(v.matching_id, "ABCD-1234"));
    check_devinfo(&v.device_info);

    UT_EQ(sgp22_ctx_params1_decode(empty.b, empty.n, &v), DER_OK);
    UT_CHECK(v.matching_id.p != NULL);
    UT_EQ(v.matching_id.len, 0);
    check_devinfo(&v.device_info);

    UT_EQ(sgp22_ctx_params1_decode(absent.b, absent.n, &v), DER_OK);
    UT_CHECK(v.matching_id.p == NULL);
    check_devinfo(&v.device_info);

    ROUNDTRIP(sgp22_ctx_params1, sgp22_ctx_params1, CTX_PRESENT);
    ROUNDTRIP(sgp22_ctx_params1, sgp22_ctx_params1, CTX_EMPTY);
    ROUNDTRIP(sgp22_ctx_params1, sgp22_ctx_params1, CTX_ABSENT);

    /* From fields: absent, empty and present matchingId give three encodings. */
    sgp22_ctx_params1 in = {.device_info = {.tac = SGP22_BYTES("\x35\x29\x06\x11", 4),
                                            .imei = SGP22_BYTES("\x35\x29\x06\x11\x23\x45\x67\x89", 8)}};
    in.device_info.capabilities.release[SGP22_DEVCAP_GSM] = SGP22_BYTES("\x05\x00\x00", 3);
    in.device_info.capabilities.release[SGP22_DEVCAP_UTRAN] = SGP22_BYTES("\x08\x00\x00", 3);
    in.device_info.capabilities.release[SGP22_DEVCAP_EUTRAN_EPC] = SGP22_BYTES("\x0F\x00\x00", 3);
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_ctx_params1_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, CTX_ABSENT));
    der_w_free(&w);
    in.matching_id = SGP22_STR("");
    der_w_init(&w);
    UT_EQ(sgp22_ctx_params1_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, CTX_EMPTY));
    der_w_free(&w);
    in.matching_id = SGP22_STR("ABCD-1234");
    der_w_init(&w);
    UT_EQ(sgp22_ctx_params1_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, CTX_PRESENT));
    der_w_free(&w);

    /* v3 fields after deviceInfo are skipped; a v3 alternative is kept raw. */
    hexbuf x = H("A02A" DEVINFO "820207800A" /* unknown [10] */ "0100");
    UT_EQ(sgp22_ctx_params1_decode(x.b, x.n, &v), DER_OK);
    check_devinfo(&v.device_info);
    UT_CHECK(sgp22_ctx_is_download(&v));
    free(x.b);
    /* v3 operationType and iccid exposed, matchingIdSource (A3) skipped */
    x = H("A037" DEVINFO "820206405A0A98001000000000000010A3028000");
    UT_EQ(sgp22_ctx_params1_decode(x.b, x.n, &v), DER_OK);
    check_devinfo(&v.device_info);
    UT_CHECK(bytes_is(v.operation_type, "0640"));
    UT_CHECK(bytes_is(v.iccid, "98001000000000000010"));
    UT_CHECK(!sgp22_ctx_is_download(&v));
    free(x.b);
    x = H("A027" DEVINFO "82020780");
    UT_EQ(sgp22_ctx_params1_decode(x.b, x.n, &v), DER_OK);
    UT_CHECK(sgp22_ctx_is_download(&v));
    free(x.b);
    REFUSE(sgp22_ctx_params1, sgp22_ctx_params1, "A028" DEVINFO "5A03980010", DER_EVALUE,
           "CtxParamsForCommonAuthentication.iccid");
    x = H("A1075A0589049032FF");
    UT_EQ(sgp22_ctx_params1_decode(x.b, x.n, &v), DER_OK);
    UT_CHECK(!sgp22_ctx_is_download(&v));
    UT_EQ(v.choice, 0xA1);
    UT_CHECK(v.raw.raw == x.b);
    free(x.b);
    ROUNDTRIP(sgp22_ctx_params1, sgp22_ctx_params1, "A1075A0589049032FF");

    REFUSE(sgp22_ctx_params1, sgp22_ctx_params1, "A4023000", DER_EUNEXPECTED, "CtxParams1");
    REFUSE(sgp22_ctx_params1, sgp22_ctx_params1, "A0058003414243", DER_EUNEXPECTED,
           "CtxParamsForCommonAuthentication.deviceInfo");
    REFUSE(sgp22_ctx_params1, sgp22_ctx_params1, "A00BA1098003352906A1028000", DER_EVALUE, "DeviceInfo.tac");
    REFUSE(sgp22_ctx_params1, sgp22_ctx_params1, "A00EA10C800435290611A10480020500", DER_EVALUE,
           "DeviceCapabilities.gsmSupportedRelease");
    REFUSE(sgp22_ctx_params1, sgp22_ctx_params1,
           "A00AA108800435290611A100"
           "00",
           DER_ETRAILING, "CtxParams1");
    free(present.b);
    free(empty.b);
    free(absent.b);
}

/* ---- EUICCInfo2 ---- */

static void test_euicc_info2(void)
{
    hexbuf h = H(EI2);
    sgp22_euicc_info2 v;
    UT_EQ(sgp22_euicc_info2_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(bytes_is(v.profile_version, "020300"));
    UT_CHECK(bytes_is(v.svn, "020201"));
    UT_CHECK(bytes_is(v.firmware_version, "0B0100"));
    UT_CHECK(bytes_is(v.ext_card_resource, "810100"));
    UT_CHECK(bytes_is(v.uicc_capability, "0206FC"));
    UT_CHECK(bytes_is(v.ts102241_version, "090200"));
    UT_CHECK(bytes_is(v.gp_version, "020300"));
    UT_CHECK(sgp22_bit(v.rsp_capability, 0) && sgp22_bit(v.rsp_capability, 1) &&
             !sgp22_bit(v.rsp_capability, 2));
    UT_EQ(v.ci_pkid_verify.count, 1);
    UT_EQ(v.ci_pkid_sign.count, 1);
    UT_CHECK(v.euicc_category.present);
    UT_EQ(v.euicc_category.v, 2);
    UT_CHECK(sgp22_bit(v.forbidden_ppr, 1) && !sgp22_bit(v.forbidden_ppr, 0));
    UT_CHECK(bytes_is(v.pp_version, "010000"));
    UT_CHECK(str_is(v.sas_accreditation, "SAS-123456"));
    UT_CHECK(v.certification_data.raw == NULL && !v.lpa_mode.present && v.highest_svn.p == NULL);
    ROUNDTRIP(sgp22_euicc_info2, sgp22_euicc_info2, EI2);

    /* Build the same from fields. */
    hexbuf k1 = H(SKI1);
    sgp22_bytes ids[] = {B(&k1)};
    uint8_t rspcap[5], ppr[5];
    size_t rspcap_len = sgp22_bits_from_mask(0x3, rspcap), ppr_len = sgp22_bits_from_mask(0x2, ppr);
    sgp22_euicc_info2 in = {
        .profile_version = SGP22_BYTES("\x02\x03\x00", 3),
        .svn = SGP22_BYTES("\x02\x02\x01", 3),
        .firmware_version = SGP22_BYTES("\x0B\x01\x00", 3),
        .ext_card_resource = SGP22_BYTES("\x81\x01\x00", 3),
        .uicc_capability = SGP22_BYTES("\x02\x06\xFC", 3),
        .ts102241_version = SGP22_BYTES("\x09\x02\x00", 3),
        .gp_version = SGP22_BYTES("\x02\x03\x00", 3),
        .rsp_capability = SGP22_BYTES(rspcap, rspcap_len),
        .ci_pkid_verify = {.items = ids, .count = 1},
        .ci_pkid_sign = {.items = ids, .count = 1},
        .euicc_category = {.v = 2, .present = true},
        .forbidden_ppr = SGP22_BYTES(ppr, ppr_len),
        .pp_version = SGP22_BYTES("\x01\x00\x00", 3),
        .sas_accreditation = SGP22_STR("SAS-123456"),
    };
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_euicc_info2_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, EI2));
    der_w_free(&w);

    /* Missing mandatory BIT STRING is refused on encode. */
    in.uicc_capability.p = NULL;
    in.uicc_capability.len = 0;
    der_w_init(&w);
    UT_EQ(sgp22_euicc_info2_encode(&w, &in), DER_EVALUE);
    UT_CHECK(strcmp(sgp22_err_field(), "EUICCInfo2.uiccCapability") == 0);
    der_w_free(&w);

    /* v2.3/v3 additions decoded, unknown [112] skipped. */
    hexbuf x = H("BF2281AD" EI2_BODY "AC0A0C034142430C03444546" /* certificationDataObject, opaque */
                 "8D020780"
                 "AF050403030100"
                 "900101"
                 "B1160414" SKI2 "9303030100"
                 "9F700100"
                 "950101");
    UT_EQ(sgp22_euicc_info2_decode(x.b, x.n, &v), DER_OK);
    UT_EQ(v.certification_data.tag, 0xAC);
    UT_CHECK(sgp22_bit(v.tre_properties, 0));
    UT_EQ(v.additional_pp_versions.len, 5);
    UT_CHECK(v.lpa_mode.present && v.lpa_mode.v == 1);
    UT_EQ(v.ci_pkid_sign_v3.count, 1);
    UT_CHECK(bytes_is(v.highest_svn, "030100"));
    UT_CHECK(bytes_is(v.min_security_level, "01"));
    free(x.b);

    /* A v2 field after a v3 one is out of order. */
    REFUSE(sgp22_euicc_info2, sgp22_euicc_info2,
           "BF2276" EI2_BODY "9303030100"
           "AC00",
           DER_EUNEXPECTED, "EUICCInfo2.certificationDataObject");
    /* A field before the first mandatory one makes that one missing. */
    REFUSE(sgp22_euicc_info2, sgp22_euicc_info2,
           "BF2274"
           "9303030100" EI2_BODY,
           DER_EUNEXPECTED, "EUICCInfo2.profileVersion");
    /* sasAcreditationNumber: 64 characters pass, 65 do not. */
    char hex[400] = "BF2281A5" EI2_A EI2_UICC EI2_C EI2_D "0C40";
    for (int i = 0; i < 64; i++)
        strcat(hex, "41");
    x = H(hex);
    UT_EQ(sgp22_euicc_info2_decode(x.b, x.n, &v), DER_OK);
    free(x.b);
    strcpy(hex, "BF2281A6" EI2_A EI2_UICC EI2_C EI2_D "0C41");
    for (int i = 0; i < 65; i++)
        strcat(hex, "41");
    REFUSE(sgp22_euicc_info2, sgp22_euicc_info2, hex, DER_EVALUE, "EUICCInfo2.sasAcreditationNumber");
    /* Bad BIT STRING: 8 unused bits; unused bits not zero. */
    REFUSE(sgp22_euicc_info2, sgp22_euicc_info2, "BF226F" EI2_A "85030806FC" EI2_C EI2_D EI2_SAS, DER_EVALUE,
           "EUICCInfo2.uiccCapability");
    REFUSE(sgp22_euicc_info2, sgp22_euicc_info2, "BF226F" EI2_A "85030206FD" EI2_C EI2_D EI2_SAS, DER_EVALUE,
           "EUICCInfo2.uiccCapability");
    /* Non-minimal INTEGER in euiccCategory. */
    REFUSE(sgp22_euicc_info2, sgp22_euicc_info2,
           "BF2270" EI2_A EI2_UICC EI2_C "8B020002"
           "99020640"
           "0403010000" EI2_SAS,
           DER_EVALUE, "EUICCInfo2.euiccCategory");
    free(h.b);
    free(k1.b);
}

/* ---- EuiccSigned1 and AuthenticateServerResponse ---- */

static void test_euicc_signed1(void)
{
    hexbuf h = H(ES1);
    sgp22_euicc_signed1 v;
    UT_EQ(sgp22_euicc_signed1_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(bytes_is(v.transaction_id, TID));
    UT_CHECK(str_is(v.server_address, "rsp.example.com"));
    UT_CHECK(bytes_is(v.server_challenge, SCHAL));
    UT_CHECK(bytes_is(v.euicc_info2.svn, "020201"));
    UT_CHECK(str_is(v.ctx_params1.matching_id, "ABCD-1234"));
    ROUNDTRIP(sgp22_euicc_signed1, sgp22_euicc_signed1, ES1);

    /* From fields, nested structs built from fields too. */
    sgp22_euicc_signed1 in = {
        .transaction_id = v.transaction_id,
        .server_address = SGP22_STR("rsp.example.com"),
        .server_challenge = v.server_challenge,
        .euicc_info2 = v.euicc_info2,
        .ctx_params1 = v.ctx_params1,
    };
    memset(&in.euicc_info2.raw, 0, sizeof(der_tlv));
    memset(&in.ctx_params1.raw, 0, sizeof(der_tlv));
    memset(&in.ctx_params1.device_info.raw, 0, sizeof(der_tlv));
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_euicc_signed1_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, ES1));
    der_w_free(&w);

    /* ctxParams1 missing. */
    REFUSE(sgp22_euicc_signed1, sgp22_euicc_signed1,
           "3081A7"
           "8010" TID "830F" ADDR "8410" SCHAL EI2,
           DER_EUNEXPECTED, "EuiccSigned1.ctxParams1");
    /* Nested failure names the nested field. */
    REFUSE(sgp22_euicc_signed1, sgp22_euicc_signed1,
           "3081D8"
           "8010" TID "830F" ADDR "8410" SCHAL "BF2270"
           "8103020300"
           "820402020100" /* svn: 4 octets */
           "83030B0100"
           "8403810100" EI2_UICC EI2_C EI2_D EI2_SAS CTX_PRESENT,
           DER_EVALUE, "EUICCInfo2.svn");
    free(h.b);
}

/* Re-encodes BF38 with the k-th element of the sequence at `seq` left out. */
static void drop_element(const uint8_t *buf, size_t len, const der_tlv *seq, size_t k, der_writer *w)
{
    (void)len;
    der_reader r;
    der_tlv e;
    size_t i = 0;
    der_w_init(w);
    /* Copy everything up to the sequence, re-wrapping the parents by hand. */
    der_w_begin(w, SGP22_TAG_AUTH_SERVER_RESP);
    der_w_begin(w, 0xA0);
    if (seq->tag == 0x30) {
        der_w_begin(w, 0x30);
    }
    der_reader_of(&r, seq);
    while (der_next(&r, &e) == DER_OK) {
        if (i++ != k)
            der_w_raw(w, e.raw, e.raw_len);
    }
    if (seq->tag == 0x30) {
        der_w_end(w);
        /* The rest of A0 after euiccSigned1. */
        const uint8_t *after = seq->raw + seq->raw_len;
        der_w_raw(w, after, (size_t)(buf + len - after));
    }
    der_w_end(w);
    der_w_end(w);
}

static void test_auth_server_resp(void)
{
    hexbuf h = H(BF38);
    hexbuf es1 = H(ES1);
    sgp22_auth_server_resp v;
    UT_EQ(sgp22_auth_server_resp_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(v.is_ok);
    /* The signed part is exactly the received slice, at its place. */
    UT_CHECK(v.ok.euicc_signed1.raw.raw == h.b + 9);
    UT_EQ(v.ok.euicc_signed1.raw.raw_len, es1.n);
    UT_CHECK(memcmp(v.ok.euicc_signed1.raw.raw, es1.b, es1.n) == 0);
    UT_CHECK(bytes_is(v.ok.euicc_signature1, SIG));
    UT_CHECK(v.ok.euicc_certificate.raw_len == 5 &&
             memcmp(v.ok.euicc_certificate.raw, "\x30\x03\x02\x01\x01", 5) == 0);
    UT_CHECK(v.ok.eum_certificate.raw_len == 5 &&
             memcmp(v.ok.eum_certificate.raw, "\x30\x03\x02\x01\x02", 5) == 0);
    UT_CHECK(v.ok.other_certs.tlv.raw == NULL);
    UT_CHECK(str_is(v.ok.euicc_signed1.ctx_params1.matching_id, "ABCD-1234"));
    ROUNDTRIP(sgp22_auth_server_resp, sgp22_auth_server_resp, BF38);

    /* Every truncation is refused. */
    for (size_t n = 0; n < h.n; n++) {
        int rc = sgp22_auth_server_resp_decode(h.b, n, &v);
        UT_CHECK(rc < 0);
    }
    /* Every element left out of AuthenticateResponseOk and of EuiccSigned1 is refused. */
    sgp22_auth_server_resp good;
    UT_EQ(sgp22_auth_server_resp_decode(h.b, h.n, &good), DER_OK);
    for (size_t k = 0; k < 4; k++) {
        der_writer w;
        drop_element(h.b, h.n, &good.ok.raw, k, &w);
        UT_EQ(der_w_finish(&w), DER_OK);
        UT_EQ(sgp22_auth_server_resp_decode(w.buf, w.len, &v), DER_EUNEXPECTED);
        der_w_free(&w);
    }
    for (size_t k = 0; k < 5; k++) {
        der_writer w;
        drop_element(h.b, h.n, &good.ok.euicc_signed1.raw, k, &w);
        UT_EQ(der_w_finish(&w), DER_OK);
        UT_EQ(sgp22_auth_server_resp_decode(w.buf, w.len, &v), DER_EUNEXPECTED);
        der_w_free(&w);
    }

    /* Wrong tags refused: patch the first tag octet of mandatory TLVs. */
    struct {
        const uint8_t *at;
        uint8_t to;
    } patches[] = {
        {h.b, 0x9F},                                        /* BF38 -> 9F38 */
        {h.b + 5, 0xA2},                                    /* A0 -> A2 (not an alternative) */
        {good.ok.euicc_signed1.raw.raw, 0x31},              /* euiccSigned1 */
        {good.ok.euicc_signed1.transaction_id.p - 2, 0x81}, /* becomes a repeated [1]? unknown: tid missing */
        {good.ok.euicc_signed1.server_challenge.p - 2, 0x85},
        {good.ok.euicc_signed1.euicc_info2.raw.raw + 1, 0x23}, /* BF22 -> BF23 */
        {good.ok.euicc_signed1.ctx_params1.raw.raw, 0xA4},
        {good.ok.euicc_signature1.p - 3, 0x7F}, /* 5F37 -> 7F37 */
        {good.ok.euicc_certificate.raw, 0x31},
        {good.ok.eum_certificate.raw, 0x31},
    };
    for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
        uint8_t *copy = malloc(h.n);
        memcpy(copy, h.b, h.n);
        copy[patches[i].at - h.b] = patches[i].to;
        int rc = sgp22_auth_server_resp_decode(copy, h.n, &v);
        UT_CHECK(rc < 0);
        if (rc >= 0)
            fprintf(stderr, "    patch %zu accepted\n", i);
        free(copy);
    }

    /* Signature of 63 octets. */
    {
        uint8_t *copy = malloc(h.n);
        memcpy(copy, h.b, h.n);
        copy[good.ok.euicc_signature1.p - 1 - h.b] = 0x3F;
        UT_EQ(sgp22_auth_server_resp_decode(copy, h.n, &v), DER_EVALUE); /* 3F leaves a stray octet */
        free(copy);
    }
    /* Trailing byte after BF38; unknown trailing field inside A0 is skipped;
     * a second alternative inside BF38 is trailing. */
    REFUSE(sgp22_auth_server_resp, sgp22_auth_server_resp,
           "BF3882012B"
           "A0820127" ES1 "5F3740" SIG CERT1 CERT2 "00",
           DER_ETRAILING, "AuthenticateServerResponse");
    REFUSE(sgp22_auth_server_resp, sgp22_auth_server_resp,
           "BF3882012F"
           "A0820127" ES1 "5F3740" SIG CERT1 CERT2 "A1020000",
           DER_ETRAILING, "AuthenticateServerResponse");
    hexbuf x = H("BF3882012F"
                 "A082012B" ES1 "5F3740" SIG CERT1 CERT2 "9F7F0100");
    UT_EQ(sgp22_auth_server_resp_decode(x.b, x.n, &v), DER_OK);
    free(x.b);
    /* A third certificate where none is defined is a repeat, refused. */
    REFUSE(sgp22_auth_server_resp, sgp22_auth_server_resp,
           "BF38820130"
           "A082012C" ES1 "5F3740" SIG CERT1 CERT2 CERT1,
           DER_EUNEXPECTED, "AuthenticateResponseOk.eumCertificate");

    /* v3 otherCertsInChain. */
    x = H("BF38820132"
          "A082012E" ES1 "5F3740" SIG CERT1 CERT2 "A005" CERT1);
    UT_EQ(sgp22_auth_server_resp_decode(x.b, x.n, &v), DER_OK);
    UT_EQ(v.ok.other_certs.count, 1);
    free(x.b);
    ROUNDTRIP(sgp22_auth_server_resp, sgp22_auth_server_resp,
              "BF38820132"
              "A082012E" ES1 "5F3740" SIG CERT1 CERT2 "A005" CERT1);

    /* Error alternative. */
    hexbuf e = H(BF38_ERR);
    UT_EQ(sgp22_auth_server_resp_decode(e.b, e.n, &v), DER_OK);
    UT_CHECK(!v.is_ok);
    UT_CHECK(bytes_is(v.error.transaction_id, TID));
    UT_EQ(v.error.code, 6);
    ROUNDTRIP(sgp22_auth_server_resp, sgp22_auth_server_resp, BF38_ERR);
    sgp22_auth_server_resp in = {.is_ok = false, .error = {.transaction_id = B(&e), .code = 6}};
    in.error.transaction_id = SGP22_BYTES(e.b + 7, 16);
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_auth_server_resp_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF38_ERR));
    der_w_free(&w);
    free(e.b);

    /* Simulator path: encode EuiccSigned1, "sign" it, then build BF38 around those bytes. */
    der_writer signed1;
    der_w_init(&signed1);
    UT_EQ(sgp22_euicc_signed1_encode(&signed1, &good.ok.euicc_signed1), DER_OK);
    sgp22_auth_server_resp sim = {.is_ok = true};
    UT_EQ(sgp22_euicc_signed1_decode(signed1.buf, signed1.len, &sim.ok.euicc_signed1), DER_OK);
    sim.ok.euicc_signature1 = good.ok.euicc_signature1;
    sim.ok.euicc_certificate = good.ok.euicc_certificate;
    sim.ok.eum_certificate = good.ok.eum_certificate;
    der_w_init(&w);
    UT_EQ(sgp22_auth_server_resp_encode(&w, &sim), DER_OK);
    UT_CHECK(writer_is(&w, BF38));
    der_w_free(&w);
    /* A certificate that is not a SEQUENCE TLV is refused on encode. */
    sim.ok.eum_certificate.raw = (const uint8_t *)"\x31\x00";
    sim.ok.eum_certificate.raw_len = 2;
    der_w_init(&w);
    UT_EQ(sgp22_auth_server_resp_encode(&w, &sim), DER_EVALUE);
    UT_CHECK(strcmp(sgp22_err_field(), "AuthenticateResponseOk.eumCertificate") == 0);
    der_w_free(&w);
    der_w_free(&signed1);
    free(h.b);
    free(es1.b);
}

/* ---- SmdpSigned2, PrepareDownloadResponse ---- */

static void test_smdp_signed2(void)
{
    hexbuf tid = H(TID), pt = H(POINT);
    sgp22_smdp_signed2 in = {.transaction_id = B(&tid), .cc_required = true, .bpp_euicc_otpk = B(&pt)};
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_smdp_signed2_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, SMDP_SIGNED2));
    sgp22_smdp_signed2 v;
    UT_EQ(sgp22_smdp_signed2_decode(w.buf, w.len, &v), DER_OK);
    UT_CHECK(v.cc_required);
    UT_CHECK(bytes_is(v.bpp_euicc_otpk, POINT));
    der_w_free(&w);
    ROUNDTRIP(sgp22_smdp_signed2, sgp22_smdp_signed2, SMDP_SIGNED2);
    ROUNDTRIP(sgp22_smdp_signed2, sgp22_smdp_signed2,
              "3015"
              "8010" TID "010100");

    REFUSE(sgp22_smdp_signed2, sgp22_smdp_signed2,
           "3015"
           "8010" TID "010101",
           DER_EVALUE, "SmdpSigned2.ccRequiredFlag");
    REFUSE(sgp22_smdp_signed2, sgp22_smdp_signed2,
           "3012"
           "8010" TID,
           DER_EUNEXPECTED, "SmdpSigned2.ccRequiredFlag");
    REFUSE(sgp22_smdp_signed2, sgp22_smdp_signed2,
           "3059"
           "8010" TID "0101FF"
           "5F4941"
           "05" X8 X8 X8 X8 Y8 Y8 Y8 Y8,
           DER_EVALUE, "SmdpSigned2.bppEuiccOtpk"); /* not an uncompressed point */
    free(tid.b);
    free(pt.b);
}

static void test_prepare_download(void)
{
    hexbuf h = H(BF21);
    sgp22_prepare_download_resp v;
    UT_EQ(sgp22_prepare_download_resp_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(v.is_ok);
    UT_CHECK(v.ok.euicc_signed2.raw.raw == h.b + 7);
    UT_EQ(v.ok.euicc_signed2.raw.raw_len, 122);
    UT_CHECK(bytes_is(v.ok.euicc_signed2.transaction_id, TID));
    UT_CHECK(bytes_is(v.ok.euicc_signed2.euicc_otpk, POINT));
    UT_CHECK(bytes_is(v.ok.euicc_signed2.hash_cc, CC8 CC8 CC8 CC8));
    UT_CHECK(bytes_is(v.ok.euicc_signature2, SIG));
    ROUNDTRIP(sgp22_prepare_download_resp, sgp22_prepare_download_resp, BF21);
    ROUNDTRIP(sgp22_prepare_download_resp, sgp22_prepare_download_resp, BF21_ERR);
    ROUNDTRIP(sgp22_euicc_signed2, sgp22_euicc_signed2, ESIGNED2);

    /* From fields. */
    hexbuf tid = H(TID), pt = H(POINT), cc = H(CC8 CC8 CC8 CC8), sig = H(SIG);
    sgp22_prepare_download_resp in = {.is_ok = true};
    in.ok.euicc_signed2.transaction_id = B(&tid);
    in.ok.euicc_signed2.euicc_otpk = B(&pt);
    in.ok.euicc_signed2.hash_cc = B(&cc);
    in.ok.euicc_signature2 = B(&sig);
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_prepare_download_resp_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF21));
    der_w_free(&w);

    hexbuf e = H(BF21_ERR);
    UT_EQ(sgp22_prepare_download_resp_decode(e.b, e.n, &v), DER_OK);
    UT_CHECK(!v.is_ok);
    UT_EQ(v.error.code, 2);
    free(e.b);

    /* 64-octet point, 31-octet hashCc, missing signature, wrong alternative. */
    REFUSE(sgp22_prepare_download_resp, sgp22_prepare_download_resp,
           "BF2181BF"
           "A081BC"
           "3077"
           "8010" TID "5F4940" X8 X8 X8 X8 Y8 Y8 Y8 Y8 "0420" CC8 CC8 CC8 CC8 "5F3740" SIG,
           DER_EVALUE, "EUICCSigned2.euiccOtpk");
    REFUSE(sgp22_prepare_download_resp, sgp22_prepare_download_resp,
           "BF2181BF"
           "A081BC"
           "3077"
           "8010" TID "5F4941" POINT "041F" CC8 CC8 CC8 "CCCCCCCCCCCCCC"
           "5F3740" SIG,
           DER_EVALUE, "EUICCSigned2.hashCc");
    REFUSE(sgp22_prepare_download_resp, sgp22_prepare_download_resp,
           "BF217C"
           "A07A" ESIGNED2,
           DER_EUNEXPECTED, "PrepareDownloadResponseOk.euiccSignature2");
    REFUSE(sgp22_prepare_download_resp, sgp22_prepare_download_resp, "BF2104A2020000", DER_EUNEXPECTED,
           "PrepareDownloadResponse");
    free(h.b);
    free(tid.b);
    free(pt.b);
    free(cc.b);
    free(sig.b);
}

/* ---- StoreMetadataRequest ---- */

static void test_store_metadata(void)
{
    hexbuf h = H(BF25);
    sgp22_store_metadata v;
    UT_EQ(sgp22_store_metadata_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(bytes_is(v.iccid, ICCID));
    UT_CHECK(str_is(v.service_provider_name, "Example"));
    UT_CHECK(str_is(v.profile_name, "Test Profile"));
    UT_CHECK(!v.icon_type.present && v.icon.p == NULL);
    UT_CHECK(v.profile_class.present && v.profile_class.v == 2);
    UT_EQ(v.notification_config.count, 1);
    der_tlv e;
    sgp22_notif_config nc;
    UT_EQ(sgp22_list_at(&v.notification_config, 0, &e), DER_OK);
    UT_EQ(sgp22_notif_config_decode(&e, &nc), DER_OK);
    UT_CHECK(sgp22_bit(nc.pmo, 0));
    UT_CHECK(str_is(nc.address, "smdp.example.com"));
    UT_CHECK(v.has_profile_owner);
    UT_CHECK(bytes_is(v.profile_owner.mcc_mnc, "00F110"));
    UT_CHECK(v.profile_owner.gid1.p == NULL);
    UT_CHECK(sgp22_bit(v.ppr, 0));
    ROUNDTRIP(sgp22_store_metadata, sgp22_store_metadata, BF25);

    hexbuf iccid = H(ICCID);
    uint8_t pmo[5], ppr[5];
    size_t pmo_len = sgp22_bits_from_mask(1, pmo), ppr_len = sgp22_bits_from_mask(1, ppr);
    sgp22_notif_config ncs[] = {{.pmo = SGP22_BYTES(pmo, pmo_len), .address = SGP22_STR("smdp.example.com")}};
    sgp22_store_metadata in = {
        .iccid = B(&iccid),
        .service_provider_name = SGP22_STR("Example"),
        .profile_name = SGP22_STR("Test Profile"),
        .profile_class = {.v = 2, .present = true},
        .notification_config = {.items = ncs, .count = 1},
        .has_profile_owner = true,
        .profile_owner = {.mcc_mnc = SGP22_BYTES("\x00\xF1\x10", 3)},
        .ppr = SGP22_BYTES(ppr, ppr_len),
    };
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_store_metadata_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF25));
    der_w_free(&w);

    /* Minimal: mandatory fields only, empty names allowed. */
    sgp22_store_metadata min = {.iccid = B(&iccid)};
    der_w_init(&w);
    UT_EQ(sgp22_store_metadata_encode(&w, &min), DER_OK);
    UT_CHECK(writer_is(&w, "BF25105A0A" ICCID "91009200"));
    der_w_free(&w);
    /* Icon without iconType: refused both ways. */
    min.icon = SGP22_STR("PNG");
    der_w_init(&w);
    UT_EQ(sgp22_store_metadata_encode(&w, &min), DER_EVALUE);
    UT_CHECK(strcmp(sgp22_err_field(), "StoreMetadataRequest.icon") == 0);
    der_w_free(&w);
    REFUSE(sgp22_store_metadata, sgp22_store_metadata,
           "BF25155A0A" ICCID "91009200"
           "9403504E47",
           DER_EVALUE, "StoreMetadataRequest.icon");
    min.icon_type = (sgp22_int){.v = 1, .present = true};
    der_w_init(&w);
    UT_EQ(sgp22_store_metadata_encode(&w, &min), DER_OK);
    UT_CHECK(writer_is(&w, "BF25185A0A" ICCID "91009200"
                           "930101"
                           "9403504E47"));
    der_w_free(&w);

    /* serviceProviderName limit counts characters: 32 two-octet characters pass, 33 do not. */
    char spn[300] = "BF2550"
                    "5A0A" ICCID "9140";
    for (int i = 0; i < 32; i++)
        strcat(spn, "C3A9");
    strcat(spn, "9200");
    hexbuf s = H(spn);
    UT_EQ(sgp22_store_metadata_decode(s.b, s.n, &v), DER_OK);
    free(s.b);
    strcpy(spn, "BF2552"
                "5A0A" ICCID "9142");
    for (int i = 0; i < 33; i++)
        strcat(spn, "C3A9");
    strcat(spn, "9200");
    REFUSE(sgp22_store_metadata, sgp22_store_metadata, spn, DER_EVALUE,
           "StoreMetadataRequest.serviceProviderName");

    /* v3 fields we do not know (hriServerAddress 9B) are skipped. */
    hexbuf x = H("BF25165A0A" ICCID "91009200"
                 "9B04"
                 "68726921");
    UT_EQ(sgp22_store_metadata_decode(x.b, x.n, &v), DER_OK);
    free(x.b);
    REFUSE(sgp22_store_metadata, sgp22_store_metadata,
           "BF250F5A09"
           "890490321234567890"
           "91009200",
           DER_EVALUE, "StoreMetadataRequest.iccid");
    REFUSE(sgp22_store_metadata, sgp22_store_metadata,
           "BF25145A0A" ICCID "91009200"
           "B602"
           "3000",
           DER_EUNEXPECTED, "NotificationConfigurationInformation.profileManagementOperation");
    free(h.b);
    free(iccid.b);
}

/* ---- ProfileInstallationResult ---- */

static void test_pir(void)
{
    hexbuf h = H(BF37), data = H(PIR_DATA);
    sgp22_pir v;
    UT_EQ(sgp22_pir_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(v.data.raw.raw == h.b + 4);
    UT_CHECK(v.data.raw.raw_len == data.n && memcmp(v.data.raw.raw, data.b, data.n) == 0);
    UT_CHECK(bytes_is(v.data.transaction_id, TID));
    UT_EQ(v.data.notification_metadata.seq_number, 5);
    UT_CHECK(sgp22_bit(v.data.notification_metadata.pmo, 0));
    UT_CHECK(str_is(v.data.notification_metadata.notification_address, "smdp.example.com"));
    UT_CHECK(bytes_is(v.data.notification_metadata.iccid, ICCID));
    char oid[32];
    UT_EQ(sgp22_oid_format(v.data.smdp_oid.p, v.data.smdp_oid.len, oid, sizeof(oid)), DER_OK);
    UT_CHECK(strcmp(oid, "2.999.10") == 0);
    UT_CHECK(v.data.final_result.success);
    UT_CHECK(bytes_is(v.data.final_result.ok.aid, "A0000005591010FFFFFFFF8900001000"));
    UT_CHECK(bytes_is(v.data.final_result.ok.sima_response, "9000"));
    UT_CHECK(bytes_is(v.euicc_sign_pir, SIG));
    ROUNDTRIP(sgp22_pir, sgp22_pir, BF37);
    ROUNDTRIP(sgp22_pir, sgp22_pir, BF37_ERR);
    ROUNDTRIP(sgp22_pir_data, sgp22_pir_data, PIR_DATA);

    hexbuf e = H(BF37_ERR);
    UT_EQ(sgp22_pir_decode(e.b, e.n, &v), DER_OK);
    UT_CHECK(!v.data.final_result.success);
    UT_EQ(v.data.final_result.error.bpp_command_id, 5);
    UT_EQ(v.data.final_result.error.error_reason, 12);
    UT_CHECK(v.data.final_result.error.sima_response.p == NULL);
    free(e.b);

    /* Simulator: build the data from fields, then the whole result. */
    hexbuf tid = H(TID), iccid = H(ICCID), aid = H("A0000005591010FFFFFFFF8900001000"), sig = H(SIG);
    uint8_t oidb[16], pmo[5];
    size_t oidlen, pmolen = sgp22_bits_from_mask(1, pmo);
    UT_EQ(sgp22_oid_encode("2.999.10", oidb, sizeof(oidb), &oidlen), DER_OK);
    sgp22_pir in = {0};
    in.data.transaction_id = B(&tid);
    in.data.notification_metadata.seq_number = 5;
    in.data.notification_metadata.pmo = SGP22_BYTES(pmo, pmolen);
    in.data.notification_metadata.notification_address = SGP22_STR("smdp.example.com");
    in.data.notification_metadata.iccid = B(&iccid);
    in.data.smdp_oid = SGP22_BYTES(oidb, oidlen);
    in.data.final_result.success = true;
    in.data.final_result.ok.aid = B(&aid);
    in.data.final_result.ok.sima_response = SGP22_BYTES("\x90\x00", 2);
    in.euicc_sign_pir = B(&sig);
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_pir_data_encode(&w, &in.data), DER_OK);
    UT_CHECK(writer_is(&w, PIR_DATA));
    der_w_free(&w);
    der_w_init(&w);
    UT_EQ(sgp22_pir_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF37));
    der_w_free(&w);
    /* smdpOid is optional (v2.0). */
    in.data.smdp_oid.p = NULL;
    der_w_init(&w);
    UT_EQ(sgp22_pir_data_encode(&w, &in.data), DER_OK);
    sgp22_pir_data d;
    UT_EQ(sgp22_pir_data_decode(w.buf, w.len, &d), DER_OK);
    UT_CHECK(d.smdp_oid.p == NULL && d.final_result.success);
    der_w_free(&w);

    REFUSE(sgp22_pir, sgp22_pir,
           "BF37819F"
           "BF2759"
           "8010" TID NOTIF_META "0603" OID_DP "A218"
           "A216"
           "4F10"
           "A0000005591010FFFFFFFF8900001000"
           "04029000"
           "5F3740" SIG,
           DER_EUNEXPECTED, "finalResult");
    REFUSE(sgp22_pir, sgp22_pir,
           "BF37819F"
           "BF2759"
           "8010" TID NOTIF_META "0603"
           "80370A"
           "A218"
           "A016"
           "4F10"
           "A0000005591010FFFFFFFF8900001000"
           "04029000"
           "5F3740" SIG,
           DER_EVALUE, "ProfileInstallationResultData.smdpOid");
    REFUSE(sgp22_pir, sgp22_pir,
           "BF3781A0"
           "BF2759"
           "8010" TID NOTIF_META "0603" OID_DP "A218"
           "A016"
           "4F10"
           "A0000005591010FFFFFFFF8900001000"
           "04029000"
           "5F3741" SIG "00",
           DER_EVALUE, "ProfileInstallationResult.euiccSignPIR");
    free(h.b);
    free(data.b);
    free(tid.b);
    free(iccid.b);
    free(aid.b);
    free(sig.b);
}

/* ---- CancelSessionResponse ---- */

static void test_cancel_session(void)
{
    hexbuf h = H(BF41), cs = H(CANCEL_SIGNED);
    sgp22_cancel_session_resp v;
    UT_EQ(sgp22_cancel_session_resp_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(v.is_ok);
    const der_tlv *s = &v.ok.euicc_cancel_session_signed.raw;
    UT_CHECK(s->raw == h.b + 5 && s->raw_len == cs.n && memcmp(s->raw, cs.b, cs.n) == 0);
    UT_CHECK(bytes_is(v.ok.euicc_cancel_session_signed.smdp_oid, OID_DP));
    UT_EQ(v.ok.euicc_cancel_session_signed.reason, 0);
    UT_CHECK(bytes_is(v.ok.euicc_cancel_session_signature, SIG));
    ROUNDTRIP(sgp22_cancel_session_resp, sgp22_cancel_session_resp, BF41);
    ROUNDTRIP(sgp22_cancel_session_resp, sgp22_cancel_session_resp, BF41_ERR);
    ROUNDTRIP(sgp22_cancel_session_signed, sgp22_cancel_session_signed, CANCEL_SIGNED);

    hexbuf e = H(BF41_ERR);
    UT_EQ(sgp22_cancel_session_resp_decode(e.b, e.n, &v), DER_OK);
    UT_CHECK(!v.is_ok);
    UT_EQ(v.error, 5);
    free(e.b);

    hexbuf tid = H(TID), sig = H(SIG);
    sgp22_cancel_session_resp in = {.is_ok = true};
    in.ok.euicc_cancel_session_signed.transaction_id = B(&tid);
    in.ok.euicc_cancel_session_signed.smdp_oid = SGP22_BYTES("\x88\x37\x0A", 3);
    in.ok.euicc_cancel_session_signature = B(&sig);
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_cancel_session_resp_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF41));
    der_w_free(&w);
    sgp22_cancel_session_resp err = {.is_ok = false, .error = 127};
    der_w_init(&w);
    UT_EQ(sgp22_cancel_session_resp_encode(&w, &err), DER_OK);
    UT_CHECK(writer_is(&w, "BF410381017F"));
    der_w_free(&w);

    /* The OID with its universal tag (06) is not what the automatic tags give. */
    REFUSE(sgp22_cancel_session_resp, sgp22_cancel_session_resp,
           "BF4161"
           "A05F"
           "301A"
           "8010" TID "0603" OID_DP "820100"
           "5F3740" SIG,
           DER_EUNEXPECTED, "EuiccCancelSessionSigned.smdpOid");
    REFUSE(sgp22_cancel_session_resp, sgp22_cancel_session_resp,
           "BF4104"
           "81020005",
           DER_EVALUE, "CancelSessionResponse");
    REFUSE(sgp22_cancel_session_resp, sgp22_cancel_session_resp,
           "BF4103"
           "820105",
           DER_EUNEXPECTED, "CancelSessionResponse");
    free(h.b);
    free(cs.b);
    free(tid.b);
    free(sig.b);
}

/* ---- ES8+ ---- */

static void test_init_secure_channel(void)
{
    hexbuf h = H(BF23);
    sgp22_init_secure_channel v;
    UT_EQ(sgp22_init_secure_channel_decode(h.b, h.n, &v), DER_OK);
    UT_EQ(v.remote_op_id, 1);
    UT_CHECK(bytes_is(v.transaction_id, TID));
    UT_CHECK(bytes_is(v.control_ref_template.key_type, "88"));
    UT_CHECK(bytes_is(v.control_ref_template.key_len, "10"));
    UT_CHECK(bytes_is(v.control_ref_template.host_id, "0102030405060708"));
    UT_CHECK(bytes_is(v.smdp_otpk, POINT));
    UT_CHECK(bytes_is(v.smdp_sign, SIG));
    ROUNDTRIP(sgp22_init_secure_channel, sgp22_init_secure_channel, BF23);

    hexbuf tid = H(TID), pt = H(POINT), sig = H(SIG);
    sgp22_init_secure_channel in = {
        .remote_op_id = 1,
        .transaction_id = B(&tid),
        .control_ref_template = {.key_type = SGP22_BYTES("\x88", 1),
                                 .key_len = SGP22_BYTES("\x10", 1),
                                 .host_id = SGP22_BYTES("\x01\x02\x03\x04\x05\x06\x07\x08", 8)},
        .smdp_otpk = B(&pt),
        .smdp_sign = B(&sig),
    };
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_init_secure_channel_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF23));
    der_w_free(&w);

    /* The signed data: 82 80 A6 5F49(smdp) 5F49(euicc). */
    der_w_init(&w);
    UT_EQ(sgp22_init_secure_channel_tbs(&w, &v, pt.b, pt.n), DER_OK);
    UT_CHECK(writer_is(&w, "820101"
                           "8010" TID "A610800188810110840801020304050607085F4941" POINT "5F4941" POINT));
    der_w_free(&w);
    der_w_init(&w);
    UT_EQ(sgp22_init_secure_channel_tbs(&w, &v, pt.b, 64), DER_EVALUE);
    der_w_free(&w);

    in.remote_op_id = 2;
    der_w_init(&w);
    UT_EQ(sgp22_init_secure_channel_encode(&w, &in), DER_EVALUE);
    UT_CHECK(strcmp(sgp22_err_field(), "InitialiseSecureChannelRequest.remoteOpId") == 0);
    der_w_free(&w);
    REFUSE(sgp22_init_secure_channel, sgp22_init_secure_channel,
           "BF2381AE"
           "820102"
           "8010" TID "A610800188810110840801020304050607085F4941" POINT "5F3740" SIG,
           DER_EVALUE, "InitialiseSecureChannelRequest.remoteOpId");
    REFUSE(sgp22_init_secure_channel, sgp22_init_secure_channel,
           "BF2381AF"
           "820101"
           "8010" TID "A611"
           "80028800"
           "810110"
           "84080102030405060708"
           "5F4941" POINT "5F3740" SIG,
           DER_EVALUE, "ControlRefTemplate.keyType");
    REFUSE(sgp22_init_secure_channel, sgp22_init_secure_channel,
           "BF236A"
           "820101"
           "8010" TID "A610800188810110840801020304050607085F3740" SIG,
           DER_EUNEXPECTED, "InitialiseSecureChannelRequest.smdpOtpk");
    free(h.b);
    free(tid.b);
    free(pt.b);
    free(sig.b);
}

static void test_configure_isdp_and_rsk(void)
{
    sgp22_configure_isdp c;
    hexbuf h = H(BF24);
    UT_EQ(sgp22_configure_isdp_decode(h.b, h.n, &c), DER_OK);
    UT_CHECK(!c.has_dp_proprietary_data);
    free(h.b);
    h = H(BF24_DP);
    UT_EQ(sgp22_configure_isdp_decode(h.b, h.n, &c), DER_OK);
    UT_CHECK(c.has_dp_proprietary_data);
    UT_CHECK(bytes_is(c.dp_proprietary_data.dp_oid, OID_DP));
    free(h.b);
    ROUNDTRIP(sgp22_configure_isdp, sgp22_configure_isdp, BF24);
    ROUNDTRIP(sgp22_configure_isdp, sgp22_configure_isdp, BF24_DP);
    /* DpProprietaryData may carry more objects after dpOid. */
    h = H("BF240AB808800388370A0C0141");
    UT_EQ(sgp22_configure_isdp_decode(h.b, h.n, &c), DER_OK);
    free(h.b);

    sgp22_configure_isdp in = {0};
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_configure_isdp_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF24));
    der_w_free(&w);
    in.has_dp_proprietary_data = true;
    in.dp_proprietary_data.dp_oid = SGP22_BYTES("\x88\x37\x0A", 3);
    der_w_init(&w);
    UT_EQ(sgp22_configure_isdp_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF24_DP));
    der_w_free(&w);
    REFUSE(sgp22_configure_isdp, sgp22_configure_isdp, "BF2402B800", DER_EUNEXPECTED,
           "DpProprietaryData.dpOid");

    sgp22_replace_session_keys r;
    h = H(BF26);
    UT_EQ(sgp22_replace_session_keys_decode(h.b, h.n, &r), DER_OK);
    UT_CHECK(bytes_is(r.initial_mcv, K16("00")));
    UT_CHECK(bytes_is(r.ppk_enc, K16("11")));
    UT_CHECK(bytes_is(r.ppk_cmac, K16("22")));
    ROUNDTRIP(sgp22_replace_session_keys, sgp22_replace_session_keys, BF26);
    sgp22_replace_session_keys rin = {
        .initial_mcv = r.initial_mcv, .ppk_enc = r.ppk_enc, .ppk_cmac = r.ppk_cmac};
    der_w_init(&w);
    UT_EQ(sgp22_replace_session_keys_encode(&w, &rin), DER_OK);
    UT_CHECK(writer_is(&w, BF26));
    der_w_free(&w);
    free(h.b);
    REFUSE(sgp22_replace_session_keys, sgp22_replace_session_keys,
           "BF2635"
           "8010" K16("00") "8110" K16("11") "820F"
                                             "222222222222222222222222222222",
           DER_EVALUE, "ReplaceSessionKeysRequest.ppkCmac");
}

static void test_bpp(void)
{
    hexbuf h = H(BF36);
    sgp22_bpp v;
    UT_EQ(sgp22_bpp_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(bytes_is(v.init_secure_channel.transaction_id, TID));
    UT_EQ(v.first_seq87.count, 1);
    UT_EQ(v.seq88.count, 2);
    UT_CHECK(v.second_seq87.tlv.raw == NULL);
    UT_EQ(v.seq86.count, 1);
    der_tlv e;
    UT_EQ(sgp22_list_at(&v.seq88, 1, &e), DER_OK);
    UT_EQ(e.tag, 0x88);
    UT_EQ(e.raw_len, 3);
    ROUNDTRIP(sgp22_bpp, sgp22_bpp, BF36);
    ROUNDTRIP(sgp22_bpp, sgp22_bpp, BF36_A2);

    /* Encoder helper: segments as complete TLVs. */
    hexbuf isc = H(BF23);
    sgp22_bpp in = {0};
    UT_EQ(sgp22_init_secure_channel_decode(isc.b, isc.n, &in.init_secure_channel), DER_OK);
    sgp22_bytes s87[] = {SGP22_BYTES("\x87\x03\xAA\xBB\xCC", 5)};
    sgp22_bytes s88[] = {SGP22_BYTES("\x88\x02\x01\x02", 4)};
    sgp22_bytes s87b[] = {SGP22_BYTES("\x87\x01\xDD", 3)};
    sgp22_bytes s86[] = {SGP22_BYTES("\x86\x02\x0A\x0B", 4), SGP22_BYTES("\x86\x01\x0C", 3)};
    in.first_seq87 = (sgp22_list){.items = s87, .count = 1};
    in.seq88 = (sgp22_list){.items = s88, .count = 1};
    in.second_seq87 = (sgp22_list){.items = s87b, .count = 1};
    in.seq86 = (sgp22_list){.items = s86, .count = 2};
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_bpp_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF36_A2));
    der_w_free(&w);
    /* A segment with the wrong tag is refused on encode and on decode. */
    s88[0] = SGP22_BYTES("\x87\x02\x01\x02", 4);
    der_w_init(&w);
    UT_EQ(sgp22_bpp_encode(&w, &in), DER_EVALUE);
    UT_CHECK(strcmp(sgp22_err_field(), "BoundProfilePackage.sequenceOf88") == 0);
    der_w_free(&w);
    REFUSE(sgp22_bpp, sgp22_bpp,
           "BF3681C8" ISC "A005"
           "8703AABBCC"
           "A107"
           "88020102"
           "870103"
           "A304"
           "86020A0B",
           DER_EUNEXPECTED, "BoundProfilePackage.sequenceOf88");
    REFUSE(sgp22_bpp, sgp22_bpp,
           "BF3681C2" ISC "A005"
           "8703AABBCC"
           "A107"
           "88020102"
           "880103",
           DER_EUNEXPECTED, "BoundProfilePackage.sequenceOf86");
    free(h.b);
    free(isc.b);
}

/* The BPP vector from the shared test material (double-wrapped segments, 13 in A3). */
static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static void test_bpp_shared_vector(void)
{
    const char *dir = ut_shared_dir("BPP vector (vectors/bsp-kat.json)");
    if (!dir)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/vectors/bsp-kat.json", dir);
    size_t n;
    uint8_t *json = ut_read_file(path, &n);
    UT_CHECK(json != NULL);
    if (!json)
        return;
    char *text = realloc(json, n + 1);
    text[n] = '\0';
    char *p = strstr(text, "\"bpp_b64\"");
    UT_CHECK(p != NULL);
    if (!p) {
        free(text);
        return;
    }
    p = strchr(p + 9, '"') + 1;
    uint8_t *bpp = malloc(n);
    size_t len = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *p && *p != '"'; p++) {
        int v = b64val((unsigned char)*p);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bpp[len++] = (uint8_t)(acc >> bits);
        }
    }
    sgp22_bpp v;
    UT_EQ(sgp22_bpp_decode(bpp, len, &v), DER_OK);
    UT_EQ(len, 12928);
    UT_CHECK(bytes_is(v.init_secure_channel.transaction_id, "df9c0ef4041a47ee9bfdcf0ab10770ed"));
    UT_CHECK(str_is(v.init_secure_channel.control_ref_template.host_id, "mahlzeit"));
    UT_CHECK(bytes_is(v.init_secure_channel.control_ref_template.key_type, "88"));
    UT_EQ(v.first_seq87.count, 1);
    UT_EQ(v.seq88.count, 1);
    UT_CHECK(v.second_seq87.tlv.raw == NULL);
    UT_EQ(v.seq86.count, 13);
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_bpp_encode(&w, &v), DER_OK);
    UT_CHECK(w.len == len && memcmp(w.buf, bpp, len) == 0);
    der_w_free(&w);
    free(bpp);
    free(text);
}

/* ---- ES11 BF40 ---- */

static void test_es11(void)
{
    hexbuf h = H(BF40);
    sgp22_es11_auth_client_resp v;
    UT_EQ(sgp22_es11_auth_client_resp_decode(h.b, h.n, &v), DER_OK);
    UT_CHECK(v.is_ok);
    UT_CHECK(bytes_is(v.ok.transaction_id, TID));
    UT_EQ(v.ok.event_entries.count, 2);
    der_reader r;
    der_tlv e;
    sgp22_event_entry ev;
    sgp22_list_reader(&v.ok.event_entries, &r);
    UT_EQ(der_next(&r, &e), DER_OK);
    UT_EQ(sgp22_event_entry_decode(&e, &ev), DER_OK);
    UT_CHECK(str_is(ev.event_id, "EV-1") && str_is(ev.rsp_server_address, "smdp.example.com"));
    UT_EQ(der_next(&r, &e), DER_OK);
    UT_EQ(sgp22_event_entry_decode(&e, &ev), DER_OK);
    UT_CHECK(str_is(ev.event_id, "EV-2") && str_is(ev.rsp_server_address, "rsp.example.com"));
    UT_EQ(der_next(&r, &e), DER_EEOF);
    ROUNDTRIP(sgp22_es11_auth_client_resp, sgp22_es11_auth_client_resp, BF40);
    ROUNDTRIP(sgp22_es11_auth_client_resp, sgp22_es11_auth_client_resp, BF40_EMPTY);
    ROUNDTRIP(sgp22_es11_auth_client_resp, sgp22_es11_auth_client_resp, BF40_ERR);

    /* The SM-DS builds it from event records. */
    hexbuf tid = H(TID);
    sgp22_event_entry evs[] = {
        {.event_id = SGP22_STR("EV-1"), .rsp_server_address = SGP22_STR("smdp.example.com")},
        {.event_id = SGP22_STR("EV-2"), .rsp_server_address = SGP22_STR("rsp.example.com")},
    };
    sgp22_es11_auth_client_resp in = {
        .is_ok = true, .ok = {.transaction_id = B(&tid), .event_entries = {.items = evs, .count = 2}}};
    der_writer w;
    der_w_init(&w);
    UT_EQ(sgp22_es11_auth_client_resp_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF40));
    der_w_free(&w);
    /* No events is an empty list, not an absent one. */
    in.ok.event_entries = (sgp22_list){0};
    der_w_init(&w);
    UT_EQ(sgp22_es11_auth_client_resp_encode(&w, &in), DER_OK);
    UT_CHECK(writer_is(&w, BF40_EMPTY));
    der_w_free(&w);
    sgp22_es11_auth_client_resp err = {.is_ok = false, .error = 6};
    der_w_init(&w);
    UT_EQ(sgp22_es11_auth_client_resp_encode(&w, &err), DER_OK);
    UT_CHECK(writer_is(&w, BF40_ERR));
    der_w_free(&w);
    /* A bad entry on encode. */
    evs[1].event_id = SGP22_STR("\xFF");
    in.ok.event_entries = (sgp22_list){.items = evs, .count = 2};
    der_w_init(&w);
    UT_EQ(sgp22_es11_auth_client_resp_encode(&w, &in), DER_EVALUE);
    UT_CHECK(strcmp(sgp22_err_field(), "EventEntries.eventId") == 0);
    der_w_free(&w);

    REFUSE(sgp22_es11_auth_client_resp, sgp22_es11_auth_client_resp,
           "BF4014"
           "A012"
           "8010" TID,
           DER_EUNEXPECTED, "AuthenticateClientOkEs11.eventEntries");
    REFUSE(sgp22_es11_auth_client_resp, sgp22_es11_auth_client_resp,
           "BF401D"
           "A01B"
           "8010" TID "A107"
           "3005"
           "8003"
           "455631",
           DER_EUNEXPECTED, "EventEntries.rspServerAddress");
    REFUSE(sgp22_es11_auth_client_resp, sgp22_es11_auth_client_resp,
           "BF401B"
           "A019"
           "8010" TID "A105"
           "A003800100",
           DER_EUNEXPECTED, "AuthenticateClientOkEs11.eventEntries");
    free(h.b);
    free(tid.b);
}

/* ---- helpers ---- */

static void test_helpers(void)
{
    uint8_t b[5];
    UT_EQ(sgp22_bits_from_mask(0, b), 1);
    UT_EQ(b[0], 0);
    UT_EQ(sgp22_bits_from_mask(0x1, b), 2);
    UT_CHECK(b[0] == 7 && b[1] == 0x80);
    UT_EQ(sgp22_bits_from_mask((1u << 8) | 0x2, b), 3);
    UT_CHECK(b[0] == 7 && b[1] == 0x40 && b[2] == 0x80);
    UT_EQ(sgp22_bits_from_mask(1u << 31, b), 5);
    UT_CHECK(b[0] == 0 && b[4] == 0x01);
    sgp22_bytes bs = SGP22_BYTES(b, 5);
    UT_CHECK(sgp22_bit(bs, 31) && !sgp22_bit(bs, 30) && !sgp22_bit(bs, 32));
    UT_CHECK(!sgp22_bit(SGP22_BYTES("\x06\xFF", 2), 2)); /* in the unused area */
    UT_CHECK(sgp22_bit(SGP22_BYTES("\x06\xFF", 2), 1));

    uint8_t oid[32];
    size_t n;
    char s[64];
    UT_EQ(sgp22_oid_encode("1.2.840.10045.2.1", oid, sizeof(oid), &n), DER_OK);
    UT_CHECK(n == 7 && memcmp(oid, "\x2A\x86\x48\xCE\x3D\x02\x01", 7) == 0);
    UT_EQ(sgp22_oid_format(oid, n, s, sizeof(s)), DER_OK);
    UT_CHECK(strcmp(s, "1.2.840.10045.2.1") == 0);
    UT_EQ(sgp22_oid_encode("2.23.146.1.2.1.0.0.0", oid, sizeof(oid), &n), DER_OK);
    UT_EQ(sgp22_oid_format(oid, n, s, sizeof(s)), DER_OK);
    UT_CHECK(strcmp(s, "2.23.146.1.2.1.0.0.0") == 0);
    UT_EQ(sgp22_oid_encode("2.999.10", oid, 2, &n), DER_EVALUE); /* too small */
    const char *bad[] = {"", "1", "3.1", "1.40", "1..2", "01.2", "1.2.", "1.2x", "1.2.99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        UT_EQ(sgp22_oid_encode(bad[i], oid, sizeof(oid), &n), DER_EVALUE);
    UT_EQ(sgp22_oid_format((const uint8_t *)"\x88\x37\x0A", 3, s, 9), DER_OK);
    UT_CHECK(strcmp(s, "2.999.10") == 0);
    UT_EQ(sgp22_oid_format((const uint8_t *)"\x88\x37\x0A", 3, s, 8), DER_EVALUE); /* no room for NUL */
    UT_EQ(sgp22_oid_format((const uint8_t *)"\x06\x80\x01", 3, s, sizeof(s)),
          DER_EVALUE); /* 0x80 starts an arc */
    UT_EQ(sgp22_oid_format((const uint8_t *)"\x88\x37\x8A", 3, s, sizeof(s)), DER_EVALUE);
}

int main(void)
{
    UT_RUN(test_euicc_info1);
    UT_RUN(test_server_signed1);
    UT_RUN(test_ctx_params1);
    UT_RUN(test_euicc_info2);
    UT_RUN(test_euicc_signed1);
    UT_RUN(test_auth_server_resp);
    UT_RUN(test_smdp_signed2);
    UT_RUN(test_prepare_download);
    UT_RUN(test_store_metadata);
    UT_RUN(test_pir);
    UT_RUN(test_cancel_session);
    UT_RUN(test_init_secure_channel);
    UT_RUN(test_configure_isdp_and_rsk);
    UT_RUN(test_bpp);
    UT_RUN(test_bpp_shared_vector);
    UT_RUN(test_es11);
    UT_RUN(test_helpers);
    return ut_finish();
}
