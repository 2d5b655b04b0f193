#include "tools/rsp-pki/verify.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "rsp/cert.h"
#include "rsp/status.h"
#include "tools/pki/pki.h"

#define MAX_CI 16

static void usage(FILE *f)
{
    fprintf(f, "usage: rsp-pki verify-euicc --ci CERT [--ci CERT ...] --eum CERT --euicc CERT [--at TIME]\n"
               "  Certificates may be DER or PEM.  TIME as for `rsp-pki mint` (default: now).\n");
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

int rsp_pki_verify_euicc(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ci", required_argument, NULL, 'c'},    {"eum", required_argument, NULL, 'e'},
        {"euicc", required_argument, NULL, 'u'}, {"at", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *cis[MAX_CI];
    size_t ncis = 0;
    const char *eum_path = NULL, *euicc_path = NULL;
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
    if (optind != argc || ncis == 0 || !eum_path || !euicc_path) {
        usage(stderr);
        return 2;
    }

    int rc = 2;
    rsp_ci_store *store = rsp_ci_store_new();
    unsigned char *eum = NULL, *euicc = NULL;
    int eum_len = 0, euicc_len = 0;
    if (!store)
        goto out;
    for (size_t i = 0; i < ncis; i++) {
        if (rsp_ci_store_add_file(store, cis[i]) != 0) {
            fprintf(stderr, "rsp-pki: %s: not a usable CI certificate\n", cis[i]);
            goto out;
        }
    }
    if (!(eum = load_der(eum_path, &eum_len)) || !(euicc = load_der(euicc_path, &euicc_len)))
        goto out;

    rsp_euicc_identity id;
    memset(&id, 0, sizeof(id));
    rsp_status st = rsp_verify_euicc_chain(store, NULL, NULL, 0, eum, (size_t)eum_len, euicc,
                                           (size_t)euicc_len, now, &id);
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
    OPENSSL_free(eum);
    OPENSSL_free(euicc);
    if (store)
        rsp_ci_store_free(store);
    return rc;
}
