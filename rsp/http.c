/*
 * rsp/http.c - see http.h.  Threading: everything under `struct worker` is touched only by that
 * worker's thread, except the h2o message receivers (h2o locks them) and `accepting_msgs` (msg_lock).
 */
#include "rsp/http.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <h2o/http1.h>
#include <h2o/http2.h>
#include <h2o/http2_internal.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "rsp/err.h"
#include "rsp/limits.h"
#include "rsp/log.h"
#include "rsp/metrics.h"
#include "rsp/proxy.h"
#include "rsp/tls_alert.h"
#include "rsp/tls_ticket.h"

#define DEFAULT_BODY_LIMIT (64 * 1024)
#define DEFAULT_DRAIN_MS 10000
#define STOP_IDLE_TIMEOUT_MS 1000
/* SGP.22 2.6.6 [R]: TLS 1.2 with ECDHE-ECDSA and AES-128 GCM or CBC-SHA256 (mandatory), AES-256 GCM or
 * CBC-SHA384 (optional); then ECDHE AEAD suites for RSA certificates on server-to-server listeners. */
#define DEFAULT_CIPHERS                                                                                      \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                 \
    "ECDHE-ECDSA-AES256-SHA384:ECDHE+AESGCM:ECDHE+CHACHA20"
#define DEFAULT_CIPHERSUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
/* The SGP.22 curves (P-256, brainpoolP256r1) first; X25519 and P-384 for other clients. */
#define DEFAULT_GROUPS "P-256:brainpoolP256r1:X25519:P-384"
#define ACCEPT_BURST 32
#define DEFAULT_RESET_LIMIT 100
#define RESET_WINDOW_MS 10000
#define RESET_SLOTS 1024 /* per worker, direct-mapped by connection id */
#define DEFAULT_PROXY_TIMEOUT_MS 5000
#define DEFAULT_CONN_TIMEOUT_MS 10000 /* handshake and idle: h2o's own defaults */
#define DEFAULT_MAX_STREAMS 100       /* h2o 2.2.5 announces 100 concurrent streams */
#define SWEEP_MS 1000                 /* resolution of the handshake and idle timeouts */
#define OVERFLOW_MAX 16     /* connections over a total cap served one refusal (or /healthz) at once */
#define OVERFLOW_PER_SEC 16 /* ... admitted per worker and second, so a flood costs few handshakes */
#define OVERFLOW_MS 2000    /* ... each closed after this long */
#define RETRY_AFTER "5"     /* seconds, on 503 answers for limits */
#define REFUSE_BURST 256    /* closes at a total cap per worker and sweep before accepting pauses */

struct route {
    char *method;
    char *path;
    size_t path_len;
    rsp_http_handler_fn fn;
    void *ctx;
};

struct listener {
    rsp_http_server_t *srv;
    int index;
    char *name;
    char *address;
    uint16_t port; /* configured, then bound */
    int plain;
    char *cert_file, *key_file, *ciphers;
    char *ciphersuites, *groups; /* TLS 1.3 suites, key exchange groups; NULL = defaults */
    int min_version;             /* TLS1_2_VERSION or TLS1_3_VERSION */
    rsp_http_client_auth_t client_auth;
    char **ca_files;
    size_t n_ca_files;
    rsp_http_peer_check_fn peer_check;
    void (*peer_free)(void *);
    void *peer_ctx;
    size_t body_limit;
    int proxy_protocol;
    unsigned max_conns, max_per_client, max_handshakes, max_streams; /* 0 = no limit (streams: 100) */
    uint64_t handshake_timeout_ms, idle_timeout_ms;
    atomic_uint conns, handshakes; /* open connections (overflow ones apart), handshakes in progress */
    atomic_ulong proxy_refused;    /* connections closed for a missing or bad PROXY v2 header */
    SSL_CTX *ssl_ctx;              /* the listener's reference; workers hold their own */
    int *fds;                      /* one listening socket per worker until the worker takes it */
    h2o_hostconf_t *hosts[2];
    struct route *routes;
    size_t nroutes;
};

struct dispatch_handler {
    h2o_handler_t super;
    struct listener *l;
};

/* Socket -> identity table of one worker; entries also hang off the SSL's ex_data. */
struct peer_entry {
    struct peer_entry *next;
    struct peer_table *table;
    h2o_socket_t *sock;
    void *identity;
    void (*free_fn)(void *);
};

struct peer_table {
    struct peer_entry **buckets;
    size_t nbuckets; /* power of two, or 0 */
    size_t count;
};

struct worker;

struct listen_slot {
    struct worker *w;
    h2o_accept_ctx_t accept;
    h2o_socket_t *sock;
    int paused; /* accept() failed for want of descriptors: read interest off until one frees up */
};

/* One accepted connection (the socket's on_close data) until its socket and its requests are gone. */
struct conn {
    h2o_linklist_t link; /* worker's list, while the socket is open */
    struct worker *w;
    struct listener *l;
    h2o_socket_t *sock; /* NULL once closed */
    h2o_conn_t *hconn;  /* set by the first request */
    uint64_t accepted_at, last_active;
    unsigned inflight; /* requests not yet disposed of */
    unsigned refs;     /* socket + inflight */
    unsigned handshaking : 1, counted : 1, has_client : 1, overflow : 1, closing : 1, is_h2 : 1;
    rsp_client_key_t client;
};

/* A connection on a proxy_protocol listener until its PROXY v2 header has arrived (sock->data). */
struct proxy_wait {
    h2o_timeout_entry_t timeout;
    struct listen_slot *slot;
    h2o_socket_t *sock;
};

struct ctl_msg {
    h2o_multithread_message_t super;
    enum { CTL_STOP, CTL_SWAP_TLS } kind;
    SSL_CTX **ctxs; /* CTL_SWAP_TLS: one new reference per listener (NULL for plain ones) */
};

struct retired_ctx {
    struct retired_ctx *next;
    SSL_CTX *ctx;
    uint64_t at;
};

struct worker {
    rsp_http_server_t *srv;
    unsigned index;
    pthread_t thread;
    int thread_started;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    struct listen_slot *slots;
    h2o_multithread_receiver_t ctl_receiver;
    h2o_multithread_receiver_t defer_receiver;
    struct ctl_msg stop_msg;
    h2o_timeout_t proxy_timeout;
    int accepting_msgs; /* msg_lock */
    struct peer_table peers;
    struct retired_ctx *retired; /* TLS contexts replaced by a reload */
    size_t nconns;
    h2o_linklist_t conns; /* struct conn */
    h2o_timeout_t sweep;  /* SWEEP_MS: timeouts, accept retry, gauges */
    h2o_timeout_entry_t sweep_entry;
    unsigned npaused;        /* listen slots paused at the descriptor limit */
    unsigned overflow_admit; /* overflow connections admitted in this sweep period */
    unsigned refused_now;    /* connections closed at a total cap in this sweep period */
    size_t peak_conns;       /* most connections open since malloc_trim last ran */
    size_t pending_deferred;
    rsp_http_deferred_t *cur_deferred;
    int stopping;
    uint64_t deadline;
    int abandoned; /* connections cut at the drain bound */
    struct reset_slot {
        uint64_t conn_id;
        uint64_t window_start;
        uint32_t resets;
        int cut; /* GOAWAY sent: parked requests of the connection are not run */
    } resets[RESET_SLOTS];
};

struct rsp_http_server {
    rsp_http_server_config_t cfg;
    rsp_tls_tickets *tickets;     /* session-ticket keys; NULL = no tickets */
    rsp_metrics *_Atomic metrics; /* TLS refusal and connection-limit counters; NULL = none */
    rsp_client_table_t *clients;  /* connections per client address, all listeners */
    uint64_t fd_budget;           /* connections the descriptor limit leaves room for (set at start) */
    atomic_uint total_conns;      /* open connections on every listener (overflow ones apart) */
    atomic_uint overflow;         /* overflow connections open */
    h2o_globalconf_t globalconf;
    struct listener **listeners;
    size_t nlisteners;
    struct worker *workers;
    unsigned nworkers;
    atomic_int ready;
    int (*ready_check)(void *ctx); /* also required for /readyz (a dependency such as the database) */
    void *ready_ctx;
    atomic_int stop_requested;
    pthread_mutex_t msg_lock;
    pthread_mutex_t init_lock;
    pthread_cond_t init_cond;
    unsigned ninit;
    int started;
    int joined;
    int cut;
};

struct rsp_http_deferred {
    h2o_multithread_message_t super;
    struct worker *w;
    h2o_req_t *req; /* NULL once h2o disposed of the request */
    rsp_http_handler_fn fn;
    void *arg;
    int refs;    /* request-pool guard + pending resume; worker thread only */
    int resumed; /* the resume function ran (or is running) */
};

struct defer_guard {
    rsp_http_deferred_t *d;
};

static _Thread_local struct worker *current_worker;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static int ssl_peer_index = -1;
static int ctx_listener_index = -1;
static int resumed_index = -1; /* SSL ex_data: the resumption was counted */

/* Workers that could not drain keep their h2o state until exit; listed here so it stays reachable. */
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;
static struct abandoned {
    struct abandoned *next;
    struct worker *w;
} * abandoned_list;

/*
 * LeakSanitizer hook (unused without sanitizers).  h2o 2.2.5 keeps free lists of buffers and pool
 * chunks in thread-local (partly file-static) recyclers that nothing can drain, so every worker thread
 * that exits "leaks" a few of them.  Only allocations made through that recycler are ignored.  The hook
 * takes effect where this file is linked into the executable (binaries, and tests with linkstatic).
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}

static const h2o_iovec_t alpn_protocols[] = {{H2O_STRLIT("h2")}, {H2O_STRLIT("http/1.1")}, {NULL, 0}};

static void set_ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
    char buf[256];
    unsigned long e = ERR_peek_last_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    rsp_err_set(err, errlen, "%s %s: %s", what, file ? file : "", e ? buf : "failed");
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---------------------------------------------------------------- peer table */

static size_t peer_hash(const h2o_socket_t *sock, size_t nbuckets)
{
    uint64_t v = (uint64_t)(uintptr_t)sock;
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    v ^= v >> 33;
    return (size_t)v & (nbuckets - 1);
}

