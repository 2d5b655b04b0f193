/*
 * smds/es11.h - ES11 (LPA -> SM-DS): InitiateAuthentication and
 * AuthenticateClient, the mutual authentication that precedes event
 * retrieval.  Served under /gsma/rsp2/es11/ and /gsma/rsp2/es9plus/ (what
 * deployed LPAs call).
 *
 * Each function takes a parsed JSON body and fills a result that the
 * matching _write function turns into the response members after the
 * header; nothing here touches a socket.  Transactions are stateless
 * (rsp/txn.h): the transactionId carries its expiry and the chosen CI, the
 * serverChallenge is derived from it, so another process holding the same
 * secret can finish the transaction; a consumed transactionId is refused on
 * this process until it expires.
 *
 * Checks, in order, with their codes (rsp/status.h):
 *   InitiateAuthentication: binding (1.1/2.1, 1.1/2.2); euiccChallenge 16
 *   bytes; euiccInfo1 DER (1.1/2.1); smdsAddress or smdpAddress equal to our
 *   FQDN ignoring case (8.9.1/3.8); SVN 2.x or 3.x (8.9.3/3.1); a CI from
 *   euiccCiPKIdListForSigning (and ...V3) that we trust (8.9.2/3.1); a
 *   CERT.DSauth issued by a CI in euiccCiPKIdListForVerification
 *   (8.9.4/3.7), preferring the signing CI.
 *   AuthenticateClient: binding; transactionId valid and unexpired
 *   (8.10.1/3.9); authenticateServerResponse DER with authenticateResponseOk
 *   (1.1/2.1); not yet consumed (8.10.1/3.9); EUM AKI = the chosen CI
 *   (8.11.1/3.9) and the chain with validity, roles and EID range
 *   (8.1.2/..., 8.1.3/...); euiccSignature1 over the received euiccSigned1
 *   bytes (8.1/6.1); inner transactionId = outer (8.10.1/3.9: a well-formed
 *   id this server never issued fails here); serverChallenge (8.1/6.1);
 *   serverAddress (8.9.1/3.8); then the events of the EID, oldest first, or
 *   only the one named by ctxParams1.matchingId (8.9.5/3.9
 *   if the EID has no such event).
 *
 * Results point into the arena and the trust snapshot they hold; release
 * them with the _clear functions.
 */
#ifndef SMDS_ES11_H
#define SMDS_ES11_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rsp/arena.h"
#include "rsp/json.h"
#include "rsp/jsonw.h"
#include "rsp/sig.h"
#include "rsp/txn.h"
#include "smds/smds.h"
#include "smds/store.h"

typedef struct smds_es11_init_result {
    uint8_t tid[RSP_TXN_ID_LEN];
    const uint8_t *server_signed1; /* DER, in the arena */
    size_t server_signed1_len;
    uint8_t signature[3 + RSP_SIG_LEN]; /* 5F37 40 r||s */
    const uint8_t *ci_pkid;             /* SubjectKeyIdentifier TLV (04 len ski), in the arena */
    size_t ci_pkid_len;
    smds_trust *trust; /* holds the certificate below */
    const smds_auth *auth;
} smds_es11_init_result;

rsp_status smds_es11_initiate(smds_t *x, rsp_arena *a, const rsp_json_doc *doc, time_t now,
                              smds_es11_init_result *out, smds_msg *msg);
/* Writes transactionId, serverSigned1, serverSignature1, euiccCiPKIdToBeUsed, serverCertificate. */
int smds_es11_initiate_write(rsp_jsonw *w, const smds_es11_init_result *r);
void smds_es11_init_result_clear(smds_es11_init_result *r);

typedef struct smds_es11_auth_result {
    const uint8_t *tid; /* as received (in the arena) */
    size_t tid_len;
    char eid[SMDS_EID_LEN + 1];
    smds_event_list events;              /* malloc'd */
    char matching_id[SMDS_EVENT_ID_MAX]; /* ctxParams1.matchingId (not NUL-terminated) */
    size_t matching_id_len;              /* 0 = none; may exceed the buffer (then it names no event) */
} smds_es11_auth_result;

/* The whole call: verification, then a synchronous store read (tests, fuzz target, lmdb handlers). */
rsp_status smds_es11_authenticate(smds_t *x, rsp_arena *a, const rsp_json_doc *doc, time_t now,
                                  smds_es11_auth_result *out, smds_msg *msg);
/* The same in two steps for a handler whose store read is asynchronous: verify (every check up to the
 * events; out->eid is then the EID whose events to read), then hand the read's outcome (rc, events:
 * taken over and emptied) to _events, which selects by matchingId. */
rsp_status smds_es11_authenticate_verify(smds_t *x, rsp_arena *a, const rsp_json_doc *doc, time_t now,
                                         smds_es11_auth_result *out, smds_msg *msg);
rsp_status smds_es11_authenticate_events(smds_es11_auth_result *out, int rc, smds_event_list *events,
                                         smds_msg *msg);
/* Writes transactionId and eventEntries [{eventId, rspServerAddress}]. */
int smds_es11_authenticate_write(rsp_jsonw *w, const smds_es11_auth_result *r);
void smds_es11_auth_result_clear(smds_es11_auth_result *r);

#endif
