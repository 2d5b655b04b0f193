/*
 * smdp_default/orders.h - the Default SM-DP+ profile inventory and order
 * store: one record per ICCID (proto/order.proto), moved through the SGP.22
 * profile states by ES2+ and ES9+, with the outbox items those changes queue.
 *
 * States and transitions (rsp-notes 5.3):
 *
 *   import                         -> Available
 *   DownloadOrder (no EID / EID)   Available -> Allocated / Linked
 *   ConfirmOrder (release no/yes)  Allocated, Linked -> Confirmed / Released
 *   ReleaseProfile                 Confirmed -> Released
 *   ES9+ download start            Released, Downloaded -> (same): session begins
 *                                  (keeps PK.EUICC and smdpSignature2 for the later calls)
 *   ES9+ BPP delivered             Released, Downloaded -> Downloaded
 *   ES9+ install result            Downloaded -> Installed | Error
 *   ES9+ other notification        Installed -> (same) for enable / disable,
 *                                  Unavailable for delete (the ICCID is spent)
 *   ES9+ cancel session            Released, Downloaded -> Released (kept: its SM-DS
 *                                  event stays or is registered again; a binding stays
 *                                  with keep_binding) | Error (final: the order ends,
 *                                  its event goes)
 *   CancelOrder (Available/Unav.)  any ordered state -> Available / Unavailable
 *   order expiry (housekeeping)    marks an expired order; the state stays
 *
 * SM-DS events: event_registered says that the order has (or has queued, see
 * smdp_op.also) an Event Record at smds_address.  It is set when an order
 * with an smdsAddress is released (ConfirmOrder with releaseFlag, or
 * ReleaseProfile) and cleared when the event must go: install result,
 * CancelOrder, a final CancelSession, order expiry.  A caller that sees it
 * flip in op->before / op->after queues ES12 RegisterEvent / DeleteEvent in
 * the same transaction (smdp_op.also).
 *
 * Backends (smdp_orders_config.backend; private interface in store_impl.h):
 *   lmdb      (orders_lmdb.c) one host: protobuf-c records and index
 *             databases in an LMDB environment in dir, group commit by one
 *             writer thread;
 *   postgres  (orders_pg.c) several hosts over one PostgreSQL database named
 *             by cfg.dsn (dir unused), group commit by the rsp/pg writer pool.
 * Both run the same transition code (orders.c): a change is one job of the
 * backend's group-commit writer that reads the record inside the write
 * transaction (locking it), checks the state and the caller's rights there,
 * and writes the new record with its indexes, its ES2+ answer and the outbox
 * items it queued; the caller hears back only after the commit is durable.
 * Two callers racing for the same transition, in one process or on two
 * hosts, cannot both win: the second sees the first one's state.
 *
 * Refusals carry the GSMA code as an rsp_status (rsp/status.h) and change
 * nothing, except the confirmation-code check, which counts a failed attempt.
 * RSP_ST_INTERNAL means a storage failure (op->db_err holds the backend's
 * error, see smdp_orders_strerror).
 *
 * Indexes: by ICCID (the record key), by EID (orders awaiting download:
 * Released or Downloaded, oldest release first), by matchingId, by download
 * session transactionId, by (owner, profile type, state) for the Available
 * pool, by expiry for orders that can still expire, and by EID for orders
 * that ended in Error ("ended").  Beside the orders: the first answers of ES2+
 * calls (smdp_answer), by call key and by age.  The protected profile (86 segments) and the last
 * built BPP are stored beside the record under the ICCID.
 *
 * Ownership: the store owns its environment; records returned are copies in
 * caller memory (smdp_order is self-contained, no pointers); byte buffers
 * returned through `uint8_t **` are malloc'd and the caller frees them.
 * Thread safety: every function may be called from any thread.
 */
#ifndef SMDP_ORDERS_H
#define SMDP_ORDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "asn1/der.h"
#include "rsp/db.h"
#include "rsp/status.h"
#include "smdp_default/bpp.h"
#include "smdp_default/eckey.h"
#include "smdp_default/profile.h"

/* Where a state directory keeps things. */
#define SMDP_STATE_DB "orders"             /* LMDB environment directory */
#define SMDP_STATE_MASTER_KEY "master.key" /* service master key file */

