#include "smdp_default/outbox.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smdp_default/store_testutil.h"
#include "tests/unit/ut.h"

static char g_dir[64];
static smdp_orders *g_store;

/* ---- a scripted receiver ---- */

#define MAX_LOG 64

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static struct {
    uint64_t seq;
    char target[SMDP_OB_TARGET_MAX + 1];
    uint32_t attempts;
} g_log[MAX_LOG];
static int g_nlog;
static int g_fail_left; /* "flaky" answers RETRY this many more times */
static int g_concurrent, g_max_concurrent;

static smdp_ob_outcome fake_send(void *ctx, const smdp_ob_item *it, char *err, size_t errlen)
{
    (void)ctx;
    pthread_mutex_lock(&g_mu);
    g_concurrent++;
    if (g_concurrent > g_max_concurrent)
        g_max_concurrent = g_concurrent;
    pthread_mutex_unlock(&g_mu);
    usleep(20000);
    smdp_ob_outcome out = SMDP_OB_SENT;
    pthread_mutex_lock(&g_mu);
    if (!strcmp(it->target, "down")) {
        out = SMDP_OB_RETRY;
    } else if (!strcmp(it->target, "gone")) {
        out = SMDP_OB_DROP;
    } else if (!strcmp(it->target, "flaky") && g_fail_left > 0) {
        g_fail_left--;
        out = SMDP_OB_RETRY;
    }
    if (out != SMDP_OB_SENT)
        snprintf(err, errlen, "scripted %s", out == SMDP_OB_RETRY ? "failure" : "refusal");
    if (g_nlog < MAX_LOG) {
        g_log[g_nlog].seq = it->seq;
        snprintf(g_log[g_nlog].target, sizeof(g_log[g_nlog].target), "%s", it->target);
        g_log[g_nlog].attempts = it->attempts;
        g_nlog++;
    }
    g_concurrent--;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return out;
}

static void reset_log(void)
{
    pthread_mutex_lock(&g_mu);
    g_nlog = 0;
    g_fail_left = 0;
    g_max_concurrent = 0;
    pthread_mutex_unlock(&g_mu);
}

static int count_items(void *arg, const smdp_ob_item *it)
{
    (void)it;
    (*(int *)arg)++;
    return 0;
}

static int pending(smdp_outbox *ob)
{
    int n = 0;
    UT_EQ(smdp_outbox_list(ob, count_items, &n), 0);
    return n;
}

/* Waits until the outbox holds `want` items, up to secs seconds. */
static bool wait_pending(smdp_outbox *ob, int want, int secs)
{
    for (int i = 0; i < secs * 20; i++) {
        if (pending(ob) == want)
            return true;
        usleep(50000);
    }
    return false;
}

/* ---- fixtures ---- */

static void open_store(void)
{
    smdp_orders_config cfg = {0};
    cfg.db.env_flags = MDB_NOSYNC;
    tu_orders_apply(&cfg);
    UT_EQ(smdp_orders_open(&g_store, g_dir, &cfg), 0);
}

static smdp_outbox *outbox_on(smdp_orders *store, uint32_t max_attempts)
{
    smdp_outbox_config cfg = {.threads = 3,
                              .backoff_min = 1,
                              .backoff_max = 1,
                              .max_attempts = max_attempts,
                              .unavailable_after = 1,
                              .send = fake_send};
    smdp_outbox *ob = smdp_outbox_new(store, &cfg);
    UT_CHECK(ob != NULL);
    return ob;
}

static smdp_outbox *new_outbox(uint32_t max_attempts)
{
    return outbox_on(g_store, max_attempts);
}

typedef struct add_job {
    smdp_outbox *ob;
    smdp_ob_item items[8];
    size_t n;
} add_job;

static int add_items(add_job *j)
{
    return smdp_orders_ob_add(g_store, j->items, j->n);
}

static void item(add_job *j, smdp_ob_kind kind, const char *stream, const char *target)
{
    smdp_ob_item *it = &j->items[j->n++];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    snprintf(it->stream, sizeof(it->stream), "%s", stream);
    snprintf(it->target, sizeof(it->target), "%s", target);
    snprintf(it->eid, sizeof(it->eid), "89049032123451234512345678901235");
    snprintf(it->event_id, sizeof(it->event_id), "EV-%zu", j->n);
    it->created_at = (uint64_t)time(NULL);
}

static void setup(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/smdp_outbox_test.XXXXXX");
    UT_CHECK(mkdtemp(g_dir) != NULL);
    tu_orders_fresh();
    open_store();
    reset_log();
}

