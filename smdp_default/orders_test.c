#include "smdp_default/orders.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "order.pb-c.h"
#include "smdp_default/store_testutil.h"
#include "tests/unit/ut.h"

#define T0 1700000000u
#define TTL 1000u

static const char *EID_A = "89049032123451234512345678901235";
static const char *EID_B = "89049032123451234512345678901299";

static char g_dir[64];
static smdp_orders *g_o;
static smdp_mkey g_mk;

/* ---- fixtures ---- */

static uint8_t *synthetic_upp(const char *iccid, size_t *len)
{
    char hex[21];
    snprintf(hex, sizeof(hex), "%s%s", iccid, strlen(iccid) == 19 ? "F" : "");
    size_t il;
    uint8_t *bcd = ut_hex(hex, &il);
    der_writer w;
    der_w_init(&w);
    der_w_begin(&w, 0xA0);
    der_w_int(&w, 0x80, 2);
    der_w_int(&w, 0x81, 3);
    der_w_tlv(&w, 0x83, bcd, il);
    der_w_begin(&w, 0xA5);
    der_w_end(&w);
    der_w_begin(&w, 0xA6);
    der_w_end(&w);
    der_w_end(&w);
    free(bcd);
    uint8_t fill[1500];
    RAND_bytes(fill, sizeof(fill));
    der_w_begin(&w, 0xA1);
    der_w_tlv(&w, 0x81, fill, sizeof(fill));
    der_w_end(&w);
    der_w_begin(&w, 0xAA);
    der_w_end(&w);
    der_w_finish(&w);
    *len = w.len;
    return w.buf;
}

static void iccid_of(int i, char out[20])
{
    memcpy(out, "89000000000000000", 17);
    out[17] = (char)('0' + (i / 10) % 10);
    out[18] = (char)('0' + i % 10);
    out[19] = '\0';
}

static rsp_status import(const char *iccid, const char *type, const char *owner)
{
    size_t len;
    uint8_t *upp = synthetic_upp(iccid, &len);
    smdp_metadata md = {
        .service_provider_name = "Operator", .profile_name = type, .profile_class = SMDP_CLASS_ABSENT};
    char got[21] = "";
    int detail;
    rsp_status st = smdp_orders_import_upp(g_o, &g_mk, upp, len, type, owner, &md, T0, got, &detail);
    if (st == RSP_OK && strcmp(got, iccid))
        st = RSP_ST__COUNT;
    free(upp);
    return st;
}

static void open_store(void)
{
    smdp_orders_config cfg = {.cc_max_attempts = 3, .download_max_attempts = 3, .order_ttl = TTL};
    cfg.db.env_flags = MDB_NOSYNC;
    tu_orders_apply(&cfg);
    UT_EQ(smdp_orders_open(&g_o, g_dir, &cfg), 0);
}

/* Inventory: owner op1 has 00..07 of type T1 and 08..09 of T2; op2 has 10..11 of T1. */
static void setup(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/smdp_orders_test.XXXXXX");
    UT_CHECK(mkdtemp(g_dir) != NULL);
    uint8_t k[32];
    RAND_bytes(k, sizeof(k));
    smdp_mkey_set(&g_mk, k);
    tu_orders_fresh();
    open_store();
    for (int i = 0; i < 12; i++) {
        char iccid[20];
        iccid_of(i, iccid);
        UT_EQ(import(iccid, i < 8 ? "T1" : i < 10 ? "T2" : "T1", i < 10 ? "op1" : "op2"), RSP_OK);
    }
}

static void teardown(void)
{
    smdp_orders_close(g_o);
    g_o = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    UT_EQ(system(cmd), 0);
}

static smdp_op *op_new(smdp_op_kind kind, uint64_t now)
{
    smdp_op *op = calloc(1, sizeof(*op));
    op->kind = kind;
    op->now = now;
    return op;
}

/* Runs and frees an op; returns its status (and the stored record). */
static rsp_status run(smdp_op *op, smdp_order *after)
{
    rsp_status st = smdp_orders_run(g_o, op);
    if (after)
        *after = op->after;
    free(op);
    return st;
}

static rsp_status download_order(const char *owner, const char *eid, const char *iccid, const char *type,
                                 char out[21])
{
    smdp_op *op = op_new(SMDP_OP_DOWNLOAD_ORDER, T0);
    op->owner = owner;
    op->eid = eid;
    op->iccid = iccid;
    op->profile_type = type;
    smdp_order a;
    rsp_status st = run(op, &a);
    if (out)
        strcpy(out, st == RSP_OK ? a.iccid : "");
    return st;
}

static rsp_status confirm(const char *owner, const char *iccid, bool release, const char *eid,
                          const char *mid, const char *cc, const char *smds, smdp_order *after)
{
    smdp_op *op = op_new(SMDP_OP_CONFIRM_ORDER, T0 + 1);
    op->owner = owner;
    op->iccid = iccid;
    op->release = release;
    op->eid = eid;
    op->matching_id = mid;
    op->confirmation_code = cc;
    op->smds_address = smds;
    return run(op, after);
}

static rsp_status cancel(const char *owner, const char *iccid, smdp_state final, const char *eid,
                         const char *mid, smdp_order *after)
{
    smdp_op *op = op_new(SMDP_OP_CANCEL_ORDER, T0 + 2);
    op->owner = owner;
    op->iccid = iccid;
    op->final_state = final;
    op->eid = eid;
    op->matching_id = mid;
    return run(op, after);
}

static rsp_status es9(smdp_op_kind kind, const char *iccid, const char *eid, const uint8_t *tid, uint64_t now,
                      smdp_order *after)
{
    smdp_op *op = op_new(kind, now);
    op->iccid = iccid;
    op->eid = eid;
    op->tid = tid;
    op->tid_len = tid ? 16 : 0;
    return run(op, after);
}

/* An op of a download session: iccid, EID_A (for the kinds that read one), a 16-octet transactionId. */
static smdp_op *session_op(smdp_op_kind kind, const char *iccid, const uint8_t *tid, uint64_t now)
{
    smdp_op *op = op_new(kind, now);
    op->iccid = iccid;
    op->eid = EID_A;
    op->tid = tid;
    op->tid_len = 16;
    return op;
}

static rsp_status check_cc(const char *iccid, const uint8_t *tid, const uint8_t *hash_cc)
{
    smdp_op *op = session_op(SMDP_OP_CHECK_CC, iccid, tid, T0 + 5);
    op->hash_cc = hash_cc;
    return run(op, NULL);
}

static rsp_status delivered(const char *iccid, const uint8_t *tid, const uint8_t *otpk, const char *bpp,
                            smdp_order *after)
{
    static const uint8_t blob[40] = {1, 2, 3};
    smdp_op *op = session_op(SMDP_OP_BPP_DELIVERED, iccid, tid, T0 + 6);
    op->euicc_otpk = otpk;
    op->otsk_blob = blob;
    op->otsk_blob_len = sizeof(blob);
    op->bpp = (const uint8_t *)bpp;
    op->bpp_len = strlen(bpp);
    return run(op, after);
}

static rsp_status cancel_session(const char *iccid, const uint8_t *tid, bool final, bool keep_binding,
                                 smdp_order *after)
{
    smdp_op *op = session_op(SMDP_OP_CANCEL_SESSION, iccid, tid, T0 + 7);
    op->final = final;
    op->keep_binding = keep_binding;
    return run(op, after);
}

static rsp_status install(const char *iccid, const uint8_t *tid, bool ok, smdp_order *after)
{
    smdp_op *op = session_op(SMDP_OP_INSTALL_RESULT, iccid, tid, T0 + 7);
    op->ok = ok;
    return run(op, after);
}

static void hash_cc(const char *cc, const uint8_t tid[16], uint8_t out[32])
{
    uint8_t h[32];
    EVP_Digest(cc, strlen(cc), h, NULL, EVP_sha256(), NULL);
    uint8_t buf[48];
    memcpy(buf, h, 32);
    memcpy(buf + 32, tid, 16);
    EVP_Digest(buf, sizeof(buf), out, NULL, EVP_sha256(), NULL);
}

static smdp_state state_of(const char *iccid)
{
    smdp_order o;
    return smdp_orders_get(g_o, iccid, &o) == RSP_OK ? o.state : (smdp_state)0;
}

static uint64_t version_of(const char *iccid)
{
    smdp_order o;
    return smdp_orders_get(g_o, iccid, &o) == RSP_OK ? o.version : 0;
}

/* ---- tests ---- */

