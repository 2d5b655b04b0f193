/*
 * smds/store.h - the SM-DS Event Record store.
 *
 * A narrow interface (register, delete, list by EID, get by EventID, purge,
 * count, foreach) with two backends chosen by smds_store_config.backend:
 *   lmdb      (store_lmdb.c) one host: protobuf-c EventRecord values in an
 *             LMDB environment in dir, group commit by one writer thread;
 *   postgres  (store_pg.c) several hosts over one PostgreSQL database named by
 *             cfg.dsn (dir unused): group commit by the rsp/pg writer pool,
 *             reads by its reader pool; EventIDs and sequence numbers are
 *             unique cluster-wide (primary key and a database sequence).
 * Both complete writes through a callback run after the transaction carrying
 * them is durable.  With PostgreSQL unreachable, writes and asynchronous reads
 * are refused at once (-1 from the call, or RSP_ST_INTERNAL with the detail
 * "store unavailable"), and smds_store_ready() is false until it is back.
 *
 * Blocking: the synchronous reads (list, get, count, foreach) wait for the
 * database on postgres; handlers on h2o workers use the _async forms, which
 * complete inline on lmdb (smds_store_reads_inline() is true) and on a
 * reader thread on postgres.
 *
 * LMDB layout:
 *   events   eid(32) | seq(u64 BE)     -> EventRecord     arrival order per EID
 *   ids      eventId NUL                -> eid(32) | seq   EventID index (unique)
 *   expiry   expires_at(u64) | seq(u64) -> eid(32)         purge order
 *   meta     "seq"                      -> u64             last sequence number
 *
 * Ownership: lists returned by smds_store_list are malloc'd
 * (smds_event_list_free); single records are copied into caller memory.  Thread safety: every function may be
 * called from any thread. Errors: write results are an rsp_status (RSP_OK, RSP_ST_EVENT_EXISTS,
 * RSP_ST_EVENT_UNKNOWN, RSP_ST_INTERNAL ...); read functions return 0,
 * or -1 on storage failure.
 */
#ifndef SMDS_STORE_H
#define SMDS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "rsp/status.h"

#define SMDS_EID_LEN 32
#define SMDS_EVENT_ID_MAX 128
#define SMDS_ADDRESS_MAX 255
#define SMDS_OWNER_MAX 255

typedef struct smds_store smds_store;

typedef enum smds_store_backend {
    SMDS_STORE_LMDB = 0,
    SMDS_STORE_POSTGRES,
} smds_store_backend;

typedef struct smds_store_config {
    smds_store_backend backend; /* [lmdb] */
    const char *dsn;            /* postgres: libpq connection string (copied) */
    size_t per_eid_cap;         /* most events one EID may hold [100] */
    uint32_t max_age;           /* seconds an event lives; 0 = until deleted [0] */
    size_t map_size;            /* initial LMDB map size [64 MiB] */
    unsigned batch_max;         /* group-commit batch bound [256] */
    bool nosync;                /* benchmarks only: skip fsync (not durable) */
} smds_store_config;

typedef struct smds_event {
    char eid[SMDS_EID_LEN + 1];
    char event_id[SMDS_EVENT_ID_MAX + 1];
    char rsp_server_address[SMDS_ADDRESS_MAX + 1];
    char owner[SMDS_OWNER_MAX + 1];
    char root_smds[SMDS_ADDRESS_MAX + 1]; /* set when cascaded to a Root SM-DS */
    uint64_t seq;
    uint64_t created_at;
    uint64_t expires_at;
    bool forwarded;
    uint32_t via; /* 12 or 15 */
} smds_event;

/* True if eid is an EID as the store keeps them: SMDS_EID_LEN decimal digits. */
bool smds_eid_valid(const char *eid);

typedef struct smds_event_list {
    smds_event *items;
    size_t n;
} smds_event_list;

/* "lmdb" or "postgres" to a backend: 0 / -1 for any other name. */
int smds_store_backend_parse(const char *name, smds_store_backend *out);

/* Opens (creating) the store: in dir for lmdb; for postgres it connects and
 * brings the schema up to date (smds_store_migrate).  cfg may be NULL (lmdb).
 * NULL on failure, with a log line. */
smds_store *smds_store_open(const char *dir, const smds_store_config *cfg);

/* Creates or upgrades the PostgreSQL schema (smdsctl migrate; also done by
 * smds_store_open).  Safe to run from several nodes at once.  0, or -1 with a
 * message in err. */
int smds_store_migrate(const char *dsn, char *err, size_t errlen);

