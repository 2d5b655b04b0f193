#include "rsp/status.h"

#include <stdio.h>
#include <string.h>

#include "tests/unit/ut.h"

static void test_every_row_filled(void)
{
    for (int st = 1; st < RSP_ST__COUNT; st++) {
        const rsp_status_info *i = rsp_status_get((rsp_status)st);
        UT_CHECK(i->subject != NULL);
        UT_CHECK(i->reason != NULL);
        UT_CHECK(i->message != NULL && i->message[0] != 0);
        if (i->subject) {
            char want[32];
            snprintf(want, sizeof(want), "%s/%s", i->subject, i->reason);
            UT_CHECK(strcmp(rsp_status_str((rsp_status)st), want) == 0);
        }
    }
}

static void test_known_pairs(void)
{
    UT_CHECK(strcmp(rsp_status_str(RSP_ST_EUM_CERT_EXPIRED), "8.1.2/6.3") == 0);
    UT_CHECK(strcmp(rsp_status_str(RSP_ST_EVENT_UNKNOWN), "8.9.5/3.9") == 0);
    UT_CHECK(strcmp(rsp_status_str(RSP_ST_CI_PK_UNKNOWN), "8.11.1/3.9") == 0);
    UT_CHECK(strcmp(rsp_status_str(RSP_OK), "OK") == 0);
    UT_CHECK(rsp_status_get(RSP_OK)->subject == NULL);
    UT_CHECK(rsp_status_get((rsp_status)9999)->subject == NULL);
    UT_CHECK(rsp_status_get((rsp_status)-1)->subject == NULL);
}

int main(void)
{
    UT_RUN(test_every_row_filled);
    UT_RUN(test_known_pairs);
    return ut_finish();
}
