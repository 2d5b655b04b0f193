/* Tests of the SM-DS core: configuration checks, trust reloads, server-to-server caller identities. */
#include "smds/smds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/crl.h"
#include "smds/store_testutil.h"
#include "smds/testutil.h"
#include "tests/unit/ut.h"

static char pki[1024], other[1024], state[1024];

static char *path(char *buf, size_t cap, const char *base, const char *rel)
{
    snprintf(buf, cap, "%s/%s", base, rel);
    return buf;
}

static const char *rsp_pki;

/* smds_new with one CI, one DSauth and its key; returns NULL or the instance. */
static smds_t *try_new(const char *fqdn, const char *ci, const char *cert, const char *key, char *err,
                       size_t errlen)
{
    const char *cis[] = {ci}, *certs[] = {cert}, *keys[] = {key};
    smds_config cfg = *tu_config(pki, state, true);
    cfg.fqdn = fqdn;
    cfg.ci_files = cis;
    cfg.auth_certs = certs;
    cfg.auth_keys = keys;
    return smds_new(&cfg, err, errlen);
}

static void test_config_errors(void)
{
    char ci[1200], bci[1200], cert[1200], key[1200], bkey[1200], bcert[1200], tls[1200], tlskey[1200],
        err[512];
    path(ci, sizeof(ci), pki, "nist/ci/ci.pem");
    path(bci, sizeof(bci), pki, "brainpool/ci/ci.pem");
    path(cert, sizeof(cert), pki, "nist/smds/dsauth.pem");
    path(key, sizeof(key), pki, "nist/smds/dsauth.key.pem");
    path(bcert, sizeof(bcert), pki, "brainpool/smds/dsauth.pem");
    path(bkey, sizeof(bkey), pki, "brainpool/smds/dsauth.key.pem");
    path(tls, sizeof(tls), pki, "nist/smds/dstls.pem");
    path(tlskey, sizeof(tlskey), pki, "nist/smds/dstls.key.pem");

    smds_t *x = try_new(TU_FQDN, ci, cert, key, err, sizeof(err));
    UT_CHECK(x != NULL);
    smds_free(x);
    UT_CHECK(try_new("", ci, cert, key, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "FQDN") != NULL);
    UT_CHECK(try_new(TU_FQDN, "/nonexistent/ci.pem", cert, key, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "/nonexistent/ci.pem") != NULL);
    UT_CHECK(try_new(TU_FQDN, ci, cert, bkey, err, sizeof(err)) == NULL); /* key of another certificate */
    UT_CHECK(strstr(err, "does not match") != NULL);
    UT_CHECK(try_new(TU_FQDN, ci, bcert, bkey, err, sizeof(err)) == NULL); /* issued by an unconfigured CI */
    UT_CHECK(try_new(TU_FQDN, bci, cert, key, err, sizeof(err)) == NULL);
    UT_CHECK(try_new(TU_FQDN, ci, tls, tlskey, err, sizeof(err)) == NULL); /* not a DSauth certificate */
    /* an expired CI, and a sub-CA, are no trust anchors: refused at start */
    char old_ci[1200], sub[1200];
    path(old_ci, sizeof(old_ci), state, "expired-ci");
    path(sub, sizeof(sub), state, "ci-subca");
    UT_EQ(tu_sh("'%s' mint --kind ci --out '%s' --not-before -400d --not-after -1d >/dev/null", rsp_pki,
                old_ci),
          0);
    UT_EQ(tu_sh("'%s' mint --kind ci-subca --out '%s' --issuer-cert '%s/nist/ci/ci.pem' --issuer-key "
                "'%s/nist/ci/ci.key.pem' >/dev/null",
                rsp_pki, sub, pki, pki),
          0);
    strcat(old_ci, ".pem");
    strcat(sub, ".pem");
    UT_CHECK(try_new(TU_FQDN, old_ci, cert, key, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "expired") != NULL);
    UT_CHECK(try_new(TU_FQDN, sub, cert, key, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "sub-CA") != NULL);

    /* v3 CERT.DSauth: v3 policy under the CI (Ov3), under an SM-DS sub-CA (A), a CI sub-CA (B) or both (C),
     * the intermediates after the certificate in its file; without them it is refused */
    static const char *const variants[] = {"Ov3", "A", "B", "C"};
    for (size_t v = 0; v < 4; v++) {
        char vdir[1100], bundle[1200], vkey[1200], alone[1200];
        snprintf(vdir, sizeof(vdir), "%s/v3%s", state, variants[v]);
        path(bundle, sizeof(bundle), vdir, "bundle.pem");
        path(vkey, sizeof(vkey), vdir, "nist/smds/dsauth.key.pem");
        path(alone, sizeof(alone), vdir, "nist/smds/dsauth.pem");
        UT_EQ(tu_sh("'%s' init --out '%s' --variant %s --ci-cert '%s/nist/ci/ci.pem' --ci-key "
                    "'%s/nist/ci/ci.key.pem' "
                    ">/dev/null && cat '%s/nist/smds/dsauth.pem' > '%s' && { ! test -f "
                    "'%s/nist/smds/chain.pem' || "
                    "cat '%s/nist/smds/chain.pem' >> '%s'; }",
                    rsp_pki, vdir, variants[v], pki, pki, vdir, bundle, vdir, vdir, bundle),
              0);
        x = try_new(TU_FQDN, ci, bundle, vkey, err, sizeof(err));
        UT_CHECK(x != NULL);
        if (x) {
            smds_trust *t = smds_trust_get(x);
            UT_EQ(t->nauth, 1);
            UT_EQ(t->auth[0].others != NULL, v != 0);
            smds_trust_put(t);
            smds_free(x);
        }
        if (v != 0)
            UT_CHECK(try_new(TU_FQDN, ci, alone, vkey, err, sizeof(err)) == NULL);
    }

    /* CRLs: a good one loads; one signed by another CI is refused unless crl_policy is warn; a
     * reload reads the files again */
    char good_crl[1200], other_crl[1200], other_ci[1200];
    path(good_crl, sizeof(good_crl), state, "good.crl");
    path(other_crl, sizeof(other_crl), state, "other.crl");
    path(other_ci, sizeof(other_ci), state, "other-ci");
    UT_EQ(
        tu_sh("'%s' crl --issuer-cert '%s/nist/ci/ci.pem' --issuer-key '%s/nist/ci/ci.key.pem' --out '%s' && "
              "'%s' mint --kind ci --out '%s' >/dev/null && '%s' crl --issuer-cert '%s.pem' --issuer-key "
              "'%s.key.pem' --out '%s'",
              rsp_pki, pki, pki, good_crl, rsp_pki, other_ci, rsp_pki, other_ci, other_ci, other_crl),
        0);
    smds_config ccfg = *tu_config(pki, state, true);
    const char *crls[1] = {good_crl};
    ccfg.crl_files = crls;
    ccfg.n_crl_files = 1;
    x = smds_new(&ccfg, err, sizeof(err));
    UT_CHECK(x != NULL);
    smds_free(x);
    crls[0] = other_crl;
    UT_CHECK(smds_new(&ccfg, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "CRL") != NULL);
    ccfg.crl_policy = RSP_CRL_WARN;
    x = smds_new(&ccfg, err, sizeof(err));
    UT_CHECK(x != NULL);
    smds_free(x);
    /* a good file replaced by a bad one: the reload fails and keeps the previous trust */
    crls[0] = good_crl;
    ccfg.crl_policy = RSP_CRL_REFUSE;
    x = smds_new(&ccfg, err, sizeof(err));
    UT_CHECK(x != NULL);
    UT_EQ(tu_sh("cp '%s' '%s'", other_crl, good_crl), 0);
    UT_CHECK(smds_reload(x, err, sizeof(err)) != 0);
    UT_CHECK(strstr(err, "CRL") != NULL);
    smds_free(x);

    /* two CERT.DSauth for one CI */
    smds_config cfg = *tu_config(pki, state, true);
    const char *events = cfg.store_dir, *certs[] = {cert, cert}, *keys[] = {key, key};
    cfg.auth_certs = certs;
    cfg.auth_keys = keys;
    cfg.n_auth = 2;
    UT_CHECK(smds_new(&cfg, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "same CI") != NULL);
    cfg.n_auth = 1;
    cfg.store_dir = NULL;
    UT_CHECK(smds_new(&cfg, err, sizeof(err)) == NULL);
    /* a root without a requester is refused */
    cfg.store_dir = events;
    smds_root_config root = {.address = "127.0.0.1:9"};
    cfg.root = &root;
    UT_CHECK(smds_new(&cfg, err, sizeof(err)) == NULL);
}

