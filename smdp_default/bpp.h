/*
 * smdp_default/bpp.h - profile protection and Bound Profile Package (BF36)
 * building for the SM-DP+ (SGP.22 §2.5, ES8+ §5.5).
 *
 * Two stages:
 *
 *  1. Import (once per profile): smdp_ppp_protect() draws random Profile
 *     Protection Keys (PPK-ENC, PPK-MAC, initial MCV), protects the UPP as
 *     86 segments under them (counter from 1) and seals the PPKs under the
 *     service master key.  The result (segments + sealed PPKs) is what the
 *     store keeps; the PPKs never leave it in clear.
 *
 *  2. Download (per device): smdp_bpp_build() derives the session keys by
 *     ECKA between the SM-DP+ one-time key and otPK.EUICC plus the KDF with
 *     hostId and EID, then emits
 *        BF36 { BF23 InitialiseSecureChannelRequest,
 *               A0 { 87 ConfigureISDPRequest BF24 },         encrypted + MAC
 *               A1 { 88 StoreMetadataRequest BF25 ... },     MAC only, split
 *               A2 { 87 ReplaceSessionKeysRequest BF26 },    encrypted + MAC
 *               A3 { 86 ... } }                              stored segments
 *     The session key set counts 87, 88.., 87 with one counter and MAC chain;
 *     the stored 86 segments were made with a fresh PPK key set.  The PPKs
 *     are unsealed only for the BF26 payload and wiped at once.
 *
 * Retries: ECDSA signatures are randomised, so the same inputs give a new
 * smdpSign each time.  To answer a retried GetBoundProfilePackage with the
 * same bytes, keep the built BPP; to rebind under a new transaction with the
 * same otPK.EUICC, keep the one-time key pair sealed (smdp_otsk_seal) and
 * build again with it: the session keys, and so every segment, are the same.
 *
 * Sealing: AES-256-GCM under the 32-byte service master key, with the
 * purpose ("ppk", "otsk") and a context (the ICCID) authenticated as
 * additional data, so a blob cannot be moved to another profile or use.
 * Blob = 01 || nonce (12) || ciphertext || tag (16).  The master key lives in
 * a file (64 hex digits) that only its owner may read.
 *
 * Conventions: functions return 0 or a negative SMDP_BPP_E* code
 * (smdp_bpp_strerror).  Outputs on the heap belong to the caller (free(), or
 * the matching _free function); secrets held temporarily are wiped.
 * Nothing here keeps state between calls; all functions are thread-safe.
 */
#ifndef SMDP_BPP_H
#define SMDP_BPP_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "asn1/der.h"

enum {
    SMDP_BPP_OK = 0,
    SMDP_BPP_EINVAL = -1,   /* bad argument (size, missing field, malformed input TLV) */
    SMDP_BPP_ENOMEM = -2,   /* allocation failed */
    SMDP_BPP_ECRYPTO = -3,  /* OpenSSL or random failure */
    SMDP_BPP_ESEAL = -4,    /* sealed blob refused: tampered, other key, purpose or context */
    SMDP_BPP_EKEYFILE = -5, /* master key file missing, malformed, or readable by others */
    SMDP_BPP_ESIGN = -6,    /* the signing callback failed */
    SMDP_BPP_EPOINT = -7,   /* otPK.EUICC is not a point on the one-time key's curve */
};

const char *smdp_bpp_strerror(int err);

/* ---- service master key ---- */

#define SMDP_MKEY_LEN 32

typedef struct smdp_mkey {
    uint8_t k[SMDP_MKEY_LEN];
} smdp_mkey;

/*
 * Loads the master key from path (64 hex digits, optional newline).  The
 * file must be a regular file with no group or other permission bits.  When
 * it does not exist and create is set, a random key is written first (mode
 * 0600, via a temporary file and link(), so concurrent starters agree on one
 * key).
 */
int smdp_mkey_load(smdp_mkey *mk, const char *path, int create);
void smdp_mkey_set(smdp_mkey *mk, const uint8_t key[SMDP_MKEY_LEN]);
void smdp_mkey_wipe(smdp_mkey *mk);

