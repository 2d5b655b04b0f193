/*
 * Unit tests of the ES11 handler logic (no sockets).  The device is the lpasim eUICC; its answers are
 * rewritten with tools/lpasim/tamper.h where a test needs a misbehaving or v3 device.
 */
#include "smds/es11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/x509v3.h>

#include "asn1/sgp22.h"
#include "rsp/cert.h"
#include "rsp/codec.h"
#include "smds/es12.h"
#include "smds/store_testutil.h"
#include "smds/testutil.h"
#include "tests/unit/ut.h"
#include "tools/lpasim/euicc.h"
#include "tools/lpasim/tamper.h"

static const char *rsp_pki;
static char pki[1024], other[1024], extra[1024];
static smds_t *x;
static euicc *nist, *brp;
static X509 *nist_ci, *brp_ci;

#define EID "89049032123451234512345678901235"

static euicc *load_euicc(const char *euicc_dir, const char *eum_dir, const char *ci_path)
{
    char cert[1200], key[1200], eum[1200];
    snprintf(cert, sizeof(cert), "%s/euicc.pem", euicc_dir);
    snprintf(key, sizeof(key), "%s/euicc.key.pem", euicc_dir);
    snprintf(eum, sizeof(eum), "%s/eum.pem", eum_dir);
    const char *cis[1] = {ci_path};
    euicc_error err;
    euicc *e = euicc_load_files(cert, key, eum, cis, 1, &err);
    if (!e)
        fprintf(stderr, "euicc_load_files: %s\n", err.detail);
    return e;
}

/* How the device differs from a genuine SGP.22 v2.2.2 one. */
typedef struct dev_opts {
    uint8_t svn[3];          /* EUICCInfo1/2 SVN; all zero = 2.2.2 */
    tamper_info1 info1;      /* EUICCInfo1 rewrites */
    const char *matching_id; /* ctxParams1.matchingId; NULL = absent */
    tamper_auth auth;        /* AuthenticateServerResponse rewrites */
} dev_opts;

/* ---- the two calls, as an LPA would make them ---- */

typedef struct call {
    rsp_arena *a;
    uint8_t challenge[16];
    smds_es11_init_result init;
    rsp_status st;
    smds_msg msg;
} call;

static rsp_status initiate(call *c, euicc *e, const dev_opts *o, const char *field, const char *address)
{
    static const dev_opts none;
    static const uint8_t v222[3] = {2, 2, 2};
    if (!o)
        o = &none;
    memset(c, 0, sizeof(*c));
    c->a = rsp_arena_new(1 << 20);
    memcpy(euicc_config_of(e)->svn, o->svn[0] | o->svn[1] | o->svn[2] ? o->svn : v222, 3);
    UT_EQ(euicc_get_challenge(e, c->challenge), 0);
    der_writer genuine, info1;
    der_w_init(&genuine);
    der_w_init(&info1);
    UT_EQ(euicc_get_info1(e, &genuine), 0);
    if (o->info1.sign_list_v3 || o->info1.empty_verify_list)
        UT_EQ(tamper_euicc_info1(genuine.buf, genuine.len, &o->info1, &info1), 0);
    else
        der_w_raw(&info1, genuine.buf, genuine.len);
    der_w_free(&genuine);
    UT_EQ(der_w_finish(&info1), 0);
    rsp_jsonw w;
    rsp_jsonw_init(&w, c->a, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kbase64(&w, "euiccChallenge", c->challenge, 16);
    rsp_jsonw_kbase64(&w, "euiccInfo1", info1.buf, info1.len);
    if (field)
        rsp_jsonw_kstr(&w, field, address);
    rsp_jsonw_obj_end(&w);
    const char *body;
    size_t len;
    UT_EQ(rsp_jsonw_finish(&w, &body, &len), 0);
    der_w_free(&info1);
    c->st = smds_es11_initiate(x, c->a, tu_doc(c->a, body), time(NULL), &c->init, &c->msg);
    return c->st;
}

static rsp_status authenticate_raw(call *c, const uint8_t *tid, size_t tid_len, const uint8_t *bf38,
                                   size_t len, time_t now, smds_es11_auth_result *r)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, c->a, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_khex(&w, "transactionId", tid, tid_len);
    rsp_jsonw_kbase64(&w, "authenticateServerResponse", bf38, len);
    rsp_jsonw_obj_end(&w);
    const char *body;
    size_t blen;
    UT_EQ(rsp_jsonw_finish(&w, &body, &blen), 0);
    memset(&c->msg, 0, sizeof(c->msg));
    return smds_es11_authenticate(x, c->a, tu_doc(c->a, body), now, r, &c->msg);
}

