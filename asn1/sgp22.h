/*
 * asn1/sgp22.h - SGP.22 message codecs (ES9+, ES11, ES8+ and the ES10b data they carry).
 *
 * Tags follow the RSPDefinitions module (AUTOMATIC TAGS) of SGP.22 v2.x, with the
 * v3 additions the servers may meet.  Each comment gives the ASN.1 tag as it is
 * encoded ("80", "BF22", "5F37").
 *
 * Decoding is zero-copy.  Every sgp22_bytes, der_tlv and sgp22_list in a decoded
 * struct points into the caller's buffer, which must outlive the struct; nothing
 * is allocated.  A decoder takes exactly one TLV that fills buf[0..len): a
 * different outer tag is DER_EUNEXPECTED, bytes after it are DER_ETRAILING.
 *   - Strict: wrong tags, fields out of order or repeated, missing mandatory
 *     fields (DER_EUNEXPECTED), wrong fixed sizes (16-byte challenges, 64-byte
 *     signatures, 65-byte uncompressed points, 10-byte ICCIDs, transactionId of
 *     1..16 octets, ...), malformed BOOLEAN / INTEGER / BIT STRING / OBJECT
 *     IDENTIFIER values and UTF8String values that are not UTF-8 or contain NUL
 *     (DER_EVALUE) are refused.
 *   - Tolerant: a field whose tag the SEQUENCE does not define (a later version's
 *     extension) is skipped.
 *   - Every struct decoded from a TLV has `raw`: that TLV exactly as received.
 *     Verify signatures over `raw` (euiccSigned1, euiccSigned2,
 *     ProfileInstallationResultData, euiccCancelSessionSigned), never over a
 *     re-encoding.
 * On failure the decoder returns a negative DER_E* code, the output struct is
 * unspecified, and sgp22_err_field() names the field ("EuiccSigned1.serverChallenge").
 *
 * Encoding appends to a der_writer and returns the writer's sticky error (0 or
 * DER_E*), so calls can be chained and checked once.  An optional field is
 * absent when its sgp22_bytes has p == NULL, its der_tlv has raw == NULL, its
 * sgp22_int has present == false, or its sgp22_list is empty (see below).  A
 * mandatory sgp22_bytes with p == NULL is encoded empty if the type allows an
 * empty value and refused (DER_EVALUE) otherwise.  Encoders check the same sizes
 * and value rules as decoders.  A nested struct whose `raw.raw` is set is copied
 * verbatim (so a signed part goes out exactly as signed, and decode -> encode
 * reproduces the input); clear `raw` to re-encode a modified nested value.  The
 * top-level struct's own `raw` is ignored by its encoder.
 *
 * Thread safety: no shared state except sgp22_err_field(), which is per thread.
 */
#ifndef ASN1_SGP22_H
#define ASN1_SGP22_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asn1/der.h"

/* Outer tags of the top-level structures. */
#define SGP22_TAG_EUICC_INFO1 0xBF20u
#define SGP22_TAG_PREPARE_DOWNLOAD 0xBF21u
#define SGP22_TAG_EUICC_INFO2 0xBF22u
#define SGP22_TAG_INIT_SECURE_CHANNEL 0xBF23u
#define SGP22_TAG_CONFIGURE_ISDP 0xBF24u
#define SGP22_TAG_STORE_METADATA 0xBF25u
#define SGP22_TAG_REPLACE_SESSION_KEYS 0xBF26u
#define SGP22_TAG_PIR_DATA 0xBF27u
#define SGP22_TAG_NOTIFICATION_METADATA 0xBF2Fu
#define SGP22_TAG_BPP 0xBF36u
#define SGP22_TAG_PIR 0xBF37u
#define SGP22_TAG_AUTH_SERVER_RESP 0xBF38u
#define SGP22_TAG_ES11_AUTH_CLIENT_RESP 0xBF40u
#define SGP22_TAG_CANCEL_SESSION 0xBF41u
#define SGP22_TAG_SIGNATURE 0x5F37u /* [APPLICATION 55] */
#define SGP22_TAG_OTPK 0x5F49u      /* [APPLICATION 73] */

#define SGP22_SIG_LEN 64   /* TR-03111 r||s on a 256-bit curve */
#define SGP22_POINT_LEN 65 /* uncompressed point 04||X||Y */
#define SGP22_CHALLENGE_LEN 16
#define SGP22_ICCID_LEN 10
#define SGP22_TID_MAX 16

