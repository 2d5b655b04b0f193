/* Unit tests of rsp/err. */
#include "rsp/err.h"

#include <stdio.h>
#include <string.h>

#include "tests/unit/ut.h"

static void test_formats(void)
{
    char err[64];
    rsp_err_set(err, sizeof(err), "cannot load %s (%d)", "ci.pem", 7);
    UT_CHECK(strcmp(err, "cannot load ci.pem (7)") == 0);
}

static void test_truncates(void)
{
    char err[8];
    memset(err, 'x', sizeof(err));
    rsp_err_set(err, 6, "%s", "a longer message");
    UT_CHECK(strcmp(err, "a lon") == 0);
    UT_EQ(err[6], 'x'); /* nothing past errlen */
}

static void test_no_buffer(void)
{
    char err[4] = "abc";
    rsp_err_set(NULL, 10, "ignored %s", "x");
    rsp_err_set(err, 0, "ignored %s", "x");
    UT_CHECK(strcmp(err, "abc") == 0);
}

int main(void)
{
    UT_RUN(test_formats);
    UT_RUN(test_truncates);
    UT_RUN(test_no_buffer);
    return ut_finish();
}
