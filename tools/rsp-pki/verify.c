#include "tools/rsp-pki/verify.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "rsp/cert.h"
#include "rsp/chain.h"
#include "rsp/crl.h"
#include "rsp/status.h"
#include "tools/pki/pki.h"

#define MAX_CI 16

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: rsp-pki verify-euicc --ci CERT [--ci CERT ...] --eum CERT [--chain CERTS ...] --euicc CERT\n"
        "        [--at TIME] [--crl CRL ...] [--crl-policy refuse|warn]\n"
        "  --eum: the eUICC's issuer (nextCertInChain); --chain: otherCertsInChain (a PEM file may hold\n"
        "  several).  Certificates may be DER or PEM.  TIME as for `rsp-pki mint` (default: now).\n");
}

/* DER of a certificate file; PEM input is converted, DER input is kept as is. */
static unsigned char *load_der(const char *path, int *len)
{
    X509 *x = pki_load_cert(path);
    if (!x) {
        fprintf(stderr, "rsp-pki: %s\n", pki_last_error());
        return NULL;
    }
    unsigned char *der = NULL;
    *len = i2d_X509(x, &der);
    X509_free(x);
    if (*len <= 0) {
        fprintf(stderr, "rsp-pki: %s: cannot encode\n", path);
        OPENSSL_free(der);
        return NULL;
    }
    return der;
}

/* Appends the DER of every certificate in a chain file (one DER certificate, or PEM blocks). */
static int load_chain(const char *path, rsp_der *out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "rsp-pki: %s: cannot open\n", path);
        return -1;
    }
    X509 *x;
    size_t got = 0;
    while (*n < RSP_CHAIN_MAX_SENT && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        X509_free(x);
        if (len <= 0)
            break;
        out[(*n)++] = (rsp_der){der, (size_t)len};
        got++;
    }
    fclose(f);
    if (got == 0) {
        int len = 0;
        unsigned char *der = *n < RSP_CHAIN_MAX_SENT ? load_der(path, &len) : NULL;
        if (!der)
            return -1;
        out[(*n)++] = (rsp_der){der, (size_t)len};
    }
    return 0;
}

int rsp_pki_verify_euicc(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ci", required_argument, NULL, 'c'},
        {"eum", required_argument, NULL, 'e'},
        {"euicc", required_argument, NULL, 'u'},
        {"at", required_argument, NULL, 't'},
        {"chain", required_argument, NULL, 'k'},
        {"crl", required_argument, NULL, 'r'},
        {"crl-policy", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cis[MAX_CI];
    size_t ncis = 0;
    const char *eum_path = NULL, *euicc_path = NULL, *chains[RSP_CHAIN_MAX_SENT];
    size_t nchains = 0, ncrls = 0;
    const char *crls[MAX_CI];
    rsp_crl_policy policy = RSP_CRL_REFUSE;
    time_t now = time(NULL);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (ncis == MAX_CI) {
                fprintf(stderr, "rsp-pki: at most %d --ci\n", MAX_CI);
                return 2;
            }
            cis[ncis++] = optarg;
            break;
        case 'e':
            eum_path = optarg;
            break;
        case 'u':
            euicc_path = optarg;
            break;
        case 'r':
            if (ncrls == MAX_CI) {
                fprintf(stderr, "rsp-pki: at most %d --crl\n", MAX_CI);
                return 2;
            }
            crls[ncrls++] = optarg;
            break;
        case 'p':
            if (rsp_crl_policy_parse(optarg, &policy) != 0) {
                fprintf(stderr, "rsp-pki: --crl-policy must be refuse or warn\n");
                return 2;
            }
            break;
        case 'k':
            if (nchains == RSP_CHAIN_MAX_SENT - 1) {
                fprintf(stderr, "rsp-pki: at most %d --chain\n", RSP_CHAIN_MAX_SENT - 1);
                return 2;
            }
            chains[nchains++] = optarg;
            break;
        case 't':
            if (pki_parse_time(optarg, time(NULL), &now) != 0) {
                fprintf(stderr, "rsp-pki: %s\n", pki_last_error());
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || ncis == 0 || (!eum_path && !nchains) || !euicc_path) {
        usage(stderr);
        return 2;
    }

    int rc = 2;
    rsp_ci_store *store = rsp_ci_store_new();
    unsigned char *euicc = NULL;
    int euicc_len = 0;
    rsp_der chain[RSP_CHAIN_MAX_SENT];
    size_t n = 0;
    if (!store)
        goto out;
    for (size_t i = 0; i < ncis; i++) {
        if (rsp_ci_store_add_file(store, cis[i]) != 0) {
            fprintf(stderr, "rsp-pki: %s: not a usable CI certificate: %s\n", cis[i], rsp_cert_last_reason());
            goto out;
        }
    }
    if (rsp_ci_store_load_crls(store, crls, ncrls, policy) != 0) {
        fprintf(stderr, "rsp-pki: %s\n", rsp_cert_last_reason());
        goto out;
    }
    if (eum_path && load_chain(eum_path, chain, &n) != 0)
        goto out;
    for (size_t i = 0; i < nchains; i++)
        if (load_chain(chains[i], chain, &n) != 0)
            goto out;
    if (!(euicc = load_der(euicc_path, &euicc_len)))
        goto out;

    rsp_euicc_identity id;
    memset(&id, 0, sizeof(id));
    rsp_status st = rsp_verify_euicc_path(store, NULL, NULL, 0, chain, n, euicc, (size_t)euicc_len, now, &id);
    if (st == RSP_OK) {
        printf("OK %s\n", id.eid);
        rsp_euicc_identity_clear(&id);
        rc = 0;
    } else {
        const char *reason = rsp_cert_last_reason();
        printf("FAIL %s %s\n", rsp_status_str(st), reason && *reason ? reason : rsp_status_get(st)->message);
        rc = 1;
    }
out:
    for (size_t i = 0; i < n; i++)
        OPENSSL_free((void *)chain[i].p);
    OPENSSL_free(euicc);
    if (store)
        rsp_ci_store_free(store);
    return rc;
}
