#include "bench/h2c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define MAX_HEADERS 8
#define MAX_RESPONSE (1u << 20)
#define OUT_CHUNK 65536
#define WINDOW (1 << 24)

typedef struct stream {
    struct stream *next, *prev; /* live list, or the done list once closed */
    h2c_done_fn done;
    void *arg;
    const uint8_t *body;
    size_t len, off;
    int status;
    const char *err;
    char *resp;
    size_t rlen, rcap;
} stream;

struct h2c {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    nghttp2_session *s;
    char authority[300];
    uint8_t *out;
    size_t olen, ooff, ocap;
    stream live;    /* sentinel of the streams in flight */
    stream *closed; /* completed during the last read, done not yet called */
    stream *spare;  /* recycled */
    size_t inflight;
    bool broken;
    bool plain; /* http:// (h2c by prior knowledge), no TLS */
    char err[256];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- nghttp2 callbacks ---- */

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)ud;
    stream *st = src->ptr;
    size_t n = st->len - st->off < len ? st->len - st->off : len;
    memcpy(buf, st->body + st->off, n);
    st->off += n;
    if (st->off == st->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS || namelen != 7 || memcmp(name, ":status", 7) != 0)
        return 0;
    stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (st && valuelen == 3)
        st->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
    (void)flags;
    (void)ud;
    stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st || st->err)
        return 0;
    if (st->rlen + len + 1 > st->rcap) {
        size_t nc = st->rcap ? st->rcap : 1024;
        while (nc < st->rlen + len + 1)
            nc *= 2;
        char *np = nc <= MAX_RESPONSE ? realloc(st->resp, nc) : NULL;
        if (!np) {
            st->err = "response too large";
            return 0;
        }
        st->resp = np;
        st->rcap = nc;
    }
    memcpy(st->resp + st->rlen, data, len);
    st->rlen += len;
    st->resp[st->rlen] = 0;
    return 0;
}

static void unlink_stream(stream *st)
{
    st->prev->next = st->next;
    st->next->prev = st->prev;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    h2c *c = ud;
    stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    if (code != NGHTTP2_NO_ERROR && !st->err)
        st->err = nghttp2_http2_strerror(code);
    unlink_stream(st);
    st->next = c->closed;
    c->closed = st;
    return 0;
}

/* ---- completion ---- */

static void recycle(h2c *c, stream *st)
{
    st->next = c->spare;
    c->spare = st;
}

/* Calls the done functions of the streams that closed (they may post). */
static void deliver(h2c *c)
{
    while (c->closed) {
        stream *st = c->closed;
        c->closed = st->next;
        c->inflight--;
        const char *err = st->err;
        int status = err ? 0 : st->status;
        st->done(st->arg, status, st->resp ? st->resp : "", st->rlen, err);
        recycle(c, st);
    }
}

/* The connection is gone: every stream in flight completes with the reason. */
static void break_conn(h2c *c, const char *fmt, ...)
{
    if (!c->broken) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof(c->err), fmt, ap);
        va_end(ap);
        c->broken = true;
    }
    while (c->live.next != &c->live) {
        stream *st = c->live.next;
        unlink_stream(st);
        st->err = c->err;
        st->next = c->closed;
        c->closed = st;
    }
    deliver(c);
}

/* ---- I/O ---- */

static const char *ssl_reason(void)
{
    unsigned long e = ERR_get_error();
    return e ? ERR_reason_error_string(e) : "connection closed";
}

/* Writes queued frames: 0 all sent, 1 the socket is full, -1 broken. */
static int flush_out(h2c *c)
{
    for (;;) {
        if (c->ooff == c->olen) {
            c->ooff = c->olen = 0;
            while (c->olen < OUT_CHUNK) {
                const uint8_t *d;
                ssize_t n = nghttp2_session_mem_send(c->s, &d);
                if (n < 0) {
                    break_conn(c, "nghttp2: %s", nghttp2_strerror((int)n));
                    return -1;
                }
                if (n == 0)
                    break;
                if (c->olen + (size_t)n > c->ocap) {
                    size_t nc = c->ocap ? c->ocap : OUT_CHUNK;
                    while (nc < c->olen + (size_t)n)
                        nc *= 2;
                    uint8_t *np = realloc(c->out, nc);
                    if (!np) {
                        break_conn(c, "out of memory");
                        return -1;
                    }
                    c->out = np;
                    c->ocap = nc;
                }
                memcpy(c->out + c->olen, d, (size_t)n);
                c->olen += (size_t)n;
            }
            if (c->olen == 0)
                return 0;
        }
        if (!c->ssl) {
            ssize_t w = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
            if (w > 0) {
                c->ooff += (size_t)w;
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EINTR))
                return 1;
            break_conn(c, "write: %s", w < 0 ? strerror(errno) : "connection closed");
            return -1;
        }
        int w = SSL_write(c->ssl, c->out + c->ooff, (int)(c->olen - c->ooff));
        if (w > 0) {
            c->ooff += (size_t)w;
            continue;
        }
        int e = SSL_get_error(c->ssl, w);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            return 1;
        break_conn(c, "TLS write: %s", ssl_reason());
        return -1;
    }
}