/* Full run; r must be cleared by the caller. */
static rsp_status discover(euicc *e, const dev_opts *o, smds_es11_auth_result *r)
{
    call c;
    rsp_status st = initiate(&c, e, o, "smdpAddress", TU_FQDN);
    memset(r, 0, sizeof(*r));
    if (st == RSP_OK) {
        der_writer bf38, sent;
        der_w_init(&bf38);
        der_w_init(&sent);
        UT_EQ(tu_euicc_authenticate(e, &c.init, TU_FQDN, o ? o->matching_id : NULL, &bf38), EUICC_OK);
        const tamper_auth *t = o ? &o->auth : NULL;
        if (t && (t->bad_signature || t->wrong_challenge || t->wrong_tid || t->signed_address))
            UT_EQ(tamper_auth_server_resp(euicc_key(e), bf38.buf, bf38.len, t, &sent), 0);
        else
            der_w_raw(&sent, bf38.buf, bf38.len);
        UT_EQ(der_w_finish(&sent), 0);
        st = authenticate_raw(&c, c.init.tid, sizeof(c.init.tid), sent.buf, sent.len, time(NULL), r);
        der_w_free(&bf38);
        der_w_free(&sent);
    }
    smds_es11_init_result_clear(&c.init);
    rsp_arena_free(c.a);
    return st;
}

static void reg(const char *eid, const char *id, const char *addr)
{
    smds_event ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.eid, sizeof(ev.eid), "%s", eid);
    snprintf(ev.event_id, sizeof(ev.event_id), "%s", id);
    snprintf(ev.rsp_server_address, sizeof(ev.rsp_server_address), "%s", addr);
    snprintf(ev.owner, sizeof(ev.owner), "2.999.10");
    ev.via = 12;
    UT_EQ(smds_event_register_wait(x, &ev, false, time(NULL)), RSP_OK);
}

/* ---- tests ---- */

static void test_no_events(void)
{
    smds_es11_auth_result r;
    UT_EQ(discover(nist, NULL, &r), RSP_OK);
    UT_EQ(r.events.n, 0);
    UT_CHECK(strcmp(r.eid, EID) == 0);
    /* r.tid pointed into the request's arena, gone now */
    static const uint8_t tid[2] = {0x0A, 0xB1};
    r.tid = tid;
    r.tid_len = sizeof(tid);
    rsp_arena *a = rsp_arena_new(1 << 16);
    rsp_jsonw w;
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    smds_es11_authenticate_write(&w, &r);
    rsp_jsonw_obj_end(&w);
    const char *out;
    size_t len;
    UT_EQ(rsp_jsonw_finish(&w, &out, &len), 0);
    UT_CHECK(strstr(out, "\"transactionId\":\"0AB1\",\"eventEntries\":[]") != NULL);
    rsp_arena_free(a);
    smds_es11_auth_result_clear(&r);
}

