/*
 * smdp_default/store_impl.h - what the order store backends (orders_lmdb.c, orders_pg.c) share with
 * the front and the transition code (orders.c).  Private to smdp_default/orders*.c.
 *
 * The front checks arguments and picks the backend; the transition code (smdp_store_apply) decides
 * every state change of an smdp_op against the record as the backend read it inside its write
 * transaction, through the primitives of smdp_stx_ops; a backend implements those primitives and the
 * reads and outbox operations of smdp_store_ops with the contracts of orders.h.
 *
 * Primitive errors: 0, SMDP_NOTFOUND (nothing stored under the key), SMDP_CORRUPTED (a stored value
 * does not decode), or any other backend error (rolls the transaction back).
 */
#ifndef SMDP_STORE_IMPL_H
#define SMDP_STORE_IMPL_H

#include "smdp_default/orders.h"

/* The LMDB values, so that one error text function serves both backends. */
#define SMDP_NOTFOUND MDB_NOTFOUND
#define SMDP_CORRUPTED MDB_CORRUPTED

/* One write transaction of a backend; backends embed it as the first member of their own. */
typedef struct smdp_stx smdp_stx;

typedef struct smdp_stx_ops {
    /* The record of iccid, read for update (locked until the commit where the backend needs it). */
    int (*load)(smdp_stx *t, const char *iccid, smdp_order *out);
    /* The first Available profile of (owner, type) in ICCID order, locked ("" when none); *known tells
     * whether (owner, type) has any profile at all. */
    int (*pick_available)(smdp_stx *t, const char *owner, const char *type, char iccid[SMDP_ICCID_MAX + 1],
                          bool *known);
    /* The ICCID of the order holding matching_id, "" when none. */
    int (*mid_owner)(smdp_stx *t, const char *matching_id, char iccid[SMDP_ICCID_MAX + 1]);
    /* The next release sequence number (unique in the store). */
    int (*next_seq)(smdp_stx *t, uint64_t *seq);
    /* Stores after (before: the stored record, NULL for a new one) with every index. */
    int (*save)(smdp_stx *t, const smdp_order *before, const smdp_order *after);
    /* Deletes the record, its indexes and the blobs stored beside it. */
    int (*remove)(smdp_stx *t, const smdp_order *before);
    int (*put_ppp)(smdp_stx *t, const char *iccid, const uint8_t *p, size_t n);
    int (*put_bpp)(smdp_stx *t, const char *iccid, const uint8_t *p, size_t n);
    int (*del_bpp)(smdp_stx *t, const char *iccid);
    /* The ES2+ answer stored under key (any age); put replaces one. */
    int (*answer_load)(smdp_stx *t, const uint8_t key[SMDP_CALL_KEY_LEN], smdp_answer *out);
    int (*answer_put)(smdp_stx *t, const uint8_t key[SMDP_CALL_KEY_LEN], const smdp_answer *a);
    /* Stores a checked outbox item, assigning it->seq. */
    int (*ob_add)(smdp_stx *t, smdp_ob_item *it);
} smdp_stx_ops;

struct smdp_stx {
    const smdp_stx_ops *ops;
    smdp_orders *s;
};

/* Reads return 0, SMDP_NOTFOUND or an error; visitors stop on fn's non-zero result (returned). */
typedef struct smdp_store_ops {
    int (*open)(smdp_orders *s, const char *dir);
    void (*close)(smdp_orders *s);
    /* Runs smdp_store_apply(stx, op) in a write transaction: synchronously (result: 0 or the error
     * that rolled it back), or queued with done(op, result) after the commit (0 when queued). */
    int (*run)(smdp_orders *s, smdp_op *op);
    int (*submit)(smdp_orders *s, smdp_op *op, void (*done)(smdp_op *op, int result));
    int (*get)(smdp_orders *s, const char *iccid, smdp_order *out);
    /* The oldest order of eid awaiting download (Released or Downloaded). */
    int (*find_by_eid)(smdp_orders *s, const char *eid, smdp_order *out);
    /* Every order of eid that ended in Error. */
    int (*ended)(smdp_orders *s, const char *eid, smdp_order_visit fn, void *arg);
    int (*by_mid)(smdp_orders *s, const char *matching_id, smdp_order *out);
    int (*by_tid)(smdp_orders *s, const uint8_t *tid, size_t len, smdp_order *out);
    int (*get_blob)(smdp_orders *s, bool bpp, const char *iccid, uint8_t **out, size_t *len);
    int (*list)(smdp_orders *s, smdp_order_visit fn, void *arg);
    int (*expired)(smdp_orders *s, uint64_t now, char (*iccids)[SMDP_ICCID_MAX + 1], size_t max, size_t *n);
    /* The stored answer (any age). */
    int (*answer_get)(smdp_orders *s, const uint8_t key[SMDP_CALL_KEY_LEN], smdp_answer *out);
    int (*answers_purge)(smdp_orders *s, uint64_t now, size_t max, size_t *n); /* older than answer_ttl */
    int (*ob_claim)(smdp_orders *s, uint64_t now, uint32_t lease, unsigned scan_max, size_t max,
                    smdp_ob_item *out, size_t *n, uint64_t *next_due);
    int (*ob_finish)(smdp_orders *s, const smdp_ob_item *claimed, const smdp_ob_item *next,
                     void (*done)(void *arg, int rc), void *arg);
    int (*ob_add)(smdp_orders *s, smdp_ob_item *items, size_t n);
    int (*ob_list)(smdp_orders *s, int (*fn)(void *arg, const smdp_ob_item *it), void *arg);
    int (*ob_pending)(smdp_orders *s, uint64_t *count, uint64_t *oldest);
    bool (*ready)(smdp_orders *s);
    void (*metrics)(smdp_orders *s, FILE *f);
} smdp_store_ops;

extern const smdp_store_ops smdp_store_lmdb_ops;
extern const smdp_store_ops smdp_store_pg_ops;

struct smdp_orders {
    const smdp_store_ops *ops;
    smdp_orders_config cfg;
    char *dsn;  /* cfg.dsn points here */
    void *impl; /* the backend's state */
};

/* The transition of op inside t (replayed ES2+ answer, state checks, the write, the answer, the hook);
 * the backend's apply callback.  0 (op->status says what happened) or the error to roll back with. */
int smdp_store_apply(smdp_stx *t, smdp_op *op);

/* The outbox item checks of smdp_op_queue: 0 or EINVAL. */
int smdp_ob_item_check(const smdp_ob_item *it);

/* Record codecs shared by the backends (proto/order.proto, proto/outbox.proto).  pack: the encoded
 * size, and the bytes into dst when dst is non-NULL (size it with a first call).  unpack: 0 or
 * SMDP_CORRUPTED. */
size_t smdp_order_pack(const smdp_order *o, uint8_t *dst);
int smdp_order_unpack(const uint8_t *p, size_t n, smdp_order *o);
size_t smdp_answer_pack(const smdp_answer *a, uint8_t *dst);
int smdp_answer_unpack(const uint8_t *p, size_t n, smdp_answer *a);
size_t smdp_ob_item_pack(const smdp_ob_item *it, uint8_t *dst);
int smdp_ob_item_unpack(const uint8_t *p, size_t n, smdp_ob_item *it);

/* Index membership, the same for every backend. */
bool smdp_order_expirable(const smdp_order *o);    /* can still expire: by_exp */
bool smdp_order_in_eid_queue(const smdp_order *o); /* awaiting download: by_eid */
bool smdp_order_in_ended(const smdp_order *o);     /* ended in Error with a device: ended */

#endif
