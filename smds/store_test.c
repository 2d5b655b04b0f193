#include "smds/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smds/store_testutil.h"
#include "tests/unit/ut.h"

static char dir[512];

/* A new store location: a new LMDB directory, or an emptied PostgreSQL database. */
static void fresh_dir(const char *name)
{
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/%s", tmp ? tmp : "/tmp", name);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    UT_EQ(system(cmd), 0);
    tu_store_fresh();
}

/* Opens the store under test at dir with cfg (NULL: defaults). */
static smds_store *open_store(const smds_store_config *cfg)
{
    smds_store_config c = cfg ? *cfg : (smds_store_config){0};
    tu_store_apply(&c);
    return smds_store_open(dir, &c);
}

static smds_event mk(const char *eid, const char *id, const char *addr, const char *owner)
{
    smds_event ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.eid, sizeof(ev.eid), "%s", eid);
    snprintf(ev.event_id, sizeof(ev.event_id), "%s", id);
    snprintf(ev.rsp_server_address, sizeof(ev.rsp_server_address), "%s", addr);
    snprintf(ev.owner, sizeof(ev.owner), "%s", owner);
    ev.via = 12;
    return ev;
}

#define EID1 "89049032123451234512345678901235"
#define EID2 "89049032123451234512345678901299"

static void test_register_list_delete(void)
{
    fresh_dir("s1");
    smds_store *s = open_store(NULL);
    UT_CHECK(s != NULL);
    smds_event a = mk(EID1, "EV-A", "smdp.example.com", "2.999.10");
    smds_event b = mk(EID1, "EV-B", "smdp2.example.com", "2.999.12");
    smds_event c = mk(EID2, "EV-C", "smdp.example.com", "2.999.10");
    UT_EQ(smds_store_register_sync(s, &a, 1000), RSP_OK);
    UT_EQ(smds_store_register_sync(s, &b, 1001), RSP_OK);
    UT_EQ(smds_store_register_sync(s, &c, 1002), RSP_OK);
    UT_CHECK(a.seq < b.seq && b.seq < c.seq);

    smds_event dup = mk(EID2, "EV-A", "x", "2.999.10");
    UT_EQ(smds_store_register_sync(s, &dup, 1003), RSP_ST_EVENT_EXISTS);

    smds_event_list l;
    UT_EQ(smds_store_list(s, EID1, 2000, &l), 0);
    UT_EQ(l.n, 2);
    if (l.n == 2) {
        UT_CHECK(strcmp(l.items[0].event_id, "EV-A") == 0); /* arrival order */
        UT_CHECK(strcmp(l.items[1].event_id, "EV-B") == 0);
        UT_CHECK(strcmp(l.items[1].rsp_server_address, "smdp2.example.com") == 0);
    }
    smds_event_list_free(&l);
    UT_EQ(smds_store_count(s), 3);

    smds_event got;
    UT_EQ(smds_store_get(s, "EV-C", &got), 1);
    UT_CHECK(strcmp(got.eid, EID2) == 0);
    UT_EQ(smds_store_get(s, "nope", &got), 0);

    /* another owner cannot delete; wrong EID cannot delete */
    UT_EQ(smds_store_delete_sync(s, EID1, "EV-A", "2.999.12", NULL), RSP_ST_EVENT_UNKNOWN);
    UT_EQ(smds_store_delete_sync(s, EID2, "EV-A", "2.999.10", NULL), RSP_ST_EVENT_UNKNOWN);
    UT_EQ(smds_store_delete_sync(s, EID1, "EV-Z", "2.999.10", NULL), RSP_ST_EVENT_UNKNOWN);
    UT_EQ(smds_store_count(s), 3);
    smds_event del;
    UT_EQ(smds_store_delete_sync(s, EID1, "EV-A", "2.999.10", &del), RSP_OK);
    UT_CHECK(strcmp(del.rsp_server_address, "smdp.example.com") == 0);
    UT_EQ(smds_store_delete_sync(s, EID1, "EV-A", "2.999.10", NULL), RSP_ST_EVENT_UNKNOWN);
    /* the EventID is free again */
    smds_event again = mk(EID2, "EV-A", "smdp.example.com", "2.999.10");
    UT_EQ(smds_store_register_sync(s, &again, 1004), RSP_OK);
    smds_store_close(s);

    /* restart keeps everything */
    s = open_store(NULL);
    UT_EQ(smds_store_count(s), 3);
    UT_EQ(smds_store_list(s, EID2, 2000, &l), 0);
    UT_EQ(l.n, 2);
    if (l.n == 2)
        UT_CHECK(strcmp(l.items[0].event_id, "EV-C") == 0 && strcmp(l.items[1].event_id, "EV-A") == 0);
    smds_event_list_free(&l);
    /* sequence numbers keep growing after restart */
    smds_event d = mk(EID2, "EV-D", "smdp.example.com", "2.999.10");
    UT_EQ(smds_store_register_sync(s, &d, 1005), RSP_OK);
    UT_CHECK(d.seq > again.seq);
    smds_store_close(s);
}