/* Reads and handles what the socket holds.  0, or -1 broken. */
static int read_in(h2c *c)
{
    uint8_t buf[32768];
    for (;;) {
        int r;
        if (!c->ssl) {
            ssize_t got = recv(c->fd, buf, sizeof(buf), 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
            if (got <= 0) {
                break_conn(c, "read: %s", got < 0 ? strerror(errno) : "connection closed");
                return -1;
            }
            r = (int)got;
        } else {
            r = SSL_read(c->ssl, buf, sizeof(buf));
        }
        if (r > 0) {
            ssize_t n = nghttp2_session_mem_recv(c->s, buf, (size_t)r);
            if (n < 0) {
                break_conn(c, "nghttp2: %s", nghttp2_strerror((int)n));
                return -1;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        break_conn(c, "TLS read: %s", e == SSL_ERROR_ZERO_RETURN ? "connection closed" : ssl_reason());
        return -1;
    }
}

int h2c_run(h2c *c, int timeout_ms)
{
    if (c->broken)
        return -1;
    int f = flush_out(c);
    if (f < 0)
        return -1;
    if (!c->ssl || !SSL_pending(c->ssl)) {
        struct pollfd p = {c->fd, (short)(POLLIN | (f == 1 ? POLLOUT : 0)), 0};
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno != EINTR) {
            break_conn(c, "poll: %s", strerror(errno));
            return -1;
        }
        if (n <= 0 || !(p.revents & (POLLIN | POLLERR | POLLHUP)))
            return 0;
    }
    if (read_in(c) < 0)
        return -1;
    deliver(c);
    if (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s)) {
        break_conn(c, "the server closed the session");
        return -1;
    }
    return flush_out(c) < 0 ? -1 : 0;
}

int h2c_post(h2c *c, const char *path, const char *const *headers, const void *body, size_t len,
             h2c_done_fn done, void *arg)
{
    if (c->broken)
        return -1;
    stream *st = c->spare;
    if (st) {
        c->spare = st->next;
    } else if (!(st = calloc(1, sizeof(*st)))) {
        return -1;
    }
    st->done = done;
    st->arg = arg;
    st->body = body;
    st->len = len;
    st->off = 0;
    st->status = 0;
    st->err = NULL;
    st->rlen = 0;

    char clen[24];
    snprintf(clen, sizeof(clen), "%zu", len);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nva[5 + MAX_HEADERS] = {
        NV(":method", "POST"), NV(":scheme", c->plain ? "http" : "https"),     NV(":authority", c->authority),
        NV(":path", path),     NV("content-length", clen),
    };
    size_t n = 5;
    for (size_t i = 0; headers && headers[2 * i] && i < MAX_HEADERS; i++)
        nva[n++] = (nghttp2_nv)NV(headers[2 * i], headers[2 * i + 1]);
#undef NV
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = body_read};
    int32_t id = nghttp2_submit_request(c->s, NULL, nva, n, &prd, st);
    if (id < 0) {
        recycle(c, st);
        return -1;
    }
    st->next = &c->live;
    st->prev = c->live.prev;
    c->live.prev->next = st;
    c->live.prev = st;
    c->inflight++;
    return 0;
}

size_t h2c_in_flight(const h2c *c)
{
    return c->inflight;
}

const char *h2c_error(const h2c *c)
{
    return c->err;
}

SSL *h2c_ssl(h2c *c)
{
    return c->ssl;
}

/* ---- connection ---- */

/* "https://HOST:PORT" or "http://HOST:PORT" (HOST may be [v6]) into host and port; *plain says which. */
static int parse_base(const char *base, char *host, size_t hcap, char *port, size_t pcap, bool *plain)
{
    *plain = strncmp(base, "http://", 7) == 0;
    const char *p = strncmp(base, "https://", 8) == 0 ? base + 8 : *plain ? base + 7 : NULL;
    if (!p)
        return -1;
    const char *hend, *colon;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend || hend[1] != ':')
            return -1;
        colon = hend + 1;
        p++;
    } else {
        colon = strrchr(p, ':');
        hend = colon;
    }
    if (!colon || (size_t)(hend - p) >= hcap || strlen(colon + 1) >= pcap || !colon[1])
        return -1;
    memcpy(host, p, (size_t)(hend - p));
    host[hend - p] = 0;
    snprintf(port, pcap, "%s", colon + 1);
    size_t pl = strcspn(port, "/");
    port[pl] = 0;
    return 0;
}

