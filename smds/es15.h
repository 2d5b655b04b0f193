/*
 * smds/es15.h - the ES15 client of an Alternative SM-DS: cascades Event
 * Records to the Root SM-DS (RegisterEvent, DeleteEvent) over mutual TLS.
 *
 * Requests run on a small pool of threads, each with its own libcurl handle
 * (kept-alive connection), so an h2o worker never blocks on the network.
 * Completion callbacks run on a pool thread; they must be quick and may
 * queue further work (store writes, rsp_http_resume).
 *
 * Outcome of a call, given to the callback:
 *   RSP_OK                   the root answered Executed-Success (or, for
 *                            DeleteEvent, 8.9.5/3.9: the event is gone there)
 *   RSP_ST_ROOT_SMDS_ERROR   8.9/4.2: the root answered Failed
 *   RSP_ST_SMDS_UNAVAILABLE  8.9/5.1: no connection, TLS failure, timeout,
 *                            an HTTP status other than 200, or an unreadable body
 *
 * Ownership: strings are copied.  Client certificate and key are read by
 * libcurl for each new connection, so replacing the files takes effect
 * without a restart.  Errors: functions return 0, or -1 (with a message in
 * err where one is passed).
 */
#ifndef SMDS_ES15_H
#define SMDS_ES15_H

#include <stddef.h>

#include "rsp/status.h"

typedef struct smds_root_config {
    const char *address;   /* host:port of the Root SM-DS's ES15 listener */
    const char *cert;      /* our CERT.DS.TLS client certificate (PEM) */
    const char *key;       /* its private key (PEM) */
    const char *ca;        /* CA certificates (PEM) for the root's server certificate */
    const char *requester; /* functionRequesterIdentifier and rspServerAddress: our FQDN */
    unsigned threads;      /* pool size [4] */
    unsigned timeout_ms;   /* per request, connection included [5000] */
} smds_root_config;

typedef struct smds_root smds_root;

smds_root *smds_root_new(const smds_root_config *cfg, char *err, size_t errlen);
/* Stops the pool: queued calls complete with RSP_ST_SMDS_UNAVAILABLE without
 * being sent, running calls finish.  NULL is a no-op. */
void smds_root_free(smds_root *r);

/* "host:port" of the root. */
const char *smds_root_address(const smds_root *r);

typedef void (*smds_root_done_cb)(void *arg, rsp_status st, const char *detail);

/* Queues ES15.RegisterEvent {eid, rspServerAddress = requester, eventId}. */
int smds_root_register(smds_root *r, const char *eid, const char *event_id, smds_root_done_cb done,
                       void *arg);
/* Queues ES15.DeleteEvent {eid, eventId}. */
int smds_root_delete(smds_root *r, const char *eid, const char *event_id, smds_root_done_cb done, void *arg);

#endif
