/*
 * tests/pg/pgtmp.h - a throw-away PostgreSQL server for tests and benchmarks.
 *
 * pgtmp_start() runs initdb into a fresh directory under $TMPDIR (or /tmp) and starts the server with
 * pg_ctl: no TCP listener, one unix socket inside that directory, fsync and synchronous_commit on (the
 * defaults, stated explicitly so a test measures durable commits).  initdb and postgres refuse to run as
 * root, so under uid 0 the directory is handed to the unprivileged user "nobody" and the server programs
 * run as that user; the DSN names the role "rsp" either way.
 *
 * The binaries are looked up in RSP_PG_BINDIR, then /usr/lib/postgresql/<newest>/bin (Debian's layout).
 *
 * Ownership: the pgtmp value is the caller's; pgtmp_stop() stops the server and removes the directory.
 * Errors: pgtmp_start() returns 0 when the server accepts connections, PGTMP_ABSENT when no PostgreSQL
 * binaries are installed (a test then prints SKIP), -1 on any other failure with a line on stderr.
 */
#ifndef TESTS_PG_PGTMP_H
#define TESTS_PG_PGTMP_H

#include <stdbool.h>

#define PGTMP_ABSENT 1

typedef struct pgtmp {
    char dir[256];    /* the cluster's directory: data/, the socket and server.log */
    char bindir[256]; /* where initdb, pg_ctl and postgres were found */
    char dsn[512];    /* libpq connection string of the running server */
    bool running;
} pgtmp;

/* Creates and starts a server in a new directory.  0, PGTMP_ABSENT or -1. */
int pgtmp_start(pgtmp *p);

/* Takes over the running server of an existing directory made by pgtmp_start() (another process, e.g.
 * the pgtmp tool).  0, PGTMP_ABSENT or -1 (not such a directory). */
int pgtmp_attach(pgtmp *p, const char *dir);

/* Starts (again) the server of an existing directory, e.g. after pgtmp_halt().  0 / -1. */
int pgtmp_resume(pgtmp *p);

/* Stops the server (fast shutdown) but keeps the directory.  0 / -1. */
int pgtmp_halt(pgtmp *p);

/* Stops the server if it runs and removes the directory.  Safe on a pgtmp that never started. */
void pgtmp_stop(pgtmp *p);

/* Empties the server's database (drops and recreates the public schema), so that a test starts from a
 * fresh store without a new server.  0 / -1. */
int pgtmp_reset(pgtmp *p);

/* Creates database name (letters, digits, '_') unless it exists.  0 / -1. */
int pgtmp_create_db(pgtmp *p, const char *name);

/* Starts a server for a test: 0 when running, PGTMP_ABSENT after printing "SKIP: <what>: ..."; aborts
 * the test process when PostgreSQL is installed but does not start (CI must not skip silently). */
int pgtmp_start_for_test(pgtmp *p, const char *what);

#endif
