/*
 * rsp/arena.h - bounded per-request bump allocator.
 *
 * An arena hands out memory from a list of heap chunks and frees it all at
 * once (rsp_arena_reset, rsp_arena_free); there is no per-allocation free.  A
 * request gets one arena, so everything decoded for it (JSON strings, base64
 * binaries, token arrays, response buffers) goes away together.
 *
 * The arena never takes more than `max` bytes of chunk memory from malloc
 * (plus a small header per chunk): an allocation that would pass the limit
 * returns NULL, as does a failing malloc.  Memory is aligned for any type
 * (max_align_t).  A zero-byte request returns a valid, distinct pointer.
 *
 * Not thread-safe: one arena belongs to one request on one thread.
 */
#ifndef RSP_ARENA_H
#define RSP_ARENA_H

#include <stddef.h>

typedef struct rsp_arena rsp_arena;

/* Creates an arena that may hold up to max bytes (max > 0).  NULL on
 * allocation failure or max == 0.  Free with rsp_arena_free(). */
rsp_arena *rsp_arena_new(size_t max);

/* Frees the arena and all memory handed out from it.  NULL is accepted. */
void rsp_arena_free(rsp_arena *a);

/* Returns n bytes (uninitialised), or NULL when the limit would be passed or
 * malloc fails.  The arena stays usable after a NULL. */
void *rsp_arena_alloc(rsp_arena *a, size_t n);

/* Same as rsp_arena_alloc() but zero-filled. */
void *rsp_arena_calloc(rsp_arena *a, size_t count, size_t size);

/* Copies n bytes into the arena.  NULL on failure. */
void *rsp_arena_memdup(rsp_arena *a, const void *p, size_t n);

/* Copies n bytes and appends a NUL.  NULL on failure. */
char *rsp_arena_strndup(rsp_arena *a, const char *s, size_t n);

/* Invalidates everything handed out; keeps one chunk for reuse so that a
 * worker can recycle its arena between requests without calling malloc. */
void rsp_arena_reset(rsp_arena *a);

/* Bytes handed out since creation or the last reset (including alignment). */
size_t rsp_arena_used(const rsp_arena *a);

/* Chunk bytes currently taken from malloc (never above the max). */
size_t rsp_arena_reserved(const rsp_arena *a);

#endif
