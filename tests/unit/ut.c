#include "tests/unit/ut.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ut_failures;
int ut_checks;
int ut_skips;
static int ut_tests;
static int ut_failed_tests;

void ut_fail(const char *file, int line, const char *expr)
{
    ut_failures++;
    fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
}

void ut_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("SKIP ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    ut_skips++;
}

void ut_fail_str(const char *file, int line, const char *expr, const char *got, const char *want)
{
    ut_fail(file, line, expr);
    fprintf(stderr, "    got      %s%s%s\n", got ? "\"" : "", got ? got : "NULL", got ? "\"" : "");
    fprintf(stderr, "    expected %s%s%s\n", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
}

/* 16 bytes a line from `from`, at most 4 lines. */
static void dump(const char *label, const uint8_t *p, size_t len, size_t from)
{
    fprintf(stderr, "    %s (%zu bytes):\n", label, len);
    for (size_t off = from; off < len && off < from + 64; off += 16) {
        fprintf(stderr, "      %06zx ", off);
        for (size_t i = off; i < len && i < off + 16; i++)
            fprintf(stderr, " %02x", p[i]);
        fputc('\n', stderr);
    }
}

void ut_fail_mem(const char *file, int line, const char *expr, const void *got, size_t got_len,
                 const void *want, size_t want_len)
{
    const uint8_t *g = got, *w = want;
    size_t i = 0;
    while (i < got_len && i < want_len && g[i] == w[i])
        i++;
    ut_fail(file, line, expr);
    fprintf(stderr, "    first difference at byte %zu\n", i);
    size_t from = i & ~(size_t)15;
    dump("got", g, got_len, from);
    dump("expected", w, want_len, from);
}

void ut_run(const char *name, void (*fn)(void))
{
    int before = ut_failures;
    fn();
    ut_tests++;
    if (ut_failures != before) {
        ut_failed_tests++;
        printf("not ok %s\n", name);
    } else {
        printf("ok %s\n", name);
    }
}

int ut_finish(void)
{
    printf("%d passed, %d failed (%d checks, %d skipped)\n", ut_tests - ut_failed_tests, ut_failed_tests,
           ut_checks, ut_skips);
    return ut_failures ? 1 : 0;
}

const char *ut_shared_dir(const char *what)
{
    const char *d = getenv("RSP_SHARED_DIR");
    if (d && *d)
        return d;
    ut_skip("%s: shared test material not found (set RSP_SHARED_DIR)", what);
    return NULL;
}

uint8_t *ut_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        *len = n;
    return buf;
}

uint8_t *ut_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *out = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    *len = n;
    return out;
}
