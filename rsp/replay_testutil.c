#include "rsp/replay_testutil.h"

#include <pthread.h>
#include <string.h>

void rsp_replay_test_tid(uint8_t t[RSP_TXN_ID_LEN], uint32_t i)
{
    memset(t, 0, RSP_TXN_ID_LEN);
    uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ull;
    memcpy(t + 8, &h, sizeof(h));
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, result;
} waiter;

static void on_done(void *arg, int result)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->result = result;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int rsp_replay_test_commit(rsp_replay *r, uint32_t i, uint32_t expiry, uint32_t now)
{
    uint8_t t[RSP_TXN_ID_LEN];
    rsp_replay_test_tid(t, i);
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    int rc = rsp_replay_commit(r, t, expiry, now, on_done, &w);
    if (rc != RSP_REPLAY_PENDING)
        return rc;
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    return w.result;
}

int rsp_replay_test_consume(rsp_replay *r, uint32_t i, uint32_t expiry, uint32_t now)
{
    uint8_t t[RSP_TXN_ID_LEN];
    rsp_replay_test_tid(t, i);
    if (rsp_replay_check(r, t, expiry, now) == RSP_REPLAY_USED)
        return RSP_REPLAY_USED;
    return rsp_replay_test_commit(r, i, expiry, now);
}
