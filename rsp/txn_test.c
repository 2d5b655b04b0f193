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
    UT_EQ(rsp_txn_new(&kr, 3, 300, 1000000, tid, ch), RSP_TXN_OK);
    UT_EQ(rsp_txn_open(&kr, tid, 16, 1000100, 300, &info, ch2), RSP_TXN_OK);
    UT_CHECK(memcmp(ch, ch2, 16) == 0);
    UT_EQ(info.ci_index, 3);
    UT_EQ(info.expiry, 1000300);
    UT_EQ(rsp_txn_expiry(tid), 1000300);
    /* Another process with the same secret derives the same challenge. */
    rsp_txn_keyring other;
    keyring(&other, 1);
    UT_EQ(rsp_txn_open(&other, tid, 16, 1000100, 300, &info, ch2), RSP_TXN_OK);
    UT_CHECK(memcmp(ch, ch2, 16) == 0);
    /* A different secret does not authenticate the id. */
    keyring(&other, 2);
    UT_EQ(rsp_txn_open(&other, tid, 16, 1000100, 300, &info, ch2), RSP_TXN_ETAG);
    /* Known answer: HMAC-SHA256(32 x 01, first 12 bytes): challenge = 0..15, tag = 16..19, computed
     * elsewhere. */
    static const uint8_t kat_tid[16] = {0x20, 0x03, 0x00, 0x0f, 0x43, 0x6c, 0xa0, 0xa1,
                                        0xa2, 0xa3, 0xa4, 0xa5, 0x83, 0xa9, 0xe8, 0xa9};
    static const uint8_t kat_ch[16] = {0xdd, 0x87, 0x98, 0x56, 0xe2, 0x8d, 0x5e, 0xb0,
                                       0x0e, 0x4e, 0xc5, 0xf7, 0x92, 0x91, 0x40, 0x17};
    UT_EQ(rsp_txn_open(&kr, kat_tid, 16, 1000100, 300, &info, ch2), RSP_TXN_OK);
    UT_CHECK(memcmp(ch2, kat_ch, 16) == 0);
}

/* Every single-bit change of a genuine id is caught by the tag (expiry, CI, random bytes, tag). */
static void test_tag(void)
{
    rsp_txn_keyring kr;
    keyring(&kr, 1);
    uint8_t tid[16], ch[16];
    rsp_txn_info info;
    UT_EQ(rsp_txn_new(&kr, 0, 300, 5000, tid, ch), RSP_TXN_OK);
    int caught = 0;
    for (int bit = 8; bit < 128; bit++) {
        uint8_t t[16];
        memcpy(t, tid, 16);
        t[bit / 8] ^= (uint8_t)(1 << (bit % 8));
        caught += rsp_txn_open(&kr, t, 16, 5000, 300, &info, ch) == RSP_TXN_ETAG;
    }
    UT_EQ(caught, 120);
    /* a client-chosen far expiry with a made-up tag */
    uint8_t far[16];
    memcpy(far, tid, 16);
    far[2] = 0x7f;
    UT_EQ(rsp_txn_open(&kr, far, 16, 5000, 300, &info, ch), RSP_TXN_ETAG);
}

static void test_refusals(void)
{
    rsp_txn_keyring kr;
    keyring(&kr, 1);
    uint8_t tid[16], ch[16];
    rsp_txn_info info;
    UT_EQ(rsp_txn_new(&kr, 0, 60, 5000, tid, ch), RSP_TXN_OK);
    UT_EQ(rsp_txn_open(&kr, tid, 16, 5060, 60, &info, ch), RSP_TXN_EEXPIRED);
    UT_EQ(rsp_txn_open(&kr, tid, 15, 5000, 60, &info, ch), RSP_TXN_EFORMAT);
    /* issued with a longer ttl than this process allows now (plus the clock skew) */
    UT_EQ(rsp_txn_open(&kr, tid, 16, 5000, 60, &info, ch), RSP_TXN_OK);
    UT_EQ(rsp_txn_open(&kr, tid, 16, 5000, 60 - RSP_TXN_CLOCK_SKEW - 1, &info, ch), RSP_TXN_EEXPIRED);
    uint8_t bad[16];
    memcpy(bad, tid, 16);
    bad[0] = 0x10; /* version 1 */
    UT_EQ(rsp_txn_open(&kr, bad, 16, 5000, 60, &info, ch), RSP_TXN_EFORMAT);
    bad[0] = 0x25;
    UT_EQ(rsp_txn_open(&kr, bad, 16, 5000, 60, &info, ch), RSP_TXN_EKEY);
    bad[0] = 0x2f;
    UT_EQ(rsp_txn_open(&kr, bad, 16, 5000, 60, &info, ch), RSP_TXN_EKEY);
    rsp_txn_keyring empty;
    memset(&empty, 0, sizeof(empty));
    UT_EQ(rsp_txn_new(&empty, 0, 60, 5000, tid, ch), RSP_TXN_EKEY);
}

static void test_rotation(void)
{
    rsp_txn_keyring kr;
    keyring(&kr, 1);
    uint8_t tid_old[16], ch_old[16], ch[16];
    rsp_txn_info info;
    UT_EQ(rsp_txn_new(&kr, 0, 60, 100, tid_old, ch_old), RSP_TXN_OK);
    uint8_t s2[RSP_TXN_SECRET_LEN];
    memset(s2, 7, sizeof(s2));
    rsp_txn_keyring_set(&kr, 1, s2);
    UT_EQ(kr.current, 1);
    uint8_t tid[16];
    UT_EQ(rsp_txn_new(&kr, 0, 60, 100, tid, ch), RSP_TXN_OK);
    UT_EQ(tid[0] & 0x0f, 1);
    /* transactions under the previous key still open */
    UT_EQ(rsp_txn_open(&kr, tid_old, 16, 110, 60, &info, ch), RSP_TXN_OK);
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

int main(void)
{
    UT_RUN(test_new_and_open);
    UT_RUN(test_tag);
    UT_RUN(test_refusals);
    UT_RUN(test_rotation);
    UT_RUN(test_keyring_file);
    return ut_finish();
}
