#include "bench/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static void test_percentiles(void)
{
    bench_samples s = {0};
    bench_pcts p;
    UT_EQ(bench_percentiles(&s, &p), 0);
    UT_EQ(p.p99, 0);
    /* 1..1000 µs in reverse order: nearest rank gives k for the k-th permille. */
    for (int i = 1000; i >= 1; i--)
        UT_EQ(bench_samples_add(&s, (uint64_t)i * 1000, (uint64_t)i), 0);
    UT_EQ(bench_percentiles(&s, &p), 0);
    UT_EQ(p.p50, 500);
    UT_EQ(p.p90, 900);
    UT_EQ(p.p99, 990);
    UT_EQ(p.max, 1000);
    UT_CHECK(p.mean > 500.4 && p.mean < 500.6);
    /* The samples themselves stay in arrival order. */
    UT_EQ(s.v[0].lat_us, 1000);

    bench_samples one = {0};
    UT_EQ(bench_samples_add(&one, 5, 42), 0);
    UT_EQ(bench_percentiles(&one, &p), 0);
    UT_EQ(p.p50, 42);
    UT_EQ(p.p99, 42);

    bench_samples m = {0};
    UT_EQ(bench_samples_merge(&m, &s), 0);
    UT_EQ(bench_samples_merge(&m, &one), 0);
    UT_EQ(m.n, 1001);
    UT_EQ(m.v[1000].lat_us, 42);
    bench_samples_free(&m);
    bench_samples_free(&one);
    bench_samples_free(&s);
    UT_CHECK(s.v == NULL && s.n == 0);
}

static void test_series(void)
{
    bench_samples s = {0};
    bench_series r;
    UT_EQ(bench_series_make(&s, 0, &r), 0);
    UT_EQ(r.n, 0);
    /* Second 0: three samples; second 1: none; second 2: two, the last at 2.5 s. */
    bench_samples_add(&s, 2500000, 7);
    bench_samples_add(&s, 100, 10);
    bench_samples_add(&s, 999999, 30);
    bench_samples_add(&s, 500000, 20);
    bench_samples_add(&s, 2000000, 9);
    UT_EQ(bench_series_make(&s, 1000000, &r), 0);
    UT_EQ(r.n, 3);
    UT_EQ(r.width_us, 1000000);
    UT_EQ(r.b[0].count, 3);
    UT_CHECK(r.b[0].rate > 2.99 && r.b[0].rate < 3.01);
    UT_EQ(r.b[0].p50_us, 20);
    UT_EQ(r.b[0].p99_us, 30);
    UT_EQ(r.b[1].count, 0);
    UT_CHECK(r.b[1].t_s > 0.99 && r.b[1].t_s < 1.01);
    UT_EQ(r.b[2].count, 2);
    UT_CHECK(r.b[2].rate > 3.99 && r.b[2].rate < 4.01); /* 2 in the half second it covers */
    UT_EQ(r.b[2].p50_us, 7);
    UT_EQ(r.b[2].p99_us, 9);
    bench_series_free(&r);
    /* Chosen width: 2.5 s of samples get 0.1 s buckets (at most 60). */
    UT_EQ(bench_series_make(&s, 0, &r), 0);
    UT_EQ(r.width_us, 100000);
    UT_EQ(r.n, 26);
    bench_series_free(&r);
    bench_samples_add(&s, 100000000, 5);
    UT_EQ(bench_series_make(&s, 0, &r), 0);
    UT_EQ(r.width_us, 2000000);
    UT_CHECK(r.n <= 60);
    bench_series_free(&r);
    bench_samples_free(&s);
}

static void test_stat_parse(void)
{
    /* A command name with a space and a parenthesis; utime 250, stime 50 ticks. */
    const char *line = "4242 (sm ds) x) S 1 4242 4242 0 -1 4194560 1234 0 5 0 250 50 0 0 20 0 3 0 99 1 1";
    double cpu = bench_parse_stat(line, 100);
    UT_CHECK(cpu > 2.999 && cpu < 3.001);
    UT_CHECK(bench_parse_stat("garbage", 100) < 0);
    UT_CHECK(bench_parse_stat("1 (x) S 1 2", 100) < 0);
    UT_CHECK(bench_parse_stat(line, 0) < 0);

    /* Our own process: burn some CPU and see it counted. */
    double before = bench_proc_cpu(getpid());
    UT_CHECK(before >= 0);
    double t0 = bench_thread_cpu();
    volatile uint64_t x = 1;
    while (bench_thread_cpu() - t0 < 0.05)
        for (int i = 0; i < 100000; i++)
            x = x * 6364136223846793005u + 1;
    double after = bench_proc_cpu(getpid());
    UT_CHECK(after >= before + 0.02);
    UT_CHECK(bench_self_cpu() >= 0.05);
    UT_CHECK(bench_proc_cpu(-5) < 0);

    double busy = bench_parse_proc_stat("cpu  100 20 30 5000 70 4 6 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n", 100);
    UT_CHECK(busy > 1.699 && busy < 1.701);
    UT_CHECK(bench_parse_proc_stat("intr 1 2 3", 100) < 0);
    UT_CHECK(bench_machine_busy() > 0);
    uint64_t a = bench_now_us();
    usleep(2000);
    UT_CHECK(bench_now_us() - a >= 2000);
}

int main(void)
{
    UT_RUN(test_percentiles);
    UT_RUN(test_series);
    UT_RUN(test_stat_parse);
    return ut_finish();
}