static void test_import(void)
{
    setup();
    smdp_order o;
    UT_EQ(smdp_orders_get(g_o, "8900000000000000003", &o), RSP_OK);
    UT_EQ(o.state, SMDP_STATE_AVAILABLE);
    UT_CHECK(!strcmp(o.profile_type, "T1") && !strcmp(o.owner, "op1"));
    UT_CHECK(!strcmp(o.service_provider_name, "Operator") && !strcmp(o.profile_name, "T1"));
    UT_EQ(o.profile_class, SMDP_CLASS_ABSENT);
    UT_EQ(o.created_at, T0);
    UT_EQ(o.version, 1);
    UT_CHECK(o.ppp_segments >= 2);
    uint8_t *ppp;
    size_t len;
    UT_EQ(smdp_orders_get_ppp(g_o, o.iccid, &ppp, &len), RSP_OK);
    UT_EQ(len, o.ppp_len);
    UT_CHECK(ppp[0] == 0x86);
    free(ppp);
    UT_EQ(smdp_orders_get_bpp(g_o, o.iccid, &ppp, &len), RSP_ST_ICCID_UNKNOWN);
    /* the sealed PPKs open with the master key for this ICCID only */
    uint8_t keys[48];
    size_t n;
    UT_EQ(smdp_unseal(&g_mk, "ppk", o.iccid, o.ppk_blob, sizeof(o.ppk_blob), keys, sizeof(keys), &n), 0);
    UT_EQ(smdp_unseal(&g_mk, "ppk", "8900000000000000004", o.ppk_blob, sizeof(o.ppk_blob), keys, sizeof(keys),
                      &n),
          SMDP_BPP_ESEAL);
    /* metadata of the stored record */
    der_writer w;
    der_w_init(&w);
    UT_EQ(smdp_order_metadata(&o, NULL, &w), 0);
    UT_CHECK(w.len > 12 && w.buf[0] == 0xBF && w.buf[1] == 0x25);
    der_w_free(&w);

    UT_EQ(import("8900000000000000003", "T1", "op1"), RSP_ST_ICCID_IN_USE);
    UT_EQ(import("8900000000000000003", "T1", "op2"), RSP_ST_ICCID_IN_USE);
    int detail;
    static const uint8_t junk[] = {0xA0, 0x03, 0x80, 0x01};
    UT_EQ(smdp_orders_import_upp(g_o, &g_mk, junk, sizeof(junk), "T1", "op1", NULL, T0, NULL, &detail),
          RSP_ST_INVALID_FIELD);
    UT_EQ(detail, SMDP_PROFILE_EDER);
    size_t ul;
    uint8_t *upp = synthetic_upp("8900000000000000099", &ul);
    smdp_metadata md = {.service_provider_name = "012345678901234567890123456789012"};
    UT_EQ(smdp_orders_import_upp(g_o, &g_mk, upp, ul, "T1", "op1", &md, T0, NULL, &detail),
          RSP_ST_INVALID_FIELD);
    UT_EQ(detail, 0);
    UT_EQ(smdp_orders_import_upp(g_o, &g_mk, upp, ul, "", "op1", NULL, T0, NULL, &detail),
          RSP_ST_INVALID_FIELD);
    UT_EQ(smdp_orders_import_upp(g_o, &g_mk, upp, ul, "T1", NULL, NULL, T0, NULL, &detail),
          RSP_ST_INVALID_FIELD);
    UT_EQ(smdp_orders_get(g_o, "8900000000000000099", &o), RSP_ST_ICCID_UNKNOWN);
    free(upp);
    UT_EQ(smdp_orders_get(g_o, "not-an-iccid", &o), RSP_ST_ICCID_UNKNOWN);
    teardown();
}

static void test_download_order(void)
{
    setup();
    char iccid[21];
    UT_EQ(download_order("op1", NULL, NULL, "T1", iccid), RSP_OK);
    UT_CHECK(!strcmp(iccid, "8900000000000000000"));
    smdp_order o;
    UT_EQ(smdp_orders_get(g_o, iccid, &o), RSP_OK);
    UT_EQ(o.state, SMDP_STATE_ALLOCATED);
    UT_EQ(o.expires_at, T0 + TTL);
    UT_EQ(download_order("op1", EID_A, NULL, "T1", iccid), RSP_OK);
    UT_CHECK(!strcmp(iccid, "8900000000000000001"));
    UT_EQ(smdp_orders_get(g_o, iccid, &o), RSP_OK);
    UT_EQ(o.state, SMDP_STATE_LINKED);
    UT_CHECK(!strcmp(o.eid, EID_A));
    /* by ICCID */
    UT_EQ(download_order("op1", EID_B, "8900000000000000005", NULL, iccid), RSP_OK);
    UT_EQ(state_of("8900000000000000005"), SMDP_STATE_LINKED);
    uint64_t v = version_of("8900000000000000005");
    UT_EQ(download_order("op1", NULL, "8900000000000000005", NULL, NULL), RSP_ST_ICCID_IN_USE);
    UT_EQ(version_of("8900000000000000005"), v);
    UT_EQ(download_order("op1", NULL, "8900000000000000077", NULL, NULL), RSP_ST_ICCID_UNKNOWN);
    UT_EQ(download_order("op1", NULL, "bogus", NULL, NULL), RSP_ST_ICCID_UNKNOWN);
    UT_EQ(download_order("op2", NULL, "8900000000000000006", NULL, NULL), RSP_ST_ICCID_NOT_ALLOWED);
    UT_EQ(state_of("8900000000000000006"), SMDP_STATE_AVAILABLE);
    UT_EQ(download_order("op1", NULL, "8900000000000000006", "T2", NULL), RSP_ST_PROFILE_TYPE_UNKNOWN);
    UT_EQ(download_order("op1", NULL, NULL, NULL, NULL), RSP_ST_MANDATORY_MISSING);
    UT_EQ(download_order("op1", "1234", NULL, "T1", NULL), RSP_ST_EID_INVALID);
    UT_EQ(download_order("op1", NULL, NULL, "T9", NULL), RSP_ST_PROFILE_TYPE_UNKNOWN);
    UT_EQ(download_order("op2", NULL, NULL, "T2", NULL), RSP_ST_PROFILE_TYPE_UNKNOWN);
    UT_EQ(download_order(NULL, NULL, NULL, "T2", NULL), RSP_ST_ICCID_NOT_ALLOWED);
    /* the T2 pool of op1 has two */
    UT_EQ(download_order("op1", NULL, NULL, "T2", iccid), RSP_OK);
    UT_EQ(download_order("op1", NULL, NULL, "T2", iccid), RSP_OK);
    UT_EQ(download_order("op1", NULL, NULL, "T2", NULL), RSP_ST_PROFILE_TYPE_EXHAUSTED);
    /* op2 still has its own T1 */
    UT_EQ(download_order("op2", NULL, NULL, "T1", iccid), RSP_OK);
    UT_CHECK(!strcmp(iccid, "8900000000000000010"));
    teardown();
}