static int tcp_connect(const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *a;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        set_err(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        set_err(err, errlen, "connect %s:%s: %s", host, port, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int tls_setup(h2c *c, const h2c_cfg *cfg, const char *host, char *err, size_t errlen)
{
    if (!(c->ctx = SSL_CTX_new(TLS_client_method())) ||
        !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION))
        goto ssl_fail;
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (!cfg->cafile || SSL_CTX_load_verify_locations(c->ctx, cfg->cafile, NULL) != 1) {
        set_err(err, errlen, "CA file %s: %s", cfg->cafile ? cfg->cafile : "(none)", ssl_reason());
        return -1;
    }
    if (cfg->cert && (SSL_CTX_use_certificate_chain_file(c->ctx, cfg->cert) != 1 ||
                      SSL_CTX_use_PrivateKey_file(c->ctx, cfg->key, SSL_FILETYPE_PEM) != 1)) {
        set_err(err, errlen, "client certificate %s: %s", cfg->cert, ssl_reason());
        return -1;
    }
    static const unsigned char alpn[] = "\x02h2";
    if (SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof(alpn) - 1) != 0 || !(c->ssl = SSL_new(c->ctx)))
        goto ssl_fail;
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    unsigned char ip[16];
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host) != 1)
            goto ssl_fail;
    } else if (SSL_set1_host(c->ssl, host) != 1 || SSL_set_tlsext_host_name(c->ssl, host) != 1) {
        goto ssl_fail;
    }
    if (SSL_set_fd(c->ssl, c->fd) != 1)
        goto ssl_fail;
    if (SSL_connect(c->ssl) != 1) {
        long v = SSL_get_verify_result(c->ssl);
        set_err(err, errlen, "TLS handshake: %s",
                v != X509_V_OK ? X509_verify_cert_error_string(v) : ssl_reason());
        return -1;
    }
    const unsigned char *sel = NULL;
    unsigned sel_len = 0;
    SSL_get0_alpn_selected(c->ssl, &sel, &sel_len);
    if (sel_len != 2 || memcmp(sel, "h2", 2) != 0) {
        set_err(err, errlen, "the server did not agree to HTTP/2 (ALPN)");
        return -1;
    }
    return 0;
ssl_fail:
    set_err(err, errlen, "TLS setup: %s", ssl_reason());
    return -1;
}

static int session_setup(h2c *c)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return -1;
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    int rc = nghttp2_session_client_new(&c->s, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0)
        return -1;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, WINDOW) != 0)
        return -1;
    return 0;
}

h2c *h2c_connect(const h2c_cfg *cfg, char *err, size_t errlen)
{
    char host[256], port[16];
    bool plain = false;
    if (!cfg || !cfg->base || parse_base(cfg->base, host, sizeof(host), port, sizeof(port), &plain) != 0) {
        set_err(err, errlen, "not an https:// or http://HOST:PORT URL: %s",
                cfg && cfg->base ? cfg->base : "(none)");
        return NULL;
    }
    h2c *c = calloc(1, sizeof(*c));
    if (!c) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    c->live.next = c->live.prev = &c->live;
    c->plain = plain;
    snprintf(c->authority, sizeof(c->authority), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
    if ((c->fd = tcp_connect(host, port, err, errlen)) < 0) {
        free(c);
        return NULL;
    }
    if (!plain && tls_setup(c, cfg, host, err, errlen) != 0)
        goto fail;
    if (session_setup(c) != 0) {
        set_err(err, errlen, "nghttp2 session setup failed");
        goto fail;
    }
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        set_err(err, errlen, "fcntl: %s", strerror(errno));
        goto fail;
    }
    return c;
fail:
    h2c_close(c);
    return NULL;
}

void h2c_close(h2c *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_shutdown(c->ssl);
    nghttp2_session_del(c->s);
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    stream *lists[] = {c->live.next, c->closed, c->spare};
    for (int i = 0; i < 3; i++) {
        stream *st = lists[i];
        while (st && st != &c->live) {
            stream *next = st->next;
            free(st->resp);
            free(st);
            st = next;
        }
    }
    free(c->out);
    free(c);
}
