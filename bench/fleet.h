/*
 * bench/fleet.h - a fleet of simulated devices for load generation: many
 * lpa-sim eUICCs (tools/lpasim/euicc.h) with certificates minted before the
 * run under one EUM (tools/pki), and the eUICC answer to AuthenticateServer
 * built without re-verifying the server.
 *
 * Why the fast path: a real eUICC verifies CERT.DSauth and serverSignature1
 * on every poll, but in a load test that client work competes with the
 * server for the same cores.  rsp-bench runs the full eUICC check
 * (euicc_authenticate_server) on a thread's first poll and the fast path
 * after it; the fast path signs exactly the euiccSigned1 the eUICC would.
 *
 * Ownership: a fleet owns its devices, their eUICCs and DER copies; the
 * issuing credentials and CI certificates passed in are borrowed (the
 * eUICCs take their own references).  Errors: 0 / -1 with a message in err.
 * Thread safety: a device (its euicc) is used by one thread at a time;
 * fleet_mint mints on several threads internally.
 */
#ifndef BENCH_FLEET_H
#define BENCH_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "asn1/der.h"
#include "tools/lpasim/euicc.h"
#include "tools/pki/pki.h"

typedef struct fleet_dev {
    euicc *e;
    char eid[PKI_EID_LEN + 1];
    uint8_t *info1, *info2; /* EUICCInfo1 (BF20) and EUICCInfo2 (BF22) as the eUICC answers them */
    size_t info1_len, info2_len;
    uint8_t *cert_der; /* CERT.EUICC.ECDSA */
    size_t cert_len;
    const uint8_t *eum_der; /* the fleet's CERT.EUM.ECDSA */
    size_t eum_len;
} fleet_dev;

typedef struct fleet {
    pki_curve curve;
    fleet_dev *dev;
    size_t n;
    uint8_t *eum_der; /* CERT.EUM.ECDSA, shared by all devices */
    size_t eum_len;
} fleet;

/*
 * Mints n eUICCs under eum (certificate and key) on its curve, device i with
 * the EID built from eid_prefix and eid_numbers[i] (pki_eid_make), each
 * trusting every CI in cis.  threads: minting threads (0 = 1).
 */
int fleet_mint(fleet *f, const pki_cred *eum, X509 *const *cis, size_t ncis, const char *eid_prefix,
               const uint64_t *eid_numbers, size_t n, unsigned threads, char *err, size_t errcap);
void fleet_free(fleet *f);

/*
 * The device's AuthenticateServerResponse (BF38, authenticateResponseOk)
 * for serverSigned1 (the raw 30 TLV from InitiateAuthentication) and
 * ctxParams1 (its raw TLV), without verifying the server: euiccSigned1
 * {transactionId, serverAddress, serverChallenge, euiccInfo2, ctxParams1}
 * signed with the device key, its certificate and the EUM certificate.
 * Fails when serverSigned1 does not parse or does not echo challenge.
 */
int fleet_auth_response(const fleet_dev *d, const uint8_t challenge[16], const uint8_t *server_signed1,
                        size_t len, const uint8_t *ctx_params1, size_t ctx_len, der_writer *out);

#endif