static void test_confirm_release(void)
{
    setup();
    const char *i0 = "8900000000000000000", *i1 = "8900000000000000001", *i2 = "8900000000000000002";
    smdp_order a, b;
    UT_EQ(download_order("op1", NULL, i0, NULL, NULL), RSP_OK);
    UT_EQ(download_order("op1", EID_A, i1, NULL, NULL), RSP_OK);
    UT_EQ(download_order("op1", NULL, i2, NULL, NULL), RSP_OK);
    /* refusals first; none changes the record */
    uint64_t v0 = version_of(i0);
    UT_EQ(confirm("op1", "8900000000000000003", false, NULL, NULL, NULL, NULL, NULL),
          RSP_ST_STATE_TRANSITION);
    UT_EQ(confirm("op1", "8900000000000000077", false, NULL, NULL, NULL, NULL, NULL), RSP_ST_ICCID_UNKNOWN);
    UT_EQ(confirm("op2", i0, false, NULL, NULL, NULL, NULL, NULL), RSP_ST_ICCID_NOT_ALLOWED);
    UT_EQ(confirm("op1", i0, true, NULL, NULL, NULL, "smds.example", NULL), RSP_ST_EID_REQUIRED);
    UT_EQ(confirm("op1", i0, true, NULL, "", NULL, NULL, NULL), RSP_ST_EID_REQUIRED);
    UT_EQ(confirm("op1", i0, true, "12", NULL, NULL, NULL, NULL), RSP_ST_EID_INVALID);
    UT_EQ(confirm("op1", i0, true, NULL, "bad$id", NULL, NULL, NULL), RSP_ST_INVALID_FIELD);
    UT_EQ(confirm("op1", i1, true, EID_B, NULL, NULL, NULL, NULL), RSP_ST_EID_OTHER_ASSOCIATED);
    UT_EQ(version_of(i0), v0);

    /* no matchingId: one is generated, random and unguessable */
    UT_EQ(confirm("op1", i0, false, NULL, NULL, NULL, NULL, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_CONFIRMED);
    UT_EQ(strlen(a.matching_id), 23);
    UT_CHECK(a.matching_id[5] == '-' && a.matching_id[11] == '-' && a.matching_id[17] == '-');
    UT_EQ(confirm("op1", i0, false, NULL, NULL, NULL, NULL, NULL), RSP_ST_STATE_TRANSITION);
    /* a matchingId in use elsewhere */
    UT_EQ(confirm("op1", i1, true, NULL, a.matching_id, NULL, NULL, NULL), RSP_ST_MATCHING_ID_IN_USE);
    /* Linked, released with its EID, an SM-DS and a confirmation code */
    UT_EQ(confirm("op1", i1, true, NULL, "MID-1", "1234", "smds.example", &b), RSP_OK);
    UT_EQ(b.state, SMDP_STATE_RELEASED);
    UT_CHECK(!strcmp(b.matching_id, "MID-1") && !strcmp(b.eid, EID_A) && b.has_cc &&
             !strcmp(b.smds_address, "smds.example"));
    UT_CHECK(b.release_seq > 0);
    /* confirming with the same EID as linked is fine; with an explicit empty matchingId */
    UT_EQ(confirm("op1", i2, false, EID_B, "", NULL, NULL, &a), RSP_OK);
    UT_CHECK(a.matching_id[0] == '\0' && !strcmp(a.eid, EID_B));

    /* ReleaseProfile */
    smdp_op *op = op_new(SMDP_OP_RELEASE_PROFILE, T0 + 3);
    op->owner = "op2";
    op->iccid = i2;
    UT_EQ(run(op, NULL), RSP_ST_ICCID_NOT_ALLOWED);
    op = op_new(SMDP_OP_RELEASE_PROFILE, T0 + 3);
    op->owner = "op1";
    op->iccid = i2;
    UT_EQ(run(op, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_RELEASED);
    UT_CHECK(a.release_seq > b.release_seq);
    op = op_new(SMDP_OP_RELEASE_PROFILE, T0 + 3);
    op->owner = "op1";
    op->iccid = i2;
    UT_EQ(run(op, NULL), RSP_ST_STATE_TRANSITION);
    op = op_new(SMDP_OP_RELEASE_PROFILE, T0 + 3);
    op->owner = "op1";
    op->iccid = "8900000000000000077";
    UT_EQ(run(op, NULL), RSP_ST_ICCID_UNKNOWN);

    /* lookups */
    smdp_order f;
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &f), RSP_OK);
    UT_CHECK(!strcmp(f.iccid, i1));
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_B, &f), RSP_OK);
    UT_CHECK(!strcmp(f.iccid, i2));
    UT_EQ(smdp_orders_find_by_eid(g_o, "89049032123451234512345678900000", &f), RSP_ST_EID_MISMATCH);
    UT_EQ(smdp_orders_find_by_eid(g_o, "x", &f), RSP_ST_EID_MISMATCH);
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "MID-1", EID_A, &f), RSP_OK);
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "MID-1", NULL, &f), RSP_OK);
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "MID-1", EID_B, &f), RSP_ST_EID_MISMATCH);
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "MID-2", EID_A, &f), RSP_ST_MATCHING_ID_REFUSED);
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "", EID_A, &f), RSP_ST_MATCHING_ID_REFUSED);

    /* the oldest released order of an EID comes first */
    UT_EQ(download_order("op1", EID_A, "8900000000000000004", NULL, NULL), RSP_OK);
    UT_EQ(confirm("op1", "8900000000000000004", true, NULL, NULL, NULL, NULL, NULL), RSP_OK);
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &f), RSP_OK);
    UT_CHECK(!strcmp(f.iccid, i1));
    UT_EQ(cancel("op1", i1, SMDP_STATE_AVAILABLE, NULL, NULL, NULL), RSP_OK);
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &f), RSP_OK);
    UT_CHECK(!strcmp(f.iccid, "8900000000000000004"));
    teardown();
}

/* Brings iccid to Released for EID_A with matchingId mid and optional cc. */
static void released(const char *iccid, const char *mid, const char *cc)
{
    UT_EQ(download_order("op1", EID_A, iccid, NULL, NULL), RSP_OK);
    UT_EQ(confirm("op1", iccid, true, NULL, mid, cc, "smds.example", NULL), RSP_OK);
}

static void test_es9_download(void)
{
    setup();
    const char *ic = "8900000000000000000";
    released(ic, "EV-1", "CODE-42");
    uint8_t tid1[16], tid2[16], otpk[65], otpk2[65];
    RAND_bytes(tid1, 16);
    RAND_bytes(tid2, 16);
    RAND_bytes(otpk, 65);
    RAND_bytes(otpk2, 65);
    smdp_order a, f;

    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_B, tid1, T0 + 4, NULL), RSP_ST_EID_MISMATCH);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, "8900000000000000001", EID_A, tid1, T0 + 4, NULL),
          RSP_ST_PROFILE_NOT_RELEASED);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, "8900000000000000077", EID_A, tid1, T0 + 4, NULL),
          RSP_ST_PROFILE_NOT_RELEASED);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid1, T0 + 4, &a), RSP_OK);
    UT_EQ(a.download_attempts, 1);
    UT_EQ(smdp_orders_find_by_tid(g_o, tid1, 16, &f), RSP_OK);
    UT_CHECK(!strcmp(f.iccid, ic));
    UT_EQ(smdp_orders_find_by_tid(g_o, tid2, 16, &f), RSP_ST_TRANSACTION_UNKNOWN);

    /* confirmation code */
    uint8_t good[32], bad[32];
    hash_cc("CODE-42", tid1, good);
    hash_cc("CODE-43", tid1, bad);
    UT_EQ(check_cc(ic, tid2, good), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(check_cc(ic, tid1, NULL), RSP_ST_CC_MISSING);
    UT_EQ(check_cc(ic, tid1, bad), RSP_ST_CC_REFUSED);
    UT_EQ(check_cc(ic, tid1, good), RSP_OK);
    smdp_order o;
    smdp_orders_get(g_o, ic, &o);
    UT_EQ(o.cc_attempts, 1);

    /* BPP delivered: Downloaded, binding kept */
    UT_EQ(delivered(ic, tid2, otpk, "BPP-1", NULL), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(delivered(ic, tid1, otpk, "BPP-1", &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_DOWNLOADED);
    UT_CHECK(a.binding.present && !memcmp(a.binding.euicc_otpk, otpk, 65) &&
             !memcmp(a.binding.transaction_id, tid1, 16));
    uint8_t *bpp;
    size_t bl;
    UT_EQ(smdp_orders_get_bpp(g_o, ic, &bpp, &bl), RSP_OK);
    UT_CHECK(bl == 5 && !memcmp(bpp, "BPP-1", 5));
    free(bpp);

    /* a retry: new session, the binding is offered again */
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &f), RSP_OK);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid2, T0 + 5, &a), RSP_OK);
    UT_CHECK(a.binding.present && a.download_attempts == 2);
    UT_EQ(smdp_orders_find_by_tid(g_o, tid1, 16, &f), RSP_ST_TRANSACTION_UNKNOWN);
    /* another otPK.EUICC: a new binding replaces the old one, with its BPP */
    UT_EQ(delivered(ic, tid2, otpk2, "BPP-X", &a), RSP_OK);
    UT_CHECK(a.binding.present && !memcmp(a.binding.euicc_otpk, otpk2, 65) && a.download_attempts == 2);
    UT_EQ(smdp_orders_get_bpp(g_o, ic, &bpp, &bl), RSP_OK);
    UT_CHECK(bl == 5 && !memcmp(bpp, "BPP-X", 5));
    free(bpp);
    UT_EQ(delivered(ic, tid2, otpk, "BPP-2", &a), RSP_OK);
    UT_CHECK(!memcmp(a.binding.transaction_id, tid2, 16) && !memcmp(a.binding.euicc_otpk, otpk, 65));

    /* install result: must name the transaction of the delivered BPP */
    UT_EQ(install(ic, tid1, true, NULL), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(install(ic, tid2, true, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_INSTALLED);
    UT_CHECK(!a.binding.present && a.session_tid_len == 0);
    UT_EQ(smdp_orders_get_bpp(g_o, ic, &bpp, &bl), RSP_ST_ICCID_UNKNOWN);
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &f), RSP_ST_EID_MISMATCH);
    UT_EQ(smdp_orders_find_by_tid(g_o, tid2, 16, &f), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(install(ic, tid2, true, NULL), RSP_ST_STATE_TRANSITION);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid1, T0 + 9, NULL), RSP_ST_PROFILE_NOT_RELEASED);
    /* cancelling an installed profile's order is refused */
    UT_EQ(cancel("op1", ic, SMDP_STATE_AVAILABLE, NULL, NULL, NULL), RSP_ST_ICCID_IN_USE);

    /* a failed installation ends in Error; CancelOrder recovers the profile */
    const char *ic2 = "8900000000000000001";
    released(ic2, NULL, NULL);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic2, EID_A, tid1, T0 + 4, NULL), RSP_OK);
    UT_EQ(check_cc(ic2, tid1, NULL), RSP_OK); /* no code required */
    UT_EQ(delivered(ic2, tid1, otpk, "BPP", NULL), RSP_OK);
    UT_EQ(cancel("op1", ic2, SMDP_STATE_AVAILABLE, NULL, NULL, NULL), RSP_ST_ICCID_IN_USE);
    UT_EQ(install(ic2, tid1, false, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_ERROR);
    UT_EQ(cancel("op1", ic2, SMDP_STATE_AVAILABLE, NULL, NULL, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_AVAILABLE);
    teardown();
}

static rsp_status purge(const char *iccid, uint64_t cutoff)
{
    smdp_op *op = op_new(SMDP_OP_PURGE, cutoff);
    op->iccid = iccid;
    return run(op, NULL);
}

/* Purge deletes finished orders older than the cutoff with their indexes and blobs, and nothing else. */
static void test_purge(void)
{
    setup();
    const char *ic = "8900000000000000000", *ic2 = "8900000000000000001";
    released(ic, "EV-1", NULL);
    released(ic2, "EV-2", NULL);
    uint8_t tid[16], otpk[65];
    RAND_bytes(tid, 16);
    RAND_bytes(otpk, 65);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid, T0 + 4, NULL), RSP_OK);
    UT_EQ(check_cc(ic, tid, NULL), RSP_OK);
    UT_EQ(delivered(ic, tid, otpk, "BPP", NULL), RSP_OK);
    UT_EQ(purge(ic, T0 + 100), RSP_ST_STATE_TRANSITION); /* Downloaded: not finished */
    smdp_order o;
    UT_EQ(install(ic, tid, true, &o), RSP_OK);
    UT_CHECK(smdp_order_finished(&o));
    UT_EQ(purge(ic, T0 + 7), RSP_ST_STATE_TRANSITION);    /* changed at the cutoff, not before */
    UT_EQ(purge(ic2, T0 + 100), RSP_ST_STATE_TRANSITION); /* Released, with its event */
    UT_EQ(purge("8900000000000000077", T0 + 100), RSP_ST_ICCID_UNKNOWN);
    uint8_t *ppp;
    size_t n;
    UT_EQ(smdp_orders_get_ppp(g_o, ic, &ppp, &n), RSP_OK);
    free(ppp);

    UT_EQ(purge(ic, T0 + 100), RSP_OK);
    UT_EQ(smdp_orders_get(g_o, ic, &o), RSP_ST_ICCID_UNKNOWN);
    UT_EQ(smdp_orders_get_ppp(g_o, ic, &ppp, &n), RSP_ST_ICCID_UNKNOWN);
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "EV-1", NULL, &o), RSP_ST_MATCHING_ID_REFUSED);
    UT_EQ(purge(ic, T0 + 100), RSP_ST_ICCID_UNKNOWN);
    /* the other order is untouched, and the ICCID can be imported again */
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &o), RSP_OK);
    UT_CHECK(!strcmp(o.iccid, ic2));
    UT_EQ(import(ic, "T1", "op1"), RSP_OK);
    UT_EQ(state_of(ic), SMDP_STATE_AVAILABLE);

    /* an order that ended in Error leaves the index of ended orders with it */
    const char *ic3 = "8900000000000000002";
    released(ic3, NULL, "0000");
    uint8_t h[32];
    RAND_bytes(tid, 16);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic3, EID_A, tid, T0 + 4, NULL), RSP_OK);
    hash_cc("9999", tid, h);
    for (int i = 0; i < 2; i++)
        UT_EQ(check_cc(ic3, tid, h), RSP_ST_CC_REFUSED);
    UT_EQ(check_cc(ic3, tid, h), RSP_ST_CC_RETRIES);
    UT_EQ(smdp_orders_ended_status(g_o, EID_A), RSP_ST_CC_RETRIES);
    UT_EQ(purge(ic3, T0 + 100), RSP_OK);
    UT_EQ(smdp_orders_ended_status(g_o, EID_A), RSP_ST_EID_MISMATCH);
    teardown();
}

