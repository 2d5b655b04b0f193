#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smdp_default/actcode.h"
#include "smdp_default/qrpng.h"
#include "tests/unit/ut.h"

static void test_token_rules(void)
{
    UT_CHECK(smdp_ac_token_valid("04386-AGYFT-A74Y8-3F815"));
    UT_CHECK(smdp_ac_token_valid("A"));
    UT_CHECK(!smdp_ac_token_valid(""));
    UT_CHECK(!smdp_ac_token_valid(NULL));
    UT_CHECK(!smdp_ac_token_valid("lower-case"));
    UT_CHECK(!smdp_ac_token_valid("WITH$DOLLAR"));
    UT_CHECK(!smdp_ac_token_valid("WITH SPACE"));
    UT_CHECK(!smdp_ac_token_valid("UNDER_SCORE"));
    char big[SMDP_AC_TOKEN_MAX + 2];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    UT_CHECK(!smdp_ac_token_valid(big));
    big[SMDP_AC_TOKEN_MAX] = '\0';
    UT_CHECK(smdp_ac_token_valid(big));
}

static void test_address_and_oid_rules(void)
{
    UT_CHECK(smdp_ac_address_valid("smdp.example.com"));
    UT_CHECK(smdp_ac_address_valid("smdp.example.com:8443"));
    UT_CHECK(!smdp_ac_address_valid("smdp.example.com:"));
    UT_CHECK(!smdp_ac_address_valid("smdp.example.com:123456"));
    UT_CHECK(!smdp_ac_address_valid("smdp.example.com:44a"));
    UT_CHECK(!smdp_ac_address_valid("smdp$example"));
    UT_CHECK(!smdp_ac_address_valid("a:1:2"));
    UT_CHECK(!smdp_ac_address_valid(""));
    UT_CHECK(!smdp_ac_address_valid(".example"));
    UT_CHECK(smdp_ac_oid_valid("2.999.10"));
    UT_CHECK(!smdp_ac_oid_valid("2"));
    UT_CHECK(!smdp_ac_oid_valid("2..10"));
    UT_CHECK(!smdp_ac_oid_valid("2.999."));
    UT_CHECK(!smdp_ac_oid_valid("2.x.10"));
}

static void test_format(void)
{
    char out[SMDP_AC_MAX];
    UT_EQ(smdp_ac_format("smdp.example.com", "AB-12", NULL, false, out, sizeof(out)), 0);
    UT_CHECK(!strcmp(out, "LPA:1$smdp.example.com$AB-12"));
    UT_EQ(smdp_ac_format("smdp.example.com", "AB-12", "2.999.10", false, out, sizeof(out)), 0);
    UT_CHECK(!strcmp(out, "LPA:1$smdp.example.com$AB-12$2.999.10"));
    UT_EQ(smdp_ac_format("smdp.example.com", "AB-12", "2.999.10", true, out, sizeof(out)), 0);
    UT_CHECK(!strcmp(out, "LPA:1$smdp.example.com$AB-12$2.999.10$1"));
    /* the OID field stays, empty, in front of the flag */
    UT_EQ(smdp_ac_format("smdp.example.com", "AB-12", "", true, out, sizeof(out)), 0);
    UT_CHECK(!strcmp(out, "LPA:1$smdp.example.com$AB-12$$1"));
    UT_EQ(smdp_ac_format("smdp.example.com", "ab-12", NULL, false, out, sizeof(out)), -1);
    UT_EQ(smdp_ac_format("smdp$x", "AB-12", NULL, false, out, sizeof(out)), -1);
    UT_EQ(smdp_ac_format("smdp.example.com", "AB-12", "2.x", false, out, sizeof(out)), -1);
    UT_EQ(smdp_ac_format("smdp.example.com", "AB-12", NULL, false, out, 10), -1);
}

static void test_qr_png(void)
{
    const char *tmp = getenv("TEST_TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/ac.png", tmp ? tmp : "/tmp");
    char err[128];
    UT_EQ(smdp_qr_write_png("LPA:1$smdp.example.com$AB-12", path, 4, err, sizeof(err)), 0);
    FILE *f = fopen(path, "rb");
    UT_CHECK(f != NULL);
    unsigned char sig[8] = {0};
    UT_EQ(f ? fread(sig, 1, 8, f) : 0, 8);
    if (f)
        fclose(f);
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    UT_CHECK(memcmp(sig, png_sig, 8) == 0);
    remove(path);
    UT_EQ(smdp_qr_write_png("", path, 4, err, sizeof(err)), -1);
    UT_EQ(smdp_qr_write_png("x", path, 0, err, sizeof(err)), -1);
    UT_EQ(smdp_qr_write_png("x", "/nonexistent-dir/ac.png", 4, err, sizeof(err)), -1);
}

int main(void)
{
    UT_RUN(test_token_rules);
    UT_RUN(test_address_and_oid_rules);
    UT_RUN(test_format);
    UT_RUN(test_qr_png);
    return ut_finish();
}
