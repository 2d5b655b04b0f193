#include "bench/report.h"

#include <errno.h>
#include <math.h>
#include <string.h>

void jw_init(jw *w, FILE *f)
{
    memset(w, 0, sizeof(*w));
    w->f = f;
}

static bool in_compact(const jw *w)
{
    return w->depth > 0 && w->compact[w->depth - 1];
}

static void indent(jw *w)
{
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->f);
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Separator, indentation and key of the next value. */
static bool member(jw *w, const char *key)
{
    if (w->err)
        return false;
    if (w->depth > 0) {
        if (!w->first[w->depth - 1])
            fputc(',', w->f);
        if (in_compact(w)) {
            if (!w->first[w->depth - 1])
                fputc(' ', w->f);
        } else {
            indent(w);
        }
        w->first[w->depth - 1] = false;
        bool want_key = w->close[w->depth - 1] == '}';
        if (want_key != (key != NULL)) {
            w->err = EINVAL;
            return false;
        }
    }
    if (key) {
        put_string(w->f, key);
        fputs(": ", w->f);
    }
    return true;
}

static void open_(jw *w, const char *key, char open, char close, bool compact)
{
    if (!member(w, key))
        return;
    if (w->depth >= JW_MAX_DEPTH) {
        w->err = E2BIG;
        return;
    }
    fputc(open, w->f);
    w->first[w->depth] = true;
    w->compact[w->depth] = compact || in_compact(w);
    w->close[w->depth] = close;
    w->depth++;
}

void jw_obj(jw *w, const char *key)
{
    open_(w, key, '{', '}', false);
}

void jw_arr(jw *w, const char *key)
{
    open_(w, key, '[', ']', false);
}

void jw_arr_compact(jw *w, const char *key)
{
    open_(w, key, '[', ']', true);
}

void jw_end(jw *w)
{
    if (w->err)
        return;
    if (w->depth == 0) {
        w->err = EINVAL;
        return;
    }
    w->depth--;
    if (!w->first[w->depth] && !w->compact[w->depth])
        indent(w);
    fputc(w->close[w->depth], w->f);
}

void jw_str(jw *w, const char *key, const char *v)
{
    if (!member(w, key))
        return;
    if (v)
        put_string(w->f, v);
    else
        fputs("null", w->f);
}

void jw_num(jw *w, const char *key, double v)
{
    if (!member(w, key))
        return;
    if (!isfinite(v)) {
        fputs("null", w->f);
        return;
    }
    char b[64];
    snprintf(b, sizeof(b), "%.6f", v);
    char *dot = strchr(b, '.');
    if (dot) {
        char *e = b + strlen(b) - 1;
        while (e > dot && *e == '0')
            *e-- = 0;
        if (e == dot)
            *e = 0;
    }
    if (strcmp(b, "-0") == 0)
        strcpy(b, "0");
    fputs(b, w->f);
}

void jw_int(jw *w, const char *key, long long v)
{
    if (member(w, key))
        fprintf(w->f, "%lld", v);
}

void jw_bool(jw *w, const char *key, bool v)
{
    if (member(w, key))
        fputs(v ? "true" : "false", w->f);
}

int jw_finish(jw *w)
{
    while (!w->err && w->depth > 0)
        jw_end(w);
    fputc('\n', w->f);
    return w->err;
}

/* gnuplot single-quoted strings: a quote is doubled. */
static void gp_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

int plot_write(const char *png, const char *dat, const char *gp, const char *title, const plot_panel *p,
               size_t n)
{
    if (n == 0) {
        errno = EINVAL;
        return -1;
    }
    FILE *d = fopen(dat, "w");
    if (!d)
        return -1;
    for (size_t i = 0; i < n; i++) {
        fprintf(d, "# %s\n", p[i].title);
        for (size_t k = 0; k < p[i].s->n; k++)
            fprintf(d, "%.2f %.1f %.3f %.3f\n", p[i].s->b[k].t_s, p[i].s->b[k].rate,
                    p[i].s->b[k].p50_us / 1000.0, p[i].s->b[k].p99_us / 1000.0);
        if (p[i].s->n == 0)
            fprintf(d, "0 0 0 0\n");
        fputs("\n\n", d); /* gnuplot: next index */
    }
    if (fclose(d) != 0)
        return -1;

    FILE *g = fopen(gp, "w");
    if (!g)
        return -1;
    size_t cols = n > 1 ? 2 : 1, rows = (n + cols - 1) / cols;
    fprintf(g, "set terminal pngcairo size %zu,%zu font ',9'\n", cols * 640, rows * 300 + 40);
    fputs("set output ", g);
    gp_quote(g, png);
    fprintf(g, "\nset multiplot layout %zu,%zu title ", rows, cols);
    gp_quote(g, title);
    fputs("\nset grid\nset key top left box opaque\nset xlabel 'seconds into the phase'\n"
          "set ylabel 'completed per second'\nset y2label 'latency (ms)'\n"
          "set ytics nomirror\nset y2tics\nset yrange [0:*]\nset y2range [0:*]\n",
          g);
    for (size_t i = 0; i < n; i++) {
        fputs("set title ", g);
        gp_quote(g, p[i].title);
        fputs("\nplot ", g);
        gp_quote(g, dat);
        fprintf(g,
                " index %zu using 1:2 with linespoints pt 7 ps 0.4 lw 2 title 'per second', "
                "'' index %zu using 1:3 axes x1y2 with lines lw 1 title 'p50 ms', "
                "'' index %zu using 1:4 axes x1y2 with lines lw 1 dt 2 title 'p99 ms'\n",
                i, i, i);
    }
    fputs("unset multiplot\n", g);
    return fclose(g) == 0 ? 0 : -1;
}
