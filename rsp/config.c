/* rsp/config.c - see config.h. */
#include "rsp/config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "rsp/err.h"

struct entry {
    const rsp_config_key_t *key;
    char *value;    /* text as set */
    long long num;  /* INT, SIZE, BOOL */
    unsigned flags; /* RSP_CFG_F_* */
};

struct rsp_config {
    struct entry *entries;
    size_t n, cap;
};

rsp_config_t *rsp_config_new(void)
{
    return calloc(1, sizeof(rsp_config_t));
}

void rsp_config_free(rsp_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n; i++)
        free(cfg->entries[i].value);
    free(cfg->entries);
    free(cfg);
}

static int key_is(const rsp_config_key_t *k, const char *section, size_t slen, const char *name)
{
    return strlen(k->section) == slen && strncmp(k->section, section, slen) == 0 &&
           strcmp(k->name, name) == 0;
}

/* Finds "section.name", or a bare "name" that is unique; *ambiguous is set when it is not. */
static struct entry *find(const rsp_config_t *cfg, const char *key, int *ambiguous)
{
    if (ambiguous != NULL)
        *ambiguous = 0;
    const char *dot = strchr(key, '.');
    if (dot != NULL) {
        for (size_t i = 0; i < cfg->n; i++)
            if (key_is(cfg->entries[i].key, key, (size_t)(dot - key), dot + 1))
                return &cfg->entries[i];
        return NULL;
    }
    struct entry *found = NULL;
    for (size_t i = 0; i < cfg->n; i++) {
        if (strcmp(cfg->entries[i].key->name, key) != 0)
            continue;
        if (found != NULL) {
            if (ambiguous != NULL)
                *ambiguous = 1;
            return NULL;
        }
        found = &cfg->entries[i];
    }
    return found;
}

static int parse_bool(const char *v, long long *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_int(const char *v, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        return -1;
    *out = n;
    return 0;
}

static int parse_size(const char *v, long long *out)
{
    char *end;
    if (*v == '-' || *v == '+')
        return -1;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || end == v)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        return -1;
    }
    if (shift != 0 && *++end != '\0')
        return -1;
    if (n > ((unsigned long long)LLONG_MAX >> shift))
        return -1;
    *out = (long long)(n << shift);
    return 0;
}

static const char *type_name(rsp_config_type_t t)
{
    switch (t) {
    case RSP_CFG_INT:
        return "integer";
    case RSP_CFG_BOOL:
        return "bool";
    case RSP_CFG_SIZE:
        return "size";
    default:
        return "string";
    }
}

/* Checks and stores a value; `origin` and the key name go into the message. */
static int assign(struct entry *e, const char *value, const char *origin, char *err, size_t errlen)
{
    const rsp_config_key_t *k = e->key;
    long long num = 0;
    int bad = 0;
    switch (k->type) {
    case RSP_CFG_STR:
        break;
    case RSP_CFG_BOOL:
        bad = parse_bool(value, &num);
        break;
    case RSP_CFG_INT:
        bad = parse_int(value, &num);
        break;
    case RSP_CFG_SIZE:
        bad = parse_size(value, &num);
        break;
    }
    if (bad) {
        rsp_err_set(err, errlen, "%s: %s.%s: '%s' is not a valid %s", origin, k->section, k->name, value,
                    type_name(k->type));
        return -1;
    }
    if ((k->type == RSP_CFG_INT || k->type == RSP_CFG_SIZE) && (k->min != 0 || k->max != 0) &&
        (num < k->min || num > k->max)) {
        rsp_err_set(err, errlen, "%s: %s.%s: %s is outside [%lld, %lld]", origin, k->section, k->name, value,
                    k->min, k->max);
        return -1;
    }
    char *copy = strdup(value);
    if (copy == NULL) {
        rsp_err_set(err, errlen, "%s: out of memory", origin);
        return -1;
    }
    free(e->value);
    e->value = copy;
    e->num = num;
    return 0;
}

int rsp_config_declare(rsp_config_t *cfg, const rsp_config_key_t *keys, size_t n, char *err, size_t errlen)
{
    if (cfg->n + n > cfg->cap) {
        size_t cap = cfg->cap ? cfg->cap : 16;
        while (cap < cfg->n + n)
            cap *= 2;
        struct entry *ne = realloc(cfg->entries, cap * sizeof(*ne));
        if (ne == NULL) {
            rsp_err_set(err, errlen, "out of memory");
            return -1;
        }
        cfg->entries = ne;
        cfg->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        const rsp_config_key_t *k = &keys[i];
        if (k->section == NULL || k->name == NULL || k->section[0] == '\0' || strchr(k->name, '.') != NULL ||
            strchr(k->section, '.') != NULL) {
            rsp_err_set(err, errlen, "config key %zu: needs a section and a name without '.'", i);
            return -1;
        }
        for (size_t j = 0; j < cfg->n; j++) {
            if (key_is(cfg->entries[j].key, k->section, strlen(k->section), k->name)) {
                rsp_err_set(err, errlen, "config key %s.%s declared twice", k->section, k->name);
                return -1;
            }
        }
        struct entry *e = &cfg->entries[cfg->n];
        e->key = k;
        e->value = NULL;
        e->num = 0;
        e->flags = 0;
        cfg->n++;
        if (assign(e, k->def ? k->def : "", "default", err, errlen) != 0) {
            cfg->n--;
            free(e->value);
            return -1;
        }
    }
    return 0;
}

