#include "smdp_default/profile.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asn1/der.h"
#include "tests/unit/ut.h"

/* What a synthetic package gets; zero values give a well-formed package. */
typedef struct upp_opts {
    const uint8_t *iccid; /* header iccid value; default 19 digits */
    size_t iccid_len;
    const char *type;   /* profileType; NULL = default, "" = omitted */
    int no_header;      /* start with the MF element */
    int dup_header;     /* a second header after the MF */
    int no_end;         /* leave out 'end' */
    int end_in_middle;  /* 'end' before the MF */
    int no_services;    /* header without eUICC-Mandatory-services */
    uint32_t extra_tag; /* an extra element with this tag before 'end' */
} upp_opts;

static const uint8_t ICCID19[10] = {0x89, 0x01, 0x23, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45, 0x6F};

static void put_header(der_writer *w, const upp_opts *o)
{
    der_w_begin(w, 0xA0);
    der_w_int(w, 0x80, 2);
    der_w_int(w, 0x81, 3);
    const char *type = o->type ? o->type : "Synthetic Test Profile";
    if (*type)
        der_w_tlv(w, 0x82, type, strlen(type));
    if (o->iccid)
        der_w_tlv(w, 0x83, o->iccid, o->iccid_len);
    else
        der_w_tlv(w, 0x83, ICCID19, sizeof(ICCID19));
    if (!o->no_services) {
        der_w_begin(w, 0xA5);
        der_w_tlv(w, 0x81, NULL, 0); /* usim */
        der_w_tlv(w, 0x84, NULL, 0); /* milenage */
        der_w_tlv(w, 0x9F1F, NULL, 0);
        der_w_end(w);
    }
    der_w_begin(w, 0xA6);
    static const uint8_t oid[] = {0x67, 0x81, 0x0F, 0x01, 0x02, 0x01};
    der_w_tlv(w, 0x06, oid, sizeof(oid));
    der_w_end(w);
    der_w_end(w);
}

static void put_end(der_writer *w)
{
    der_w_begin(w, 0xAA);
    der_w_begin(w, 0xA0);
    der_w_tlv(w, 0x80, NULL, 0);
    der_w_int(w, 0x81, 29);
    der_w_end(w);
    der_w_end(w);
}

static void put_mf(der_writer *w)
{
    der_w_begin(w, 0xB0);
    der_w_begin(w, 0xA0);
    der_w_int(w, 0x81, 1);
    der_w_end(w);
    static const uint8_t oid[] = {0x67, 0x81, 0x0F, 0x01, 0x02, 0x01};
    der_w_tlv(w, 0x81, oid, sizeof(oid));
    der_w_end(w);
}

static uint8_t *build(const upp_opts *o, size_t *len)
{
    der_writer w;
    der_w_init(&w);
    if (!o->no_header)
        put_header(&w, o);
    if (o->end_in_middle)
        put_end(&w);
    put_mf(&w);
    if (o->dup_header)
        put_header(&w, o);
    if (o->extra_tag) {
        der_w_begin(&w, o->extra_tag);
        der_w_int(&w, 0x80, 1);
        der_w_end(&w);
    }
    if (!o->no_end)
        put_end(&w);
    if (der_w_finish(&w)) {
        der_w_free(&w);
        return NULL;
    }
    *len = w.len;
    return w.buf;
}

static int parse_opts(const upp_opts *o, smdp_profile_info *info)
{
    size_t len;
    uint8_t *p = build(o, &len);
    int rc = p ? smdp_profile_parse(p, len, info) : 1;
    free(p);
    return rc;
}

static void test_synthetic_ok(void)
{
    upp_opts o = {0};
    smdp_profile_info info;
    UT_EQ(parse_opts(&o, &info), SMDP_PROFILE_OK);
    UT_CHECK(strcmp(info.iccid, "8901234567890123456") == 0);
    UT_CHECK(strcmp(info.profile_type, "Synthetic Test Profile") == 0);
    UT_EQ(info.major_version, 2);
    UT_EQ(info.minor_version, 3);
    UT_EQ(info.elements, 3);
    UT_EQ(info.mandatory_services, (1u << 1) | (1u << 4) | (1ull << 31));

    /* 20 digits, no padding; profileType absent */
    static const uint8_t iccid20[10] = {0x89, 0x01, 0x23, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45, 0x67};
    o.iccid = iccid20;
    o.iccid_len = 10;
    o.type = "";
    UT_EQ(parse_opts(&o, &info), SMDP_PROFILE_OK);
    UT_CHECK(strcmp(info.iccid, "89012345678901234567") == 0);
    UT_CHECK(info.profile_type[0] == '\0');

    /* NULL info is allowed */
    upp_opts d = {0};
    UT_EQ(parse_opts(&d, NULL), SMDP_PROFILE_OK);

    /* every known element tag passes, including the long-form ones */
    static const uint32_t tags[] = {0xA1, 0xA9, 0xAB, 0xB0, 0xBE, 0xBF1F, 0xBF20, 0xBF21};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        upp_opts e = {.extra_tag = tags[i]};
        UT_EQ(parse_opts(&e, NULL), SMDP_PROFILE_OK);
    }
}

