#include "rsp/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 2048 /* one line, newline included */
#define TBUF_CAP (32 * 1024)

static int log_fd = 2; /* under write_lock */
static enum rsp_log_level min_level = RSP_LOG_INFO;
static char service[32] = "rsp";
/* Serialises writes (and the fd swap): a batch larger than PIPE_BUF must not
 * interleave with another thread's line when the log is a pipe. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * A thread's access-log buffer.  Lock order: bufs_lock, then a buffer's mu,
 * then write_lock.  The owning thread appends under mu; the flusher, close
 * and reopen flush it under mu too.
 */
typedef struct tbuf {
    struct tbuf *next;
    pthread_mutex_t mu;
    int len;
    char data[TBUF_CAP];
} tbuf;

static pthread_mutex_t bufs_lock = PTHREAD_MUTEX_INITIALIZER;
static tbuf *bufs;
static __thread tbuf *t_buf;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static pthread_key_t buf_key;
static bool buf_ready;

/* The flusher sleeps until some buffer goes from empty to non-empty. */
static pthread_mutex_t flusher_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flusher_cv = PTHREAD_COND_INITIALIZER;
static atomic_bool pending;

static void write_all(const char *p, size_t n)
{
    pthread_mutex_lock(&write_lock);
    while (n > 0) {
        ssize_t w = write(log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere to report a failing log */
        p += w;
        n -= (size_t)w;
    }
    pthread_mutex_unlock(&write_lock);
}

static void buf_flush_locked(tbuf *b)
{
    if (b->len > 0)
        write_all(b->data, (size_t)b->len);
    b->len = 0;
}

void rsp_log_flush(void)
{
    pthread_mutex_lock(&bufs_lock);
    for (tbuf *b = bufs; b; b = b->next) {
        pthread_mutex_lock(&b->mu);
        buf_flush_locked(b);
        pthread_mutex_unlock(&b->mu);
    }
    pthread_mutex_unlock(&bufs_lock);
}

static void *flusher(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&flusher_mu);
        while (!atomic_load(&pending))
            pthread_cond_wait(&flusher_cv, &flusher_mu);
        pthread_mutex_unlock(&flusher_mu);
        /* Let a batch gather; a line waits at most about this long. */
        struct timespec ts = {0, RSP_LOG_FLUSH_MS * 1000000L};
        nanosleep(&ts, NULL);
        atomic_store(&pending, false);
        rsp_log_flush();
    }
    return NULL;
}

