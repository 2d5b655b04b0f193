/*
 * libFuzzer target for the transactionId check and the replay cache: an input is a received
 * transactionId (any bytes) followed by nothing, or, when its first byte is odd, a genuine id of this
 * keyring with the input's bytes XORed in.  rsp_txn_open must refuse every id it did not issue (the tag),
 * never accept an expiry past now + ttl, and the replay cache must answer an id checked twice as used.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/replay.h"
#include "rsp/txn.h"

#define NOW 1700000000
#define TTL 300

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rsp_txn_keyring kr;
    static rsp_replay *cache;
    if (!cache) {
        uint8_t secret[RSP_TXN_SECRET_LEN] = {7};
        rsp_txn_keyring_set(&kr, 0, secret);
        cache = rsp_replay_new(64, NULL);
        if (!cache)
            abort();
    }
    uint8_t tid[64], ch[RSP_TXN_CHALLENGE_LEN], ch2[RSP_TXN_CHALLENGE_LEN];
    size_t len = size > sizeof(tid) ? sizeof(tid) : size;
    memcpy(tid, data, len);
    int genuine = size > 0 && (data[0] & 1);
    if (genuine) {
        uint8_t fresh[RSP_TXN_ID_LEN];
        if (rsp_txn_new(&kr, 0, TTL, NOW, fresh, ch) != RSP_TXN_OK)
            abort();
        for (size_t i = 0; i < RSP_TXN_ID_LEN; i++)
            tid[i] = fresh[i] ^ (i + 1 < size ? data[i + 1] : 0);
        len = RSP_TXN_ID_LEN;
        int unchanged = 1;
        for (size_t i = 1; i <= RSP_TXN_ID_LEN && i < size; i++)
            unchanged &= data[i] == 0;
        rsp_txn_info info;
        int rc = rsp_txn_open(&kr, tid, len, NOW, TTL, &info, ch2);
        if (unchanged && (rc != RSP_TXN_OK || memcmp(ch, ch2, sizeof(ch)) != 0))
            abort(); /* a genuine id must open, with its challenge */
    }
    rsp_txn_info info;
    if (rsp_txn_open(&kr, tid, len, NOW, TTL, &info, ch2) == RSP_TXN_OK) {
        if (info.expiry <= NOW || info.expiry > NOW + TTL + RSP_TXN_CLOCK_SKEW)
            abort();
        if (rsp_replay_check(cache, tid, info.expiry, NOW) == RSP_REPLAY_FRESH &&
            rsp_replay_check(cache, tid, info.expiry, NOW) != RSP_REPLAY_USED)
            abort();
    }
    return 0;
}
