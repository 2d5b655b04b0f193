/*
 * tests/euicc/euicc_sim.h - the eUICC side of ES11/ES9+ mutual authentication, for tests.
 *
 * Plays what ES10b GetEUICCInfo1 and AuthenticateServer do on a card, with a certificate chain and key
 * from files (rsp-pki output or the SGP.26 set): builds EUICCInfo1, checks the server's ServerSigned1
 * (challenge, address, CERT.XXauth under a supported CI, serverSignature1) and answers with an
 * AuthenticateServerResponse (BF38) signed with SK.EUICC.  Tamper flags produce the broken answers the
 * negative tests need.  Test tooling only: the servers never link it.
 *
 * Ownership: an euicc_sim owns its certificates and key (euicc_sim_free); output buffers are malloc'd
 * and belong to the caller.  Errors: functions return 0, or a negative EUICC_SIM_E* code with a
 * message in euicc_sim_error().
 */
#ifndef TESTS_EUICC_SIM_H
#define TESTS_EUICC_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#define EUICC_SIM_MAX_CI 4

enum {
    EUICC_SIM_OK = 0,
    EUICC_SIM_EFILE = -1,   /* certificate or key file unreadable */
    EUICC_SIM_EINPUT = -2,  /* server data malformed */
    EUICC_SIM_ESERVER = -3, /* the server failed a check the eUICC makes */
    EUICC_SIM_ECRYPTO = -4,
};

typedef struct euicc_sim {
    X509 *euicc, *eum;
    uint8_t *euicc_der, *eum_der;
    size_t euicc_len, eum_len;
    EVP_PKEY *key;
    char eid[33];
    X509 *ci[EUICC_SIM_MAX_CI]; /* CIs the eUICC claims (EUICCInfo1 lists, server certificate check) */
    size_t nci;
} euicc_sim;

/* What the tests can change. */
typedef struct euicc_sim_opts {
    uint8_t svn[3];             /* EUICCInfo1 / EUICCInfo2 SVN; all zero = 2.2.2 */
    bool list_in_v3;            /* put the signing CIs only in euiccCiPKIdListForSigningV3 */
    bool empty_verify_list;     /* euiccCiPKIdListForVerification without any CI */
    const char *matching_id;    /* ctxParams1.matchingId; NULL = absent */
    bool bad_signature;         /* flip a bit of euiccSignature1 */
    bool wrong_challenge;       /* sign a different serverChallenge */
    bool wrong_tid;             /* sign a different transactionId */
    const char *signed_address; /* serverAddress in euiccSigned1; NULL = the server's */
    bool skip_server_checks;    /* answer even if the server's data does not verify */
} euicc_sim_opts;

/* euicc_cert/eum_cert: DER or PEM; key: PEM.  ci_files: the CIs the eUICC lists and trusts. */
int euicc_sim_load(euicc_sim *s, const char *euicc_cert, const char *euicc_key, const char *eum_cert,
                   const char *const *ci_files, size_t nci);
void euicc_sim_free(euicc_sim *s);

/* EUICCInfo1 (BF20) DER. */
int euicc_sim_info1(const euicc_sim *s, const euicc_sim_opts *o, uint8_t **out, size_t *len);

/* The server's InitiateAuthentication answer, decoded from base64. */
typedef struct euicc_sim_server {
    const uint8_t *signed1, *signature1, *ci_pkid, *cert;
    size_t signed1_len, signature1_len, ci_pkid_len, cert_len;
} euicc_sim_server;

/*
 * AuthenticateServer: checks the server's data against euicc_challenge and address (unless
 * skip_server_checks): ServerSigned1 decodes, carries euicc_challenge and address, CERT.DSauth (or
 * DPauth) is issued by one of the eUICC's CIs, serverSignature1 verifies, euiccCiPKIdToBeUsed names the
 * CI of the eUICC's own chain.  Then writes the BF38 DER.
 */
int euicc_sim_authenticate(const euicc_sim *s, const euicc_sim_opts *o, const uint8_t euicc_challenge[16],
                           const char *address, const euicc_sim_server *srv, uint8_t **bf38,
                           size_t *bf38_len);

/* The last error message on this thread. */
const char *euicc_sim_error(void);

#endif
