/*
 * Fuzz target for rsp_verify_euicc_chain and rsp_verify_euicc_path.  Input: a 2-byte big-endian header
 * (top bit: pass the CI SKI as the session's chosen CI; low 15 bits: EUM DER
 * length), the EUM DER, then the eUICC DER.  The trusted CI is minted at start
 * from a fixed test key, so the seeds in rsp/testdata/cert_fuzz (made by
 * //rsp:cert_fuzz_seedgen with the same key) hold chains that verify.
 * Invariant checked besides memory safety: the result is the same without the
 * EUM cache, with a cold cache and with a warm one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/cert.h"
#include "rsp/chain.h"
#include "rsp/cert_fuzz.h"
#include "rsp/cert_testutil.h"

static rsp_ci_store *store;
static rsp_eum_cache *cache;
static const uint8_t *ci_ski;
static size_t ci_ski_len;

static void init(void)
{
    EVP_PKEY *k = ct_fixed_ci_key();
    ct_opts o = ct_ci_opts(CERT_FUZZ_NOW);
    /* an anchor must be valid when loaded, today as at CERT_FUZZ_NOW */
    o.not_before = CERT_FUZZ_NOW - 10 * 365 * 24 * 3600L;
    X509 *ci = k ? ct_issue(&o, k, NULL, k) : NULL;
    store = rsp_ci_store_new();
    cache = rsp_eum_cache_new(4);
    if (!ci || !store || !cache || rsp_ci_store_add(store, ci) != 0)
        abort();
    X509 *in = rsp_ci_store_get(store, 0, &ci_ski, &ci_ski_len);
    if (in == NULL)
        abort();
    X509_free(ci);
    EVP_PKEY_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (store == NULL)
        init();
    if (size < 2)
        return 0;
    bool chosen = data[0] & 0x80;
    size_t eum_len = ((size_t)(data[0] & 0x7f) << 8) | data[1];
    if (eum_len > size - 2)
        return 0;
    const uint8_t *eum = data + 2, *euicc = eum + eum_len;
    size_t euicc_len = size - 2 - eum_len;
    const uint8_t *ski = chosen ? ci_ski : NULL;
    rsp_euicc_identity a, b, c;
    rsp_status sa = rsp_verify_euicc_chain(store, NULL, ski, ci_ski_len, eum, eum_len, euicc, euicc_len,
                                           CERT_FUZZ_NOW, &a);
    rsp_status sb = rsp_verify_euicc_chain(store, cache, ski, ci_ski_len, eum, eum_len, euicc, euicc_len,
                                           CERT_FUZZ_NOW, &b);
    rsp_status sc = rsp_verify_euicc_chain(store, cache, ski, ci_ski_len, eum, eum_len, euicc, euicc_len,
                                           CERT_FUZZ_NOW, &c);
    if (sa != sb || sb != sc)
        abort();
    /* the same certificates as nextCertInChain and otherCertsInChain: path building on input */
    rsp_der chain[2] = {{eum, eum_len}, {euicc, euicc_len}};
    rsp_euicc_identity d;
    rsp_verify_euicc_path(store, NULL, ski, ci_ski_len, chain, 2, euicc, euicc_len, CERT_FUZZ_NOW, &d);
    rsp_euicc_identity_clear(&d);
    if (sa == RSP_OK && (strcmp(a.eid, b.eid) != 0 || strcmp(a.eid, c.eid) != 0 || a.pub == NULL))
        abort();
    rsp_euicc_identity_clear(&a);
    rsp_euicc_identity_clear(&b);
    rsp_euicc_identity_clear(&c);
    return 0;
}