static void test_cancel_session(void)
{
    setup();
    const char *ic = "8900000000000000000";
    released(ic, NULL, NULL);
    uint8_t tid[16], other[16], otpk[65];
    RAND_bytes(tid, 16);
    RAND_bytes(other, 16);
    RAND_bytes(otpk, 65);
    smdp_order a, f;
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid, T0 + 4, NULL), RSP_OK);
    UT_EQ(delivered(ic, tid, otpk, "BPP", NULL), RSP_OK);
    UT_EQ(es9(SMDP_OP_CANCEL_SESSION, ic, NULL, other, T0 + 5, NULL), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(es9(SMDP_OP_CANCEL_SESSION, ic, NULL, tid, T0 + 5, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_RELEASED);
    UT_CHECK(!a.binding.present && a.session_tid_len == 0);
    uint8_t *bpp;
    size_t bl;
    UT_EQ(smdp_orders_get_bpp(g_o, ic, &bpp, &bl), RSP_ST_ICCID_UNKNOWN);
    UT_EQ(smdp_orders_find_by_tid(g_o, tid, 16, &f), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(es9(SMDP_OP_CANCEL_SESSION, ic, NULL, tid, T0 + 5, NULL), RSP_ST_TRANSACTION_UNKNOWN);
    /* still waiting for its device, same place in the queue */
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &f), RSP_OK);
    UT_CHECK(!strcmp(f.iccid, ic));
    /* a new binding may use another otPK once the old one is gone */
    RAND_bytes(tid, 16);
    RAND_bytes(otpk, 65);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid, T0 + 6, NULL), RSP_OK);
    UT_EQ(delivered(ic, tid, otpk, "BPP2", NULL), RSP_OK);
    /* keep_binding (postponed, timeout): the session goes, the binding and its BPP stay */
    UT_EQ(cancel_session(ic, tid, false, true, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_RELEASED);
    UT_CHECK(a.binding.present && !memcmp(a.binding.euicc_otpk, otpk, 65) && a.session_tid_len == 0);
    UT_EQ(smdp_orders_get_bpp(g_o, ic, &bpp, &bl), RSP_OK);
    UT_CHECK(bl == 4 && !memcmp(bpp, "BPP2", 4));
    free(bpp);
    UT_EQ(smdp_orders_find_by_tid(g_o, tid, 16, &f), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(cancel_session(ic, tid, false, true, NULL), RSP_ST_TRANSACTION_UNKNOWN);
    /* the next session finds it, and a final cancel ends it however it was asked */
    RAND_bytes(tid, 16);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid, T0 + 7, &a), RSP_OK);
    UT_CHECK(a.binding.present);
    UT_EQ(cancel_session(ic, tid, true, true, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_ERROR);
    UT_CHECK(!a.binding.present);
    UT_EQ(smdp_orders_get_bpp(g_o, ic, &bpp, &bl), RSP_ST_ICCID_UNKNOWN);
    teardown();
}

static void test_limits_and_expiry(void)
{
    setup();
    const char *ic = "8900000000000000000";
    released(ic, NULL, "0000");
    uint8_t tid[16], h[32];
    RAND_bytes(tid, 16);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid, T0 + 4, NULL), RSP_OK);
    hash_cc("9999", tid, h);
    for (int i = 0; i < 2; i++)
        UT_EQ(check_cc(ic, tid, h), RSP_ST_CC_REFUSED);
    /* the third wrong code ends the order: no code works after it */
    UT_EQ(check_cc(ic, tid, h), RSP_ST_CC_RETRIES);
    UT_EQ(state_of(ic), SMDP_STATE_ERROR);
    hash_cc("0000", tid, h);
    UT_CHECK(check_cc(ic, tid, h) != RSP_OK);
    RAND_bytes(tid, 16);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid, T0 + 5, NULL), RSP_ST_PROFILE_NOT_RELEASED);
    /* the device is told which limit ended its order, also when it asks by EID alone */
    smdp_order e;
    UT_EQ(smdp_orders_get(g_o, ic, &e), RSP_OK);
    UT_EQ(smdp_orders_end_status(g_o, &e), RSP_ST_CC_RETRIES);
    UT_EQ(smdp_orders_ended_status(g_o, EID_A), RSP_ST_CC_RETRIES);
    UT_EQ(smdp_orders_ended_status(g_o, EID_B), RSP_ST_EID_MISMATCH);
    UT_EQ(smdp_orders_ended_status(g_o, "123"), RSP_ST_EID_MISMATCH);

    const char *ic2 = "8900000000000000001";
    released(ic2, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        RAND_bytes(tid, 16);
        UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic2, EID_A, tid, T0 + 4, NULL), RSP_OK);
    }
    RAND_bytes(tid, 16);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic2, EID_A, tid, T0 + 4, NULL), RSP_ST_DOWNLOAD_RETRIES);
    UT_EQ(state_of(ic2), SMDP_STATE_ERROR);
    UT_EQ(smdp_orders_get(g_o, ic2, &e), RSP_OK);
    UT_EQ(smdp_orders_end_status(g_o, &e), RSP_ST_DOWNLOAD_RETRIES);
    /* CancelOrder takes an ended order out of the index */
    smdp_op *op = op_new(SMDP_OP_CANCEL_ORDER, T0 + 6);
    op->owner = "op1";
    op->iccid = ic;
    op->final_state = SMDP_STATE_AVAILABLE;
    UT_EQ(run(op, NULL), RSP_OK);
    op = op_new(SMDP_OP_CANCEL_ORDER, T0 + 6);
    op->owner = "op1";
    op->iccid = ic2;
    op->final_state = SMDP_STATE_AVAILABLE;
    UT_EQ(run(op, NULL), RSP_OK);
    UT_EQ(smdp_orders_ended_status(g_o, EID_A), RSP_ST_EID_MISMATCH);

    const char *ic3 = "8900000000000000002";
    released(ic3, NULL, NULL);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic3, EID_A, tid, T0 + TTL, NULL), RSP_ST_ORDER_EXPIRED);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic3, EID_A, tid, T0 + TTL - 1, NULL), RSP_OK);
    teardown();
}

