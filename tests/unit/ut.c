#include "tests/unit/ut.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ut_failures;
int ut_checks;
static int ut_tests;
static int ut_failed_tests;

void ut_fail(const char *file, int line, const char *expr)
{
    ut_failures++;
    fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
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
    printf("%d passed, %d failed (%d checks)\n", ut_tests - ut_failed_tests, ut_failed_tests, ut_checks);
    return ut_failures ? 1 : 0;
}

const char *ut_shared_dir(const char *what)
{
    const char *d = getenv("RSP_SHARED_DIR");
    if (d && *d)
        return d;
    printf("SKIP %s: shared test material not found (set RSP_SHARED_DIR)\n", what);
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
