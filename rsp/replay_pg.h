/*
 * rsp/replay_pg.h - the PostgreSQL backend of the consumed-transactionId store (rsp/replay.h): every
 * node of a cluster sharing one database refuses an ES11 / ES9+ AuthenticateClient whose transaction any
 * node consumed before, as long as the transaction is valid.
 *
 * Rows live in rsp_consumed_txn (created by rsp_pg_migrate for any component), keyed by (component, tid),
 * so the SM-DS and the SM-DP+ may share one database without seeing each other's ids.  The consumes
 * queued together run as one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING (a merged job of
 * rsp/pg.h: one round trip for the group), group-committed with the other writes of the service: FRESH once
 * the row is durable, USED when a row was there (committed by any node, or earlier in the same batch), ERROR
 * when the database is unreachable or the commit was not confirmed (answer "temporarily unavailable"; the
 * memory cache keeps the id, so that transaction is over either way).  Two nodes consuming the same id at the
 * same instant: PostgreSQL makes the second INSERT wait for the first transaction, so exactly one gets FRESH.
 * Expired rows are deleted by a purge job queued every RSP_REPLAY_PG_PURGE_EVERY consumes (at most
 * RSP_REPLAY_PG_PURGE_MAX rows each, SKIP LOCKED so nodes purging at once do not wait for each other).
 *
 * Use (e.g. in a service's start-up, after its store opened the pool):
 *   rsp_replay_backend b;
 *   if (rsp_replay_pg_open(&b, pool, "smdp", err, sizeof(err)) != 0) fail(err);
 *   replay = rsp_replay_new(capacity, &b);             -- takes b
 *   ...
 *   rsp_replay_free(replay);                           -- before
 *   rsp_pg_close(pool);
 *
 * Ownership: the backend borrows pg, which must stay open while consumes may be made (free the
 * rsp_replay first, or close the pool only once no handler runs); rsp_replay_free waits for the consumes
 * in flight to end (their done runs).  component is copied.  Thread safety: as rsp/replay.h.  Errors: see
 * rsp_replay_pg_open.
 */
#ifndef RSP_REPLAY_PG_H
#define RSP_REPLAY_PG_H

#include <stddef.h>

#include "rsp/pg.h"
#include "rsp/replay.h"

#define RSP_REPLAY_PG_PURGE_EVERY 128 /* consumes per purge job */
#define RSP_REPLAY_PG_PURGE_MAX 1024  /* rows one purge job deletes at most */

/*
 * Fills out with a backend consuming ids under component (1 to 63 characters, e.g. "smds", "smdp") on
 * pg.  Checks once, synchronously, that the table exists (the caller ran rsp_pg_migrate).  0, or -1 with
 * a message in err (bad component, table missing, database unreachable).
 */
int rsp_replay_pg_open(rsp_replay_backend *out, rsp_pg *pg, const char *component, char *err, size_t errlen);

#endif
