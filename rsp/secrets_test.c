/* Unit tests of rsp/secrets: init creates once; rotation keeps the previous key so that a transaction
 * started before the rotation still opens after it, and new ones use the new key. */
#include "rsp/secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rsp/txn.h"
#include "tests/unit/ut.h"

static char path[512];

static void test_create_once(void)
{
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(path, sizeof(path), "%s/txn.secret", tmp ? tmp : "/tmp");
    unlink(path);
    char err[256];
    int created = 0;
    UT_EQ(rsp_secret_txn_create(path, &created, err, sizeof(err)), 0);
    UT_EQ(created, 1);
    struct stat st;
    UT_EQ(stat(path, &st), 0);
    UT_EQ(st.st_mode & 0777, 0600);
    rsp_txn_keyring a, b;
    UT_EQ(rsp_txn_keyring_load(&a, path, 0), 0);
    UT_EQ(rsp_secret_txn_create(path, &created, err, sizeof(err)), 0);
    UT_EQ(created, 0);
    UT_EQ(rsp_txn_keyring_load(&b, path, 0), 0);
    UT_CHECK(memcmp(a.secret[0], b.secret[0], RSP_TXN_SECRET_LEN) == 0);
    rsp_txn_keyring_wipe(&a);
    rsp_txn_keyring_wipe(&b);
}

static void test_rotation_overlap(void)
{
    char err[256];
    rsp_txn_keyring before, after;
    UT_EQ(rsp_txn_keyring_load(&before, path, 0), 0);
    uint8_t tid[RSP_TXN_ID_LEN], ch[RSP_TXN_CHALLENGE_LEN], ch2[RSP_TXN_CHALLENGE_LEN];
    time_t now = time(NULL);
    UT_EQ(rsp_txn_new(&before, 0, 300, now, tid, ch), 0);
    UT_EQ(tid[0] & 0x0f, 0); /* the key id */

    unsigned id = 99;
    UT_EQ(rsp_secret_txn_rotate(path, &id, err, sizeof(err)), 0);
    UT_EQ(id, 1);
    UT_EQ(rsp_txn_keyring_load(&after, path, 0), 0);
    UT_EQ(after.current, 1);
    rsp_txn_info info;
    UT_EQ(rsp_txn_open(&after, tid, sizeof(tid), now + 10, 300, &info, ch2),
          0); /* started before, ends after */
    UT_CHECK(memcmp(ch, ch2, sizeof(ch)) == 0);
    uint8_t tid2[RSP_TXN_ID_LEN];
    UT_EQ(rsp_txn_new(&after, 0, 300, now, tid2, ch), 0);
    UT_EQ(tid2[0] & 0x0f, 1);
    UT_EQ(rsp_txn_open(&before, tid2, sizeof(tid2), now, 300, &info, ch2), RSP_TXN_EKEY);
    rsp_txn_keyring_wipe(&after);

    /* A second rotation drops key 0: transactions older than one rotation no longer open. */
    UT_EQ(rsp_secret_txn_rotate(path, &id, err, sizeof(err)), 0);
    UT_EQ(id, 2);
    UT_EQ(rsp_txn_keyring_load(&after, path, 0), 0);
    UT_EQ(rsp_txn_open(&after, tid, sizeof(tid), now, 300, &info, ch2), RSP_TXN_EKEY);
    UT_EQ(rsp_txn_open(&after, tid2, sizeof(tid2), now, 300, &info, ch2), 0);
    rsp_txn_keyring_wipe(&after);
    rsp_txn_keyring_wipe(&before);
    struct stat st;
    UT_EQ(stat(path, &st), 0);
    UT_EQ(st.st_mode & 0777, 0600);
}

static void test_rotation_limits(void)
{
    char err[256];
    unsigned id = 0;
    while (id < RSP_TXN_MAX_KEYS - 1)
        UT_EQ(rsp_secret_txn_rotate(path, &id, err, sizeof(err)), 0);
    UT_EQ(rsp_secret_txn_rotate(path, &id, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "last one") != NULL);
    unlink(path);
    UT_EQ(rsp_secret_txn_rotate(path, &id, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "run init first") != NULL);
}

int main(void)
{
    UT_RUN(test_create_once);
    UT_RUN(test_rotation_overlap);
    UT_RUN(test_rotation_limits);
    return ut_finish();
}