static int peer_table_grow(struct peer_table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    struct peer_entry **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct peer_entry *e = t->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            size_t h = peer_hash(e->sock, n);
            e->next = b[h];
            b[h] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

static int peer_table_insert(struct peer_table *t, struct peer_entry *e)
{
    if (t->count >= t->nbuckets && peer_table_grow(t) != 0 && t->nbuckets == 0)
        return -1;
    size_t h = peer_hash(e->sock, t->nbuckets);
    e->next = t->buckets[h];
    t->buckets[h] = e;
    e->table = t;
    t->count++;
    return 0;
}

static struct peer_entry *peer_table_find(const struct peer_table *t, const h2o_socket_t *sock)
{
    if (t->nbuckets == 0)
        return NULL;
    for (struct peer_entry *e = t->buckets[peer_hash(sock, t->nbuckets)]; e != NULL; e = e->next)
        if (e->sock == sock)
            return e;
    return NULL;
}

static void peer_table_remove(struct peer_table *t, struct peer_entry *e)
{
    if (t == NULL || t->nbuckets == 0)
        return;
    for (struct peer_entry **p = &t->buckets[peer_hash(e->sock, t->nbuckets)]; *p != NULL; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            t->count--;
            return;
        }
    }
}

static void peer_entry_free(struct peer_entry *e)
{
    peer_table_remove(e->table, e);
    if (e->identity != NULL && e->free_fn != NULL)
        e->free_fn(e->identity);
    free(e);
}

/* h2o frees the SSL before the socket, so the entry is gone before the socket address can be reused. */
static void peer_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (ptr != NULL)
        peer_entry_free(ptr);
}

static void ex_init(void)
{
    ssl_peer_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, peer_ex_free);
    ctx_listener_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    resumed_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* "addr:port" of the TLS connection's peer, from the h2o socket behind the SSL's read BIO. */
static void ssl_peer_address(const SSL *ssl, char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    BIO *rbio = SSL_get_rbio(ssl);
    h2o_socket_t *sock = rbio != NULL ? BIO_get_data(rbio) : NULL;
    struct sockaddr_storage ss;
    socklen_t len = sock != NULL ? h2o_socket_getpeername(sock, (struct sockaddr *)&ss) : 0;
    char host[NI_MAXHOST];
    if (len == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, len, host) == SIZE_MAX)
        return;
    int port = h2o_socket_getport((struct sockaddr *)&ss);
    snprintf(buf, cap, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

/*
 * A refused handshake or client certificate: one warning line with the listener, the peer address and the
 * reason, and rsp_tls_refusals_total{listener,reason}.  `reason` is a short fixed text (an alert name or
 * "peer_check"); `detail` may add the certificate verification error or the subject.
 */
static void tls_refused(const SSL *ssl, const struct listener *l, const char *reason, const char *detail)
{
    char peer[NI_MAXHOST + 16], label[160], r[64];
    size_t n = 0;
    for (const char *p = reason; *p && n + 1 < sizeof(r); p++)
        r[n++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : (*p == ' ' || *p == '-') ? '_' : *p;
    r[n] = '\0';
    ssl_peer_address(ssl, peer, sizeof(peer));
    rsp_log(RSP_LOG_WARN, "TLS refused: listener %s, peer %s, reason %s%s%s", l->name, peer, r,
            detail ? ": " : "", detail ? detail : "");
    rsp_metrics *m = atomic_load(&l->srv->metrics);
    if (m != NULL) {
        snprintf(label, sizeof(label), "listener=\"%s\",reason=\"%s\"", l->name, r);
        rsp_metrics_inc(m, RSP_HTTP_METRIC_TLS_REFUSALS, label);
    }
}

/* Fatal alerts, in either direction, end a handshake: the server refusing the client, or the client
 * refusing the server's certificate. */
static void on_ssl_alert(const SSL *ssl, struct listener *l, int where, int ret)
{
    if ((ret >> 8) != SSL3_AL_FATAL)
        return;
    char detail[300];
    const char *d = NULL;
    long vr = SSL_get_verify_result(ssl);
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if ((where & SSL_CB_WRITE) && vr != X509_V_OK) {
        char subject[200] = "";
        if (peer != NULL)
            X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
        snprintf(detail, sizeof(detail), "client certificate%s%s: %s", subject[0] ? " " : "", subject,
                 X509_verify_cert_error_string(vr));
        d = detail;
    } else if (where & SSL_CB_READ) {
        d = "alert sent by the client (it refused this server's certificate or parameters)";
    } else {
        /* OpenSSL raised the cause (no shared cipher, no suitable key share, ...) before the alert. */
        unsigned long e = ERR_peek_last_error();
        d = ERR_reason_error_string(e);
        if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_NO_SUITABLE_KEY_SHARE)
            d = "no suitable key share: no key exchange group in common (OpenSSL 3.0 has no brainpool "
                "groups in TLS 1.3; see docs/pki.md)";
    }
    /* OpenSSL 3 has no name for TLS 1.3's certificate_required (116), sent when no certificate came. */
    const char *name = (ret & 0xff) == 116 ? "certificate required" : SSL_alert_desc_string_long(ret);
    tls_refused(ssl, l, name, d);
}

/* Keeps the refused client's alert from being dropped with h2o's output buffer (see rsp/tls_alert.h). */
static void alert_delivery(const SSL *ssl, int where, int ret)
{
    SSL *s = (SSL *)ssl;
    if (where & SSL_CB_HANDSHAKE_START) {
        BIO *rbio = SSL_get_rbio(ssl);
        h2o_socket_t *sock = rbio != NULL ? BIO_get_data(rbio) : NULL;
        if (sock != NULL)
            rsp_tls_alert_attach(s, h2o_socket_get_fd(sock));
    }
    if ((where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT && (ret >> 8) == SSL3_AL_FATAL && SSL_in_init(ssl))
        rsp_tls_alert_fatal(s);
    if ((where & SSL_CB_ACCEPT_EXIT) == SSL_CB_ACCEPT_EXIT)
        rsp_tls_alert_exit(s);
    if (where & SSL_CB_HANDSHAKE_DONE)
        rsp_tls_alert_done(s);
}

/* Once per connection: OpenSSL reports a TLS 1.3 handshake done again after each ticket it sends. */
static void count_resumed(const SSL *ssl, const struct listener *l)
{
    if (SSL_get_ex_data(ssl, resumed_index) != NULL ||
        SSL_set_ex_data((SSL *)ssl, resumed_index, (void *)1) != 1)
        return;
    rsp_metrics *m = atomic_load(&l->srv->metrics);
    if (m != NULL) {
        char label[96];
        snprintf(label, sizeof(label), "listener=\"%s\"", l->name);
        rsp_metrics_inc(m, RSP_HTTP_METRIC_TLS_RESUMED, label);
    }
}
static void conn_handshake_done(const SSL *ssl);

static void on_ssl_info(const SSL *ssl, int where, int ret)
{
    struct listener *l = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_listener_index);
    if (where & SSL_CB_HANDSHAKE_DONE)
        conn_handshake_done(ssl);
    if (l != NULL && (where & SSL_CB_ALERT) && SSL_in_init(ssl))
        on_ssl_alert(ssl, l, where, ret);
    alert_delivery(ssl, where, ret);
    if (l != NULL && (where & SSL_CB_HANDSHAKE_DONE) && SSL_session_reused((SSL *)ssl))
        count_resumed(ssl, l);
    if ((where & SSL_CB_HANDSHAKE_DONE) == 0 || SSL_get_ex_data(ssl, ssl_peer_index) != NULL)
        return;
    struct worker *w = current_worker;
    if (w == NULL || l == NULL || l->peer_check == NULL)
        return;
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    if (leaf == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return;
    BIO *rbio = SSL_get_rbio(ssl);
    h2o_socket_t *sock = rbio != NULL ? BIO_get_data(rbio) : NULL;
    if (sock == NULL)
        return;
    struct peer_entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    e->sock = sock;
    e->free_fn = l->peer_free;
    void *identity = NULL;
    if (l->peer_check(l->peer_ctx, leaf, SSL_get0_verified_chain(ssl), &identity) == 0) {
        e->identity = identity;
    } else {
        if (identity != NULL && l->peer_free != NULL)
            l->peer_free(identity);
        char subject[200];
        X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof(subject));
        tls_refused(ssl, l, "peer check", subject);
    }
    /* The ex_data marks the connection as checked even when refused, so the check runs once. */
    if (SSL_set_ex_data((SSL *)ssl, ssl_peer_index, e) != 1) {
        peer_entry_free(e);
        return;
    }
    if (peer_table_insert(&w->peers, e) != 0) {
        if (e->identity != NULL && e->free_fn != NULL)
            e->free_fn(e->identity);
        e->identity = NULL;
    }
}

static struct worker *worker_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(struct worker, ctx, req->conn->ctx);
}

const void *rsp_http_peer(h2o_req_t *req)
{
    if (req == NULL || req->conn->callbacks->get_socket == NULL)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL)
        return NULL;
    struct peer_entry *e = peer_table_find(&worker_of(req)->peers, sock);
    return e != NULL ? e->identity : NULL;
}

int rsp_http_peer_cn_check(void *ctx, X509 *leaf, STACK_OF(X509) * chain, void **identity_out)
{
    (void)ctx, (void)chain;
    X509_NAME *subj = X509_get_subject_name(leaf);
    int pos = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (pos < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName, pos) >= 0)
        return -1;
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, pos)));
    if (n <= 0)
        return -1;
    char *cn = NULL;
    if (memchr(utf8, 0, (size_t)n) == NULL && (cn = malloc((size_t)n + 1)) != NULL) {
        memcpy(cn, utf8, (size_t)n);
        cn[n] = '\0';
    }
    OPENSSL_free(utf8);
    if (cn == NULL)
        return -1;
    *identity_out = cn;
    return 0;
}

/* ---------------------------------------------------------------- TLS */

static int on_ticket_key(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
    struct listener *l = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_listener_index);
    if (l == NULL || l->srv->tickets == NULL)
        return 0;
    return rsp_tls_tickets_cb(l->srv->tickets, (long)time(NULL), key_name, iv, cctx, hctx, enc);
}

/* Listeners without client certificates: one ticket per handshake, keys shared by the cluster, or none
 * when there are no shared keys (per-process keys would not resume behind a load balancer). */
