/* rsp/check.c - see check.h. */
#include "rsp/check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "rsp/config.h"
#include "rsp/keyfile.h"

#define MAX_FILES 16

/* All certificates of a PEM file, or its one DER certificate; NULL when it holds none. */
static STACK_OF(X509) * load_certs(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while (sk != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x))
            X509_free(x);
    ERR_clear_error();
    if (sk != NULL && sk_X509_num(sk) == 0) {
        rewind(f);
        if ((x = d2i_X509_fp(f, NULL)) != NULL && !sk_X509_push(sk, x))
            X509_free(x);
        ERR_clear_error();
    }
    fclose(f);
    if (sk != NULL && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

static size_t split(const char *list, char **copy, const char **items)
{
    *copy = strdup(list ? list : "");
    return *copy ? rsp_config_split_list(*copy, items, MAX_FILES) : 0;
}

static void subject(X509 *x, char *buf, size_t cap)
{
    X509_NAME_oneline(X509_get_subject_name(x), buf, (int)cap);
}

int rsp_check_certs(FILE *out, const char *key, const char *list)
{
    char *copy;
    const char *files[MAX_FILES];
    size_t n = split(list, &copy, files);
    int errors = 0;
    for (size_t i = 0; i < n; i++) {
        STACK_OF(X509) *sk = load_certs(files[i]);
        if (sk == NULL) {
            fprintf(out, "error: %s: %s: no certificate (%s)\n", key, files[i],
                    errno ? strerror(errno) : "not PEM or DER");
            errors++;
            continue;
        }
        X509 *leaf = sk_X509_value(sk, 0);
        char name[256];
        subject(leaf, name, sizeof(name));
        time_t now = time(NULL), soon = now + RSP_CHECK_EXPIRY_WARN_DAYS * 86400;
        if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0) {
            fprintf(out, "error: %s: %s: %s is not valid yet\n", key, files[i], name);
            errors++;
        } else if (X509_cmp_time(X509_get0_notAfter(leaf), &now) < 0) {
            fprintf(out, "error: %s: %s: %s has expired\n", key, files[i], name);
            errors++;
        } else if (X509_cmp_time(X509_get0_notAfter(leaf), &soon) < 0) {
            fprintf(out, "warning: %s: %s: %s expires within %d days\n", key, files[i], name,
                    RSP_CHECK_EXPIRY_WARN_DAYS);
        } else {
            fprintf(out, "ok: %s: %s: %s\n", key, files[i], name);
        }
        sk_X509_pop_free(sk, X509_free);
    }
    free(copy);
    return errors;
}

int rsp_check_tls_curve(FILE *out, const char *key, const char *list)
{
    char *copy;
    const char *files[MAX_FILES];
    size_t n = split(list, &copy, files);
    for (size_t i = 0; i < n; i++) {
        STACK_OF(X509) *sk = load_certs(files[i]);
        if (sk == NULL)
            continue;
        char group[80] = "";
        EVP_PKEY *pk = X509_get0_pubkey(sk_X509_value(sk, 0));
        if (pk != NULL && EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) == 1 &&
            strncmp(group, "brainpool", 9) == 0)
            fprintf(out,
                    "warning: %s: %s: a %s key: OpenSSL 3.0 negotiates no brainpool in TLS 1.3 and common "
                    "clients offer none in TLS 1.2; use a P-256 TLS certificate (docs/pki.md)\n",
                    key, files[i], group);
        sk_X509_pop_free(sk, X509_free);
    }
    free(copy);
    return 0;
}

