/*
 * smdp_default/store_testutil.h - the order store backend a test runs against.  Test tooling only.
 *
 * Tests declared with store_backend_test (tests/pg/backends.bzl) are built twice from one source; the
 * PostgreSQL build defines TEST_STORE_POSTGRES.  main() calls tu_orders_start(TU_ORDERS_PG, ...) first: on postgres it
 * starts a throw-away server (tests/pg/pgtmp.h), and every configuration passed through
 * tu_orders_apply() afterwards points at its database.
 */
#ifndef SMDP_STORE_TESTUTIL_H
#define SMDP_STORE_TESTUTIL_H

#include <stdbool.h>

#include "smdp_default/orders.h"

#ifdef TEST_STORE_POSTGRES
#define TU_ORDERS_PG true
#else
#define TU_ORDERS_PG false
#endif

/* pg: TU_ORDERS_PG.  0 ready, 1 skip the test (PostgreSQL not installed; "SKIP" printed).  Aborts on
 * other failures. */
int tu_orders_start(bool pg, const char *what);
/* Sets the backend and DSN of cfg to the ones under test (one database for the process). */
void tu_orders_apply(smdp_orders_config *cfg);
/* An empty store for the next open (postgres: empties the database; lmdb: nothing, tests use a new
 * directory). */
void tu_orders_fresh(void);
/* Stops the server, if any. */
void tu_orders_stop(void);
/* True when testing PostgreSQL. */
bool tu_orders_pg(void);

#endif