#define SMDP_EID_DIGITS 32
#define SMDP_OWNER_MAX 128
#define SMDP_TYPE_MAX 128
#define SMDP_MID_MAX 128
#define SMDP_ADDR_MAX 255
#define SMDP_SPN_MAX 128   /* octets: 32 UTF-8 characters */
#define SMDP_PNAME_MAX 256 /* octets: 64 UTF-8 characters */
#define SMDP_TID_MAX 16
#define SMDP_OTPK_LEN 65
#define SMDP_OTSK_BLOB_MAX 256
#define SMDP_CC_HASH_LEN 32
#define SMDP_SESSION_DATA_MAX 256 /* opaque session state of the ES9+ service */

typedef enum smdp_state {
    SMDP_STATE_AVAILABLE = 1,
    SMDP_STATE_ALLOCATED = 2,
    SMDP_STATE_LINKED = 3,
    SMDP_STATE_CONFIRMED = 4,
    SMDP_STATE_RELEASED = 5,
    SMDP_STATE_DOWNLOADED = 6,
    SMDP_STATE_INSTALLED = 7,
    SMDP_STATE_ERROR = 8,
    SMDP_STATE_UNAVAILABLE = 9,
} smdp_state;

/* "Available", "Allocated", ... ; "?" for anything else. */
const char *smdp_state_name(smdp_state s);

typedef struct smdp_binding {
    bool present;
    uint8_t transaction_id[SMDP_TID_MAX];
    size_t transaction_id_len;
    uint8_t euicc_otpk[SMDP_OTPK_LEN];
    uint8_t otsk_blob[SMDP_OTSK_BLOB_MAX];
    size_t otsk_blob_len;
    uint64_t created_at;
} smdp_binding;

/* One profile with its order, as stored. */
typedef struct smdp_order {
    char iccid[SMDP_ICCID_MAX + 1];
    char profile_type[SMDP_TYPE_MAX + 1];
    char owner[SMDP_OWNER_MAX + 1];
    smdp_state state;
    char eid[SMDP_EID_DIGITS + 1];      /* "" when none */
    char matching_id[SMDP_MID_MAX + 1]; /* "" when none */
    bool has_cc;
    uint8_t cc_hash[SMDP_CC_HASH_LEN];     /* SHA-256(confirmation code as given: its ASCII text) */
    bool has_cc_hex;                       /* a code of an even number of digits: also accepted as */
    uint8_t cc_hash_hex[SMDP_CC_HASH_LEN]; /* SHA-256(its hex-decoded bytes) */
    uint32_t cc_attempts;
    uint32_t download_attempts;
    char smds_address[SMDP_ADDR_MAX + 1];
    char root_smds_address[SMDP_ADDR_MAX + 1];
    bool event_registered;
    uint64_t created_at, updated_at, expires_at; /* Unix seconds; expires_at 0 = never */
    uint64_t release_seq;
    uint64_t version;
    char service_provider_name[SMDP_SPN_MAX + 1];
    char profile_name[SMDP_PNAME_MAX + 1];
    int profile_class; /* SMDP_CLASS_* */
    smdp_md_extra md;  /* the rest of the metadata set at import */
    uint8_t ppk_blob[SMDP_PPK_BLOB_LEN];
    uint64_t ppp_len;
    uint32_t ppp_segments;
    uint8_t session_tid[SMDP_TID_MAX];
    size_t session_tid_len;
    uint8_t euicc_point[SMDP_EC_POINT_MAX];  /* PK.EUICC.ECDSA of the session: encoded point */
    size_t euicc_point_len;                  /* 0 when no session */
    char euicc_curve[SMDP_EC_CURVE_MAX + 1]; /* its curve (smdp_default/eckey.h), "" when none */
    uint8_t smdp_sig2[SMDP_SIG_LEN];         /* smdpSignature2 of the session */
    bool has_smdp_sig2;
    uint8_t session_data[SMDP_SESSION_DATA_MAX]; /* the service's own state of the session (opaque) */
    size_t session_data_len;
    bool expired; /* the order expiry was processed (SMDP_OP_EXPIRE) */
    smdp_binding binding;
} smdp_order;

/* Nothing more will happen to the order: Installed, Error, Unavailable (cancelled for good), or expired;
 * and no SM-DS event is left to delete.  What SMDP_OP_PURGE may delete. */
