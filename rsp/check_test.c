/* Unit tests of rsp/check: good files pass; expired, mismatched, unchained, missing and readable files
 * are each reported as errors (or a warning) naming the key. */
#include "rsp/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "rsp/cert_testutil.h"
#include "tests/unit/ut.h"

static char dir[400];

static const char *file(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

static void write_cert(const char *name, X509 *x, X509 *extra)
{
    FILE *f = fopen(file(name), "w");
    PEM_write_X509(f, x);
    if (extra)
        PEM_write_X509(f, extra);
    fclose(f);
}

static void write_key(const char *name, EVP_PKEY *k, mode_t mode)
{
    const char *p = file(name);
    FILE *f = fopen(p, "w");
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    chmod(p, mode);
}

/* Runs fn's output into a buffer; returns the error count. */
static char out[8192];
static FILE *sink(void)
{
    memset(out, 0, sizeof(out));
    return fmemopen(out, sizeof(out) - 1, "w");
}

static void test_checks(void)
{
    time_t now = time(NULL);
    EVP_PKEY *ci_key = ct_key("P-256"), *leaf_key = ct_key("P-256"), *other_key = ct_key("P-256");
    ct_opts co = ct_ci_opts(now);
    X509 *ci = ct_issue(&co, ci_key, NULL, ci_key);
    ct_opts lo = ct_tls_opts(now, "2.23.146.1.2.1.3", "DNS:smds.example.com");
    X509 *leaf = ct_issue(&lo, leaf_key, ci, ci_key);
    ct_opts eo = ct_tls_opts(now, "2.23.146.1.2.1.3", "DNS:old.example.com");
    eo.not_before = now - 20 * 86400;
    eo.not_after = now - 86400;
    X509 *expired = ct_issue(&eo, leaf_key, ci, ci_key);
    ct_opts so = ct_tls_opts(now, "2.23.146.1.2.1.3", "DNS:soon.example.com");
    so.not_after = now + 5 * 86400;
    X509 *soon = ct_issue(&so, leaf_key, ci, ci_key);
    ct_opts oo = ct_ci_opts(now);
    oo.cn = "Other CI";
    X509 *other_ci = ct_issue(&oo, other_key, NULL, other_key);
    UT_CHECK(ci && leaf && expired && soon && other_ci);
    write_cert("ci.pem", ci, NULL);
    write_cert("other-ci.pem", other_ci, NULL);
    write_cert("leaf.pem", leaf, NULL);
    write_cert("expired.pem", expired, NULL);
    write_cert("soon.pem", soon, NULL);
    write_key("leaf.key", leaf_key, 0600);
    write_key("other.key", other_key, 0600);
    write_key("open.key", leaf_key, 0644);

    char list[1100];
    snprintf(list, sizeof(list), "%s, %s", file("ci.pem"), file("leaf.pem"));
    FILE *f = sink();
    UT_EQ(rsp_check_certs(f, "smds.ci", list), 0);
    fclose(f);
    UT_CHECK(strstr(out, "ok: smds.ci") != NULL);

    f = sink();
    UT_EQ(rsp_check_certs(f, "tls.cert", file("expired.pem")), 1);
    UT_EQ(rsp_check_certs(f, "tls.cert", file("soon.pem")), 0);
    UT_EQ(rsp_check_certs(f, "tls.cert", file("missing.pem")), 1);
    UT_EQ(rsp_check_certs(f, "tls.cert", file("leaf.key")), 1);
    fclose(f);
    UT_CHECK(strstr(out, "has expired") != NULL);
    UT_CHECK(strstr(out, "warning: tls.cert") != NULL);
    UT_CHECK(strstr(out, "No such file") != NULL);

    f = sink();
    UT_EQ(rsp_check_key_pairs(f, "tls.cert", file("leaf.pem"), "tls.key", file("leaf.key")), 0);
    UT_EQ(rsp_check_key_pairs(f, "tls.cert", file("leaf.pem"), "tls.key", file("other.key")), 1);
    UT_EQ(rsp_check_key_pairs(f, "tls.cert", file("leaf.pem"), "tls.key", file("ci.pem")), 1);
    UT_EQ(rsp_check_key_pairs(f, "tls.cert", file("leaf.pem"), "tls.key", ""), 1);
    UT_EQ(rsp_check_key_pairs(f, "tls.cert", file("leaf.pem"), "tls.key", file("open.key")), 0);
    fclose(f);
    UT_CHECK(strstr(out, "does not belong") != NULL);
    UT_CHECK(strstr(out, "no PEM private key") != NULL);
    UT_CHECK(strstr(out, "names 1 files but tls.key names 0") != NULL);
    UT_CHECK(strstr(out, "chmod 600") != NULL);

    snprintf(list, sizeof(list), "%s,%s", file("other-ci.pem"), file("ci.pem"));
    f = sink();
    UT_EQ(rsp_check_chains(f, "tls.cert", file("leaf.pem"), "smds.ci", list), 0);
    UT_EQ(rsp_check_chains(f, "tls.cert", file("leaf.pem"), "smds.ci", file("other-ci.pem")), 1);
    UT_EQ(rsp_check_chains(f, "tls.cert", file("expired.pem"), "smds.ci", file("ci.pem")), 1);
    fclose(f);
    UT_CHECK(strstr(out, "does not chain") != NULL);

    EVP_PKEY *bp_key = ct_key("brainpoolP256r1");
    X509 *bp_leaf = ct_issue(&lo, bp_key, ci, ci_key);
    UT_CHECK(bp_leaf != NULL);
    write_cert("bp.pem", bp_leaf, NULL);
    f = sink();
    UT_EQ(rsp_check_tls_curve(f, "tls.cert", file("leaf.pem")), 0);
    fflush(f);
    UT_CHECK(out[0] == '\0'); /* nothing to say about P-256 */
    snprintf(list, sizeof(list), "%s,%s", file("bp.pem"), file("missing.pem"));
    UT_EQ(rsp_check_tls_curve(f, "tls.cert", list), 0);
    fclose(f);
    UT_CHECK(strstr(out, "warning: tls.cert: ") != NULL && strstr(out, "a brainpoolP256r1 key") != NULL);
    X509_free(bp_leaf);
    EVP_PKEY_free(bp_key);

    f = sink();
    UT_EQ(rsp_check_secret(f, "transaction secret", file("leaf.key"), "smds"), 0);
    UT_EQ(rsp_check_secret(f, "transaction secret", file("open.key"), "smds"), 1);
    UT_EQ(rsp_check_secret(f, "transaction secret", file("none"), "smds"), 1);
    fclose(f);
    UT_CHECK(strstr(out, "mode 0600") != NULL);
    UT_CHECK(strstr(out, "`smds init`") != NULL);

    X509_free(ci);
    X509_free(leaf);
    X509_free(expired);
    X509_free(soon);
    X509_free(other_ci);
    EVP_PKEY_free(ci_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(other_key);
}

int main(void)
{
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/check", tmp ? tmp : "/tmp");
    mkdir(dir, 0700);
    UT_RUN(test_checks);
    return ut_finish();
}