static void test_initiate_response(void)
{
    call c;
    UT_EQ(initiate(&c, nist, NULL, "smdsAddress", "TestSMDS.Example.COM"), RSP_OK);
    sgp22_server_signed1 ss;
    UT_EQ(sgp22_server_signed1_decode(c.init.server_signed1, c.init.server_signed1_len, &ss), 0);
    UT_CHECK(ss.transaction_id.len == 16 && memcmp(ss.transaction_id.p, c.init.tid, 16) == 0);
    UT_CHECK(ss.euicc_challenge.len == 16 && memcmp(ss.euicc_challenge.p, c.challenge, 16) == 0);
    UT_CHECK(ss.server_address.len == strlen(TU_FQDN) &&
             memcmp(ss.server_address.p, TU_FQDN, ss.server_address.len) == 0);
    UT_EQ(c.init.signature[0], 0x5F);
    UT_EQ(c.init.signature[1], 0x37);
    UT_EQ(c.init.signature[2], 0x40);
    UT_EQ(c.init.ci_pkid[0], 0x04);
    UT_EQ(c.init.ci_pkid[1], c.init.ci_pkid_len - 2);
    /* the NIST eUICC gets the NIST CERT.DSauth, the brainpool one the brainpool certificate */
    const ASN1_OCTET_STRING *nist_ski = X509_get0_subject_key_id(nist_ci);
    UT_CHECK(memcmp(c.init.ci_pkid + 2, ASN1_STRING_get0_data(nist_ski), c.init.ci_pkid_len - 2) == 0);
    UT_CHECK(c.init.auth->ci_ski_len == c.init.ci_pkid_len - 2 &&
             memcmp(c.init.auth->ci_ski, c.init.ci_pkid + 2, c.init.auth->ci_ski_len) == 0);

    rsp_jsonw w;
    rsp_jsonw_init(&w, c.a, 0);
    rsp_jsonw_obj_begin(&w);
    smds_es11_initiate_write(&w, &c.init);
    rsp_jsonw_obj_end(&w);
    const char *out;
    size_t len;
    UT_EQ(rsp_jsonw_finish(&w, &out, &len), 0);
    const char *names[] = {"\"transactionId\":\"", "\"serverSigned1\":", "\"serverSignature1\":",
                           "\"euiccCiPKIdToBeUsed\":", "\"serverCertificate\":"};
    for (size_t i = 0; i < 5; i++)
        UT_CHECK(strstr(out, names[i]) != NULL);
    smds_es11_init_result_clear(&c.init);
    rsp_arena_free(c.a);

    UT_EQ(initiate(&c, brp, NULL, "smdpAddress", TU_FQDN), RSP_OK);
    const ASN1_OCTET_STRING *brp_ski = X509_get0_subject_key_id(brp_ci);
    UT_CHECK(memcmp(c.init.ci_pkid + 2, ASN1_STRING_get0_data(brp_ski), c.init.ci_pkid_len - 2) == 0);
    smds_es11_init_result_clear(&c.init);
    rsp_arena_free(c.a);
}

static void test_discover_events(void)
{
    reg(EID, "EV-1", "smdp1.example.com");
    reg(EID, "EV-2", "smdp2.example.com");
    reg("89049032123451234512345678901299", "EV-OTHER", "smdp1.example.com");
    smds_es11_auth_result r;
    UT_EQ(discover(nist, NULL, &r), RSP_OK);
    UT_EQ(r.events.n, 2);
    if (r.events.n == 2) {
        UT_CHECK(strcmp(r.events.items[0].event_id, "EV-1") == 0);
        UT_CHECK(strcmp(r.events.items[1].event_id, "EV-2") == 0);
        UT_CHECK(strcmp(r.events.items[1].rsp_server_address, "smdp2.example.com") == 0);
    }
    smds_es11_auth_result_clear(&r);

    /* the brainpool eUICC (same EID) sees the same events; v3 signing list works too */
    dev_opts v3 = {.info1 = {.sign_list_v3 = true}, .svn = {3, 1, 0}};
    UT_EQ(discover(brp, &v3, &r), RSP_OK);
    UT_EQ(r.events.n, 2);
    smds_es11_auth_result_clear(&r);

    dev_opts one = {.matching_id = "EV-2"};
    UT_EQ(discover(nist, &one, &r), RSP_OK);
    UT_EQ(r.events.n, 1);
    if (r.events.n == 1)
        UT_CHECK(strcmp(r.events.items[0].event_id, "EV-2") == 0);
    smds_es11_auth_result_clear(&r);

    dev_opts empty = {.matching_id = ""};
    UT_EQ(discover(nist, &empty, &r), RSP_OK);
    UT_EQ(r.events.n, 2);
    smds_es11_auth_result_clear(&r);

    dev_opts unknown = {.matching_id = "EV-3"};
    UT_EQ(discover(nist, &unknown, &r), RSP_ST_EVENT_UNKNOWN);
    smds_es11_auth_result_clear(&r);
    /* another EID's event is unknown to this one */
    dev_opts foreign = {.matching_id = "EV-OTHER"};
    UT_EQ(discover(nist, &foreign, &r), RSP_ST_EVENT_UNKNOWN);
    smds_es11_auth_result_clear(&r);
}

