#include "smds/store_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/pg/pgtmp.h"

static pgtmp server;
static bool use_pg;

int tu_store_start(const char *backend, const char *what)
{
    use_pg = strcmp(backend, "postgres") == 0;
    if (!use_pg)
        return 0;
    if (pgtmp_start_for_test(&server, what) != 0)
        return 1;
    printf("%s: event store on PostgreSQL (%s)\n", what, server.dsn);
    return 0;
}

void tu_store_apply(smds_store_config *cfg)
{
    cfg->backend = use_pg ? SMDS_STORE_POSTGRES : SMDS_STORE_LMDB;
    cfg->dsn = use_pg ? server.dsn : NULL;
}

void tu_store_apply_dir(smds_store_config *cfg, const char *state_dir)
{
    tu_store_apply(cfg);
    if (!use_pg)
        return;
    static char dsns[8][640];
    static unsigned next;
    char name[64] = "t_";
    const char *base = strrchr(state_dir, '/');
    base = base ? base + 1 : state_dir;
    size_t n = 2;
    for (; *base && n < sizeof(name) - 1; base++)
        name[n++] = (char)((*base >= 'a' && *base <= 'z') || (*base >= '0' && *base <= '9') ? *base : '_');
    name[n] = 0;
    if (pgtmp_create_db(&server, name) != 0)
        abort();
    char *dsn = dsns[next++ % 8];
    snprintf(dsn, sizeof(dsns[0]), "host=%s user=rsp dbname=%s", server.dir, name);
    cfg->dsn = dsn;
}

void tu_store_fresh(void)
{
    if (use_pg && pgtmp_reset(&server) != 0)
        abort();
}

void tu_store_stop(void)
{
    if (use_pg)
        pgtmp_stop(&server);
}

bool tu_store_pg(void)
{
    return use_pg;
}

int tu_store_halt(void)
{
    return use_pg ? pgtmp_halt(&server) : -1;
}

int tu_store_resume(void)
{
    return use_pg ? pgtmp_resume(&server) : -1;
}
