/*
 * smds/store.h - the SM-DS Event Record store.
 *
 * The interface is deliberately narrow (register, delete, list by EID, get by
 * EventID, purge) so that a second backend (PostgreSQL for multi-node) is a
 * new file, not a rewrite.  This implementation keeps the records in LMDB
 * (protobuf-c EventRecord values) with group commit: writes complete through
 * a callback run after the transaction carrying them is durable.
 *
 * Layout (LMDB databases):
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
#include <time.h>

#include "rsp/status.h"

#define SMDS_EID_LEN 32
#define SMDS_EVENT_ID_MAX 128
#define SMDS_ADDRESS_MAX 255
#define SMDS_OWNER_MAX 255

typedef struct smds_store smds_store;

typedef struct smds_store_config {
    size_t per_eid_cap; /* most events one EID may hold [100] */
    uint32_t max_age;   /* seconds an event lives; 0 = until deleted [0] */
    size_t map_size;    /* initial LMDB map size [64 MiB] */
    unsigned batch_max; /* group-commit batch bound [256] */
    bool nosync;        /* benchmarks only: skip fsync (not durable) */
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

/* Opens (creating) the store in dir.  cfg may be NULL.  NULL on failure. */
smds_store *smds_store_open(const char *dir, const smds_store_config *cfg);
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
void smds_event_list_free(smds_event_list *l);

/* Deletes up to limit events expired at now; returns how many, or -1. */
long smds_store_purge(smds_store *s, time_t now, size_t limit);

/*
 * Starts a housekeeping thread that purges expired events every interval
 * seconds (in batches, so the writer is never held long).  Stopped by
 * smds_store_close().  Does nothing when max_age is 0.  0 / -1.
 */
int smds_store_housekeeping_start(smds_store *s, unsigned interval);

/* Number of stored events (all EIDs, expired ones not yet purged included). */
uint64_t smds_store_count(smds_store *s);

/* Iterates every event in key order (export); stops when fn returns non-zero. */
int smds_store_foreach(smds_store *s, int (*fn)(const smds_event *ev, void *arg), void *arg);

/* The underlying env statistics for /metrics (group-commit batches). */
struct rsp_db_env *smds_store_db(smds_store *s);

#endif
