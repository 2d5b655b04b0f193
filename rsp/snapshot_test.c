#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "rsp/snapshot.h"
#include "tests/unit/ut.h"

typedef struct value {
    rsp_ref ref;
    int gen;
    atomic_int in_use; /* readers holding it: must be 0 when freed */
} value;

static atomic_int created, freed, freed_while_used;

static void release(rsp_ref *r)
{
    value *v = (value *)r;
    if (atomic_load(&v->in_use) != 0)
        atomic_fetch_add(&freed_while_used, 1);
    atomic_fetch_add(&freed, 1);
    free(v);
}

static value *make(int gen)
{
    value *v = calloc(1, sizeof(*v));
    rsp_ref_init(&v->ref, release);
    v->gen = gen;
    atomic_fetch_add(&created, 1);
    return v;
}

static void test_single(void)
{
    atomic_store(&created, 0);
    atomic_store(&freed, 0);
    rsp_snapshot s;
    rsp_snapshot_init(&s);
    UT_CHECK(rsp_snapshot_get(&s) == NULL);
    rsp_snapshot_replace(&s, &make(1)->ref);
    value *a = (value *)rsp_snapshot_get(&s);
    UT_EQ(a->gen, 1);
    rsp_snapshot_replace(&s, &make(2)->ref);
    UT_EQ(atomic_load(&freed), 0); /* a reader still holds generation 1 */
    UT_EQ(a->gen, 1);
    rsp_ref_put(&a->ref);
    UT_EQ(atomic_load(&freed), 1);
    value *b = (value *)rsp_snapshot_get(&s);
    UT_EQ(b->gen, 2);
    rsp_ref_put(&b->ref);
    rsp_ref_put(NULL);
    rsp_snapshot_destroy(&s);
    UT_EQ(atomic_load(&freed), 2);
}

static rsp_snapshot shared;
static atomic_int stop;

static void *reader(void *arg)
{
    (void)arg;
    int last = 0, backwards = 0;
    while (!atomic_load(&stop)) {
        value *v = (value *)rsp_snapshot_get(&shared);
        atomic_fetch_add(&v->in_use, 1);
        if (v->gen < last)
            backwards++;
        last = v->gen;
        atomic_fetch_sub(&v->in_use, 1);
        rsp_ref_put(&v->ref);
    }
    return (void *)(intptr_t)backwards;
}

static void test_concurrent(void)
{
    atomic_store(&created, 0);
    atomic_store(&freed, 0);
    atomic_store(&freed_while_used, 0);
    rsp_snapshot_init(&shared);
    rsp_snapshot_replace(&shared, &make(0)->ref);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    for (int g = 1; g <= 20000; g++)
        rsp_snapshot_replace(&shared, &make(g)->ref);
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) {
        void *backwards;
        pthread_join(t[i], &backwards);
        UT_EQ((intptr_t)backwards, 0); /* a reader never sees an older value after a newer one */
    }
    rsp_snapshot_destroy(&shared);
    UT_EQ(atomic_load(&freed), atomic_load(&created));
    UT_EQ(atomic_load(&freed_while_used), 0);
}

int main(void)
{
    UT_RUN(test_single);
    UT_RUN(test_concurrent);
    return ut_finish();
}
