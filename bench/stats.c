#include "bench/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int bench_samples_add(bench_samples *s, uint64_t end_us, uint64_t lat_us)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        bench_sample *nv = realloc(s->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = nc;
    }
    /* 32 bits of µs hold 71 minutes: longer than any phase. */
    s->v[s->n].end_us = end_us > UINT32_MAX ? UINT32_MAX : (uint32_t)end_us;
    s->v[s->n].lat_us = lat_us > UINT32_MAX ? UINT32_MAX : (uint32_t)lat_us;
    s->n++;
    return 0;
}

int bench_samples_merge(bench_samples *dst, const bench_samples *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (bench_samples_add(dst, src->v[i].end_us, src->v[i].lat_us) != 0)
            return -1;
    return 0;
}

void bench_samples_free(bench_samples *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint32_t rank(const uint32_t *v, size_t n, double p)
{
    size_t r = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (r < 1)
        r = 1;
    if (r > n)
        r = n;
    return v[r - 1];
}

int bench_percentiles(const bench_samples *s, bench_pcts *out)
{
    memset(out, 0, sizeof(*out));
    if (s->n == 0)
        return 0;
    uint32_t *v = malloc(s->n * sizeof(*v));
    if (!v)
        return -1;
    double sum = 0;
    for (size_t i = 0; i < s->n; i++) {
        v[i] = s->v[i].lat_us;
        sum += v[i];
    }
    qsort(v, s->n, sizeof(*v), cmp_u32);
    out->p50 = rank(v, s->n, 50);
    out->p90 = rank(v, s->n, 90);
    out->p99 = rank(v, s->n, 99);
    out->max = v[s->n - 1];
    out->mean = sum / (double)s->n;
    free(v);
    return 0;
}

static int cmp_end(const void *a, const void *b)
{
    const bench_sample *x = a, *y = b;
    return x->end_us < y->end_us ? -1 : x->end_us > y->end_us;
}

static uint64_t pick_width(uint64_t span_us)
{
    static const uint64_t widths[] = {100000, 200000, 250000, 500000, 1000000, 2000000, 5000000, 10000000};
    for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++)
        if (span_us / widths[i] < 60)
            return widths[i];
    return span_us / 59 + 1;
}

int bench_series_make(const bench_samples *s, uint64_t width_us, bench_series *out)
{
    out->b = NULL;
    out->n = 0;
    out->width_us = 0;
    if (s->n == 0)
        return 0;
    bench_sample *v = malloc(s->n * sizeof(*v));
    uint32_t *lat = malloc(s->n * sizeof(*lat));
    if (!v || !lat) {
        free(v);
        free(lat);
        return -1;
    }
    memcpy(v, s->v, s->n * sizeof(*v));
    qsort(v, s->n, sizeof(*v), cmp_end);
    uint64_t last = v[s->n - 1].end_us, w = width_us ? width_us : pick_width(last);
    size_t nb = (size_t)(last / w) + 1;
    out->b = calloc(nb, sizeof(*out->b));
    if (!out->b) {
        free(v);
        free(lat);
        return -1;
    }
    out->n = nb;
    out->width_us = w;
    for (size_t i = 0; i < s->n;) {
        size_t k = (size_t)(v[i].end_us / w), j = i;
        while (j < s->n && v[j].end_us / w == k) {
            lat[j - i] = v[j].lat_us;
            j++;
        }
        qsort(lat, j - i, sizeof(*lat), cmp_u32);
        out->b[k].count = (uint32_t)(j - i);
        out->b[k].p50_us = rank(lat, j - i, 50);
        out->b[k].p99_us = rank(lat, j - i, 99);
        i = j;
    }
    for (size_t k = 0; k < nb; k++) {
        out->b[k].t_s = (double)(k * w) / 1e6;
        /* The last bucket is cut short by the end of the phase. */
        uint64_t covered = k + 1 < nb ? w : last - k * w;
        if (covered < w / 10)
            covered = w / 10;
        out->b[k].rate = (double)out->b[k].count * 1e6 / (double)covered;
    }
    free(v);
    free(lat);
    return 0;
}

void bench_series_free(bench_series *s)
{
    free(s->b);
    s->b = NULL;
    s->n = 0;
}

double bench_parse_stat(const char *text, long ticks_per_s)
{
    /* The command name (field 2) may hold spaces and parentheses: fields
     * are counted from the last ')'. */
    const char *p = strrchr(text, ')');
    if (!p || ticks_per_s <= 0)
        return -1;
    p++;
    /* After ')': state(3) ppid(4) pgrp(5) session(6) tty(7) tpgid(8) flags(9)
     * minflt(10) cminflt(11) majflt(12) cmajflt(13) utime(14) stime(15). */
    unsigned long long ut = 0, st = 0;
    char state;
    if (sscanf(p, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &ut, &st) != 3)
        return -1;
    return (double)(ut + st) / (double)ticks_per_s;
}

double bench_proc_cpu(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return bench_parse_stat(buf, sysconf(_SC_CLK_TCK));
}

double bench_parse_proc_stat(const char *text, long ticks_per_s)
{
    unsigned long long v[8] = {0};
    if (ticks_per_s <= 0 || sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                                   &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
        return -1;
    /* user nice system idle iowait irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)ticks_per_s;
}

double bench_machine_busy(void)
{
    char buf[512];
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return bench_parse_proc_stat(buf, sysconf(_SC_CLK_TCK));
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_thread_cpu(void)
{
    return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

double bench_self_cpu(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

uint64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
