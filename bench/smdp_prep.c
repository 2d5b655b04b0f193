#include "bench/smdp_prep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <openssl/sha.h>

#include "smdp_default/bpp.h"
#include "smdp_default/orders.h"
#include "smdp_default/profile.h"

/* Plain BCD, most significant digit first, F padded (the header's form). */
static int iccid_plain(const char *s, uint8_t out[SMDP_ICCID_BCD_LEN])
{
    size_t n = strlen(s);
    if (n < 19 || n > 20)
        return -1;
    memset(out, 0xFF, SMDP_ICCID_BCD_LEN);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint8_t d = (uint8_t)(s[i] - '0');
        out[i / 2] = i % 2 ? (uint8_t)((out[i / 2] & 0xF0) | d) : (uint8_t)((d << 4) | 0x0F);
    }
    return 0;
}

static void replace_all(uint8_t *buf, size_t len, const uint8_t *from, const uint8_t *to, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, from, n) == 0) {
            memcpy(buf + i, to, n);
            i += n - 1;
        }
}

int smdp_prep_patch_iccid(const uint8_t *upp, size_t len, const char *iccid, uint8_t *out, char *err,
                          size_t errcap)
{
    smdp_profile_info info;
    int rc = smdp_profile_parse(upp, len, &info);
    if (rc != 0) {
        snprintf(err, errcap, "profile package: %s", smdp_profile_strerror(rc));
        return -1;
    }
    uint8_t old_plain[SMDP_ICCID_BCD_LEN], new_plain[SMDP_ICCID_BCD_LEN], old_ef[SMDP_ICCID_BCD_LEN],
        new_ef[SMDP_ICCID_BCD_LEN];
    if (strlen(iccid) != strlen(info.iccid) || iccid_plain(info.iccid, old_plain) != 0 ||
        iccid_plain(iccid, new_plain) != 0 || smdp_iccid_to_ef(info.iccid, old_ef) != 0 ||
        smdp_iccid_to_ef(iccid, new_ef) != 0) {
        snprintf(err, errcap, "ICCID %s cannot replace %s", iccid, info.iccid);
        return -1;
    }
    memcpy(out, upp, len);
    /* The header's iccid [3]: 83 0A <plain BCD>. */
    uint8_t from[2 + SMDP_ICCID_BCD_LEN] = {0x83, 0x0A}, to[2 + SMDP_ICCID_BCD_LEN] = {0x83, 0x0A};
    memcpy(from + 2, old_plain, SMDP_ICCID_BCD_LEN);
    memcpy(to + 2, new_plain, SMDP_ICCID_BCD_LEN);
    replace_all(out, len, from, to, sizeof(from));
    /* EF.ICCID contents and anything else coded like it. */
    replace_all(out, len, old_ef, new_ef, SMDP_ICCID_BCD_LEN);
    smdp_profile_info check;
    if (smdp_profile_parse(out, len, &check) != 0 || strcmp(check.iccid, iccid) != 0) {
        snprintf(err, errcap, "the patched package does not carry ICCID %s", iccid);
        return -1;
    }
    return 0;
}

