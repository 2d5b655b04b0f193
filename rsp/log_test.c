#include "rsp/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static void test_access_line(void)
{
    char buf[2048];
    rsp_access a = {"POST",      "/gsma/rsp2/es12/registerEvent",
                    200,         "registerEvent",
                    "8.9.5/3.3", 1234,
                    "2.999.10",  "dup \"id\"\n\x01"};
    int n = rsp_log_format_access(buf, sizeof(buf), &a);
    UT_EQ((int)strlen(buf), n);
    UT_CHECK(buf[0] == '{' && buf[n - 1] == '}');
    UT_CHECK(strstr(buf, "\"status\":200,\"latency_us\":1234") != NULL);
    UT_CHECK(strstr(buf, "\"code\":\"8.9.5/3.3\"") != NULL);
    UT_CHECK(strstr(buf, "\"detail\":\"dup \\\"id\\\"\\u000a\\u0001\"") != NULL);
    UT_CHECK(strchr(buf, '\n') == NULL);
}

static void test_truncation_stays_bounded(void)
{
    char big[4000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    rsp_access a = {"POST", big, 413, NULL, NULL, 0, NULL, NULL};
    char buf[256];
    int n = rsp_log_format_access(buf, sizeof(buf), &a);
    UT_CHECK(n < (int)sizeof(buf));
    UT_EQ((int)strlen(buf), n);
}

static void test_file_output(void)
{
    char path[512];
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(path, sizeof(path), "%s/log.jsonl", tmp ? tmp : "/tmp");
    unlink(path);
    UT_EQ(rsp_log_open(path), 0);
    rsp_log_set_service("smds");
    rsp_log(RSP_LOG_INFO, "hello %d", 42);
    rsp_log(RSP_LOG_DEBUG, "hidden");
    UT_EQ(rsp_log_open(NULL), 0);
    size_t len;
    uint8_t *data = ut_read_file(path, &len);
    UT_CHECK(data != NULL);
    if (data) {
        data[len - 1] = 0;
        UT_CHECK(strstr((char *)data, "\"service\":\"smds\",\"msg\":\"hello 42\"}") != NULL);
        UT_CHECK(strstr((char *)data, "hidden") == NULL);
        free(data);
    }
    unlink(path);
}

int main(void)
{
    UT_RUN(test_access_line);
    UT_RUN(test_truncation_stays_bounded);
    UT_RUN(test_file_output);
    return ut_finish();
}