static void ticket_settings(struct listener *l, SSL_CTX *ctx)
{
    if (l->srv->tickets == NULL) {
        SSL_CTX_set_num_tickets(ctx, 0);
        return;
    }
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_timeout(ctx, rsp_tls_tickets_lifetime(l->srv->tickets));
    /* Stateless tickets only: no per-process session cache to grow or to miss on another node. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
}

static SSL_CTX *build_ssl_ctx(struct listener *l, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        set_ssl_err(err, errlen, "SSL_CTX_new", l->name);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, l->min_version);
    SSL_CTX_set_options(ctx,
                        SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, l->ciphers ? l->ciphers : DEFAULT_CIPHERS) != 1) {
        set_ssl_err(err, errlen, "cipher list", l->ciphers);
        goto fail;
    }
    if (SSL_CTX_set_ciphersuites(ctx, l->ciphersuites ? l->ciphersuites : DEFAULT_CIPHERSUITES) != 1) {
        set_ssl_err(err, errlen, "TLS 1.3 cipher suites", l->ciphersuites);
        goto fail;
    }
    if (SSL_CTX_set1_groups_list(ctx, l->groups ? l->groups : DEFAULT_GROUPS) != 1) {
        set_ssl_err(err, errlen, "TLS groups", l->groups);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, l->cert_file) != 1) {
        set_ssl_err(err, errlen, "certificate", l->cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, l->key_file, SSL_FILETYPE_PEM) != 1) {
        set_ssl_err(err, errlen, "private key", l->key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_ssl_err(err, errlen, "key does not match certificate", l->cert_file);
        goto fail;
    }
    /* Without a session id context any resumption attempt kills the handshake. */
    unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
    int sidlen = snprintf((char *)sid, sizeof(sid), "rsp-%d-%s", l->index, l->name);
    if (sidlen < 0 || (size_t)sidlen >= sizeof(sid))
        sidlen = (int)sizeof(sid) - 1;
    SSL_CTX_set_session_id_context(ctx, sid, (unsigned)sidlen);
    h2o_ssl_register_alpn_protocols(ctx, alpn_protocols);
    SSL_CTX_set_ex_data(ctx, ctx_listener_index, l);

    if (l->client_auth != RSP_HTTP_CLIENT_CERT_NONE) {
        X509_STORE *store = X509_STORE_new();
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        int ok = store != NULL && names != NULL;
        for (size_t i = 0; ok && i < l->n_ca_files; i++) {
            if (X509_STORE_load_file(store, l->ca_files[i]) != 1 ||
                SSL_add_file_cert_subjects_to_stack(names, l->ca_files[i]) != 1) {
                set_ssl_err(err, errlen, "client CA file", l->ca_files[i]);
                ok = 0;
            }
        }
        if (ok && SSL_CTX_set1_verify_cert_store(ctx, store) != 1) {
            set_ssl_err(err, errlen, "client CA store", l->name);
            ok = 0;
        }
        X509_STORE_free(store);
        if (!ok) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(
            ctx,
            SSL_VERIFY_PEER |
                (l->client_auth == RSP_HTTP_CLIENT_CERT_REQUIRED ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
            NULL);
        SSL_CTX_set_verify_depth(ctx, 5);
        /* A resumed session would keep its old identity without a certificate check. */
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    } else {
        ticket_settings(l, ctx);
    }
    SSL_CTX_set_info_callback(ctx, on_ssl_info);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---------------------------------------------------------------- responses */

static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

void rsp_http_add_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    h2o_iovec_t n = h2o_strdup(&req->pool, name, nlen);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_strtolower(n.base, n.len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 1, NULL, v.base, v.len);
}

void rsp_http_send(h2o_req_t *req, int status, const char *content_type, const void *body, size_t len,
                   unsigned flags)
{
    static h2o_generator_t generator = {NULL, NULL};
    /* h2o drops keep-alive only for requests parsed after the stop; close the in-flight ones too. */
    if (worker_of(req)->stopping)
        req->http1_is_persistent = 0;
    req->res.status = status;
    req->res.reason = status_reason(status);
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    if (flags & RSP_HTTP_ES)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-admin-protocol"), 0, NULL,
                              H2O_STRLIT(RSP_HTTP_ADMIN_PROTOCOL));
    /* RFC 9110: no Content-Length on 1xx/204. */
    int bodyless = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (!bodyless)
        req->res.content_length = len;
    h2o_start_response(req, &generator);
    if (bodyless || len == 0 ||
        h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"))) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    } else {
        h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
    }
}

void rsp_http_send_json(h2o_req_t *req, int status, const char *json, size_t len, unsigned flags)
{
    rsp_http_send(req, status, RSP_HTTP_JSON_TYPE, json, len, flags);
}

void rsp_http_send_empty(h2o_req_t *req, int status, unsigned flags)
{
    rsp_http_send(req, status, NULL, NULL, 0, flags);
}

void rsp_http_send_error(h2o_req_t *req, int status)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "%s\n", status_reason(status));
    rsp_http_send(req, status, "text/plain; charset=utf-8", body, (size_t)n, 0);
}

void rsp_http_send_metrics(h2o_req_t *req, char *text, size_t len)
{
    if (!text) {
        rsp_http_send_error(req, 500);
        return;
    }
    rsp_http_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, 0);
    free(text);
}

/* ---------------------------------------------------------------- deferred completion */

static void deferred_release(rsp_http_deferred_t *d)
{
    if (--d->refs == 0)
        free(d);
}

static void count_reset(struct worker *w, h2o_req_t *req);

static void on_defer_guard_dispose(void *p)
{
    struct defer_guard *g = p;
    if (!g->d->resumed)
        count_reset(g->d->w, g->d->req);
    g->d->req = NULL;
    deferred_release(g->d);
}

rsp_http_deferred_t *rsp_http_defer(h2o_req_t *req)
{
    struct worker *w = worker_of(req);
    rsp_http_deferred_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    struct defer_guard *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), on_defer_guard_dispose);
    g->d = d;
    d->w = w;
    d->req = req;
    d->refs = 2;
    w->pending_deferred++;
    w->cur_deferred = d;
    return d;
}

void rsp_http_resume(rsp_http_deferred_t *d, rsp_http_handler_fn fn, void *arg)
{
    d->fn = fn;
    d->arg = arg;
    h2o_multithread_send_message(&d->w->defer_receiver, &d->super);
}

/* Runs fn for req; a non-zero result without a response (and without a new deferral) becomes a 500. */
static void run_handler(struct worker *w, rsp_http_handler_fn fn, h2o_req_t *req, void *ctx)
{
    w->cur_deferred = NULL;
    int rc = fn(req, ctx);
    if (rc != 0 && w->cur_deferred == NULL && req->res.status == 0)
        rsp_http_send_error(req, 500);
    w->cur_deferred = NULL;
}

static void on_defer_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct worker *w = H2O_STRUCT_FROM_MEMBER(struct worker, defer_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        rsp_http_deferred_t *d = (rsp_http_deferred_t *)m;
        w->pending_deferred--;
        d->resumed = 1;
        if (d->req != NULL) {
            run_handler(w, d->fn, d->req, d->arg);
        } else {
            d->fn(NULL, d->arg);
        }
        deferred_release(d);
    }
}

/* ---------------------------------------------------------------- HTTP/2 rapid reset
 *
 * h2o 2.2.5 runs a request's handler as soon as its last frame is parsed, even when a RST_STREAM for
 * the same stream follows in the same read, and it has no reset limit (CVE-2023-44487).  So a routed
 * HTTP/2 request is parked for one loop turn: the loop runs its zero timeout only after every readable
 * socket was parsed, by when a reset in the same read has disposed of the request (its pool's dispose
 * callback unlinks the entry) and the handler never runs.  Requests disposed of before their answer
 * (parked or deferred) count as resets of their connection; past the limit within RESET_WINDOW_MS the
 * connection gets GOAWAY (ENHANCE_YOUR_CALM), takes no new stream, runs none of its parked requests and
 * is closed (its read side shut down, so h2o closes it once the GOAWAY is written).  h2o's connection
 * structure is reached through its installed h2o/http2_internal.h; the graceful shutdown of h2o does the
 * same (GOAWAY, HALF_CLOSED, then close when the streams are done).
 */

static atomic_uint_fast64_t stat_resets, stat_cut, stat_parked, stat_too_large;

struct parked {
    h2o_timeout_entry_t te; /* on the worker's zero timeout while parked */
    struct worker *w;
    h2o_req_t *req;
    struct route *route;
    int ran;
};

static struct reset_slot *reset_slot_of(struct worker *w, h2o_conn_t *conn, int create)
{
    struct reset_slot *s = &w->resets[conn->id % RESET_SLOTS];
    if (s->conn_id != conn->id) {
        if (!create)
            return NULL;
        memset(s, 0, sizeof(*s));
        s->conn_id = conn->id;
    }
    return s;
}

static int is_http2(const h2o_req_t *req)
{
    return req->version >= 0x200;
}

static void cut_connection(struct worker *w, h2o_req_t *req, struct reset_slot *s)
{
    h2o_http2_conn_t *conn = (h2o_http2_conn_t *)req->conn;
    s->cut = 1;
    h2o_http2_encode_goaway_frame(&conn->_write.buf, conn->pull_stream_ids.max_open,
                                  H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM,
                                  h2o_iovec_init(H2O_STRLIT("stream resets")));
    conn->state = H2O_HTTP2_CONN_STATE_HALF_CLOSED;
    h2o_http2_conn_request_write(conn);
    int fd = h2o_socket_get_fd(conn->sock);
    if (fd >= 0)
        shutdown(fd, SHUT_RD);
    atomic_fetch_add(&stat_cut, 1);
    (void)w;
}

/* A request of req's connection went away before its answer. */
static void count_reset(struct worker *w, h2o_req_t *req)
{
    if (req == NULL || !is_http2(req) || ((h2o_http2_conn_t *)req->conn)->state != H2O_HTTP2_CONN_STATE_OPEN)
        return; /* the connection is closing: not the client's resets */
    atomic_fetch_add(&stat_resets, 1);
    struct reset_slot *s = reset_slot_of(w, req->conn, 1);
    uint64_t now = h2o_now(w->loop);
    if (now - s->window_start > RESET_WINDOW_MS) {
        s->window_start = now;
        s->resets = 0;
    }
    if (++s->resets > w->srv->cfg.h2_reset_limit && !s->cut)
        cut_connection(w, req, s);
}

static void run_handler(struct worker *w, rsp_http_handler_fn fn, h2o_req_t *req, void *ctx);

static void on_parked_dispose(void *p)
{
    struct parked *k = p;
    if (k->ran)
        return;
    if (h2o_timeout_is_linked(&k->te))
        h2o_timeout_unlink(&k->te);
    atomic_fetch_add(&stat_parked, 1);
    count_reset(k->w, k->req);
}

static void on_parked_run(h2o_timeout_entry_t *te)
{
    struct parked *k = H2O_STRUCT_FROM_MEMBER(struct parked, te, te);
    k->ran = 1;
    struct reset_slot *s = reset_slot_of(k->w, k->req->conn, 0);
    if (s != NULL && s->cut) {
        rsp_http_send_error(k->req, 503);
        return;
    }
    run_handler(k->w, k->route->fn, k->req, k->route->ctx);
}

/* Runs the route's handler now (HTTP/1.1) or after one loop turn (HTTP/2, see above). */
static void dispatch(struct worker *w, struct route *r, h2o_req_t *req)
{
    if (!is_http2(req)) {
        run_handler(w, r->fn, req, r->ctx);
        return;
    }
    struct parked *k = h2o_mem_alloc_shared(&req->pool, sizeof(*k), on_parked_dispose);
    memset(k, 0, sizeof(*k));
    k->w = w;
    k->req = req;
    k->route = r;
    k->te.cb = on_parked_run;
    h2o_timeout_link(w->loop, &w->ctx.zero_timeout, &k->te);
}

