/* The harness's own checks: what a failing check prints, and that it is counted, then forgiven here. */
#include "tests/unit/ut_status.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char report[4096];
static int saved_fd = -1, captured_fd;
static FILE *capture;

/* Sends fd (stderr or stdout) into a temporary file until captured() returns its text. */
static void capture_start(int fd)
{
    fflush(NULL);
    capture = tmpfile();
    captured_fd = fd;
    saved_fd = dup(fd);
    dup2(fileno(capture), fd);
}

static const char *captured(void)
{
    fflush(NULL);
    dup2(saved_fd, captured_fd);
    close(saved_fd);
    rewind(capture);
    size_t n = fread(report, 1, sizeof(report) - 1, capture);
    report[n] = '\0';
    fclose(capture);
    return report;
}

/* Runs one failing check with its report captured; the failure is taken back so that the run passes. */
#define EXPECT_FAILURE(check, needle)                                                                        \
    do {                                                                                                     \
        int before_ = ut_failures;                                                                           \
        capture_start(STDERR_FILENO);                                                                        \
        check;                                                                                               \
        const char *r_ = captured();                                                                         \
        int failed_ = ut_failures - before_;                                                                 \
        ut_failures = before_;                                                                               \
        UT_EQ(failed_, 1);                                                                                   \
        if (strstr(r_, needle) == NULL) {                                                                    \
            ut_fail(__FILE__, __LINE__, "report has " #needle);                                              \
            fprintf(stderr, "    report: %s\n", r_);                                                         \
        }                                                                                                    \
    } while (0)

static void test_passing_checks(void)
{
    UT_STREQ("abc", "abc");
    UT_STREQ(NULL, NULL);
    UT_MEMEQ("\x01\x02", 2, "\x01\x02", 2);
    UT_MEMEQ(NULL, 0, "", 0);
    UT_STATUS(RSP_ST_EVENT_UNKNOWN, RSP_ST_EVENT_UNKNOWN);
    UT_EQ(ut_failures, 0);
}

static void test_failure_reports(void)
{
    EXPECT_FAILURE(UT_STATUS(RSP_ST_EVENT_UNKNOWN, RSP_ST_EVENT_EXISTS), "got 8.9.5/3.9, expected 8.9.5/3.3");
    EXPECT_FAILURE(UT_STATUS(RSP_OK, RSP_ST_CC_REFUSED), "got OK, expected 8.2.7/3.8");
    EXPECT_FAILURE(UT_STREQ("abd", "abc"), "got      \"abd\"\n    expected \"abc\"");
    EXPECT_FAILURE(UT_STREQ(NULL, "x"), "got      NULL");
    EXPECT_FAILURE(UT_STREQ("x", NULL), "expected NULL");
    static const unsigned char a[20] = {[17] = 0xaa}, b[20] = {[17] = 0xbb};
    EXPECT_FAILURE(UT_MEMEQ(a, sizeof(a), b, sizeof(b)), "first difference at byte 17");
    EXPECT_FAILURE(UT_MEMEQ(a, sizeof(a), b, sizeof(b)), "000010  00 aa 00 00");
    EXPECT_FAILURE(UT_MEMEQ(a, 3, a, 4), "first difference at byte 3");
    EXPECT_FAILURE(UT_EQ(21, 22), "got 21, expected 22");
}

static void test_skip_counted(void)
{
    int before = ut_skips;
    capture_start(STDOUT_FILENO); /* this run's log must not show a skip: tools/test would count it */
    ut_skip("%s: not here", "something");
    const char *line = captured();
    UT_EQ(ut_skips, before + 1);
    ut_skips = before;
    UT_STREQ(line, "SKIP something: not here\n");
}

int main(void)
{
    UT_RUN(test_passing_checks);
    UT_RUN(test_failure_reports);
    UT_RUN(test_skip_counted);
    return ut_finish();
}
