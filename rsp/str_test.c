#include <string.h>

#include "rsp/str.h"
#include "tests/unit/ut.h"

static void test_copy(void)
{
    char f[4] = "xyz";
    UT_EQ(rsp_str_copy(f, sizeof(f), "abc"), 0);
    UT_CHECK(strcmp(f, "abc") == 0);
    UT_EQ(rsp_str_copy(f, sizeof(f), "abcd"), -1); /* no room for the NUL: refused, not cut */
    UT_CHECK(strcmp(f, "abc") == 0);
    UT_EQ(rsp_str_copy(f, sizeof(f), NULL), 0);
    UT_CHECK(f[0] == '\0');
    UT_EQ(rsp_str_copy(f, 0, ""), -1);
}

int main(void)
{
    UT_RUN(test_copy);
    return ut_finish();
}