/* A view of octets.  p == NULL means absent; p != NULL with len 0 is present and empty. */
typedef struct sgp22_bytes {
    const uint8_t *p;
    size_t len;
} sgp22_bytes;

#define SGP22_BYTES(ptr, n) ((sgp22_bytes){(const uint8_t *)(ptr), (n)})
/* For string literals: SGP22_STR("smdp.example.com"). */
#define SGP22_STR(s) ((sgp22_bytes){(const uint8_t *)("" s), sizeof(s) - 1})

/* An OPTIONAL INTEGER. */
typedef struct sgp22_int {
    int64_t v;
    bool present;
} sgp22_int;

/*
 * A SEQUENCE OF.  Decoding sets `tlv` (the whole list TLV; raw == NULL when an
 * optional list is absent) and `count`, after checking every element, and leaves
 * `items` NULL.  Encoding copies `tlv` verbatim when tlv.raw is set; otherwise it
 * writes `count` elements from `items`, whose type each list documents.  An
 * optional list is absent on encode when both tlv.raw and items are NULL.
 */
typedef struct sgp22_list {
    der_tlv tlv;
    size_t count;
    const void *items;
} sgp22_list;

/* ---- EUICCInfo1 (BF20) ---- */

typedef struct sgp22_euicc_info1 {
    der_tlv raw;
    sgp22_bytes svn;            /* 82 VersionType, 3 octets (v3 calls it lowestSvn) */
    sgp22_list ci_pkid_verify;  /* A9 SEQUENCE OF SubjectKeyIdentifier; items: sgp22_bytes key ids */
    sgp22_list ci_pkid_sign;    /* AA likewise */
    sgp22_list ci_pkid_sign_v3; /* B1 OPTIONAL (v3) euiccCiPKIdListForSigningV3, likewise */
    sgp22_bytes rsp_capability; /* 88 BIT STRING OPTIONAL (v3 euiccRspCapability) */
    sgp22_bytes highest_svn;    /* 93 VersionType OPTIONAL (v3) */
} sgp22_euicc_info1;

/* ---- EUICCInfo2 (BF22) ---- */

typedef struct sgp22_euicc_info2 {
    der_tlv raw;
    sgp22_bytes profile_version;    /* 81 VersionType */
    sgp22_bytes svn;                /* 82 VersionType */
    sgp22_bytes firmware_version;   /* 83 VersionType */
    sgp22_bytes ext_card_resource;  /* 84 OCTET STRING */
    sgp22_bytes uicc_capability;    /* 85 BIT STRING */
    sgp22_bytes ts102241_version;   /* 86 VersionType OPTIONAL (v2.0: javacardVersion) */
    sgp22_bytes gp_version;         /* 87 VersionType OPTIONAL */
    sgp22_bytes rsp_capability;     /* 88 BIT STRING */
    sgp22_list ci_pkid_verify;      /* A9; items: sgp22_bytes key ids */
    sgp22_list ci_pkid_sign;        /* AA; likewise */
    sgp22_int euicc_category;       /* 8B OPTIONAL */
    sgp22_bytes forbidden_ppr;      /* 99 BIT STRING OPTIONAL */
    sgp22_bytes pp_version;         /* 04 VersionType */
    sgp22_bytes sas_accreditation;  /* 0C UTF8String (SIZE(0..64)) */
    der_tlv certification_data;     /* AC OPTIONAL, kept as a TLV */
    sgp22_bytes tre_properties;     /* 8D BIT STRING OPTIONAL (v2.3+) */
    sgp22_bytes tre_product_ref;    /* 8E UTF8String OPTIONAL */
    der_tlv additional_pp_versions; /* AF SEQUENCE OF VersionType OPTIONAL, kept as a TLV */
    sgp22_int lpa_mode;             /* 90 INTEGER OPTIONAL (SGP.32: ipaMode) */
    sgp22_list ci_pkid_sign_v3;     /* B1 OPTIONAL (v3); items: sgp22_bytes key ids */
    sgp22_bytes additional_info;    /* 92 OCTET STRING (SIZE(0..32)) OPTIONAL */
    sgp22_bytes highest_svn;        /* 93 VersionType OPTIONAL (v3) */
    der_tlv iot_specific_info;      /* B4 OPTIONAL, kept as a TLV */
    sgp22_bytes min_security_level; /* 95 OCTET STRING (SIZE(1)) OPTIONAL */
} sgp22_euicc_info2;

