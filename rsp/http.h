/*
 * rsp/http.h - HTTP/1.1 + HTTP/2 server glue over libh2o-evloop 2.2.5 and OpenSSL 3.
 *
 * Model: one rsp_http_server_t owns several listeners (for example the device-facing ES11/ES9+ port with
 * server-only TLS, and a server-to-server ES12/ES15/ES2+ port with mutual TLS).  start() binds every
 * listener once per worker thread with SO_REUSEPORT; each worker runs its own h2o evloop, so a request
 * is handled start to finish on the thread that accepted its connection.  Handlers run on that thread
 * and may do blocking crypto inline (100-400 us); anything slower (an fsync) should use rsp_http_defer().
 *
 * Lifecycle (all from one controlling thread):
 *   srv = rsp_http_server_new(&cfg);
 *   l = rsp_http_listener_add(srv, &lcfg, err, sizeof(err));      -- loads TLS material, reports errors
 *   rsp_http_route(srv, l, "POST", "/gsma/rsp2/es11/...", handler, ctx);
 *   rsp_http_server_start(srv, err, sizeof(err));                 -- binds, starts workers
 *   rsp_http_server_set_ready(srv, 1);
 *   rsp_http_server_run(srv, reload_cb, ctx);                     -- SIGTERM/SIGINT: graceful stop
 *   rsp_http_server_free(srv);
 * Routes and listeners are fixed once started.  Functions returning int give 0 on success and -1 on
 * failure, with a NUL-terminated message in `err` when one is passed.
 *
 * Routing: exact path match on the normalized path (no query), then method.  Unknown path -> 404, known
 * path with another method -> 405 (with Allow), and on every listener GET/HEAD /healthz -> 200 "ok" and
 * /readyz -> 200 "ready" or 503 "not ready" (see rsp_http_server_set_ready).  Request bodies larger than
 * the listener's body_limit are refused with 413 before the handler runs.  h2o 2.2.5 hands the body to
 * the server only once complete, so the glue also sets h2o's max_request_entity_size to a hard cap of
 * 2 * limit + 16 KiB: between the limit and the cap the client gets 413 from the glue; beyond it h2o
 * answers 413 itself on HTTP/1.1 (Content-Length or chunked) and resets the stream on HTTP/2, where
 * 2.2.5 has no earlier hook: with ENHANCE_YOUR_CALM instead of h2o's REFUSED_STREAM, which clients retry
 * automatically (in binaries that link this file statically; see http.c).  On a listener with client_auth
 * REQUIRED a request whose connection has no accepted peer identity gets 403.
 *
 * Handlers: `int handler(h2o_req_t *req, void *ctx)` runs on the worker thread.  It either sends exactly
 * one response (rsp_http_send_*, or plain h2o calls) or calls rsp_http_defer(), and returns 0.  A handler
 * that returns non-zero without having sent anything gets a 500 sent for it.  req->entity holds the
 * whole body ({NULL,0} if none); it and everything in req->pool live until the response is finished.
 *
 * Peer identity (mutual TLS, the recipe checked with 2.2.5 + OpenSSL 3):  h2o keeps the SSL object
 * private, so the glue hooks SSL_CTX_set_info_callback at SSL_CB_HANDSHAKE_DONE, requires
 * SSL_get_verify_result() == X509_V_OK, calls the listener's peer_check with the leaf and the verified
 * chain, and records the identity in a per-worker table keyed by the h2o socket (found with
 * BIO_get_data(SSL_get_rbio(ssl))).  The entry also sits in the SSL's ex_data with a free callback that
 * removes it when h2o frees the SSL (before the socket, whose address is then reused).  Session
 * resumption (tickets and cache) is off on listeners that check client certificates, because a resumed
 * session would skip the check.  Listeners without client authentication send no TLS 1.3 session
 * tickets either: devices poll once per boot, and ticket keys are per process.
 * A handler reads the identity with
 *     const struct my_peer *p = rsp_http_peer(req);    -- NULL: no (accepted) client certificate
 * which looks up req->conn->callbacks->get_socket(req->conn), valid for HTTP/1.1 and every HTTP/2
 * stream of the connection.  The pointer belongs to the connection: use it on the worker thread while
 * handling the request; after rsp_http_defer() call rsp_http_peer(req) again in the resume function
 * (the connection may have closed meanwhile) or copy what another thread needs.  A missing or untrusted
 * certificate on a REQUIRED listener ends the handshake (the client sees a reset or an alert); a certificate
 * that chains but that peer_check refuses leaves the identity NULL, so requests get 403.
 *
 * Deferred completion: a handler may call d = rsp_http_defer(req), hand d to another thread (for example
 * the LMDB group-commit writer) and return 0.  That thread later calls rsp_http_resume(d, fn, arg)
 * exactly once; fn(req, arg) then runs on the owning worker's loop (through h2o_multithread_send_message)
 * and must send the response like a handler (or defer again).  If the client went away meanwhile, fn
 * runs with req == NULL so it can free arg.  Graceful stop waits (bounded) for outstanding deferrals.
 *
 * Rapid reset (HTTP/2, CVE-2023-44487; h2o 2.2.5 has no mitigation): a routed HTTP/2 request runs its
 * handler one loop turn after its last frame was parsed, so a RST_STREAM that arrived in the same read
 * cancels it before any work.  Each request disposed of before its answer (parked, or deferred and not
 * yet resumed) counts as a reset of its connection; more than h2_reset_limit within 10 s and the
 * connection gets GOAWAY (ENHANCE_YOUR_CALM), its parked requests 503, and it is closed.  Counters:
 * rsp_http_stats_get().
 *
 * PROXY protocol (listener option proxy_protocol, for nodes behind a TCP load balancer such as HAProxy
 * with send-proxy-v2): every connection must start with a PROXY protocol version 2 header (rsp/proxy.h)
 * before TLS (or plain HTTP).  h2o 2.2.5 parses only the text version 1, so the glue reads the header
 * itself: at most RSP_PROXY_MAX_HEADER bytes, within proxy_timeout_ms of the accept.  A missing,
 * truncated, oversized or otherwise bad header closes the connection before any TLS or HTTP byte is
 * answered (counted by rsp_http_listener_proxy_refused, logged to stderr the first time and then at
 * each power of two).  A valid header sets the client address h2o reports for the connection
 * (rsp_http_client_addr); a LOCAL header (the balancer's own health checks) keeps the socket's.
 * TLS, and so mutual TLS, still ends at this process.  The header is trusted as sent: such a port must
 * be reachable from the load balancers only.
 *
 * Connection limits (per listener, checked at accept before any TLS byte, so a refusal costs an accept
 * and a close): open connections (max_connections), connections per client address (on proxy_protocol
 * listeners the address in the PROXY header, checked as soon as the header is read), TLS handshakes in
 * progress (max_handshakes).  The process also holds at most as many connections as its soft
 * RLIMIT_NOFILE leaves room for at start, less RSP_LIMITS_FD_RESERVE descriptors kept for the store,
 * the logs and outgoing connections.  A connection over max_connections or that descriptor budget
 * may still be served as an "overflow" connection (at most 16 at once and 16 a second per worker):
 * /healthz and /readyz answer as usual, anything else gets 503 with Retry-After and the connection is
 * closed within about 2 s, so health checks keep answering at the limit.  After 256 connections closed at
 * these caps within a second a worker leaves further ones in the kernel's backlog until one of its
 * connections closes or the next sweep, so a reconnecting crowd cannot keep the loop busy.
 * An HTTP/2 connection with more than max_streams requests in progress gets 503 with Retry-After for the
 * extra ones.  A sweep once a
 * second closes connections still in their handshake after handshake_timeout_ms and connections that had
 * no request in progress for idle_timeout_ms (HTTP/2: GOAWAY; PINGs and other frames do not count as
 * activity), so both act with up to one second of delay.  If accept() fails for want of descriptors
 * (EMFILE, ENFILE) the worker stops reading that listening socket until one of its connections closes
 * or the next sweep, instead of spinning on a socket that stays readable.  Counted with a registry set
 * by rsp_http_server_set_metrics(): RSP_HTTP_METRIC_CONN_REFUSED{listener,reason} (reason
 * max_connections, max_connections_per_client, max_handshakes, fd_limit, max_streams, accept_error),
 * RSP_HTTP_METRIC_CONN_CLOSED{listener,reason} (handshake_timeout, idle_timeout), and the gauges
 * RSP_HTTP_METRIC_CONNS{listener}, RSP_HTTP_METRIC_HANDSHAKES{listener} and RSP_HTTP_METRIC_FD_BUDGET
 * (refreshed every second).  A worker whose connections dropped to a quarter of their peak (of at
 * least 64) calls malloc_trim(), so memory freed by closed connections goes back to the system.
 *
 * Graceful stop: rsp_http_server_stop() (any thread) makes every worker close its listening sockets,
 * send HTTP/2 GOAWAY, mark HTTP/1.1 responses "Connection: close", shorten idle/handshake timeouts to one
 * second, and keep serving in-flight requests until all its connections are closed or drain_timeout_ms
 * has passed.  Connections still open at that bound are cut and reported by rsp_http_server_wait().
 */