static void test_synthetic_bad(void)
{
    upp_opts o;

    o = (upp_opts){.no_header = 1};
    UT_EQ(parse_opts(&o, NULL), SMDP_PROFILE_ENOHEADER);
    o = (upp_opts){.dup_header = 1};
    UT_EQ(parse_opts(&o, NULL), SMDP_PROFILE_EDUPHEADER);
    o = (upp_opts){.no_end = 1};
    UT_EQ(parse_opts(&o, NULL), SMDP_PROFILE_ENOEND);
    o = (upp_opts){.end_in_middle = 1};
    UT_EQ(parse_opts(&o, NULL), SMDP_PROFILE_EEND);
    o = (upp_opts){.no_services = 1};
    UT_EQ(parse_opts(&o, NULL), SMDP_PROFILE_EHEADER);

    /* unknown element tags: universal SEQUENCE, primitive [1], BF22 */
    static const uint32_t bad_tags[] = {0x30, 0xBF22, 0xBF30};
    for (size_t i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
        o = (upp_opts){.extra_tag = bad_tags[i]};
        UT_EQ(parse_opts(&o, NULL), SMDP_PROFILE_EELEMENT);
    }

    /* ICCID: wrong lengths, a letter, F in the middle, all F */
    static const uint8_t short9[9] = {0x89, 0x01, 0x23, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45};
    static const uint8_t long11[11] = {0x89, 0x01, 0x23, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45, 0x67, 0x89};
    static const uint8_t letter[10] = {0x89, 0x01, 0x2A, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45, 0x6F};
    static const uint8_t fmid[10] = {0x89, 0x01, 0xF3, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45, 0x6F};
    static const uint8_t twof[10] = {0x89, 0x01, 0x23, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45, 0xFF};
    const struct {
        const uint8_t *v;
        size_t n;
    } iccids[] = {{short9, 9}, {long11, 11}, {letter, 10}, {fmid, 10}, {twof, 10}, {short9, 0}};
    for (size_t i = 0; i < sizeof(iccids) / sizeof(iccids[0]); i++) {
        o = (upp_opts){.iccid = iccids[i].v, .iccid_len = iccids[i].n};
        UT_EQ(parse_opts(&o, NULL), SMDP_PROFILE_EICCID);
    }

    /* profileType: too long, not UTF-8 */
    char longtype[102];
    memset(longtype, 'x', 101);
    longtype[101] = '\0';
    o = (upp_opts){.type = longtype};
    UT_EQ(parse_opts(&o, NULL), SMDP_PROFILE_ETYPE);
    o = (upp_opts){.type = "bad \xC3\x28 utf8"};
    UT_EQ(parse_opts(&o, NULL), SMDP_PROFILE_ETYPE);

    /* empty, garbage */
    UT_EQ(smdp_profile_parse(NULL, 0, NULL), SMDP_PROFILE_EEMPTY);
    static const uint8_t garbage[] = {0xFF, 0x00, 0x12, 0x34, 0x56};
    UT_CHECK(smdp_profile_parse(garbage, sizeof(garbage), NULL) < 0);
    static const uint8_t indef[] = {0xA0, 0x80, 0x00, 0x00};
    UT_EQ(smdp_profile_parse(indef, sizeof(indef), NULL), SMDP_PROFILE_EDER);
}

static void test_truncated_and_trailing(void)
{
    upp_opts o = {0};
    size_t len;
    uint8_t *p = build(&o, &len);
    UT_CHECK(p != NULL);
    if (!p)
        return;
    /* every proper prefix fails */
    int ok_prefixes = 0;
    for (size_t n = 0; n < len; n++)
        if (smdp_profile_parse(p, n, NULL) == SMDP_PROFILE_OK)
            ok_prefixes++;
    UT_EQ(ok_prefixes, 0);
    /* trailing bytes after 'end' */
    uint8_t *q = malloc(len + 3);
    memcpy(q, p, len);
    memcpy(q + len, "\x01\x02\x03", 3);
    UT_CHECK(smdp_profile_parse(q, len + 3, NULL) < 0);
    /* a second complete 'end' after the first */
    memcpy(q + len, "\xAA\x00", 2);
    UT_EQ(smdp_profile_parse(q, len + 2, NULL), SMDP_PROFILE_EEND);
    /* a nested length that overruns its parent */
    memcpy(q, p, len);
    q[3] = 0x7F; /* header's major-version length */
    UT_EQ(smdp_profile_parse(q, len, NULL), SMDP_PROFILE_EDER);
    free(q);
    free(p);
}