void rsp_http_stats_get(rsp_http_stats *out)
{
    out->h2_resets = atomic_load(&stat_resets);
    out->h2_resets_before_start = atomic_load(&stat_parked);
    out->h2_connections_cut = atomic_load(&stat_cut);
    out->h2_too_large = atomic_load(&stat_too_large);
}

void rsp_http_stats_write(FILE *f)
{
    rsp_http_stats s;
    rsp_http_stats_get(&s);
    static const char *const names[4][2] = {
        {"rsp_http2_resets_total", "HTTP/2 streams reset or abandoned before their answer"},
        {"rsp_http2_resets_before_start_total", "... of which before their handler ran (no work done)"},
        {"rsp_http2_connections_cut_total",
         "HTTP/2 connections over server.h2_reset_limit: GOAWAY and closed"},
        {"rsp_http2_too_large_total",
         "HTTP/2 requests over the hard body or header cap, reset without retry"},
    };
    const uint64_t v[4] = {s.h2_resets, s.h2_resets_before_start, s.h2_connections_cut, s.h2_too_large};
    for (int i = 0; i < 4; i++)
        fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", names[i][0], names[i][1], names[i][0],
                names[i][0], (unsigned long long)v[i]);
}

/* ---------------------------------------------------------------- HTTP/2 bodies over the hard cap
 *
 * h2o 2.2.5 refuses an HTTP/2 request body over max_request_entity_size (and a header block over
 * H2O_MAX_REQLEN) with RST_STREAM REFUSED_STREAM, which tells the client the request was not processed
 * and may be retried as is (RFC 9113 8.7): clients do, so one oversized request becomes a loop.  It has
 * no hook there, but encodes the frame through this exported function, called through the PLT; the
 * definition here takes its place in binaries linking this file statically.  Its other REFUSED_STREAM
 * (more streams open than SETTINGS allowed) is left as it is: retrying that is right.  The code given
 * instead, ENHANCE_YOUR_CALM, invites no retry.  A test checks the code clients see.
 */

void h2o_http2__encode_rst_stream_frame(h2o_buffer_t **buf, uint32_t stream_id, int errnum)
{
    if (errnum == -H2O_HTTP2_ERROR_REFUSED_STREAM) {
        const h2o_http2_conn_t *conn = H2O_STRUCT_FROM_MEMBER(h2o_http2_conn_t, _write.buf, buf);
        if (conn->num_streams.pull.open <= H2O_HTTP2_SETTINGS_HOST.max_concurrent_streams) {
            errnum = -H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM;
            atomic_fetch_add(&stat_too_large, 1);
        }
    }
    h2o_iovec_t dst = h2o_buffer_reserve(buf, H2O_HTTP2_FRAME_HEADER_SIZE + 4);
    uint8_t *p = h2o_http2_encode_frame_header((uint8_t *)dst.base, 4, H2O_HTTP2_FRAME_TYPE_RST_STREAM, 0,
                                               (int32_t)stream_id);
    p[0] = (uint8_t)((uint32_t)errnum >> 24);
    p[1] = (uint8_t)((uint32_t)errnum >> 16);
    p[2] = (uint8_t)((uint32_t)errnum >> 8);
    p[3] = (uint8_t)errnum;
    (*buf)->size += H2O_HTTP2_FRAME_HEADER_SIZE + 4;
}

/* ---------------------------------------------------------------- dispatch */

static int method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static int path_is(h2o_req_t *req, const char *p, size_t len)
{
    return h2o_memis(req->path_normalized.base, req->path_normalized.len, p, len);
}

static void send_method_not_allowed(h2o_req_t *req, const char *allow)
{
    rsp_http_add_header(req, "allow", allow);
    rsp_http_send_error(req, 405);
}

static struct conn *conn_request_started(h2o_req_t *req);
static int conn_over_limit(struct conn *c, h2o_req_t *req);

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct listener *l = ((struct dispatch_handler *)self)->l;
    struct worker *w = worker_of(req);
    struct conn *c = conn_request_started(req);

    int health = path_is(req, H2O_STRLIT("/healthz")), readyz = path_is(req, H2O_STRLIT("/readyz"));
    if (c != NULL && !health && !readyz && conn_over_limit(c, req))
        return 0;
    if (health || readyz) {
        if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
            send_method_not_allowed(req, "GET, HEAD");
        } else if (health) {
            rsp_http_send(req, 200, "text/plain; charset=utf-8", "ok", 2, 0);
        } else if (atomic_load(&l->srv->ready) &&
                   (!l->srv->ready_check || l->srv->ready_check(l->srv->ready_ctx))) {
            rsp_http_send(req, 200, "text/plain; charset=utf-8", "ready", 5, 0);
        } else {
            rsp_http_send(req, 503, "text/plain; charset=utf-8", "not ready", 9, 0);
        }
        return 0;
    }

    struct route *match = NULL;
    char allow[128];
    size_t allow_len = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < l->nroutes; i++) {
        struct route *r = &l->routes[i];
        if (!path_is(req, r->path, r->path_len))
            continue;
        if (method_is(req, r->method)) {
            match = r;
            break;
        }
        int n =
            snprintf(allow + allow_len, sizeof(allow) - allow_len, "%s%s", allow_len ? ", " : "", r->method);
        if (n > 0 && (size_t)n < sizeof(allow) - allow_len)
            allow_len += (size_t)n;
    }
    if (match == NULL) {
        if (allow_len != 0)
            send_method_not_allowed(req, allow);
        else
            rsp_http_send_error(req, 404);
        return 0;
    }
    if (l->client_auth == RSP_HTTP_CLIENT_CERT_REQUIRED && rsp_http_peer(req) == NULL) {
        rsp_http_send_error(req, 403);
        return 0;
    }
    if (req->entity.base != NULL && req->entity.len > l->body_limit) {
        rsp_http_send_error(req, 413);
        return 0;
    }
    dispatch(w, match, req);
    return 0;
}

const char *rsp_http_client_addr(h2o_req_t *req, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    if (req == NULL || len == 0 || req->conn->callbacks->get_peername == NULL)
        return NULL;
    /* h2o answers the address set from the PROXY header when there was one. */
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    const void *addr = NULL;
    if (sl >= sizeof(struct sockaddr_in) && ss.ss_family == AF_INET)
        addr = &((struct sockaddr_in *)&ss)->sin_addr;
    else if (sl >= sizeof(struct sockaddr_in6) && ss.ss_family == AF_INET6)
        addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (addr == NULL || inet_ntop(ss.ss_family, addr, buf, (socklen_t)len) == NULL)
        return NULL;
    return buf;
}

int rsp_http_req_listener(h2o_req_t *req)
{
    h2o_handler_t *h =
        req->pathconf != NULL && req->pathconf->handlers.size ? req->pathconf->handlers.entries[0] : NULL;
    return h != NULL ? ((struct dispatch_handler *)h)->l->index : -1;
}

/* ---------------------------------------------------------------- server setup */

rsp_http_server_t *rsp_http_server_new(const rsp_http_server_config_t *cfg)
{
    pthread_once(&ex_once, ex_init);
    if (ssl_peer_index < 0 || ctx_listener_index < 0 || resumed_index < 0)
        return NULL;
    rsp_http_server_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    if ((srv->clients = rsp_client_table_new()) == NULL) {
        free(srv);
        return NULL;
    }
    atomic_init(&srv->total_conns, 0);
    atomic_init(&srv->overflow, 0);
    if (cfg != NULL)
        srv->cfg = *cfg;
    if (srv->cfg.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        srv->cfg.workers = n > 0 ? (unsigned)n : 1;
    }
    if (srv->cfg.body_limit == 0)
        srv->cfg.body_limit = DEFAULT_BODY_LIMIT;
    if (srv->cfg.drain_timeout_ms == 0)
        srv->cfg.drain_timeout_ms = DEFAULT_DRAIN_MS;
    if (srv->cfg.h2_reset_limit == 0)
        srv->cfg.h2_reset_limit = DEFAULT_RESET_LIMIT;
    if (srv->cfg.proxy_timeout_ms == 0)
        srv->cfg.proxy_timeout_ms = DEFAULT_PROXY_TIMEOUT_MS;
    srv->nworkers = srv->cfg.workers;
    atomic_init(&srv->ready, 0);
    atomic_init(&srv->metrics, NULL);
    atomic_init(&srv->stop_requested, 0);
    pthread_mutex_init(&srv->msg_lock, NULL);
    pthread_mutex_init(&srv->init_lock, NULL);
    pthread_cond_init(&srv->init_cond, NULL);
    h2o_config_init(&srv->globalconf);
    /* No Server header: nothing about the implementation leaks. */
    srv->globalconf.server_name = h2o_iovec_init(H2O_STRLIT(""));
    srv->globalconf.http2.graceful_shutdown_timeout = srv->cfg.drain_timeout_ms;
    return srv;
}

unsigned rsp_http_server_workers(const rsp_http_server_t *srv)
{
    return srv->nworkers;
}

static void listener_free(struct listener *l)
{
    if (l == NULL)
        return;
    free(l->name);
    free(l->address);
    free(l->cert_file);
    free(l->key_file);
    free(l->ciphers);
    free(l->ciphersuites);
    free(l->groups);
    for (size_t i = 0; i < l->n_ca_files; i++)
        free(l->ca_files[i]);
    free(l->ca_files);
    for (size_t i = 0; i < l->nroutes; i++) {
        free(l->routes[i].method);
        free(l->routes[i].path);
    }
    free(l->routes);
    if (l->fds != NULL) {
        for (unsigned i = 0; i < l->srv->nworkers; i++)
            if (l->fds[i] >= 0)
                close(l->fds[i]);
        free(l->fds);
    }
    if (l->ssl_ctx != NULL)
        SSL_CTX_free(l->ssl_ctx);
    free(l);
}