bool smdp_order_finished(const smdp_order *o);

/* StoreMetadataRequest (BF25) for the order's profile; own_address is where
 * the eUICC sends the notifications the metadata asks for when it names no
 * address (the SM-DP+'s FQDN; may be NULL when it asks for none). */
int smdp_order_metadata(const smdp_order *ord, const char *own_address, der_writer *w);

/* ---- outbox items (delivered by outbox.h, stored with the order changes that queue them) ---- */

#define SMDP_OB_STREAM_MAX 64
#define SMDP_OB_TARGET_MAX SMDP_ADDR_MAX
#define SMDP_OB_ERROR_MAX 160
#define SMDP_OB_RESULT_MAX 2048

typedef enum smdp_ob_kind {
    SMDP_OB_REGISTER_EVENT = 1, /* ES12.RegisterEvent */
    SMDP_OB_DELETE_EVENT = 2,   /* ES12.DeleteEvent */
    SMDP_OB_PROGRESS = 3,       /* ES2+.HandleDownloadProgressInfo */
    SMDP_OB_NOTIFICATION = 4,   /* ES2+.HandleNotification: a verified profile-management notification */
} smdp_ob_kind;

/* "RegisterEvent", "DeleteEvent", "HandleDownloadProgressInfo", "HandleNotification". */
const char *smdp_ob_kind_name(smdp_ob_kind k);

typedef struct smdp_ob_item {
    uint64_t seq; /* assigned when stored */
    smdp_ob_kind kind;
    char stream[SMDP_OB_STREAM_MAX + 1];
    char target[SMDP_OB_TARGET_MAX + 1]; /* SM-DS address, or operator id */
    uint64_t created_at, due_at;         /* Unix seconds */
    uint32_t attempts;
    char last_error[SMDP_OB_ERROR_MAX + 1];
    /* ES12 */
    char eid[SMDP_EID_DIGITS + 1];
    char event_id[SMDP_MID_MAX + 1];
    bool forward; /* forwardingIndicator */
    /* ES2+ */
    char iccid[SMDP_ICCID_MAX + 1];
    char profile_type[SMDP_TYPE_MAX + 1];
    uint32_t np_id; /* notificationPointId */
    bool success;   /* notificationPointStatus */
    char subject[16], reason[16];
    uint8_t result[SMDP_OB_RESULT_MAX]; /* resultData */
    size_t result_len;
    uint64_t timestamp;
    /* ES2+ HandleNotification: np_id is the NotificationEvent bit (0 install .. 3 delete), result the
     * OtherSignedNotification */
    int64_t notif_seq;
    char notif_address[SMDP_OB_TARGET_MAX + 1];
} smdp_ob_item;

/* ---- the store ---- */

typedef struct smdp_orders smdp_orders;

typedef enum smdp_store_backend {
    SMDP_STORE_LMDB = 0,
    SMDP_STORE_POSTGRES,
} smdp_store_backend;

typedef struct smdp_orders_config {
    uint32_t cc_max_attempts;       /* failed confirmation codes before 8.2.7/6.4 [3] */
    uint32_t download_max_attempts; /* download sessions per order before 8.8.5/6.4 [3] */
    uint64_t order_ttl;             /* seconds from DownloadOrder to expiry [30 days];
                                       UINT64_MAX = never */
    uint64_t answer_ttl;            /* seconds an ES2+ first answer is replayed [1 day] */
    smdp_store_backend backend;     /* [lmdb] */
    const char *dsn;                /* postgres: libpq connection string (copied) */
    rsp_db_config db;               /* lmdb: passed to rsp_db_open */
    unsigned batch_max;             /* postgres: jobs per transaction [256] */
} smdp_orders_config;

/* "lmdb" or "postgres" to a backend: 0 / -1 for any other name. */
int smdp_store_backend_parse(const char *name, smdp_store_backend *out);

/* Opens (creating) the store: in directory dir for lmdb; for postgres it
 * connects and brings the schema up to date (smdp_orders_migrate).  cfg may
 * be NULL (lmdb).  0, an LMDB/errno code, or SMDP_STORE_EUNAVAILABLE (the
 * database could not be reached or migrated; logged). */