static void test_initiate_refusals(void)
{
    call c;
    UT_EQ(initiate(&c, nist, NULL, "smdpAddress", "other.example.com"), RSP_ST_SMDS_ADDRESS_INVALID);
    rsp_arena_free(c.a);
    UT_EQ(initiate(&c, nist, NULL, "smdpAddress", TU_FQDN "."), RSP_ST_SMDS_ADDRESS_INVALID);
    rsp_arena_free(c.a);
    UT_EQ(initiate(&c, nist, NULL, NULL, NULL), RSP_ST_MANDATORY_MISSING);
    rsp_arena_free(c.a);
    dev_opts old = {.svn = {1, 0, 0}}, future = {.svn = {4, 0, 0}}, v3 = {.svn = {3, 0, 0}};
    UT_EQ(initiate(&c, nist, &old, "smdpAddress", TU_FQDN), RSP_ST_SMDS_SVN_UNSUPPORTED);
    rsp_arena_free(c.a);
    UT_EQ(initiate(&c, nist, &future, "smdpAddress", TU_FQDN), RSP_ST_SMDS_SVN_UNSUPPORTED);
    rsp_arena_free(c.a);
    UT_EQ(initiate(&c, nist, &v3, "smdpAddress", TU_FQDN), RSP_OK);
    smds_es11_init_result_clear(&c.init);
    rsp_arena_free(c.a);
    dev_opts noverify = {.info1 = {.empty_verify_list = true}};
    UT_EQ(initiate(&c, nist, &noverify, "smdpAddress", TU_FQDN), RSP_ST_SMDS_NO_CERT_FOR_CI);
    rsp_arena_free(c.a);

    /* an eUICC of a CI this SM-DS does not know */
    char dir[1200], eum[1200], ci[1200];
    snprintf(dir, sizeof(dir), "%s/nist/euicc/" EID, other);
    snprintf(eum, sizeof(eum), "%s/nist/eum", other);
    snprintf(ci, sizeof(ci), "%s/nist/ci/ci.pem", other);
    euicc *alien = load_euicc(dir, eum, ci);
    UT_CHECK(alien != NULL);
    if (alien) {
        UT_EQ(initiate(&c, alien, NULL, "smdpAddress", TU_FQDN), RSP_ST_SMDS_PKID_UNSUPPORTED);
        rsp_arena_free(c.a);
        euicc_free(alien);
    }

    /* malformed input: a GSMA error, never a crash */
    static const char *bodies[] = {
        "{\"euiccChallenge\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"euiccInfo1\":\"vyAA\",\"smdpAddress\":\"" TU_FQDN
        "\"}",
        "{\"euiccChallenge\":\"AAAA\",\"euiccInfo1\":\"vyAA\",\"smdpAddress\":\"" TU_FQDN "\"}",
        "{\"euiccChallenge\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"euiccInfo1\":\"!!\",\"smdpAddress\":\"" TU_FQDN
        "\"}",
        "{\"euiccChallenge\":17,\"euiccInfo1\":\"vyAA\",\"smdpAddress\":\"" TU_FQDN "\"}",
        "{\"euiccChallenge\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"euiccInfo1\":\"vyAA\",\"smdpAddress\":7}",
        "{\"euiccInfo1\":\"vyAA\",\"smdpAddress\":\"" TU_FQDN "\"}",
    };
    static const rsp_status want[] = {RSP_ST_INVALID_FIELD, RSP_ST_INVALID_FIELD, RSP_ST_INVALID_FIELD,
                                      RSP_ST_INVALID_FIELD, RSP_ST_INVALID_FIELD, RSP_ST_MANDATORY_MISSING};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        rsp_arena *a = rsp_arena_new(1 << 16);
        smds_msg msg = {0};
        smds_es11_init_result r;
        rsp_json_doc *doc = tu_doc(a, bodies[i]);
        UT_CHECK(doc != NULL);
        UT_EQ(smds_es11_initiate(x, a, doc, time(NULL), &r, &msg), want[i]);
        UT_CHECK(msg.message != NULL);
        rsp_arena_free(a);
    }
}

