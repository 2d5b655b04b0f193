/*
 * bench/procs.h - the processes rsp-bench runs: the servers under test
 * (started with a port file, stopped with SIGTERM), and helper tools
 * (h2load, gnuplot) whose output it reads.
 *
 * Ownership: a bench_server's strings are copies it owns (bench_server_stop
 * frees them); captured output is a heap string the caller frees.
 * Errors: 0 / -1 with a message in err, unless stated.
 */
#ifndef BENCH_PROCS_H
#define BENCH_PROCS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct bench_server {
    pid_t pid;
    int device_port, s2s_port;
    char *port_file, *out_file;
} bench_server;

/*
 * Starts argv (argv[0] is a path) with stdout and stderr appended to
 * out_file, and waits up to timeout_ms for it to write port_file ("device
 * <port>\ns2s <port>\n", removed first).  Fails, killing the child, when it
 * exits or times out first; err then holds the end of out_file.
 */
int bench_server_start(bench_server *s, char *const argv[], const char *port_file, const char *out_file,
                       int timeout_ms, char *err, size_t errcap);
/* SIGTERM, then SIGKILL after timeout_ms; returns the exit status (128 +
 * signal when killed, -1 if it was not running).  Frees the strings. */
int bench_server_stop(bench_server *s, int timeout_ms);

/* Parses a port file.  0 / -1 (either port missing). */
int bench_parse_ports(const char *text, int *device, int *s2s);

/* Runs argv to completion with stdout and stderr captured into *out (NUL
 * terminated); kills it after timeout_s.  Returns its exit status, or -1 when
 * it could not run. */
int bench_run(char *const argv[], char **out, int timeout_s);

/* What h2load reports. */
typedef struct h2load_result {
    double secs, rps;
    uint64_t total, succeeded, failed, errored, timeout, status_2xx;
} h2load_result;
int bench_parse_h2load(const char *text, h2load_result *r);

/* True if path names an executable file. */
int bench_executable(const char *path);
/* First of name's directories in $PATH holding an executable name, written
 * to out; 0 / -1. */
int bench_which(const char *name, char *out, size_t cap);

#endif