static void test_activation_code_flow(void)
{
    setup();
    const char *ic = "8900000000000000000";
    UT_EQ(download_order("op1", NULL, ic, NULL, NULL), RSP_OK);
    smdp_order a, f;
    UT_EQ(confirm("op1", ic, true, NULL, "AC-TOKEN", NULL, NULL, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_RELEASED);
    UT_CHECK(a.eid[0] == '\0');
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_B, &f), RSP_ST_EID_MISMATCH);
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "AC-TOKEN", EID_B, &f), RSP_OK);
    uint8_t tid[16];
    RAND_bytes(tid, 16);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_B, tid, T0 + 4, &a), RSP_OK);
    UT_CHECK(!strcmp(a.eid, EID_B));
    /* now bound to the first device */
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "AC-TOKEN", EID_A, &f), RSP_ST_EID_MISMATCH);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid, T0 + 4, NULL), RSP_ST_EID_MISMATCH);
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_B, &f), RSP_OK);
    teardown();
}

static void test_cancel_order(void)
{
    setup();
    const char *ic = "8900000000000000000";
    released(ic, "MID-C", "1111");
    smdp_op *op = op_new(SMDP_OP_SET_EVENT, T0 + 2);
    op->iccid = ic;
    op->ok = true;
    smdp_order a, f;
    UT_EQ(run(op, &a), RSP_OK);
    UT_CHECK(a.event_registered);
    UT_EQ(cancel("op2", ic, SMDP_STATE_AVAILABLE, NULL, NULL, NULL), RSP_ST_ICCID_NOT_ALLOWED);
    UT_EQ(cancel("op1", ic, SMDP_STATE_CONFIRMED, NULL, NULL, NULL), RSP_ST_INVALID_FIELD);
    UT_EQ(cancel("op1", ic, SMDP_STATE_AVAILABLE, EID_B, NULL, NULL), RSP_ST_EID_MISMATCH);
    UT_EQ(cancel("op1", ic, SMDP_STATE_AVAILABLE, NULL, "MID-D", NULL), RSP_ST_MATCHING_ID_OTHER);
    UT_EQ(cancel("op1", "8900000000000000077", SMDP_STATE_AVAILABLE, NULL, NULL, NULL), RSP_ST_ICCID_UNKNOWN);
    UT_EQ(cancel("op1", "8900000000000000001", SMDP_STATE_AVAILABLE, NULL, NULL, NULL),
          RSP_ST_STATE_TRANSITION);
    UT_EQ(state_of(ic), SMDP_STATE_RELEASED);

    op = op_new(SMDP_OP_CANCEL_ORDER, T0 + 3);
    op->owner = "op1";
    op->iccid = ic;
    op->final_state = SMDP_STATE_AVAILABLE;
    op->eid = EID_A;
    op->matching_id = "MID-C";
    UT_EQ(smdp_orders_run(g_o, op), RSP_OK);
    /* before tells the caller which SM-DS event to delete */
    UT_CHECK(op->found && op->before.event_registered && !strcmp(op->before.smds_address, "smds.example") &&
             !strcmp(op->before.matching_id, "MID-C"));
    a = op->after;
    free(op);
    UT_EQ(a.state, SMDP_STATE_AVAILABLE);
    UT_CHECK(!a.eid[0] && !a.matching_id[0] && !a.has_cc && !a.smds_address[0] && !a.event_registered);
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "MID-C", NULL, &f), RSP_ST_MATCHING_ID_REFUSED);
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &f), RSP_ST_EID_MISMATCH);
    /* back in the pool; the matchingId is free again */
    char got[21];
    UT_EQ(download_order("op1", NULL, NULL, "T1", got), RSP_OK);
    UT_CHECK(!strcmp(got, ic));
    UT_EQ(confirm("op1", ic, false, NULL, "MID-C", NULL, NULL, NULL), RSP_OK);
    /* Unavailable is final */
    UT_EQ(cancel("op1", ic, SMDP_STATE_UNAVAILABLE, NULL, NULL, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_UNAVAILABLE);
    UT_EQ(cancel("op1", ic, SMDP_STATE_AVAILABLE, NULL, NULL, NULL), RSP_ST_STATE_TRANSITION);
    UT_EQ(download_order("op1", NULL, ic, NULL, NULL), RSP_ST_ICCID_IN_USE);
    teardown();
}

static int count_cb(void *arg, const smdp_order *o)
{
    int *n = arg;
    (*n) += o->state == SMDP_STATE_AVAILABLE ? 1 : 100;
    return 0;
}

static void test_restart(void)
{
    setup();
    released("8900000000000000000", "MID-R", "77");
    UT_EQ(download_order("op1", NULL, "8900000000000000001", NULL, NULL), RSP_OK);
    uint8_t tid[16];
    RAND_bytes(tid, 16);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, "8900000000000000000", EID_A, tid, T0 + 4, NULL), RSP_OK);
    smdp_order before[12];
    for (int i = 0; i < 12; i++) {
        char ic[20];
        iccid_of(i, ic);
        UT_EQ(smdp_orders_get(g_o, ic, &before[i]), RSP_OK);
    }
    smdp_orders_close(g_o);
    open_store();
    for (int i = 0; i < 12; i++) {
        char ic[20];
        iccid_of(i, ic);
        smdp_order now;
        UT_EQ(smdp_orders_get(g_o, ic, &now), RSP_OK);
        UT_CHECK(memcmp(&now, &before[i], sizeof(now)) == 0);
    }
    smdp_order f;
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &f), RSP_OK);
    UT_EQ(smdp_orders_find_by_matching_id(g_o, "MID-R", EID_A, &f), RSP_OK);
    UT_EQ(smdp_orders_find_by_tid(g_o, tid, 16, &f), RSP_OK);
    int n = 0;
    UT_EQ(smdp_orders_list(g_o, count_cb, &n), 0);
    UT_EQ(n, 10 + 200);
    /* the pool index survived too */
    char got[21];
    UT_EQ(download_order("op1", NULL, NULL, "T1", got), RSP_OK);
    UT_CHECK(!strcmp(got, "8900000000000000002"));
    teardown();
}

/* ---- PK.EUICC of the session ---- */

static rsp_status start_with_key(const char *iccid, const uint8_t *tid, const uint8_t *pt, size_t n,
                                 const char *curve, smdp_order *after)
{
    smdp_op *op = op_new(SMDP_OP_DOWNLOAD_START, T0 + 4);
    op->iccid = iccid;
    op->eid = EID_A;
    op->tid = tid;
    op->tid_len = 16;
    op->euicc_point = pt;
    op->euicc_point_len = n;
    op->euicc_curve = curve;
    return run(op, after);
}

typedef struct rewrite {
    const char *iccid;
    const uint8_t *spki;
    size_t spki_len;
    MDB_dbi dbi;
} rewrite;

static int to_legacy(rsp_db_wtxn *t, void *arg);

/* Legacy records exist only in LMDB stores: rewrites one with the store closed, then reopens it. */
static int to_legacy_now(rewrite *rw)
{
    smdp_orders_close(g_o);
    static const rsp_db_spec spec = {"profile", 0};
    rsp_db_config dc = {.env_flags = MDB_NOSYNC};
    rsp_db_env *env;
    int rc = rsp_db_open(&env, g_dir, &spec, 1, &dc);
    if (rc == 0) {
        rw->dbi = rsp_db_dbi(env, 0);
        rc = rsp_db_write_sync(env, to_legacy, rw);
        rsp_db_close(env);
    }
    open_store();
    return rc;
}