int smdp_orders_open(smdp_orders **out, const char *dir, const smdp_orders_config *cfg);
/* Drains pending jobs and closes.  NULL is a no-op. */
void smdp_orders_close(smdp_orders *o);

/* Creates or upgrades the PostgreSQL schema (smdpctl migrate; also done by
 * smdp_orders_open).  Safe to run from several nodes at once.  0, or -1 with
 * a message in err. */
int smdp_orders_migrate(const char *dsn, char *err, size_t errlen);

/* Backend errors (op->db_err, return codes) that are not LMDB or errno codes. */
#define SMDP_STORE_EUNAVAILABLE (-1000) /* database unreachable or commit unconfirmed: retry later */
#define SMDP_STORE_EFAILED (-1001)      /* a statement failed (logged) */

/* Text for an error of this store (LMDB, errno or SMDP_STORE_E*). */
const char *smdp_orders_strerror(int err);

/* False while the backend's database is unreachable (always true on lmdb). */
bool smdp_orders_ready(smdp_orders *o);

/* Writes the store's /metrics lines (group-commit statistics, prefix smdp). */
void smdp_orders_metrics(smdp_orders *o, FILE *f);

/* ---- ES2+ first answers (a call retried after a lost answer) ---- */

#define SMDP_CALL_KEY_LEN 32

/* What an ES2+ call that changed an order answered, stored with the change. */
typedef struct smdp_answer {
    uint32_t fn;                    /* the function (smdp_fn of call.h) */
    uint8_t request_hash[32];       /* SHA-256 of the request's members (the caller's choice of encoding) */
    rsp_status status;              /* the first answer's status */
    char iccid[SMDP_ICCID_MAX + 1]; /* and its members */
    char eid[SMDP_EID_DIGITS + 1];
    char matching_id[SMDP_MID_MAX + 1];
    uint64_t created_at;
} smdp_answer;

/* The key of an ES2+ call: SHA-256(operator id NUL functionRequesterIdentifier
 * NUL functionCallIdentifier).  0, -1 on a crypto failure or a NULL string. */
int smdp_answer_key(const char *operator_id, const char *requester, const char *call_id,
                    uint8_t key[SMDP_CALL_KEY_LEN]);

/* The stored answer of a call, if younger than answer_ttl at now: RSP_OK,
 * RSP_ST_TRANSACTION_UNKNOWN (none), RSP_ST_INTERNAL. */
rsp_status smdp_orders_answer_get(smdp_orders *o, const uint8_t key[SMDP_CALL_KEY_LEN], uint64_t now,
                                  smdp_answer *out);

/* Deletes up to max (at most 64 per call) answers older than answer_ttl at
 * now, oldest first; *n gets the count.  0 or a backend error. */
int smdp_orders_answers_purge(smdp_orders *o, uint64_t now, size_t max, size_t *n);

/* ---- state changes ---- */

typedef enum smdp_op_kind {
    SMDP_OP_IMPORT = 1,      /* in: iccid, profile_type, owner, import */
    SMDP_OP_DOWNLOAD_ORDER,  /* in: owner, eid?, iccid | profile_type; out: after.iccid */
    SMDP_OP_CONFIRM_ORDER,   /* in: owner, iccid, release, eid?, matching_id?, confirmation_code?,
                                smds_address?, root_smds_address?; out: after.matching_id */
    SMDP_OP_CANCEL_ORDER,    /* in: owner, iccid, final_state, eid?, matching_id? */
    SMDP_OP_RELEASE_PROFILE, /* in: owner, iccid */
    SMDP_OP_DOWNLOAD_START,  /* in: iccid, eid, tid, euicc_point + euicc_curve?, smdp_sig2?,
                                session_data? */
    SMDP_OP_CHECK_CC,        /* in: iccid, tid, hash_cc? */
    SMDP_OP_BPP_DELIVERED,   /* in: iccid, tid, euicc_otpk, otsk_blob, bpp; another euicc_otpk than
                                the bound one replaces the binding */
    SMDP_OP_INSTALL_RESULT,  /* in: iccid, tid (of the BPP), ok */
    SMDP_OP_CANCEL_SESSION,  /* in: iccid, tid, final (the order's event goes), keep_binding */
    SMDP_OP_SET_EVENT,       /* in: iccid, ok = registered */
    SMDP_OP_EXPIRE,          /* in: iccid: marks an order past expires_at as expired (its event goes) */
    SMDP_OP_NOTIFICATION,    /* in: iccid, eid, notif_event: a verified enable / disable / delete
                                notification of an Installed profile; delete -> Unavailable */
    SMDP_OP_PURGE,           /* in: iccid, now = cutoff: deletes a finished order (see smdp_order_finished)
                                last changed before the cutoff, with its indexes, protected profile and
                                BPP; anything else is refused with RSP_ST_STATE_TRANSITION */
} smdp_op_kind;

