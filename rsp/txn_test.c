#include "rsp/txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static void keyring(rsp_txn_keyring *kr, uint8_t fill)
{
    uint8_t s[RSP_TXN_SECRET_LEN];
    memset(kr, 0, sizeof(*kr));
    memset(s, fill, sizeof(s));
    rsp_txn_keyring_set(kr, 0, s);
}

static void test_new_and_open(void)
{
    rsp_txn_keyring kr;
    keyring(&kr, 1);
    uint8_t tid[16], ch[16], ch2[16];
    rsp_txn_info info;
    UT_EQ(rsp_txn_new(&kr, 3, 1, 300, 1000000, tid, ch), RSP_TXN_OK);
    UT_EQ(rsp_txn_open(&kr, tid, 16, 1000100, &info, ch2), RSP_TXN_OK);
    UT_CHECK(memcmp(ch, ch2, 16) == 0);
    UT_EQ(info.ci_index, 3);
    UT_EQ(info.flags, 1);
    UT_EQ(info.expiry, 1000300);
    /* Another process with the same secret derives the same challenge. */
    rsp_txn_keyring other;
    keyring(&other, 1);
    UT_EQ(rsp_txn_open(&other, tid, 16, 1000100, &info, ch2), RSP_TXN_OK);
    UT_CHECK(memcmp(ch, ch2, 16) == 0);
    /* A different secret gives a different challenge. */
    keyring(&other, 2);
    UT_EQ(rsp_txn_open(&other, tid, 16, 1000100, &info, ch2), RSP_TXN_OK);
    UT_CHECK(memcmp(ch, ch2, 16) != 0);
    /* Any change to the id changes the challenge (expiry cannot be stretched). */
    tid[7] ^= 1;
    UT_EQ(rsp_txn_open(&kr, tid, 16, 1000100, &info, ch2), RSP_TXN_OK);
    UT_CHECK(memcmp(ch, ch2, 16) != 0);
    /* Known answer: HMAC-SHA256(32 x 01, tid) truncated, computed elsewhere. */
    static const uint8_t kat_tid[16] = {0x01, 0x00, 0x03, 0x01, 0x00, 0x0f, 0x43, 0x6c,
                                        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};
    static const uint8_t kat_ch[16] = {0x98, 0x0c, 0x99, 0x4c, 0xf7, 0x34, 0x60, 0x08,
                                       0x36, 0x24, 0x57, 0xa0, 0x97, 0xb2, 0xcd, 0xfa};
    UT_EQ(rsp_txn_open(&kr, kat_tid, 16, 1000100, &info, ch2), RSP_TXN_OK);
    UT_CHECK(memcmp(ch2, kat_ch, 16) == 0);
}

static void test_refusals(void)
{
    rsp_txn_keyring kr;
    keyring(&kr, 1);
    uint8_t tid[16], ch[16];
    rsp_txn_info info;
    UT_EQ(rsp_txn_new(&kr, 0, 0, 60, 5000, tid, ch), RSP_TXN_OK);
    UT_EQ(rsp_txn_open(&kr, tid, 16, 5060, &info, ch), RSP_TXN_EEXPIRED);
    UT_EQ(rsp_txn_open(&kr, tid, 15, 5000, &info, ch), RSP_TXN_EFORMAT);
    uint8_t bad[16];
    memcpy(bad, tid, 16);
    bad[0] = 9;
    UT_EQ(rsp_txn_open(&kr, bad, 16, 5000, &info, ch), RSP_TXN_EFORMAT);
    bad[0] = tid[0];
    bad[1] = 5;
    UT_EQ(rsp_txn_open(&kr, bad, 16, 5000, &info, ch), RSP_TXN_EKEY);
    bad[1] = 200;
    UT_EQ(rsp_txn_open(&kr, bad, 16, 5000, &info, ch), RSP_TXN_EKEY);
    rsp_txn_keyring empty;
    memset(&empty, 0, sizeof(empty));
    UT_EQ(rsp_txn_new(&empty, 0, 0, 60, 5000, tid, ch), RSP_TXN_EKEY);
}