int rsp_http_listener_add(rsp_http_server_t *srv, const rsp_http_listener_config_t *cfg, char *err,
                          size_t errlen)
{
    if (srv->started) {
        rsp_err_set(err, errlen, "listeners must be added before start");
        return -1;
    }
    if (cfg == NULL || cfg->name == NULL || cfg->name[0] == '\0') {
        rsp_err_set(err, errlen, "listener needs a name");
        return -1;
    }
    if (rsp_http_listener_find(srv, cfg->name) >= 0) {
        rsp_err_set(err, errlen, "duplicate listener name %s", cfg->name);
        return -1;
    }
    if (!cfg->plain && (cfg->cert_file == NULL || cfg->key_file == NULL)) {
        rsp_err_set(err, errlen, "%s: TLS listener needs cert_file and key_file", cfg->name);
        return -1;
    }
    if (!cfg->plain && cfg->client_auth != RSP_HTTP_CLIENT_CERT_NONE && cfg->n_client_ca_files == 0) {
        rsp_err_set(err, errlen, "%s: client certificate checking needs client CA files", cfg->name);
        return -1;
    }
    struct listener *l = calloc(1, sizeof(*l));
    struct listener **nl = realloc(srv->listeners, (srv->nlisteners + 1) * sizeof(*nl));
    if (l == NULL || nl == NULL) {
        free(l);
        if (nl != NULL)
            srv->listeners = nl;
        rsp_err_set(err, errlen, "out of memory");
        return -1;
    }
    srv->listeners = nl;
    l->srv = srv;
    l->index = (int)srv->nlisteners;
    l->name = strdup(cfg->name);
    l->address = strdup(cfg->address ? cfg->address : "127.0.0.1");
    l->port = cfg->port;
    l->plain = cfg->plain != 0;
    l->cert_file = dup_or_null(cfg->cert_file);
    l->key_file = dup_or_null(cfg->key_file);
    l->ciphers = dup_or_null(cfg->ciphers);
    l->ciphersuites = dup_or_null(cfg->ciphersuites);
    l->groups = dup_or_null(cfg->groups);
    l->min_version = cfg->min_version == RSP_HTTP_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    l->client_auth = cfg->client_auth; /* kept on plain listeners: REQUIRED routes then answer 403 */
    l->body_limit = cfg->body_limit ? cfg->body_limit : srv->cfg.body_limit;
    l->proxy_protocol = cfg->proxy_protocol != 0;
    l->max_conns = cfg->max_connections;
    l->max_per_client = cfg->max_connections_per_client;
    l->max_handshakes = cfg->max_handshakes;
    l->max_streams = cfg->max_streams ? cfg->max_streams : DEFAULT_MAX_STREAMS;
    l->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : DEFAULT_CONN_TIMEOUT_MS;
    l->idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : DEFAULT_CONN_TIMEOUT_MS;
    atomic_init(&l->conns, 0);
    atomic_init(&l->handshakes, 0);
    atomic_init(&l->proxy_refused, 0);
    if (!l->plain && l->client_auth != RSP_HTTP_CLIENT_CERT_NONE) {
        l->peer_check = cfg->peer_check ? cfg->peer_check : rsp_http_peer_cn_check;
        l->peer_free = cfg->peer_check ? cfg->peer_free : free;
        l->peer_ctx = cfg->peer_ctx;
        l->ca_files = calloc(cfg->n_client_ca_files, sizeof(char *));
        if (l->ca_files != NULL) {
            l->n_ca_files = cfg->n_client_ca_files;
            for (size_t i = 0; i < l->n_ca_files; i++)
                l->ca_files[i] = strdup(cfg->client_ca_files[i]);
        }
    }
    int oom =
        l->name == NULL || l->address == NULL || (cfg->cert_file && !l->cert_file) ||
        (cfg->key_file && !l->key_file) || (cfg->ciphers && !l->ciphers) ||
        (cfg->ciphersuites && !l->ciphersuites) || (cfg->groups && !l->groups) ||
        (l->n_ca_files != cfg->n_client_ca_files && !l->plain && l->client_auth != RSP_HTTP_CLIENT_CERT_NONE);
    for (size_t i = 0; !oom && i < l->n_ca_files; i++)
        oom = l->ca_files[i] == NULL;
    if (oom) {
        rsp_err_set(err, errlen, "out of memory");
        listener_free(l);
        return -1;
    }
    if (!l->plain && (l->ssl_ctx = build_ssl_ctx(l, err, errlen)) == NULL) {
        listener_free(l);
        return -1;
    }
    char hostname[32];
    snprintf(hostname, sizeof(hostname), "listener-%d", l->index);
    l->hosts[0] =
        h2o_config_register_host(&srv->globalconf, h2o_iovec_init(hostname, strlen(hostname)), 65535);
    if (l->hosts[0] == NULL) {
        rsp_err_set(err, errlen, "h2o host registration failed");
        listener_free(l);
        return -1;
    }
    h2o_pathconf_t *pc = h2o_config_register_path(l->hosts[0], "/", 0);
    struct dispatch_handler *h = (struct dispatch_handler *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->l = l;
    srv->listeners[srv->nlisteners++] = l;
    return l->index;
}

int rsp_http_listener_find(const rsp_http_server_t *srv, const char *name)
{
    for (size_t i = 0; i < srv->nlisteners; i++)
        if (strcmp(srv->listeners[i]->name, name) == 0)
            return (int)i;
    return -1;
}

int rsp_http_route(rsp_http_server_t *srv, int listener, const char *method, const char *path,
                   rsp_http_handler_fn fn, void *ctx)
{
    if (srv->started || listener < 0 || (size_t)listener >= srv->nlisteners || method == NULL ||
        path == NULL || path[0] != '/' || fn == NULL || strcmp(path, "/healthz") == 0 ||
        strcmp(path, "/readyz") == 0)
        return -1;
    struct listener *l = srv->listeners[listener];
    for (size_t i = 0; i < l->nroutes; i++)
        if (strcmp(l->routes[i].path, path) == 0 && strcmp(l->routes[i].method, method) == 0)
            return -1;
    struct route *nr = realloc(l->routes, (l->nroutes + 1) * sizeof(*nr));
    if (nr == NULL)
        return -1;
    l->routes = nr;
    struct route *r = &l->routes[l->nroutes];
    r->method = strdup(method);
    r->path = strdup(path);
    if (r->method == NULL || r->path == NULL) {
        free(r->method);
        free(r->path);
        return -1;
    }
    r->path_len = strlen(path);
    r->fn = fn;
    r->ctx = ctx;
    l->nroutes++;
    return 0;
}

void rsp_http_server_set_metrics(rsp_http_server_t *srv, rsp_metrics *m)
{
    if (m != NULL) {
        rsp_metrics_describe(m, RSP_HTTP_METRIC_TLS_REFUSALS, RSP_METRIC_COUNTER,
                             "TLS handshakes and client certificates refused, by listener and reason");
        rsp_metrics_describe(m, RSP_HTTP_METRIC_TLS_RESUMED, RSP_METRIC_COUNTER,
                             "TLS handshakes that resumed a session from a ticket, by listener");
        rsp_metrics_describe(m, RSP_HTTP_METRIC_CONN_REFUSED, RSP_METRIC_COUNTER,
                             "connections and requests refused at a connection limit, by listener and limit");
        rsp_metrics_describe(m, RSP_HTTP_METRIC_CONN_CLOSED, RSP_METRIC_COUNTER,
                             "connections closed at their handshake or idle timeout");
        rsp_metrics_describe(m, RSP_HTTP_METRIC_CONNS, RSP_METRIC_GAUGE, "open connections");
        rsp_metrics_describe(m, RSP_HTTP_METRIC_HANDSHAKES, RSP_METRIC_GAUGE, "TLS handshakes in progress");
        rsp_metrics_describe(m, RSP_HTTP_METRIC_FD_BUDGET, RSP_METRIC_GAUGE,
                             "connections the descriptor limit leaves room for (all listeners)");
    }
    atomic_store(&srv->metrics, m);
}

int rsp_http_server_set_ticket_secrets(rsp_http_server_t *srv, const uint8_t *const *secrets, size_t n,
                                       size_t len, size_t current, unsigned rotate_s)
{
    if (srv->started)
        return -1;
    rsp_tls_tickets *t = rsp_tls_tickets_new(secrets, n, len, current, rotate_s);
    if (t == NULL)
        return -1;
    rsp_tls_tickets_free(srv->tickets);
    srv->tickets = t;
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct listener *l = srv->listeners[i];
        if (l->ssl_ctx != NULL && l->client_auth == RSP_HTTP_CLIENT_CERT_NONE)
            ticket_settings(l, l->ssl_ctx);
    }
    return 0;
}

void rsp_http_server_set_ready(rsp_http_server_t *srv, int ready)
{
    atomic_store(&srv->ready, ready != 0);
}

void rsp_http_server_set_ready_check(rsp_http_server_t *srv, int (*fn)(void *ctx), void *ctx)
{
    srv->ready_check = fn;
    srv->ready_ctx = ctx;
}

uint16_t rsp_http_listener_port(const rsp_http_server_t *srv, int listener)
{
    if (listener < 0 || (size_t)listener >= srv->nlisteners)
        return 0;
    return srv->listeners[listener]->port;
}

unsigned long rsp_http_listener_proxy_refused(const rsp_http_server_t *srv, int listener)
{
    if (listener < 0 || (size_t)listener >= srv->nlisteners)
        return 0;
    return atomic_load(&srv->listeners[listener]->proxy_refused);
}

/* ---------------------------------------------------------------- sockets */

