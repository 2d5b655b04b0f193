/*
 * tools/lpasim/tamper.c - rewrites of genuine eUICC answers for negative
 * tests (see tamper.h).
 */
#include "tools/lpasim/tamper.h"

#include <string.h>

#include "asn1/sgp22.h"
#include "rsp/sig.h"

#define MAX_IDS 16

/* The key ids of a decoded list as sgp22_bytes items (ids points into the input). */
static int list_items(const sgp22_list *l, sgp22_bytes ids[MAX_IDS], size_t *n)
{
    if (l->count > MAX_IDS)
        return -1;
    for (size_t i = 0; i < l->count; i++) {
        der_tlv t;
        if (sgp22_list_at(l, i, &t) != 0)
            return -1;
        ids[i] = SGP22_BYTES(t.value, t.len);
    }
    *n = l->count;
    return 0;
}

int tamper_euicc_info1(const uint8_t *info1, size_t len, const tamper_info1 *t, der_writer *out)
{
    sgp22_euicc_info1 ei;
    if (sgp22_euicc_info1_decode(info1, len, &ei) != 0)
        return -1;
    sgp22_bytes sign[MAX_IDS];
    size_t nsign;
    if (t->sign_list_v3) {
        if (list_items(&ei.ci_pkid_sign, sign, &nsign) != 0)
            return -1;
        ei.ci_pkid_sign_v3 = (sgp22_list){.items = sign, .count = nsign};
        ei.ci_pkid_sign = (sgp22_list){0};
    }
    if (t->empty_verify_list)
        ei.ci_pkid_verify = (sgp22_list){0};
    return sgp22_euicc_info1_encode(out, &ei) == 0 ? 0 : -1;
}

int tamper_auth_server_resp(EVP_PKEY *key, const uint8_t *bf38, size_t len, const tamper_auth *t,
                            der_writer *out)
{
    sgp22_auth_server_resp r;
    if (sgp22_auth_server_resp_decode(bf38, len, &r) != 0 || !r.is_ok)
        return -1;
    sgp22_euicc_signed1 *es1 = &r.ok.euicc_signed1;
    uint8_t tid[SGP22_TID_MAX], challenge[SGP22_CHALLENGE_LEN], sig[SGP22_SIG_LEN];
    memcpy(tid, es1->transaction_id.p, es1->transaction_id.len);
    memcpy(challenge, es1->server_challenge.p, sizeof(challenge));
    memcpy(sig, r.ok.euicc_signature1.p, sizeof(sig));
    if (t->wrong_tid)
        tid[es1->transaction_id.len - 1] ^= 0x01;
    if (t->wrong_challenge)
        challenge[0] ^= 0x80;
    es1->transaction_id = SGP22_BYTES(tid, es1->transaction_id.len);
    es1->server_challenge = SGP22_BYTES(challenge, sizeof(challenge));
    if (t->signed_address)
        es1->server_address = SGP22_BYTES(t->signed_address, strlen(t->signed_address));

    der_writer signed1;
    der_w_init(&signed1);
    int rc = -1;
    if (t->wrong_tid || t->wrong_challenge || t->signed_address) {
        /* euiccInfo2 and ctxParams1 keep their raw bytes and go out as the eUICC wrote them */
        es1->raw = (der_tlv){0};
        if (sgp22_euicc_signed1_encode(&signed1, es1) != 0 || der_w_finish(&signed1) != 0 ||
            rsp_sig_sign(key, signed1.buf, signed1.len, sig) != 0)
            goto out;
        es1->raw = (der_tlv){.tag = 0x30, .raw = signed1.buf, .raw_len = signed1.len};
    }
    if (t->bad_signature)
        sig[10] ^= 0x04;
    r.ok.euicc_signature1 = SGP22_BYTES(sig, sizeof(sig));
    r.ok.raw = (der_tlv){0};
    rc = sgp22_auth_server_resp_encode(out, &r) == 0 ? 0 : -1;
out:
    der_w_free(&signed1);
    return rc;
}