/* What SMDP_OP_IMPORT stores (see smdp_orders_import_upp for the usual way). */
typedef struct smdp_import {
    const char *service_provider_name;
    const char *profile_name;
    int profile_class;          /* SMDP_CLASS_* */
    const smdp_ppp *ppp;        /* protected segments and sealed PPKs */
    const smdp_md_extra *extra; /* NULL = none */
} smdp_import;

/*
 * One state change.  Fill kind, now and the inputs the kind lists (others
 * NULL/0), then smdp_orders_run() it, or smdp_orders_submit() it with done.
 * Inputs are read only while the job runs and before done is called, so
 * they must stay valid until then.
 */
typedef struct smdp_op {
    smdp_op_kind kind;
    uint64_t now; /* Unix seconds */

    const char *owner; /* ES2+ caller (function requester identity) */
    const char *iccid;
    const char *profile_type;
    const char *eid;               /* 32 digits */
    const char *matching_id;       /* NULL = absent; "" = explicitly none (needs an EID) */
    const char *confirmation_code; /* NULL or "" = none; hashed as given (ASCII), and a code of an even
                                      number of digits also hex-decoded (smdp_order.cc_hash_hex) */
    const char *smds_address;
    const char *root_smds_address;
    bool release;           /* CONFIRM_ORDER releaseFlag */
    smdp_state final_state; /* CANCEL_ORDER: AVAILABLE or UNAVAILABLE */
    const uint8_t *tid;     /* transactionId, 1..16 octets */
    size_t tid_len;
    const uint8_t *euicc_point; /* DOWNLOAD_START: PK.EUICC.ECDSA point (<= SMDP_EC_POINT_MAX) */
    size_t euicc_point_len;
    const char *euicc_curve;   /* DOWNLOAD_START: its curve, with a point */
    const uint8_t *smdp_sig2;  /* DOWNLOAD_START: smdpSignature2, SMDP_SIG_LEN octets */
    const uint8_t *hash_cc;    /* 32 octets from euiccSigned2, NULL when absent */
    const uint8_t *euicc_otpk; /* 65 octets */
    const uint8_t *otsk_blob;  /* smdp_otsk_seal output */
    size_t otsk_blob_len;
    const uint8_t *bpp; /* the BF36 delivered */
    size_t bpp_len;
    bool ok;                     /* INSTALL_RESULT: profileInstallOk; SET_EVENT: registered */
    int notif_event;             /* NOTIFICATION: NotificationEvent bit (1 enable, 2 disable, 3 delete) */
    bool name_associated;        /* CANCEL_ORDER (ES2+): the order's EID and matchingId must be given
                                    (RSP_ST_EID_REQUIRED, RSP_ST_MATCHING_ID_REQUIRED when absent) */
    bool final;                  /* CANCEL_SESSION: the order ends (Error) instead of going back to
                                    Released with its event (smdp_cancel_keep decides per reason) */
    bool keep_binding;           /* CANCEL_SESSION, not final: the binding (sealed one-time key, BPP)
                                    stays for the next session (reasons postponed and timeout) */
    const uint8_t *session_data; /* DOWNLOAD_START: opaque state kept with the session */
    size_t session_data_len;
    const smdp_import *import; /* IMPORT */

    /* Optional, ES2+: the call's key and request (fn, request_hash).  If the
     * key has a stored answer for the same function and request, the op
     * replays it without running: status and after.iccid / eid / matching_id
     * come from it, replayed is set, nothing is written.  Otherwise an op that
     * writes stores its answer in the same transaction (a refusal that writes
     * nothing is not stored: the retry meets the same refusal). */
    const uint8_t *call_key; /* SMDP_CALL_KEY_LEN octets */
    const smdp_answer *call; /* fn and request_hash are read */
    bool replayed;           /* out */

    /* Optional: runs inside the op's write transaction after a change was
     * stored (status RSP_OK, or a refusal that still counts a failed attempt:
     * RSP_ST_CC_REFUSED), with before/after filled, to queue outbox items
     * atomically with the change (smdp_op_queue).  Non-zero rolls the whole
     * op back and is reported as RSP_ST_INTERNAL with db_err = that value.
     * May run more than once for one op (the backend reruns a transaction
     * after a map resize or a serialization failure): act only through
     * smdp_op_queue. */
    int (*also)(struct smdp_op *op);

    rsp_status status; /* out: RSP_OK or the refusal */
    int db_err;        /* out: backend error when status is RSP_ST_INTERNAL */
    bool found;        /* out: before is valid */
    smdp_order before; /* out: the record as the job found it */
    smdp_order after;  /* out: the record as stored (status RSP_OK) */
    bool written;      /* out: the job stored a change */

    void (*done)(struct smdp_op *op); /* submit: called on the writer thread after commit */
    void *user;
    smdp_orders *store_; /* private */
    void *stx_;          /* private: the backend transaction while the op runs */
} smdp_op;

