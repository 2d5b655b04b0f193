/*
 * UT_STATUS: a GSMA status check for tests of code that returns rsp_status
 * (rsp/status.h).  A failure prints both codes as subject/reason, e.g.
 * "got 8.9.5/3.9, expected 8.9.5/3.3", instead of their enum indices.
 */
#ifndef UT_STATUS_H
#define UT_STATUS_H

#include "rsp/status.h"
#include "tests/unit/ut.h"

#define UT_STATUS(got, want)                                                                                 \
    do {                                                                                                     \
        rsp_status ut_g_ = (rsp_status)(got), ut_w_ = (rsp_status)(want);                                    \
        ut_checks++;                                                                                         \
        if (ut_g_ != ut_w_) {                                                                                \
            ut_fail(__FILE__, __LINE__, #got " == " #want);                                                  \
            fprintf(stderr, "    got %s, expected %s\n", rsp_status_str(ut_g_), rsp_status_str(ut_w_));      \
        }                                                                                                    \
    } while (0)

#endif
