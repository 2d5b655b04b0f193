/*
 * rsp/replay_testutil.h - helpers of the replay store tests (test tooling only): made-up ids spread as
 * real ones are, and the durable step waited for.
 */
#ifndef RSP_REPLAY_TESTUTIL_H
#define RSP_REPLAY_TESTUTIL_H

#include <stdint.h>

#include "rsp/replay.h"

/* A distinct id for each i, its last 8 bytes (which the cache hashes) spread. */
void rsp_replay_test_tid(uint8_t t[RSP_TXN_ID_LEN], uint32_t i);

/* rsp_replay_commit of id i, waiting for done: FRESH, USED or ERROR. */
int rsp_replay_test_commit(rsp_replay *r, uint32_t i, uint32_t expiry, uint32_t now);

/* Both steps, as a handler runs them: the memory check, then the durable step. */
int rsp_replay_test_consume(rsp_replay *r, uint32_t i, uint32_t expiry, uint32_t now);

#endif