int rsp_check_key_pairs(FILE *out, const char *cert_key, const char *certs, const char *key_key,
                        const char *keys)
{
    char *cc, *kc;
    const char *cf[MAX_FILES], *kf[MAX_FILES];
    size_t nc = split(certs, &cc, cf), nk = split(keys, &kc, kf);
    int errors = 0;
    if (nc != nk) {
        fprintf(out, "error: %s names %zu files but %s names %zu\n", cert_key, nc, key_key, nk);
        errors++;
        nc = nc < nk ? nc : nk;
    }
    for (size_t i = 0; i < nc; i++) {
        struct stat st;
        if (stat(kf[i], &st) == 0 && (st.st_mode & 077) != 0)
            fprintf(out, "warning: %s: %s can be read by group or others (chmod 600)\n", key_key, kf[i]);
        FILE *f = fopen(kf[i], "rb");
        EVP_PKEY *pk = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
        if (f)
            fclose(f);
        STACK_OF(X509) *sk = load_certs(cf[i]);
        if (pk == NULL) {
            fprintf(out, "error: %s: %s: no PEM private key\n", key_key, kf[i]);
            errors++;
        } else if (sk != NULL && X509_check_private_key(sk_X509_value(sk, 0), pk) != 1) {
            fprintf(out, "error: %s: %s does not belong to the certificate in %s\n", key_key, kf[i], cf[i]);
            errors++;
        } else if (sk != NULL) {
            fprintf(out, "ok: %s: %s matches %s\n", key_key, kf[i], cf[i]);
        }
        ERR_clear_error();
        EVP_PKEY_free(pk);
        sk_X509_pop_free(sk, X509_free);
    }
    free(cc);
    free(kc);
    return errors;
}

int rsp_check_chains(FILE *out, const char *cert_key, const char *certs, const char *ca_key, const char *cas)
{
    char *cc, *ac;
    const char *cf[MAX_FILES], *af[MAX_FILES];
    size_t nc = split(certs, &cc, cf), na = split(cas, &ac, af);
    int errors = 0;
    X509_STORE *store = X509_STORE_new();
    for (size_t i = 0; store != NULL && i < na; i++) {
        STACK_OF(X509) *sk = load_certs(af[i]);
        for (int j = 0; sk != NULL && j < sk_X509_num(sk); j++)
            X509_STORE_add_cert(store, sk_X509_value(sk, j));
        sk_X509_pop_free(sk, X509_free);
    }
    for (size_t i = 0; store != NULL && i < nc; i++) {
        STACK_OF(X509) *sk = load_certs(cf[i]);
        if (sk == NULL)
            continue; /* reported by rsp_check_certs */
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        X509 *leaf = sk_X509_value(sk, 0);
        int ok = ctx != NULL && X509_STORE_CTX_init(ctx, store, leaf, sk) == 1 && X509_verify_cert(ctx) == 1;
        char name[256];
        subject(leaf, name, sizeof(name));
        if (ok) {
            fprintf(out, "ok: %s: %s chains to %s\n", cert_key, cf[i], ca_key);
        } else {
            int e = ctx ? X509_STORE_CTX_get_error(ctx) : X509_V_ERR_OUT_OF_MEM;
            fprintf(out, "error: %s: %s (%s) does not chain to %s: %s\n", cert_key, cf[i], name, ca_key,
                    X509_verify_cert_error_string(e));
            errors++;
        }
        ERR_clear_error();
        X509_STORE_CTX_free(ctx);
        sk_X509_pop_free(sk, X509_free);
    }
    if (store == NULL) {
        fprintf(out, "error: out of memory\n");
        errors++;
    }
    X509_STORE_free(store);
    free(cc);
    free(ac);
    return errors;
}

int rsp_check_secret(FILE *out, const char *what, const char *path, const char *service)
{
    char buf[4096];
    size_t len = 0;
    if (rsp_keyfile_read(path, buf, sizeof(buf), &len) == 0 && len > 0) {
        memset(buf, 0, sizeof(buf));
        fprintf(out, "ok: %s: %s\n", what, path);
        return 0;
    }
    int e = errno;
    memset(buf, 0, sizeof(buf));
    if (e == ENOENT)
        fprintf(out, "error: %s: %s does not exist (create it with `%s init`)\n", what, path, service);
    else if (e == EPERM)
        fprintf(out, "error: %s: %s must be a regular file of mode 0600\n", what, path);
    else
        fprintf(out, "error: %s: %s: %s\n", what, path, len == 0 && e == 0 ? "empty" : strerror(e));
    return 1;
}