int smdp_prep_iccid(const char *orig, uint64_t k, char *out, size_t cap)
{
    size_t n = strlen(orig);
    if (n < 19 || n > 20 || cap < n + 1)
        return -1;
    size_t room = n - 7 - 1;
    char num[32];
    int w = snprintf(num, sizeof(num), "%0*llu", (int)room, (unsigned long long)k);
    if (w < 0 || (size_t)w != room)
        return -1;
    memcpy(out, orig, 7);
    memcpy(out + 7, num, room);
    /* Luhn over the digits before the check digit. */
    unsigned sum = 0;
    for (size_t i = 0; i < n - 1; i++) {
        unsigned d = (unsigned)(out[n - 2 - i] - '0');
        if (i % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    out[n - 1] = (char)('0' + (10 - sum % 10) % 10);
    out[n] = 0;
    return 0;
}

size_t smdp_prep_synthetic(const char *iccid, uint8_t *out, size_t cap)
{
    /* header {major 2, minor 3, iccid, services {}, GFSTE list {}} and end */
    static const uint8_t head[] = {0xA0, 0x16, 0x80, 0x01, 0x02, 0x81, 0x01, 0x03, 0x83, 0x0A};
    static const uint8_t tail[] = {0xA5, 0x00, 0xA6, 0x00, 0xAA, 0x00};
    uint8_t bcd[SMDP_ICCID_BCD_LEN];
    size_t n = sizeof(head) + sizeof(bcd) + sizeof(tail);
    if (cap < n || iccid_plain(iccid, bcd) != 0)
        return 0;
    memcpy(out, head, sizeof(head));
    memcpy(out + sizeof(head), bcd, sizeof(bcd));
    memcpy(out + sizeof(head) + sizeof(bcd), tail, sizeof(tail));
    return n;
}

int smdp_prep(const smdp_prep_cfg *cfg, char *err, size_t errcap)
{
    err[0] = 0;
    smdp_profile_info info;
    int prc = smdp_profile_parse(cfg->upp, cfg->upp_len, &info);
    if (prc != 0) {
        snprintf(err, errcap, "profile package: %s", smdp_profile_strerror(prc));
        return -1;
    }
    if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errcap, "%s: %s", cfg->state_dir, strerror(errno));
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, SMDP_STATE_MASTER_KEY);
    smdp_mkey mk;
    int rc = smdp_mkey_load(&mk, path, 1);
    if (rc) {
        snprintf(err, errcap, "%s: %s", path, smdp_bpp_strerror(rc));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, SMDP_STATE_DB);
    smdp_orders_config oc = {0};
    oc.db.env_flags = MDB_NOSYNC; /* preparation only: synced once at close */
    oc.db.map_size = (size_t)(64u << 20) + cfg->n * (cfg->upp_len * 3 + 4096);
    smdp_orders *o;
    if ((rc = smdp_orders_open(&o, path, &oc)) != 0) {
        snprintf(err, errcap, "%s: %s", path, mdb_strerror(rc));
        smdp_mkey_wipe(&mk);
        return -1;
    }
    uint8_t *copy = malloc(cfg->upp_len);
    smdp_metadata md = {.service_provider_name = cfg->owner,
                        .profile_name = cfg->profile_type,
                        .profile_class = SMDP_CLASS_OPERATIONAL};
    int result = copy ? 0 : -1;
    if (!copy)
        snprintf(err, errcap, "out of memory");
    uint64_t now = (uint64_t)time(NULL);
    for (size_t i = 0; result == 0 && i < cfg->n; i++) {
        char iccid[SMDP_ICCID_MAX + 1], got[SMDP_ICCID_MAX + 1];
        if (smdp_prep_iccid(info.iccid, i, iccid, sizeof(iccid)) != 0 ||
            smdp_prep_patch_iccid(cfg->upp, cfg->upp_len, iccid, copy, err, errcap) != 0) {
            if (!err[0])
                snprintf(err, errcap, "no ICCID for copy %zu", i);
            result = -1;
            break;
        }
        if (cfg->sha256)
            SHA256(copy, cfg->upp_len, cfg->sha256[i]);
        int detail = 0;
        rsp_status st = smdp_orders_import_upp(o, &mk, copy, cfg->upp_len, cfg->profile_type, cfg->owner, &md,
                                               now, got, &detail);
        smdp_op op = {.kind = SMDP_OP_DOWNLOAD_ORDER,
                      .now = now,
                      .owner = cfg->owner,
                      .iccid = got,
                      .eid = cfg->eids[i]};
        if (st == RSP_OK)
            st = smdp_orders_run(o, &op);
        if (st == RSP_OK) {
            op = (smdp_op){.kind = SMDP_OP_CONFIRM_ORDER,
                           .now = now,
                           .owner = cfg->owner,
                           .iccid = got,
                           .eid = cfg->eids[i],
                           .release = true};
            st = smdp_orders_run(o, &op);
        }
        if (st != RSP_OK) {
            snprintf(err, errcap, "order %zu (ICCID %s, EID %s): %s %s", i, iccid, cfg->eids[i],
                     rsp_status_str(st), rsp_status_get(st)->message);
            result = -1;
        }
    }
    free(copy);
    smdp_orders_close(o);
    smdp_mkey_wipe(&mk);
    if (result == 0) {
        /* Sync what MDB_NOSYNC left in the page cache before the server opens it. */
        MDB_env *env;
        if (mdb_env_create(&env) == 0) {
            mdb_env_set_maxdbs(env, 32);
            if (mdb_env_open(env, path, 0, 0600) == 0)
                mdb_env_sync(env, 1);
            mdb_env_close(env);
        }
    }
    return result;
}