static void test_cap_and_expiry(void)
{
    fresh_dir("s2");
    smds_store_config cfg = {.per_eid_cap = 3, .max_age = 100};
    smds_store *s = open_store(&cfg);
    char id[16];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "E%d", i);
        smds_event e = mk(EID1, id, "a.example", "o");
        UT_EQ(smds_store_register_sync(s, &e, 1000 + i), RSP_OK);
        UT_EQ(e.expires_at, 1100 + i);
    }
    smds_event e = mk(EID1, "E3", "a.example", "o");
    UT_EQ(smds_store_register_sync(s, &e, 1003), RSP_ST_INTERNAL);
    smds_event other = mk(EID2, "F0", "a.example", "o");
    UT_EQ(smds_store_register_sync(s, &other, 1050), RSP_OK);

    smds_event_list l;
    UT_EQ(smds_store_list(s, EID1, 1100, &l), 0); /* E0 expires at 1100: gone */
    UT_EQ(l.n, 2);
    if (l.n == 2)
        UT_CHECK(strcmp(l.items[0].event_id, "E1") == 0);
    smds_event_list_free(&l);
    UT_EQ(smds_store_list(s, EID1, 1101, &l), 0); /* E1 too */
    UT_EQ(l.n, 1);
    smds_event_list_free(&l);

    UT_EQ(smds_store_purge(s, 1101, 100), 2); /* E0, E1 */
    UT_EQ(smds_store_count(s), 2);
    UT_EQ(smds_store_get(s, "E0", &e), 0);
    UT_EQ(smds_store_purge(s, 1101, 100), 0);
    UT_EQ(smds_store_purge(s, 5000, 1), 1); /* limit honoured */
    UT_EQ(smds_store_purge(s, 5000, 100), 1);
    UT_EQ(smds_store_count(s), 0);
    smds_store_close(s);
}

static void test_bad_input(void)
{
    fresh_dir("s3");
    smds_store *s = open_store(NULL);
    smds_event e = mk("123", "X", "a", "o");
    UT_EQ(smds_store_register_sync(s, &e, 1), RSP_ST_INTERNAL);
    e = mk(EID1, "", "a", "o");
    UT_EQ(smds_store_register_sync(s, &e, 1), RSP_ST_INTERNAL);
    UT_EQ(smds_store_delete_sync(s, "short", "X", "o", NULL), RSP_ST_INTERNAL);
    smds_event_list l;
    UT_EQ(smds_store_list(s, "short", 1, &l), 0);
    UT_EQ(l.n, 0);
    UT_EQ(smds_store_count(s), 0);
    smds_store_close(s);
}

static int count_cb(const smds_event *ev, void *arg)
{
    (void)ev;
    (*(int *)arg)++;
    return 0;
}

