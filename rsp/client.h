/*
 * rsp/client — outgoing server-to-server calls (ES12, ES15, ES2+ notifications): one HTTPS POST of a JSON
 * body with the GSMA headers, over mutual TLS, through a caller-owned libcurl easy handle.
 *
 * The handle is the caller's (one per thread: libcurl handles are not shared); rsp_client_setup resets it
 * and applies the settings, so a handle can serve callers with different settings in turn.  Nothing here
 * retries: the callers map the result to their own retry policy.
 */
#ifndef RSP_CLIENT_H
#define RSP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>

#define RSP_CLIENT_MAX_BODY (64 * 1024) /* longest answer read; a longer one sets overflow */

typedef struct rsp_client_tls {
    const char *cert;              /* client certificate (PEM file); NULL or "" for none */
    const char *key;               /* its private key (PEM file) */
    const char *ca;                /* trust anchors for the server (PEM file); NULL or "" for libcurl's */
    struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO list ("host:port:addr:port"), borrowed; NULL */
    long timeout_ms;               /* connect and whole-call limit */
    const char *user_agent;        /* NULL for none */
} rsp_client_tls;

/* libcurl's global initialisation, once per process (thread-safe). */
void rsp_client_init(void);

/* Resets h and applies c: HTTPS only, peer and host name verified, no signals. */
void rsp_client_setup(CURL *h, const rsp_client_tls *c);

typedef struct rsp_client_result {
    CURLcode curl;   /* CURLE_OK when an HTTP answer came */
    long http;       /* its status, 0 without one */
    bool overflow;   /* the body was longer than RSP_CLIENT_MAX_BODY (not read further) */
    bool has_header; /* HTTP 200 whose body is a GSMA response with a header: the fields below */
    bool ok;         /* functionExecutionStatus Executed-Success or Executed-WithWarning */
    char status[24]; /* the status text, "" when absent */
    char subject[24];
    char reason[24]; /* statusCodeData codes, "" when absent */
} rsp_client_result;

/*
 * POSTs body (len bytes) to url through h (set up with rsp_client_setup) with Content-Type
 * application/json and X-Admin-Protocol gsma/rsp/v2.2.2, and fills r.  Returns 0 once the call was made
 * (its outcome is in r, including transport failures), ENOMEM when it could not be prepared.
 */
int rsp_client_post_json(CURL *h, const char *url, const char *body, size_t len, rsp_client_result *r);

/* Human-readable one-line outcome of r for logs ("HTTP 503", "SM-DS answered Failed 8.9/4.2", ...). */
void rsp_client_describe(const rsp_client_result *r, const char *peer, char *out, size_t cap);

#endif
