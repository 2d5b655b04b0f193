#include "rsp/crl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "rsp/cert_impl.h"
#include "rsp/log.h"

#define CRL_MAX 64

typedef struct crl_ent {
    X509_CRL *crl;
    bool ci_issued; /* its issuer is a CI of the store */
    bool ci_ok;     /* ... and it verified with that CI's key */
    atomic_bool warned;
    char path[256];
} crl_ent;

struct rsp_crl_set {
    crl_ent v[CRL_MAX];
    size_t n;
    rsp_crl_policy policy;
};

static atomic_uint_fast64_t untrusted_total;

uint64_t rsp_crl_untrusted_total(void)
{
    return atomic_load(&untrusted_total);
}

int rsp_crl_policy_parse(const char *s, rsp_crl_policy *p)
{
    if (s && strcmp(s, "refuse") == 0)
        *p = RSP_CRL_REFUSE;
    else if (s && strcmp(s, "warn") == 0)
        *p = RSP_CRL_WARN;
    else
        return -1;
    return 0;
}

rsp_crl_set *rsp_crl_set_new(rsp_crl_policy policy)
{
    rsp_crl_set *s = calloc(1, sizeof(*s));
    if (s)
        s->policy = policy;
    return s;
}

void rsp_crl_set_free(rsp_crl_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        X509_CRL_free(s->v[i].crl);
    free(s);
}

size_t rsp_crl_set_count(const rsp_crl_set *s)
{
    return s ? s->n : 0;
}

/* The CI of the store named as the CRL's issuer. */
static X509 *crl_ci(const rsp_ci_store *cis, X509_CRL *crl)
{
    for (size_t i = 0; i < rsp_ci_store_count(cis); i++) {
        X509 *ci = rsp_ci_store_get(cis, i, NULL, NULL);
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ci)) == 0)
            return ci;
    }
    return NULL;
}

static int add_crl(rsp_crl_set *s, const rsp_ci_store *cis, X509_CRL *crl, const char *path)
{
    if (s->n == CRL_MAX) {
        rsp_cert_why("more than %d CRLs", CRL_MAX);
        return -1;
    }
    X509 *ci = crl_ci(cis, crl);
    bool ok = ci && X509_CRL_verify(crl, X509_get0_pubkey(ci)) == 1;
    ERR_clear_error();
    if (ci && !ok && s->policy == RSP_CRL_REFUSE) {
        rsp_cert_why("%s: CRL not signed by the CI it names", path);
        return -1;
    }
    crl_ent *e = &s->v[s->n++];
    e->crl = crl;
    e->ci_issued = ci != NULL;
    e->ci_ok = ok;
    atomic_init(&e->warned, false);
    snprintf(e->path, sizeof(e->path), "%s", path);
    return 0;
}

int rsp_crl_set_add_file(rsp_crl_set *s, const rsp_ci_store *cis, const char *path)
{
    rsp_cert_why_reset();
    FILE *f = s && path ? fopen(path, "rb") : NULL;
    if (!f) {
        rsp_cert_why("%s: cannot open", path ? path : "(null)");
        return -1;
    }
    size_t before = s->n;
    X509_CRL *crl;
    int rc = 0;
    while (rc == 0 && (crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL)
        if ((rc = add_crl(s, cis, crl, path)) != 0)
            X509_CRL_free(crl);
    ERR_clear_error();
    if (rc == 0 && s->n == before) {
        rewind(f);
        crl = d2i_X509_CRL_fp(f, NULL);
        if (!crl) {
            rsp_cert_why("%s: not a CRL (DER or PEM)", path);
            rc = -1;
        } else if ((rc = add_crl(s, cis, crl, path)) != 0) {
            X509_CRL_free(crl);
        }
    }
    fclose(f);
    ERR_clear_error();
    return rc;
}

int rsp_ci_store_load_crls(rsp_ci_store *cis, const char *const *files, size_t n, rsp_crl_policy policy)
{
    if (n == 0)
        return 0;
    rsp_crl_set *s = rsp_crl_set_new(policy);
    for (size_t i = 0; s && i < n; i++) {
        if (rsp_crl_set_add_file(s, cis, files[i]) != 0) {
            rsp_crl_set_free(s);
            return -1;
        }
    }
    if (!s)
        return -1;
    rsp_ci_store_set_crls(cis, s);
    return 0;
}

bool rsp_crl_covers(const rsp_crl_set *s, X509 *issuer)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (X509_NAME_cmp(X509_CRL_get_issuer(s->v[i].crl), X509_get_subject_name(issuer)) == 0)
            return true;
    return false;
}

/* Why a CRL naming issuer cannot be trusted now, or NULL. */
static const char *untrusted(const crl_ent *e, X509 *issuer, time_t now)
{
    if (e->ci_issued ? !e->ci_ok : X509_CRL_verify(e->crl, X509_get0_pubkey(issuer)) != 1)
        return "its signature does not verify with the issuer's key";
    time_t t = now;
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(e->crl);
    if (X509_cmp_time(X509_CRL_get0_lastUpdate(e->crl), &t) > 0)
        return "thisUpdate is in the future";
    if (next == NULL || X509_cmp_time(next, &t) <= 0)
        return "stale (nextUpdate passed or absent)";
    return NULL;
}

int rsp_crl_status(const rsp_crl_set *s, X509 *issuer, const ASN1_INTEGER *serial, time_t now)
{
    int st = RSP_CRL_GOOD;
    for (size_t i = 0; s && i < s->n && st != RSP_CRL_REVOKED; i++) {
        crl_ent *e = (crl_ent *)&s->v[i];
        if (X509_NAME_cmp(X509_CRL_get_issuer(e->crl), X509_get_subject_name(issuer)) != 0)
            continue;
        const char *why = untrusted(e, issuer, now);
        ERR_clear_error();
        if (why) {
            atomic_fetch_add(&untrusted_total, 1);
            if (s->policy == RSP_CRL_REFUSE) {
                rsp_cert_why("CRL %s: %s: revocation status unknown", e->path, why);
                st = RSP_CRL_UNKNOWN;
            } else if (!atomic_exchange(&e->warned, true)) {
                rsp_log(RSP_LOG_WARN, "CRL %s ignored: %s", e->path, why);
            }
            continue;
        }
        X509_REVOKED *r = NULL;
        if (X509_CRL_get0_by_serial(e->crl, &r, serial) == 1) {
            rsp_cert_why("certificate serial revoked by CRL %s", e->path);
            st = RSP_CRL_REVOKED;
        }
    }
    return st;
}