static void test_eid_valid(void)
{
    UT_CHECK(smds_eid_valid("89049032123451234512345678901235"));
    UT_CHECK(!smds_eid_valid("8904903212345123451234567890123"));   /* 31 digits */
    UT_CHECK(!smds_eid_valid("890490321234512345123456789012350")); /* 33 */
    UT_CHECK(!smds_eid_valid("8904903212345123451234567890123A"));
    UT_CHECK(!smds_eid_valid(" 8904903212345123451234567890123"));
    UT_CHECK(!smds_eid_valid(""));
}

static void test_foreach(void)
{
    fresh_dir("s4");
    smds_store *s = open_store(NULL);
    for (int i = 0; i < 50; i++) {
        char id[16];
        snprintf(id, sizeof(id), "id%02d", i);
        smds_event e = mk(i % 2 ? EID1 : EID2, id, "a.example", "o");
        UT_EQ(smds_store_register_sync(s, &e, 10), RSP_OK);
    }
    int n = 0;
    UT_EQ(smds_store_foreach(s, count_cb, &n), 0);
    UT_EQ(n, 50);
    smds_store_close(s);
}

static void test_housekeeping(void)
{
    fresh_dir("s5");
    smds_store_config cfg = {.max_age = 1};
    smds_store *s = open_store(&cfg);
    UT_CHECK(s != NULL);
    smds_event e = mk(EID1, "HK1", "a.example", "o");
    UT_EQ(smds_store_register_sync(s, &e, time(NULL)), RSP_OK);
    smds_event f = mk(EID1, "HK2", "a.example", "o");
    UT_EQ(smds_store_register_sync(s, &f, time(NULL) + 3600), RSP_OK);
    UT_EQ(smds_store_count(s), 2);
    UT_EQ(smds_store_housekeeping_start(s, 1), 0);
    for (int i = 0; i < 50 && smds_store_count(s) > 1; i++)
        usleep(100 * 1000);
    UT_EQ(smds_store_count(s), 1);
    UT_EQ(smds_store_get(s, "HK2", &e), 1);
    smds_store_close(s);

    /* no max age: housekeeping is not needed and not started */
    fresh_dir("s6");
    s = open_store(NULL);
    UT_EQ(smds_store_housekeeping_start(s, 1), 0);
    smds_store_close(s);
}