static int resolve(const struct listener *l, struct sockaddr_storage *ss, socklen_t *len, char *err,
                   size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)l->port);
    int rc = getaddrinfo(l->address, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        rsp_err_set(err, errlen, "%s: cannot resolve %s: %s", l->name, l->address, gai_strerror(rc));
        if (res != NULL)
            freeaddrinfo(res);
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static uint16_t get_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

static int open_listen_socket(struct listener *l, const struct sockaddr_storage *ss, socklen_t len,
                              int reuseport, char *err, size_t errlen)
{
    int on = 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        bind(fd, (const struct sockaddr *)ss, len) != 0 || (reuseport && listen(fd, H2O_SOMAXCONN) != 0)) {
        rsp_err_set(err, errlen, "%s: cannot listen on %s port %u: %s", l->name, l->address,
                    (unsigned)get_port(ss), strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    return getsockname(fd, (struct sockaddr *)&bound, &blen) == 0 ? get_port(&bound) : 0;
}

static int bind_listener(struct listener *l, unsigned nworkers, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (resolve(l, &ss, &len, err, errlen) != 0)
        return -1;
    /* SO_REUSEPORT would let a second instance of the service share the port without a word; a plain
     * bind first fails if anything holds it.  It also picks the port when 0 was asked for. */
    int probe = open_listen_socket(l, &ss, len, 0, err, errlen);
    if (probe < 0)
        return -1;
    l->port = bound_port(probe);
    close(probe);
    if (l->port == 0) {
        rsp_err_set(err, errlen, "%s: getsockname: %s", l->name, strerror(errno));
        return -1;
    }
    set_port(&ss, l->port);
    if (l->fds == NULL) {
        if ((l->fds = malloc(nworkers * sizeof(int))) == NULL) {
            rsp_err_set(err, errlen, "out of memory");
            return -1;
        }
        for (unsigned i = 0; i < nworkers; i++)
            l->fds[i] = -1;
    }
    for (unsigned i = 0; i < nworkers; i++) {
        if (l->fds[i] >= 0)
            close(l->fds[i]); /* left by an earlier failed start */
        l->fds[i] = -1;
    }
    for (unsigned i = 0; i < nworkers; i++)
        if ((l->fds[i] = open_listen_socket(l, &ss, len, 1, err, errlen)) < 0)
            return -1;
    return 0;
}

/* ---------------------------------------------------------------- workers */

static struct conn *conn_of_socket(h2o_socket_t *sock);
static int conn_take_client(struct conn *c, const struct sockaddr *sa, socklen_t len);
enum refusal { R_MAX_CONNS, R_PER_CLIENT, R_HANDSHAKES, R_FD_LIMIT, R_STREAMS, R_ACCEPT_ERROR };
static void count_refusal(struct listener *l, enum refusal r);

static void proxy_refuse(struct proxy_wait *pw, const char *why)
{
    struct listener *l = pw->slot->w->srv->listeners[pw->slot - pw->slot->w->slots];
    unsigned long n = atomic_fetch_add(&l->proxy_refused, 1) + 1;
    /* The first refusal and then every power of two: a misconfigured balancer shows at once, a flood
     * of bad connections does not flood the log. */
    if ((n & (n - 1)) == 0)
        fprintf(stderr, "rsp-http: %s: connection refused: %s (%lu so far)\n", l->name, why, n);
    h2o_timeout_unlink(&pw->timeout);
    h2o_socket_t *sock = pw->sock;
    sock->data = NULL;
    free(pw);
    h2o_socket_close(sock);
}

static void on_proxy_timeout(h2o_timeout_entry_t *entry)
{
    proxy_refuse(H2O_STRUCT_FROM_MEMBER(struct proxy_wait, timeout, entry), "no PROXY v2 header in time");
}

/* Reads until the PROXY v2 header is complete (at most RSP_PROXY_MAX_HEADER bytes are looked at, and the
 * wait is bounded by proxy_timeout_ms), then hands the rest of the stream to h2o as if just accepted. */
static void on_proxy_read(h2o_socket_t *sock, const char *err)
{
    struct proxy_wait *pw = sock->data;
    if (err != NULL) {
        proxy_refuse(pw, "closed before the PROXY v2 header");
        return;
    }
    rsp_proxy_result_t r;
    rsp_proxy_rc_t rc = rsp_proxy_parse((const uint8_t *)sock->input->bytes, sock->input->size, &r);
    if (rc == RSP_PROXY_NEED_MORE)
        return;
    if (rc != RSP_PROXY_OK) {
        proxy_refuse(pw, rsp_proxy_rc_str(rc));
        return;
    }
    h2o_socket_read_stop(sock);
    h2o_buffer_consume(&sock->input, r.header_len);
    if (!r.local)
        h2o_socket_setpeername(sock, (struct sockaddr *)&r.src, r.src_len);
    struct listen_slot *slot = pw->slot;
    h2o_timeout_unlink(&pw->timeout);
    free(pw);
    sock->data = NULL;
    /* The balancer's own checks (LOCAL) are not a client's. */
    struct conn *c = conn_of_socket(sock);
    if (!r.local && c != NULL && conn_take_client(c, (struct sockaddr *)&r.src, r.src_len) != 0) {
        count_refusal(c->l, R_PER_CLIENT);
        h2o_socket_close(sock);
        return;
    }
    h2o_accept(&slot->accept, sock);
}

static void proxy_start(struct listen_slot *slot, h2o_socket_t *sock)
{
    struct proxy_wait *pw = calloc(1, sizeof(*pw));
    if (pw == NULL) {
        h2o_socket_close(sock);
        return;
    }
    pw->slot = slot;
    pw->sock = sock;
    pw->timeout.cb = on_proxy_timeout;
    sock->data = pw;
    h2o_timeout_link(slot->w->loop, &slot->w->proxy_timeout, &pw->timeout);
    h2o_socket_read_start(sock, on_proxy_read);
}

/* ---------------------------------------------------------------- connection limits
 *
 * Each accepted socket gets a struct conn (its on_close data) on the worker's list.  Caps are checked at
 * accept, before any TLS byte: the listener's connections and the process's descriptor budget (a
 * connection over either is an "overflow" one while fewer than OVERFLOW_MAX are open and this worker
 * admitted fewer than OVERFLOW_PER_SEC in the last second: it may ask /healthz or /readyz and gets 503 with
 * Retry-After for anything else, then is closed; otherwise it is closed at once), handshakes in progress,
 * and connections per client address (for PROXY listeners once the header named the client).  A sweep
 * every SWEEP_MS closes connections past their handshake timeout, and connections without a request
 * in progress for the idle timeout: only requests count as activity, so HTTP/2 PINGs do not keep a
 * connection open.  accept() failing for want of descriptors turns the slot's read interest off until
 * a connection of the worker closes or the next sweep, so the loop never spins on EMFILE.
 */

static const char *const refusal_names[] = {"max_connections", "max_connections_per_client",
                                            "max_handshakes",  "fd_limit",
                                            "max_streams",     "accept_error"};

static void count_limit(struct listener *l, const char *metric, const char *reason)
{
    rsp_metrics *m = atomic_load(&l->srv->metrics);
    if (m == NULL)
        return;
    char label[160];
    snprintf(label, sizeof(label), "listener=\"%s\",reason=\"%s\"", l->name, reason);
    rsp_metrics_inc(m, metric, label);
}

static void count_refusal(struct listener *l, enum refusal r)
{
    count_limit(l, RSP_HTTP_METRIC_CONN_REFUSED, refusal_names[r]);
}

static void conn_unref(struct conn *c)
{
    if (--c->refs == 0)
        free(c);
}

/* Gives back what the connection holds against the caps (idempotent per item). */
static void conn_release(struct conn *c)
{
    rsp_http_server_t *srv = c->w->srv;
    if (c->handshaking) {
        c->handshaking = 0;
        atomic_fetch_sub(&c->l->handshakes, 1);
    }
    if (c->has_client) {
        c->has_client = 0;
        rsp_client_release(srv->clients, &c->client);
    }
    if (c->counted) {
        c->counted = 0;
        atomic_fetch_sub(&c->l->conns, 1);
        atomic_fetch_sub(&srv->total_conns, 1);
    }
    if (c->overflow) {
        c->overflow = 0;
        atomic_fetch_sub(&srv->overflow, 1);
    }
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void resume_accepting(struct worker *w)
{
    if (w->npaused == 0)
        return;
    for (size_t i = 0; i < w->srv->nlisteners; i++) {
        struct listen_slot *slot = &w->slots[i];
        if (slot->paused && slot->sock != NULL && !w->stopping)
            h2o_socket_read_start(slot->sock, on_accept);
        slot->paused = 0;
    }
    w->npaused = 0;
}

static void on_conn_close(void *data)
{
    struct conn *c = data;
    struct worker *w = c->w;
    w->nconns--;
    conn_release(c);
    h2o_linklist_unlink(&c->link);
    c->sock = NULL;
    resume_accepting(w);
    conn_unref(c);
}

static void conn_handshake_done(const SSL *ssl)
{
    BIO *rbio = SSL_get_rbio(ssl);
    struct conn *c = conn_of_socket(rbio != NULL ? BIO_get_data(rbio) : NULL);
    if (c == NULL || !c->handshaking)
        return;
    c->handshaking = 0;
    atomic_fetch_sub(&c->l->handshakes, 1);
    c->last_active = h2o_now(c->w->loop);
}

static struct conn *conn_of_socket(h2o_socket_t *sock)
{
    return sock != NULL && sock->on_close.cb == on_conn_close ? sock->on_close.data : NULL;
}

/* Counts the connection against its client's cap; 0 if within it (or the address is unknown). */
static int conn_take_client(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
    if (c->overflow || rsp_client_key(&c->client, c->l->index, sa, len) != 0)
        return 0;
    if (rsp_client_acquire(c->w->srv->clients, &c->client, c->l->max_per_client) != 0)
        return -1;
    c->has_client = 1;
    return 0;
}

/* Closes a connection the sweep gave up on: GOAWAY on an idle HTTP/2 connection, else both directions
 * shut, which makes h2o's next read fail and close it through its own path. */
static void conn_shut(struct conn *c, const char *reason)
{
    c->closing = 1;
    if (reason != NULL)
        count_limit(c->l, RSP_HTTP_METRIC_CONN_CLOSED, reason);
    int fd = h2o_socket_get_fd(c->sock);
    if (c->is_h2 && c->inflight == 0) {
        h2o_http2_conn_t *h2 = (h2o_http2_conn_t *)c->hconn;
        if (h2->state == H2O_HTTP2_CONN_STATE_OPEN) {
            h2o_http2_encode_goaway_frame(&h2->_write.buf, h2->pull_stream_ids.max_open, H2O_HTTP2_ERROR_NONE,
                                          h2o_iovec_init(H2O_STRLIT("idle")));
            h2->state = H2O_HTTP2_CONN_STATE_HALF_CLOSED;
            h2o_http2_conn_request_write(h2);
            if (fd >= 0)
                shutdown(fd, SHUT_RD);
            return;
        }
    }
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

struct req_guard {
    struct conn *c;
};

static void on_req_dispose(void *p)
{
    struct conn *c = ((struct req_guard *)p)->c;
    c->inflight--;
    if (c->sock != NULL)
        c->last_active = h2o_now(c->w->loop);
    conn_unref(c);
}

/* Counts a request of its connection (until the request is disposed of) as activity. */
static struct conn *conn_request_started(h2o_req_t *req)
{
    h2o_socket_t *sock =
        req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    struct conn *c = conn_of_socket(sock);
    if (c == NULL)
        return NULL;
    if (c->hconn == NULL) {
        c->hconn = req->conn;
        c->is_h2 = is_http2(req);
    }
    struct req_guard *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), on_req_dispose);
    g->c = c;
    c->refs++;
    c->inflight++;
    c->last_active = h2o_now(c->w->loop);
    return c;
}

static void send_limit_503(h2o_req_t *req)
{
    req->http1_is_persistent = 0;
    rsp_http_add_header(req, "retry-after", RETRY_AFTER);
    rsp_http_send_error(req, 503);
}

/* Answers 503 with Retry-After for a request over a limit (an overflow connection, or more streams in
 * progress than the listener allows); returns 1 when it did. */
static int conn_over_limit(struct conn *c, h2o_req_t *req)
{
    if (c->overflow) {
        send_limit_503(req);
        return 1;
    }
    if (c->inflight > c->l->max_streams) {
        count_refusal(c->l, R_STREAMS);
        send_limit_503(req);
        return 1;
    }
    return 0;
}

static void update_gauges(rsp_http_server_t *srv)
{
    rsp_metrics *m = atomic_load(&srv->metrics);
    if (m == NULL)
        return;
    char label[96];
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct listener *l = srv->listeners[i];
        snprintf(label, sizeof(label), "listener=\"%s\"", l->name);
        rsp_metric *g = rsp_metric_get(m, RSP_HTTP_METRIC_CONNS, RSP_METRIC_GAUGE, label);
        if (g != NULL)
            rsp_metric_set(g, atomic_load(&l->conns));
        if ((g = rsp_metric_get(m, RSP_HTTP_METRIC_HANDSHAKES, RSP_METRIC_GAUGE, label)) != NULL)
            rsp_metric_set(g, atomic_load(&l->handshakes));
    }
    rsp_metric *b = rsp_metric_get(m, RSP_HTTP_METRIC_FD_BUDGET, RSP_METRIC_GAUGE, NULL);
    if (b != NULL)
        rsp_metric_set(b, (int64_t)srv->fd_budget);
}

static void on_sweep(h2o_timeout_entry_t *entry)
{
    struct worker *w = H2O_STRUCT_FROM_MEMBER(struct worker, sweep_entry, entry);
    uint64_t now = h2o_now(w->loop);
    for (h2o_linklist_t *n = w->conns.next; n != &w->conns; n = n->next) {
        struct conn *c = H2O_STRUCT_FROM_MEMBER(struct conn, link, n);
        if (c->closing)
            continue;
        if (c->overflow && now - c->accepted_at >= OVERFLOW_MS)
            conn_shut(c, NULL);
        else if (c->handshaking && now - c->accepted_at >= c->l->handshake_timeout_ms)
            conn_shut(c, "handshake_timeout");
        else if (!c->handshaking && c->inflight == 0 && now - c->last_active >= c->l->idle_timeout_ms)
            conn_shut(c, "idle_timeout");
    }
    w->overflow_admit = 0;
    w->refused_now = 0;
    resume_accepting(w);
    /* After a load drop, give the per-connection buffers freed since back to the system. */
    if (w->nconns > w->peak_conns)
        w->peak_conns = w->nconns;
    if (w->peak_conns >= 64 && w->nconns * 4 <= w->peak_conns) {
        malloc_trim(0);
        w->peak_conns = w->nconns;
    }
    if (w->index == 0)
        update_gauges(w->srv);
    h2o_timeout_link(w->loop, &w->sweep, &w->sweep_entry);
}

/* Turns the slot's read interest off until a connection of the worker closes or the next sweep. */
static void pause_slot(struct listen_slot *slot)
{
    if (slot->paused)
        return;
    h2o_socket_read_stop(slot->sock);
    slot->paused = 1;
    slot->w->npaused++;
}

static void pause_accepting(struct listen_slot *slot, struct listener *l)
{
    if (slot->paused)
        return;
    pause_slot(slot);
    count_refusal(l, R_ACCEPT_ERROR);
    static atomic_ulong pauses;
    unsigned long n = atomic_fetch_add(&pauses, 1) + 1;
    if ((n & (n - 1)) == 0)
        rsp_log(RSP_LOG_WARN,
                "listener %s: accept: %s; not accepting until a descriptor frees up (%lu times so far)",
                l->name, strerror(errno), n);
}

/* Decides what becomes of a fresh socket: served, served as overflow, or closed at once. */
static void conn_accepted(struct listen_slot *slot, struct listener *l, h2o_socket_t *sock)
{
    struct worker *w = slot->w;
    rsp_http_server_t *srv = w->srv;
    int refused = -1, overflow = 0;
    if (atomic_load(&srv->total_conns) >= srv->fd_budget)
        refused = R_FD_LIMIT;
    else if (l->max_conns != 0 && atomic_load(&l->conns) >= l->max_conns)
        refused = R_MAX_CONNS;
    if (refused >= 0) {
        count_refusal(l, (enum refusal)refused);
        overflow = w->overflow_admit < OVERFLOW_PER_SEC && atomic_fetch_add(&srv->overflow, 1) < OVERFLOW_MAX;
        if (!overflow) {
            atomic_fetch_sub(&srv->overflow, 1);
            h2o_socket_close(sock);
            /* Still full after a burst of refusals: leave the rest in the backlog for a while rather
             * than spend the loop accepting and closing a reconnecting crowd. */
            if (++w->refused_now >= REFUSE_BURST)
                pause_slot(slot);
            return;
        }
        w->overflow_admit++;
    }
    int tls = !l->plain;
    if (tls && atomic_fetch_add(&l->handshakes, 1) >= l->max_handshakes && l->max_handshakes != 0) {
        atomic_fetch_sub(&l->handshakes, 1);
        if (overflow)
            atomic_fetch_sub(&srv->overflow, 1);
        count_refusal(l, R_HANDSHAKES);
        h2o_socket_close(sock);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (tls)
            atomic_fetch_sub(&l->handshakes, 1);
        if (overflow)
            atomic_fetch_sub(&srv->overflow, 1);
        h2o_socket_close(sock);
        return;
    }
    c->w = w;
    c->l = l;
    c->sock = sock;
    c->refs = 1;
    c->accepted_at = c->last_active = h2o_now(w->loop);
    c->handshaking = tls;
    c->overflow = overflow;
    if (!overflow) {
        c->counted = 1;
        atomic_fetch_add(&l->conns, 1);
        atomic_fetch_add(&srv->total_conns, 1);
    }
    h2o_linklist_insert(&w->conns, &c->link);
    w->nconns++;
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = c;
    if (!l->proxy_protocol) {
        struct sockaddr_storage ss;
        socklen_t len = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
        if (conn_take_client(c, (struct sockaddr *)&ss, len) != 0) {
            count_refusal(l, R_PER_CLIENT);
            h2o_socket_close(sock);
            return;
        }
        h2o_accept(&slot->accept, sock);
    } else {
        proxy_start(slot, sock);
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct listen_slot *slot = listener->data;
    if (err != NULL)
        return;
    struct listener *l = slot->w->srv->listeners[slot - slot->w->slots];
    for (int i = 0; i < ACCEPT_BURST && !slot->paused; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            /* Level-triggered: returning with a pending connection and no descriptor would spin. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(slot, l);
            return;
        }
        conn_accepted(slot, l, sock);
    }
}

static void begin_stop(struct worker *w)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    for (size_t i = 0; i < w->srv->nlisteners; i++) {
        if (w->slots[i].sock != NULL) {
            h2o_socket_read_stop(w->slots[i].sock);
            h2o_socket_close(w->slots[i].sock);
            w->slots[i].sock = NULL;
        }
    }
    h2o_context_request_shutdown(&w->ctx);
    /* h2o 2.2.5 has no shutdown hook for idle HTTP/1.1 keep-alive connections; shortening the
     * request-read timeout closes them (and slow header readers) within a second. */
    h2o_timeout_t *ts[] = {&w->ctx.http1.req_timeout, &w->ctx.http2.idle_timeout, &w->ctx.handshake_timeout,
                           &w->proxy_timeout};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
        if (ts[i]->timeout > STOP_IDLE_TIMEOUT_MS)
            ts[i]->timeout = STOP_IDLE_TIMEOUT_MS;
    w->deadline = h2o_now(w->loop) + w->srv->cfg.drain_timeout_ms;
}

/* Frees retired TLS contexts older than `age` ms (all with age 0). */
static void free_retired(struct worker *w, uint64_t age)
{
    uint64_t now = h2o_now(w->loop);
    for (struct retired_ctx **p = &w->retired; *p != NULL;) {
        struct retired_ctx *r = *p;
        if (age == 0 || r->at + age <= now) {
            *p = r->next;
            SSL_CTX_free(r->ctx);
            free(r);
        } else {
            p = &r->next;
        }
    }
}

static void swap_tls(struct worker *w, SSL_CTX **ctxs)
{
    /* h2o keeps the SSL_CTX pointer of an accepted socket without a reference until the ClientHello
     * arrives (bounded by the handshake timeout), so a replaced context is freed only later. */
    free_retired(w, 2 * w->srv->globalconf.handshake_timeout + 1000);
    for (size_t i = 0; i < w->srv->nlisteners; i++) {
        if (ctxs[i] == NULL)
            continue;
        struct retired_ctx *r = malloc(sizeof(*r));
        if (r == NULL) {
            SSL_CTX_free(ctxs[i]); /* keep the old context rather than risk freeing it early */
            continue;
        }
        r->ctx = w->slots[i].accept.ssl_ctx;
        r->at = h2o_now(w->loop);
        r->next = w->retired;
        w->retired = r;
        w->slots[i].accept.ssl_ctx = ctxs[i];
    }
    free(ctxs);
}

static void on_ctl_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct worker *w = H2O_STRUCT_FROM_MEMBER(struct worker, ctl_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        struct ctl_msg *m =
            (struct ctl_msg *)H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->kind == CTL_STOP) {
            begin_stop(w);
        } else {
            swap_tls(w, m->ctxs);
            free(m);
        }
    }
}

/* Sends a control message unless the worker has stopped taking them; returns 0 if sent. */
static int send_ctl(struct worker *w, struct ctl_msg *m)
{
    int sent = 0;
    pthread_mutex_lock(&w->srv->msg_lock);
    if (w->accepting_msgs) {
        h2o_multithread_send_message(&w->ctl_receiver, &m->super);
        sent = 1;
    }
    pthread_mutex_unlock(&w->srv->msg_lock);
    return sent ? 0 : -1;
}

static void worker_init(struct worker *w)
{
    rsp_http_server_t *srv = w->srv;
    current_worker = w;
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &srv->globalconf);
    h2o_timeout_init(w->loop, &w->proxy_timeout, srv->cfg.proxy_timeout_ms);
    h2o_linklist_init_anchor(&w->conns);
    h2o_timeout_init(w->loop, &w->sweep, SWEEP_MS);
    w->sweep_entry.cb = on_sweep;
    h2o_timeout_link(w->loop, &w->sweep, &w->sweep_entry);
    h2o_multithread_register_receiver(w->ctx.queue, &w->ctl_receiver, on_ctl_messages);
    h2o_multithread_register_receiver(w->ctx.queue, &w->defer_receiver, on_defer_messages);
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct listener *l = srv->listeners[i];
        struct listen_slot *s = &w->slots[i];
        s->w = w;
        s->accept.ctx = &w->ctx;
        s->accept.hosts = l->hosts;
        if (l->ssl_ctx != NULL) {
            SSL_CTX_up_ref(l->ssl_ctx);
            s->accept.ssl_ctx = l->ssl_ctx;
        }
        s->sock = h2o_evloop_socket_create(w->loop, l->fds[w->index], H2O_SOCKET_FLAG_DONT_READ);
        l->fds[w->index] = -1; /* owned by h2o now */
        s->sock->data = s;
        h2o_socket_read_start(s->sock, on_accept);
    }
    pthread_mutex_lock(&srv->msg_lock);
    w->accepting_msgs = 1;
    pthread_mutex_unlock(&srv->msg_lock);
}

