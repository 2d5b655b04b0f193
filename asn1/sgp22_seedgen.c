/*
 * Writes one valid encoding of each SGP.22 structure, built with the encoders,
 * into the directory given as argv[1]: the seeds of //asn1:sgp22_fuzz
 * (asn1/testdata/sgp22/).  Run: bazel run //asn1:sgp22_seedgen -- "$PWD/asn1/testdata/sgp22"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asn1/sgp22.h"

static const char *outdir;

static const uint8_t tid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};
static const uint8_t ski1[20] = {0xF5, 0x41, 0x72, 0xBD, 0xF9, 0x8A, 0x95, 0xD6, 0x5C, 0xBE,
                                 0xB8, 0x8A, 0x38, 0xA1, 0xC1, 0x1D, 0x80, 0x0A, 0x85, 0xC3};
static const uint8_t ski2[20] = {0xC0, 0xBC, 0x70, 0xBA, 0x36, 0x92, 0x9D, 0x43, 0xB4, 0x67,
                                 0xFF, 0x57, 0x57, 0x05, 0x30, 0xE5, 0x7A, 0xB8, 0xFC, 0xD8};
static const uint8_t iccid[10] = {0x89, 0x04, 0x90, 0x32, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12};
static const uint8_t cert[] = {0x30, 0x03, 0x02, 0x01, 0x01};
static uint8_t challenge[16], sig[64], point[65], key16[16], hash32[32];

/* Writes an encoding made by the caller into <outdir>/<name>.der and frees it. */
static int save(const char *name, der_writer *w, int rc)
{
    if (rc != DER_OK || der_w_finish(w) != DER_OK) {
        fprintf(stderr, "%s: encoding failed at %s\n", name, sgp22_err_field());
        der_w_free(w);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.der", outdir, name);
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(w->buf, 1, w->len, f) != w->len;
    if (f && fclose(f) != 0)
        bad = 1;
    if (bad)
        fprintf(stderr, "%s: cannot write %s\n", name, path);
    der_w_free(w);
    return bad;
}

#define SAVE(name, fn, v)                                                                                    \
    do {                                                                                                     \
        der_writer w_;                                                                                       \
        der_w_init(&w_);                                                                                     \
        int rc_ = fn##_encode(&w_, v);                                                                       \
        fails += save(name, &w_, rc_);                                                                       \
    } while (0)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    for (size_t i = 0; i < sizeof(sig); i++)
        sig[i] = (uint8_t)(0xA0 + i);
    memset(challenge, 0x5C, sizeof(challenge));
    memset(point, 0x11, sizeof(point));
    point[0] = 0x04;
    memset(key16, 0x22, sizeof(key16));
    memset(hash32, 0xCC, sizeof(hash32));
    uint8_t rspcap[5], pmo[5], oid[16];
    size_t rspcap_len = sgp22_bits_from_mask(0xB, rspcap), pmo_len = sgp22_bits_from_mask(1, pmo), oid_len;
    if (sgp22_oid_encode("2.999.10", oid, sizeof(oid), &oid_len) != DER_OK)
        return 1;
    sgp22_bytes keys[] = {SGP22_BYTES(ski1, 20), SGP22_BYTES(ski2, 20)};
    sgp22_bytes T = SGP22_BYTES(tid, 16);
    int fails = 0;

    sgp22_euicc_info1 ei1 = {
        .svn = SGP22_BYTES("\x02\x02\x02", 3),
        .ci_pkid_verify = {.items = keys, .count = 2},
        .ci_pkid_sign = {.items = keys, .count = 1},
        .ci_pkid_sign_v3 = {.items = keys + 1, .count = 1},
        .highest_svn = SGP22_BYTES("\x03\x01\x00", 3),
    };
    SAVE("euicc_info1", sgp22_euicc_info1, &ei1);

    sgp22_euicc_info2 ei2 = {
        .profile_version = SGP22_BYTES("\x02\x03\x01", 3),
        .svn = SGP22_BYTES("\x02\x02\x02", 3),
        .firmware_version = SGP22_BYTES("\x01\x00\x00", 3),
        .ext_card_resource = SGP22_BYTES("\x81\x01\x00\x82\x04\x00\x01\x00\x00", 9),
        .uicc_capability = SGP22_BYTES(rspcap, rspcap_len),
        .gp_version = SGP22_BYTES("\x02\x03\x00", 3),
        .rsp_capability = SGP22_BYTES(rspcap, rspcap_len),
        .ci_pkid_verify = {.items = keys, .count = 2},
        .ci_pkid_sign = {.items = keys, .count = 2},
        .euicc_category = {.v = 1, .present = true},
        .pp_version = SGP22_BYTES("\x01\x00\x00", 3),
        .sas_accreditation = SGP22_STR("XX-YY-12"),
        .highest_svn = SGP22_BYTES("\x03\x01\x00", 3),
    };
    SAVE("euicc_info2", sgp22_euicc_info2, &ei2);

    sgp22_server_signed1 ss1 = {
        .transaction_id = T,
        .euicc_challenge = SGP22_BYTES(challenge, 16),
        .server_address = SGP22_STR("smds.example.com"),
        .server_challenge = SGP22_BYTES(challenge, 16),
    };
    SAVE("server_signed1", sgp22_server_signed1, &ss1);

    sgp22_ctx_params1 ctx = {.matching_id = SGP22_STR("EV-0001"),
                             .device_info = {.tac = SGP22_BYTES("\x35\x29\x06\x11", 4),
                                             .imei = SGP22_BYTES("\x35\x29\x06\x11\x23\x45\x67\x89", 8)}};
    ctx.device_info.capabilities.release[SGP22_DEVCAP_EUTRAN_EPC] = SGP22_BYTES("\x0F\x00\x00", 3);
    SAVE("ctx_params1", sgp22_ctx_params1, &ctx);

    sgp22_euicc_signed1 es1 = {
        .transaction_id = T,
        .server_address = SGP22_STR("smdp.example.com"),
        .server_challenge = SGP22_BYTES(challenge, 16),
        .euicc_info2 = ei2,
        .ctx_params1 = ctx,
    };
    SAVE("euicc_signed1", sgp22_euicc_signed1, &es1);

    sgp22_auth_server_resp asr = {.is_ok = true};
    asr.ok.euicc_signed1 = es1;
    asr.ok.euicc_signature1 = SGP22_BYTES(sig, 64);
    asr.ok.euicc_certificate = (der_tlv){.tag = 0x30, .raw = cert, .raw_len = sizeof(cert)};
    asr.ok.eum_certificate = asr.ok.euicc_certificate;
    SAVE("auth_server_resp", sgp22_auth_server_resp, &asr);
    sgp22_auth_server_resp asr_err = {.is_ok = false, .error = {.transaction_id = T, .code = 127}};
    SAVE("auth_server_resp_error", sgp22_auth_server_resp, &asr_err);

    sgp22_smdp_signed2 ss2 = {
        .transaction_id = T, .cc_required = true, .bpp_euicc_otpk = SGP22_BYTES(point, 65)};
    SAVE("smdp_signed2", sgp22_smdp_signed2, &ss2);

    sgp22_prepare_download_resp pdr = {.is_ok = true};
    pdr.ok.euicc_signed2 = (sgp22_euicc_signed2){
        .transaction_id = T, .euicc_otpk = SGP22_BYTES(point, 65), .hash_cc = SGP22_BYTES(hash32, 32)};
    pdr.ok.euicc_signature2 = SGP22_BYTES(sig, 64);
    SAVE("prepare_download_resp", sgp22_prepare_download_resp, &pdr);
    SAVE("euicc_signed2", sgp22_euicc_signed2, &pdr.ok.euicc_signed2);

    sgp22_notif_config ncs[] = {
        {.pmo = SGP22_BYTES(pmo, pmo_len), .address = SGP22_STR("smdp.example.com")},
    };
    sgp22_store_metadata smr = {
        .iccid = SGP22_BYTES(iccid, 10),
        .service_provider_name = SGP22_STR("Operator"),
        .profile_name = SGP22_STR("Profile"),
        .icon_type = {.v = 1, .present = true},
        .icon = SGP22_STR("\x89PNG"),
        .profile_class = {.v = 2, .present = true},
        .notification_config = {.items = ncs, .count = 1},
        .has_profile_owner = true,
        .profile_owner = {.mcc_mnc = SGP22_BYTES("\x00\xF1\x10", 3), .gid1 = SGP22_BYTES("\x01", 1)},
        .ppr = SGP22_BYTES(pmo, pmo_len),
    };
    SAVE("store_metadata", sgp22_store_metadata, &smr);

    sgp22_pir pir = {.euicc_sign_pir = SGP22_BYTES(sig, 64)};
    pir.data.transaction_id = T;
    pir.data.notification_metadata = (sgp22_notification_metadata){
        .seq_number = 7,
        .pmo = SGP22_BYTES(pmo, pmo_len),
        .notification_address = SGP22_STR("smdp.example.com"),
        .iccid = SGP22_BYTES(iccid, 10),
    };
    pir.data.smdp_oid = SGP22_BYTES(oid, oid_len);
    pir.data.final_result.success = true;
    pir.data.final_result.ok.aid = SGP22_BYTES("\xA0\x00\x00\x05\x59\x10\x10\x01", 8);
    pir.data.final_result.ok.sima_response = SGP22_BYTES("\x30\x03\x80\x01\x00", 5);
    SAVE("pir", sgp22_pir, &pir);
    pir.data.final_result.success = false;
    pir.data.final_result.error = (sgp22_pir_error){.bpp_command_id = 5, .error_reason = 12};
    SAVE("pir_data_error", sgp22_pir_data, &pir.data);

    sgp22_cancel_session_resp csr = {.is_ok = true};
    csr.ok.euicc_cancel_session_signed = (sgp22_cancel_session_signed){
        .transaction_id = T, .smdp_oid = SGP22_BYTES(oid, oid_len), .reason = 1};
    csr.ok.euicc_cancel_session_signature = SGP22_BYTES(sig, 64);
    SAVE("cancel_session_resp", sgp22_cancel_session_resp, &csr);
    sgp22_cancel_session_resp csr_err = {.is_ok = false, .error = 5};
    SAVE("cancel_session_resp_error", sgp22_cancel_session_resp, &csr_err);

    sgp22_init_secure_channel isc = {
        .remote_op_id = 1,
        .transaction_id = T,
        .control_ref_template = {.key_type = SGP22_BYTES("\x88", 1),
                                 .key_len = SGP22_BYTES("\x10", 1),
                                 .host_id = SGP22_STR("hostid01")},
        .smdp_otpk = SGP22_BYTES(point, 65),
        .smdp_sign = SGP22_BYTES(sig, 64),
    };
    SAVE("init_secure_channel", sgp22_init_secure_channel, &isc);

    sgp22_configure_isdp cfg = {.has_dp_proprietary_data = true,
                                .dp_proprietary_data = {.dp_oid = SGP22_BYTES(oid, oid_len)}};
    SAVE("configure_isdp", sgp22_configure_isdp, &cfg);

    sgp22_replace_session_keys rsk = {.initial_mcv = SGP22_BYTES(key16, 16),
                                      .ppk_enc = SGP22_BYTES(key16, 16),
                                      .ppk_cmac = SGP22_BYTES(key16, 16)};
    SAVE("replace_session_keys", sgp22_replace_session_keys, &rsk);

    sgp22_bytes s87[] = {SGP22_BYTES("\x87\x03\x01\x02\x03", 5)};
    sgp22_bytes s88[] = {SGP22_BYTES("\x88\x02\x01\x02", 4), SGP22_BYTES("\x88\x01\x03", 3)};
    sgp22_bytes s86[] = {SGP22_BYTES("\x86\x02\x0A\x0B", 4)};
    sgp22_bpp bpp = {
        .init_secure_channel = isc,
        .first_seq87 = {.items = s87, .count = 1},
        .seq88 = {.items = s88, .count = 2},
        .second_seq87 = {.items = s87, .count = 1},
        .seq86 = {.items = s86, .count = 1},
    };
    SAVE("bpp", sgp22_bpp, &bpp);

    sgp22_event_entry evs[] = {
        {.event_id = SGP22_STR("EV-0001"), .rsp_server_address = SGP22_STR("smdp.example.com")},
        {.event_id = SGP22_STR("EV-0002"), .rsp_server_address = SGP22_STR("smds.example.com")},
    };
    sgp22_es11_auth_client_resp es11 = {
        .is_ok = true, .ok = {.transaction_id = T, .event_entries = {.items = evs, .count = 2}}};
    SAVE("es11_auth_client_resp", sgp22_es11_auth_client_resp, &es11);
    sgp22_es11_auth_client_resp es11_err = {.is_ok = false, .error = 6};
    SAVE("es11_auth_client_resp_error", sgp22_es11_auth_client_resp, &es11_err);

    return fails ? 1 : 0;
}