#ifndef RSP_HTTP_H
#define RSP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <h2o.h>
#include <openssl/x509.h>

/* X-Admin-Protocol value of this implementation (SGP.22 v2.2.2 HTTP binding). */
#define RSP_HTTP_ADMIN_PROTOCOL "gsma/rsp/v2.2.2"
#define RSP_HTTP_JSON_TYPE "application/json;charset=UTF-8"

/* Flags for the send helpers. */
#define RSP_HTTP_ES 0x1 /* add X-Admin-Protocol: gsma/rsp/v2.2.2 (every ES function response) */

typedef struct rsp_http_server rsp_http_server_t;
typedef struct rsp_http_deferred rsp_http_deferred_t;

/* Route handler, and the function run by rsp_http_resume().  See the contract above. */
typedef int (*rsp_http_handler_fn)(h2o_req_t *req, void *ctx);

/*
 * Client-certificate check, run once per TLS connection at handshake done on the worker thread, only
 * after OpenSSL verified the chain against the listener's CA files.  `leaf` is the client certificate,
 * `chain` the verified chain (leaf first, trust anchor last); both are borrowed.  Return 0 and set
 * *identity_out (may stay NULL) to accept, non-zero to refuse.  The identity is owned by the glue and
 * released with the listener's peer_free when the connection closes.
 */
