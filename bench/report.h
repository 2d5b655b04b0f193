/*
 * bench/report.h - rsp-bench's outputs: the JSON result file (a small
 * streaming writer, indented, numbers that are not finite written as null)
 * and the gnuplot data and script for the PNG plot of throughput and
 * latency over time, one panel per phase.
 *
 * Ownership: the writer borrows its FILE; strings are copied out at once.
 * Errors: the writer records the first misuse (too deep, end without begin)
 * in err and ignores what follows; plot_write returns 0 / -1 (errno set).
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bench/stats.h"

#define JW_MAX_DEPTH 16

typedef struct jw {
    FILE *f;
    int depth;
    int err;
    bool first[JW_MAX_DEPTH];
    bool compact[JW_MAX_DEPTH]; /* members on one line */
    char close[JW_MAX_DEPTH];
} jw;

void jw_init(jw *w, FILE *f);
/* key is NULL at the top and inside arrays. */
void jw_obj(jw *w, const char *key);
void jw_arr(jw *w, const char *key);
/* The same, printed on one line (short arrays such as series points). */
void jw_arr_compact(jw *w, const char *key);
void jw_end(jw *w);
void jw_str(jw *w, const char *key, const char *v); /* NULL writes null */
void jw_num(jw *w, const char *key, double v);      /* up to 6 decimals, trailing zeros dropped */
void jw_int(jw *w, const char *key, long long v);
void jw_bool(jw *w, const char *key, bool v);
/* Closes what is open and adds the final newline; returns err. */
int jw_finish(jw *w);

/* One panel: a phase's series. */
typedef struct plot_panel {
    const char *title;
    const bench_series *s;
} plot_panel;

/*
 * Writes the data file (one block per panel: bucket start in seconds,
 * completions per second, p50 ms, p99 ms) and a gnuplot script that draws them into png: completions/s on
 * the left axis, latency on the right.
 */
int plot_write(const char *png, const char *dat, const char *gp, const char *title, const plot_panel *p,
               size_t n);

#endif
