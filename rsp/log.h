/*
 * rsp/log.h - JSON-lines logging (one object per line) for services.
 *
 * Every line carries "ts" (RFC 3339 UTC with milliseconds) and "level".
 * Access-log lines add method, path, status, GSMA code, latency and peer.
 * Values are JSON-escaped; nothing a client sends can break a line.
 * Output goes to stderr unless rsp_log_open() names a file (reopened on
 * SIGHUP by calling it again).  Thread safe: each line is one write(2).
 */
#ifndef RSP_LOG_H
#define RSP_LOG_H

#include <stdint.h>

enum rsp_log_level { RSP_LOG_DEBUG, RSP_LOG_INFO, RSP_LOG_WARN, RSP_LOG_ERROR };

/* Opens (or reopens) the log file; NULL or "-" means stderr.  0 / -1. */
int rsp_log_open(const char *path);
void rsp_log_set_level(enum rsp_log_level min);
void rsp_log_set_service(const char *name);

/* A message line: {"ts":..,"level":..,"service":..,"msg":"..."}. */
void rsp_log(enum rsp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct rsp_access {
    const char *method;
    const char *path;
    int http_status;
    const char *function; /* GSMA function name, may be NULL */
    const char *code;     /* "OK" or "subject/reason", may be NULL */
    uint64_t latency_us;
    const char *peer;   /* client identity (certificate OID/DNS) or address, may be NULL */
    const char *detail; /* internal reason for a refusal, for operators; may be NULL */
} rsp_access;

void rsp_log_access(const rsp_access *a);

/* Formats one access line into buf (for tests); returns its length. */
int rsp_log_format_access(char *buf, int cap, const rsp_access *a);

#endif
