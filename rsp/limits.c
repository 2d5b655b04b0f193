/* rsp/limits.c - see limits.h. */
#include "rsp/limits.h"

#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct client_entry {
    struct client_entry *next;
    rsp_client_key_t key;
    unsigned count;
};

struct rsp_client_table {
    pthread_mutex_t lock;
    struct client_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;    /* entries */
};

int rsp_client_key(rsp_client_key_t *key, int listener, const struct sockaddr *sa, socklen_t len)
{
    memset(key, 0, sizeof(*key));
    key->b[0] = (uint8_t)((unsigned)listener >> 8);
    key->b[1] = (uint8_t)listener;
    if (sa == NULL)
        return -1;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        key->b[2] = 4;
        memcpy(key->b + 4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key->b[2] = 4;
            memcpy(key->b + 4, a->s6_addr + 12, 4);
        } else {
            key->b[2] = 6;
            memcpy(key->b + 4, a->s6_addr, 16);
        }
        return 0;
    }
    return -1;
}

rsp_client_table_t *rsp_client_table_new(void)
{
    rsp_client_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->nbuckets = 256;
    if ((t->buckets = calloc(t->nbuckets, sizeof(*t->buckets))) == NULL) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void rsp_client_table_free(rsp_client_table_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct client_entry *e = t->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->buckets);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* FNV-1a over the key. */
static size_t key_hash(const rsp_client_key_t *k)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < sizeof(k->b); i++) {
        h ^= k->b[i];
        h *= 0x100000001b3ULL;
    }
    return (size_t)(h ^ (h >> 32));
}

static struct client_entry **find_slot(rsp_client_table_t *t, const rsp_client_key_t *key)
{
    struct client_entry **p = &t->buckets[key_hash(key) & (t->nbuckets - 1)];
    while (*p != NULL && memcmp((*p)->key.b, key->b, sizeof(key->b)) != 0)
        p = &(*p)->next;
    return p;
}

/* Doubles the buckets when entries outnumber them; keeps the old array if memory is short. */
static void maybe_grow(rsp_client_table_t *t)
{
    if (t->count < t->nbuckets)
        return;
    size_t n = t->nbuckets * 2;
    struct client_entry **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct client_entry *e = t->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            size_t h = key_hash(&e->key) & (n - 1);
            e->next = b[h];
            b[h] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

int rsp_client_acquire(rsp_client_table_t *t, const rsp_client_key_t *key, unsigned max)
{
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    struct client_entry **p = find_slot(t, key);
    if (*p != NULL) {
        if (max != 0 && (*p)->count >= max)
            rc = -1;
        else
            (*p)->count++;
    } else {
        struct client_entry *e = calloc(1, sizeof(*e));
        if (e == NULL) {
            rc = -1;
        } else {
            e->key = *key;
            e->count = 1;
            *p = e;
            t->count++;
            maybe_grow(t);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void rsp_client_release(rsp_client_table_t *t, const rsp_client_key_t *key)
{
    pthread_mutex_lock(&t->lock);
    struct client_entry **p = find_slot(t, key);
    struct client_entry *e = *p;
    if (e != NULL && --e->count == 0) {
        *p = e->next;
        t->count--;
        free(e);
    }
    pthread_mutex_unlock(&t->lock);
}

unsigned rsp_client_count(rsp_client_table_t *t, const rsp_client_key_t *key)
{
    pthread_mutex_lock(&t->lock);
    struct client_entry *e = *find_slot(t, key);
    unsigned n = e != NULL ? e->count : 0;
    pthread_mutex_unlock(&t->lock);
    return n;
}

int rsp_limits_raise_nofile(uint64_t *before, uint64_t *after)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (before != NULL)
        *before = (uint64_t)rl.rlim_cur;
    if (after != NULL)
        *after = (uint64_t)rl.rlim_cur;
    if (rl.rlim_cur == rl.rlim_max)
        return 0;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (after != NULL)
        *after = (uint64_t)rl.rlim_cur;
    return 0;
}

long rsp_limits_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

uint64_t rsp_limits_fd_budget(uint64_t soft_limit, long open_now, unsigned extra)
{
    uint64_t used = (uint64_t)(open_now > 0 ? open_now : 0) + extra + RSP_LIMITS_FD_RESERVE;
    return soft_limit > used ? soft_limit - used : 1;
}