/* ---- ServerSigned1 (30), signed by the RSP server ---- */

typedef struct sgp22_server_signed1 {
    der_tlv raw;
    sgp22_bytes transaction_id;        /* 80, 1..16 octets */
    sgp22_bytes euicc_challenge;       /* 81, 16 octets */
    sgp22_bytes server_address;        /* 83 UTF8String */
    sgp22_bytes server_challenge;      /* 84, 16 octets */
    der_tlv session_context;           /* A5 OPTIONAL (v3), kept as a TLV */
    sgp22_bytes server_rsp_capability; /* 86 BIT STRING OPTIONAL (v3) */
} sgp22_server_signed1;

/* ---- CtxParams1 and DeviceInfo ---- */

/* DeviceCapabilities fields are VersionType [n]; the index is n. */
enum sgp22_devcap {
    SGP22_DEVCAP_GSM,
    SGP22_DEVCAP_UTRAN,
    SGP22_DEVCAP_CDMA2000_1X,
    SGP22_DEVCAP_CDMA2000_HRPD,
    SGP22_DEVCAP_CDMA2000_EHRPD,
    SGP22_DEVCAP_EUTRAN_EPC,
    SGP22_DEVCAP_CONTACTLESS,
    SGP22_DEVCAP_RSP_CRL,
    SGP22_DEVCAP_NR_EPC, /* v2.0: rspRpmSupportedVersion */
    SGP22_DEVCAP_NR_5GC,
    SGP22_DEVCAP_EUTRAN_5GC,
    SGP22_DEVCAP_LPA_SVN,
    SGP22_DEVCAP_COUNT
};

typedef struct sgp22_device_capabilities {
    der_tlv raw;
    /* 80..8B OPTIONAL each.  Later non-VersionType fields (v3) are skipped on
     * decode and not re-encoded. */
    sgp22_bytes release[SGP22_DEVCAP_COUNT];
} sgp22_device_capabilities;

typedef struct sgp22_device_info {
    der_tlv raw;
    sgp22_bytes tac;                        /* 80, 4 octets */
    sgp22_device_capabilities capabilities; /* A1 */
    sgp22_bytes imei;                       /* 82, 8 octets OPTIONAL */
} sgp22_device_info;

#define SGP22_CTX_COMMON_AUTH 0xA0u /* ctxParamsForCommonAuthentication */

typedef struct sgp22_ctx_params1 {
    der_tlv raw;                   /* the chosen alternative's TLV */
    uint32_t choice;               /* its tag: A0; A1..A3 are v3 alternatives, kept in raw only.
                                      Encoding treats 0 as A0. */
    sgp22_bytes matching_id;       /* 80 UTF8String OPTIONAL: p == NULL absent, len 0 empty */
    sgp22_device_info device_info; /* A1 */
    /* v3 (p == NULL when absent; later fields such as matchingIdSource are skipped): */
    sgp22_bytes operation_type; /* 82 OperationType BIT STRING {profileDownload(0), rpm(1)}
                                   OPTIONAL, DEFAULT {profileDownload} */
    sgp22_bytes iccid;          /* 5A OPTIONAL (RPM), 10 octets */
} sgp22_ctx_params1;

/* OperationType bits of ctxParamsForCommonAuthentication (v3). */
#define SGP22_OP_PROFILE_DOWNLOAD 0
#define SGP22_OP_RPM 1
/* True if the context asks for a profile download: operationType absent (its
 * DEFAULT) or with the profileDownload bit.  False for the v3 alternatives
 * other than ctxParamsForCommonAuthentication. */
bool sgp22_ctx_is_download(const sgp22_ctx_params1 *c);

/* ---- EuiccSigned1 (30) and AuthenticateServerResponse (BF38) ---- */

typedef struct sgp22_euicc_signed1 {
    der_tlv raw;                   /* the bytes euiccSignature1 covers */
    sgp22_bytes transaction_id;    /* 80 */
    sgp22_bytes server_address;    /* 83 UTF8String */
    sgp22_bytes server_challenge;  /* 84, 16 octets */
    sgp22_euicc_info2 euicc_info2; /* BF22 */
    sgp22_ctx_params1 ctx_params1; /* A0 (A1..A3 in v3) */
} sgp22_euicc_signed1;

