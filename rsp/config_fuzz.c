/*
 * Fuzz target for rsp/config: the INI reader, the flag parser and the typed setters.
 *
 * Input: one mode byte, then the rest.  Mode even: the rest is an INI file (read through a memfd, as
 * rsp_config_load_file reads any path).  Mode odd: the rest is argv, one argument per line.  The table
 * declares a key of every type with and without bounds, in two sections and once under a name shared by
 * both, so that unique-name flags, bounds, suffixes and ambiguity are all reached.
 * Checks: a successful load leaves every value valid for its type (getters agree with the bounds), the
 * error message is one NUL-terminated line, and the effective-config and sample writers accept any state.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rsp/config.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static const rsp_config_key_t keys[] = {
    {"server", "workers", RSP_CFG_INT, "0", 0, 256, "worker threads"},
    {"server", "name", RSP_CFG_STR, "x", 0, 0, "a name"},
    {"server", "verbose", RSP_CFG_BOOL, "false", 0, 0, "a switch"},
    {"server", "body_limit", RSP_CFG_SIZE, "64k", 1024, 1LL << 30, "a size"},
    {"server", "files", RSP_CFG_STR, "", 0, 0, "a list"},
    {"device", "port", RSP_CFG_INT, "443", 1, 65535, "a port"},
    {"device", "name", RSP_CFG_STR, "", 0, 0, "same name, other section"},
    {"device", "any", RSP_CFG_INT, "-5", 0, 0, "unbounded integer"},
    {"device", "size", RSP_CFG_SIZE, "0", 0, 0, "unbounded size"},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void check_values(const rsp_config_t *cfg)
{
    check(rsp_config_count(cfg) == NKEYS);
    for (size_t i = 0; i < NKEYS; i++) {
        const char *v = NULL;
        check(rsp_config_key_at(cfg, i, &v) != NULL && v != NULL);
    }
    for (size_t i = 0; i < NKEYS; i++) {
        char key[64];
        snprintf(key, sizeof(key), "%s.%s", keys[i].section, keys[i].name);
        if (keys[i].type == RSP_CFG_STR)
            check(rsp_config_str(cfg, key) != NULL);
        else if (keys[i].type == RSP_CFG_INT && (keys[i].min || keys[i].max)) {
            long long v = rsp_config_int(cfg, key);
            check(v >= keys[i].min && v <= keys[i].max);
        } else if (keys[i].type == RSP_CFG_SIZE && (keys[i].min || keys[i].max)) {
            size_t v = rsp_config_size(cfg, key);
            check(v >= (size_t)keys[i].min && v <= (size_t)keys[i].max);
        } else if (keys[i].type == RSP_CFG_BOOL) {
            int v = rsp_config_bool(cfg, key);
            check(v == 0 || v == 1);
        }
    }
    char *copy = NULL;
    const char *items[8];
    size_t n = rsp_config_list(cfg, "server.files", &copy, items, 8);
    check(n <= 8);
    for (size_t i = 0; i < n; i++)
        check(items[i][0] != '\0');
    free(copy);
}

static int load_ini(rsp_config_t *cfg, const uint8_t *data, size_t size, char *err, size_t errlen)
{
    int fd = memfd_create("config_fuzz", 0);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int rc = rsp_config_load_file(cfg, path, err, errlen);
    close(fd);
    return rc;
}

/* Splits the input into at most 31 arguments (after argv[0]) at newlines, in a NUL-terminated copy. */
static int parse_args(rsp_config_t *cfg, const uint8_t *data, size_t size, char *err, size_t errlen)
{
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[33] = {"config_fuzz"};
    int argc = 1;
    for (char *p = buf; argc < 32;) {
        argv[argc++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    int help = 0;
    int rc = rsp_config_parse_args(cfg, argc, argv, &help, err, errlen);
    free(buf);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    rsp_config_t *cfg = rsp_config_new();
    char err[256];
    check(cfg && rsp_config_declare(cfg, keys, NKEYS, err, sizeof(err)) == 0);
    const rsp_config_mark_t marks[] = {{"server.name", RSP_CFG_F_SECRET}};
    check(rsp_config_mark(cfg, marks, 1, err, sizeof(err)) == 0);
    err[0] = '\0';
    int rc = (data[0] & 1) ? parse_args(cfg, data + 1, size - 1, err, sizeof(err))
                           : load_ini(cfg, data + 1, size - 1, err, sizeof(err));
    check(rc == 0 || rc == -1);
    if (rc != 0)
        check(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    else
        check_values(cfg);
    /* whatever was set (a failed load may have set some keys first) is still valid */
    check_values(cfg);
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) {
        rsp_config_write_effective(cfg, devnull);
        rsp_config_write_sample(cfg, "fuzz", devnull);
        fclose(devnull);
    }
    rsp_config_free(cfg);
    return 0;
}
