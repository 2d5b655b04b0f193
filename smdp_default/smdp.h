/*
 * smdp_default/smdp.h - the Default SM-DP+ core shared by the ES9+ and ES2+
 * handlers (call.h): this server's FQDN and OID, the trust material (CI
 * certificates, CERT.DPauth and CERT.DPpb with their keys, one pair per CI),
 * the operators (ES2+ callers), the stateless-transaction keyring and replay
 * cache (rsp/txn.h), the verified-EUM cache, the order store (orders.h), the
 * service master key that seals the profile keys (bpp.h), and the durable
 * outbox (outbox.h) whose items the order changes queue in their own
 * transactions.  Nothing in here touches a socket, so the handler logic runs
 * the same behind h2o, in unit tests and in the fuzz target.
 *
 * Operators: with an operators file, a TLS client certificate whose subject
 * CN is listed under an operator acts as that operator (the owner of the
 * profiles imported for it); an unlisted CN is refused.  Without the file the
 * CN itself is the operator id.  File format (INI):
 *     [operator-id]
 *     cn = client certificate CN[, another CN ...]
 *     notify_url = https://host[:port]/path   ; HandleDownloadProgressInfo (optional)
 *     notify_ca = file.pem                    ; CA of that server (optional)
 *
 * Trust material and operators are reloadable (SIGHUP): readers take a
 * reference to the current snapshot with smdp_trust_get() and drop it with
 * smdp_trust_put(); smdp_reload() swaps in a new snapshot only when every file
 * loads and checks.
 *
 * Ownership: smdp_new() copies every string of the configuration; the metrics
 * registry is borrowed.  Thread safety: every function may be called from any
 * thread once smdp_new() returned.  Errors: smdp_new() returns NULL and
 * smdp_reload() -1, with a message in err.
 */
#ifndef SMDP_SMDP_H
#define SMDP_SMDP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "rsp/snapshot.h"
#include "rsp/cert.h"
#include "rsp/admit.h"
#include "rsp/metrics.h"
#include "rsp/replay.h"
#include "rsp/txn.h"
#include "smdp_default/bpp.h"
#include "smdp_default/notify.h"
#include "smdp_default/orders.h"
#include "smdp_default/outbox.h"

#define SMDP_MAX_CREDS 8  /* CERT.DPauth / CERT.DPpb certificates (one per CI) */
#define SMDP_FQDN_MAX 255 /* longest FQDN accepted anywhere */
#define SMDP_OID_MAX 64
#define SMDP_OID_DER_MAX 32

typedef struct smdp_config {
    const char *fqdn;            /* this SM-DP+'s address (ServerSigned1, ES12 rspServerAddress) */
    const char *const *ci_files; /* trusted CI certificates (DER or PEM) */
    size_t n_ci_files;
    const char *const *crl_files; /* CRLs of the CIs and of the eUICC chains' CAs (rsp/crl.h) */
    size_t n_crl_files;
    int crl_policy;                /* rsp_crl_policy for an untrusted or stale CRL */
    const char *const *auth_certs; /* CERT.DPauth.ECDSA, each with the key at the same index */
    const char *const *auth_keys;
    size_t n_auth;
    const char *const *pb_certs; /* CERT.DPpb.ECDSA, each with the key at the same index */
    const char *const *pb_keys;
    size_t n_pb;
    const char *operators_file; /* see above; NULL or "" = the certificate CN is the operator id */
    const char *store_dir;      /* LMDB environment of the orders (and the outbox) */
    const char *master_key_file;
    const char *txn_secret_file;     /* made by `smdp-default init`; share it behind a load balancer */
    int create_secrets;              /* create missing secret and master key files (demo, tests) */
    uint32_t txn_ttl;                /* seconds between InitiateAuthentication and AuthenticateClient [300] */
    size_t replay_capacity;          /* consumed transactionIds remembered per process [100000] */
    const char *replay_dir;          /* LMDB environment of consumed transactionIds (refused across
                                        restarts), or NULL: memory only */
    size_t eum_cache_capacity;       /* verified EUM certificates kept [1024] */
    const char *host_id;             /* BSP hostId, 1..16 octets of text ["rsp-smdp"] */
    smdp_orders_config orders;       /* cc / download limits, order TTL, LMDB settings */
    const char *const *smds_allowed; /* SM-DS addresses ConfirmOrder accepts; none = any host name */
    size_t n_smds_allowed;
    bool progress_notifications;     /* send ES2+ HandleDownloadProgressInfo to operators with a notify_url */
    smdp_notify_config notify;       /* ES12 / ES2+ client (fqdn is filled in from above) */
    unsigned register_event_ms;      /* ConfirmOrder / ReleaseProfile try ES12.RegisterEvent at once within
                                        this many milliseconds before storing the change; 0 = only
                                        through the outbox */
    smdp_outbox_config outbox;       /* delivery settings (send is filled in) */
    unsigned housekeeping_interval;  /* seconds between order-expiry sweeps [60] */
    rsp_metrics *metrics;            /* may be NULL */
    rsp_admit *admit;                /* overload admission of ES9+ (borrowed, outlives x); NULL = none */
    const char *cancel_session_keep; /* CancelSession reasons that keep the order (smdp_cancel_reasons_parse);
                                        NULL = SMDP_CANCEL_KEEP_DEFAULT */
} smdp_config;