typedef int (*rsp_http_peer_check_fn)(void *ctx, X509 *leaf, STACK_OF(X509) * chain, void **identity_out);

typedef enum rsp_http_client_auth {
    RSP_HTTP_CLIENT_CERT_NONE = 0, /* server-only TLS (device-facing listeners) */
    RSP_HTTP_CLIENT_CERT_OPTIONAL, /* ask; a presented certificate must chain to the CA files */
    RSP_HTTP_CLIENT_CERT_REQUIRED, /* no or untrusted certificate: handshake fails */
} rsp_http_client_auth_t;

typedef enum rsp_http_tls_version {
    RSP_HTTP_TLS_1_2 = 0,
    RSP_HTTP_TLS_1_3 = 1,
} rsp_http_tls_version_t;

typedef struct rsp_http_listener_config {
    const char *name;      /* short name for logs and rsp_http_listener_find(); required */
    const char *address;   /* numeric address or host name to bind; NULL = "127.0.0.1" */
    uint16_t port;         /* 0: the kernel picks one; read it with rsp_http_listener_port() */
    int plain;             /* non-zero: plain HTTP (h2c by prior knowledge), for tests only; with client_auth
                            * REQUIRED its routes answer 403 (no identity without TLS) */
    const char *cert_file; /* PEM: certificate then its chain (TLS listeners) */
    const char *key_file;  /* PEM private key */
    const char *ciphers;   /* TLS 1.2 cipher list (OpenSSL syntax); NULL = the SGP.22 suites
                              (ECDHE-ECDSA with AES-128-GCM, AES-128-CBC-SHA256, AES-256-GCM,
                              AES-256-CBC-SHA384), then ECDHE with AES-GCM or ChaCha20 */
    const char *ciphersuites; /* TLS 1.3 suites; NULL = AES-128-GCM, AES-256-GCM, ChaCha20 */
    const char *groups;       /* key exchange groups; NULL = P-256, brainpoolP256r1, X25519, P-384 */
    rsp_http_tls_version_t min_version; /* lowest TLS version offered; 0 = TLS 1.2 */
    rsp_http_client_auth_t client_auth;
    const char *const *client_ca_files; /* PEM files of trusted client CAs (required unless NONE) */
    size_t n_client_ca_files;
    rsp_http_peer_check_fn peer_check; /* NULL with client auth: rsp_http_peer_cn_check */
    void (*peer_free)(void *identity); /* NULL with the default check: free() */
    void *peer_ctx;
    size_t body_limit;  /* bytes; 0 = the server's default */
    int proxy_protocol; /* non-zero: connections start with a PROXY v2 header (see above) */
    /* Limits (see "Connection limits" above); counts 0 = no limit. */
    unsigned max_connections;            /* open connections on this listener */
    unsigned max_connections_per_client; /* ... from one client address (PROXY: the header's source) */
    unsigned max_handshakes;             /* TLS handshakes in progress */
    unsigned max_streams;                /* HTTP/2 requests in progress per connection; 0 = 100 */
    unsigned handshake_timeout_ms;       /* accept to TLS handshake done; 0 = 10000 */
    unsigned idle_timeout_ms;            /* without a request in progress (PINGs do not count); 0 = 10000 */
} rsp_http_listener_config_t;

