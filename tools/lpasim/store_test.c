/*
 * Tests for eUICC directories: creating one from an rsp-pki layout and from
 * the SGP.26 files, and keeping profiles, notifications, the sequence number
 * and the kept one-time key across save and load.
 */
#include "tools/lpasim/euicc.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "tests/unit/ut.h"
#include "tools/lpasim/testserver.h"

static ts_pki pki;
static char tmp_root[512];

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        fprintf(stderr, "mkdir %s: %s\n", path, strerror(errno));
}

/* Writes p in the rsp-pki layout: root/nist/{ci/ci,eum/eum,euicc/<EID>/euicc}.{der,pem,key.pem}. */
static void write_rsp_pki(const char *root)
{
    char d[700];
    make_dir(root);
    snprintf(d, sizeof(d), "%s/nist", root);
    make_dir(d);
    snprintf(d, sizeof(d), "%s/nist/ci", root);
    make_dir(d);
    UT_EQ(pki_write_cred(d, "ci", &pki.ci), 0);
    snprintf(d, sizeof(d), "%s/nist/eum", root);
    make_dir(d);
    UT_EQ(pki_write_cred(d, "eum", &pki.eum), 0);
    snprintf(d, sizeof(d), "%s/nist/euicc", root);
    make_dir(d);
    snprintf(d, sizeof(d), "%s/nist/euicc/%s", root, PKI_SGP26_EID);
    make_dir(d);
    UT_EQ(pki_write_cred(d, "euicc", &pki.euicc), 0);
}

static void dp_server(ts_server *s)
{
    ts_server_init(s);
    s->auth_cert = pki.dpauth.cert;
    s->auth_key = pki.dpauth.key;
    s->pb_cert = pki.dppb.cert;
    s->pb_key = pki.dppb.key;
}

/* Installs a synthetic profile (or fails its BPP when tamper is set). */
static int install(euicc *e, const char *iccid, bool tamper, uint8_t otpk_out[65])
{
    ts_server s;
    dp_server(&s);
    der_writer pkg, bpp, pir;
    der_w_init(&pkg);
    der_w_init(&bpp);
    der_w_init(&pir);
    ts_segments segs;
    euicc_error err;
    int rc = -100;
    if (ts_run_to_bpp(&s, e, pki.ci.cert) == 0 && ts_synthetic_package(iccid, 1, 50, &pkg) == 0 &&
        ts_bind(&s, euicc_eid(e), pkg.buf, pkg.len, &bpp, &segs) == 0) {
        if (tamper)
            bpp.buf[segs.off[3][0] + 8] ^= 1;
        rc = euicc_load_bpp(e, bpp.buf, bpp.len, &pir, NULL, &err);
        if (otpk_out)
            memcpy(otpk_out, s.euicc_otpk, 65);
    }
    der_w_free(&pkg);
    der_w_free(&bpp);
    der_w_free(&pir);
    ts_server_clear(&s);
    return rc;
}

