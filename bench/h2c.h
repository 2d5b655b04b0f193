/*
 * bench/h2c.h - a lean HTTP/2 client over TLS (libnghttp2 + OpenSSL) for
 * loads that keep many streams in flight on one connection (the ES12 phase).
 *
 * libcurl spends 40-50 µs of CPU per multiplexed request, as much as the
 * server it loads on the same cores; this client spends a few.  It does only
 * what the load needs: one connection (TLS 1.2+ with ALPN h2, the server
 * checked against a CA file and the host name or IP address of the URL, an
 * optional client certificate), POST requests with a body, the status and
 * body of each response.
 *
 * Use: h2c_connect(), then h2c_post() any number of requests and call
 * h2c_run() until they completed; each request's done function runs from
 * h2c_run() (never from h2c_post()) and may post new requests.
 *
 * Ownership: the caller owns the h2c (h2c_close).  Request bodies and header
 * values are borrowed until the request's done function ran.  A response
 * body is valid only during the done call.
 *
 * Errors: functions return 0 / -1 (or NULL) with a message in err; a broken
 * connection completes every request in flight with status 0 and a reason.
 *
 * Thread safety: none; one h2c belongs to one thread.
 */
#ifndef BENCH_H2C_H
#define BENCH_H2C_H

#include <stddef.h>
#include <openssl/ssl.h>

typedef struct h2c h2c;

typedef struct h2c_cfg {
    const char *base;       /* "https://HOST:PORT", or "http://HOST:PORT": h2c by prior knowledge (tests) */
    const char *cafile;     /* trust anchor of the server certificate (PEM) */
    const char *cert, *key; /* client certificate chain and key (PEM), or NULL */
} h2c_cfg;

/* One request's outcome: status is the HTTP status, or 0 when the stream or
 * connection failed (err then says why, else err is NULL). */
typedef void (*h2c_done_fn)(void *arg, int status, const char *body, size_t len, const char *err);

/* Connects and completes the TLS handshake (blocking).  NULL on failure. */
h2c *h2c_connect(const h2c_cfg *cfg, char *err, size_t errlen);

/* Queues a POST of body to path.  headers: NULL or name, value pairs ending
 * with NULL (lower-case names), at most 8 pairs.  0, or -1 when the request
 * cannot be queued (the connection is broken; done is not called). */
int h2c_post(h2c *c, const char *path, const char *const *headers, const void *body, size_t len,
             h2c_done_fn done, void *arg);

/* Sends what is queued and waits up to timeout_ms for data, handling what
 * arrives (done functions run here).  0, or -1 once the connection is
 * broken (every request in flight has completed with an error). */
int h2c_run(h2c *c, int timeout_ms);

/* Requests posted and not yet completed. */
size_t h2c_in_flight(const h2c *c);

/* The reason the connection broke, "" while it works. */
const char *h2c_error(const h2c *c);

/* The TLS connection (for its negotiated parameters); NULL over http://. */
SSL *h2c_ssl(h2c *c);

/* Closes the connection; requests still in flight are dropped without their
 * done call.  NULL is a no-op. */
void h2c_close(h2c *c);

#endif