typedef struct rsp_http_server_config {
    unsigned workers;          /* 0 = number of online CPUs */
    size_t body_limit;         /* default per-listener request body limit; 0 = 64 KiB */
    unsigned drain_timeout_ms; /* bound on graceful stop; 0 = 10000 */
    unsigned h2_reset_limit;   /* HTTP/2 streams one connection may reset before their answer within 10 s;
                                  one more gets GOAWAY and the connection closed; 0 = 100 */
    unsigned proxy_timeout_ms; /* wait for a PROXY v2 header after accept; 0 = 5000 */
} rsp_http_server_config_t;

/* Creates a server (nothing is bound yet).  NULL on allocation failure.  cfg may be NULL. */
rsp_http_server_t *rsp_http_server_new(const rsp_http_server_config_t *cfg);

/* Adds a listener; builds its TLS context now so bad files are reported before start.  All strings are
 * copied.  Returns the listener index (>= 0) or -1. */
int rsp_http_listener_add(rsp_http_server_t *srv, const rsp_http_listener_config_t *cfg, char *err,
                          size_t errlen);

/* Index of the listener with that name, or -1. */
int rsp_http_listener_find(const rsp_http_server_t *srv, const char *name);

/* Registers `method path` on a listener (before start).  Paths are exact ("/gsma/rsp2/es12/registerEvent").
 * /healthz and /readyz are reserved.  Returns 0 or -1 (bad argument, duplicate, already started). */
int rsp_http_route(rsp_http_server_t *srv, int listener, const char *method, const char *path,
                   rsp_http_handler_fn fn, void *ctx);

/* Binds every listener (one SO_REUSEPORT socket per worker, after a plain bind that fails if the port
 * is in use, so a second instance cannot silently share it) and starts the workers; returns once they
 * serve.  Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (rsp_http_server_run() waits for them)
 * and ignores SIGPIPE process-wide; workers run with all signals blocked. */
int rsp_http_server_start(rsp_http_server_t *srv, char *err, size_t errlen);

/* Bound port of a listener (after start), 0 if unknown. */
uint16_t rsp_http_listener_port(const rsp_http_server_t *srv, int listener);

