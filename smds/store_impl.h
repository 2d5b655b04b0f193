/*
 * smds/store_impl.h - what the event store backends (store_lmdb.c, store_pg.c) share with the
 * dispatching front (store.c).  Private to smds/store*.c.
 *
 * The front validates arguments, runs housekeeping and the synchronous wrappers; a backend implements
 * the operations below with the contracts of store.h.  Every backend's open allocates the whole
 * smds_store (the front fills ops and cfg and initialises the housekeeping fields) and close frees its
 * own part only.
 */
#ifndef SMDS_STORE_IMPL_H
#define SMDS_STORE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "smds/store.h"

typedef struct smds_store_ops {
    int (*open)(smds_store *s, const char *dir);
    void (*close)(smds_store *s);
    int (*reg)(smds_store *s, smds_event *ev, time_t now, smds_store_done_cb done, void *arg);
    int (*del)(smds_store *s, const char *eid, const char *event_id, const char *owner, smds_event *out,
               smds_store_done_cb done, void *arg);
    int (*list)(smds_store *s, const char *eid, time_t now, smds_event_list *out);
    int (*list_async)(smds_store *s, const char *eid, time_t now, smds_store_list_cb cb, void *arg);
    int (*get)(smds_store *s, const char *event_id, smds_event *out);
    int (*get_async)(smds_store *s, const char *event_id, smds_store_get_cb cb, void *arg);
    long (*purge)(smds_store *s, time_t now, size_t limit);
    uint64_t (*count)(smds_store *s);
    int (*foreach)(smds_store *s, int (*fn)(const smds_event *ev, void *arg), void *arg);
    bool (*ready)(const smds_store *s);
    void (*metrics)(smds_store *s, FILE *f);
    bool reads_inline;
} smds_store_ops;

extern const smds_store_ops smds_store_lmdb_ops;
extern const smds_store_ops smds_store_pg_ops;

struct smds_store {
    const smds_store_ops *ops;
    smds_store_config cfg;
    char *dsn;  /* cfg.dsn points here */
    void *impl; /* the backend's state */
    /* housekeeping */
    pthread_t hk;
    bool hk_running, hk_stop;
    unsigned hk_interval;
    pthread_mutex_t hk_mu;
    pthread_cond_t hk_cv;
    atomic_uint_fast64_t count_seen; /* events counted by the last housekeeping round (postgres) */
};

/* Copies a C string into a fixed field (empty for NULL), truncating. */
void smds_store_copy(char *dst, size_t cap, const char *src);

/* Appends ev to l, growing it (cap: its allocated length, 0 at first).  0 / -1 out of memory. */
int smds_store_list_add(smds_event_list *l, size_t *cap, const smds_event *ev);

/* Completion of a register or delete job: the caller's callback as first member of every job. */
struct smds_store_job_done {
    smds_store_done_cb done;
    void *arg;
};

/* The queued forms of register and delete, the same for every backend (malloc'd; the backend frees them
 * after calling cb.done). */
struct smds_store_reg_job {
    struct smds_store_job_done cb;
    smds_store *s;
    smds_event *ev;
    time_t now;
};

struct smds_store_del_job {
    struct smds_store_job_done cb;
    smds_store *s;
    char eid[SMDS_EID_LEN + 1];
    char event_id[SMDS_EVENT_ID_MAX + 1];
    char owner[SMDS_OWNER_MAX + 1];
    bool check_owner; /* owner NULL: administrative delete */
    smds_event *out;
};

/* NULL when out of memory; arguments as smds_store_register / smds_store_delete (strings copied). */
struct smds_store_reg_job *smds_store_reg_job_new(smds_store *s, smds_event *ev, time_t now,
                                                  smds_store_done_cb done, void *arg);
struct smds_store_del_job *smds_store_del_job_new(smds_store *s, const char *eid, const char *event_id,
                                                  const char *owner, smds_event *out, smds_store_done_cb done,
                                                  void *arg);

#endif