/* Turns a stored record into one written before euicc_point existed: PK.EUICC as SPKI DER in field 24.
 * Runs in an environment of the "profile" database alone (to_legacy_now). */
static int to_legacy(rsp_db_wtxn *t, void *arg)
{
    const rewrite *rw = arg;
    MDB_dbi dbi = rw->dbi;
    rsp_key k;
    rsp_key_init(&k);
    rsp_key_str(&k, rw->iccid);
    MDB_val v;
    int rc = rsp_db_get(rsp_db_wtxn_txn(t), dbi, &k, &v);
    if (rc)
        return rc;
    Smdp__Profile *p = smdp__profile__unpack(NULL, v.mv_size, v.mv_data);
    if (!p)
        return MDB_CORRUPTED;
    char *curve = p->euicc_curve;
    uint8_t *pub = p->euicc_pub.data;
    p->euicc_point.len = 0;
    p->euicc_curve = "";
    p->euicc_pub.data = (uint8_t *)rw->spki;
    p->euicc_pub.len = rw->spki_len;
    size_t n = smdp__profile__get_packed_size(p);
    uint8_t *dst = rsp_db_reserve(t, dbi, &k, n, 0);
    if (dst)
        smdp__profile__pack(p, dst);
    /* free_unpacked frees what unpack allocated: put those pointers back */
    p->euicc_pub.data = pub;
    p->euicc_curve = curve;
    smdp__profile__free_unpacked(p, NULL);
    return dst ? 0 : rsp_db_wtxn_err(t);
}

static void test_session_key(void)
{
    setup();
    const char *ic = "8900000000000000000";
    released(ic, NULL, NULL);
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "brainpoolP256r1");
    uint8_t pt[SMDP_EC_POINT_MAX], tid[16];
    size_t n;
    char curve[SMDP_EC_CURVE_MAX + 1];
    UT_EQ(smdp_eckey_export_pub(key, pt, sizeof(pt), &n, curve, sizeof(curve)), 0);
    RAND_bytes(tid, sizeof(tid));

    /* a point needs its curve */
    UT_EQ(start_with_key(ic, tid, pt, n, NULL, NULL), RSP_ST_INVALID_FIELD);
    UT_EQ(start_with_key(ic, tid, pt, n, "", NULL), RSP_ST_INVALID_FIELD);
    UT_EQ(start_with_key(ic, tid, pt, SMDP_EC_POINT_MAX + 1, curve, NULL), RSP_ST_INVALID_FIELD);
    smdp_order a, got;
    UT_EQ(start_with_key(ic, tid, pt, n, curve, &a), RSP_OK);
    UT_CHECK(a.euicc_point_len == n && !memcmp(a.euicc_point, pt, n) && !strcmp(a.euicc_curve, curve));
    UT_EQ(smdp_orders_find_by_tid(g_o, tid, 16, &got), RSP_OK);
    UT_CHECK(got.euicc_point_len == n && !memcmp(got.euicc_point, pt, n));
    UT_CHECK(!strcmp(got.euicc_curve, "brainpoolP256r1"));

    if (tu_orders_pg()) {
        /* records of earlier versions exist only in LMDB stores */
        EVP_PKEY_free(key);
        teardown();
        return;
    }
    /* a record of an earlier version reads the same */
    uint8_t *spki = NULL;
    int sl = i2d_PUBKEY(key, &spki);
    rewrite rw = {ic, spki, (size_t)sl, 0};
    UT_EQ(to_legacy_now(&rw), 0);
    memset(&got, 0, sizeof(got));
    UT_EQ(smdp_orders_find_by_tid(g_o, tid, 16, &got), RSP_OK);
    UT_CHECK(got.euicc_point_len == n && !memcmp(got.euicc_point, pt, n));
    UT_CHECK(!strcmp(got.euicc_curve, "brainpoolP256r1"));
    /* and is written in the new form at its next change */
    uint8_t otpk[65];
    RAND_bytes(otpk, sizeof(otpk));
    UT_EQ(delivered(ic, tid, otpk, "BPP", &a), RSP_OK);
    UT_CHECK(a.euicc_point_len == n && !memcmp(a.euicc_point, pt, n) && !strcmp(a.euicc_curve, curve));
    UT_EQ(smdp_orders_get(g_o, ic, &got), RSP_OK);
    UT_CHECK(got.euicc_point_len == n && !memcmp(got.euicc_point, pt, n));
    /* a legacy key that does not decode is a corrupt record */
    spki[sl - 1] ^= 0xFF;
    spki[sl - 2] ^= 0xFF;
    UT_EQ(to_legacy_now(&rw), 0);
    UT_EQ(smdp_orders_get(g_o, ic, &got), RSP_ST_INTERNAL);
    rw.spki_len = 3;
    UT_EQ(to_legacy_now(&rw), 0);
    UT_EQ(smdp_orders_get(g_o, ic, &got), RSP_ST_INTERNAL);
    OPENSSL_free(spki);
    EVP_PKEY_free(key);
    teardown();
}

/* ---- concurrency ---- */

#define THREADS 16

typedef struct race {
    pthread_barrier_t *bar;
    int idx;
    rsp_status st;
    char iccid[21];
} race;

static void *confirm_thread(void *arg)
{
    race *r = arg;
    char mid[32];
    snprintf(mid, sizeof(mid), "RACE-%d", r->idx);
    pthread_barrier_wait(r->bar);
    r->st = confirm("op1", "8900000000000000000", true, EID_A, mid, NULL, NULL, NULL);
    return NULL;
}

static void *order_thread(void *arg)
{
    race *r = arg;
    pthread_barrier_wait(r->bar);
    r->st = download_order("op1", NULL, NULL, "T1", r->iccid);
    return NULL;
}

static void test_concurrent(void)
{
    setup();
    UT_EQ(download_order("op1", NULL, "8900000000000000000", NULL, NULL), RSP_OK);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, THREADS);
    pthread_t th[THREADS];
    race r[THREADS];
    for (int i = 0; i < THREADS; i++) {
        r[i] = (race){.bar = &bar, .idx = i};
        pthread_create(&th[i], NULL, confirm_thread, &r[i]);
    }
    int wins = 0, lost = 0, winner = -1;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (r[i].st == RSP_OK) {
            wins++;
            winner = i;
        } else if (r[i].st == RSP_ST_STATE_TRANSITION) {
            lost++;
        }
    }
    UT_EQ(wins, 1);
    UT_EQ(lost, THREADS - 1);
    smdp_order o;
    UT_EQ(smdp_orders_get(g_o, "8900000000000000000", &o), RSP_OK);
    char mid[32];
    snprintf(mid, sizeof(mid), "RACE-%d", winner);
    UT_CHECK(!strcmp(o.matching_id, mid));
    UT_EQ(o.version, 3);

    /* 16 threads draw from a pool of 7 remaining T1 profiles of op1 */
    for (int i = 0; i < THREADS; i++) {
        r[i] = (race){.bar = &bar, .idx = i};
        pthread_create(&th[i], NULL, order_thread, &r[i]);
    }
    int got = 0, exhausted = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (r[i].st == RSP_OK) {
            for (int j = 0; j < i; j++)
                UT_CHECK(r[j].st != RSP_OK || strcmp(r[j].iccid, r[i].iccid));
            got++;
        } else if (r[i].st == RSP_ST_PROFILE_TYPE_EXHAUSTED) {
            exhausted++;
        }
    }
    UT_EQ(got, 7);
    UT_EQ(exhausted, THREADS - 7);
    pthread_barrier_destroy(&bar);
    teardown();
}

/* ---- event flag, hooks, session certificate, expiry ---- */

/* Queues an outbox item per change recording (before, after) event_registered, with the ICCID as its
 * stream: what a hook writes lands in the change's transaction. */
static int hook_record(smdp_op *op)
{
    smdp_ob_item it;
    memset(&it, 0, sizeof(it));
    it.kind = SMDP_OB_PROGRESS;
    snprintf(it.stream, sizeof(it.stream), "%s", op->after.iccid);
    it.np_id = (uint32_t)(op->before.event_registered * 2 + op->after.event_registered);
    it.created_at = op->now;
    return smdp_op_queue(op, &it);
}

static int hook_fail(smdp_op *op)
{
    hook_record(op);
    return EIO;
}

typedef struct hook_find {
    const char *iccid;
    int value;
} hook_find;

static int hook_one(void *arg, const smdp_ob_item *it)
{
    hook_find *f = arg;
    if (!strcmp(it->stream, f->iccid))
        f->value = (int)it->np_id; /* sequence order: the last one wins */
    return 0;
}