#define SMDP_SEAL_OVERHEAD (1 + 12 + 16)

/* Seals pt[0..len) for (purpose, context) into out (cap >= len +
 * SMDP_SEAL_OVERHEAD); *out_len gets the blob size. */
int smdp_seal(const smdp_mkey *mk, const char *purpose, const char *context, const uint8_t *pt, size_t len,
              uint8_t *out, size_t cap, size_t *out_len);
/* Opens a blob made by smdp_seal with the same purpose and context;
 * SMDP_BPP_ESEAL on any mismatch (out is then wiped). */
int smdp_unseal(const smdp_mkey *mk, const char *purpose, const char *context, const uint8_t *blob,
                size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* ---- protected profile (import time) ---- */

#define SMDP_PPK_LEN 48 /* PPK-ENC || PPK-MAC || initial MCV */
#define SMDP_PPK_BLOB_LEN (SMDP_PPK_LEN + SMDP_SEAL_OVERHEAD)

typedef struct smdp_ppp {
    uint8_t *seq86; /* concatenated 86 segments: the value of A3 (heap) */
    size_t seq86_len;
    size_t segments;
    uint8_t ppk_blob[SMDP_PPK_BLOB_LEN]; /* PPKs sealed for ("ppk", iccid) */
} smdp_ppp;

/* Protects upp under fresh random PPKs.  iccid is the sealing context the
 * build must repeat.  Release out with smdp_ppp_free. */
int smdp_ppp_protect(const smdp_mkey *mk, const char *iccid, const uint8_t *upp, size_t len, smdp_ppp *out);
void smdp_ppp_free(smdp_ppp *p);

/* ---- one-time key pair kept for a retry ---- */

/* Seals the EC key pair for ("otsk", iccid); *blob is malloc'd.  Sealed
 * form: 02 || len || curve name || len || private scalar || public point
 * (smdp_default/eckey.h): 144 octets with the blob overhead for a 256-bit
 * curve. */
int smdp_otsk_seal(const smdp_mkey *mk, const char *iccid, EVP_PKEY *key, uint8_t **blob, size_t *len);
/* Restores it (also from the ECPrivateKey DER that earlier versions sealed);
 * *key is owned by the caller (EVP_PKEY_free). */
int smdp_otsk_unseal(const smdp_mkey *mk, const char *iccid, const uint8_t *blob, size_t len, EVP_PKEY **key);

/* ---- StoreMetadataRequest (BF25) ---- */

enum { SMDP_CLASS_ABSENT = -1, SMDP_CLASS_TEST = 0, SMDP_CLASS_PROVISIONING = 1, SMDP_CLASS_OPERATIONAL = 2 };

#define SMDP_ICON_MAX 1024 /* 94 icon: at most 1024 octets */
#define SMDP_GID_MAX 16
#define SMDP_MD_ADDR_MAX 255

/* NotificationEvent bits (smdp_md_extra.notify_events) and PprIds bits (ppr). */
enum {
    SMDP_NOTIFY_INSTALL = 1,
    SMDP_NOTIFY_ENABLE = 2,
    SMDP_NOTIFY_DISABLE = 4,
    SMDP_NOTIFY_DELETE = 8,
};
enum { SMDP_PPR_UPDATE_CONTROL = 1, SMDP_PPR1 = 2, SMDP_PPR2 = 4 };
enum { SMDP_ICON_JPG = 0, SMDP_ICON_PNG = 1 };

/* What the operator set at import beyond names and class (all optional). */
typedef struct smdp_md_extra {
    uint8_t notify_events;                     /* B6: NotificationEvent bits; 0 = none */
    char notify_address[SMDP_MD_ADDR_MAX + 1]; /* where; "" = the SM-DP+'s own address */
    bool has_icon;
    int icon_type;               /* 93: SMDP_ICON_* */
    uint8_t icon[SMDP_ICON_MAX]; /* 94 */
    size_t icon_len;
    bool has_owner;                                             /* B7 profileOwner */
    uint8_t owner_mccmnc[3];                                    /* 80: MCC/MNC as in EF.IMSI (3 octets) */
    uint8_t owner_gid1[SMDP_GID_MAX], owner_gid2[SMDP_GID_MAX]; /* 81, 82 */
    size_t owner_gid1_len, owner_gid2_len;
    bool has_ppr; /* 99 profilePolicyRules */
    uint8_t ppr;  /* PprIds bits */
} smdp_md_extra;

typedef struct smdp_metadata {
    const char *iccid;                 /* 19/20 digits; encoded swapped in 5A */
    const char *service_provider_name; /* 91, UTF-8, at most 32 characters (NULL = "") */
    const char *profile_name;          /* 92, UTF-8, at most 64 characters (NULL = "") */
    int profile_class;                 /* 95, SMDP_CLASS_*; operational is the DEFAULT and
                                          so is not encoded (DER) */
    const smdp_md_extra *extra;        /* NULL = none */
    const char *own_address;           /* the notification address when extra names none */
} smdp_metadata;

/* Converts "MCCMNC" (5 or 6 digits) to the 3 octets of EF.IMSI / profileOwner
 * (MCC2 MCC1, MNC3 MCC3 (F when MNC has 2 digits), MNC2 MNC1).  0 / -1. */
int smdp_mccmnc_encode(const char *digits, uint8_t out[3]);

/* Appends BF25 { 5A iccid, 91 spn, 92 name, [93 iconType, 94 icon], [95 class],
 * [B6 { 30 { 80 events, 81 address } }], [B7 { 80 mccMnc, [81 gid1], [82 gid2] }],
 * [99 PprIds] } to w (SGP.22 StoreMetadataRequest).  SMDP_BPP_EINVAL when a
 * field breaks its limits, or notifications are asked for with no address. */
int smdp_metadata_encode(der_writer *w, const smdp_metadata *m);

/* ---- Bound Profile Package ---- */

#define SMDP_SIG_LEN 64

/* Signs a || b with SK.DPpb, writing TR-03111 r || s (rsp_sig_sign2 has this
 * shape).  Returns 0 on success. */
typedef int (*smdp_sign_fn)(void *arg, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                            uint8_t sig[SMDP_SIG_LEN]);

/* A smdp_sign_fn for a key held in this process: arg is the EVP_PKEY of
 * SK.DPpb (rsp_sig_sign2). */
int smdp_sign_with_key(void *arg, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                       uint8_t sig[SMDP_SIG_LEN]);

typedef struct smdp_bpp_input {
    const uint8_t *transaction_id; /* 1..16 octets */
    size_t transaction_id_len;
    const uint8_t *eid; /* 16 octets (the 32 EID digits as hex) */
    const uint8_t *host_id;
    size_t host_id_len;        /* 1..16 */
    const uint8_t *euicc_otpk; /* otPK.EUICC.ECKA, 65 octets 04||X||Y */
    size_t euicc_otpk_len;
    EVP_PKEY *smdp_ot; /* otSK.DP.ECKA (with its public key), same curve */
    smdp_sign_fn sign; /* smdpSign over BF23's fields || 5F49 euiccOtpk */
    void *sign_arg;
    const uint8_t *metadata; /* StoreMetadataRequest, one BF25 TLV */
    size_t metadata_len;
    const uint8_t *dp_oid; /* optional ConfigureISDP dpProprietaryData.dpOid, */
    size_t dp_oid_len;     /* OID content octets; NULL = BF24 empty */
    const smdp_mkey *mk;   /* the protected profile, as smdp_ppp_protect made it */
    const char *iccid;
    const uint8_t *ppk_blob;
    size_t ppk_blob_len;
    const uint8_t *seq86;
    size_t seq86_len;
} smdp_bpp_input;

/* Builds the BF36 TLV into *out (malloc'd, caller frees). */
int smdp_bpp_build(const smdp_bpp_input *in, uint8_t **out, size_t *out_len);

#endif