static void test_address(void)
{
    smds_t *x = tu_smds(pki, state, NULL, NULL, NULL);
    UT_CHECK(x != NULL);
    if (!x)
        return;
    UT_CHECK(smds_is_own_address(x, TU_FQDN, strlen(TU_FQDN)));
    UT_CHECK(smds_is_own_address(x, "TESTSMDS.EXAMPLE.COM", strlen(TU_FQDN)));
    UT_CHECK(!smds_is_own_address(x, TU_FQDN, strlen(TU_FQDN) - 1));
    UT_CHECK(!smds_is_own_address(x, "testsmds.example.co", strlen(TU_FQDN) - 1));
    UT_CHECK(!smds_is_own_address(x, "testsmds.example.com.", strlen(TU_FQDN) + 1));
    smds_free(x);
}

static void test_reload(void)
{
    smds_t *x = tu_smds(pki, state, NULL, NULL, NULL);
    UT_CHECK(x != NULL);
    if (!x)
        return;
    smds_trust *before = smds_trust_get(x);
    UT_EQ(before->nauth, 2);
    UT_EQ(rsp_ci_store_count(before->cis), 2);
    char ci[1200], moved[1300], err[512];
    path(ci, sizeof(ci), pki, "brainpool/ci/ci.pem");
    snprintf(moved, sizeof(moved), "%s.away", ci);
    UT_EQ(rename(ci, moved), 0);
    UT_EQ(smds_reload(x, err, sizeof(err)), -1);
    smds_trust *same = smds_trust_get(x);
    UT_CHECK(same == before); /* nothing changed */
    smds_trust_put(same);
    UT_EQ(rename(moved, ci), 0);
    UT_EQ(smds_reload(x, err, sizeof(err)), 0);
    smds_trust *after = smds_trust_get(x);
    UT_CHECK(after != before);
    UT_EQ(after->nauth, 2);
    /* the old snapshot stays usable by whoever still holds it */
    UT_EQ(rsp_ci_store_count(before->cis), 2);
    smds_trust_put(before);
    smds_trust_put(after);
    smds_free(x);
}

