#include "bench/procs.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static char dir[512];

static const char *h2load_out =
    "starting benchmark...\n"
    "Application protocol: h2\n"
    "\n"
    "finished in 3.01s, 239861.33 req/s, 6.18MB/s\n"
    "requests: 719584 total, 719648 started, 719584 done, 719580 succeeded, 4 failed, 0 errored, 0 timeout\n"
    "status codes: 719580 2xx, 0 3xx, 4 4xx, 0 5xx\n"
    "traffic: 18.53MB (19429050) total, 4.80MB (5037310) headers (space savings 92.63%), 1.37MB data\n";

static void test_parse(void)
{
    int d, s;
    UT_EQ(bench_parse_ports("device 8443\ns2s 8444\n", &d, &s), 0);
    UT_EQ(d, 8443);
    UT_EQ(s, 8444);
    UT_EQ(bench_parse_ports("s2s 1\ndevice 2", &d, &s), 0);
    UT_EQ(d, 2);
    UT_EQ(s, 1);
    UT_EQ(bench_parse_ports("device 8443\n", &d, &s), -1);
    UT_EQ(bench_parse_ports("", &d, &s), -1);

    h2load_result r;
    UT_EQ(bench_parse_h2load(h2load_out, &r), 0);
    UT_CHECK(r.secs > 3.0 && r.secs < 3.02);
    UT_CHECK(r.rps > 239861 && r.rps < 239862);
    UT_EQ(r.total, 719584);
    UT_EQ(r.succeeded, 719580);
    UT_EQ(r.failed, 4);
    UT_EQ(r.status_2xx, 719580);
    UT_EQ(bench_parse_h2load("finished in 3.01s, 1 req/s\n", &r), -1);
    UT_EQ(bench_parse_h2load("connect error\n", &r), -1);
}

static void test_run(void)
{
    char *out = NULL;
    char *echo[] = {"/bin/sh", "-c", "echo hello; echo world >&2; exit 3", NULL};
    UT_EQ(bench_run(echo, &out, 10), 3);
    UT_CHECK(out && strstr(out, "hello") && strstr(out, "world"));
    free(out);
    char *slow[] = {"/bin/sleep", "30", NULL};
    UT_EQ(bench_run(slow, &out, 1), 128 + SIGKILL);
    free(out);
    char *missing[] = {"/nonexistent/tool", NULL};
    UT_EQ(bench_run(missing, &out, 5), 127);
    free(out);

    char p[600];
    UT_EQ(bench_which("sh", p, sizeof(p)), 0);
    UT_CHECK(bench_executable(p));
    UT_EQ(bench_which("no-such-tool-anywhere", p, sizeof(p)), -1);
    UT_CHECK(!bench_executable("/etc/hostname-not-there"));
}

static void test_server(void)
{
    char ports[600], out[600], script[2200], err[512];
    snprintf(ports, sizeof(ports), "%s/ports", dir);
    snprintf(out, sizeof(out), "%s/out", dir);
    /* A stand-in server: announces its ports, exits 0 on SIGTERM. */
    snprintf(script, sizeof(script),
             "trap 'exit 0' TERM; echo started; printf 'device 1111\\ns2s 2222\\n' > %s.tmp; mv %s.tmp %s; "
             "while :; do sleep 0.05; done",
             ports, ports, ports);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    bench_server s;
    UT_EQ(bench_server_start(&s, argv, ports, out, 5000, err, sizeof(err)), 0);
    UT_EQ(s.device_port, 1111);
    UT_EQ(s.s2s_port, 2222);
    UT_CHECK(s.pid > 0 && kill(s.pid, 0) == 0);
    pid_t pid = s.pid;
    UT_EQ(bench_server_stop(&s, 5000), 0);
    UT_CHECK(kill(pid, 0) != 0);
    UT_EQ(bench_server_stop(&s, 100), -1);

    /* One that dies first: its output is the error. */
    char *dies[] = {"/bin/sh", "-c", "echo cannot bind port; exit 1", NULL};
    UT_EQ(bench_server_start(&s, dies, ports, out, 5000, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "cannot bind port") != NULL);

    /* One that never writes its ports, and ignores SIGTERM. */
    char *mute[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30", NULL};
    UT_EQ(bench_server_start(&s, mute, ports, out, 300, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "no port file") != NULL);
}

int main(void)
{
    const char *t = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s", t ? t : "/tmp");
    UT_RUN(test_parse);
    UT_RUN(test_run);
    UT_RUN(test_server);
    return ut_finish();
}
