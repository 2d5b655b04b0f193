/*
 * rsp/log.h - JSON-lines logging (one object per line) for services.
 *
 * Every line carries "ts" (RFC 3339 UTC with milliseconds) and "level".
 * Access-log lines add method, path, status, GSMA code, latency and peer.
 * Values are JSON-escaped; nothing a client sends can break a line.
 * Output goes to stderr unless rsp_log_open() names a file (reopened on
 * SIGHUP by calling it again).
 *
 * Buffering: access lines are gathered in a buffer per thread and written
 * in batches of whole lines: when the buffer is nearly full, by a flusher
 * thread about RSP_LOG_FLUSH_MS after a buffer went non-empty, when the
 * thread exits, on rsp_log_open() (before the switch), at exit() and on
 * rsp_log_flush().  Message lines (rsp_log) are written at once, after the
 * calling thread's pending access lines.  Thread safe: writes are serialised,
 * so lines never interleave, even on a pipe.
 */
#ifndef RSP_LOG_H
#define RSP_LOG_H

#include <stdbool.h>
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
    const char *peer;    /* client identity (certificate OID/DNS) or address, may be NULL */
    const char *detail;  /* internal reason for a refusal, for operators; may be NULL */
    const char *call_id; /* server-to-server functionCallIdentifier ("callId"), may be NULL */
    const char *addr;    /* client IP address (from the PROXY header behind a load balancer), may be NULL */
} rsp_access;

/* Longest time an access line waits in its buffer, in milliseconds. */
#define RSP_LOG_FLUSH_MS 50

/* Queues one access line (buffered, see above).  Access lines are info lines: dropped when the level
 * set is warn or error, or when the access log is switched off. */
void rsp_log_access(const rsp_access *a);
/* The access-log switch (log.access); on by default. */
void rsp_log_set_access(bool on);

/* Writes every thread's pending access lines now. */
void rsp_log_flush(void);

/* Formats one access line into buf (for tests); returns its length. */
int rsp_log_format_access(char *buf, int cap, const rsp_access *a);

#endif
