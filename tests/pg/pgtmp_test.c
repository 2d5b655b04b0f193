/* The throw-away server starts (also as root), is durable by configuration, survives a halt/resume
 * with its data, and leaves nothing behind. */
#include <postgresql/libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/pg/pgtmp.h"
#include "tests/unit/ut.h"

static pgtmp pg;

static char *scalar(PGconn *c, const char *sql)
{
    static char buf[256];
    PGresult *r = PQexec(c, sql);
    buf[0] = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(buf, sizeof(buf), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return buf;
}

static void test_durable_settings(void)
{
    PGconn *c = PQconnectdb(pg.dsn);
    UT_EQ(PQstatus(c), CONNECTION_OK);
    UT_CHECK(!strcmp(scalar(c, "SHOW fsync"), "on"));
    UT_CHECK(!strcmp(scalar(c, "SHOW synchronous_commit"), "on"));
    UT_CHECK(!strcmp(scalar(c, "SHOW listen_addresses"), ""));
    PQfinish(c);
}

static void test_halt_resume_keeps_data(void)
{
    PGconn *c = PQconnectdb(pg.dsn);
    PQclear(PQexec(c, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"));
    PQfinish(c);
    UT_EQ(pgtmp_halt(&pg), 0);
    c = PQconnectdb(pg.dsn);
    UT_CHECK(PQstatus(c) != CONNECTION_OK);
    PQfinish(c);
    UT_EQ(pgtmp_resume(&pg), 0);
    c = PQconnectdb(pg.dsn);
    UT_EQ(PQstatus(c), CONNECTION_OK);
    UT_CHECK(!strcmp(scalar(c, "SELECT v FROM t"), "42"));
    PQfinish(c);
}

static void test_attach(void)
{
    pgtmp other;
    UT_EQ(pgtmp_attach(&other, pg.dir), 0);
    UT_CHECK(other.running);
    UT_CHECK(!strcmp(other.dsn, pg.dsn));
    UT_EQ(pgtmp_attach(&other, "/nonexistent"), -1);
}

int main(void)
{
    if (pgtmp_start_for_test(&pg, "pgtmp_test") == PGTMP_ABSENT)
        return 0;
    UT_RUN(test_durable_settings);
    UT_RUN(test_halt_resume_keeps_data);
    UT_RUN(test_attach);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", pg.dir);
    pgtmp_stop(&pg);
    UT_CHECK(access(dir, F_OK) != 0);
    return ut_finish();
}
