/*
 * rsp/snapshot.h - a value that a reload replaces while requests still use the old one.
 *
 * The value embeds an rsp_ref as its FIRST member, with the function that frees it.  Readers take a
 * counted reference with rsp_snapshot_get() and drop it with rsp_ref_put(); rsp_snapshot_replace()
 * installs a new value (taking over the caller's reference) and drops the slot's reference to the old
 * one, which is freed by whoever lets go of it last.  Thread safe; the lock is held only to copy the
 * pointer and count the reference.
 */
#ifndef RSP_SNAPSHOT_H
#define RSP_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

typedef struct rsp_ref {
    atomic_int refs;
    void (*release)(struct rsp_ref *r); /* frees the value that embeds r */
} rsp_ref;

typedef struct rsp_snapshot {
    pthread_mutex_t mu;
    rsp_ref *cur; /* NULL until the first replace */
} rsp_snapshot;

/* One reference, the creator's. */
static inline void rsp_ref_init(rsp_ref *r, void (*release)(rsp_ref *r))
{
    atomic_init(&r->refs, 1);
    r->release = release;
}

/* Drops one reference; the last one frees the value.  NULL is ignored. */
static inline void rsp_ref_put(rsp_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1)
        r->release(r);
}

static inline void rsp_snapshot_init(rsp_snapshot *s)
{
    pthread_mutex_init(&s->mu, NULL);
    s->cur = NULL;
}

/* A reference to the current value (NULL before the first replace); drop it with rsp_ref_put. */
static inline rsp_ref *rsp_snapshot_get(rsp_snapshot *s)
{
    pthread_mutex_lock(&s->mu);
    rsp_ref *r = s->cur;
    if (r)
        atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Makes next current, taking over the caller's reference to it. */
static inline void rsp_snapshot_replace(rsp_snapshot *s, rsp_ref *next)
{
    pthread_mutex_lock(&s->mu);
    rsp_ref *old = s->cur;
    s->cur = next;
    pthread_mutex_unlock(&s->mu);
    rsp_ref_put(old);
}

/* Drops the slot's reference; no reader may call rsp_snapshot_get any more. */
static inline void rsp_snapshot_destroy(rsp_snapshot *s)
{
    rsp_ref_put(s->cur);
    s->cur = NULL;
    pthread_mutex_destroy(&s->mu);
}

#endif