int rsp_config_set(rsp_config_t *cfg, const char *key, const char *value, const char *origin, char *err,
                   size_t errlen)
{
    int ambiguous;
    struct entry *e = find(cfg, key, &ambiguous);
    if (e == NULL) {
        if (ambiguous)
            rsp_err_set(err, errlen, "%s: '%s' is ambiguous; write section.%s", origin, key, key);
        else
            rsp_err_set(err, errlen, "%s: unknown key '%s'", origin, key);
        return -1;
    }
    return assign(e, value, origin, err, errlen);
}

struct ini_state {
    rsp_config_t *cfg;
    FILE *f;
    const char *path;
    unsigned line;
    char *linebuf;
    size_t linecap;
    int failed;
    char *err;
    size_t errlen;
};

/* fgets-style reader for inih that counts lines and refuses (instead of splitting) overlong ones. */
static char *cfg_ini_reader(char *str, int num, void *stream)
{
    struct ini_state *st = stream;
    ssize_t n = getline(&st->linebuf, &st->linecap, st->f);
    if (n < 0)
        return NULL;
    st->line++;
    if (n > num - 1) {
        if (!st->failed)
            rsp_err_set(st->err, st->errlen, "%s:%u: line longer than %d characters", st->path, st->line,
                        num - 2);
        st->failed = 1;
        str[0] = '\0';
        return str;
    }
    memcpy(str, st->linebuf, (size_t)n + 1);
    return str;
}

static int cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct ini_state *st = user;
    if (st->failed)
        return 1;
    char key[256], origin[512];
    snprintf(origin, sizeof(origin), "%s:%u", st->path, st->line);
    if (section[0] == '\0')
        snprintf(key, sizeof(key), "%s", name);
    else
        snprintf(key, sizeof(key), "%s.%s", section, name);
    if (rsp_config_set(st->cfg, key, value, origin, st->err, st->errlen) != 0) {
        st->failed = 1;
        return 0;
    }
    return 1;
}

int rsp_config_load_file(rsp_config_t *cfg, const char *path, char *err, size_t errlen)
{
    struct ini_state st = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
    st.f = fopen(path, "r");
    if (st.f == NULL) {
        rsp_err_set(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = ini_parse_stream(cfg_ini_reader, &st, cfg_ini_handler, &st);
    fclose(st.f);
    free(st.linebuf);
    if (st.failed)
        return -1;
    if (rc != 0) {
        if (rc > 0)
            rsp_err_set(err, errlen, "%s:%d: syntax error", path, rc);
        else
            rsp_err_set(err, errlen, "%s: cannot parse", path);
        return -1;
    }
    return 0;
}

int rsp_config_parse_args(rsp_config_t *cfg, int argc, char **argv, int *want_help, char *err, size_t errlen)
{
    if (want_help != NULL)
        *want_help = 0;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (want_help != NULL)
                *want_help = 1;
            return 0;
        }
        if (strncmp(a, "--config=", 9) == 0) {
            file = a + 9;
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                rsp_err_set(err, errlen, "--config needs a file name");
                return -1;
            }
            file = argv[++i];
        } else if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            rsp_err_set(err, errlen, "unexpected argument '%s' (flags are --section.key=value)", a);
            return -1;
        }
    }
    if (file != NULL && rsp_config_load_file(cfg, file, err, errlen) != 0)
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        const char *body = a + 2;
        const char *eq = strchr(body, '=');
        char key[256];
        size_t klen = eq ? (size_t)(eq - body) : strlen(body);
        if (klen == 0 || klen >= sizeof(key)) {
            rsp_err_set(err, errlen, "bad flag '%s'", a);
            return -1;
        }
        memcpy(key, body, klen);
        key[klen] = '\0';
        char origin[300];
        snprintf(origin, sizeof(origin), "flag --%s", key);
        if (eq == NULL) {
            struct entry *e = find(cfg, key, NULL);
            if (e != NULL && e->key->type != RSP_CFG_BOOL) {
                rsp_err_set(err, errlen, "%s needs =value", origin);
                return -1;
            }
        }
        if (rsp_config_set(cfg, key, eq ? eq + 1 : "true", origin, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static const struct entry *get(const rsp_config_t *cfg, const char *key, rsp_config_type_t type)
{
    const struct entry *e = find(cfg, key, NULL);
    return e != NULL && e->key->type == type ? e : NULL;
}

size_t rsp_config_split_list(char *s, const char **items, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*tok != '\0' && n < max)
            items[n++] = tok;
    }
    return n;
}