typedef struct sgp22_auth_resp_ok {
    der_tlv raw;                       /* A0 */
    sgp22_euicc_signed1 euicc_signed1; /* 30 */
    sgp22_bytes euicc_signature1;      /* 5F37, 64 octets */
    der_tlv euicc_certificate;         /* 30 Certificate */
    der_tlv eum_certificate;           /* 30 Certificate (v3: nextCertInChain) */
    sgp22_list other_certs;            /* A0 OPTIONAL (v3 otherCertsInChain); items: sgp22_bytes,
                                          each a complete Certificate TLV */
} sgp22_auth_resp_ok;

/* { transactionId [0], errorCode INTEGER }: AuthenticateResponseError and
 * PrepareDownloadResponseError. */
typedef struct sgp22_tid_error {
    der_tlv raw;                /* A1 */
    sgp22_bytes transaction_id; /* 80 */
    int64_t code;               /* 02 */
} sgp22_tid_error;

typedef struct sgp22_auth_server_resp {
    der_tlv raw;
    bool is_ok; /* authenticateResponseOk (A0) or authenticateResponseError (A1) */
    sgp22_auth_resp_ok ok;
    sgp22_tid_error error;
} sgp22_auth_server_resp;

/* ---- SmdpSigned2 (30), PrepareDownloadResponse (BF21) ---- */

typedef struct sgp22_smdp_signed2 {
    der_tlv raw;
    sgp22_bytes transaction_id; /* 80 */
    bool cc_required;           /* 01 BOOLEAN */
    sgp22_bytes bpp_euicc_otpk; /* 5F49 OPTIONAL, 65 octets */
} sgp22_smdp_signed2;

typedef struct sgp22_euicc_signed2 {
    der_tlv raw;                /* the bytes euiccSignature2 covers (with smdpSignature2) */
    sgp22_bytes transaction_id; /* 80 */
    sgp22_bytes euicc_otpk;     /* 5F49, 65 octets */
    sgp22_bytes hash_cc;        /* 04 OPTIONAL, 32 octets */
} sgp22_euicc_signed2;

typedef struct sgp22_prepare_dl_ok {
    der_tlv raw;                       /* A0 */
    sgp22_euicc_signed2 euicc_signed2; /* 30 */
    sgp22_bytes euicc_signature2;      /* 5F37, 64 octets */
} sgp22_prepare_dl_ok;

typedef struct sgp22_prepare_download_resp {
    der_tlv raw;
    bool is_ok; /* downloadResponseOk (A0) or downloadResponseError (A1) */
    sgp22_prepare_dl_ok ok;
    sgp22_tid_error error;
} sgp22_prepare_download_resp;

/* ---- StoreMetadataRequest (BF25) ---- */

typedef struct sgp22_notif_config {
    der_tlv raw;
    sgp22_bytes pmo;     /* 80 NotificationEvent BIT STRING */
    sgp22_bytes address; /* 81 UTF8String */
} sgp22_notif_config;

typedef struct sgp22_operator_id {
    der_tlv raw;
    sgp22_bytes mcc_mnc; /* 80, 3 octets */
    sgp22_bytes gid1;    /* 81 OPTIONAL */
    sgp22_bytes gid2;    /* 82 OPTIONAL */
} sgp22_operator_id;

typedef struct sgp22_store_metadata {
    der_tlv raw;
    sgp22_bytes iccid;                 /* 5A, 10 octets */
    sgp22_bytes service_provider_name; /* 91 UTF8String (SIZE(0..32)) */
    sgp22_bytes profile_name;          /* 92 UTF8String (SIZE(0..64)) */
    sgp22_int icon_type;               /* 93 OPTIONAL (jpg 0, png 1) */
    sgp22_bytes icon;                  /* 94 OPTIONAL, 0..1024 octets, only with icon_type */
    sgp22_int profile_class;           /* 95 OPTIONAL (test 0, provisioning 1, operational 2) */
    sgp22_list notification_config;    /* B6 OPTIONAL; items: sgp22_notif_config */
    bool has_profile_owner;
    sgp22_operator_id profile_owner;     /* B7 OPTIONAL */
    sgp22_bytes ppr;                     /* 99 PprIds BIT STRING OPTIONAL */
    der_tlv service_specific_stored;     /* BF22 OPTIONAL (v2.4+), kept as a TLV */
    der_tlv service_specific_not_stored; /* BF23 OPTIONAL (v2.4+), kept as a TLV */
} sgp22_store_metadata;

