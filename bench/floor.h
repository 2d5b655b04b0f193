/*
 * bench/floor.h - the crypto floor: what the cryptography a server must do
 * per request costs when done alone, in process, with the same OpenSSL and
 * the same keys, measured in the same run as the load.
 *
 * Each cost is CPU µs per operation on the calling thread (its CPU clock, so
 * other load on the machine does not inflate it), the best of `rounds`
 * rounds of about `secs` CPU seconds each.
 *
 * ES11 poll (server side):
 *   TLS handshake   one signature with the TLS key (CertificateVerify over
 *                   130 bytes with the negotiated digest) and one key
 *                   agreement: ephemeral key generation plus derivation
 *                   with the peer's share, on the negotiated group;
 *   serverSignature1 one TR-03111 ECDSA signature with CERT.DSauth's key;
 *   AuthenticateClient two verifications: the eUICC certificate (its
 *                   signature, with the EUM key; the EUM itself is cached)
 *                   and euiccSignature1 (with the eUICC key).
 *
 * Ownership: keys and certificates are borrowed.  Errors: 0 / -1 (an OpenSSL
 * operation failed; nothing is left allocated).
 */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct floor_cfg {
    double secs; /* CPU seconds per round [0.2] */
    int rounds;  /* [3] */
} floor_cfg;

/* CPU µs per call of op(arg) (op returns 0 on success). */
int floor_measure(const floor_cfg *cfg, int (*op)(void *arg), void *arg, double *us);

/* TLS CertificateVerify-style signature: DigestSign with md (NULL = SHA-256)
 * over 130 bytes with key (EC, RSA with PSS padding, or Ed25519 without md). */
int floor_tls_sign(const floor_cfg *cfg, EVP_PKEY *key, const EVP_MD *md, double *us);
/* Server side of an ECDHE exchange on group ("X25519", "X448", "P-256",
 * "P-384", "P-521", or an OpenSSL group name): keygen + peer share + derive. */
int floor_key_agreement(const floor_cfg *cfg, const char *group, double *us);
/* rsp_sig_sign of a message of len bytes. */
int floor_app_sign(const floor_cfg *cfg, EVP_PKEY *key, size_t len, double *us);
/* rsp_sig_verify with pub of a message of len bytes (signed here with signer
 * first). */
int floor_app_verify(const floor_cfg *cfg, EVP_PKEY *signer, EVP_PKEY *pub, size_t len, double *us);
/* X509_verify(cert, issuer_pub): one certificate signature check. */
int floor_cert_verify(const floor_cfg *cfg, X509 *cert, EVP_PKEY *issuer_pub, double *us);

/* Not part of the floor, measured to explain what lies above it: d2i_X509
 * of a DER certificate and taking its public key (OpenSSL 3 decodes the key
 * through its provider decoders), as a server must for every eUICC
 * certificate it receives. */
int floor_cert_parse(const floor_cfg *cfg, const uint8_t *der, size_t len, double *us);

/* Not part of the floor either: the server side of one whole OpenSSL TLS 1.3
 * handshake (full, no resumption) with that certificate chain file and key,
 * OpenSSL's default server settings (two session tickets), client and
 * server in this thread over memory BIOs: what the TLS library itself
 * charges per new connection, before any socket or HTTP work.  *us is the
 * server's CPU µs per handshake. */
int floor_tls_handshake(const floor_cfg *cfg, const char *cert_chain_file, const char *key_file, double *us);

/* The ES11 floor, all parts. */
typedef struct floor_es11_in {
    EVP_PKEY *tls_key;        /* server TLS key */
    const EVP_MD *tls_md;     /* negotiated CertificateVerify digest (NULL = SHA-256) */
    const char *group;        /* negotiated key-agreement group */
    EVP_PKEY *auth_key;       /* CERT.DSauth key used for this eUICC's curve */
    X509 *euicc_cert;         /* a device certificate ... */
    EVP_PKEY *eum_pub;        /* ... and its issuer's (EUM) public key */
    EVP_PKEY *euicc_key;      /* the device key (signs the test euiccSigned1) */
    size_t signed1_len;       /* serverSigned1 size */
    size_t euicc_signed1_len; /* euiccSigned1 size */
} floor_es11_in;

typedef struct floor_es11 {
    double tls_sign_us, key_agreement_us, sign1_us, verify_cert_us, verify_sig_us;
    double handshake_us; /* tls_sign + key_agreement */
    double app_us;       /* sign1 + verify_cert + verify_sig */
    double fresh_us;     /* handshake + app: a poll on a new connection */
} floor_es11;

int floor_es11_measure(const floor_cfg *cfg, const floor_es11_in *in, floor_es11 *out);

/*
 * ES9+ complete download (server side), from the SM-DP+ handlers:
 *   TLS handshake        as for ES11 (one connection per download);
 *   InitiateAuthentication  serverSignature1 with CERT.DPauth's key;
 *   AuthenticateClient   the eUICC certificate and euiccSignature1 verified,
 *                        smdpSignature2 with CERT.DPpb's key;
 *   GetBoundProfilePackage  euiccSignature2 verified, the one-time key pair
 *                        generated and the shared secret derived with
 *                        otPK.EUICC (ECKA), InitialiseSecureChannel signed
 *                        with CERT.DPpb's key;
 *   HandleNotification   the ProfileInstallationResult signature verified.
 * The symmetric work (session keys, the BSP segments of the per-session
 * parts; the profile itself is protected once at import) is not counted.
 */
typedef struct floor_es9_in {
    EVP_PKEY *tls_key;
    const EVP_MD *tls_md;
    const char *group;  /* TLS key agreement */
    EVP_PKEY *auth_key; /* CERT.DPauth key for the eUICC's curve */
    EVP_PKEY *pb_key;   /* CERT.DPpb key for the eUICC's curve */
    const char *ecka;   /* the curve of ECKA: "P-256" or "brainpoolP256r1" */
    X509 *euicc_cert;
    EVP_PKEY *eum_pub;
    EVP_PKEY *euicc_key;
} floor_es9_in;

typedef struct floor_es9 {
    double tls_sign_us, key_agreement_us;
    double auth_sign_us;   /* serverSignature1 */
    double pb_sign_us;     /* each of smdpSignature2 and the InitialiseSecureChannel signature */
    double verify_cert_us; /* the eUICC certificate */
    double verify_sig_us;  /* each of euiccSignature1, euiccSignature2, euiccSignPIR */
    double ecka_us;        /* one-time key pair + shared secret */
    double
        total_us; /* tls_sign + key_agreement + auth_sign + 2 pb_sign + verify_cert + 3 verify_sig + ecka */
} floor_es9;

int floor_es9_measure(const floor_cfg *cfg, const floor_es9_in *in, floor_es9 *out);

/* OpenSSL group name for a TLS group NID (as SSL_get_negotiated_group
 * gives), or NULL when unknown. */
const char *floor_group_name(int nid);

#endif
