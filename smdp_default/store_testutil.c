#include "smdp_default/store_testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "tests/pg/pgtmp.h"

static pgtmp server;
static bool use_pg;

bool tu_orders_pg(void)
{
    return use_pg;
}

int tu_orders_start(bool pg, const char *what)
{
    use_pg = pg;
    if (!use_pg)
        return 0;
    if (pgtmp_start_for_test(&server, what) != 0)
        return 1;
    printf("%s: order store on PostgreSQL (%s)\n", what, server.dsn);
    return 0;
}

void tu_orders_apply(smdp_orders_config *cfg)
{
    cfg->backend = tu_orders_pg() ? SMDP_STORE_POSTGRES : SMDP_STORE_LMDB;
    cfg->dsn = tu_orders_pg() ? server.dsn : NULL;
}

void tu_orders_fresh(void)
{
    if (tu_orders_pg() && pgtmp_reset(&server) != 0)
        abort();
}

void tu_orders_stop(void)
{
    if (tu_orders_pg())
        pgtmp_stop(&server);
}