/* Connections a proxy_protocol listener closed for a missing or bad PROXY header (any thread). */
unsigned long rsp_http_listener_proxy_refused(const rsp_http_server_t *srv, int listener);

/* Number of worker threads (after new). */
unsigned rsp_http_server_workers(const rsp_http_server_t *srv);

/*
 * Refused TLS handshakes (a fatal alert sent or received during the handshake: no or an untrusted client
 * certificate, no shared protocol or cipher, a client refusing our certificate) and client certificates
 * refused by peer_check are each logged as one warning line with the listener, the peer address and the
 * reason.  With a registry set here they are also counted in RSP_HTTP_METRIC_TLS_REFUSALS{listener,reason}
 * (reason: the alert name in snake case, or "peer_check").  The registry must outlive the server; NULL
 * stops counting.  Any thread.
 *
 * What the client sees: a client refused during the handshake receives OpenSSL's fatal alert, then the
 * close (libh2o 2.2.5 drops it; rsp/tls_alert.c writes it); one refused by peer_check completes the
 * handshake and gets 403 on every request.
 *
 * Resumed handshakes (session tickets, rsp_http_server_set_ticket_secrets) are counted in
 * RSP_HTTP_METRIC_TLS_RESUMED{listener}.
 */
#define RSP_HTTP_METRIC_TLS_REFUSALS "rsp_tls_refusals_total"
#define RSP_HTTP_METRIC_TLS_RESUMED "rsp_tls_resumed_total"
#define RSP_HTTP_METRIC_CONN_REFUSED "rsp_connections_refused_total"
#define RSP_HTTP_METRIC_CONN_CLOSED "rsp_connections_closed_total"
#define RSP_HTTP_METRIC_CONNS "rsp_connections"
#define RSP_HTTP_METRIC_HANDSHAKES "rsp_tls_handshakes_in_progress"
#define RSP_HTTP_METRIC_FD_BUDGET "rsp_connections_fd_budget"
struct rsp_metrics;
void rsp_http_server_set_metrics(rsp_http_server_t *srv, struct rsp_metrics *m);

/*
 * TLS session resumption (TLS 1.3 and 1.2 session tickets) on the listeners without client certificates,
 * with ticket keys derived from secrets every node shares (the transaction secret's keys) and rotated every
 * rotate_s seconds with one period of overlap (rsp/tls_ticket.h): a ticket one node issued resumes on
 * every node with the same secrets.  secrets[current] protects new tickets; the others (len bytes each,
 * 16 to 64; at most 16) still open theirs.  Listeners with client certificates never issue or accept
 * tickets: a resumed session would skip the certificate check.  Without this call no tickets are sent.
 * Call before rsp_http_server_start (the secrets are copied).  0, or -1 (bad arguments, out of memory, or
 * the server started).
 */
int rsp_http_server_set_ticket_secrets(rsp_http_server_t *srv, const uint8_t *const *secrets, size_t n,
                                       size_t len, size_t current, unsigned rotate_s);

/* What /readyz answers: non-zero = 200.  Starts at 0.  Any thread. */
void rsp_http_server_set_ready(rsp_http_server_t *srv, int ready);

/* A further condition of /readyz, asked on each check from a worker (must be quick and never block, e.g.
 * an atomic flag such as rsp_pg_ready): not ready while fn(ctx) returns 0.  Set before start; NULL
 * removes it. */
void rsp_http_server_set_ready_check(rsp_http_server_t *srv, int (*fn)(void *ctx), void *ctx);

/* Requests a graceful stop (see above).  Any thread, idempotent, returns at once. */
void rsp_http_server_stop(rsp_http_server_t *srv);

/* Waits for the workers after a stop.  Returns the number of connections that were still open at the
 * drain bound and got cut (0 = clean), or -1 if the server was not started. */
int rsp_http_server_wait(rsp_http_server_t *srv);

/* Waits for SIGTERM or SIGINT, calling reload(ctx) on each SIGHUP (reload may be NULL; its result is
 * logged), then stops and waits.  Call after start, from the thread that called start.  Returns what
 * rsp_http_server_wait() returned. */
