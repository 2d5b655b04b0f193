/*
 * Minimal unit-test harness: each test file defines test functions, lists them
 * in main() with UT_RUN, and returns ut_finish().  Failures print file:line,
 * the expression and both values (numbers, strings, or a hex dump around the
 * first differing byte); the process exits non-zero if any check failed.
 *
 * A check that cannot run here (material or a program missing) calls ut_skip(),
 * which prints a line starting "SKIP " and is counted apart from passes:
 * tools/test reports the test targets that skipped anything.  GSMA status
 * checks are in tests/unit/ut_status.h (they need rsp/status).
 */
#ifndef UT_H
#define UT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int ut_failures;
extern int ut_checks;
extern int ut_skips;

void ut_fail(const char *file, int line, const char *expr);

/* Prints "SKIP <why>" (printf format) and counts one skip. */
void ut_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The failure reports of UT_STREQ and UT_MEMEQ (NULL strings print as NULL). */
void ut_fail_str(const char *file, int line, const char *expr, const char *got, const char *want);
void ut_fail_mem(const char *file, int line, const char *expr, const void *got, size_t got_len,
                 const void *want, size_t want_len);
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

/* Equal strings; either may be NULL (equal only to NULL). */
#define UT_STREQ(a, b)                                                                                       \
    do {                                                                                                     \
        const char *ut_a_ = (a), *ut_b_ = (b);                                                               \
        ut_checks++;                                                                                         \
        if (ut_a_ == NULL || ut_b_ == NULL ? ut_a_ != ut_b_ : strcmp(ut_a_, ut_b_) != 0)                     \
            ut_fail_str(__FILE__, __LINE__, #a " == " #b, ut_a_, ut_b_);                                     \
    } while (0)

/* Equal byte strings (length and content). */
#define UT_MEMEQ(a, alen, b, blen)                                                                           \
    do {                                                                                                     \
        const void *ut_a_ = (a), *ut_b_ = (b);                                                               \
        size_t ut_al_ = (size_t)(alen), ut_bl_ = (size_t)(blen);                                             \
        ut_checks++;                                                                                         \
        if (ut_al_ != ut_bl_ || (ut_al_ > 0 && memcmp(ut_a_, ut_b_, ut_al_) != 0))                           \
            ut_fail_mem(__FILE__, __LINE__, #a " == " #b, ut_a_, ut_al_, ut_b_, ut_bl_);                     \
    } while (0)

#define UT_RUN(fn) ut_run(#fn, fn)

#endif