/* False while the backend's database is unreachable (always true on lmdb). */
bool smds_store_ready(const smds_store *s);

/* The PostgreSQL pool of a postgres store, for other shared state of the service (the replay store,
 * rsp/replay_pg.h); NULL on lmdb.  Owned by the store: valid until smds_store_close(). */
struct rsp_pg *smds_store_pg(smds_store *s);

/* True when reads complete inline without waiting for I/O other than a local
 * memory map (lmdb), so a handler may call the synchronous forms. */
bool smds_store_reads_inline(const smds_store *s);
/* Stops housekeeping, drains pending writes and closes.  NULL is a no-op. */
void smds_store_close(smds_store *s);

/* Completion of an asynchronous write, run on the writer thread after the
 * commit: st is the outcome; on RSP_OK for register, ev->seq is set.  It
 * must be quick and must not wait for another write. */
typedef void (*smds_store_done_cb)(void *arg, rsp_status st);

/*
 * Registers ev (eid, event_id, rsp_server_address, owner, via, forwarded,
 * root_smds are read; seq, created_at and expires_at are set here from now).
 * RSP_ST_EVENT_EXISTS when the EventID is taken; RSP_ST_INTERNAL (with a log
 * line) when the EID already holds per_eid_cap events or storage fails.  ev
 * must stay valid until done runs.  Returns 0 when queued, -1 when it could
 * not be queued (done is then not called).
 */
int smds_store_register(smds_store *s, smds_event *ev, time_t now, smds_store_done_cb done, void *arg);

/*
 * Deletes the event event_id of eid if owner registered it.  Unknown EventID,
 * another EID, or another owner all give RSP_ST_EVENT_UNKNOWN: a party learns
 * nothing about events that are not its own.  owner NULL skips the owner check
 * (administrative purge).  If out is non-NULL it receives the deleted record
 * (to cascade the deletion).  Strings are copied before queuing.
 */
int smds_store_delete(smds_store *s, const char *eid, const char *event_id, const char *owner,
                      smds_event *out, smds_store_done_cb done, void *arg);

/* Synchronous forms (tools, tests): return the final status. */
rsp_status smds_store_register_sync(smds_store *s, smds_event *ev, time_t now);
rsp_status smds_store_delete_sync(smds_store *s, const char *eid, const char *event_id, const char *owner,
                                  smds_event *out);

/* Events of eid not expired at now, oldest first.  0 / -1. */
int smds_store_list(smds_store *s, const char *eid, time_t now, smds_event_list *out);
/* One event by EventID (any EID): 1 found, 0 not found, -1 error. */
int smds_store_get(smds_store *s, const char *event_id, smds_event *out);

/* Asynchronous forms: cb gets what the synchronous form returns (rc) and the
 * list or record (the list is the callback's to free; ev is valid during the
 * call only).  It runs before the call returns on lmdb, or on a reader thread
 * on postgres.  Returns 0 when cb will run, -1 when the read could not be
 * queued (database down or overloaded; cb is then not called). */
typedef void (*smds_store_list_cb)(void *arg, int rc, smds_event_list *l);
typedef void (*smds_store_get_cb)(void *arg, int found, const smds_event *ev);
int smds_store_list_async(smds_store *s, const char *eid, time_t now, smds_store_list_cb cb, void *arg);
int smds_store_get_async(smds_store *s, const char *event_id, smds_store_get_cb cb, void *arg);
void smds_event_list_free(smds_event_list *l);

/* Deletes up to limit events expired at now; returns how many, or -1. */
long smds_store_purge(smds_store *s, time_t now, size_t limit);

/*
 * Starts a housekeeping thread that purges expired events every interval
 * seconds (in batches, so the writer is never held long).  Stopped by
 * smds_store_close().  Does nothing when max_age is 0.  0 / -1.
 */
int smds_store_housekeeping_start(smds_store *s, unsigned interval);

/* Number of stored events (all EIDs, expired ones not yet purged included).
 * On postgres this waits for a count query: /metrics uses the figure
 * smds_store_metrics writes instead. */
uint64_t smds_store_count(smds_store *s);

/* Iterates every event in key order (export); stops when fn returns non-zero. */
int smds_store_foreach(smds_store *s, int (*fn)(const smds_event *ev, void *arg), void *arg);

/* Writes the store's /metrics lines: smds_events_stored (on postgres the
 * figure of the last housekeeping round, never a query on the caller's
 * thread) and the group-commit statistics of the backend. */
void smds_store_metrics(smds_store *s, FILE *f);

#endif