/* A fresh random matchingId, as ConfirmOrder makes one when the caller names none (the form of an
 * Activation Code token).  0 or EIO (no randomness). */
int smdp_matching_id_new(char out[SMDP_MID_MAX + 1]);

/* From op->also only: stores it in the op's transaction (seq, due_at =
 * created_at and attempts = 0 are set here; created_at must be set by the
 * caller).  Sequence numbers are unique in the store (cluster-wide on
 * postgres) and increase per stream.  0, EINVAL (no stream, unknown kind) or
 * a backend error. */
int smdp_op_queue(smdp_op *op, smdp_ob_item *it);

/* Runs op and waits until it is durable; returns op->status.  Must not be
 * called from a done callback. */
rsp_status smdp_orders_run(smdp_orders *o, smdp_op *op);

/* Queues op; op->done(op) runs on the writer thread after the commit, with
 * op->status set.  0, or an error (then done is never called). */
int smdp_orders_submit(smdp_orders *o, smdp_op *op);

/*
 * Import: parses upp (smdp_profile_parse), protects it under fresh PPKs
 * sealed with mk and stores it as Available for owner under profile_type.
 * Returns RSP_OK and the ICCID in iccid_out; RSP_ST_INVALID_FIELD when the
 * package is refused (*detail = its SMDP_PROFILE_E* code) or when the
 * profile type, owner or metadata is (*detail = 0); RSP_ST_ICCID_IN_USE when
 * the ICCID is already stored; RSP_ST_INTERNAL on a storage failure (*detail
 * = the backend error) or a cryptographic one (*detail = 0).  detail may be NULL.
 */
rsp_status smdp_orders_import_upp(smdp_orders *o, const smdp_mkey *mk, const uint8_t *upp, size_t len,
                                  const char *profile_type, const char *owner, const smdp_metadata *md,
                                  uint64_t now, char iccid_out[SMDP_ICCID_MAX + 1], int *detail);

/* ---- lookups (read transactions; never change anything) ---- */

/* RSP_OK, RSP_ST_ICCID_UNKNOWN or RSP_ST_INTERNAL. */
rsp_status smdp_orders_get(smdp_orders *o, const char *iccid, smdp_order *out);

/* Default SM-DP+ lookup: the oldest order for eid that is Released or
 * Downloaded.  None: RSP_ST_EID_MISMATCH (8.1.1/3.8). */
rsp_status smdp_orders_find_by_eid(smdp_orders *o, const char *eid, smdp_order *out);

/* Why an order cannot be downloaded any more: RSP_ST_CC_RETRIES (8.2.7/6.4)
 * or RSP_ST_DOWNLOAD_RETRIES (8.8.5/6.4) when a retry limit ended it (state
 * Error), else RSP_ST_PROFILE_NOT_RELEASED (8.2/1.2).  Pure; no store access
 * beyond the configured limits. */
rsp_status smdp_orders_end_status(const smdp_orders *o, const smdp_order *ord);