/* The hook's last record for iccid: before * 2 + after, or -1 when absent. */
static int hook_value(const char *iccid)
{
    hook_find f = {iccid, -1};
    return smdp_orders_ob_list(g_o, hook_one, &f) == 0 ? f.value : -2;
}

static void test_events_and_hooks(void)
{
    setup();
    const char *ic = "8900000000000000000", *ic2 = "8900000000000000001", *ic3 = "8900000000000000002";
    smdp_order a;
    /* a failing hook rolls the whole change back */
    UT_EQ(download_order("op1", EID_A, ic, NULL, NULL), RSP_OK);
    smdp_op *op = op_new(SMDP_OP_CONFIRM_ORDER, T0 + 1);
    op->owner = "op1";
    op->iccid = ic;
    op->release = true;
    op->smds_address = "smds.example";
    op->also = hook_fail;
    UT_EQ(smdp_orders_run(g_o, op), RSP_ST_INTERNAL);
    UT_EQ(op->db_err, EIO);
    free(op);
    UT_EQ(state_of(ic), SMDP_STATE_LINKED);
    UT_EQ(hook_value(ic), -1);
    /* released with an smdsAddress: the event flag is set in the same transaction as the hook's write */
    op = op_new(SMDP_OP_CONFIRM_ORDER, T0 + 1);
    op->owner = "op1";
    op->iccid = ic;
    op->release = true;
    op->smds_address = "smds.example";
    op->also = hook_record;
    UT_EQ(run(op, &a), RSP_OK);
    UT_CHECK(a.event_registered);
    UT_EQ(hook_value(ic), 1);
    /* a refused change does not run the hook */
    op = op_new(SMDP_OP_RELEASE_PROFILE, T0 + 2);
    op->owner = "op1";
    op->iccid = ic;
    op->also = hook_fail;
    UT_EQ(run(op, NULL), RSP_ST_STATE_TRANSITION);
    UT_EQ(hook_value(ic), 1);
    /* without an smdsAddress there is no event; ReleaseProfile sets it when one was given */
    UT_EQ(download_order("op1", EID_A, ic2, NULL, NULL), RSP_OK);
    UT_EQ(confirm("op1", ic2, true, NULL, NULL, NULL, NULL, &a), RSP_OK);
    UT_CHECK(!a.event_registered);
    UT_EQ(download_order("op1", EID_A, ic3, NULL, NULL), RSP_OK);
    UT_EQ(confirm("op1", ic3, false, NULL, NULL, NULL, "smds.example", &a), RSP_OK);
    UT_CHECK(!a.event_registered);
    op = op_new(SMDP_OP_RELEASE_PROFILE, T0 + 2);
    op->owner = "op1";
    op->iccid = ic3;
    UT_EQ(run(op, &a), RSP_OK);
    UT_CHECK(a.event_registered);

    /* the session keeps its own data until it ends; a non-final cancel keeps the event */
    uint8_t tid[16], big[SMDP_SESSION_DATA_MAX + 1];
    RAND_bytes(tid, sizeof(tid));
    memset(big, 0x30, sizeof(big));
    op = session_op(SMDP_OP_DOWNLOAD_START, ic, tid, T0 + 3);
    op->session_data = (const uint8_t *)"state";
    op->session_data_len = 5;
    UT_EQ(run(op, &a), RSP_OK);
    smdp_order f;
    UT_EQ(smdp_orders_find_by_tid(g_o, tid, 16, &f), RSP_OK);
    UT_CHECK(f.session_data_len == 5 && memcmp(f.session_data, "state", 5) == 0);
    op = session_op(SMDP_OP_DOWNLOAD_START, ic, tid, T0 + 3);
    op->session_data = big;
    op->session_data_len = sizeof(big);
    UT_EQ(run(op, NULL), RSP_ST_INVALID_FIELD);
    op = session_op(SMDP_OP_CANCEL_SESSION, ic, tid, T0 + 4);
    UT_EQ(run(op, &a), RSP_OK);
    UT_CHECK(a.event_registered && a.session_data_len == 0 && a.state == SMDP_STATE_RELEASED);
    /* a kept order whose event went gets it again: order and event agree */
    op = op_new(SMDP_OP_SET_EVENT, T0 + 4);
    op->iccid = ic;
    op->ok = false;
    UT_EQ(run(op, &a), RSP_OK);
    UT_CHECK(!a.event_registered);
    op = session_op(SMDP_OP_DOWNLOAD_START, ic, tid, T0 + 4);
    UT_EQ(run(op, NULL), RSP_OK);
    op = session_op(SMDP_OP_CANCEL_SESSION, ic, tid, T0 + 4);
    op->also = hook_record;
    UT_EQ(run(op, &a), RSP_OK);
    UT_CHECK(a.event_registered && a.state == SMDP_STATE_RELEASED);
    UT_EQ(hook_value(ic), 1);
    /* a final cancel ends the order and its event */
    op = session_op(SMDP_OP_DOWNLOAD_START, ic, tid, T0 + 5);
    UT_EQ(run(op, NULL), RSP_OK);
    op = session_op(SMDP_OP_CANCEL_SESSION, ic, tid, T0 + 6);
    op->final = true;
    op->also = hook_record;
    UT_EQ(run(op, &a), RSP_OK);
    UT_CHECK(!a.event_registered && a.state == SMDP_STATE_ERROR);
    UT_EQ(hook_value(ic), 2);
    UT_EQ(smdp_orders_find_by_eid(g_o, EID_A, &a), RSP_OK);
    UT_CHECK(strcmp(a.iccid, ic) != 0);

    /* an install result ends the event, whatever the outcome */
    uint8_t otpk[65];
    RAND_bytes(otpk, sizeof(otpk));
    op = session_op(SMDP_OP_DOWNLOAD_START, ic3, tid, T0 + 7);
    UT_EQ(run(op, NULL), RSP_OK);
    UT_EQ(delivered(ic3, tid, otpk, "BPP", NULL), RSP_OK);
    UT_EQ(install(ic3, tid, false, &a), RSP_OK);
    UT_EQ(a.state, SMDP_STATE_ERROR);
    UT_CHECK(!a.event_registered);
    teardown();
}

static void test_expiry(void)
{
    setup();
    const char *ic = "8900000000000000000", *ic2 = "8900000000000000001", *ic3 = "8900000000000000002";
    char list[4][SMDP_ICCID_MAX + 1];
    size_t n = 9;
    released(ic, "EV-X", NULL);
    UT_EQ(download_order("op1", NULL, ic2, NULL, NULL), RSP_OK);
    UT_EQ(download_order("op1", EID_A, ic3, NULL, NULL), RSP_OK);
    uint8_t tid[16], otpk[65];
    RAND_bytes(tid, sizeof(tid));
    RAND_bytes(otpk, sizeof(otpk));
    /* an installed order no longer expires */
    UT_EQ(confirm("op1", ic3, true, NULL, NULL, NULL, NULL, NULL), RSP_OK);
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic3, EID_A, tid, T0 + 2, NULL), RSP_OK);
    UT_EQ(delivered(ic3, tid, otpk, "BPP", NULL), RSP_OK);
    UT_EQ(install(ic3, tid, true, NULL), RSP_OK);

    UT_EQ(smdp_orders_expired(g_o, T0 + TTL - 1, list, 4, &n), 0);
    UT_EQ(n, 0);
    UT_EQ(smdp_orders_expired(g_o, T0 + TTL, list, 4, &n), 0);
    UT_EQ(n, 2);
    UT_CHECK(!strcmp(list[0], ic) && !strcmp(list[1], ic2));
    UT_EQ(smdp_orders_expired(g_o, T0 + TTL, list, 1, &n), 0);
    UT_EQ(n, 1);

    smdp_op *op = op_new(SMDP_OP_EXPIRE, T0 + TTL - 1);
    op->iccid = ic;
    UT_EQ(run(op, NULL), RSP_ST_STATE_TRANSITION);
    op = op_new(SMDP_OP_EXPIRE, T0 + TTL);
    op->iccid = ic;
    op->also = hook_record;
    smdp_order a;
    UT_EQ(run(op, &a), RSP_OK);
    UT_CHECK(a.expired && !a.event_registered && a.state == SMDP_STATE_RELEASED);
    UT_EQ(hook_value(ic), 2);
    op = op_new(SMDP_OP_EXPIRE, T0 + TTL + 5);
    op->iccid = ic;
    UT_EQ(run(op, NULL), RSP_ST_STATE_TRANSITION);
    op = op_new(SMDP_OP_EXPIRE, T0 + TTL + 5);
    op->iccid = ic3;
    UT_EQ(run(op, NULL), RSP_ST_STATE_TRANSITION);
    UT_EQ(smdp_orders_expired(g_o, T0 + TTL + 5, list, 4, &n), 0);
    UT_EQ(n, 1);
    UT_CHECK(!strcmp(list[0], ic2));
    /* still refused for download; a cancel takes it out of the index */
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic, EID_A, tid, T0 + TTL + 6, NULL), RSP_ST_ORDER_EXPIRED);
    UT_EQ(cancel("op1", ic2, SMDP_STATE_AVAILABLE, NULL, NULL, NULL), RSP_OK);
    UT_EQ(smdp_orders_expired(g_o, UINT64_MAX, list, 4, &n), 0);
    UT_EQ(n, 0);
    teardown();
}

