#include "rsp/log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static enum rsp_log_level min_level = RSP_LOG_INFO;
static char service[32] = "rsp";
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

int rsp_log_open(const char *path)
{
    int fd = 2;
    if (path && *path && strcmp(path, "-") != 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
            return -1;
    }
    pthread_mutex_lock(&open_lock);
    int old = log_fd;
    log_fd = fd;
    pthread_mutex_unlock(&open_lock);
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

static void put_head(struct lbuf *b, const char *level)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    char head[96];
    int n = snprintf(head, sizeof(head), "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\"", ts,
                     (int)(tv.tv_usec / 1000), level);
    put(b, head, n);
    put_field(b, "service", service);
}

static void emit(struct lbuf *b)
{
    put(b, "}", 1);
    b->p[b->len++] = '\n';
    ssize_t w = write(log_fd, b->p, (size_t)b->len);
    (void)w;
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
    put_field(&b, "detail", a->detail);
    put(&b, "}", 1);
    b.p[b.len] = 0;
    return b.len;
}

void rsp_log_access(const rsp_access *a)
{
    char line[2048];
    int n = rsp_log_format_access(line, (int)sizeof(line) - 1, a);
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w;
}
