#include "rsp/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static void test_access_line(void)
{
    char buf[2048];
    rsp_access a = {"POST",      "/gsma/rsp2/es12/registerEvent",
                    200,         "registerEvent",
                    "8.9.5/3.3", 1234,
                    "2.999.10",  "dup \"id\"\n\x01",
                    "op-call-7", "203.0.113.7"};
    int n = rsp_log_format_access(buf, sizeof(buf), &a);
    UT_EQ((int)strlen(buf), n);
    UT_CHECK(buf[0] == '{' && buf[n - 1] == '}');
    UT_CHECK(strstr(buf, "\"status\":200,\"latency_us\":1234") != NULL);
    UT_CHECK(strstr(buf, "\"code\":\"8.9.5/3.3\"") != NULL);
    UT_CHECK(strstr(buf, "\"callId\":\"op-call-7\"") != NULL);
    UT_CHECK(strstr(buf, "\"peer\":\"2.999.10\",\"addr\":\"203.0.113.7\"") != NULL);
    UT_CHECK(strstr(buf, "\"detail\":\"dup \\\"id\\\"\\u000a\\u0001\"") != NULL);
    UT_CHECK(strchr(buf, '\n') == NULL);
    /* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ","level":"info", ... */
    int y, mo, d, h, mi, sec, ms;
    char z = 0;
    UT_EQ(sscanf(buf, "{\"ts\":\"%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z), 8);
    UT_EQ(z, 'Z');
    static const char after_ts[] = "\",\"level\":\"info\",\"service\":";
    UT_CHECK(strncmp(buf + 31, after_ts, sizeof(after_ts) - 1) == 0);
}

static void test_truncation_stays_bounded(void)
{
    char big[4000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    rsp_access a = {"POST", big, 413, NULL, NULL, 0, NULL, NULL, NULL, NULL};
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

static void tmp_path(char *path, size_t cap, const char *name)
{
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(path, cap, "%s/%s", tmp ? tmp : "/tmp", name);
    unlink(path);
}

/* The file as a NUL-terminated string (malloc'd), or NULL. */
static char *read_text(const char *path)
{
    size_t len;
    uint8_t *data = ut_read_file(path, &len);
    char *s = data ? malloc(len + 1) : NULL;
    if (s) {
        memcpy(s, data, len);
        s[len] = 0;
    }
    free(data);
    return s;
}

/* Whole lines of path that contain needle (0 when the file cannot be read). */
static int count_lines(const char *path, const char *needle)
{
    char *data = read_text(path);
    if (!data)
        return 0;
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (strstr(l, needle) && l[0] == '{' && l[strlen(l) - 1] == '}')
            n++;
    free(data);
    return n;
}

static void access_line(const char *path)
{
    rsp_access a = {"POST", path, 200, "ES12.RegisterEvent", "OK", 7, "2.999.10", NULL, NULL, NULL};
    rsp_log_access(&a);
}

static void test_access_flush(void)
{
    char path[512];
    tmp_path(path, sizeof(path), "access.jsonl");
    UT_EQ(rsp_log_open(path), 0);
    for (int i = 0; i < 500; i++)
        access_line("/flushed");
    rsp_log_flush();
    /* 500 lines of about 230 bytes: some batches went out when the buffer filled. */
    UT_EQ(count_lines(path, "\"path\":\"/flushed\""), 500);
    UT_EQ(rsp_log_open(NULL), 0);
    unlink(path);
}

/* log.access off, or log.level above info: no access lines at all. */
static void test_access_switch(void)
{
    char path[512];
    tmp_path(path, sizeof(path), "switch.jsonl");
    UT_EQ(rsp_log_open(path), 0);
    rsp_log_set_access(false);
    access_line("/off");
    rsp_log_set_access(true);
    rsp_log_set_level(RSP_LOG_WARN);
    access_line("/warn");
    rsp_log_set_level(RSP_LOG_INFO);
    access_line("/on");
    rsp_log_flush();
    UT_EQ(count_lines(path, "\"path\":\"/off\""), 0);
    UT_EQ(count_lines(path, "\"path\":\"/warn\""), 0);
    UT_EQ(count_lines(path, "\"path\":\"/on\""), 1);
    UT_EQ(rsp_log_open(NULL), 0);
    unlink(path);
}

static void test_access_timer(void)
{
    char path[512];
    tmp_path(path, sizeof(path), "timer.jsonl");
    UT_EQ(rsp_log_open(path), 0);
    access_line("/timer");
    int n = 0;
    for (int i = 0; i < 200 && n == 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        n = count_lines(path, "\"path\":\"/timer\"");
    }
    UT_EQ(n, 1);
    UT_EQ(rsp_log_open(NULL), 0);
    unlink(path);
}

static void test_access_reopen(void)
{
    char a[512], b[512];
    tmp_path(a, sizeof(a), "before.jsonl");
    tmp_path(b, sizeof(b), "after.jsonl");
    UT_EQ(rsp_log_open(a), 0);
    access_line("/before");
    UT_EQ(rsp_log_open(b), 0);
    access_line("/after");
    rsp_log_flush();
    UT_EQ(count_lines(a, "/before"), 1);
    UT_EQ(count_lines(a, "/after"), 0);
    UT_EQ(count_lines(b, "/after"), 1);
    UT_EQ(rsp_log_open(NULL), 0);
    unlink(a);
    unlink(b);
}

/* A message line follows the thread's own pending access lines. */
static void test_message_after_access(void)
{
    char path[512];
    tmp_path(path, sizeof(path), "order.jsonl");
    UT_EQ(rsp_log_open(path), 0);
    access_line("/first");
    rsp_log(RSP_LOG_WARN, "second");
    char *data = read_text(path);
    UT_CHECK(data != NULL);
    if (data) {
        char *first = strstr(data, "/first"), *second = strstr(data, "second");
        UT_CHECK(first && second && first < second);
        free(data);
    }
    UT_EQ(rsp_log_open(NULL), 0);
    unlink(path);
}

static void *logging_thread(void *arg)
{
    for (int i = 0; i < 300; i++)
        access_line(arg);
    return NULL;
}

/* Threads log concurrently, then exit: every line arrives whole, none lost. */
static void test_access_threads(void)
{
    char path[512];
    tmp_path(path, sizeof(path), "threads.jsonl");
    UT_EQ(rsp_log_open(path), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        UT_EQ(pthread_create(&t[i], NULL, logging_thread, "/threads"), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    UT_EQ(count_lines(path, "\"path\":\"/threads\""), 1200);
    UT_EQ(rsp_log_open(NULL), 0);
    unlink(path);
}

int main(void)
{
    UT_RUN(test_access_line);
    UT_RUN(test_truncation_stays_bounded);
    UT_RUN(test_file_output);
    UT_RUN(test_access_flush);
    UT_RUN(test_access_timer);
    UT_RUN(test_access_switch);
    UT_RUN(test_access_reopen);
    UT_RUN(test_message_after_access);
    UT_RUN(test_access_threads);
    return ut_finish();
}
