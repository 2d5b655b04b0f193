/*
 * bench/preload.h - bulk preload of an SM-DS event store for the scale test.
 *
 * Writes n Event Records, record i for EID number k = i * stride (the EID
 * made from eid_prefix and k by pki_eid_make) with EventID
 * <event_prefix><k as 12 digits>, into an empty
 * store directory: the same records, keys and databases as smds/store.c
 * writes for n RegisterEvent calls made in that order at time now (seq
 * i + 1, the "seq" meta record, expiry entries when max_age is set).
 * preload_test.c checks that against smds_store_register record by record.
 *
 * Why not smds_store_register: every register is its own nested transaction
 * with a lookup, a per-EID count and a meta update (about 100k/s here).  The
 * preload instead generates keys already in order and appends them
 * (MDB_APPEND: no tree descent, full pages) in big transactions with
 * MDB_NOSYNC, then syncs once at the end so that no writeback runs during the
 * measurement.  Only for benchmarks: the server never uses it.
 *
 * Errors: 0 / -1 with a message in err.  Not thread safe; the store must
 * not be open elsewhere while it runs.
 */
#ifndef BENCH_PRELOAD_H
#define BENCH_PRELOAD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct preload_cfg {
    const char *dir;          /* store directory (the server's <state_dir>/events) */
    uint64_t n;               /* events: one for each EID number i * stride, i < n */
    uint64_t stride;          /* [1] */
    const char *eid_prefix;   /* e.g. "89049032" */
    const char *event_prefix; /* EventID prefix, e.g. "BENCH-" */
    const char *address;      /* rspServerAddress */
    const char *owner;        /* registering party, as ES12 records it (certificate OID or name) */
    uint32_t max_age;         /* the server's smds.event_max_age (0 = no expiry) */
    time_t now;               /* created_at */
    uint64_t batch;           /* events per transaction [100000] */
    void (*progress)(uint64_t done, uint64_t total, void *arg); /* after each batch, may be NULL */
    void *progress_arg;
} preload_cfg;

int preload_events(const preload_cfg *cfg, char *err, size_t errcap);

/* EventID of the event for EID number k. */
void preload_event_id(const preload_cfg *cfg, uint64_t k, char *out, size_t cap);

/* Reads the store back through smds/store.h: the count is n, and for each
 * of the k EID numbers in check[] (multiples of stride) the EID lists
 * exactly its event and the EventID finds it. */
int preload_check(const preload_cfg *cfg, const uint64_t *check, size_t k, char *err, size_t errcap);

#endif