/* ---- ProfileInstallationResult (BF37) ---- */

typedef struct sgp22_notification_metadata {
    der_tlv raw;                      /* BF2F */
    int64_t seq_number;               /* 80 */
    sgp22_bytes pmo;                  /* 81 NotificationEvent BIT STRING */
    sgp22_bytes notification_address; /* 0C UTF8String */
    sgp22_bytes iccid;                /* 5A OPTIONAL, 10 octets */
} sgp22_notification_metadata;

typedef struct sgp22_pir_success {
    der_tlv raw;               /* A0 */
    sgp22_bytes aid;           /* 4F, 5..16 octets */
    sgp22_bytes sima_response; /* 04 */
} sgp22_pir_success;

typedef struct sgp22_pir_error {
    der_tlv raw;               /* A1 */
    int64_t bpp_command_id;    /* 80 */
    int64_t error_reason;      /* 81 */
    sgp22_bytes sima_response; /* 82 OPTIONAL */
} sgp22_pir_error;

typedef struct sgp22_pir_final_result {
    der_tlv raw;  /* A2 */
    bool success; /* successResult (A0) or errorResult (A1) */
    sgp22_pir_success ok;
    sgp22_pir_error error;
} sgp22_pir_final_result;

typedef struct sgp22_pir_data {
    der_tlv raw;                                       /* BF27: the bytes euiccSignPIR covers */
    sgp22_bytes transaction_id;                        /* 80 */
    sgp22_notification_metadata notification_metadata; /* BF2F */
    sgp22_bytes smdp_oid;                              /* 06 OPTIONAL (present from v2.1 on) */
    sgp22_pir_final_result final_result;               /* A2 */
} sgp22_pir_data;

typedef struct sgp22_pir {
    der_tlv raw;
    sgp22_pir_data data;        /* BF27 */
    sgp22_bytes euicc_sign_pir; /* 5F37, 64 octets */
} sgp22_pir;

/* ---- CancelSessionResponse (BF41) ---- */

typedef struct sgp22_cancel_session_signed {
    der_tlv raw;                /* the bytes euiccCancelSessionSignature covers */
    sgp22_bytes transaction_id; /* 80 */
    sgp22_bytes smdp_oid;       /* 81 OBJECT IDENTIFIER (automatic tag) */
    int64_t reason;             /* 82 CancelSessionReason */
} sgp22_cancel_session_signed;

typedef struct sgp22_cancel_session_ok {
    der_tlv raw;                                             /* A0 */
    sgp22_cancel_session_signed euicc_cancel_session_signed; /* 30 */
    sgp22_bytes euicc_cancel_session_signature;              /* 5F37, 64 octets */
} sgp22_cancel_session_ok;

typedef struct sgp22_cancel_session_resp {
    der_tlv raw;
    bool is_ok; /* cancelSessionResponseOk (A0) or cancelSessionResponseError (81 INTEGER) */
    sgp22_cancel_session_ok ok;
    int64_t error;
} sgp22_cancel_session_resp;

/* ---- BPP parts (ES8+) ---- */

typedef struct sgp22_crt {
    der_tlv raw;          /* A6 controlRefTemplate */
    sgp22_bytes key_type; /* 80, 1 octet (0x88 = AES) */
    sgp22_bytes key_len;  /* 81, 1 octet (0x10) */
    sgp22_bytes host_id;  /* 84, 1..16 octets */
} sgp22_crt;

typedef struct sgp22_init_secure_channel {
    der_tlv raw;
    int64_t remote_op_id;           /* 82, must be 1 (installBoundProfilePackage) */
    sgp22_bytes transaction_id;     /* 80 */
    sgp22_crt control_ref_template; /* A6 */
    sgp22_bytes smdp_otpk;          /* 5F49, 65 octets */
    sgp22_bytes smdp_sign;          /* 5F37, 64 octets */
} sgp22_init_secure_channel;

typedef struct sgp22_dp_proprietary_data {
    der_tlv raw;        /* B8 */
    sgp22_bytes dp_oid; /* 80 OBJECT IDENTIFIER (automatic tag) */
} sgp22_dp_proprietary_data;