static void teardown(void)
{
    smdp_orders_close(g_store);
    g_store = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    UT_EQ(system(cmd), 0);
}

/* ---- tests ---- */

static void test_backoff(void)
{
    smdp_outbox_config cfg = {.backoff_min = 2, .backoff_max = 60};
    UT_EQ(smdp_outbox_backoff(&cfg, 1), 2);
    UT_EQ(smdp_outbox_backoff(&cfg, 2), 4);
    UT_EQ(smdp_outbox_backoff(&cfg, 5), 32);
    UT_EQ(smdp_outbox_backoff(&cfg, 6), 60);
    UT_EQ(smdp_outbox_backoff(&cfg, 1000), 60);
}

static void test_stored_until_started(void)
{
    setup();
    smdp_outbox *ob = new_outbox(0);
    add_job j = {.ob = ob};
    item(&j, SMDP_OB_REGISTER_EVENT, "es12:1", "smds-a");
    item(&j, SMDP_OB_PROGRESS, "es2:1", "op1");
    j.items[1].result_len = 3;
    memcpy(j.items[1].result, "\xBF\x37\x00", 3);
    j.items[1].np_id = 4;
    UT_EQ(add_items(&j), 0);
    UT_CHECK(j.items[0].seq == 1 && j.items[1].seq == 2);
    /* an item without a stream is refused */
    add_job bad = {.ob = ob};
    item(&bad, SMDP_OB_DELETE_EVENT, "", "smds-a");
    UT_CHECK(add_items(&bad) != 0);
    smdp_outbox_free(ob);
    /* durable: still there after a restart of the store */
    smdp_orders_close(g_store);
    open_store();
    ob = new_outbox(0);
    UT_EQ(pending(ob), 2);
    smdp_outbox_stats st;
    UT_EQ(smdp_outbox_stats_get(ob, &st), 0);
    UT_EQ(st.pending, 2);
    UT_CHECK(st.oldest > 0);
    UT_EQ(smdp_outbox_start(ob), 0);
    UT_CHECK(wait_pending(ob, 0, 10));
    pthread_mutex_lock(&g_mu);
    UT_EQ(g_nlog, 2);
    pthread_mutex_unlock(&g_mu);
    UT_EQ(smdp_outbox_stats_get(ob, &st), 0);
    UT_EQ(st.sent, 2);
    UT_EQ(st.pending, 0);
    smdp_outbox_free(ob);
    teardown();
}

static void test_stream_order_and_retry(void)
{
    setup();
    smdp_outbox *ob = new_outbox(0);
    UT_EQ(smdp_outbox_start(ob), 0);
    pthread_mutex_lock(&g_mu);
    g_fail_left = 2;
    pthread_mutex_unlock(&g_mu);
    add_job j = {.ob = ob};
    item(&j, SMDP_OB_REGISTER_EVENT, "es12:A", "flaky");
    item(&j, SMDP_OB_DELETE_EVENT, "es12:A", "flaky");
    item(&j, SMDP_OB_REGISTER_EVENT, "es12:B", "other");
    UT_EQ(add_items(&j), 0);
    smdp_outbox_kick(ob);
    UT_CHECK(wait_pending(ob, 0, 20));
    pthread_mutex_lock(&g_mu);
    /* A1 failed twice and then went through; A2 only after it; B did not wait for A */
    int a1 = 0, a2_first = -1, a1_last = -1, b = -1;
    for (int i = 0; i < g_nlog; i++) {
        if (g_log[i].seq == 1) {
            a1++;
            a1_last = i;
        }
        if (g_log[i].seq == 2 && a2_first < 0)
            a2_first = i;
        if (g_log[i].seq == 3)
            b = i;
    }
    UT_EQ(a1, 3);
    UT_CHECK(a2_first > a1_last);
    UT_CHECK(b >= 0 && b < a1_last);
    UT_EQ(g_log[a1_last].attempts, 3);
    pthread_mutex_unlock(&g_mu);
    smdp_outbox_stats st;
    UT_EQ(smdp_outbox_stats_get(ob, &st), 0);
    UT_EQ(st.retries, 2);
    UT_EQ(st.sent, 3);
    smdp_outbox_free(ob);
    teardown();
}