static int check(smds_t *x, const char *cert_path, rsp_peer_identity **id)
{
    X509 *leaf = rsp_load_cert(cert_path);
    UT_CHECK(leaf != NULL);
    *id = NULL;
    int rc = smds_peer_check(x, leaf, NULL, (void **)id);
    X509_free(leaf);
    return rc;
}

static void test_peers(void)
{
    smds_t *x = tu_smds(pki, state, NULL, NULL, NULL);
    UT_CHECK(x != NULL);
    if (!x)
        return;
    char p[1200];
    rsp_peer_identity *id;
    UT_EQ(check(x, path(p, sizeof(p), pki, "nist/smdp/dptls.pem"), &id), 0);
    if (id) {
        UT_EQ(id->role, RSP_PEER_DP);
        UT_CHECK(strcmp(id->oid, "2.999.10") == 0);
        UT_CHECK(rsp_peer_has_dns(id, "testsmdpplus1.example.com"));
        rsp_arena *a = rsp_arena_new(4096);
        smds_caller who;
        UT_EQ(smds_caller_from_peer(id, a, &who), 0);
        UT_CHECK(strcmp(who.owner, "2.999.10") == 0);
        UT_EQ(who.role, RSP_PEER_DP);
        UT_CHECK(who.ndns >= 1 && strcmp(who.dns[0], "testsmdpplus1.example.com") == 0);
        rsp_arena_free(a);
        smds_peer_free(id);
    }
    UT_EQ(check(x, path(p, sizeof(p), pki, "brainpool/smds/dstls.pem"), &id), 0);
    if (id) {
        UT_EQ(id->role, RSP_PEER_DS);
        smds_peer_free(id);
    }
    /* not a TLS role, and a foreign CI */
    UT_EQ(check(x, path(p, sizeof(p), pki, "nist/smds/dsauth.pem"), &id), -1);
    UT_CHECK(id == NULL);
    UT_EQ(check(x, path(p, sizeof(p), other, "nist/smdp/dptls.pem"), &id), -1);
    UT_CHECK(id == NULL);
    smds_peer_free(NULL);

    /* without an OID the first DNS name is the owner; an empty identity names nobody */
    char *names[] = {"a.example.com", "b.example.com"};
    rsp_peer_identity dnsonly = {.role = RSP_PEER_DP, .dns = names, .ndns = 2};
    rsp_arena *a = rsp_arena_new(4096);
    smds_caller who;
    UT_EQ(smds_caller_from_peer(&dnsonly, a, &who), 0);
    UT_CHECK(strcmp(who.owner, "a.example.com") == 0);
    rsp_peer_identity empty = {.role = RSP_PEER_DP};
    UT_EQ(smds_caller_from_peer(&empty, a, &who), -1);
    UT_EQ(smds_caller_from_peer(NULL, a, &who), -1);
    rsp_arena_free(a);
    smds_free(x);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: smds_test <rsp-pki>\n");
        return 2;
    }
    if (tu_store_start(TEST_STORE, "smds_test") != 0)
        return 0;
    snprintf(pki, sizeof(pki), "%s", tu_dir("smds_pki"));
    snprintf(other, sizeof(other), "%s", tu_dir("smds_other"));
    snprintf(state, sizeof(state), "%s", tu_dir("smds_state"));
    rsp_pki = argv[1];
    if (tu_pki(argv[1], pki) || tu_pki(argv[1], other))
        return 1;
    UT_RUN(test_config_errors);
    UT_RUN(test_address);
    UT_RUN(test_reload);
    UT_RUN(test_peers);
    tu_store_stop();
    return ut_finish();
}
