/*
 * tools/lpasim/testserver.h - test double of the RSP server side (SM-DP+ or
 * SM-DS) for the eUICC tests and the fuzz target: mints a test PKI, signs
 * ServerSigned1 / SmdpSigned2, checks the eUICC's answers and binds profile
 * packages into BPPs with rsp/bsp.h.  Each step can be told to misbehave.
 *
 * Test code only.  Functions return 0 on success and -1 on failure; outputs
 * go to caller-initialised der_writers.  ts_pki owns its credentials
 * (ts_pki_clear); ts_server owns its one-time key (ts_server_clear).
 */
#ifndef LPASIM_TESTSERVER_H
#define LPASIM_TESTSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asn1/der.h"
#include "rsp/bsp.h"
#include "tools/lpasim/euicc.h"
#include "tools/pki/pki.h"

typedef struct ts_pki {
    pki_cred ci, eum, euicc, dpauth, dppb, dsauth;
    pki_cred rogue_ci, rogue_dpauth, rogue_dppb; /* a CI the eUICC does not trust, and its servers */
} ts_pki;

/* Mints the whole set on one curve.  0 / -1. */
int ts_pki_init(ts_pki *p, pki_curve curve);
void ts_pki_clear(ts_pki *p);

/* A fresh eUICC holding p's eUICC identity and trusting p's CI. */
euicc *ts_make_euicc(const ts_pki *p);

typedef struct ts_server {
    /* Set by the test before the steps (borrowed). */
    X509 *auth_cert; /* CERT.DPauth or CERT.DSauth sent as serverCertificate */
    EVP_PKEY *auth_key;
    X509 *pb_cert; /* CERT.DPpb */
    EVP_PKEY *pb_key;
    const uint8_t *ci_ski; /* euiccCiPKIdToBeUsed; NULL: the auth certificate's AKI */
    size_t ci_ski_len;
    char address[256]; /* serverAddress */
    uint8_t tid[16];
    size_t tid_len;
    uint8_t server_challenge[16];

    /* Misbehaviour switches. */
    bool bad_server_signature1;    /* flip a bit of serverSignature1 */
    bool wrong_euicc_challenge;    /* echo another euiccChallenge */
    bool bad_smdp_signature2;      /* flip a bit of smdpSignature2 */
    bool cc_required;              /* ccRequiredFlag */
    const uint8_t *bpp_euicc_otpk; /* bppEuiccOtpk (65 bytes) in smdpSigned2, or NULL */
    const uint8_t *ss2_tid;        /* transactionId in smdpSigned2 instead of tid */
    size_t ss2_tid_len;
    const uint8_t *bf23_tid; /* transactionId in InitialiseSecureChannel instead of tid */
    size_t bf23_tid_len;
    bool bad_smdp_sign;        /* flip a bit of smdpSign */
    bool use_ppk;              /* ReplaceSessionKeys (A2) and profile elements under PPKs */
    const uint8_t *meta_iccid; /* StoreMetadata ICCID instead of the package's (10 bytes, 5A coding) */
    size_t upp_plain;          /* plaintext bytes per 86 segment; 0: SGP.22's 1007 (1020-byte segments) */

    /* Filled by the steps. */
    uint8_t euicc_signature1[64];
    uint8_t smdp_signature2[64];
    uint8_t euicc_otpk[65];
    EVP_PKEY *otk; /* otSK.DP.ECKA */
} ts_server;

/* Zeroes s, sets a random 16-byte transactionId and serverChallenge. */
void ts_server_init(ts_server *s);
void ts_server_clear(ts_server *s);

/* Segment positions of a BPP built by ts_bind (offsets into its buffer). */
typedef struct ts_segments {
    size_t off[4][256];
    size_t len[4][256];
    size_t n[4];         /* per list: A0, A1, A2, A3 */
    size_t bf23_sig_off; /* offset of the smdpSign value */
} ts_segments;

/* AuthenticateServerRequest (BF38) for the eUICC challenge, as an LPA would
 * assemble it from InitiateAuthentication; matching_id may be NULL. */
int ts_auth_request(ts_server *s, const uint8_t euicc_challenge[16], const char *matching_id, der_writer *w);

/* Checks AuthenticateServerResponse: ok form, transactionId, serverChallenge,
 * serverAddress, chain to ci, euiccSignature1.  Keeps euiccSignature1. */
int ts_check_auth_response(ts_server *s, X509 *ci, const uint8_t *resp, size_t len);

/* PrepareDownloadRequest (BF21); hash_cc (32 bytes) may be NULL. */
int ts_prepare_request(ts_server *s, const uint8_t *hash_cc, der_writer *w);

/* Checks PrepareDownloadResponse with the eUICC certificate; keeps otPK.EUICC. */
int ts_check_prepare_response(ts_server *s, X509 *euicc_cert, const uint8_t *resp, size_t len);

/* The StoreMetadataRequest (BF25) ts_bind puts in the BPP for this ICCID (5A coding). */
int ts_metadata(const ts_server *s, const uint8_t iccid[10], der_writer *w);

/* Binds a profile package into a BPP (BF36) for the eUICC with this EID. */
int ts_bind(ts_server *s, const char *eid, const uint8_t *pkg, size_t pkg_len, der_writer *w,
            ts_segments *segs);

/* The same from given plaintexts: ConfigureISDP, StoreMetadata, an optional
 * ReplaceSessionKeys (rsk NULL: no A2) after which ppk (if not NULL) protects
 * the package. */
int ts_bind_parts(ts_server *s, const char *eid, const uint8_t *cfg, size_t cfg_len, const uint8_t *meta,
                  size_t meta_len, const uint8_t *rsk, size_t rsk_len, const rsp_bsp_keys *ppk,
                  const uint8_t *pkg, size_t pkg_len, der_writer *w, ts_segments *segs);

/* A small synthetic profile package: ProfileHeader with iccid (digits), then
 * n_filler padding elements of filler_len bytes each. */
int ts_synthetic_package(const char *iccid, size_t n_filler, size_t filler_len, der_writer *w);

/* Runs GetEUICCChallenge, AuthenticateServer and PrepareDownload with s
 * against e, leaving e ready for LoadBoundProfilePackage.  0 / -1. */
int ts_run_to_bpp(ts_server *s, euicc *e, X509 *ci);

#endif