/* CancelSession reasons after which the order stays Released with its SM-DS
 * event (for another attempt); every other reason ends the order (Error, event
 * deleted, operator notified).  See docs/smdp.md. */
#define SMDP_CANCEL_KEEP_DEFAULT "postponed,timeout,loadBppExecutionError"

/* Parses a comma-separated list of CancelSessionReason names (endUserRejection,
 * postponed, timeout, pprNotAllowed, metadataMismatch, loadBppExecutionError,
 * undefinedReason; "" = none) into a mask for smdp_cancel_keeps.  0, or -1 on
 * an unknown name. */
int smdp_cancel_reasons_parse(const char *list, uint32_t *mask);

/* One server credential with its private key and the CI it chains to. */
typedef struct smdp_cred {
    X509 *cert;
    EVP_PKEY *key;
    uint8_t *der; /* the certificate as sent */
    size_t der_len;
    uint8_t *others; /* its intermediates (SEQUENCE OF Certificate) sent as otherCertsInChain, or NULL */
    size_t others_len;
    uint8_t ci_ski[RSP_SKI_MAX]; /* SKI of the CI its chain ends at */
    size_t ci_ski_len;
} smdp_cred;

typedef struct smdp_operator {
    char id[SMDP_OWNER_MAX + 1];
    char **cns; /* client certificate CNs */
    size_t ncns;
    char notify_url[SMDP_URL_MAX];
    char notify_ca[SMDP_URL_MAX];
} smdp_operator;

/* A reference-counted snapshot of the reloadable material. */
typedef struct smdp_trust {
    rsp_ref ref; /* first: the snapshot reference count */
    rsp_ci_store *cis;
    smdp_cred auth[SMDP_MAX_CREDS];
    size_t nauth;
    smdp_cred pb[SMDP_MAX_CREDS];
    size_t npb;
    char oid[SMDP_OID_MAX];            /* the SM-DP+ OID (SAN registeredID of CERT.DPauth), dotted */
    uint8_t oid_der[SMDP_OID_DER_MAX]; /* its content octets */
    size_t oid_der_len;
    bool have_operators; /* an operators file is configured */
    smdp_operator *ops;
    size_t nops;
} smdp_trust;

/* Private: use the functions below and the handler modules. */
typedef struct smdp {
    char *fqdn, *operators_file, *host_id;
    char **ci_files, **auth_certs, **auth_keys, **pb_certs, **pb_keys, **smds_allowed;
    size_t n_ci_files, n_auth, n_pb, n_smds_allowed;
    char **crl_files;
    size_t n_crl_files;
    int crl_policy;
    uint32_t txn_ttl;
    bool progress_notifications;
    unsigned register_event_ms;
    uint32_t cancel_keep; /* smdp_cancel_reasons_parse mask */
    rsp_txn_keyring keyring;
    rsp_replay *replay;
    rsp_eum_cache *eum_cache;
    smdp_mkey mk;
    smdp_orders *store;
    smdp_notify *notify;
    smdp_outbox *outbox;
    rsp_metrics *metrics;
    rsp_admit *admit;
    rsp_snapshot trust; /* of smdp_trust */
    unsigned housekeeping_interval;
    pthread_t housekeeper;
    pthread_mutex_t hk_mu;
    pthread_cond_t hk_cv;
    bool hk_running, hk_stop;
} smdp_t;