static void worker_teardown(struct worker *w)
{
    rsp_http_server_t *srv = w->srv;
    pthread_mutex_lock(&srv->msg_lock);
    w->accepting_msgs = 0;
    pthread_mutex_unlock(&srv->msg_lock);
    /* Deliver control messages sent before the gate closed (their wake-up byte is in the pipe). */
    h2o_evloop_run(w->loop, 0);
    if (w->nconns != 0 || w->pending_deferred != 0) {
        /* Open connections still reference the loop, the context and the peer table. */
        w->abandoned = (int)w->nconns + (int)w->pending_deferred;
        struct abandoned *a = malloc(sizeof(*a));
        if (a != NULL) {
            a->w = w;
            pthread_mutex_lock(&abandoned_lock);
            a->next = abandoned_list;
            abandoned_list = a;
            pthread_mutex_unlock(&abandoned_lock);
        }
        return;
    }
    h2o_multithread_unregister_receiver(w->ctx.queue, &w->ctl_receiver);
    h2o_multithread_unregister_receiver(w->ctx.queue, &w->defer_receiver);
    free_retired(w, 0);
    for (size_t i = 0; i < srv->nlisteners; i++) {
        if (w->slots[i].accept.ssl_ctx != NULL) {
            SSL_CTX_free(w->slots[i].accept.ssl_ctx);
            w->slots[i].accept.ssl_ctx = NULL;
        }
    }
    /* The GOAWAY re-send timer of the HTTP/2 graceful shutdown outlives the connections. */
    if (h2o_timeout_is_linked(&w->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&w->ctx.http2._graceful_shutdown_timeout);
    h2o_multithread_queue_t *queue = w->ctx.queue;
    h2o_timeout_dispose(w->loop, &w->proxy_timeout);
    if (h2o_timeout_is_linked(&w->sweep_entry))
        h2o_timeout_unlink(&w->sweep_entry);
    h2o_timeout_dispose(w->loop, &w->sweep);
    h2o_context_dispose(&w->ctx);
    /* 2.2.5's evloop h2o_multithread_destroy_queue() closes but never frees the queue. */
    free(queue);
    h2o_evloop_destroy(w->loop);
    w->loop = NULL;
    free(w->peers.buckets);
    w->peers.buckets = NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    rsp_http_server_t *srv = w->srv;
    worker_init(w);
    pthread_mutex_lock(&srv->init_lock);
    srv->ninit++;
    pthread_cond_broadcast(&srv->init_cond);
    pthread_mutex_unlock(&srv->init_lock);

    for (;;) {
        /* Checked before blocking: a stop requested before this worker took messages sent none. */
        if (!w->stopping && atomic_load(&srv->stop_requested))
            begin_stop(w);
        if (w->stopping && ((w->nconns == 0 && w->pending_deferred == 0) || h2o_now(w->loop) >= w->deadline))
            break;
        h2o_evloop_run(w->loop, w->stopping ? 50 : INT32_MAX);
    }
    worker_teardown(w);
    current_worker = NULL;
    return NULL;
}

int rsp_http_server_start(rsp_http_server_t *srv, char *err, size_t errlen)
{
    if (srv->started) {
        rsp_err_set(err, errlen, "already started");
        return -1;
    }
    if (srv->nlisteners == 0) {
        rsp_err_set(err, errlen, "no listeners");
        return -1;
    }
    size_t max_limit = 0;
    for (size_t i = 0; i < srv->nlisteners; i++)
        if (srv->listeners[i]->body_limit > max_limit)
            max_limit = srv->listeners[i]->body_limit;
    srv->globalconf.max_request_entity_size = 2 * max_limit + 16384;
    /* h2o's own timeouts are process-wide: the longest of the listeners, plus two sweeps so that the
     * sweep holds each listener to its own first. */
    uint64_t hs = 0, idle = 0;
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct listener *l = srv->listeners[i];
        hs = l->handshake_timeout_ms > hs ? l->handshake_timeout_ms : hs;
        idle = l->idle_timeout_ms > idle ? l->idle_timeout_ms : idle;
    }
    srv->globalconf.handshake_timeout = hs + 2 * SWEEP_MS;
    srv->globalconf.http2.idle_timeout = idle + 2 * SWEEP_MS;
    /* h2o would queue requests over its own limit; the glue answers them 503 instead. */
    srv->globalconf.http2.max_concurrent_requests_per_connection = DEFAULT_MAX_STREAMS;

    for (size_t i = 0; i < srv->nlisteners; i++)
        if (bind_listener(srv->listeners[i], srv->nworkers, err, errlen) != 0)
            return -1;
    /* Room for connections at the descriptor limit: what is open now (listening sockets, store, log)
     * and each worker's event loop and message pipe stay out of it, and so does the reserve. */
    struct rlimit rl;
    uint64_t soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 1024;
    srv->fd_budget = rsp_limits_fd_budget(soft, rsp_limits_open_fds(), 4 * srv->nworkers);

    srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
    if (srv->workers == NULL) {
        rsp_err_set(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct worker *w = &srv->workers[i];
        w->srv = srv;
        w->index = i;
        w->stop_msg.kind = CTL_STOP;
        w->slots = calloc(srv->nlisteners, sizeof(*w->slots));
        if (w->slots == NULL) {
            rsp_err_set(err, errlen, "out of memory");
            return -1;
        }
    }

    struct sigaction sa = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t ctl, all, old;
    sigemptyset(&ctl);
    sigaddset(&ctl, SIGINT);
    sigaddset(&ctl, SIGTERM);
    sigaddset(&ctl, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &ctl, NULL);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    srv->started = 1;
    unsigned created = 0;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0)
            break;
        srv->workers[i].thread_started = 1;
        created++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    pthread_mutex_lock(&srv->init_lock);
    while (srv->ninit < created)
        pthread_cond_wait(&srv->init_cond, &srv->init_lock);
    pthread_mutex_unlock(&srv->init_lock);
    if (created != srv->nworkers) {
        rsp_err_set(err, errlen, "cannot create worker threads");
        rsp_http_server_stop(srv);
        rsp_http_server_wait(srv);
        return -1;
    }
    return 0;
}

