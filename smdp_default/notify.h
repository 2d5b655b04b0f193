/*
 * smdp_default/notify.h - the SM-DP+'s outgoing server-to-server calls, the
 * send function of the outbox (outbox.h):
 *
 *   ES12.RegisterEvent / DeleteEvent  POST https://<smdsAddress>[:port]/gsma/rsp2/es12/<fn>
 *   ES2+.HandleDownloadProgressInfo   POST <the operator's configured URL>
 *   ES2+.HandleNotification           POST <that URL, last path element "handleNotification">
 *
 * Both over mutual TLS with libcurl: our client certificate is CERT.DP.TLS,
 * the server certificate is verified against the configured CA file with a
 * host name check.  Requests carry the server-to-server header
 * (functionRequesterIdentifier = our FQDN, functionCallIdentifier =
 * "<fqdn>/outbox/<seq>", the same on every attempt so that a receiver can spot
 * a repeat) and X-Admin-Protocol gsma/rsp/v2.2.2.
 *
 * Outcomes (outbox.h): ES12 Executed-Success, RegisterEvent 8.9.5/3.3 (the
 * event is there already: an earlier attempt's answer was lost) and
 * DeleteEvent 8.9.5/3.9 (nothing left to delete) are SENT; Failed with reason
 * 4.2 or 5.1 (cascade or availability) is RETRY; any other Failed is DROP.
 * ES2+ answers 204 (or 200) are SENT.  HTTP 400, 404, 405, 413, 415 (the
 * request itself is wrong for that server) are DROP; other HTTP statuses,
 * transport failures and timeouts are RETRY.
 *
 * Ownership: strings of the configuration are copied; client certificate,
 * key and CA files are read by libcurl for each new connection, so replacing
 * them takes effect without a restart.  One curl handle per calling thread is
 * kept for connection reuse.  Thread safe.
 */
#ifndef SMDP_NOTIFY_H
#define SMDP_NOTIFY_H

#include <stddef.h>

#include "smdp_default/outbox.h"

#define SMDP_URL_MAX 512

/* Finds where an operator wants HandleDownloadProgressInfo (url) and the CA
 * file for its server certificate (ca, "" = the default CA).  0 when
 * configured, -1 when not (the item is then dropped). */
typedef int (*smdp_operator_endpoint_fn)(void *ctx, const char *operator_id, char url[SMDP_URL_MAX],
                                         char ca[SMDP_URL_MAX]);

typedef struct smdp_notify_config {
    const char *fqdn;       /* our address: rspServerAddress and functionRequesterIdentifier */
    const char *cert;       /* CERT.DP.TLS client certificate (PEM) */
    const char *key;        /* its private key (PEM) */
    const char *ca;         /* CA file (PEM) for SM-DS and, by default, operator server certificates */
    unsigned es12_port;     /* port for an smdsAddress without one [443] */
    const char *connect_to; /* comma-separated libcurl CONNECT_TO entries "HOST:PORT:CHOST:CPORT" */
    unsigned timeout_ms;    /* per request, connection included [10000] */
    smdp_operator_endpoint_fn operator_endpoint;
    void *operator_ctx;
} smdp_notify_config;

typedef struct smdp_notify smdp_notify;

/* NULL with a message in err on a bad configuration or out of memory. */
smdp_notify *smdp_notify_new(const smdp_notify_config *cfg, char *err, size_t errlen);
void smdp_notify_free(smdp_notify *n);

/* smdp_ob_send_fn with ctx = an smdp_notify. */
smdp_ob_outcome smdp_notify_send(void *ctx, const smdp_ob_item *it, char *err, size_t errlen);

/* One attempt of it now, within timeout_ms (0 = the configured timeout), blocking: ConfirmOrder's
 * synchronous RegisterEvent.  As smdp_notify_send, except that a transport failure that retrying will not
 * cure (smdp_notify_transport_outcome) is DROP.  An item with seq 0 is sent with the
 * functionCallIdentifier "<fqdn>/confirm/<eventId>". */
smdp_ob_outcome smdp_notify_try(smdp_notify *n, const smdp_ob_item *it, unsigned timeout_ms, char *err,
                                size_t errlen);

/* What a libcurl result code (CURLcode) of a call that got no HTTP answer means when the caller must
 * decide now: DROP for the name not resolving, the TLS handshake refused or the peer certificate not
 * verified, a malformed address; RETRY for everything else (refused connection, timeout, reset). */
smdp_ob_outcome smdp_notify_transport_outcome(int curl_code);

/* The JSON request body of an item (for tests and logs); malloc'd, NUL-terminated. */
char *smdp_notify_body(const smdp_notify *n, const smdp_ob_item *it, size_t *len);

/* "YYYY-MM-DDTHH:MM:SSZ" for a Unix time. */
void smdp_w3c_time(uint64_t t, char out[21]);

#endif
