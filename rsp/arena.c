#include "rsp/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN (_Alignof(max_align_t))
#define FIRST_CHUNK 1024
#define MAX_CHUNK (1u << 20)

struct chunk {
    struct chunk *next;
    size_t cap;
    size_t used;
};

/* Chunk data starts after the header, rounded up so it is max-aligned. */
#define HDR ((sizeof(struct chunk) + ALIGN - 1) & ~(ALIGN - 1))

struct rsp_arena {
    struct chunk *head; /* the chunk small allocations come from */
    size_t max;
    size_t reserved;  /* sum of chunk capacities */
    size_t used;      /* bytes handed out */
    size_t next_size; /* capacity of the next ordinary chunk */
};

static unsigned char *chunk_data(struct chunk *c)
{
    return (unsigned char *)c + HDR;
}

rsp_arena *rsp_arena_new(size_t max)
{
    if (max == 0)
        return NULL;
    rsp_arena *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->max = max;
    a->next_size = FIRST_CHUNK;
    return a;
}

void rsp_arena_free(rsp_arena *a)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *rsp_arena_alloc(rsp_arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ALIGN)
        return NULL;
    size_t sz = (n + ALIGN - 1) & ~(ALIGN - 1);
    struct chunk *h = a->head;
    if (h && h->cap - h->used >= sz) {
        void *p = chunk_data(h) + h->used;
        h->used += sz;
        a->used += sz;
        return p;
    }
    if (h && h->used == 0 && sz > a->max - a->reserved) {
        /* An empty chunk kept by a reset must not make the arena smaller
         * than a fresh one: give its budget back. */
        a->head = h->next;
        a->reserved -= h->cap;
        free(h);
        h = a->head;
    }
    size_t room = a->max - a->reserved;
    if (sz > room || sz > SIZE_MAX - HDR)
        return NULL;
    size_t want = a->next_size > sz ? a->next_size : sz;
    if (want > room)
        want = room;
    struct chunk *c = malloc(HDR + want);
    if (!c)
        return NULL;
    c->cap = want;
    c->used = sz;
    a->reserved += want;
    a->used += sz;
    if (a->next_size < MAX_CHUNK)
        a->next_size *= 2;
    /* A big one-off chunk must not strand the free tail of the current head. */
    if (h && h->cap - h->used > want - sz) {
        c->next = h->next;
        h->next = c;
    } else {
        c->next = h;
        a->head = c;
    }
    return chunk_data(c);
}

void *rsp_arena_calloc(rsp_arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = rsp_arena_alloc(a, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *rsp_arena_memdup(rsp_arena *a, const void *p, size_t n)
{
    void *q = rsp_arena_alloc(a, n);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

char *rsp_arena_strndup(rsp_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *q = rsp_arena_alloc(a, n + 1);
    if (!q)
        return NULL;
    if (n)
        memcpy(q, s, n);
    q[n] = '\0';
    return q;
}

void rsp_arena_reset(rsp_arena *a)
{
    struct chunk *keep = NULL;
    for (struct chunk *c = a->head; c; c = c->next)
        if (!keep || c->cap > keep->cap)
            keep = c;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        if (c != keep)
            free(c);
        c = next;
    }
    a->head = keep;
    a->reserved = 0;
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
        a->reserved = keep->cap;
    }
    a->used = 0;
}

size_t rsp_arena_used(const rsp_arena *a)
{
    return a->used;
}

size_t rsp_arena_reserved(const rsp_arena *a)
{
    return a->reserved;
}
