/*
 * Minimal unit-test harness: each test file defines test functions, lists them
 * in main() with UT_RUN, and returns ut_finish().  Failures print file:line and
 * the expression; the process exits non-zero if any check failed.
 */
#ifndef UT_H
#define UT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int ut_failures;
extern int ut_checks;

void ut_fail(const char *file, int line, const char *expr);
int ut_finish(void);
void ut_run(const char *name, void (*fn)(void));

/* Returns the shared test-material directory (env RSP_SHARED_DIR), or NULL
 * after printing a skip notice naming `what` when it is missing. */
const char *ut_shared_dir(const char *what);

/* Reads a whole file into a malloc'd buffer (caller frees). NULL on error. */
uint8_t *ut_read_file(const char *path, size_t *len);

/* Decodes a hex string into a malloc'd buffer (caller frees). */
uint8_t *ut_hex(const char *hex, size_t *len);

#define UT_CHECK(e)                                                                                          \
    do {                                                                                                     \
        ut_checks++;                                                                                         \
        if (!(e))                                                                                            \
            ut_fail(__FILE__, __LINE__, #e);                                                                 \
    } while (0)

#define UT_EQ(a, b)                                                                                          \
    do {                                                                                                     \
        long long ut_a_ = (long long)(a), ut_b_ = (long long)(b);                                            \
        ut_checks++;                                                                                         \
        if (ut_a_ != ut_b_) {                                                                                \
            ut_fail(__FILE__, __LINE__, #a " == " #b);                                                       \
            fprintf(stderr, "    got %lld, expected %lld\n", ut_a_, ut_b_);                                  \
        }                                                                                                    \
    } while (0)

#define UT_RUN(fn) ut_run(#fn, fn)

#endif