/* Thread exit: the thread's lines go out, then its buffer goes. */
static void buf_thread_exit(void *p)
{
    tbuf *b = p;
    pthread_mutex_lock(&bufs_lock);
    for (tbuf **pp = &bufs; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    pthread_mutex_lock(&b->mu);
    buf_flush_locked(b);
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_unlock(&bufs_lock);
    pthread_mutex_destroy(&b->mu);
    free(b);
    /* A later destructor that logs gets a new buffer (and this destructor again). */
    t_buf = NULL;
}

static void buf_init_once(void)
{
    pthread_t t;
    pthread_attr_t attr;
    if (pthread_key_create(&buf_key, buf_thread_exit) != 0)
        return;
    if (atexit(rsp_log_flush) != 0)
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The flusher may start before a service blocks its control signals; it must never take them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    buf_ready = pthread_create(&t, &attr, flusher, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

/* The calling thread's buffer, created on first use; NULL means write unbuffered. */
static tbuf *buf_get(void)
{
    if (t_buf)
        return t_buf;
    pthread_once(&buf_once, buf_init_once);
    if (!buf_ready)
        return NULL;
    tbuf *b = malloc(sizeof(*b));
    if (!b)
        return NULL;
    b->len = 0;
    pthread_mutex_init(&b->mu, NULL);
    if (pthread_setspecific(buf_key, b) != 0) {
        pthread_mutex_destroy(&b->mu);
        free(b);
        return NULL;
    }
    pthread_mutex_lock(&bufs_lock);
    b->next = bufs;
    bufs = b;
    pthread_mutex_unlock(&bufs_lock);
    return t_buf = b;
}

/* Keeps one thread's lines in order: its buffered access lines go before a message line. */
static void flush_own(void)
{
    tbuf *b = t_buf;
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    buf_flush_locked(b);
    pthread_mutex_unlock(&b->mu);
}

int rsp_log_open(const char *path)
{
    int fd = 2;
    if (path && *path && strcmp(path, "-") != 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
            return -1;
    }
    /* Lines logged before the reopen belong to the old file. */
    rsp_log_flush();
    pthread_mutex_lock(&write_lock);
    int old = log_fd;
    log_fd = fd;
    pthread_mutex_unlock(&write_lock);
    if (old != 2)
        close(old);
    return 0;
}

void rsp_log_set_level(enum rsp_log_level min)
{
    min_level = min;
}

void rsp_log_set_service(const char *name)
{
    snprintf(service, sizeof(service), "%s", name);
}

struct lbuf {
    char *p;
    int len, cap;
};

static void put(struct lbuf *b, const char *s, int n)
{
    if (n > b->cap - 1 - b->len)
        n = b->cap - 1 - b->len;
    if (n > 0) {
        memcpy(b->p + b->len, s, (size_t)n);
        b->len += n;
    }
}

static void put_str(struct lbuf *b, const char *s)
{
    put(b, s, (int)strlen(s));
}

/* JSON string with escaping; control and non-ASCII bytes become \u00XX so a
 * line stays valid whatever bytes a client sent. */
static void put_json(struct lbuf *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(b, esc, 2);
        } else if (*p < 0x20 || *p >= 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            put(b, esc, 6);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    put(b, "\"", 1);
}

static void put_field(struct lbuf *b, const char *key, const char *val)
{
    if (!val)
        return;
    put(b, ",\"", 2);
    put_str(b, key);
    put(b, "\":", 2);
    put_json(b, val);
}

/* The thread's last formatted second: strftime once a second, not per line. */
static __thread time_t t_sec = -1;
static __thread char t_ts[24];

static void put_head(struct lbuf *b, const char *level)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != t_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        strftime(t_ts, sizeof(t_ts), "%Y-%m-%dT%H:%M:%S", &tm);
        t_sec = tv.tv_sec;
    }
    int ms = (int)(tv.tv_usec / 1000);
    char frac[6] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z', '"'};
    put(b, "{\"ts\":\"", 7);
    put_str(b, t_ts);
    put(b, frac, 6);
    put(b, ",\"level\":\"", 10);
    put_str(b, level);
    put(b, "\"", 1);
    put_field(b, "service", service);
}

static void emit(struct lbuf *b)
{
    put(b, "}", 1);
    b->p[b->len++] = '\n';
    flush_own();
    write_all(b->p, (size_t)b->len);
}

static const char *level_name(enum rsp_log_level l)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    return names[l];
}

void rsp_log(enum rsp_log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char msg[1024], line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct lbuf b = {line, 0, sizeof(line)};
    put_head(&b, level_name(level));
    put_field(&b, "msg", msg);
    emit(&b);
}

int rsp_log_format_access(char *buf, int cap, const rsp_access *a)
{
    struct lbuf b = {buf, 0, cap};
    char num[64];
    put_head(&b, "info");
    put_field(&b, "type", "access");
    put_field(&b, "method", a->method);
    put_field(&b, "path", a->path);
    int n = snprintf(num, sizeof(num), ",\"status\":%d,\"latency_us\":%llu", a->http_status,
                     (unsigned long long)a->latency_us);
    put(&b, num, n);
    put_field(&b, "function", a->function);
    put_field(&b, "code", a->code);
    put_field(&b, "peer", a->peer);
    put_field(&b, "addr", a->addr);
    put_field(&b, "detail", a->detail);
    put_field(&b, "callId", a->call_id);
    put(&b, "}", 1);
    b.p[b.len] = 0;
    return b.len;
}

static atomic_bool access_on = true;

void rsp_log_set_access(bool on)
{
    atomic_store(&access_on, on);
}

void rsp_log_access(const rsp_access *a)
{
    if (!atomic_load(&access_on) || min_level > RSP_LOG_INFO)
        return;
    tbuf *b = buf_get();
    if (!b) {
        char line[LINE_MAX_LEN];
        int n = rsp_log_format_access(line, (int)sizeof(line), a);
        line[n++] = '\n';
        write_all(line, (size_t)n);
        return;
    }
    pthread_mutex_lock(&b->mu);
    if (TBUF_CAP - b->len < LINE_MAX_LEN)
        buf_flush_locked(b);
    bool was_empty = b->len == 0;
    /* The line's NUL lands where its newline goes: n < LINE_MAX_LEN. */
    int n = rsp_log_format_access(b->data + b->len, LINE_MAX_LEN, a);
    b->data[b->len + n] = '\n';
    b->len += n + 1;
    pthread_mutex_unlock(&b->mu);
    if (was_empty && !atomic_exchange(&pending, true)) {
        pthread_mutex_lock(&flusher_mu);
        pthread_cond_signal(&flusher_cv);
        pthread_mutex_unlock(&flusher_mu);
    }
}