static void test_drop_and_target_down(void)
{
    setup();
    smdp_outbox *ob = new_outbox(2);
    UT_EQ(smdp_outbox_start(ob), 0);
    add_job j = {.ob = ob};
    item(&j, SMDP_OB_REGISTER_EVENT, "es12:G", "gone");
    item(&j, SMDP_OB_REGISTER_EVENT, "es12:D", "down");
    UT_EQ(add_items(&j), 0);
    uint64_t t0 = (uint64_t)time(NULL);
    smdp_outbox_kick(ob);
    /* "gone" refuses for good at once; "down" is given up after two attempts */
    UT_CHECK(wait_pending(ob, 0, 20));
    smdp_outbox_stats st;
    UT_EQ(smdp_outbox_stats_get(ob, &st), 0);
    UT_EQ(st.dropped, 2);
    UT_EQ(st.sent, 0);
    UT_CHECK(smdp_outbox_target_down(ob, "down", t0 + 60));
    UT_CHECK(!smdp_outbox_target_down(ob, "down", t0 - 1));
    UT_CHECK(!smdp_outbox_target_down(ob, "gone", t0 + 60));
    UT_CHECK(!smdp_outbox_target_down(ob, "never-used", t0 + 60));
    smdp_outbox_free(ob);
    teardown();
}

static void test_many(void)
{
    setup();
    smdp_outbox *ob = new_outbox(0);
    UT_EQ(smdp_outbox_start(ob), 0);
    for (int r = 0; r < 5; r++) {
        add_job j = {.ob = ob};
        for (int i = 0; i < 8; i++) {
            char stream[16];
            snprintf(stream, sizeof(stream), "s%d", i);
            item(&j, SMDP_OB_PROGRESS, stream, "op");
        }
        UT_EQ(add_items(&j), 0);
        smdp_outbox_kick(ob);
    }
    UT_CHECK(wait_pending(ob, 0, 20));
    pthread_mutex_lock(&g_mu);
    UT_EQ(g_nlog, 40);
    UT_CHECK(g_max_concurrent <= 3);
    /* within one stream, sequence order */
    uint64_t last[8] = {0};
    for (int i = 0; i < g_nlog; i++) {
        int s = (int)((g_log[i].seq - 1) % 8);
        UT_CHECK(g_log[i].seq > last[s]);
        last[s] = g_log[i].seq;
    }
    pthread_mutex_unlock(&g_mu);
    smdp_outbox_free(ob);
    teardown();
}

/* Two nodes' outboxes over one database claim from the same items: each is sent once, one stream's items
 * in order. */
static void test_two_claimers(void)
{
    if (!tu_orders_pg()) {
        printf("two claimers: PostgreSQL only\n");
        return;
    }
    setup();
    smdp_orders *other;
    smdp_orders_config cfg = {0};
    tu_orders_apply(&cfg);
    UT_EQ(smdp_orders_open(&other, NULL, &cfg), 0);
    smdp_outbox *a = new_outbox(0), *b = outbox_on(other, 0);
    for (int r = 0; r < 6; r++) {
        add_job j = {.ob = a};
        for (int i = 0; i < 8; i++) {
            char stream[16];
            snprintf(stream, sizeof(stream), "s%d", i);
            item(&j, SMDP_OB_PROGRESS, stream, "op");
        }
        UT_EQ(add_items(&j), 0);
    }
    UT_EQ(smdp_outbox_start(a), 0);
    UT_EQ(smdp_outbox_start(b), 0);
    UT_CHECK(wait_pending(a, 0, 30));
    pthread_mutex_lock(&g_mu);
    UT_EQ(g_nlog, 48);
    uint64_t last[8] = {0};
    bool seen[49] = {false};
    for (int i = 0; i < g_nlog; i++) {
        uint64_t seq = g_log[i].seq;
        UT_CHECK(seq >= 1 && seq <= 48 && !seen[seq]);
        if (seq >= 1 && seq <= 48)
            seen[seq] = true;
        int st = (int)((seq - 1) % 8);
        UT_CHECK(seq > last[st]);
        last[st] = seq;
    }
    pthread_mutex_unlock(&g_mu);
    smdp_outbox_stats sa, sb;
    UT_EQ(smdp_outbox_stats_get(a, &sa), 0);
    UT_EQ(smdp_outbox_stats_get(b, &sb), 0);
    UT_EQ(sa.sent + sb.sent, 48);
    smdp_outbox_free(a);
    smdp_outbox_free(b);
    smdp_orders_close(other);
    teardown();
}

int main(void)
{
    if (tu_orders_start(TU_ORDERS_PG, "outbox_test") != 0)
        return 0;
    UT_RUN(test_backoff);
    UT_RUN(test_stored_until_started);
    UT_RUN(test_stream_order_and_retry);
    UT_RUN(test_drop_and_target_down);
    UT_RUN(test_many);
    UT_RUN(test_two_claimers);
    tu_orders_stop();
    return ut_finish();
}