struct got_list {
    int calls, rc;
    smds_event_list l;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void on_list(void *arg, int rc, smds_event_list *l)
{
    struct got_list *g = arg;
    pthread_mutex_lock(&g->mu);
    g->rc = rc;
    g->l = *l;
    g->calls++;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

struct got_event {
    int calls, found;
    smds_event ev;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void on_get(void *arg, int found, const smds_event *ev)
{
    struct got_event *g = arg;
    pthread_mutex_lock(&g->mu);
    g->found = found;
    if (ev)
        g->ev = *ev;
    g->calls++;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

#define WAIT_CALL(g)                                                                                         \
    do {                                                                                                     \
        pthread_mutex_lock(&(g)->mu);                                                                        \
        while ((g)->calls == 0)                                                                              \
            pthread_cond_wait(&(g)->cv, &(g)->mu);                                                           \
        pthread_mutex_unlock(&(g)->mu);                                                                      \
    } while (0)

/* A burst of writes and reads queued at once (on postgres they run merged, one statement per group):
 * duplicates of an EventID and more events on one EID than its cap inside one burst get the answers
 * they get one at a time, and every poll of the burst sees its own EID's events in arrival order. */
#define BURST 200

struct burst {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left;
    rsp_status st[BURST];
    smds_event_list l[BURST];
    int rc[BURST];
};

struct burst_slot {
    struct burst *b;
    int i;
};

static void burst_one(struct burst *b)
{
    pthread_mutex_lock(&b->mu);
    if (--b->left == 0)
        pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void on_burst_reg(void *arg, rsp_status st)
{
    struct burst_slot *x = arg;
    x->b->st[x->i] = st;
    burst_one(x->b);
}

static void on_burst_list(void *arg, int rc, smds_event_list *l)
{
    struct burst_slot *x = arg;
    x->b->rc[x->i] = rc;
    x->b->l[x->i] = *l;
    burst_one(x->b);
}

static void burst_wait(struct burst *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->left)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

static void test_burst(void)
{
    fresh_dir("s9");
    smds_store_config cfg = {.per_eid_cap = 3};
    smds_store *s = open_store(&cfg);
    static smds_event ev[BURST];
    static struct burst b;
    struct burst_slot slot[BURST];
    b = (struct burst){.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .left = BURST};
    /* 0..149: one EID each; 150..159: EventID "DUP" on ten EIDs; 160..199: EID1, cap 3 */
    for (int i = 0; i < BURST; i++) {
        char eid[SMDS_EID_LEN + 1], id[32];
        snprintf(eid, sizeof(eid), "890490321234512345123456%08u", (unsigned)(i < 160 ? i : 99999999));
        if (i >= 150 && i < 160)
            snprintf(id, sizeof(id), "DUP");
        else
            snprintf(id, sizeof(id), "B-%d", i);
        ev[i] = mk(eid, id, "a.example", "o");
        slot[i] = (struct burst_slot){&b, i};
    }
    for (int i = 0; i < BURST; i++)
        UT_EQ(smds_store_register(s, &ev[i], 100, on_burst_reg, &slot[i]), 0);
    burst_wait(&b);
    int ok = 0, dup_ok = 0, dup_exists = 0, cap_ok = 0, cap_refused = 0;
    for (int i = 0; i < BURST; i++) {
        if (i < 150)
            ok += b.st[i] == RSP_OK;
        else if (i < 160)
            dup_ok += b.st[i] == RSP_OK, dup_exists += b.st[i] == RSP_ST_EVENT_EXISTS;
        else
            cap_ok += b.st[i] == RSP_OK, cap_refused += b.st[i] == RSP_ST_INTERNAL;
    }
    /* Two writers may split the burst between them (as two nodes would): one duplicate wins and the
     * cap holds, but the winners need not be the first to arrive. */
    UT_EQ(ok, 150);
    UT_EQ(dup_ok, 1);
    UT_EQ(dup_exists, 9);
    UT_EQ(cap_ok, 3);
    UT_EQ(cap_refused, 37);
    if (!tu_store_pg()) {
        UT_EQ(b.st[150], RSP_OK); /* one writer: the first of the duplicates wins */
        for (int i = 160; i < 163; i++)
            UT_EQ(b.st[i], RSP_OK);
    }
    UT_EQ(smds_store_count(s), 154);

    /* Polls: every EID of the burst once, EID "...99999999" ten times. */
    b.left = BURST;
    for (int i = 0; i < BURST; i++)
        UT_EQ(smds_store_list_async(s, ev[i < 160 ? i : 160 + i % 10].eid, 101, on_burst_list, &slot[i]), 0);
    burst_wait(&b);
    int right = 0;
    for (int i = 0; i < BURST; i++) {
        smds_event_list *l = &b.l[i];
        if (b.rc[i] != 0)
            continue;
        if (i < 150) {
            right += l->n == 1 && !strcmp(l->items[0].event_id, ev[i].event_id);
        } else if (i < 160) {
            right += l->n == (b.st[i] == RSP_OK);
        } else {
            /* the accepted ones and no other, in sequence order */
            bool good = (int)l->n == cap_ok;
            for (size_t k = 0; good && k < l->n; k++) {
                int idx = atoi(l->items[k].event_id + 2);
                good = idx >= 160 && idx < BURST && b.st[idx] == RSP_OK &&
                       (k == 0 || l->items[k - 1].seq < l->items[k].seq);
            }
            right += good;
        }
        smds_event_list_free(l);
    }
    UT_EQ(right, BURST);
    smds_store_close(s);
}

static void test_async_reads(void)
{
    fresh_dir("s7");
    smds_store *s = open_store(NULL);
    smds_event a = mk(EID1, "AS-1", "a.example", "o");
    UT_EQ(smds_store_register_sync(s, &a, 10), RSP_OK);
    struct got_list gl = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    UT_EQ(smds_store_list_async(s, EID1, 20, on_list, &gl), 0);
    WAIT_CALL(&gl);
    UT_EQ(gl.rc, 0);
    UT_EQ(gl.l.n, 1);
    smds_event_list_free(&gl.l);
    /* A malformed EID answers at once with nothing. */
    gl.calls = 0;
    UT_EQ(smds_store_list_async(s, "123", 20, on_list, &gl), 0);
    UT_EQ(gl.calls, 1);
    UT_EQ(gl.l.n, 0);
    struct got_event ge = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    UT_EQ(smds_store_get_async(s, "AS-1", on_get, &ge), 0);
    WAIT_CALL(&ge);
    UT_EQ(ge.found, 1);
    UT_CHECK(strcmp(ge.ev.eid, EID1) == 0);
    ge.calls = 0;
    UT_EQ(smds_store_get_async(s, "AS-2", on_get, &ge), 0);
    WAIT_CALL(&ge);
    UT_EQ(ge.found, 0);
    UT_CHECK(smds_store_ready(s));
    UT_EQ(smds_store_reads_inline(s), !tu_store_pg());
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    smds_store_metrics(s, f);
    fclose(f);
    UT_CHECK(strstr(buf, "smds_events_stored") != NULL);
    free(buf);
    smds_store_close(s);
}

struct race {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    rsp_status st[2];
};

static void raced(void *arg, rsp_status st)
{
    struct race *r = arg;
    pthread_mutex_lock(&r->mu);
    r->st[r->n++] = st;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Two nodes over one database: each sees the other's writes; one EventID has one winner. */
static void test_two_nodes(void)
{
    fresh_dir("s8");
    smds_store *a = open_store(NULL), *b = open_store(NULL);
    UT_CHECK(a && b);
    smds_event e = mk(EID1, "N-1", "a.example", "o");
    UT_EQ(smds_store_register_sync(a, &e, 10), RSP_OK);
    smds_event got;
    UT_EQ(smds_store_get(b, "N-1", &got), 1);
    enum { RACES = 50 };
    for (int i = 0; i < RACES; i++) {
        char id[16];
        snprintf(id, sizeof(id), "R-%d", i);
        smds_event x = mk(EID2, id, "a.example", "o"), y = mk(EID2, id, "b.example", "o");
        /* Both queued before either completes, so that the two nodes really overlap. */
        struct race r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {RSP_OK, RSP_OK}};
        UT_EQ(smds_store_register(a, &x, 20, raced, &r), 0);
        UT_EQ(smds_store_register(b, &y, 20, raced, &r), 0);
        pthread_mutex_lock(&r.mu);
        while (r.n < 2)
            pthread_cond_wait(&r.cv, &r.mu);
        pthread_mutex_unlock(&r.mu);
        UT_EQ((r.st[0] == RSP_OK) + (r.st[1] == RSP_OK), 1);
        UT_CHECK(r.st[0] == RSP_ST_EVENT_EXISTS || r.st[1] == RSP_ST_EVENT_EXISTS);
    }
    UT_EQ(smds_store_count(a), RACES + 1);
    /* Sequence numbers come from one database sequence: unique across nodes. */
    smds_event_list la;
    UT_EQ(smds_store_list(b, EID2, 30, &la), 0);
    UT_EQ(la.n, RACES);
    for (size_t i = 1; i < la.n; i++)
        UT_CHECK(la.items[i].seq > la.items[i - 1].seq);
    smds_event_list_free(&la);
    /* A delete on one node is seen by the other. */
    UT_EQ(smds_store_delete_sync(b, EID1, "N-1", "o", NULL), RSP_OK);
    UT_EQ(smds_store_get(a, "N-1", &got), 0);
    smds_store_close(a);
    smds_store_close(b);
}

/* The per-EID cap holds across nodes: both queue registrations on one EID at once, three succeed. */
static void test_cap_two_nodes(void)
{
    fresh_dir("s10");
    smds_store_config cfg = {.per_eid_cap = 3};
    smds_store *n[2] = {open_store(&cfg), open_store(&cfg)};
    UT_CHECK(n[0] && n[1]);
    enum { M = 40 };
    static smds_event ev[M];
    static struct burst b;
    struct burst_slot slot[M];
    for (int round = 0; round < 5; round++) {
        char eid[SMDS_EID_LEN + 1] = "89049032123451234512345670000000";
        eid[SMDS_EID_LEN - 1] = (char)('0' + round);
        b = (struct burst){.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .left = M};
        for (int i = 0; i < M; i++) {
            char id[32];
            snprintf(id, sizeof(id), "C-%d-%d", round, i);
            ev[i] = mk(eid, id, "a.example", "o");
            slot[i] = (struct burst_slot){&b, i};
            UT_EQ(smds_store_register(n[i % 2], &ev[i], 100, on_burst_reg, &slot[i]), 0);
        }
        burst_wait(&b);
        int ok = 0;
        for (int i = 0; i < M; i++)
            ok += b.st[i] == RSP_OK;
        UT_EQ(ok, 3);
        smds_event_list l;
        UT_EQ(smds_store_list(n[round % 2], eid, 101, &l), 0);
        UT_EQ(l.n, 3);
        smds_event_list_free(&l);
    }
    smds_store_close(n[0]);
    smds_store_close(n[1]);
}

static void test_outage(void)
{
    fresh_dir("s9");
    smds_store *s = open_store(NULL);
    smds_event e = mk(EID1, "O-1", "a.example", "o");
    UT_EQ(smds_store_register_sync(s, &e, 10), RSP_OK);
    UT_EQ(tu_store_halt(), 0);
    for (int i = 0; i < 100 && smds_store_ready(s); i++)
        usleep(50 * 1000);
    UT_CHECK(!smds_store_ready(s));
    smds_event f = mk(EID1, "O-2", "a.example", "o");
    UT_EQ(smds_store_register_sync(s, &f, 11), RSP_ST_INTERNAL);
    struct got_list gl = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    UT_EQ(smds_store_list_async(s, EID1, 20, on_list, &gl), -1);
    UT_EQ(gl.calls, 0);
    UT_EQ(tu_store_resume(), 0);
    for (int i = 0; i < 100 && !smds_store_ready(s); i++)
        usleep(50 * 1000);
    UT_CHECK(smds_store_ready(s));
    smds_event_list l;
    UT_EQ(smds_store_list(s, EID1, 20, &l), 0);
    UT_EQ(l.n, 1); /* the acknowledged event survived, the refused one is absent */
    smds_event_list_free(&l);
    UT_EQ(smds_store_register_sync(s, &f, 12), RSP_OK);
    smds_store_close(s);
}

int main(void)
{
    if (tu_store_start(TEST_STORE, "store_test") != 0)
        return 0;
    UT_RUN(test_register_list_delete);
    UT_RUN(test_cap_and_expiry);
    UT_RUN(test_bad_input);
    UT_RUN(test_eid_valid);
    UT_RUN(test_foreach);
    UT_RUN(test_housekeeping);
    UT_RUN(test_async_reads);
    UT_RUN(test_burst);
    if (tu_store_pg()) {
        UT_RUN(test_two_nodes);
        UT_RUN(test_cap_two_nodes);
        UT_RUN(test_outage);
    }
    tu_store_stop();
    return ut_finish();
}
