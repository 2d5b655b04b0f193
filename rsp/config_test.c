/* Unit tests of rsp/config. */
#include "rsp/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static const rsp_config_key_t keys[] = {
    {"server", "workers", RSP_CFG_INT, "0", 0, 64, "threads"},
    {"server", "state_dir", RSP_CFG_STR, "state", 0, 0, "dir"},
    {"server", "body_limit", RSP_CFG_SIZE, "64k", 1, 1 << 20, "limit"},
    {"server", "debug", RSP_CFG_BOOL, "no", 0, 0, "debug"},
    {"device", "port", RSP_CFG_INT, "8443", 0, 65535, "port"},
    {"device", "address", RSP_CFG_STR, NULL, 0, 0, "addr"},
    {"s2s", "port", RSP_CFG_INT, "8444", 0, 65535, "port"},
    {"tls", "offset", RSP_CFG_INT, "-5", 0, 0, "unbounded"},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static rsp_config_t *make(void)
{
    char err[256];
    rsp_config_t *c = rsp_config_new();
    UT_CHECK(c != NULL);
    UT_EQ(rsp_config_declare(c, keys, NKEYS, err, sizeof(err)), 0);
    return c;
}

static char *write_tmp(const char *name, const char *text)
{
    static char path[600];
    const char *base = getenv("TEST_TMPDIR");
    snprintf(path, sizeof(path), "%s/%s", base ? base : "/tmp", name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults(void)
{
    rsp_config_t *c = make();
    UT_EQ(rsp_config_int(c, "server.workers"), 0);
    UT_CHECK(strcmp(rsp_config_str(c, "server.state_dir"), "state") == 0);
    UT_EQ(rsp_config_size(c, "server.body_limit"), 65536);
    UT_EQ(rsp_config_bool(c, "server.debug"), 0);
    UT_EQ(rsp_config_int(c, "device.port"), 8443);
    UT_CHECK(strcmp(rsp_config_str(c, "device.address"), "") == 0);
    UT_EQ(rsp_config_int(c, "tls.offset"), -5);
    /* Programming errors: undeclared key or wrong type. */
    UT_CHECK(rsp_config_str(c, "server.nope") == NULL);
    UT_CHECK(rsp_config_str(c, "server.workers") == NULL);
    UT_EQ(rsp_config_int(c, "server.state_dir"), 0);
    rsp_config_free(c);
}

static void test_declare_errors(void)
{
    char err[256];
    rsp_config_t *c = make();
    UT_EQ(rsp_config_declare(c, keys, 1, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "server.workers") != NULL);
    static const rsp_config_key_t bad_default[] = {{"x", "n", RSP_CFG_INT, "ten", 0, 0, ""}};
    UT_EQ(rsp_config_declare(c, bad_default, 1, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "x.n") != NULL);
    static const rsp_config_key_t dotted[] = {{"x", "a.b", RSP_CFG_STR, "", 0, 0, ""}};
    UT_EQ(rsp_config_declare(c, dotted, 1, err, sizeof(err)), -1);
    static const rsp_config_key_t more[] = {{"extra", "name", RSP_CFG_STR, "v", 0, 0, ""}};
    UT_EQ(rsp_config_declare(c, more, 1, err, sizeof(err)), 0);
    UT_CHECK(strcmp(rsp_config_str(c, "extra.name"), "v") == 0);
    rsp_config_free(c);
}

static void test_set_types(void)
{
    char err[256];
    rsp_config_t *c = make();
    UT_EQ(rsp_config_set(c, "server.workers", "8", "t", err, sizeof(err)), 0);
    UT_EQ(rsp_config_int(c, "server.workers"), 8);
    UT_EQ(rsp_config_set(c, "server.workers", "65", "t", err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "outside") != NULL);
    UT_EQ(rsp_config_int(c, "server.workers"), 8); /* unchanged on error */
    UT_EQ(rsp_config_set(c, "server.workers", "-1", "t", err, sizeof(err)), -1);
    UT_EQ(rsp_config_set(c, "server.workers", "4x", "t", err, sizeof(err)), -1);
    UT_EQ(rsp_config_set(c, "server.workers", "", "t", err, sizeof(err)), -1);
    UT_EQ(rsp_config_set(c, "server.workers", "99999999999999999999", "t", err, sizeof(err)), -1);
    UT_EQ(rsp_config_set(c, "tls.offset", "-123456789", "t", err, sizeof(err)), 0);
    UT_EQ(rsp_config_int(c, "tls.offset"), -123456789);

    UT_EQ(rsp_config_set(c, "server.body_limit", "1M", "t", err, sizeof(err)), 0);
    UT_EQ(rsp_config_size(c, "server.body_limit"), 1 << 20);
    UT_EQ(rsp_config_set(c, "server.body_limit", "512", "t", err, sizeof(err)), 0);
    UT_EQ(rsp_config_size(c, "server.body_limit"), 512);
    UT_EQ(rsp_config_set(c, "server.body_limit", "2m", "t", err, sizeof(err)), -1); /* over max */
    UT_EQ(rsp_config_set(c, "server.body_limit", "0", "t", err, sizeof(err)), -1);  /* under min */
    UT_EQ(rsp_config_set(c, "server.body_limit", "1kb", "t", err, sizeof(err)), -1);
    UT_EQ(rsp_config_set(c, "server.body_limit", "-1k", "t", err, sizeof(err)), -1);
    UT_EQ(rsp_config_set(c, "server.body_limit", "k", "t", err, sizeof(err)), -1);

    const char *yes[] = {"true", "YES", "on", "1"}, *no[] = {"False", "no", "OFF", "0"};
    for (int i = 0; i < 4; i++) {
        UT_EQ(rsp_config_set(c, "server.debug", yes[i], "t", err, sizeof(err)), 0);
        UT_EQ(rsp_config_bool(c, "server.debug"), 1);
        UT_EQ(rsp_config_set(c, "server.debug", no[i], "t", err, sizeof(err)), 0);
        UT_EQ(rsp_config_bool(c, "server.debug"), 0);
    }
    UT_EQ(rsp_config_set(c, "server.debug", "maybe", "here", err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "here") != NULL && strstr(err, "server.debug") != NULL);

    UT_EQ(rsp_config_set(c, "server.nope", "1", "t", err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "unknown") != NULL);
    UT_EQ(rsp_config_set(c, "state_dir", "/var/x", "t", err, sizeof(err)), 0); /* unique bare name */
    UT_CHECK(strcmp(rsp_config_str(c, "server.state_dir"), "/var/x") == 0);
    UT_EQ(rsp_config_set(c, "port", "1", "t", err, sizeof(err)), -1); /* device.port and s2s.port */
    UT_CHECK(strstr(err, "ambiguous") != NULL);
    rsp_config_free(c);
}

static void test_file(void)
{
    char err[512];
    rsp_config_t *c = make();
    const char *p = write_tmp("good.ini", "; comment\n# other comment\n[server]\nworkers = 3 ; inline\n"
                                          "state_dir = /srv/rsp\n\n[device]\nport=9000\naddress = ::1\n");
    UT_EQ(rsp_config_load_file(c, p, err, sizeof(err)), 0);
    UT_EQ(rsp_config_int(c, "server.workers"), 3);
    UT_CHECK(strcmp(rsp_config_str(c, "server.state_dir"), "/srv/rsp") == 0);
    UT_EQ(rsp_config_int(c, "device.port"), 9000);
    UT_CHECK(strcmp(rsp_config_str(c, "device.address"), "::1") == 0);
    UT_EQ(rsp_config_int(c, "s2s.port"), 8444);

    p = write_tmp("unknown.ini", "[server]\nworkers = 1\n\n[server]\nbogus = 2\n");
    UT_EQ(rsp_config_load_file(c, p, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "unknown.ini:5") != NULL);
    UT_CHECK(strstr(err, "server.bogus") != NULL);
    p = write_tmp("badtype.ini", "[device]\nport = https\n");
    UT_EQ(rsp_config_load_file(c, p, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "badtype.ini:2") != NULL);
    p = write_tmp("syntax.ini", "[server\nworkers = 1\n");
    UT_EQ(rsp_config_load_file(c, p, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "syntax.ini:1") != NULL);
    p = write_tmp("nokey.ini", "[server]\njust text\n");
    UT_EQ(rsp_config_load_file(c, p, err, sizeof(err)), -1);
    char longline[1200];
    memset(longline, 'x', sizeof(longline));
    memcpy(longline, "[server]\nstate_dir = ", 21);
    strcpy(longline + sizeof(longline) - 2, "\n");
    p = write_tmp("long.ini", longline);
    UT_EQ(rsp_config_load_file(c, p, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "long.ini:2") != NULL && strstr(err, "longer") != NULL);
    UT_EQ(rsp_config_load_file(c, "/nonexistent/x.ini", err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "/nonexistent/x.ini") != NULL);
    rsp_config_free(c);
}

static void test_args(void)
{
    char err[512];
    int help = 7;
    rsp_config_t *c = make();
    const char *p = write_tmp("args.ini", "[server]\nworkers = 3\nstate_dir = fromfile\n");
    char cfgflag[700];
    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", p);
    /* Flags override the file whatever their order. */
    char *argv1[] = {"prog", "--server.workers=5", cfgflag, "--debug", "--device.port=0", NULL};
    UT_EQ(rsp_config_parse_args(c, 5, argv1, &help, err, sizeof(err)), 0);
    UT_EQ(help, 0);
    UT_EQ(rsp_config_int(c, "server.workers"), 5);
    UT_CHECK(strcmp(rsp_config_str(c, "server.state_dir"), "fromfile") == 0);
    UT_EQ(rsp_config_bool(c, "server.debug"), 1);
    UT_EQ(rsp_config_int(c, "device.port"), 0);

    char *argv2[] = {"prog", "--config", (char *)p, "--workers=2", NULL};
    UT_EQ(rsp_config_parse_args(c, 4, argv2, &help, err, sizeof(err)), 0);
    UT_EQ(rsp_config_int(c, "server.workers"), 2);

    char *argv3[] = {"prog", "--server.workers", NULL};
    UT_EQ(rsp_config_parse_args(c, 2, argv3, &help, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "=value") != NULL);
    char *argv4[] = {"prog", "--what=1", NULL};
    UT_EQ(rsp_config_parse_args(c, 2, argv4, &help, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "what") != NULL);
    char *argv5[] = {"prog", "positional", NULL};
    UT_EQ(rsp_config_parse_args(c, 2, argv5, &help, err, sizeof(err)), -1);
    char *argv6[] = {"prog", "--config", NULL};
    UT_EQ(rsp_config_parse_args(c, 2, argv6, &help, err, sizeof(err)), -1);
    char *argv7[] = {"prog", "--port=1", NULL};
    UT_EQ(rsp_config_parse_args(c, 2, argv7, &help, err, sizeof(err)), -1);
    char *argv8[] = {"prog", "--config=/nonexistent.ini", NULL};
    UT_EQ(rsp_config_parse_args(c, 2, argv8, &help, err, sizeof(err)), -1);
    char *argv9[] = {"prog", "--", NULL};
    UT_EQ(rsp_config_parse_args(c, 2, argv9, &help, err, sizeof(err)), -1);
    char *argv10[] = {"prog", "--bogus=1", "--help", NULL};
    UT_EQ(rsp_config_parse_args(c, 3, argv10, &help, err, sizeof(err)), 0);
    UT_EQ(help, 1);
    char *argv11[] = {"prog", "--device.port=", NULL};
    UT_EQ(rsp_config_parse_args(c, 2, argv11, &help, err, sizeof(err)), -1);
    char *argv12[] = {"prog", "--device.address=", NULL};
    UT_EQ(rsp_config_parse_args(c, 2, argv12, &help, err, sizeof(err)), 0);

    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    rsp_config_usage(c, f);
    fclose(f);
    UT_CHECK(strstr(buf, "[server]") != NULL);
    UT_CHECK(strstr(buf, "--device.port=<integer>") != NULL);
    UT_CHECK(strstr(buf, "(default: 64k)") != NULL);
    rsp_config_free(c);
}

static void test_split_list(void)
{
    char s[] = " a.pem,b.pem ,, \t,c d.pem\t,e.pem";
    const char *items[3];
    UT_EQ(rsp_config_split_list(s, items, 3), 3);
    UT_CHECK(strcmp(items[0], "a.pem") == 0);
    UT_CHECK(strcmp(items[1], "b.pem") == 0);
    UT_CHECK(strcmp(items[2], "c d.pem") == 0); /* inner spaces stay; e.pem is past max */
    char empty[] = " , ";
    UT_EQ(rsp_config_split_list(empty, items, 3), 0);
}

static void test_list_copy(void)
{
    const char *in[] = {"a.pem", "", "dir/b.pem"};
    char **c = rsp_config_list_copy(in, 3);
    UT_CHECK(c != NULL);
    if (c) {
        for (size_t i = 0; i < 3; i++)
            UT_CHECK(c[i] != in[i] && strcmp(c[i], in[i]) == 0);
        UT_CHECK(c[3] == NULL);
    }
    rsp_config_list_free(c, 3);
    char **e = rsp_config_list_copy(NULL, 0);
    UT_CHECK(e != NULL && e[0] == NULL);
    rsp_config_list_free(e, 0);
    rsp_config_list_free(NULL, 0);
}

static void test_config_list(void)
{
    static const rsp_config_key_t keys[] = {
        {"a", "files", RSP_CFG_STR, " x.pem , ,y.pem,", 0, 0, "files"},
    };
    char err[256];
    rsp_config_t *cfg = rsp_config_new();
    UT_EQ(rsp_config_declare(cfg, keys, 1, err, sizeof(err)), 0);
    char *copy;
    const char *items[4];
    UT_EQ(rsp_config_list(cfg, "a.files", &copy, items, 4), 2);
    UT_CHECK(!strcmp(items[0], "x.pem") && !strcmp(items[1], "y.pem"));
    free(copy);
    UT_EQ(rsp_config_list(cfg, "a.files", &copy, items, 1), 1); /* capped at max */
    free(copy);
    UT_EQ(rsp_config_list(cfg, "a.missing", &copy, items, 4), 0); /* undeclared: empty */
    free(copy);
    rsp_config_free(cfg);
}

/* The sample file parses: with every ';key = default' line uncommented it loads to the defaults. */
static void test_sample_and_effective(void)
{
    char err[256];
    rsp_config_t *c = make();
    static const rsp_config_mark_t marks[] = {{"server.workers", RSP_CFG_F_RELOAD},
                                              {"device.address", RSP_CFG_F_SECRET | RSP_CFG_F_REQUIRED}};
    UT_EQ(rsp_config_mark(c, marks, 2, err, sizeof(err)), 0);
    static const rsp_config_mark_t unknown[] = {{"server.nope", RSP_CFG_F_RELOAD}};
    UT_EQ(rsp_config_mark(c, unknown, 1, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "server.nope") != NULL);
    UT_EQ(rsp_config_flags(c, "server.workers"), RSP_CFG_F_RELOAD);
    UT_EQ(rsp_config_count(c), NKEYS);
    const char *v;
    UT_CHECK(rsp_config_key_at(c, 2, &v) == &keys[2] && strcmp(v, "64k") == 0);
    UT_CHECK(rsp_config_key_at(c, NKEYS, &v) == NULL);

    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    rsp_config_write_sample(c, "title line\n\nsecond", f);
    fclose(f);
    UT_CHECK(strncmp(buf, "; title line\n;\n; second\n", 24) == 0);
    UT_CHECK(strstr(buf, "; threads\n; integer in [0, 64], applied on SIGHUP\n;workers = 0\n") != NULL);
    UT_CHECK(strstr(buf, "; string, required, secret, needs a restart\n;address =\n") != NULL);
    char uncommented[8192];
    size_t o = 0;
    for (const char *p = buf; *p; p++) {
        if (*p == ';' && (p == buf || p[-1] == '\n') && p[1] != ' ' && p[1] != '\n')
            continue;
        uncommented[o++] = *p;
    }
    uncommented[o] = '\0';
    rsp_config_t *d = make();
    UT_EQ(rsp_config_load_file(d, write_tmp("sample.ini", uncommented), err, sizeof(err)), 0);
    for (size_t i = 0; i < NKEYS; i++) {
        const char *a, *b;
        rsp_config_key_at(c, i, &a);
        rsp_config_key_at(d, i, &b);
        UT_CHECK(strcmp(a, b) == 0);
    }
    rsp_config_free(d);

    UT_EQ(rsp_config_set(c, "device.address", "secret-host", "t", err, sizeof(err)), 0);
    f = fmemopen(buf, sizeof(buf), "w");
    rsp_config_write_effective(c, f);
    fclose(f);
    UT_CHECK(strstr(buf, "[server]\nworkers = 0\n") != NULL);
    UT_CHECK(strstr(buf, "address = ********\n") != NULL);
    UT_CHECK(strstr(buf, "secret-host") == NULL);
    rsp_config_free(c);
}

int main(void)
{
    UT_RUN(test_sample_and_effective);
    UT_RUN(test_defaults);
    UT_RUN(test_declare_errors);
    UT_RUN(test_set_types);
    UT_RUN(test_file);
    UT_RUN(test_args);
    UT_RUN(test_split_list);
    UT_RUN(test_list_copy);
    UT_RUN(test_config_list);
    return ut_finish();
}