size_t rsp_config_list(const rsp_config_t *cfg, const char *key, char **copy, const char **items, size_t max)
{
    const char *v = rsp_config_str(cfg, key);
    *copy = strdup(v ? v : "");
    return *copy ? rsp_config_split_list(*copy, items, max) : 0;
}

const char *rsp_config_str(const rsp_config_t *cfg, const char *key)
{
    const struct entry *e = get(cfg, key, RSP_CFG_STR);
    return e ? e->value : NULL;
}

long long rsp_config_int(const rsp_config_t *cfg, const char *key)
{
    const struct entry *e = get(cfg, key, RSP_CFG_INT);
    return e ? e->num : 0;
}

int rsp_config_bool(const rsp_config_t *cfg, const char *key)
{
    const struct entry *e = get(cfg, key, RSP_CFG_BOOL);
    return e ? (int)e->num : 0;
}

size_t rsp_config_size(const rsp_config_t *cfg, const char *key)
{
    const struct entry *e = get(cfg, key, RSP_CFG_SIZE);
    return e ? (size_t)e->num : 0;
}

void rsp_config_usage(const rsp_config_t *cfg, FILE *out)
{
    const char *section = NULL;
    for (size_t i = 0; i < cfg->n; i++) {
        const rsp_config_key_t *k = cfg->entries[i].key;
        if (section == NULL || strcmp(section, k->section) != 0) {
            fprintf(out, "[%s]\n", k->section);
            section = k->section;
        }
        fprintf(out, "  --%s.%s=<%s>  %s (default: %s)\n", k->section, k->name, type_name(k->type),
                k->help ? k->help : "", k->def && k->def[0] ? k->def : "\"\"");
    }
}

char **rsp_config_list_copy(const char *const *v, size_t n)
{
    char **out = calloc(n + 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] = strdup(v[i]))) {
            rsp_config_list_free(out, i);
            return NULL;
        }
    }
    return out;
}

void rsp_config_list_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int rsp_config_mark(rsp_config_t *cfg, const rsp_config_mark_t *marks, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        struct entry *e = strchr(marks[i].key, '.') ? find(cfg, marks[i].key, NULL) : NULL;
        if (e == NULL) {
            rsp_err_set(err, errlen, "config key %s is not declared", marks[i].key);
            return -1;
        }
        e->flags |= marks[i].flags;
    }
    return 0;
}

unsigned rsp_config_flags(const rsp_config_t *cfg, const char *key)
{
    const struct entry *e = find(cfg, key, NULL);
    return e ? e->flags : 0;
}

size_t rsp_config_count(const rsp_config_t *cfg)
{
    return cfg->n;
}

const rsp_config_key_t *rsp_config_key_at(const rsp_config_t *cfg, size_t i, const char **value)
{
    if (i >= cfg->n)
        return NULL;
    if (value != NULL)
        *value = cfg->entries[i].value;
    return cfg->entries[i].key;
}

static void write_comment(FILE *out, const char *text)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(out, len ? "; %.*s\n" : ";\n", len, p);
        p += len + (nl != NULL);
    }
}

void rsp_config_write_sample(const rsp_config_t *cfg, const char *title, FILE *out)
{
    write_comment(out, title ? title : "");
    const char *section = NULL;
    for (size_t i = 0; i < cfg->n; i++) {
        const struct entry *e = &cfg->entries[i];
        const rsp_config_key_t *k = e->key;
        if (section == NULL || strcmp(section, k->section) != 0) {
            fprintf(out, "\n[%s]\n", k->section);
            section = k->section;
        }
        fprintf(out, "\n; %s\n; %s", k->help ? k->help : "", type_name(k->type));
        if ((k->type == RSP_CFG_INT || k->type == RSP_CFG_SIZE) && (k->min != 0 || k->max != 0))
            fprintf(out, " in [%lld, %lld]", k->min, k->max);
        fprintf(out, "%s%s%s\n", e->flags & RSP_CFG_F_REQUIRED ? ", required" : "",
                e->flags & RSP_CFG_F_SECRET ? ", secret" : "",
                e->flags & RSP_CFG_F_RELOAD ? ", applied on SIGHUP" : ", needs a restart");
        fprintf(out, ";%s =%s%s\n", k->name, k->def && k->def[0] ? " " : "", k->def ? k->def : "");
    }
}

void rsp_config_write_effective(const rsp_config_t *cfg, FILE *out)
{
    const char *section = NULL;
    for (size_t i = 0; i < cfg->n; i++) {
        const struct entry *e = &cfg->entries[i];
        if (section == NULL || strcmp(section, e->key->section) != 0) {
            fprintf(out, "%s[%s]\n", section ? "\n" : "", e->key->section);
            section = e->key->section;
        }
        const char *v = e->value ? e->value : "";
        fprintf(out, "%s = %s\n", e->key->name, (e->flags & RSP_CFG_F_SECRET) && v[0] ? "********" : v);
    }
}
