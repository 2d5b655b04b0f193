/*
 * bench/stats.h - what rsp-bench measures: latency samples and their
 * percentiles, per-second series for the plot, and CPU time of a process
 * (from /proc) or of the calling thread.
 *
 * Ownership: a bench_samples owns its array (bench_samples_free).  Series
 * arrays are heap arrays the caller frees with bench_series_free.
 * Errors: functions that allocate return 0 or -1 (out of memory); readers of
 * /proc return a negative value when the process or file is gone.
 * Thread safety: one bench_samples per thread; merge them afterwards.
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One completed operation: when it ended (µs from the phase start) and how
 * long it took (µs). */
typedef struct bench_sample {
    uint32_t end_us;
    uint32_t lat_us;
} bench_sample;

typedef struct bench_samples {
    bench_sample *v;
    size_t n, cap;
} bench_samples;

int bench_samples_add(bench_samples *s, uint64_t end_us, uint64_t lat_us);
/* Appends every sample of src to dst. */
int bench_samples_merge(bench_samples *dst, const bench_samples *src);
void bench_samples_free(bench_samples *s);

/* Latency percentile (p in [0, 100], nearest rank) in µs over all samples;
 * 0 when there are none.  Sorts a copy, so s is left as it is. */
typedef struct bench_pcts {
    double p50, p90, p99, max, mean;
} bench_pcts;
int bench_percentiles(const bench_samples *s, bench_pcts *out);

/* Series over time: bucket i covers [i * width, (i + 1) * width) after the
 * phase start and holds its completions, their rate (per second of the
 * time the bucket covers: the last bucket ends at the last completion) and
 * their p50 / p99 latency (µs).  width_us 0 picks one of 0.1, 0.2, 0.25,
 * 0.5, 1, 2, 5 or 10 s giving at most 60 buckets. */
typedef struct bench_bucket {
    double t_s; /* bucket start, seconds */
    double rate;
    uint32_t count;
    uint32_t p50_us, p99_us;
} bench_bucket;
typedef struct bench_series {
    bench_bucket *b;
    size_t n;
    uint64_t width_us;
} bench_series;
int bench_series_make(const bench_samples *s, uint64_t width_us, bench_series *out);
void bench_series_free(bench_series *s);

/* utime + stime of process pid in seconds (all its threads, from
 * /proc/<pid>/stat), or -1 when it cannot be read. */
double bench_proc_cpu(pid_t pid);
/* The same, parsed from the text of a stat file (tested directly). */
double bench_parse_stat(const char *text, long ticks_per_s);

/* CPU seconds all processes spent on all CPUs (user, nice, system, irq,
 * softirq, steal: everything but idle and iowait) from /proc/stat, or -1. */
double bench_machine_busy(void);
/* The same, parsed from the text of /proc/stat. */
double bench_parse_proc_stat(const char *text, long ticks_per_s);

/* CPU seconds of the calling thread / of the whole calling process. */
double bench_thread_cpu(void);
double bench_self_cpu(void);
/* Monotonic clock in µs. */
uint64_t bench_now_us(void);

#endif
