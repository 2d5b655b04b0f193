/* Tests of the ES9+ setup checks and routes (the handlers run end to end in
 * tests/integration/smdp). */
#include "smdp_default/es9p.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ut.h"

static char dir[1024];
static smdp_orders *orders;
static smdp_mkey mk;

static void path(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", dir, rel);
}

/* An smdp_es9p over the given auth / pb files (relative to the PKI), or NULL with err. */
static smdp_es9p *make(const char *fqdn, const char *ci_rel, const char *auth_rel[2], const char *pb_rel[2],
                       size_t n, char *err, size_t errlen)
{
    char ci[1200], secret[1200], ac[2][1200], ak[2][1200], pc[2][1200], pk[2][1200];
    path(ci, sizeof(ci), ci_rel);
    path(secret, sizeof(secret), "txn.secret");
    const char *cis[] = {ci}, *acs[2], *aks[2], *pcs[2], *pks[2];
    for (size_t i = 0; i < n; i++) {
        snprintf(ac[i], sizeof(ac[i]), "%s/%s.pem", dir, auth_rel[i]);
        snprintf(ak[i], sizeof(ak[i]), "%s/%s.key.pem", dir, auth_rel[i]);
        snprintf(pc[i], sizeof(pc[i]), "%s/%s.pem", dir, pb_rel[i]);
        snprintf(pk[i], sizeof(pk[i]), "%s/%s.key.pem", dir, pb_rel[i]);
        acs[i] = ac[i];
        aks[i] = ak[i];
        pcs[i] = pc[i];
        pks[i] = pk[i];
    }
    smdp_es9p_config cfg = {.fqdn = fqdn,
                            .ci_files = cis,
                            .n_ci = 1,
                            .auth_certs = acs,
                            .auth_keys = aks,
                            .n_auth = n,
                            .pb_certs = pcs,
                            .pb_keys = pks,
                            .n_pb = n,
                            .txn_secret_file = secret,
                            .orders = orders,
                            .mk = &mk};
    err[0] = 0;
    return smdp_es9p_new(&cfg, err, errlen);
}

static void test_setup(void)
{
    char err[512];
    const char *auth[2] = {"nist/smdp/dpauth", NULL}, *pb[2] = {"nist/smdp/dppb", NULL};
    smdp_es9p *e = make("testsmdpplus1.example.com", "nist/ci/ci.pem", auth, pb, 1, err, sizeof(err));
    UT_CHECK(e != NULL);
    rsp_http_server_t *srv = rsp_http_server_new(NULL);
    rsp_http_listener_config_t dev = {.name = "device", .plain = 1};
    int d = rsp_http_listener_add(srv, &dev, err, sizeof(err));
    UT_EQ(smdp_es9p_routes(e, srv, d), 0);
    UT_EQ(smdp_es9p_routes(e, srv, d), -1); /* each path once */
    rsp_http_server_free(srv);
    smdp_es9p_free(e);

    /* roles: a CERT.DPpb is not a CERT.DPauth and the other way round */
    const char *swapped_a[2] = {"nist/smdp/dppb", NULL}, *swapped_p[2] = {"nist/smdp/dpauth", NULL};
    UT_CHECK(make("testsmdpplus1.example.com", "nist/ci/ci.pem", swapped_a, pb, 1, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "dppb.pem") != NULL);
    UT_CHECK(make("testsmdpplus1.example.com", "nist/ci/ci.pem", auth, swapped_p, 1, err, sizeof(err)) ==
             NULL);
    /* a certificate under a CI that is not configured */
    const char *bp_a[2] = {"brainpool/smdp/dpauth", NULL};
    UT_CHECK(make("testsmdpplus1.example.com", "nist/ci/ci.pem", bp_a, pb, 1, err, sizeof(err)) == NULL);
    /* two certificates for one CI */
    const char *two_a[2] = {"nist/smdp/dpauth", "nist/smdp/dpauth"},
               *two_p[2] = {"nist/smdp/dppb", "nist/smdp/dppb"};
    UT_CHECK(make("testsmdpplus1.example.com", "nist/ci/ci.pem", two_a, two_p, 2, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "same CI") != NULL);
    /* no FQDN, no certificates */
    UT_CHECK(make("", "nist/ci/ci.pem", auth, pb, 1, err, sizeof(err)) == NULL);
    UT_CHECK(make("testsmdpplus1.example.com", "nist/ci/ci.pem", auth, pb, 0, err, sizeof(err)) == NULL);
}

static void test_key_mismatch(void)
{
    char cmd[8192], err[512];
    /* the DPauth certificate with the DPpb key */
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/mix && cp %s/nist/smdp/dpauth.pem %s/mix/a.pem && "
             "cp %s/nist/smdp/dppb.key.pem %s/mix/a.key.pem",
             dir, dir, dir, dir, dir);
    UT_EQ(system(cmd), 0);
    const char *auth[2] = {"mix/a", NULL}, *pb[2] = {"nist/smdp/dppb", NULL};
    UT_CHECK(make("testsmdpplus1.example.com", "nist/ci/ci.pem", auth, pb, 1, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "does not match its key") != NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: es9p_test <rsp-pki>\n");
        return 2;
    }
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/es9p_test", tmp ? tmp : "/tmp");
    char cmd[8192], db[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s && %s init --out %s --curve both >/dev/null", dir,
             dir, argv[1], dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot mint the test PKI\n");
        return 1;
    }
    path(db, sizeof(db), "orders");
    if (smdp_orders_open(&orders, db, NULL) != 0)
        return 1;
    uint8_t k[SMDP_MKEY_LEN] = {1};
    smdp_mkey_set(&mk, k);
    UT_RUN(test_setup);
    UT_RUN(test_key_mismatch);
    smdp_orders_close(orders);
    smdp_mkey_wipe(&mk);
    return ut_finish();
}
