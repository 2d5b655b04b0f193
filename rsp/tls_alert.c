#include "rsp/tls_alert.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>

/* More than any refused run writes (a ServerHello flight with a certificate chain is a few KB): past
 * this the copy is dropped rather than sending a truncated flight. */
#define RUN_CAP (64 * 1024)

struct filter {
    int fd;
    int copying; /* until the handshake is done */
    int fatal;   /* a fatal alert was written in this run */
    int over;    /* this run wrote more than RUN_CAP */
    unsigned char *buf;
    size_t len, cap;
};

static BIO_METHOD *method;
static int method_type;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static void keep(struct filter *f, const char *p, size_t n)
{
    if (f->over)
        return;
    if (f->len + n > RUN_CAP) {
        f->over = 1;
        return;
    }
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 2048;
        while (cap < f->len + n)
            cap *= 2;
        unsigned char *b = realloc(f->buf, cap);
        if (b == NULL) {
            f->over = 1;
            return;
        }
        f->buf = b;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
}

static int f_write(BIO *b, const char *p, int n)
{
    struct filter *f = BIO_get_data(b);
    BIO *next = BIO_next(b);
    if (next == NULL)
        return -1;
    BIO_clear_retry_flags(b);
    int w = BIO_write(next, p, n);
    if (w > 0 && f != NULL && f->copying)
        keep(f, p, (size_t)w);
    BIO_copy_next_retry(b);
    return w;
}

static int f_read(BIO *b, char *p, int n)
{
    BIO *next = BIO_next(b);
    if (next == NULL)
        return -1;
    BIO_clear_retry_flags(b);
    int r = BIO_read(next, p, n);
    BIO_copy_next_retry(b);
    return r;
}

static long f_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    BIO *next = BIO_next(b);
    if (cmd == BIO_CTRL_PUSH || cmd == BIO_CTRL_POP || next == NULL)
        return 0;
    return BIO_ctrl(next, cmd, num, ptr);
}

static int f_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int f_destroy(BIO *b)
{
    struct filter *f = BIO_get_data(b);
    if (f != NULL) {
        free(f->buf);
        free(f);
    }
    BIO_set_data(b, NULL);
    return 1;
}

static void method_init(void)
{
    int type = BIO_get_new_index();
    BIO_METHOD *m = type > 0 ? BIO_meth_new(type | BIO_TYPE_FILTER, "rsp TLS alert") : NULL;
    if (m == NULL)
        return;
    if (BIO_meth_set_write(m, f_write) != 1 || BIO_meth_set_read(m, f_read) != 1 ||
        BIO_meth_set_ctrl(m, f_ctrl) != 1 || BIO_meth_set_create(m, f_create) != 1 ||
        BIO_meth_set_destroy(m, f_destroy) != 1) {
        BIO_meth_free(m);
        return;
    }
    method_type = type | BIO_TYPE_FILTER;
    method = m;
}

static struct filter *filter_of(SSL *ssl)
{
    BIO *b = SSL_get_wbio(ssl);
    return b != NULL && method != NULL && BIO_method_type(b) == method_type ? BIO_get_data(b) : NULL;
}

int rsp_tls_alert_attach(SSL *ssl, int fd)
{
    pthread_once(&method_once, method_init);
    if (method == NULL || fd < 0)
        return -1;
    if (filter_of(ssl) != NULL)
        return 0;
    BIO *next = SSL_get_wbio(ssl);
    struct filter *f = calloc(1, sizeof(*f));
    BIO *b = f != NULL && next != NULL ? BIO_new(method) : NULL;
    if (b == NULL || BIO_up_ref(next) != 1) {
        BIO_free(b);
        free(f);
        return -1;
    }
    f->fd = fd;
    f->copying = 1;
    BIO_set_data(b, f);
    BIO_push(b, next);
    /* Drops the SSL's reference to `next` as its write BIO; ours (taken above) replaces it. */
    SSL_set0_wbio(ssl, b);
    return 0;
}

void rsp_tls_alert_fatal(SSL *ssl)
{
    struct filter *f = filter_of(ssl);
    if (f != NULL && f->copying)
        f->fatal = 1;
}

void rsp_tls_alert_exit(SSL *ssl)
{
    struct filter *f = filter_of(ssl);
    if (f == NULL)
        return;
    if (f->fatal && !f->over) {
        /* The socket has room for a few bytes at this point (h2o sent all earlier flights before
         * reading); a short or failed write only loses the alert, as before. */
        size_t off = 0;
        while (off < f->len) {
            ssize_t w = send(f->fd, f->buf + off, f->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        /* The FIN follows the alert, and what the client already sent (its Finished, perhaps its
         * request) is read away: closed with unread bytes, the socket would send a reset, and a client
         * that sees the reset first (curl checks the peer's address then) never reads the alert. */
        shutdown(f->fd, SHUT_WR);
        char sink[4096];
        for (int i = 0; i < 16 && recv(f->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
            ;
        f->copying = 0;
    }
    f->len = 0;
    f->over = 0;
    f->fatal = 0;
}

void rsp_tls_alert_done(SSL *ssl)
{
    struct filter *f = filter_of(ssl);
    if (f == NULL)
        return;
    f->copying = 0;
    free(f->buf);
    f->buf = NULL;
    f->len = f->cap = 0;
}
