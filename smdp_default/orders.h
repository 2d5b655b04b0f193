/*
 * smdp_default/orders.h - the Default SM-DP+ profile inventory and order
 * store: one record per ICCID (proto/order.proto) in an LMDB environment
 * (rsp/db.h), moved through the SGP.22 profile states by ES2+ and ES9+.
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
 *                                  event stays or is registered again) | Error (final:
 *                                  the order ends, its event goes)
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
 * Every change is one job of the group-commit writer: the job reads the
 * record inside the write transaction, checks the state and the caller's
 * rights there, and writes the new record with its indexes; the caller hears
 * back only after the commit is durable.  Because LMDB admits one write
 * transaction at a time (across processes too), two callers racing for the
 * same transition cannot both win: the second sees the first one's state.
 *
 * Refusals carry the GSMA code as an rsp_status (rsp/status.h) and change
 * nothing, except the confirmation-code check, which counts a failed attempt.
 * RSP_ST_INTERNAL means a storage failure (op->db_err holds the LMDB error).
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
    uint8_t cc_hash[SMDP_CC_HASH_LEN]; /* SHA-256(confirmation code) */
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

/* ---- the store ---- */

typedef struct smdp_orders smdp_orders;

typedef struct smdp_orders_config {
    uint32_t cc_max_attempts;       /* failed confirmation codes before 8.2.7/6.4 [3] */
    uint32_t download_max_attempts; /* download sessions per order before 8.8.5/6.4 [3] */
    uint64_t order_ttl;             /* seconds from DownloadOrder to expiry [30 days];
                                       UINT64_MAX = never */
    uint64_t answer_ttl;            /* seconds an ES2+ first answer is replayed [1 day] */
    rsp_db_config db;               /* passed to rsp_db_open */
    const rsp_db_spec *extra_dbs;   /* more databases in the same environment (e.g. an outbox written
                                       in the same transactions as the orders, see smdp_op.also) */
    unsigned n_extra_dbs;
} smdp_orders_config;

/* Opens (creating) the store in directory dir.  cfg may be NULL.  0 or an
 * LMDB/errno code. */
int smdp_orders_open(smdp_orders **out, const char *dir, const smdp_orders_config *cfg);
/* Drains pending jobs and closes.  NULL is a no-op. */
void smdp_orders_close(smdp_orders *o);

/* The store's LMDB environment (for jobs on the extra databases and for
 * statistics) and the handle of the i-th extra database. */
rsp_db_env *smdp_orders_env(smdp_orders *o);
MDB_dbi smdp_orders_extra_dbi(const smdp_orders *o, unsigned i);

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
 * now, oldest first; *n gets the count.  0 or an LMDB error. */
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
    SMDP_OP_BPP_DELIVERED,   /* in: iccid, tid, euicc_otpk, otsk_blob, bpp */
    SMDP_OP_INSTALL_RESULT,  /* in: iccid, tid (of the BPP), ok */
    SMDP_OP_CANCEL_SESSION,  /* in: iccid, tid, final (the order's event goes) */
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
    const char *confirmation_code; /* NULL or "" = none; hashed as given (ASCII) */
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
    bool final;                  /* CANCEL_SESSION: the order ends (Error) instead of going back to
                                    Released with its event (smdp_cancel_keep decides per reason) */
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
     * RSP_ST_CC_REFUSED), with before/after filled, e.g. to queue outbox
     * messages atomically with the change.  Non-zero rolls the whole
     * op back and is reported as RSP_ST_INTERNAL with db_err = that value.
     * May run more than once for one op (see rsp_db_apply_cb). */
    int (*also)(rsp_db_wtxn *t, struct smdp_op *op);

    rsp_status status; /* out: RSP_OK or the refusal */
    int db_err;        /* out: LMDB error when status is RSP_ST_INTERNAL */
    bool found;        /* out: before is valid */
    smdp_order before; /* out: the record as the job found it */
    smdp_order after;  /* out: the record as stored (status RSP_OK) */
    bool written;      /* out: the job stored a change */

    void (*done)(struct smdp_op *op); /* submit: called on the writer thread after commit */
    void *user;
    smdp_orders *store_; /* private */
} smdp_op;

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
 * = the LMDB error) or a cryptographic one (*detail = 0).  detail may be NULL.
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
 * is then returned).  fn must not call into the store.  0 or an LMDB error. */
typedef int (*smdp_order_visit)(void *arg, const smdp_order *ord);
int smdp_orders_list(smdp_orders *o, smdp_order_visit fn, void *arg);

/* Writes up to max ICCIDs of orders whose expiry has passed at now and that
 * are not yet marked expired, soonest first; *n gets the count.  0 or an
 * LMDB error. */
int smdp_orders_expired(smdp_orders *o, uint64_t now, char (*iccids)[SMDP_ICCID_MAX + 1], size_t max,
                        size_t *n);

#endif