static void test_iccid_helpers(void)
{
    uint8_t ef[10];
    char s[21];
    UT_EQ(smdp_iccid_to_ef("8949449999999990023", ef), 0);
    static const uint8_t want[10] = {0x98, 0x94, 0x44, 0x99, 0x99, 0x99, 0x99, 0x09, 0x20, 0xF3};
    UT_CHECK(memcmp(ef, want, 10) == 0);
    UT_EQ(smdp_iccid_from_ef(ef, s), 0);
    UT_CHECK(strcmp(s, "8949449999999990023") == 0);
    UT_EQ(smdp_iccid_to_ef("89494499999999900231", ef), 0);
    UT_EQ(smdp_iccid_from_ef(ef, s), 0);
    UT_CHECK(strcmp(s, "89494499999999900231") == 0);
    UT_EQ(smdp_iccid_to_ef("894944999999999002", ef), SMDP_PROFILE_EICCID);
    UT_EQ(smdp_iccid_to_ef("89494499999999900231A", ef), SMDP_PROFILE_EICCID);
    UT_EQ(smdp_iccid_to_ef("894944999999999002A", ef), SMDP_PROFILE_EICCID);
    UT_CHECK(!smdp_iccid_valid(NULL));
    ef[3] = 0xF9; /* F in the middle */
    UT_EQ(smdp_iccid_from_ef(ef, s), SMDP_PROFILE_EICCID);
    for (int e = 0; e >= -10; e--)
        UT_CHECK(strcmp(smdp_profile_strerror(e), "unknown error") != 0);
}

/* The header iccid of each TS.48 file, as in its ICCID nibbles. */
static const struct {
    const char *file;
    const char *iccid;
    unsigned minor;
} TS48[] = {
    {"TS48V1-A-UNIQUE.der", "8949449999999990023", 1},
    {"TS48V2-SAIP2-1-BERTLV-UNIQUE.der", "8949449999999990049", 1},
    {"TS48V3-SAIP2-3-NOBERTLV-UNIQUE.der", "8949449999999990098", 3},
    {"TS48V4-SAIP2-1A-NOBERTLV-UNIQUE.der", "8949449999999990106", 1},
    {"TS48V5-SAIP2-3-BERTLV-SUCI-UNIQUE.der", "8949449999999990163", 3},
};

static void test_ts48(void)
{
    const char *dir = ut_shared_dir("TS.48 profiles");
    if (!dir)
        return;
    for (size_t i = 0; i < sizeof(TS48) / sizeof(TS48[0]); i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/profiles/ts48/%s", dir, TS48[i].file);
        size_t len;
        uint8_t *p = ut_read_file(path, &len);
        if (!p) {
            printf("SKIP %s: not found\n", path);
            continue;
        }
        smdp_profile_info info;
        int rc = smdp_profile_parse(p, len, &info);
        UT_EQ(rc, SMDP_PROFILE_OK);
        if (rc)
            fprintf(stderr, "    %s: %s\n", TS48[i].file, smdp_profile_strerror(rc));
        UT_CHECK(strcmp(info.iccid, TS48[i].iccid) == 0);
        UT_CHECK(strcmp(info.profile_type, "GSMA Generic eUICC Test Profile") == 0);
        UT_EQ(info.major_version, 2);
        UT_EQ(info.minor_version, TS48[i].minor);
        UT_CHECK(info.elements > 10);
        UT_CHECK(info.mandatory_services & (1u << 1)); /* usim */
        /* EF.ICCID in the MF holds the swapped form of the same ICCID */
        uint8_t ef[10];
        UT_EQ(smdp_iccid_to_ef(info.iccid, ef), 0);
        UT_CHECK(memmem(p, len, ef, sizeof(ef)) != NULL);
        /* cutting the last byte breaks it */
        UT_CHECK(smdp_profile_parse(p, len - 1, NULL) != SMDP_PROFILE_OK);
        free(p);
    }
}

int main(void)
{
    UT_RUN(test_synthetic_ok);
    UT_RUN(test_synthetic_bad);
    UT_RUN(test_truncated_and_trailing);
    UT_RUN(test_iccid_helpers);
    UT_RUN(test_ts48);
    return ut_finish();
}
