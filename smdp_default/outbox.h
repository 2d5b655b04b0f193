/*
 * smdp_default/outbox.h - the durable outbox of the Default SM-DP+: calls to
 * other parties (ES12 RegisterEvent / DeleteEvent towards an SM-DS, ES2+
 * HandleDownloadProgressInfo and HandleNotification towards an operator) that
 * must not be lost.
 *
 * Items are queued with smdp_op_queue() inside the same write transaction as
 * the order change that caused them (smdp_op.also), so a change and its
 * messages are durable together or not at all.  The order store keeps them
 * (orders.h, "outbox storage"), on either backend.
 *
 * Delivery: a dispatcher thread picks items whose due time has come and that
 * are the oldest of their stream (items of one stream, e.g. one order's ES12
 * events, go out one at a time and in order, so a DeleteEvent never overtakes
 * its RegisterEvent), claims them with a lease (a write that moves their due
 * time past the end of the attempt, so another process or host sharing the
 * store, or this one after a crash, retries only when the lease ran out), and hands them
 * to sender threads.  Each result is written back: delivered or refused for
 * good -> the item is deleted; failed for now -> due again after an
 * exponential backoff, until max_attempts or max_age, after which it is
 * dropped with an error log line and a metric.  Delivery is at least once:
 * receivers see a repeated call after a lost answer (the functionCallIdentifier
 * stays the same across attempts).
 *
 * The outbox also tracks, per target, since when every attempt failed, so that
 * ES2+ ConfirmOrder can refuse an SM-DS that has been unreachable for a while
 * (smdp_outbox_target_down).
 *
 * Ownership: items are plain structs copied in and out.  Thread safety: every
 * function may be called from any thread.  Errors: 0 or an order store error
 * (smdp_orders_strerror).
 */
#ifndef SMDP_OUTBOX_H
#define SMDP_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rsp/metrics.h"
#include "smdp_default/orders.h"

/* What a send attempt came to. */
typedef enum smdp_ob_outcome {
    SMDP_OB_SENT = 0,  /* delivered (or the receiver already had it) */
    SMDP_OB_RETRY = 1, /* not now: transport failure, timeout, temporary refusal */
    SMDP_OB_DROP = 2,  /* refused for good, or nowhere to send it */
} smdp_ob_outcome;

/* Sends one item; may block (network).  Writes a short reason into err for
 * anything but SMDP_OB_SENT.  Called concurrently from the sender threads. */
typedef smdp_ob_outcome (*smdp_ob_send_fn)(void *ctx, const smdp_ob_item *it, char *err, size_t errlen);

typedef struct smdp_outbox_config {
    unsigned threads;           /* sender threads [4] */
    uint32_t backoff_min;       /* seconds before the first retry [2] */
    uint32_t backoff_max;       /* cap of the doubling backoff [300] */
    uint32_t max_attempts;      /* attempts before an item is dropped; 0 = no limit [0] */
    uint64_t max_age;           /* seconds after which an undelivered item is dropped [7 days] */
    uint32_t lease;             /* seconds an attempt owns its item; above the send timeout [120] */
    uint32_t unavailable_after; /* seconds of failures after which a target counts as down [300] */
    unsigned scan_max;          /* due items examined per dispatch round [1024] */
    smdp_ob_send_fn send;       /* required */
    void *send_ctx;
    rsp_metrics *metrics; /* may be NULL */
} smdp_outbox_config;

typedef struct smdp_outbox smdp_outbox;

/* Creates the outbox over the order store; threads start with
 * smdp_outbox_start.  NULL on allocation failure. */
smdp_outbox *smdp_outbox_new(smdp_orders *store, const smdp_outbox_config *cfg);
/* Starts the dispatcher and senders.  0 / errno. */
int smdp_outbox_start(smdp_outbox *ob);
/* Stops the threads (an attempt in progress finishes and its result is
 * written) and frees.  Call before closing the store.  NULL is a no-op. */
void smdp_outbox_free(smdp_outbox *ob);

/* Wakes the dispatcher (after a commit that added items).  Any thread. */
void smdp_outbox_kick(smdp_outbox *ob);

/* True when every attempt towards target failed for at least
 * unavailable_after seconds up to now (in this process). */
bool smdp_outbox_target_down(smdp_outbox *ob, const char *target, uint64_t now);

typedef struct smdp_outbox_stats {
    uint64_t pending; /* items stored now */
    uint64_t sent;    /* delivered */
    uint64_t retries; /* attempts that will be retried */
    uint64_t dropped; /* given up */
    uint64_t oldest;  /* created_at of the oldest pending item, 0 if none */
} smdp_outbox_stats;

/* Counters of this process plus what the store holds.  0 or an LMDB error. */
int smdp_outbox_stats_get(smdp_outbox *ob, smdp_outbox_stats *out);

/* Reads the stored items in sequence order (tests, tools); fn returns non-zero
 * to stop.  0 or an LMDB error. */
int smdp_outbox_list(smdp_outbox *ob, int (*fn)(void *arg, const smdp_ob_item *it), void *arg);

/* Delay before attempt n + 1 after n failed ones (exported for tests). */
uint32_t smdp_outbox_backoff(const smdp_outbox_config *cfg, uint32_t attempts);

#endif