/* ---- asynchronous submission ---- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_done;

static void on_done(smdp_op *op)
{
    pthread_mutex_lock(&g_mu);
    g_done++;
    *(rsp_status *)op->user = op->status;
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* Two store instances over one database, as two nodes behind a load balancer. */
typedef struct node_race {
    pthread_barrier_t *bar;
    smdp_orders *store;
    smdp_op *op;
    rsp_status st;
} node_race;

static void *node_thread(void *arg)
{
    node_race *r = arg;
    pthread_barrier_wait(r->bar);
    r->st = smdp_orders_run(r->store, r->op);
    return NULL;
}

#define NODE_RACERS 8

/* Runs NODE_RACERS copies of op, alternately on each node, all at once: exactly one wins and every other
 * gets `loser`. */
static void race_nodes(smdp_orders *other, const smdp_op *op, rsp_status loser)
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, NODE_RACERS);
    pthread_t th[NODE_RACERS];
    node_race r[NODE_RACERS];
    smdp_op ops[NODE_RACERS];
    for (int i = 0; i < NODE_RACERS; i++) {
        ops[i] = *op;
        r[i] = (node_race){&bar, i % 2 ? other : g_o, &ops[i], RSP_OK};
        pthread_create(&th[i], NULL, node_thread, &r[i]);
    }
    int wins = 0, lost = 0;
    for (int i = 0; i < NODE_RACERS; i++) {
        pthread_join(th[i], NULL);
        wins += r[i].st == RSP_OK;
        lost += r[i].st == loser;
    }
    UT_EQ(wins, 1);
    UT_EQ(lost, NODE_RACERS - 1);
    pthread_barrier_destroy(&bar);
}

static void test_two_nodes(void)
{
    if (!tu_orders_pg()) {
        /* an LMDB environment is shared by the processes of one host, not by two stores of one process */
        printf("two nodes: PostgreSQL only\n");
        return;
    }
    setup();
    smdp_orders *b;
    smdp_orders_config cfg = {.cc_max_attempts = 3, .download_max_attempts = 3, .order_ttl = TTL};
    tu_orders_apply(&cfg);
    UT_EQ(smdp_orders_open(&b, NULL, &cfg), 0);
    const char *ic = "8900000000000000000", *ic2 = "8900000000000000001", *ic3 = "8900000000000000002";

    /* ConfirmOrder on both nodes at once */
    UT_EQ(download_order("op1", EID_A, ic, NULL, NULL), RSP_OK);
    smdp_op op = {.kind = SMDP_OP_CONFIRM_ORDER, .now = T0 + 1, .owner = "op1", .iccid = ic, .release = true};
    race_nodes(b, &op, RSP_ST_STATE_TRANSITION);
    smdp_order o;
    UT_EQ(smdp_orders_get(b, ic, &o), RSP_OK);
    UT_EQ(o.state, SMDP_STATE_RELEASED);
    UT_EQ(o.version, 3);

    /* CancelOrder of that order on both nodes at once */
    op = (smdp_op){.kind = SMDP_OP_CANCEL_ORDER,
                   .now = T0 + 2,
                   .owner = "op1",
                   .iccid = ic,
                   .final_state = SMDP_STATE_AVAILABLE};
    race_nodes(b, &op, RSP_ST_STATE_TRANSITION);
    UT_EQ(smdp_orders_get(g_o, ic, &o), RSP_OK);
    UT_EQ(o.state, SMDP_STATE_AVAILABLE);

    /* a download's install result reported on both nodes at once */
    released(ic2, NULL, NULL);
    uint8_t tid[16], otpk[65];
    RAND_bytes(tid, sizeof(tid));
    RAND_bytes(otpk, sizeof(otpk));
    UT_EQ(es9(SMDP_OP_DOWNLOAD_START, ic2, EID_A, tid, T0 + 3, NULL), RSP_OK);
    UT_EQ(delivered(ic2, tid, otpk, "BPP", NULL), RSP_OK);
    op = (smdp_op){
        .kind = SMDP_OP_INSTALL_RESULT, .now = T0 + 4, .iccid = ic2, .tid = tid, .tid_len = 16, .ok = true};
    race_nodes(b, &op, RSP_ST_STATE_TRANSITION);
    UT_EQ(smdp_orders_get(b, ic2, &o), RSP_OK);
    UT_EQ(o.state, SMDP_STATE_INSTALLED);

    /* ConfirmOrder on one node racing CancelOrder on the other: whichever runs first, the state is one of
     * the two outcomes and the record counts each change once */
    UT_EQ(download_order("op1", EID_A, ic3, NULL, NULL), RSP_OK);
    smdp_op c1 = {
        .kind = SMDP_OP_CONFIRM_ORDER, .now = T0 + 5, .owner = "op1", .iccid = ic3, .release = true};
    smdp_op c2 = {.kind = SMDP_OP_CANCEL_ORDER,
                  .now = T0 + 5,
                  .owner = "op1",
                  .iccid = ic3,
                  .final_state = SMDP_STATE_UNAVAILABLE};
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    node_race r1 = {&bar, g_o, &c1, RSP_OK}, r2 = {&bar, b, &c2, RSP_OK};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, node_thread, &r1);
    pthread_create(&t2, NULL, node_thread, &r2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_barrier_destroy(&bar);
    UT_EQ(r2.st, RSP_OK);
    UT_EQ(smdp_orders_get(g_o, ic3, &o), RSP_OK);
    UT_EQ(o.state, SMDP_STATE_UNAVAILABLE);
    UT_EQ(o.version, r1.st == RSP_OK ? 4u : 3u);
    UT_CHECK(r1.st == RSP_OK || r1.st == RSP_ST_STATE_TRANSITION);
    smdp_orders_close(b);
    teardown();
}

static void test_submit(void)
{
    setup();
    smdp_op ops[4];
    rsp_status st[4];
    memset(ops, 0, sizeof(ops));
    g_done = 0;
    for (int i = 0; i < 4; i++) {
        ops[i].kind = SMDP_OP_DOWNLOAD_ORDER;
        ops[i].now = T0;
        ops[i].owner = i == 3 ? "op2" : "op1";
        ops[i].profile_type = "T2";
        ops[i].done = on_done;
        ops[i].user = &st[i];
        UT_EQ(smdp_orders_submit(g_o, &ops[i]), 0);
    }
    pthread_mutex_lock(&g_mu);
    while (g_done < 4)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    /* two T2 profiles for three orders (on PostgreSQL the writers may take them in any order); op2 has
     * no T2 */
    int ok = 0, exhausted = 0;
    for (int i = 0; i < 3; i++) {
        ok += st[i] == RSP_OK;
        exhausted += st[i] == RSP_ST_PROFILE_TYPE_EXHAUSTED;
    }
    UT_EQ(ok, 2);
    UT_EQ(exhausted, 1);
    UT_EQ(st[3], RSP_ST_PROFILE_TYPE_UNKNOWN);
    if (!tu_orders_pg()) {
        /* one writer: submission order */
        UT_EQ(st[2], RSP_ST_PROFILE_TYPE_EXHAUSTED);
    }
    const smdp_op *w1 = st[0] == RSP_OK ? &ops[0] : &ops[1], *w2 = st[2] == RSP_OK ? &ops[2] : &ops[1];
    UT_CHECK(strcmp(w1->after.iccid, w2->after.iccid) != 0);
    teardown();
}

int main(void)
{
    if (tu_orders_start(TU_ORDERS_PG, "orders_test") != 0)
        return 0;
    UT_RUN(test_import);
    UT_RUN(test_download_order);
    UT_RUN(test_confirm_release);
    UT_RUN(test_es9_download);
    UT_RUN(test_cancel_session);
    UT_RUN(test_purge);
    UT_RUN(test_limits_and_expiry);
    UT_RUN(test_activation_code_flow);
    UT_RUN(test_cancel_order);
    UT_RUN(test_restart);
    UT_RUN(test_session_key);
    UT_RUN(test_concurrent);
    UT_RUN(test_submit);
    UT_RUN(test_events_and_hooks);
    UT_RUN(test_expiry);
    UT_RUN(test_two_nodes);
    tu_orders_stop();
    return ut_finish();
}
