/*
 * Fuzz target: every SGP.22 decoder on the same input.  Nothing may read out of
 * bounds; whatever decodes must re-encode, that encoding must decode again, and
 * encoding it a second time must give the same bytes (unknown fields are
 * dropped once, then the result is stable).
 */
#include <stdlib.h>
#include <string.h>

#include "asn1/sgp22.h"

static void must(bool ok)
{
    if (!ok)
        abort();
}

static void same(const der_writer *a, const der_writer *b)
{
    must(a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0);
}

/* Every element of a decoded list must be readable. */
static void walk(const sgp22_list *l, int (*elem)(const der_tlv *, void *), void *tmp)
{
    der_reader r;
    der_tlv e;
    size_t n = 0;
    sgp22_list_reader(l, &r);
    while (der_next(&r, &e) == DER_OK) {
        if (elem)
            must(elem(&e, tmp) == DER_OK);
        n++;
    }
    must(n == l->count);
    if (n)
        must(sgp22_list_at(l, n - 1, &e) == DER_OK);
}

static int ev_elem(const der_tlv *e, void *out)
{
    return sgp22_event_entry_decode(e, out);
}

static int nc_elem(const der_tlv *e, void *out)
{
    return sgp22_notif_config_decode(e, out);
}

static void oid(sgp22_bytes o)
{
    char s[128];
    if (o.p)
        (void)sgp22_oid_format(o.p, o.len, s, sizeof(s));
}

#define ROUND(fn, type, extra)                                                                               \
    do {                                                                                                     \
        type a, b;                                                                                           \
        if (fn##_decode(data, size, &a) != DER_OK)                                                           \
            break;                                                                                           \
        must(a.raw.raw == data && a.raw.raw_len == size);                                                    \
        extra;                                                                                               \
        der_writer w1, w2;                                                                                   \
        der_w_init(&w1);                                                                                     \
        der_w_init(&w2);                                                                                     \
        must(fn##_encode(&w1, &a) == DER_OK);                                                                \
        must(fn##_decode(w1.buf, w1.len, &b) == DER_OK);                                                     \
        must(fn##_encode(&w2, &b) == DER_OK);                                                                \
        same(&w1, &w2);                                                                                      \
        der_w_free(&w1);                                                                                     \
        der_w_free(&w2);                                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sgp22_event_entry ev;
    sgp22_notif_config nc;

    ROUND(sgp22_euicc_info1, sgp22_euicc_info1, {
        walk(&a.ci_pkid_verify, NULL, NULL);
        walk(&a.ci_pkid_sign, NULL, NULL);
        walk(&a.ci_pkid_sign_v3, NULL, NULL);
        (void)sgp22_bit(a.rsp_capability, 3);
    });
    ROUND(sgp22_euicc_info2, sgp22_euicc_info2, {
        walk(&a.ci_pkid_verify, NULL, NULL);
        (void)sgp22_bit(a.rsp_capability, 40);
    });
    ROUND(sgp22_server_signed1, sgp22_server_signed1, {});
    ROUND(sgp22_ctx_params1, sgp22_ctx_params1, {});
    ROUND(sgp22_euicc_signed1, sgp22_euicc_signed1, {});
    ROUND(sgp22_auth_server_resp, sgp22_auth_server_resp, {
        if (a.is_ok) {
            must(a.ok.euicc_signed1.raw.raw >= data && a.ok.euicc_signed1.raw.raw < data + size);
            walk(&a.ok.other_certs, NULL, NULL);
        }
    });
    ROUND(sgp22_smdp_signed2, sgp22_smdp_signed2, {});
    ROUND(sgp22_euicc_signed2, sgp22_euicc_signed2, {});
    ROUND(sgp22_prepare_download_resp, sgp22_prepare_download_resp, {});
    ROUND(sgp22_store_metadata, sgp22_store_metadata, { walk(&a.notification_config, nc_elem, &nc); });
    ROUND(sgp22_pir_data, sgp22_pir_data, { oid(a.smdp_oid); });
    ROUND(sgp22_pir, sgp22_pir, { oid(a.data.smdp_oid); });
    ROUND(sgp22_cancel_session_signed, sgp22_cancel_session_signed, { oid(a.smdp_oid); });
    ROUND(sgp22_cancel_session_resp, sgp22_cancel_session_resp, {});
    ROUND(sgp22_init_secure_channel, sgp22_init_secure_channel, {
        der_writer t;
        der_w_init(&t);
        must(sgp22_init_secure_channel_tbs(&t, &a, a.smdp_otpk.p, a.smdp_otpk.len) == DER_OK);
        der_w_free(&t);
    });
    ROUND(sgp22_configure_isdp, sgp22_configure_isdp, {});
    ROUND(sgp22_replace_session_keys, sgp22_replace_session_keys, {});
    ROUND(sgp22_bpp, sgp22_bpp, {
        walk(&a.first_seq87, NULL, NULL);
        walk(&a.seq88, NULL, NULL);
        walk(&a.second_seq87, NULL, NULL);
        walk(&a.seq86, NULL, NULL);
    });
    ROUND(sgp22_es11_auth_client_resp, sgp22_es11_auth_client_resp, {
        if (a.is_ok)
            walk(&a.ok.event_entries, ev_elem, &ev);
    });
    return 0;
}