static void test_rotation(void)
{
    rsp_txn_keyring kr;
    keyring(&kr, 1);
    uint8_t tid_old[16], ch_old[16], ch[16];
    rsp_txn_info info;
    UT_EQ(rsp_txn_new(&kr, 0, 0, 60, 100, tid_old, ch_old), RSP_TXN_OK);
    uint8_t s2[RSP_TXN_SECRET_LEN];
    memset(s2, 7, sizeof(s2));
    rsp_txn_keyring_set(&kr, 1, s2);
    UT_EQ(kr.current, 1);
    uint8_t tid[16];
    UT_EQ(rsp_txn_new(&kr, 0, 0, 60, 100, tid, ch), RSP_TXN_OK);
    UT_EQ(tid[1], 1);
    /* transactions under the previous key still open */
    UT_EQ(rsp_txn_open(&kr, tid_old, 16, 110, &info, ch), RSP_TXN_OK);
    UT_CHECK(memcmp(ch, ch_old, 16) == 0);
}

static void test_keyring_file(void)
{
    char dir[] = "/tmp/txnXXXXXX";
    const char *tmp = getenv("TEST_TMPDIR");
    char path[512];
    if (tmp)
        snprintf(path, sizeof(path), "%s/txn.key", tmp);
    else {
        UT_CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/txn.key", dir);
    }
    unlink(path);
    rsp_txn_keyring a, b;
    UT_EQ(rsp_txn_keyring_load(&a, path, 0), RSP_TXN_EIO);
    UT_EQ(rsp_txn_keyring_load(&a, path, 1), RSP_TXN_OK);
    UT_EQ(rsp_txn_keyring_load(&b, path, 1), RSP_TXN_OK); /* reads the same file */
    UT_CHECK(memcmp(a.secret[0], b.secret[0], RSP_TXN_SECRET_LEN) == 0);
    FILE *f = fopen(path, "w");
    fputs("0 zz\n", f);
    fclose(f);
    UT_EQ(rsp_txn_keyring_load(&a, path, 1), RSP_TXN_EIO);
    f = fopen(path, "w");
    fputs("# rotated\n0 000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f\n"
          "2 ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n",
          f);
    fclose(f);
    UT_EQ(rsp_txn_keyring_load(&a, path, 0), RSP_TXN_OK);
    UT_EQ(a.current, 2);
    UT_EQ(a.secret[0][15], 0x0f);
    UT_CHECK(a.have[0] && !a.have[1] && a.have[2]);
    unlink(path);
}

static void test_replay_cache(void)
{
    rsp_txn_cache *c = rsp_txn_cache_new(4);
    uint8_t tid[16] = {1};
    UT_EQ(rsp_txn_consume(c, tid, 200, 100), RSP_TXN_OK);
    UT_EQ(rsp_txn_consume(c, tid, 200, 150), RSP_TXN_EREPLAY);
    /* after expiry the slot is free again (and open() would refuse it anyway) */
    UT_EQ(rsp_txn_consume(c, tid, 400, 250), RSP_TXN_OK);
    for (int i = 1; i < 4; i++) {
        tid[15] = (uint8_t)i;
        UT_EQ(rsp_txn_consume(c, tid, 400, 250), RSP_TXN_OK);
    }
    tid[15] = 9;
    UT_EQ(rsp_txn_consume(c, tid, 400, 250), RSP_TXN_EFULL);
    /* all expire: room again */
    UT_EQ(rsp_txn_consume(c, tid, 900, 500), RSP_TXN_OK);
    UT_EQ(rsp_txn_consume(c, tid, 900, 501), RSP_TXN_EREPLAY);
    rsp_txn_cache_free(c);

    /* many ids with staggered expiry never wrongly report replay */
    c = rsp_txn_cache_new(1000);
    int bad = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        uint8_t t[16];
        memset(t, 0, sizeof(t));
        memcpy(t + 8, &i, sizeof(i));
        if (rsp_txn_consume(c, t, i / 10 + 50, i / 10) != RSP_TXN_OK)
            bad++;
    }
    UT_EQ(bad, 0);
    rsp_txn_cache_free(c);
}

int main(void)
{
    UT_RUN(test_new_and_open);
    UT_RUN(test_refusals);
    UT_RUN(test_rotation);
    UT_RUN(test_keyring_file);
    UT_RUN(test_replay_cache);
    return ut_finish();
}