/* For a device with no order awaiting download (smdp_orders_find_by_eid
 * missed): the code of the retry limit that ended its most recently changed
 * Error order, or RSP_ST_EID_MISMATCH (8.1.1/3.8) when none did.  The store
 * keeps an index of Error orders by EID for this ("ended"). */
rsp_status smdp_orders_ended_status(smdp_orders *o, const char *eid);

/* Lookup by matchingId (EventID or AC token).  Unknown (or empty):
 * RSP_ST_MATCHING_ID_REFUSED (8.2.6/3.8); bound to an EID other than eid
 * (eid may be NULL to skip the check): RSP_ST_EID_MISMATCH (8.1.1/3.8). */
rsp_status smdp_orders_find_by_matching_id(smdp_orders *o, const char *matching_id, const char *eid,
                                           smdp_order *out);

/* The order whose download session has this transactionId:
 * RSP_ST_TRANSACTION_UNKNOWN (8.10.1/3.9) when none. */
rsp_status smdp_orders_find_by_tid(smdp_orders *o, const uint8_t *tid, size_t len, smdp_order *out);

/* The stored 86 segments / the last delivered BPP of a profile (malloc'd).
 * RSP_OK, RSP_ST_ICCID_UNKNOWN (none stored), RSP_ST_INTERNAL. */
rsp_status smdp_orders_get_ppp(smdp_orders *o, const char *iccid, uint8_t **out, size_t *len);
rsp_status smdp_orders_get_bpp(smdp_orders *o, const char *iccid, uint8_t **out, size_t *len);

/* Calls fn for every record in ICCID order until it returns non-zero (which
 * is then returned).  fn must not call into the store.  0 or a backend error. */
typedef int (*smdp_order_visit)(void *arg, const smdp_order *ord);
int smdp_orders_list(smdp_orders *o, smdp_order_visit fn, void *arg);

/* Writes up to max ICCIDs of orders whose expiry has passed at now and that
 * are not yet marked expired, soonest first; *n gets the count.  0 or an
 * backend error. */
int smdp_orders_expired(smdp_orders *o, uint64_t now, char (*iccids)[SMDP_ICCID_MAX + 1], size_t max,
                        size_t *n);

/* ---- outbox storage (used by outbox.h) ----
 *
 * Items are claimed with a lease: the claim moves their due time to now +
 * lease and counts an attempt, so no other claimer (thread, process or host)
 * takes them before the lease ends; only the oldest item of a stream is ever
 * claimable, so a stream's items go out one at a time and in order. */

/* Claims up to max due items (due_at <= now), heads of their streams,
 * examining at most scan_max due items; out gets the claimed items (due_at =
 * the lease end, attempts counted), *next_due the earliest due time after now
 * (0 = none known).  0 or a backend error. */
int smdp_orders_ob_claim(smdp_orders *o, uint64_t now, uint32_t lease, unsigned scan_max, size_t max,
                         smdp_ob_item *out, size_t *n, uint64_t *next_due);

/* Records an attempt's result for an item as claimed: next NULL deletes it,
 * else it is stored as next (new due_at, last_error).  Nothing happens when
 * the stored item is no longer the claimed one (deleted, or claimed again
 * after the lease ran out: that claimer's result counts).  done(arg, rc) runs
 * on the writer thread after the commit (rc 0 or a backend error).  0 when
 * queued, else an error (done never runs). */
int smdp_orders_ob_finish(smdp_orders *o, const smdp_ob_item *claimed, const smdp_ob_item *next,
                          void (*done)(void *arg, int rc), void *arg);

/* Stores items in one transaction of their own (tools, tests); fields as
 * smdp_op_queue.  0, EINVAL or a backend error (then none is stored). */
int smdp_orders_ob_add(smdp_orders *o, smdp_ob_item *items, size_t n);

/* Stored items in sequence order; fn returns non-zero to stop (returned).
 * 0 or a backend error. */
int smdp_orders_ob_list(smdp_orders *o, int (*fn)(void *arg, const smdp_ob_item *it), void *arg);

/* Items stored and the created_at of the oldest (0 if none).  0 or a backend error. */
int smdp_orders_ob_pending(smdp_orders *o, uint64_t *count, uint64_t *oldest);

#endif
