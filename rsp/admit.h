/*
 * rsp/admit.h - overload admission for the expensive device-facing calls (ES11 and ES9+
 * InitiateAuthentication / AuthenticateClient, ES9+ GetBoundProfilePackage, ...).
 *
 * A handler worker runs its calls one after the other, so when devices offer more work than it can do
 * (a boot storm) the excess waits in socket buffers where no server-side bound can see it, and every
 * call's latency grows until devices time out and retry: goodput collapses.  Admission keeps each
 * worker below saturation instead: every worker has a time budget that fills at busy_percent of wall
 * time (up to burst_ms) and is charged the time the worker thread spent running or waiting for a CPU
 * (/proc/thread-self/schedstat: all its work, TLS and HTTP/2 included, but not the time it slept in
 * the event loop; where schedstat cannot be read, the admitted handlers' wall time).  A call arriving
 * while the budget is spent is refused at once, before JSON parsing and crypto, with HTTP 503 and
 * Retry-After: the worker keeps up with what it admits, so admitted calls keep their latency, and the
 * refusals cost a few microseconds each.  The limit follows the real capacity
 * (a slower machine, a noisy neighbour or a larger key set charge more time per call) and scales with
 * the worker count, so nothing needs to be measured to configure it.
 *
 * Ongoing transactions are preferred: a NEW call (InitiateAuthentication) is admitted only while more
 * than reserve_percent of the burst is left, an ONGOING one (a device past InitiateAuthentication)
 * while anything is left, so a device halfway through a download is not refused in favour of a new
 * poll.
 *
 * Why HTTP 503 rather than a GSMA status: the refusal must come before the body is parsed (which is
 * part of the cost), so there is no functionCallIdentifier to echo; SGP.22's JSON binding leaves
 * transport errors to HTTP, and LPAs treat a non-200 answer as a failed attempt to retry later;
 * Retry-After says when.  A 200 with Failed 1.1/5.1 would read as a final execution error of the
 * function.
 *
 * Counted in RSP_ADMIT_METRIC_REFUSED{function,class} (and rsp_admit_stats).  Thread safety: any
 * worker thread; each thread has its own budget slot (up to RSP_ADMIT_SLOTS threads, beyond which
 * threads share slots under their lock).
 */
#ifndef RSP_ADMIT_H
#define RSP_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rsp/config.h"
#include "rsp/http.h"
#include "rsp/metrics.h"

#define RSP_ADMIT_SLOTS 64
#define RSP_ADMIT_METRIC_REFUSED "rsp_admission_refused_total"

typedef enum rsp_admit_class {
    RSP_ADMIT_NEW = 0,     /* starts a transaction (InitiateAuthentication) */
    RSP_ADMIT_ONGOING = 1, /* continues one (AuthenticateClient, GetBoundProfilePackage, ...) */
} rsp_admit_class;

typedef struct rsp_admit_config {
    unsigned busy_percent;    /* share of each worker's wall time admitted calls may take; 0 = off */
    unsigned burst_ms;        /* how far a worker may run ahead of that share */
    unsigned reserve_percent; /* part of the burst only ONGOING calls may use */
    unsigned retry_after;     /* seconds in Retry-After */
} rsp_admit_config;

typedef struct rsp_admit rsp_admit;

/* What a call was admitted with; pass it to rsp_admit_done. */
typedef struct rsp_admit_ticket {
    void *slot; /* NULL: not charged (admission off) */
    uint64_t start_us;
} rsp_admit_ticket;

typedef struct rsp_admit_stats {
    uint64_t admitted[2]; /* by class */
    uint64_t refused[2];
} rsp_admit_stats;

/* The config keys (section "admission"), declared by rsp/service for every service. */
extern const rsp_config_key_t rsp_admit_keys[];
extern const size_t rsp_admit_nkeys;

/* Creates the admission state; cfg is copied.  NULL on allocation failure. */
rsp_admit *rsp_admit_new(const rsp_admit_config *cfg);
/* The same from the "admission" keys of cfg.  NULL on allocation failure. */
rsp_admit *rsp_admit_from_config(const rsp_config_t *cfg);
void rsp_admit_free(rsp_admit *a); /* NULL is a no-op */

/* Refusals are counted in m from now on (m must outlive a; NULL stops). */
void rsp_admit_set_metrics(rsp_admit *a, rsp_metrics *m);

/*
 * The decision for a call of class cls on the calling thread at now_us (monotonic), charging admitted
 * calls their own time (the arithmetic without schedstat; tests drive it with simulated time).  true:
 * admitted, *t filled (call rsp_admit_done when the call's synchronous part returns); false: refused
 * (counted).
 * a NULL or busy_percent 0: always admitted, nothing charged.
 */
bool rsp_admit_try(rsp_admit *a, rsp_admit_class cls, uint64_t now_us, rsp_admit_ticket *t);
/* Charges the call's time (now_us - start) to its slot. */
void rsp_admit_done(rsp_admit *a, rsp_admit_ticket *t, uint64_t now_us);

/*
 * For handlers, first thing: the decision now, charging the thread's busy time since its previous
 * decision (rsp_admit_try where schedstat is missing); when refused, answers 503 with Retry-After and
 * X-Admin-Protocol, counts the refusal under function, and returns false (the handler returns 0 and
 * does nothing else).
 */
bool rsp_admit_request(rsp_admit *a, h2o_req_t *req, rsp_admit_class cls, const char *function,
                       rsp_admit_ticket *t);

void rsp_admit_stats_get(const rsp_admit *a, rsp_admit_stats *out);

#endif
