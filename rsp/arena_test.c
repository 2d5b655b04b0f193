#include "rsp/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/ut.h"

static void test_basic_alloc(void)
{
    rsp_arena *a = rsp_arena_new(4096);
    UT_CHECK(a != NULL);
    char *p = rsp_arena_alloc(a, 10);
    char *q = rsp_arena_alloc(a, 10);
    UT_CHECK(p && q && p != q);
    memset(p, 'x', 10);
    memset(q, 'y', 10);
    UT_EQ(p[9], 'x');
    UT_EQ(q[0], 'y');
    UT_CHECK((uintptr_t)p % _Alignof(max_align_t) == 0);
    UT_CHECK((uintptr_t)q % _Alignof(max_align_t) == 0);
    UT_EQ(rsp_arena_used(a), 2 * _Alignof(max_align_t));
    rsp_arena_free(a);
}

static void test_zero_size(void)
{
    rsp_arena *a = rsp_arena_new(1024);
    void *p = rsp_arena_alloc(a, 0);
    void *q = rsp_arena_alloc(a, 0);
    UT_CHECK(p != NULL && q != NULL && p != q);
    rsp_arena_free(a);
}

static void test_limit(void)
{
    rsp_arena *a = rsp_arena_new(1000);
    UT_CHECK(rsp_arena_alloc(a, 1001) == NULL);
    /* A failed allocation leaves the arena usable. */
    UT_CHECK(rsp_arena_alloc(a, 500) != NULL);
    UT_CHECK(rsp_arena_alloc(a, 400) != NULL);
    UT_CHECK(rsp_arena_alloc(a, 200) == NULL);
    UT_CHECK(rsp_arena_reserved(a) <= 1000);
    rsp_arena_free(a);

    /* The whole budget can be taken in one piece. */
    a = rsp_arena_new(100000);
    UT_CHECK(rsp_arena_alloc(a, 100000) != NULL);
    UT_CHECK(rsp_arena_alloc(a, 1) == NULL);
    rsp_arena_free(a);

    UT_CHECK(rsp_arena_new(0) == NULL);
}

static void test_overflow(void)
{
    rsp_arena *a = rsp_arena_new(1 << 20);
    UT_CHECK(rsp_arena_alloc(a, SIZE_MAX) == NULL);
    UT_CHECK(rsp_arena_alloc(a, SIZE_MAX - 8) == NULL);
    UT_CHECK(rsp_arena_calloc(a, SIZE_MAX / 2, 4) == NULL);
    UT_CHECK(rsp_arena_strndup(a, "x", SIZE_MAX) == NULL);
    UT_CHECK(rsp_arena_alloc(a, 16) != NULL);
    rsp_arena_free(a);
}

static void test_many_chunks(void)
{
    /* Growth across many chunks keeps earlier data intact and stays under the limit. */
    rsp_arena *a = rsp_arena_new(1 << 20);
    unsigned char *ptrs[500];
    for (int i = 0; i < 500; i++) {
        ptrs[i] = rsp_arena_alloc(a, 100 + (size_t)i);
        UT_CHECK(ptrs[i] != NULL);
        if (ptrs[i])
            memset(ptrs[i], i & 0xFF, 100 + (size_t)i);
    }
    int bad = 0;
    for (int i = 0; i < 500; i++)
        for (int k = 0; k < 100 + i; k++)
            bad += ptrs[i][k] != (i & 0xFF);
    UT_EQ(bad, 0);
    UT_CHECK(rsp_arena_reserved(a) <= (1 << 20));
    UT_CHECK(rsp_arena_used(a) <= rsp_arena_reserved(a));
    rsp_arena_free(a);
}

static void test_big_alloc_keeps_head(void)
{
    /* A large one-off allocation must not waste the current chunk's free tail:
     * the next small allocation still fits without a new chunk. */
    rsp_arena *a = rsp_arena_new(1 << 20);
    UT_CHECK(rsp_arena_alloc(a, 16) != NULL);
    size_t before = rsp_arena_reserved(a);
    UT_CHECK(rsp_arena_alloc(a, 200000) != NULL);
    size_t after_big = rsp_arena_reserved(a);
    UT_EQ(after_big - before, 200000);
    UT_CHECK(rsp_arena_alloc(a, 16) != NULL);
    UT_EQ(rsp_arena_reserved(a), after_big);
    rsp_arena_free(a);
}

static void test_reset(void)
{
    rsp_arena *a = rsp_arena_new(64 * 1024);
    for (int i = 0; i < 50; i++)
        UT_CHECK(rsp_arena_alloc(a, 1000) != NULL);
    UT_CHECK(rsp_arena_alloc(a, 60000) == NULL); /* budget mostly used */
    rsp_arena_reset(a);
    UT_EQ(rsp_arena_used(a), 0);
    UT_CHECK(rsp_arena_reserved(a) > 0); /* one chunk kept for reuse */
    size_t kept = rsp_arena_reserved(a);
    UT_CHECK(rsp_arena_alloc(a, 100) != NULL);
    UT_EQ(rsp_arena_reserved(a), kept); /* served from the kept chunk */
    rsp_arena_reset(a);
    UT_CHECK(rsp_arena_alloc(a, 60000) != NULL);
    rsp_arena_reset(a);
    rsp_arena_reset(a);
    rsp_arena_free(a);

    /* Reset of a fresh arena is harmless. */
    a = rsp_arena_new(100);
    rsp_arena_reset(a);
    UT_EQ(rsp_arena_reserved(a), 0);
    rsp_arena_free(a);
    rsp_arena_free(NULL);
}

static void test_helpers(void)
{
    rsp_arena *a = rsp_arena_new(4096);
    char *s = rsp_arena_strndup(a, "hello world", 5);
    UT_CHECK(s && strcmp(s, "hello") == 0);
    s = rsp_arena_strndup(a, "", 0);
    UT_CHECK(s && s[0] == '\0');
    unsigned char src[3] = {1, 2, 3};
    unsigned char *m = rsp_arena_memdup(a, src, 3);
    UT_CHECK(m && m[0] == 1 && m[2] == 3);
    UT_CHECK(rsp_arena_memdup(a, NULL, 0) != NULL);
    unsigned char *z = rsp_arena_alloc(a, 64);
    memset(z, 0xAA, 64);
    rsp_arena_reset(a);
    z = rsp_arena_calloc(a, 16, 4);
    int nz = 0;
    for (int i = 0; i < 64; i++)
        nz += z[i] != 0;
    UT_EQ(nz, 0);
    rsp_arena_free(a);
}

int main(void)
{
    UT_RUN(test_basic_alloc);
    UT_RUN(test_zero_size);
    UT_RUN(test_limit);
    UT_RUN(test_overflow);
    UT_RUN(test_many_chunks);
    UT_RUN(test_big_alloc_keeps_head);
    UT_RUN(test_reset);
    UT_RUN(test_helpers);
    return ut_finish();
}
