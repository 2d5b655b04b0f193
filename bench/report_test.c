#include "bench/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/procs.h"
#include "tests/unit/ut.h"

static char *render(void (*fill)(jw *w), int *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    jw w;
    jw_init(&w, f);
    fill(&w);
    *err = jw_finish(&w);
    fclose(f);
    return text;
}

static void doc(jw *w)
{
    jw_obj(w, NULL);
    jw_str(w, "name", "a \"quoted\"\\ line\nand\ttab");
    jw_num(w, "rate", 1234.5);
    jw_num(w, "whole", 3.0);
    jw_num(w, "tiny", 0.0000004);
    jw_num(w, "nan", NAN);
    jw_num(w, "inf", INFINITY);
    jw_int(w, "n", -42);
    jw_bool(w, "ok", true);
    jw_str(w, "none", NULL);
    jw_arr_compact(w, "series");
    jw_arr(w, NULL);
    jw_int(w, NULL, 0);
    jw_num(w, NULL, 1.25);
    jw_end(w);
    jw_arr(w, NULL);
    jw_end(w);
    jw_end(w);
    jw_arr(w, "empty");
    jw_end(w);
    jw_obj(w, "nested");
    jw_int(w, "x", 1);
    /* left open: jw_finish closes it */
}

static void test_json(void)
{
    int err;
    char *t = render(doc, &err);
    UT_EQ(err, 0);
    const char *want = "{\n"
                       "  \"name\": \"a \\\"quoted\\\"\\\\ line\\nand\\u0009tab\",\n"
                       "  \"rate\": 1234.5,\n"
                       "  \"whole\": 3,\n"
                       "  \"tiny\": 0,\n"
                       "  \"nan\": null,\n"
                       "  \"inf\": null,\n"
                       "  \"n\": -42,\n"
                       "  \"ok\": true,\n"
                       "  \"none\": null,\n"
                       "  \"series\": [[0, 1.25], []],\n"
                       "  \"empty\": [],\n"
                       "  \"nested\": {\n"
                       "    \"x\": 1\n"
                       "  }\n"
                       "}\n";
    UT_CHECK(strcmp(t, want) == 0);
    if (strcmp(t, want) != 0)
        fprintf(stderr, "%s", t);
    free(t);
}

static void key_in_array(jw *w)
{
    jw_arr(w, NULL);
    jw_int(w, "k", 1);
}

static void no_key_in_object(jw *w)
{
    jw_obj(w, NULL);
    jw_int(w, NULL, 1);
}

static void end_too_often(jw *w)
{
    jw_obj(w, NULL);
    jw_end(w);
    jw_end(w);
}

static void too_deep(jw *w)
{
    for (int i = 0; i < JW_MAX_DEPTH + 1; i++)
        jw_arr(w, NULL);
}

static void test_misuse(void)
{
    int err;
    free(render(key_in_array, &err));
    UT_CHECK(err != 0);
    free(render(no_key_in_object, &err));
    UT_CHECK(err != 0);
    free(render(end_too_often, &err));
    UT_CHECK(err != 0);
    free(render(too_deep, &err));
    UT_CHECK(err != 0);
}

static void test_plot(void)
{
    const char *tmp = getenv("TEST_TMPDIR");
    char png[600], dat[600], gp[600];
    snprintf(png, sizeof(png), "%s/plot.png", tmp ? tmp : "/tmp");
    snprintf(dat, sizeof(dat), "%s/plot.dat", tmp ? tmp : "/tmp");
    snprintf(gp, sizeof(gp), "%s/plot.gp", tmp ? tmp : "/tmp");
    bench_samples s = {0};
    for (int i = 0; i < 300; i++)
        bench_samples_add(&s, (uint64_t)i * 10000, 1000 + (uint64_t)i);
    bench_series a, b = {0};
    UT_EQ(bench_series_make(&s, 1000000, &a), 0);
    plot_panel p[2] = {{"es11 it's nist", &a}, {"empty", &b}};
    UT_EQ(plot_write(png, dat, gp, "test", p, 2), 0);
    UT_EQ(plot_write(png, dat, gp, "test", p, 0), -1);
    size_t len;
    char *d = (char *)ut_read_file(dat, &len);
    UT_CHECK(d && strstr(d, "# es11 it's nist\n0.00 100.0 1.049 1.098\n1.00 100.0 1.149 1.198\n2.00 101.0 "
                            "1.249 1.298\n\n\n# empty\n0 0 0 0\n"));
    free(d);
    char *g = (char *)ut_read_file(gp, &len);
    UT_CHECK(g && strstr(g, "set title 'es11 it''s nist'") && strstr(g, "index 1 using 1:2"));
    free(g);
    char gnuplot[600];
    if (bench_which("gnuplot", gnuplot, sizeof(gnuplot)) == 0) {
        char *argv[] = {gnuplot, gp, NULL}, *out = NULL;
        UT_EQ(bench_run(argv, &out, 60), 0);
        free(out);
        uint8_t *img = ut_read_file(png, &len);
        UT_CHECK(img && len > 1000 && memcmp(img, "\x89PNG", 4) == 0);
        free(img);
    } else {
        printf("SKIP drawing the PNG: no gnuplot in PATH\n");
    }
    bench_series_free(&a);
    bench_samples_free(&s);
}

int main(void)
{
    UT_RUN(test_json);
    UT_RUN(test_misuse);
    UT_RUN(test_plot);
    return ut_finish();
}
