/*
 * smdp_default/server.h - the Default SM-DP+ routes on rsp/http: the
 * h2o-facing side of the ES9+ and ES2+ calls (call.h) and /metrics.
 *
 * Device listener (server-only TLS):
 *   POST /gsma/rsp2/es9plus/{initiateAuthentication, authenticateClient,
 *        getBoundProfilePackage, handleNotification, cancelSession}
 * Server-to-server listener (mutual TLS; the peer identity is the client
 * certificate's subject CN, mapped to an operator by the call):
 *   POST /gsma/rsp2/es2plus/{downloadOrder, confirmOrder, cancelOrder, releaseProfile}
 * Both (device only when metrics_on_device): GET /metrics.
 *
 * A call that changes an order is answered only after the change (and the
 * outbox items it queued) is durable: the handler defers the request
 * (rsp_http_defer), submits the op to the store's group-commit writer, and the
 * writer's done callback resumes the request on its worker (rsp_http_resume).
 * The call owns everything the op reads, so a client that goes away meanwhile
 * costs nothing but the wasted work.
 */
#ifndef SMDP_SERVER_H
#define SMDP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "rsp/http.h"
#include "smdp_default/smdp.h"

/* Registers the routes above (before the server starts).  0 / -1. */
int smdp_server_routes(rsp_http_server_t *srv, int device, int s2s, smdp_t *x, bool metrics_on_device);

/* Waits until no request's outgoing call (ConfirmOrder's RegisterEvent, on a thread of its own) is still
 * running; each is bounded by smdp.register_event_deadline_ms.  Call after the server stopped, before
 * smdp_free(). */
void smdp_server_quiesce(void);

/* The /metrics body: the registry plus store, outbox and cache figures.
 * malloc'd (free()), NULL on allocation failure. */
char *smdp_metrics_text(smdp_t *x, size_t *len);

#endif
