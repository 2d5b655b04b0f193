/*
 * smdp_default/es9p.h - ES9+ (LPA -> SM-DP+) of the Default SM-DP+:
 * initiateAuthentication, authenticateClient, getBoundProfilePackage,
 * handleNotification and cancelSession under /gsma/rsp2/es9plus/.
 *
 * Authentication follows the SM-DS ES11 half (smds/es11.c) with the SM-DP+
 * codes: stateless transactions (rsp/txn.h; the transactionId also names the
 * download session in the order store), eUICC chain checks with the EUM
 * cache (rsp/cert.h), signatures over the exact received bytes (rsp/sig.h).
 *
 * Order lookup in authenticateClient (rsp-notes 5.1): matchingId absent or
 * empty -> the oldest released order of the eUICC certificate's EID
 * (8.1.1/3.8 if none); present -> that order (8.2.6/3.8 unknown, 8.1.1/3.8
 * bound to another EID).  The session start is durable before the answer
 * and keeps PK.EUICC and smdpSignature2 in the order for the later calls.
 * getBoundProfilePackage must arrive while the transactionId is unexpired
 * (its CI picks CERT.DPpb); a retry with the same otPK.EUICC gets the stored
 * BPP, a new session with it the same binding rebuilt from the sealed
 * one-time key.  handleNotification always answers 204 and changes nothing
 * on bad input.
 *
 * Every state change goes through the order store's writer
 * (smdp_orders_submit) while the request is deferred (rsp_http_defer), so no
 * h2o worker waits for an fsync.
 *
 * Ownership: smdp_es9p_new copies the configuration strings and borrows the
 * order store and master key, which must outlive it.  Thread safety: after
 * new, every handler may run on any worker.  Errors: new returns NULL with a
 * message in err.
 */
#ifndef SMDP_ES9P_H
#define SMDP_ES9P_H

#include <stddef.h>
#include <stdint.h>

#include "rsp/http.h"
#include "rsp/metrics.h"
#include "smdp_default/bpp.h"
#include "smdp_default/orders.h"

typedef struct smdp_es9p_config {
    const char *fqdn;            /* this SM-DP+'s address (ServerSigned1, address checks) */
    const char *const *ci_files; /* trusted CI certificates */
    size_t n_ci;
    const char *const *auth_certs; /* CERT.DPauth, one per CI, keys at the same index */
    const char *const *auth_keys;
    size_t n_auth;
    const char *const *pb_certs; /* CERT.DPpb, one per CI, keys at the same index */
    const char *const *pb_keys;
    size_t n_pb;
    const char *txn_secret_file; /* created (0600) when missing */
    uint32_t txn_ttl;            /* seconds; bounds authenticateClient..getBoundProfilePackage [600] */
    size_t replay_capacity;      /* [100000] */
    size_t eum_cache_capacity;   /* [1024] */
    const char *host_id;         /* BSP hostId, 1..16 octets [the first 16 octets of fqdn] */
    smdp_orders *orders;         /* borrowed */
    const smdp_mkey *mk;         /* borrowed */
    rsp_metrics *metrics;        /* borrowed, may be NULL */
} smdp_es9p_config;

typedef struct smdp_es9p smdp_es9p;

smdp_es9p *smdp_es9p_new(const smdp_es9p_config *cfg, char *err, size_t errlen);
void smdp_es9p_free(smdp_es9p *e);

/* Registers the five ES9+ routes on a listener.  0 / -1. */
int smdp_es9p_routes(smdp_es9p *e, rsp_http_server_t *srv, int listener);

#endif