typedef struct sgp22_configure_isdp {
    der_tlv raw;
    bool has_dp_proprietary_data;
    sgp22_dp_proprietary_data dp_proprietary_data; /* B8 OPTIONAL */
} sgp22_configure_isdp;

typedef struct sgp22_replace_session_keys {
    der_tlv raw;
    sgp22_bytes initial_mcv; /* 80 initialMacChainingValue, 16 octets */
    sgp22_bytes ppk_enc;     /* 81, 16 octets */
    sgp22_bytes ppk_cmac;    /* 82, 16 octets */
} sgp22_replace_session_keys;

/* BoundProfilePackage.  List items: sgp22_bytes, each one complete segment
 * TLV (tag, length, payload and MAC) with the list's element tag. */
typedef struct sgp22_bpp {
    der_tlv raw;
    sgp22_init_secure_channel init_secure_channel; /* BF23 */
    sgp22_list first_seq87;                        /* A0 of 87 (ConfigureISDP) */
    sgp22_list seq88;                              /* A1 of 88 (StoreMetadata) */
    sgp22_list second_seq87;                       /* A2 of 87 OPTIONAL (ReplaceSessionKeys) */
    sgp22_list seq86;                              /* A3 of 86 (profile elements) */
} sgp22_bpp;

/* ---- ES11 AuthenticateClientResponseEs11 (BF40), ASN.1 binding ---- */

typedef struct sgp22_event_entry {
    der_tlv raw;                    /* 30 */
    sgp22_bytes event_id;           /* 80 UTF8String */
    sgp22_bytes rsp_server_address; /* 81 UTF8String */
} sgp22_event_entry;

typedef struct sgp22_es11_ok {
    der_tlv raw;                /* A0 */
    sgp22_bytes transaction_id; /* 80 */
    sgp22_list event_entries;   /* A1; items: sgp22_event_entry */
} sgp22_es11_ok;

typedef struct sgp22_es11_auth_client_resp {
    der_tlv raw;
    bool is_ok; /* authenticateClientOk (A0) or authenticateClientError (81 INTEGER) */
    sgp22_es11_ok ok;
    int64_t error;
} sgp22_es11_auth_client_resp;

/* ---- errors and helpers ---- */

/* "Struct.field" where this thread's last decode or encode failed; "" after a success. */
const char *sgp22_err_field(void);

/* Named bit n of a BIT STRING value (first octet = number of unused bits). */
bool sgp22_bit(sgp22_bytes bits, unsigned n);
/* Writes the DER value of a named-bit BIT STRING with bit n set for each set bit
 * n of mask (trailing zero bits removed); returns its length (1..5). */
size_t sgp22_bits_from_mask(uint32_t mask, uint8_t out[5]);

/* Iterate a decoded list's elements with der_next(). */
void sgp22_list_reader(const sgp22_list *l, der_reader *r);
/* Element i of a decoded list; DER_EEOF when i >= count. */
int sgp22_list_at(const sgp22_list *l, size_t i, der_tlv *out);
/* True if a key-id list (decoded, or built from sgp22_bytes items) holds `id`. */
bool sgp22_list_has(const sgp22_list *l, const uint8_t *id, size_t len);
/* Decode one element of event_entries / notification_config (an element TLV from the list). */
int sgp22_event_entry_decode(const der_tlv *elem, sgp22_event_entry *out);
int sgp22_notif_config_decode(const der_tlv *elem, sgp22_notif_config *out);

/* OBJECT IDENTIFIER value octets <-> dotted text ("2.999.10").  oid_encode
 * writes at most cap octets and sets *out_len; oid_format writes a NUL-
 * terminated string.  Both return 0 or DER_EVALUE (malformed, arcs over 64
 * bits, or output too small). */
int sgp22_oid_encode(const char *dotted, uint8_t *out, size_t cap, size_t *out_len);
int sgp22_oid_format(const uint8_t *oid, size_t len, char *out, size_t cap);

/* ---- decoders and encoders, one pair per structure ---- */

int sgp22_euicc_info1_decode(const uint8_t *buf, size_t len, sgp22_euicc_info1 *out);
int sgp22_euicc_info1_encode(der_writer *w, const sgp22_euicc_info1 *in);

int sgp22_euicc_info2_decode(const uint8_t *buf, size_t len, sgp22_euicc_info2 *out);
int sgp22_euicc_info2_encode(der_writer *w, const sgp22_euicc_info2 *in);