int rsp_http_server_run(rsp_http_server_t *srv, int (*reload)(void *ctx), void *ctx);

/* Re-reads certificate, key and client CA files of every TLS listener and switches workers to the new
 * contexts (new connections only).  On error nothing changes.  Call from the controlling thread while
 * running, e.g. from the reload callback. */
int rsp_http_server_reload_tls(rsp_http_server_t *srv, char *err, size_t errlen);

/* Process-wide counters of the HTTP/2 rapid-reset guard (see "Rapid reset" above). */
typedef struct rsp_http_stats {
    uint64_t h2_resets;              /* streams reset (or abandoned) before their answer */
    uint64_t h2_resets_before_start; /* ... of which before their handler ran: no work done */
    uint64_t h2_connections_cut;     /* connections over the reset limit: GOAWAY and closed */
    uint64_t h2_too_large;           /* requests over the hard cap, reset with ENHANCE_YOUR_CALM */
} rsp_http_stats;

void rsp_http_stats_get(rsp_http_stats *out);
/* Writes them as rsp_http2_* Prometheus counters. */
void rsp_http_stats_write(FILE *f);

/* Frees the server.  Call after rsp_http_server_wait() (or without start).  If a worker could not
 * drain, its h2o loop and connections are left to process exit (h2o 2.2.5 cannot close them). */
void rsp_http_server_free(rsp_http_server_t *srv);

/* --- for handlers (worker thread) --- */

/* Identity that the listener's peer_check returned for this request's connection, or NULL. */
const void *rsp_http_peer(h2o_req_t *req);

/* Longest text rsp_http_client_addr() writes, NUL included. */
#define RSP_HTTP_ADDR_MAX 46

/* Writes the client's numeric IP address (from the PROXY v2 header on proxy_protocol listeners, else the
 * socket peer) into buf and returns buf; NULL if unknown or buf is too small (RSP_HTTP_ADDR_MAX fits). */
const char *rsp_http_client_addr(h2o_req_t *req, char *buf, size_t len);

/* Index of the listener that accepted the request. */
int rsp_http_req_listener(h2o_req_t *req);

/* Adds a response header (copied into req->pool); call before sending. */
void rsp_http_add_header(h2o_req_t *req, const char *name, const char *value);

/* Sends a complete response; body is copied.  content_type may be NULL. */
void rsp_http_send(h2o_req_t *req, int status, const char *content_type, const void *body, size_t len,
                   unsigned flags);

/* Sends JSON with Content-Type application/json;charset=UTF-8 (plus X-Admin-Protocol with RSP_HTTP_ES). */
void rsp_http_send_json(h2o_req_t *req, int status, const char *json, size_t len, unsigned flags);

/* Sends a response without body (e.g. 204 for ES notifications, with RSP_HTTP_ES). */
void rsp_http_send_empty(h2o_req_t *req, int status, unsigned flags);

/* Sends a transport-level error (4xx/5xx) with a short text/plain reason and no internal detail. */
void rsp_http_send_error(h2o_req_t *req, int status);

/* Answers 200 with Prometheus text (malloc'd, freed here); NULL text answers 500. */
void rsp_http_send_metrics(h2o_req_t *req, char *text, size_t len);

/* Takes over the response of req for later completion from any thread (see above).  Worker thread,
 * inside a handler or a resume function.  NULL on allocation failure (then send an error instead). */
rsp_http_deferred_t *rsp_http_defer(h2o_req_t *req);

/* Any thread, exactly once per deferral: runs fn(req or NULL, arg) on the owning worker. */
void rsp_http_resume(rsp_http_deferred_t *d, rsp_http_handler_fn fn, void *arg);

/* Ready-made peer_check: identity = malloc'd NUL-terminated UTF-8 subject commonName of the leaf
 * (free with free()).  Refuses certificates without exactly one usable CN. */
int rsp_http_peer_cn_check(void *ctx, X509 *leaf, STACK_OF(X509) * chain, void **identity_out);

#endif
