/*
 * rsp/limits.h - bookkeeping for connection limits: connections per client address, and the process's
 * file-descriptor budget.  The accept path of rsp/http.c uses these; they hold no h2o state.
 *
 * Client table: counts open connections per (listener, client address), shared by every worker thread
 * (SO_REUSEPORT spreads one client's connections over workers).  One mutex; an entry exists only while
 * its count is above zero, so the table holds at most one entry per open connection.
 *
 * Errors: functions returning int give 0 on success, -1 on failure (see each).
 */
#ifndef RSP_LIMITS_H
#define RSP_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A client's identity for counting: the listener index, the address family and the address bytes
 * (the port is left out: one client, many ports). */
typedef struct rsp_client_key {
    uint8_t b[20];
} rsp_client_key_t;

/* Fills *key from a socket address (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4).  Returns -1
 * for any other family or a short length. */
int rsp_client_key(rsp_client_key_t *key, int listener, const struct sockaddr *sa, socklen_t len);

typedef struct rsp_client_table rsp_client_table_t;

/* NULL on allocation failure. */
rsp_client_table_t *rsp_client_table_new(void);
void rsp_client_table_free(rsp_client_table_t *t);

/* Takes one connection for key if the key has fewer than max (0 = no limit, still counted).  Returns 0
 * when taken, -1 when the key is at max or memory ran out (the caller refuses the connection). */
int rsp_client_acquire(rsp_client_table_t *t, const rsp_client_key_t *key, unsigned max);
/* Gives back one connection taken by rsp_client_acquire. */
void rsp_client_release(rsp_client_table_t *t, const rsp_client_key_t *key);
/* Open connections counted for key (tests, metrics). */
unsigned rsp_client_count(rsp_client_table_t *t, const rsp_client_key_t *key);

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit.  *before and *after (may be NULL) get the soft limit
 * before and after; returns 0, or -1 when setrlimit failed (then *after == *before).
 */
int rsp_limits_raise_nofile(uint64_t *before, uint64_t *after);

/* Descriptors the process has open now (counts /proc/self/fd; -1 if that cannot be read). */
long rsp_limits_open_fds(void);

/* Descriptors kept free for the store, logs and outgoing connections when the accept path stops
 * taking connections at the descriptor limit. */
#define RSP_LIMITS_FD_RESERVE 64

/*
 * How many connections the process may hold at the current soft RLIMIT_NOFILE, leaving `open_now`
 * descriptors already in use, `extra` more that will be opened besides connections, and the reserve.
 * At least 1.
 */
uint64_t rsp_limits_fd_budget(uint64_t soft_limit, long open_now, unsigned extra);

#endif
