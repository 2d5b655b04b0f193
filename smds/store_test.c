#include "smds/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static char dir[512];

static void fresh_dir(const char *name)
{
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/%s", tmp ? tmp : "/tmp", name);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    UT_EQ(system(cmd), 0);
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
    smds_store *s = smds_store_open(dir, NULL);
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
    s = smds_store_open(dir, NULL);
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
    smds_store *s = smds_store_open(dir, &cfg);
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
    smds_store *s = smds_store_open(dir, NULL);
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
    smds_store *s = smds_store_open(dir, NULL);
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
    smds_store *s = smds_store_open(dir, &cfg);
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
    s = smds_store_open(dir, NULL);
    UT_EQ(smds_store_housekeeping_start(s, 1), 0);
    smds_store_close(s);
}

int main(void)
{
    UT_RUN(test_register_list_delete);
    UT_RUN(test_cap_and_expiry);
    UT_RUN(test_bad_input);
    UT_RUN(test_eid_valid);
    UT_RUN(test_foreach);
    UT_RUN(test_housekeeping);
    return ut_finish();
}