static void test_init_and_roundtrip(void)
{
    char pkidir[600], dir[600];
    snprintf(pkidir, sizeof(pkidir), "%s/pki", tmp_root);
    snprintf(dir, sizeof(dir), "%s/euicc1", tmp_root);
    write_rsp_pki(pkidir);
    euicc_error err;
    int rc = euicc_init_dir(dir, pkidir, NULL, NULL, &err);
    UT_EQ(rc, 0);
    if (rc)
        fprintf(stderr, "    %s\n", err.detail);
    /* A second init into the same directory is refused. */
    UT_EQ(euicc_init_dir(dir, pkidir, NULL, NULL, &err), EUICC_ESYS);

    euicc *e = euicc_load_dir(dir, &err);
    UT_CHECK(e != NULL);
    if (!e) {
        fprintf(stderr, "    %s\n", err.detail);
        return;
    }
    UT_CHECK(strcmp(euicc_eid(e), PKI_SGP26_EID) == 0);
    UT_EQ(rsp_ci_store_count(euicc_cis(e)), 1);

    euicc_config *c = euicc_config_of(e);
    snprintf(c->default_smdp, sizeof(c->default_smdp), "smdp.example.org");
    c->svn[2] = 3;
    UT_EQ(install(e, "8988211000000000017", false, NULL), EUICC_OK);
    UT_EQ(install(e, "8988211000000000025", false, NULL), EUICC_OK);
    euicc_error e2;
    UT_EQ(euicc_enable_profile(e, "8988211000000000025", &e2), 0);
    uint8_t otpk[65];
    UT_EQ(install(e, "8988211000000000033", true, otpk), EUICC_EREFUSED);
    UT_EQ(euicc_notification_count(e), 4); /* 2 installs, 1 enable, 1 failed install */
    UT_EQ(euicc_notification_remove(e, 1), 0);
    UT_EQ(euicc_save_dir(e, dir, &err), 0);

    euicc *f = euicc_load_dir(dir, &err);
    UT_CHECK(f != NULL);
    if (f) {
        UT_EQ(euicc_profile_count(f), 2);
        const euicc_profile *p = euicc_profile_find(f, "8988211000000000025");
        const euicc_profile *q = euicc_profile_find(e, "8988211000000000025");
        UT_CHECK(p && q && p->enabled && memcmp(p->package_sha256, q->package_sha256, 32) == 0);
        UT_CHECK(p && q && p->aid_len == q->aid_len && memcmp(p->aid, q->aid, q->aid_len) == 0);
        UT_CHECK(p && strcmp(p->name, "LPASIM Test Profile") == 0);
        UT_CHECK(p && p->notify_address[EUICC_EVT_DISABLE] && q->notify_address[EUICC_EVT_DISABLE] &&
                 strcmp(p->notify_address[EUICC_EVT_DISABLE], q->notify_address[EUICC_EVT_DISABLE]) == 0);
        UT_EQ(euicc_notification_count(f), 3);
        for (size_t i = 0; i < 3; i++) {
            const euicc_notification *a = euicc_notification_at(e, i), *b = euicc_notification_at(f, i);
            UT_CHECK(a->seq == b->seq && a->event == b->event && a->len == b->len &&
                     memcmp(a->der, b->der, a->len) == 0 && strcmp(a->address, b->address) == 0 &&
                     strcmp(a->iccid_str, b->iccid_str) == 0);
        }
        UT_CHECK(strcmp(euicc_config_of(f)->default_smdp, "smdp.example.org") == 0);
        UT_EQ(euicc_config_of(f)->svn[2], 3);

        /* The kept one-time key survived: a retry naming it gets the same otPK.EUICC. */
        ts_server s;
        dp_server(&s);
        s.bpp_euicc_otpk = otpk;
        UT_EQ(ts_run_to_bpp(&s, f, pki.ci.cert), 0);
        UT_CHECK(memcmp(s.euicc_otpk, otpk, 65) == 0);
        ts_server_clear(&s);

        /* Sequence numbers continue after a reload. */
        UT_EQ(install(f, "8988211000000000041", false, NULL), EUICC_OK);
        size_t n = euicc_notification_count(f);
        UT_EQ(euicc_notification_at(f, n - 1)->seq, 5);
        euicc_free(f);
    }
    euicc_free(e);

    /* A damaged state file is refused with a reason. */
    char state[700];
    snprintf(state, sizeof(state), "%s/state.json", dir);
    FILE *fp = fopen(state, "w");
    UT_CHECK(fp != NULL);
    if (fp) {
        fputs("{\"version\":1,\"nextSeqNumber\":0}", fp);
        fclose(fp);
    }
    UT_CHECK(euicc_load_dir(dir, &err) == NULL);
    UT_CHECK(strstr(err.detail, "nextSeqNumber") != NULL);
}

static void test_init_wrong_eid(void)
{
    char pkidir[600], dir[600];
    snprintf(pkidir, sizeof(pkidir), "%s/pki", tmp_root);
    snprintf(dir, sizeof(dir), "%s/euicc2", tmp_root);
    write_rsp_pki(pkidir);
    euicc_error err;
    UT_EQ(euicc_init_dir(dir, pkidir, "89049032123451234512345678901299", NULL, &err), EUICC_ESYS);
    /* Pointing at the curve set itself works too. */
    char set[700];
    snprintf(set, sizeof(set), "%s/nist", pkidir);
    UT_EQ(euicc_init_dir(dir, set, PKI_SGP26_EID, NULL, &err), 0);
    UT_EQ(euicc_init_dir(dir, "/nonexistent/lpasim", NULL, NULL, &err), EUICC_ESYS);
}

