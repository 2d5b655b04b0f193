#include "rsp/auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>

#include "asn1/der.h"

#define MAX_CANDIDATES 16

bool rsp_auth_same_address(const char *name, const uint8_t *addr, size_t len)
{
    if (!name || !addr)
        return false;
    size_t n = strlen(name);
    if (len == n + 4 && memcmp(addr + n, ":443", 4) == 0)
        len = n;
    return len == n && strncasecmp((const char *)addr, name, len) == 0;
}

static long svn_value(sgp22_bytes v)
{
    return v.p && v.len == 3 ? ((long)v.p[0] << 16) | ((long)v.p[1] << 8) | v.p[2] : -1;
}

bool rsp_auth_svn_supported(const sgp22_euicc_info1 *info)
{
    long lo = svn_value(info->svn);
    long hi = info->highest_svn.p ? svn_value(info->highest_svn) : lo;
    if (lo < 0 || hi < lo)
        return false;
    return lo < (RSP_AUTH_SVN_MAX_MAJOR + 1L) << 16 && hi >= (long)RSP_AUTH_SVN_MIN_MAJOR << 16;
}

/* Store index of the CI with this SKI, or -1. */
static int ci_index_of(const rsp_ci_store *cis, const uint8_t *ski, size_t len)
{
    size_t n = rsp_ci_store_count(cis);
    for (size_t i = 0; i < n && i < 256; i++) {
        const uint8_t *s;
        size_t sl;
        if (rsp_ci_store_get(cis, i, &s, &sl) && sl == len && memcmp(s, ski, len) == 0)
            return (int)i;
    }
    return -1;
}

/* Appends the store index of every trusted CI of list, in the eUICC's order, without repeats. */
static void trusted(const rsp_ci_store *cis, const sgp22_list *list, int idx[], size_t *n)
{
    der_reader r;
    der_tlv e;
    sgp22_list_reader(list, &r);
    while (*n < MAX_CANDIDATES && der_next(&r, &e) == DER_OK) {
        int i = ci_index_of(cis, e.value, e.len);
        bool seen = false;
        for (size_t k = 0; k < *n && !seen; k++)
            seen = idx[k] == i;
        if (i >= 0 && !seen)
            idx[(*n)++] = i;
    }
}

int rsp_auth_choose(const rsp_ci_store *cis, const sgp22_euicc_info1 *info, const rsp_auth_cred_ci *creds,
                    size_t ncreds, int *ci_index, size_t *cred)
{
    int cand[MAX_CANDIDATES];
    size_t n = 0;
    trusted(cis, &info->ci_pkid_sign, cand, &n);
    trusted(cis, &info->ci_pkid_sign_v3, cand, &n);
    if (n == 0)
        return RSP_AUTH_NO_SIGNING_CI;
    for (size_t s = 0; s < n; s++) {
        const uint8_t *ski;
        size_t ski_len;
        rsp_ci_store_get(cis, (size_t)cand[s], &ski, &ski_len);
        for (size_t k = 0; k < ncreds; k++) {
            if (creds[k].len == ski_len && memcmp(creds[k].ski, ski, ski_len) == 0 &&
                sgp22_list_has(&info->ci_pkid_verify, creds[k].ski, creds[k].len)) {
                *ci_index = cand[s];
                *cred = k;
                return RSP_AUTH_CHOSEN;
            }
        }
    }
    for (size_t k = 0; k < ncreds; k++) {
        if (sgp22_list_has(&info->ci_pkid_verify, creds[k].ski, creds[k].len)) {
            *ci_index = cand[0];
            *cred = k;
            return RSP_AUTH_CHOSEN;
        }
    }
    return RSP_AUTH_NO_CREDENTIAL;
}

int rsp_auth_server_signed1(rsp_arena *a, const uint8_t *tid, size_t tid_len,
                            const uint8_t euicc_challenge[SGP22_CHALLENGE_LEN], const char *address,
                            const uint8_t server_challenge[RSP_TXN_CHALLENGE_LEN], EVP_PKEY *key,
                            const uint8_t **der, size_t *der_len, uint8_t sig_tlv[RSP_AUTH_SIG_TLV_LEN])
{
    sgp22_server_signed1 ss;
    memset(&ss, 0, sizeof(ss));
    ss.transaction_id = SGP22_BYTES(tid, tid_len);
    ss.euicc_challenge = SGP22_BYTES(euicc_challenge, SGP22_CHALLENGE_LEN);
    ss.server_address = SGP22_BYTES(address, strlen(address));
    ss.server_challenge = SGP22_BYTES(server_challenge, RSP_TXN_CHALLENGE_LEN);
    der_writer w;
    der_w_init(&w);
    sgp22_server_signed1_encode(&w, &ss);
    uint8_t *copy = der_w_finish(&w) == DER_OK ? rsp_arena_memdup(a, w.buf, w.len) : NULL;
    size_t len = w.len;
    der_w_free(&w);
    if (!copy)
        return -1;
    sig_tlv[0] = 0x5F;
    sig_tlv[1] = 0x37;
    sig_tlv[2] = RSP_SIG_LEN;
    if (rsp_sig_sign(key, copy, len, sig_tlv + 3) != 0)
        return -1;
    *der = copy;
    *der_len = len;
    return 0;
}