/* Initiates, then lets the test change the answer. */
static rsp_status tampered(euicc *e, const dev_opts *o)
{
    smds_es11_auth_result r;
    rsp_status st = discover(e, o, &r);
    smds_es11_auth_result_clear(&r);
    return st;
}

static void test_authenticate_refusals(void)
{
    dev_opts bad_sig = {.auth = {.bad_signature = true}}, bad_chal = {.auth = {.wrong_challenge = true}},
             bad_tid = {.auth = {.wrong_tid = true}},
             bad_addr = {.auth = {.signed_address = "other.example.com"}};
    UT_EQ(tampered(nist, &bad_sig), RSP_ST_EUICC_SIG_INVALID);
    UT_EQ(tampered(brp, &bad_sig), RSP_ST_EUICC_SIG_INVALID);
    UT_EQ(tampered(nist, &bad_chal), RSP_ST_EUICC_SIG_INVALID);
    UT_EQ(tampered(nist, &bad_tid), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(tampered(nist, &bad_addr), RSP_ST_SMDS_ADDRESS_INVALID);

    char dir[1200], eum[1200], ci[1200];
    snprintf(eum, sizeof(eum), "%s/nist/eum", pki);
    snprintf(ci, sizeof(ci), "%s/nist/ci/ci.pem", pki);
    const struct {
        const char *euicc_dir;
        rsp_status want;
    } cases[] = {
        {"expired", RSP_ST_EUICC_CERT_EXPIRED},
        {"outside", RSP_ST_EUICC_CERT_INVALID},
    };
    for (size_t i = 0; i < 2; i++) {
        snprintf(dir, sizeof(dir), "%s/%s", extra, cases[i].euicc_dir);
        euicc *e = load_euicc(dir, eum, ci);
        UT_CHECK(e != NULL);
        if (e) {
            UT_EQ(tampered(e, NULL), cases[i].want);
            euicc_free(e);
        }
    }
    /* a chain from a foreign CI, while the eUICC claims our CI (it trusts it and lists it for signing):
     * the EUM's AKI is not the chosen CI */
    char odir[1200], oeum[1200];
    snprintf(odir, sizeof(odir), "%s/nist/euicc/" EID, other);
    snprintf(oeum, sizeof(oeum), "%s/nist/eum", other);
    euicc *alien = load_euicc(odir, oeum, ci);
    UT_CHECK(alien != NULL);
    if (alien) {
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(nist_ci);
        const uint8_t *ids[1] = {ASN1_STRING_get0_data(ski)};
        const size_t lens[1] = {(size_t)ASN1_STRING_length(ski)};
        UT_EQ(euicc_set_ci_lists(alien, NULL, NULL, 0, ids, lens, 1), EUICC_OK);
        UT_EQ(tampered(alien, NULL), RSP_ST_CI_PK_UNKNOWN);
        euicc_free(alien);
    }
}

static void test_transactions(void)
{
    call c;
    UT_EQ(initiate(&c, nist, NULL, "smdpAddress", TU_FQDN), RSP_OK);
    der_writer resp;
    der_w_init(&resp);
    UT_EQ(tu_euicc_authenticate(nist, &c.init, TU_FQDN, NULL, &resp), EUICC_OK);
    const uint8_t *bf38 = resp.buf;
    size_t len = resp.len;
    smds_es11_auth_result r;

    /* unknown transactionId (made up), and a well-formed one past its expiry */
    uint8_t made_up[16];
    memcpy(made_up, c.init.tid, 16);
    made_up[15] ^= 0xFF;
    UT_EQ(authenticate_raw(&c, made_up, 16, bf38, len, time(NULL), &r), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(authenticate_raw(&c, made_up, 5, bf38, len, time(NULL), &r), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(authenticate_raw(&c, c.init.tid, 16, bf38, len, time(NULL) + 301, &r), RSP_ST_TRANSACTION_UNKNOWN);
    /* a truncated BF38 is refused without consuming the transaction */
    UT_EQ(authenticate_raw(&c, c.init.tid, 16, bf38, len - 3, time(NULL), &r), RSP_ST_INVALID_FIELD);
    UT_EQ(authenticate_raw(&c, c.init.tid, 16, bf38, len, time(NULL), &r), RSP_OK);
    smds_es11_auth_result_clear(&r);
    /* replay */
    UT_EQ(authenticate_raw(&c, c.init.tid, 16, bf38, len, time(NULL), &r), RSP_ST_TRANSACTION_UNKNOWN);
    der_w_free(&resp);
    smds_es11_init_result_clear(&c.init);
    rsp_arena_free(c.a);

    /* an eUICC error answer ends the transaction */
    UT_EQ(initiate(&c, nist, NULL, "smdpAddress", TU_FQDN), RSP_OK);
    sgp22_auth_server_resp err = {.is_ok = false,
                                  .error = {.transaction_id = SGP22_BYTES(c.init.tid, 16), .code = 1}};
    der_writer w;
    der_w_init(&w);
    sgp22_auth_server_resp_encode(&w, &err);
    UT_EQ(der_w_finish(&w), 0);
    UT_EQ(authenticate_raw(&c, c.init.tid, 16, w.buf, w.len, time(NULL), &r), RSP_ST_INVALID_FIELD);
    UT_EQ(authenticate_raw(&c, c.init.tid, 16, w.buf, w.len, time(NULL), &r), RSP_ST_TRANSACTION_UNKNOWN);
    der_w_free(&w);
    smds_es11_init_result_clear(&c.init);
    rsp_arena_free(c.a);

    /* malformed AuthenticateClient bodies */
    static const char *bodies[] = {
        "{\"transactionId\":\"XYZ\",\"authenticateServerResponse\":\"vzgA\"}",
        "{\"transactionId\":\"0102\",\"authenticateServerResponse\":\"vzg\"}",
        "{\"transactionId\":[],\"authenticateServerResponse\":\"vzgA\"}",
        "{\"authenticateServerResponse\":\"vzgA\"}",
        "{\"transactionId\":\"000102030405060708090A0B0C0D0E0F10\",\"authenticateServerResponse\":\"vzgA\"}",
    };
    static const rsp_status want[] = {RSP_ST_INVALID_FIELD, RSP_ST_INVALID_FIELD, RSP_ST_INVALID_FIELD,
                                      RSP_ST_MANDATORY_MISSING, RSP_ST_INVALID_FIELD};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        rsp_arena *a = rsp_arena_new(1 << 16);
        smds_msg msg = {0};
        rsp_json_doc *doc = tu_doc(a, bodies[i]);
        UT_CHECK(doc != NULL);
        UT_EQ(smds_es11_authenticate(x, a, doc, time(NULL), &r, &msg), want[i]);
        smds_es11_auth_result_clear(&r);
        rsp_arena_free(a);
    }
}

/* A second instance sharing only the secret file finishes a transaction the first one started. */
static void test_shared_secret(void)
{
    char state2[1024], secret[1200];
    snprintf(state2, sizeof(state2), "%s", tu_dir("es11_state2"));
    snprintf(secret, sizeof(secret), "%s/../es11_state/txn.secret", state2);
    smds_t *y = tu_smds(pki, state2, secret, NULL, NULL);
    UT_CHECK(y != NULL);
    if (!y)
        return;
    call c;
    UT_EQ(initiate(&c, nist, NULL, "smdpAddress", TU_FQDN), RSP_OK);
    der_writer bf38;
    der_w_init(&bf38);
    UT_EQ(tu_euicc_authenticate(nist, &c.init, TU_FQDN, NULL, &bf38), EUICC_OK);
    smds_t *first = x;
    x = y;
    smds_es11_auth_result r;
    UT_EQ(authenticate_raw(&c, c.init.tid, 16, bf38.buf, bf38.len, time(NULL), &r), RSP_OK);
    UT_EQ(r.events.n, 0); /* y has its own (empty) store */
    smds_es11_auth_result_clear(&r);
    x = first;
    der_w_free(&bf38);
    smds_es11_init_result_clear(&c.init);
    rsp_arena_free(c.a);
    smds_free(y);
}

static void test_reload(void)
{
    char err[256];
    UT_EQ(smds_reload(x, err, sizeof(err)), 0);
    smds_es11_auth_result r;
    UT_EQ(discover(nist, NULL, &r), RSP_OK);
    smds_es11_auth_result_clear(&r);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: es11_test <rsp-pki>\n");
        return 2;
    }
    if (tu_store_start(TEST_STORE, "es11_test") != 0)
        return 0;
    rsp_pki = argv[1];
    snprintf(pki, sizeof(pki), "%s", tu_dir("es11_pki"));
    snprintf(other, sizeof(other), "%s", tu_dir("es11_other"));
    snprintf(extra, sizeof(extra), "%s", tu_dir("es11_extra"));
    if (tu_pki(rsp_pki, pki) || tu_pki(rsp_pki, other) ||
        tu_sh("'%s' mint --kind euicc --issuer-cert %s/nist/eum/eum.pem --issuer-key %s/nist/eum/eum.key.pem "
              "--not-before 2015-01-01 --not-after 2016-01-01 --out %s/expired/euicc >/dev/null",
              rsp_pki, pki, pki, extra) ||
        tu_sh("'%s' euicc --ca-dir %s/nist --eid 890490331234512345123456789012 --force --out %s/outside "
              ">/dev/null",
              rsp_pki, pki, extra))
        return 1;
    char dir[1200], eum[1200], ci[1200];
    snprintf(dir, sizeof(dir), "%s/nist/euicc/" EID, pki);
    snprintf(eum, sizeof(eum), "%s/nist/eum", pki);
    snprintf(ci, sizeof(ci), "%s/nist/ci/ci.pem", pki);
    if (!(nist = load_euicc(dir, eum, ci)) || !(nist_ci = rsp_load_cert(ci)))
        return 1;
    snprintf(dir, sizeof(dir), "%s/brainpool/euicc/" EID, pki);
    snprintf(eum, sizeof(eum), "%s/brainpool/eum", pki);
    snprintf(ci, sizeof(ci), "%s/brainpool/ci/ci.pem", pki);
    if (!(brp = load_euicc(dir, eum, ci)) || !(brp_ci = rsp_load_cert(ci)))
        return 1;
    x = tu_smds(pki, tu_dir("es11_state"), NULL, NULL, NULL);
    if (!x)
        return 1;
    UT_RUN(test_no_events);
    UT_RUN(test_initiate_response);
    UT_RUN(test_discover_events);
    UT_RUN(test_initiate_refusals);
    UT_RUN(test_authenticate_refusals);
    UT_RUN(test_transactions);
    UT_RUN(test_shared_secret);
    UT_RUN(test_reload);
    smds_free(x);
    euicc_free(nist);
    euicc_free(brp);
    X509_free(nist_ci);
    X509_free(brp_ci);
    tu_store_stop();
    return ut_finish();
}
