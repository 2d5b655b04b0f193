/*
 * smds/server.h - the SM-DS routes on rsp/http: the h2o-facing side of the
 * ES11, ES12 and ES15 handlers (es11.h, es12.h) and /metrics.
 *
 * Device listener (server-only TLS):
 *   POST /gsma/rsp2/es11/initiateAuthentication, /gsma/rsp2/es11/authenticateClient
 *   POST /gsma/rsp2/es9plus/initiateAuthentication, /gsma/rsp2/es9plus/authenticateClient
 * Server-to-server listener (mutual TLS, peer_check = smds_peer_check):
 *   POST /gsma/rsp2/es12/registerEvent, /gsma/rsp2/es12/deleteEvent
 *   POST /gsma/rsp2/es15/registerEvent, /gsma/rsp2/es15/deleteEvent
 * Both (device only when metrics_on_device): GET /metrics.
 *
 * Writes are answered only after they are durable: the handler defers the
 * request (rsp_http_defer) and the store writer or the ES15 client thread
 * resumes it.
 */
#ifndef SMDS_SERVER_H
#define SMDS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "rsp/http.h"
#include "smds/smds.h"

/* Registers the routes above (before the server starts).  0 / -1. */
int smds_server_routes(rsp_http_server_t *srv, int device, int s2s, smds_t *x, bool metrics_on_device);

/* The /metrics body: the registry plus event-store and group-commit figures.
 * malloc'd (free()), NULL on allocation failure. */
char *smds_metrics_text(smds_t *x, size_t *len);

#endif
