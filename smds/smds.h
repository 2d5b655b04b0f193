/*
 * smds/smds.h - the SM-DS core shared by the ES11, ES12 and ES15 handlers.
 *
 * An smds_t holds what every handler needs: this server's FQDN, the trust
 * material (CI certificates, one CERT.DSauth with its key per CI), the
 * stateless-transaction keyring and replay cache (rsp/txn.h), the verified-EUM
 * cache, the event store and, on an Alternative SM-DS, the ES15 client towards
 * the Root SM-DS.  The handler logic (es11.h, es12.h) takes an smds_t and a
 * parsed JSON document, so it runs the same behind h2o, in unit tests and in
 * the fuzz target.
 *
 * Trust material is reloadable (SIGHUP): readers take a reference to the
 * current snapshot with smds_trust_get() and drop it with smds_trust_put();
 * smds_reload() swaps in a new snapshot only when every file loads.
 *
 * Ownership: smds_new() copies every string of the configuration; the metrics
 * registry is borrowed.  Thread safety: every function may be called from
 * any thread once smds_new() returned.
 * Errors: smds_new() returns NULL and smds_reload() -1 with a message in err.
 */
#ifndef SMDS_SMDS_H
#define SMDS_SMDS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "rsp/snapshot.h"
#include "rsp/arena.h"
#include "rsp/cert.h"
#include "rsp/json.h"
#include "rsp/admit.h"
#include "rsp/metrics.h"
#include "rsp/status.h"
#include "rsp/replay.h"
#include "rsp/txn.h"
#include "smds/es15.h"
#include "smds/store.h"

#define SMDS_MAX_AUTH 8   /* CERT.DSauth certificates (one per CI) */
#define SMDS_FQDN_MAX 255 /* longest FQDN accepted anywhere */

typedef struct smds_config {
    const char *fqdn;            /* this SM-DS's address, as the eUICC is told in ServerSigned1 */
    const char *const *ci_files; /* trusted CI certificates (DER or PEM) */
    size_t n_ci_files;
    const char *const *crl_files; /* CRLs of the CIs and of the eUICC chains' CAs (rsp/crl.h) */
    size_t n_crl_files;
    int crl_policy;                /* rsp_crl_policy for an untrusted or stale CRL */
    const char *const *auth_certs; /* CERT.DSauth.ECDSA files, each with the key at the same index */
    const char *const *auth_keys;
    size_t n_auth;
    const char *store_dir;          /* LMDB environment of the event store */
    smds_store_config store;        /* per-EID cap, max age, ... */
    unsigned housekeeping_interval; /* seconds between purges of expired events [60] */
    const char *txn_secret_file;    /* made by `smds init`; share it behind a load balancer */
    int create_secrets;             /* create the secret file (0600) when missing (demo, tests) */
    uint32_t txn_ttl;               /* seconds an ES11 transaction stays valid [300] */
    size_t replay_capacity;         /* consumed transactionIds remembered per process [100000] */
    const char *replay_dir;         /* LMDB environment of consumed transactionIds (refused across
                                       restarts), or NULL: memory only.  With store.backend postgres any
                                       non-NULL value keeps them in the database instead (every node
                                       refuses a replay) */
    size_t eum_cache_capacity;      /* verified EUM certificates kept [1024] */
    const char *const *es15_peers;  /* identities (OID or DNS name) allowed to call ES15; none = any
                                       SM-DS with a valid CERT.DS.TLS */
    size_t n_es15_peers;
    const smds_root_config *root; /* Root SM-DS to cascade to (Alternative SM-DS), or NULL */
    rsp_metrics *metrics;         /* may be NULL */
    rsp_admit *admit;             /* overload admission of ES11 (borrowed, outlives x); NULL = none */
} smds_config;

/* One CERT.DSauth with its private key and the CI it chains to. */
typedef struct smds_auth {
    X509 *cert;
    EVP_PKEY *key;
    uint8_t *der; /* the certificate as sent in serverCertificate */
    size_t der_len;
    uint8_t *others; /* its intermediates (SEQUENCE OF Certificate) sent as otherCertsInChain, or NULL */
    size_t others_len;
    uint8_t ci_ski[RSP_SKI_MAX]; /* SKI of the CI its chain ends at */
    size_t ci_ski_len;
} smds_auth;

/* A reference-counted snapshot of the trust material. */
typedef struct smds_trust {
    rsp_ref ref; /* first: the snapshot reference count */
    rsp_ci_store *cis;
    smds_auth auth[SMDS_MAX_AUTH];
    size_t nauth;
} smds_trust;

/* Private: use the functions below and the handler modules. */
typedef struct smds {
    char *fqdn;
    char **ci_files, **auth_certs, **auth_keys, **crl_files;
    size_t n_ci_files, n_auth, n_crl_files;
    int crl_policy;
    char **es15_peers;
    size_t n_es15_peers;
    uint32_t txn_ttl;
    rsp_txn_keyring keyring;
    rsp_replay *replay;
    rsp_eum_cache *eum_cache;
    smds_store *store;
    smds_root *root; /* NULL on a Root SM-DS */
    rsp_metrics *metrics;
    rsp_admit *admit;
    rsp_snapshot trust; /* of smds_trust */
} smds_t;

smds_t *smds_new(const smds_config *cfg, char *err, size_t errlen);
/* Stops the ES15 client (its callbacks run), closes the store, frees.  NULL is a no-op. */
void smds_free(smds_t *x);

/* Reloads the CI and CERT.DSauth files named in the configuration.  0 / -1
 * (nothing changes on failure). */
int smds_reload(smds_t *x, char *err, size_t errlen);

smds_trust *smds_trust_get(smds_t *x);
void smds_trust_put(smds_trust *t);

/* Case-insensitive comparison of an address with this server's FQDN. */
bool smds_is_own_address(const smds_t *x, const char *addr, size_t len);

/* ---- callers of ES12 / ES15 (mutual TLS) ---- */

/*
 * rsp_http_peer_check_fn for the server-to-server listener (ctx = smds_t):
 * accepts a client certificate that chains to a trusted CI with the DP TLS or
 * DS TLS policy (rsp_verify_tls_peer) and records its identity, a malloc'd
 * rsp_peer_identity released by smds_peer_free().
 */
int smds_peer_check(void *ctx, X509 *leaf, STACK_OF(X509) * chain, void **identity_out);
void smds_peer_free(void *identity);

/* Who is calling, copied out of the connection's identity. */
typedef struct smds_caller {
    int role;               /* RSP_PEER_DP or RSP_PEER_DS */
    const char *owner;      /* OID of the certificate if it has one, else its first DNS name */
    const char *const *dns; /* SAN dNSNames */
    size_t ndns;
} smds_caller;

/* Copies id into the arena.  0, or -1 when id names nobody or memory runs out. */
int smds_caller_from_peer(const rsp_peer_identity *id, rsp_arena *a, smds_caller *out);

/* What a handler reports besides its status: a message for statusCodeData
 * (NULL = the status table's) and an internal reason for the access log. */
typedef struct smds_msg {
    const char *message;
    const char *detail;
    char buf[160];
} smds_msg;

/* Sets msg's message and detail and returns st: a handler's refusal in one line. */
rsp_status smds_msg_fail(smds_msg *msg, rsp_status st, const char *message, const char *detail);

/* rsp_json_bind() of doc into base; on failure msg says which member and why (message in msg->buf). */
rsp_status smds_msg_bind(const rsp_json_doc *doc, const rsp_json_field *fields, void *base, smds_msg *msg);

#endif