int rsp_auth_ci_pkid(rsp_arena *a, const rsp_ci_store *cis, int ci_index, const uint8_t **out, size_t *len)
{
    const uint8_t *ski;
    size_t ski_len;
    if (ci_index < 0 || !rsp_ci_store_get(cis, (size_t)ci_index, &ski, &ski_len) || ski_len > 127)
        return -1;
    uint8_t *p = rsp_arena_alloc(a, 2 + ski_len);
    if (!p)
        return -1;
    p[0] = 0x04;
    p[1] = (uint8_t)ski_len;
    memcpy(p + 2, ski, ski_len);
    *out = p;
    *len = 2 + ski_len;
    return 0;
}

rsp_status rsp_auth_open(const rsp_txn_keyring *kr, uint32_t ttl, const uint8_t *tid, size_t tid_len,
                         const uint8_t *response, size_t response_len, time_t now, rsp_txn_info *info,
                         uint8_t challenge[RSP_TXN_CHALLENGE_LEN], sgp22_auth_server_resp *resp,
                         const char **detail)
{
    int rc = rsp_txn_open(kr, tid, tid_len, now, ttl, info, challenge);
    if (rc != RSP_TXN_OK) {
        *detail = rsp_txn_strerror(rc);
        return RSP_ST_TRANSACTION_UNKNOWN;
    }
    if (sgp22_auth_server_resp_decode(response, response_len, resp) != DER_OK) {
        *detail = sgp22_err_field();
        return RSP_ST_INVALID_FIELD;
    }
    if (!resp->is_ok) {
        *detail = "authenticateResponseError";
        return RSP_ST_INVALID_FIELD;
    }
    *detail = "";
    return RSP_OK;
}

size_t rsp_auth_chain_of(const uint8_t *next, size_t next_len, const sgp22_list *others,
                         rsp_der out[RSP_CHAIN_MAX_SENT])
{
    if (!next || others->count >= RSP_CHAIN_MAX_SENT)
        return 0;
    out[0] = (rsp_der){next, next_len};
    size_t n = 1;
    der_reader r;
    der_tlv e;
    sgp22_list_reader(others, &r);
    while (n < RSP_CHAIN_MAX_SENT && der_next(&r, &e) == DER_OK)
        out[n++] = (rsp_der){e.raw, e.raw_len};
    return n;
}

rsp_status rsp_auth_verify(const rsp_ci_store *cis, rsp_eum_cache *cache, const rsp_txn_info *info,
                           const uint8_t challenge[RSP_TXN_CHALLENGE_LEN], const uint8_t *tid, size_t tid_len,
                           const sgp22_auth_resp_ok *ok, const char *address, rsp_status address_status,
                           time_t now, rsp_euicc_identity *id, char *detail_buf, size_t cap,
                           const char **detail)
{
    memset(id, 0, sizeof(*id));
    const uint8_t *ci_ski;
    size_t ci_ski_len;
    if (info->ci_index >= rsp_ci_store_count(cis) ||
        !rsp_ci_store_get(cis, info->ci_index, &ci_ski, &ci_ski_len)) {
        *detail = "chosen CI no longer configured";
        return RSP_ST_CI_PK_UNKNOWN;
    }
    rsp_der chain[RSP_CHAIN_MAX_SENT];
    size_t n =
        rsp_auth_chain_of(ok->eum_certificate.raw, ok->eum_certificate.raw_len, &ok->other_certs, chain);
    if (n == 0) {
        *detail = "too many otherCertsInChain";
        return RSP_ST_EUM_CERT_INVALID;
    }
    rsp_status st = rsp_verify_euicc_path(cis, cache, ci_ski, ci_ski_len, chain, n, ok->euicc_certificate.raw,
                                          ok->euicc_certificate.raw_len, now, id);
    if (st != RSP_OK) {
        snprintf(detail_buf, cap, "%s", rsp_cert_last_reason());
        *detail = detail_buf;
        return st;
    }
    const sgp22_euicc_signed1 *es1 = &ok->euicc_signed1;
    if (rsp_sig_verify(id->pub, es1->raw.raw, es1->raw.raw_len, ok->euicc_signature1.p,
                       ok->euicc_signature1.len) != 0) {
        st = RSP_ST_EUICC_SIG_INVALID;
        *detail = "euiccSignature1";
    } else if (es1->transaction_id.len != tid_len || memcmp(es1->transaction_id.p, tid, tid_len) != 0) {
        /* Stateless transactionIds: one this server never issued shows only as not being the one signed. */
        st = RSP_ST_TRANSACTION_UNKNOWN;
        *detail = "transactionId in euiccSigned1";
    } else if (es1->server_challenge.len != RSP_TXN_CHALLENGE_LEN ||
               CRYPTO_memcmp(es1->server_challenge.p, challenge, RSP_TXN_CHALLENGE_LEN) != 0) {
        st = RSP_ST_EUICC_SIG_INVALID;
        *detail = "serverChallenge";
    } else if (!rsp_auth_same_address(address, es1->server_address.p, es1->server_address.len)) {
        st = address_status;
        *detail = "serverAddress in euiccSigned1";
    } else {
        *detail = "";
        return RSP_OK;
    }
    rsp_euicc_identity_clear(id);
    return st;
}
