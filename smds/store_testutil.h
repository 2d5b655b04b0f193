/*
 * smds/store_testutil.h - the event store backend a test runs against.  Test tooling only.
 *
 * Tests declared with store_backend_test (tests/pg/backends.bzl) are built twice from one source; the
 * PostgreSQL build defines TEST_STORE_POSTGRES.  main() calls tu_store_start(TEST_STORE, ...) first: on
 * postgres it starts a throw-away server (tests/pg/pgtmp.h), and every configuration made afterwards
 * through tu_store_apply() (tu_config does it) points at it.
 */
#ifndef SMDS_STORE_TESTUTIL_H
#define SMDS_STORE_TESTUTIL_H

#include "smds/store.h"

#ifdef TEST_STORE_POSTGRES
#define TEST_STORE "postgres"
#else
#define TEST_STORE "lmdb"
#endif

/* 0 ready, 1 skip the test (PostgreSQL not installed; "SKIP" printed).  Aborts on other failures. */
int tu_store_start(const char *backend, const char *what);
/* Sets the backend and DSN of cfg to the ones under test: one database for the process. */
void tu_store_apply(smds_store_config *cfg);
/* The same for the store of a service whose state is in state_dir: on postgres each state directory gets
 * a database of its own (created on first use), as each has its own LMDB environment. */
void tu_store_apply_dir(smds_store_config *cfg, const char *state_dir);
/* An empty store for the next open (postgres: empties the database; lmdb: nothing, tests use a new
 * directory). */
void tu_store_fresh(void);
/* Stops the server, if any. */
void tu_store_stop(void);
/* Stops / restarts the PostgreSQL server (fault tests).  0 / -1. */
int tu_store_halt(void);
int tu_store_resume(void);
/* True when testing PostgreSQL. */
bool tu_store_pg(void);

#endif