static void test_init_sgp26(void)
{
    const char *shared = ut_shared_dir("lpa-sim init from SGP.26 files");
    if (!shared)
        return;
    char pkidir[600], dir[600];
    snprintf(pkidir, sizeof(pkidir), "%s/pki/sgp26", shared);
    snprintf(dir, sizeof(dir), "%s/sgp26-brp", tmp_root);
    euicc_error err;
    int rc = euicc_init_dir(dir, pkidir, NULL, "brainpool", &err);
    UT_EQ(rc, 0);
    if (rc)
        fprintf(stderr, "    %s\n", err.detail);
    euicc *e = euicc_load_dir(dir, &err);
    UT_CHECK(e != NULL);
    if (e) {
        UT_CHECK(strcmp(euicc_eid(e), "89049032123451234512345678901235") == 0);
        UT_EQ(rsp_ci_store_count(euicc_cis(e)), 2); /* both SGP.26 CIs */
        der_writer w;
        der_w_init(&w);
        UT_EQ(euicc_get_info1(e, &w), 0);
        der_w_free(&w);
        euicc_free(e);
    }
}

/* An eUICC straight from files: identity and CI lists as from a directory; unreadable files refused. */
static void test_load_files(void)
{
    char root[600], cert[700], key[700], eum[700], ci[700];
    snprintf(root, sizeof(root), "%s/files", tmp_root);
    write_rsp_pki(root);
    snprintf(cert, sizeof(cert), "%s/nist/euicc/%s/euicc.pem", root, PKI_SGP26_EID);
    snprintf(key, sizeof(key), "%s/nist/euicc/%s/euicc.key.pem", root, PKI_SGP26_EID);
    snprintf(eum, sizeof(eum), "%s/nist/eum/eum.der", root);
    snprintf(ci, sizeof(ci), "%s/nist/ci/ci.pem", root);
    const char *cis[1] = {ci};
    euicc_error err;
    euicc *e = euicc_load_files(cert, key, eum, cis, 1, &err);
    UT_CHECK(e != NULL);
    if (e) {
        UT_CHECK(strcmp(euicc_eid(e), PKI_SGP26_EID) == 0);
        UT_EQ(rsp_ci_store_count(euicc_cis(e)), 1);
        UT_EQ(X509_cmp(euicc_certificate(e), pki.euicc.cert), 0);
        der_writer w;
        der_w_init(&w);
        UT_EQ(euicc_get_info1(e, &w), 0);
        UT_EQ(der_w_finish(&w), 0);
        /* the EUM's CI is in both key-id lists: BF20 { 82 svn, A9 {04 id}, AA {04 id} } */
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(pki.ci.cert);
        const uint8_t *id = ASN1_STRING_get0_data(ski);
        size_t n = (size_t)ASN1_STRING_length(ski), hits = 0;
        for (size_t i = 0; i + n <= w.len; i++)
            hits += memcmp(w.buf + i, id, n) == 0;
        UT_EQ(hits, 2);
        der_w_free(&w);
        euicc_free(e);
    }
    const char *missing[1] = {"/nonexistent/ci.pem"};
    UT_CHECK(euicc_load_files(cert, key, eum, missing, 1, &err) == NULL);
    UT_CHECK(strstr(err.detail, "/nonexistent/ci.pem") != NULL);
    UT_CHECK(euicc_load_files(cert, eum, eum, cis, 1, &err) == NULL);
    UT_CHECK(strstr(err.detail, "cannot load") != NULL);
    /* a key that is not the certificate's */
    snprintf(key, sizeof(key), "%s/nist/ci/ci.key.pem", root);
    UT_CHECK(euicc_load_files(cert, key, eum, cis, 1, &err) == NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    const char *base = getenv("TEST_TMPDIR");
    snprintf(tmp_root, sizeof(tmp_root), "%s/lpasim-store-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp_root) || ts_pki_init(&pki, PKI_CURVE_NIST) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    UT_RUN(test_init_and_roundtrip);
    UT_RUN(test_init_wrong_eid);
    UT_RUN(test_init_sgp26);
    UT_RUN(test_load_files);
    ts_pki_clear(&pki);
    nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return ut_finish();
}
