/*
 * Writes the seed inputs of //rsp:cert_fuzz into a directory:
 *   bazel run //rsp:cert_fuzz_seedgen -- "$PWD/rsp/testdata/cert_fuzz"
 * Chains are issued by the fixed test CI key (ct_fixed_ci_key), so they verify
 * inside the fuzz target; the other keys are fresh on each run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/cert.h"
#include "rsp/cert_fuzz.h"
#include "rsp/cert_testutil.h"

static int write_seed(const char *dir, const char *name, bool chosen, X509 *eum, X509 *euicc)
{
    size_t el, ul;
    uint8_t *e = ct_der(eum, &el), *u = ct_der(euicc, &ul);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (e && u && f && el < 0x8000) {
        uint8_t hdr[2] = {(uint8_t)((chosen ? 0x80 : 0) | (el >> 8)), (uint8_t)el};
        if (fwrite(hdr, 1, 2, f) == 2 && fwrite(e, 1, el, f) == el && fwrite(u, 1, ul, f) == ul)
            rc = 0;
    }
    if (f && fclose(f) != 0)
        rc = -1;
    free(e);
    free(u);
    if (rc != 0)
        fprintf(stderr, "cannot write %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    const time_t now = CERT_FUZZ_NOW;
    const char *eid = "89049032123451234512345678901235";
    EVP_PKEY *ci_key = ct_fixed_ci_key();
    EVP_PKEY *eum_nist = ct_key("P-256"), *eum_bp = ct_key("brainpoolP256r1");
    EVP_PKEY *euicc_nist = ct_key("P-256"), *euicc_bp = ct_key("brainpoolP256r1");
    ct_opts co = ct_ci_opts(now);
    X509 *ci = ct_issue(&co, ci_key, NULL, ci_key);
    if (!ci)
        return 1;

    const char *iins[] = {"89033023", "89049032", NULL};
    ct_opts eo = ct_eum_opts(now, "89049032");
    X509 *eum_nc = ct_issue(&eo, eum_nist, ci, ci_key);
    eo.nc_prefix = NULL;
    eo.iin = iins;
    eo.policy = RSP_OID_ROLE_EUM_V3;
    X509 *eum_iin = ct_issue(&eo, eum_bp, ci, ci_key);

    ct_opts uo = ct_euicc_opts(now, eid);
    X509 *u_nist = ct_issue(&uo, euicc_nist, eum_nc, eum_nist);
    X509 *u_bp = ct_issue(&uo, euicc_bp, eum_iin, eum_bp);
    uo.serial_number = "89049033123451234512345678901234";
    X509 *u_out = ct_issue(&uo, euicc_nist, eum_nc, eum_nist);
    uo = ct_euicc_opts(now, eid);
    uo.not_after = now - 24 * 3600;
    X509 *u_exp = ct_issue(&uo, euicc_nist, eum_nc, eum_nist);

    int rc = 0;
    rc |= write_seed(dir, "nc_nist", false, eum_nc, u_nist);
    rc |= write_seed(dir, "nc_nist_chosen", true, eum_nc, u_nist);
    rc |= write_seed(dir, "iin_brainpool", true, eum_iin, u_bp);
    rc |= write_seed(dir, "eid_outside", false, eum_nc, u_out);
    rc |= write_seed(dir, "euicc_expired", false, eum_nc, u_exp);

    X509 *all[] = {ci, eum_nc, eum_iin, u_nist, u_bp, u_out, u_exp};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        X509_free(all[i]);
    EVP_PKEY *keys[] = {ci_key, eum_nist, eum_bp, euicc_nist, euicc_bp};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        EVP_PKEY_free(keys[i]);
    return rc ? 1 : 0;
}