smdp_t *smdp_new(const smdp_config *cfg, char *err, size_t errlen);
/* Starts the outbox delivery and the expiry sweeps.  0 / errno. */
int smdp_start(smdp_t *x);
/* Stops the threads, closes the store, frees.  NULL is a no-op. */
void smdp_free(smdp_t *x);

/* Reloads the CI, CERT.DPauth / CERT.DPpb files and the operators file.
 * 0 / -1 (nothing changes on failure). */
int smdp_reload(smdp_t *x, char *err, size_t errlen);

smdp_trust *smdp_trust_get(smdp_t *x);
void smdp_trust_put(smdp_trust *t);

/* The credential of list (auth or pb) issued by the CI with this SKI, or NULL. */
const smdp_cred *smdp_cred_for_ci(const smdp_cred *list, size_t n, const uint8_t *ski, size_t len);

/* Operator id for a client certificate CN (see above).  0, or -1 when refused. */
int smdp_operator_of(const smdp_trust *t, const char *cn, char out[SMDP_OWNER_MAX + 1]);
/* The operator's entry, or NULL. */
const smdp_operator *smdp_operator_find(const smdp_trust *t, const char *id);

/* Whether CancelSession with this reason keeps the order (see smdp_config.cancel_session_keep). */
bool smdp_cancel_keeps(const smdp_t *x, int64_t reason);

/* Whether ConfirmOrder / ReleaseProfile may use smds_address now: a host name
 * (optionally :port), on the allow list when there is one, and not down in the
 * outbox's view (smdp_outbox_target_down). */
bool smdp_smds_usable(smdp_t *x, const char *smds_address, uint64_t now);

/*
 * What an order change needs besides the op: the op's user pointer must
 * point to one of these while the op runs (the hook reads it).  result is
 * resultData for an ES2+ progress notification (the ProfileInstallationResult
 * or the CancelSessionResponse), may be NULL.
 */
typedef struct smdp_hook {
    smdp_t *x;
    const uint8_t *result;
    size_t result_len;
    int64_t notif_seq;         /* SMDP_OP_NOTIFICATION: the eUICC's seqNumber */
    const char *notif_address; /* and notificationAddress */
    bool event_sent;           /* the RegisterEvent of this change was delivered already: not queued */
    void *owner;               /* for the caller's own use */
} smdp_hook;

/* The ES12 item of kind (RegisterEvent / DeleteEvent) for order o's event: target smds_address, eid,
 * eventId = matching_id, forwardingIndicator when o has a root_smds_address. */
void smdp_es12_item(smdp_ob_item *it, smdp_ob_kind kind, const smdp_order *o, uint64_t now);

/* smdp_op.also for every order change of the service: queues ES12
 * RegisterEvent / DeleteEvent when event_registered flips, and ES2+
 * HandleDownloadProgressInfo at the notification points and ES2+
 * HandleNotification for profile-management notifications (see docs/smdp.md). */
int smdp_order_hook(smdp_op *op);

/* Runs op synchronously with the hook (housekeeping, tools, tests). */
rsp_status smdp_run_op(smdp_t *x, smdp_op *op, const uint8_t *result, size_t result_len);

/* One expiry sweep now (also run by the housekeeping thread); returns the number of orders marked. */
size_t smdp_expire_orders(smdp_t *x, uint64_t now);

/* Notification points of HandleDownloadProgressInfo (SGP.22 5.3.5 [R]). */
enum {
    SMDP_NP_ELIGIBILITY = 1,  /* eligibility and retry limit check: the download session started */
    SMDP_NP_CC_FAILURE = 2,   /* confirmation code refused */
    SMDP_NP_BPP_DOWNLOAD = 3, /* BPP delivered */
    SMDP_NP_BPP_INSTALL = 4,  /* ProfileInstallationResult received */
};

#endif