void rsp_http_server_stop(rsp_http_server_t *srv)
{
    if (!srv->started || atomic_exchange(&srv->stop_requested, 1))
        return;
    for (unsigned i = 0; i < srv->nworkers; i++)
        if (srv->workers[i].thread_started)
            send_ctl(&srv->workers[i], &srv->workers[i].stop_msg);
}

int rsp_http_server_wait(rsp_http_server_t *srv)
{
    if (!srv->started)
        return -1;
    if (!srv->joined) {
        for (unsigned i = 0; i < srv->nworkers; i++) {
            struct worker *w = &srv->workers[i];
            if (!w->thread_started)
                continue;
            pthread_join(w->thread, NULL);
            srv->cut += w->abandoned;
        }
        srv->joined = 1;
        if (srv->cut)
            rsp_log(RSP_LOG_WARN, "stop: %d connection(s) or deferred request(s) cut at the drain bound",
                    srv->cut);
    }
    return srv->cut;
}

int rsp_http_server_run(rsp_http_server_t *srv, int (*reload)(void *ctx), void *ctx)
{
    if (!srv->started)
        return -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    while (!atomic_load(&srv->stop_requested)) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (reload != NULL && reload(ctx) != 0)
                rsp_log(RSP_LOG_ERROR, "reload failed; still serving with the previous configuration");
            continue;
        }
        break;
    }
    rsp_http_server_stop(srv);
    return rsp_http_server_wait(srv);
}

int rsp_http_server_reload_tls(rsp_http_server_t *srv, char *err, size_t errlen)
{
    if (!srv->started || srv->joined) {
        rsp_err_set(err, errlen, "server is not running");
        return -1;
    }
    SSL_CTX **fresh = calloc(srv->nlisteners, sizeof(*fresh));
    if (fresh == NULL) {
        rsp_err_set(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct listener *l = srv->listeners[i];
        if (l->plain)
            continue;
        if ((fresh[i] = build_ssl_ctx(l, err, errlen)) == NULL) {
            for (size_t j = 0; j < i; j++)
                SSL_CTX_free(fresh[j]);
            free(fresh);
            return -1;
        }
    }
    for (unsigned wi = 0; wi < srv->nworkers; wi++) {
        struct ctl_msg *m = calloc(1, sizeof(*m));
        SSL_CTX **ctxs = calloc(srv->nlisteners, sizeof(*ctxs));
        if (m == NULL || ctxs == NULL) {
            free(m);
            free(ctxs);
            continue;
        }
        for (size_t i = 0; i < srv->nlisteners; i++)
            if (fresh[i] != NULL && SSL_CTX_up_ref(fresh[i]) == 1)
                ctxs[i] = fresh[i];
        m->kind = CTL_SWAP_TLS;
        m->ctxs = ctxs;
        if (send_ctl(&srv->workers[wi], m) != 0) {
            for (size_t i = 0; i < srv->nlisteners; i++)
                if (ctxs[i] != NULL)
                    SSL_CTX_free(ctxs[i]);
            free(ctxs);
            free(m);
        }
    }
    for (size_t i = 0; i < srv->nlisteners; i++) {
        if (fresh[i] == NULL)
            continue;
        SSL_CTX_free(srv->listeners[i]->ssl_ctx);
        srv->listeners[i]->ssl_ctx = fresh[i];
    }
    free(fresh);
    return 0;
}

void rsp_http_server_free(rsp_http_server_t *srv)
{
    if (srv == NULL)
        return;
    if (srv->started) {
        rsp_http_server_stop(srv);
        rsp_http_server_wait(srv);
    }
    int keep_conf = 0;
    for (unsigned i = 0; srv->workers != NULL && i < srv->nworkers; i++) {
        if (srv->workers[i].abandoned)
            keep_conf = 1; /* the abandoned h2o contexts still point at the configuration */
        else
            free(srv->workers[i].slots);
    }
    if (keep_conf)
        return;
    free(srv->workers);
    h2o_config_dispose(&srv->globalconf);
    for (size_t i = 0; i < srv->nlisteners; i++)
        listener_free(srv->listeners[i]);
    free(srv->listeners);
    rsp_tls_tickets_free(srv->tickets);
    pthread_mutex_destroy(&srv->msg_lock);
    pthread_mutex_destroy(&srv->init_lock);
    pthread_cond_destroy(&srv->init_cond);
    rsp_client_table_free(srv->clients);
    free(srv);
}