int sgp22_server_signed1_decode(const uint8_t *buf, size_t len, sgp22_server_signed1 *out);
int sgp22_server_signed1_encode(der_writer *w, const sgp22_server_signed1 *in);

int sgp22_ctx_params1_decode(const uint8_t *buf, size_t len, sgp22_ctx_params1 *out);
int sgp22_ctx_params1_encode(der_writer *w, const sgp22_ctx_params1 *in);

int sgp22_euicc_signed1_decode(const uint8_t *buf, size_t len, sgp22_euicc_signed1 *out);
int sgp22_euicc_signed1_encode(der_writer *w, const sgp22_euicc_signed1 *in);

int sgp22_auth_server_resp_decode(const uint8_t *buf, size_t len, sgp22_auth_server_resp *out);
int sgp22_auth_server_resp_encode(der_writer *w, const sgp22_auth_server_resp *in);

int sgp22_smdp_signed2_decode(const uint8_t *buf, size_t len, sgp22_smdp_signed2 *out);
int sgp22_smdp_signed2_encode(der_writer *w, const sgp22_smdp_signed2 *in);

int sgp22_euicc_signed2_decode(const uint8_t *buf, size_t len, sgp22_euicc_signed2 *out);
int sgp22_euicc_signed2_encode(der_writer *w, const sgp22_euicc_signed2 *in);

int sgp22_prepare_download_resp_decode(const uint8_t *buf, size_t len, sgp22_prepare_download_resp *out);
int sgp22_prepare_download_resp_encode(der_writer *w, const sgp22_prepare_download_resp *in);

int sgp22_store_metadata_decode(const uint8_t *buf, size_t len, sgp22_store_metadata *out);
int sgp22_store_metadata_encode(der_writer *w, const sgp22_store_metadata *in);

int sgp22_pir_data_decode(const uint8_t *buf, size_t len, sgp22_pir_data *out);
int sgp22_pir_data_encode(der_writer *w, const sgp22_pir_data *in);

int sgp22_pir_decode(const uint8_t *buf, size_t len, sgp22_pir *out);
/* NotificationMetadata (BF2F), e.g. tbsOtherNotification of an OtherSignedNotification. */
int sgp22_notification_metadata_decode(const uint8_t *buf, size_t len, sgp22_notification_metadata *out);
int sgp22_notification_metadata_encode(der_writer *w, const sgp22_notification_metadata *in);
int sgp22_pir_encode(der_writer *w, const sgp22_pir *in);

int sgp22_cancel_session_signed_decode(const uint8_t *buf, size_t len, sgp22_cancel_session_signed *out);
int sgp22_cancel_session_signed_encode(der_writer *w, const sgp22_cancel_session_signed *in);

int sgp22_cancel_session_resp_decode(const uint8_t *buf, size_t len, sgp22_cancel_session_resp *out);
int sgp22_cancel_session_resp_encode(der_writer *w, const sgp22_cancel_session_resp *in);

int sgp22_init_secure_channel_decode(const uint8_t *buf, size_t len, sgp22_init_secure_channel *out);
int sgp22_init_secure_channel_encode(der_writer *w, const sgp22_init_secure_channel *in);
/* Appends what smdpSign covers: the remoteOpId, transactionId,
 * controlRefTemplate and smdpOtpk TLVs, then 5F49 || euicc_otpk. */
int sgp22_init_secure_channel_tbs(der_writer *w, const sgp22_init_secure_channel *in,
                                  const uint8_t *euicc_otpk, size_t euicc_otpk_len);

int sgp22_configure_isdp_decode(const uint8_t *buf, size_t len, sgp22_configure_isdp *out);
int sgp22_configure_isdp_encode(der_writer *w, const sgp22_configure_isdp *in);

int sgp22_replace_session_keys_decode(const uint8_t *buf, size_t len, sgp22_replace_session_keys *out);
int sgp22_replace_session_keys_encode(der_writer *w, const sgp22_replace_session_keys *in);

int sgp22_bpp_decode(const uint8_t *buf, size_t len, sgp22_bpp *out);
int sgp22_bpp_encode(der_writer *w, const sgp22_bpp *in);

int sgp22_es11_auth_client_resp_decode(const uint8_t *buf, size_t len, sgp22_es11_auth_client_resp *out);
int sgp22_es11_auth_client_resp_encode(der_writer *w, const sgp22_es11_auth_client_resp *in);

#endif
