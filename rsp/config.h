/*
 * rsp/config.h - typed service configuration from an INI file and command-line flags.
 *
 * A service declares a table of keys (section, name, type, default, help).  Values come, in rising
 * precedence, from the defaults, from an INI file (libinih syntax: [section], name = value, ';' or '#'
 * comments), and from flags `--section.name=value`, or `--name=value` when the name is unique across
 * sections.  A bool flag may be given without a value (`--device.plain_http`).  Every value is checked
 * against its type when it is set, and an undeclared key is an error wherever it appears.  Debian's
 * libinih reads lines of at most 198 characters; a longer line is reported as an error (use a flag).
 *
 * Ownership: tables passed to rsp_config_declare() must outlive the config (use static tables); values
 * are copied.  Errors: functions return 0 on success and -1 on error with a one-line message (naming the
 * file and line or the flag) in the err buffer.  Getters never fail: asking for an undeclared key, or
 * with the wrong type, is a programming error and yields NULL / 0.
 */
#ifndef RSP_CONFIG_H
#define RSP_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef enum rsp_config_type {
    RSP_CFG_STR,  /* any text (may be empty) */
    RSP_CFG_INT,  /* decimal integer within [min, max] */
    RSP_CFG_BOOL, /* true/false, yes/no, on/off, 1/0 */
    RSP_CFG_SIZE, /* byte count with optional k/m/g suffix (powers of 1024), within [min, max] */
} rsp_config_type_t;

typedef struct rsp_config_key {
    const char *section; /* e.g. "server" */
    const char *name;    /* e.g. "workers" */
    rsp_config_type_t type;
    const char *def;    /* default in the same text form as the file; NULL = "" (STR) or invalid */
    long long min, max; /* INT/SIZE bounds; both 0 = no bound */
    const char *help;   /* one line for --help */
} rsp_config_key_t;

typedef struct rsp_config rsp_config_t;

/* Creates an empty config; NULL on allocation failure. */
rsp_config_t *rsp_config_new(void);

/* Declares keys (may be called several times, e.g. common keys then a service's own).  The table must
 * outlive the config.  Defaults are checked against their types; a duplicate key is an error. */
int rsp_config_declare(rsp_config_t *cfg, const rsp_config_key_t *keys, size_t n, char *err, size_t errlen);

/* Sets "section.name" (or a unique bare "name") from text; `origin` names the source for messages. */
int rsp_config_set(rsp_config_t *cfg, const char *key, const char *value, const char *origin, char *err,
                   size_t errlen);

/* Loads an INI file over the current values. */
int rsp_config_load_file(rsp_config_t *cfg, const char *path, char *err, size_t errlen);

/*
 * Parses argv[1..]: `--config=FILE` (or `--config FILE`) is loaded first, then every `--key=value` flag
 * over it.  `--help` / `-h` sets *want_help (may be NULL) and stops without error.  Anything that is not
 * a flag is an error.
 */
int rsp_config_parse_args(rsp_config_t *cfg, int argc, char **argv, int *want_help, char *err, size_t errlen);

/* Typed getters by "section.name". */
const char *rsp_config_str(const rsp_config_t *cfg, const char *key);
long long rsp_config_int(const rsp_config_t *cfg, const char *key);
int rsp_config_bool(const rsp_config_t *cfg, const char *key);
size_t rsp_config_size(const rsp_config_t *cfg, const char *key);

/* Splits a comma-separated list value (a copy the caller owns) in place into items with surrounding
 * spaces and tabs removed; empty items are skipped and items past max ignored.  Returns the count. */
size_t rsp_config_split_list(char *s, const char **items, size_t max);

/* Splits the comma-separated string setting key the same way, in a copy (*copy, which the caller frees;
 * NULL when out of memory, then 0 items). */
size_t rsp_config_list(const rsp_config_t *cfg, const char *key, char **copy, const char **items, size_t max);

/* A malloc'd copy of n strings (NULL-terminated as well), for settings kept past the configuration's
 * lifetime; NULL when out of memory.  Free with rsp_config_list_free(v, n), which accepts NULL. */
char **rsp_config_list_copy(const char *const *v, size_t n);
void rsp_config_list_free(char **v, size_t n);

/* Writes every key with its type, default and help text. */
void rsp_config_usage(const rsp_config_t *cfg, FILE *out);

/*
 * What an operator needs to know about a key beyond its type, kept beside the table (not in it) so that
 * a table entry stays seven fields.  Set with rsp_config_mark() after declaring; shown by the sample file
 * and used by --print-config, --check-config and the SIGHUP re-read.
 */
#define RSP_CFG_F_RELOAD 0x1   /* a changed value takes effect on SIGHUP; anything else needs a restart */
#define RSP_CFG_F_SECRET 0x2   /* the value itself is secret: --print-config masks it */
#define RSP_CFG_F_REQUIRED 0x4 /* must not be empty */
#define RSP_CFG_F_FILES 0x8    /* comma-separated files that must exist and be readable when set */

typedef struct rsp_config_mark {
    const char *key; /* "section.name" */
    unsigned flags;  /* RSP_CFG_F_* */
} rsp_config_mark_t;

/* ORs each mark's flags into its key (static or copied: only the flags are kept); an undeclared key is an
 * error. */
int rsp_config_mark(rsp_config_t *cfg, const rsp_config_mark_t *marks, size_t n, char *err, size_t errlen);
unsigned rsp_config_flags(const rsp_config_t *cfg, const char *key);

/* Number of declared keys, and the i-th one (declaration order) with its current text value. */
size_t rsp_config_count(const rsp_config_t *cfg);
const rsp_config_key_t *rsp_config_key_at(const rsp_config_t *cfg, size_t i, const char **value);

/* The annotated sample file: a header of comment lines (`title`, may hold newlines), then every key,
 * grouped by section, as its help text, type, bounds, flags and a commented-out `;name = default` line.
 * The packaged /etc/rsp/<service>.ini files are this output (a test compares them). */
void rsp_config_write_sample(const rsp_config_t *cfg, const char *title, FILE *out);

/* The effective values as an INI file (every key, set or default), secrets shown as "********". */
void rsp_config_write_effective(const rsp_config_t *cfg, FILE *out);

void rsp_config_free(rsp_config_t *cfg);

#endif
