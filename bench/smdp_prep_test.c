#include "bench/smdp_prep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "smdp_default/orders.h"
#include "smdp_default/profile.h"
#include "tests/unit/ut.h"

static char base[512];

static bool luhn_ok(const char *s)
{
    size_t n = strlen(s);
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[n - 1 - i] - '0');
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

static size_t count(const uint8_t *buf, size_t len, const uint8_t *pat, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, pat, n) == 0)
            c++;
    return c;
}

static void test_iccid(void)
{
    char out[21];
    UT_EQ(smdp_prep_iccid("8999000000000000001", 5, out, sizeof(out)), 0);
    UT_EQ(strlen(out), 19);
    UT_CHECK(strncmp(out, "899900000000000005", 18) == 0);
    UT_CHECK(luhn_ok(out));
    UT_EQ(smdp_prep_iccid("89000123456789012341", 123456, out, sizeof(out)), 0);
    UT_EQ(strlen(out), 20);
    UT_CHECK(strncmp(out, "8900012000000123456", 19) == 0);
    UT_CHECK(luhn_ok(out));
    UT_EQ(smdp_prep_iccid("8999000000000000001", 100000000000ull, out, sizeof(out)), -1); /* 12 digits > 11 */
    UT_EQ(smdp_prep_iccid("123", 1, out, sizeof(out)), -1);
    UT_EQ(smdp_prep_iccid("8999000000000000001", 1, out, 10), -1);
}

static void test_synthetic_and_patch(void)
{
    uint8_t upp[64], copy[64];
    size_t n = smdp_prep_synthetic("8999000000000000001", upp, sizeof(upp));
    UT_CHECK(n > 0);
    smdp_profile_info info;
    UT_EQ(smdp_profile_parse(upp, n, &info), 0);
    UT_CHECK(strcmp(info.iccid, "8999000000000000001") == 0);
    UT_EQ(smdp_prep_synthetic("12", upp, sizeof(upp)), 0);
    UT_EQ(smdp_prep_synthetic("8999000000000000001", upp, 10), 0);
    n = smdp_prep_synthetic("8999000000000000001", upp, sizeof(upp));

    char err[200];
    UT_EQ(smdp_prep_patch_iccid(upp, n, "8999000123456789012", copy, err, sizeof(err)), 0);
    UT_EQ(smdp_profile_parse(copy, n, &info), 0);
    UT_CHECK(strcmp(info.iccid, "8999000123456789012") == 0);
    UT_EQ(smdp_prep_patch_iccid(upp, n, "89990001234567890123", copy, err, sizeof(err)), -1); /* 20 for 19 */
    UT_EQ(smdp_prep_patch_iccid(upp, n - 1, "8999000123456789012", copy, err, sizeof(err)), -1);
}

static void test_patch_ts48(void)
{
    const char *dir = ut_shared_dir("TS.48 profile");
    if (!dir)
        return;
    char path[1024];
    snprintf(path, sizeof(path), "%s/profiles/ts48/TS48V2-SAIP2-1-BERTLV-UNIQUE.der", dir);
    size_t len;
    uint8_t *upp = ut_read_file(path, &len);
    UT_CHECK(upp != NULL);
    if (!upp)
        return;
    smdp_profile_info info;
    UT_EQ(smdp_profile_parse(upp, len, &info), 0);
    char iccid[21];
    UT_EQ(smdp_prep_iccid(info.iccid, 77, iccid, sizeof(iccid)), 0);
    uint8_t *copy = malloc(len), old_ef[10], new_ef[10];
    char err[200];
    UT_EQ(smdp_prep_patch_iccid(upp, len, iccid, copy, err, sizeof(err)), 0);
    UT_EQ(smdp_iccid_to_ef(info.iccid, old_ef), 0);
    UT_EQ(smdp_iccid_to_ef(iccid, new_ef), 0);
    size_t before = count(upp, len, old_ef, 10);
    UT_CHECK(before >= 1); /* EF.ICCID */
    UT_EQ(count(copy, len, old_ef, 10), 0);
    UT_EQ(count(copy, len, new_ef, 10), before);
    smdp_profile_info after;
    UT_EQ(smdp_profile_parse(copy, len, &after), 0);
    UT_CHECK(strcmp(after.iccid, iccid) == 0);
    UT_EQ(after.elements, info.elements);
    free(copy);
    free(upp);
}

static int collect(void *arg, const smdp_order *o)
{
    smdp_order *list = arg;
    for (int i = 0; i < 3; i++)
        if (!list[i].iccid[0]) {
            list[i] = *o;
            return 0;
        }
    return 1;
}

static void test_prep(void)
{
    uint8_t upp[64];
    size_t n = smdp_prep_synthetic("8999000000000000001", upp, sizeof(upp));
    const char *eids[3] = {"89049032000000000000000000000143", "89049032000000000000000000000046",
                           "89049032000000000000000000000240"};
    uint8_t sha[3][32];
    char dir[600], err[300];
    snprintf(dir, sizeof(dir), "%s/smdp", base);
    smdp_prep_cfg cfg = {.state_dir = dir,
                         .upp = upp,
                         .upp_len = n,
                         .profile_type = "Bench",
                         .owner = "op1",
                         .eids = eids,
                         .n = 3,
                         .sha256 = sha};
    UT_EQ(smdp_prep(&cfg, err, sizeof(err)), 0);
    if (err[0])
        fprintf(stderr, "%s\n", err);

    char path[700];
    snprintf(path, sizeof(path), "%s/orders", dir);
    smdp_orders *o;
    UT_EQ(smdp_orders_open(&o, path, NULL), 0);
    static smdp_order list[3];
    memset(list, 0, sizeof(list));
    UT_EQ(smdp_orders_list(o, collect, list), 0);
    for (int i = 0; i < 3; i++) {
        smdp_order found;
        UT_EQ(smdp_orders_find_by_eid(o, eids[i], &found), RSP_OK);
        UT_EQ(found.state, SMDP_STATE_RELEASED);
        UT_CHECK(strcmp(found.profile_type, "Bench") == 0);
        char want[21];
        smdp_prep_iccid("8999000000000000001", (uint64_t)i, want, sizeof(want));
        UT_CHECK(strcmp(found.iccid, want) == 0);
        uint8_t copy[64], digest[32];
        smdp_prep_patch_iccid(upp, n, want, copy, err, sizeof(err));
        SHA256(copy, n, digest);
        UT_CHECK(memcmp(digest, sha[i], 32) == 0);
    }
    UT_CHECK(list[2].iccid[0] != 0);
    smdp_orders_close(o);

    /* The same ICCIDs again: refused, with the reason. */
    UT_EQ(smdp_prep(&cfg, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "order 0") != NULL);
    /* Not a package. */
    cfg.upp_len = 5;
    UT_EQ(smdp_prep(&cfg, err, sizeof(err)), -1);
}

int main(void)
{
    const char *t = getenv("TEST_TMPDIR");
    snprintf(base, sizeof(base), "%s/smdp_prep_test", t ? t : "/tmp");
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", base, base);
    if (system(cmd) != 0)
        return 1;
    UT_RUN(test_iccid);
    UT_RUN(test_synthetic_and_patch);
    UT_RUN(test_patch_ts48);
    UT_RUN(test_prep);
    return ut_finish();
}
