/* Tests of the SM-DS core: configuration checks, trust reloads, server-to-server caller identities. */
#include "smds/smds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smds/store_testutil.h"
#include "smds/testutil.h"
#include "tests/unit/ut.h"

static char pki[1024], other[1024], state[1024];

static char *path(char *buf, size_t cap, const char *base, const char *rel)
{
    snprintf(buf, cap, "%s/%s", base, rel);
    return buf;
}

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
    if (tu_pki(argv[1], pki) || tu_pki(argv[1], other))
        return 1;
    UT_RUN(test_config_errors);
    UT_RUN(test_address);
    UT_RUN(test_reload);
    UT_RUN(test_peers);
    tu_store_stop();
    return ut_finish();
}
