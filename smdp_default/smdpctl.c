/*
 * smdpctl - administration of the Default SM-DP+ profile inventory.
 *
 *   smdpctl --state DIR import --profile-type TYPE --owner OPERATOR
 *           [--spn NAME] [--name NAME] [--class test|provisioning|operational]
 *           [--notify EVENTS] [--notify-address ADDR] [--icon FILE.png|FILE.jpg]
 *           [--owner-mccmnc DIGITS [--owner-gid1 HEX] [--owner-gid2 HEX]] [--ppr RULES] FILE.der ...
 *       Checks each unprotected profile package, protects it under fresh
 *       random PPKs sealed with the service master key (DIR/master.key,
 *       created on first use) and stores it as Available.  Prints one ICCID
 *       per imported file; a file that fails is reported on stderr and the
 *       others still go in (exit status 1 if any failed).  The options set the
 *       StoreMetadataRequest the device gets: EVENTS (install, enable,
 *       disable, delete, comma-separated) are the operations the eUICC
 *       notifies to ADDR (default: the SM-DP+'s own FQDN), RULES (ppr1, ppr2,
 *       update-control) the Profile Policy Rules.
 *
 *   smdpctl --state DIR order --owner OPERATOR (--iccid ICCID | --profile-type TYPE) [--eid EID]
 *           [--matching-id ID] [--cc CODE] [--release]
 *       DownloadOrder then ConfirmOrder, as an operator would over ES2+
 *       (for operations and tests without an ES2+ client).  Prints the ICCID
 *       and the matchingId (generated when not given).
 *
 *   smdpctl --state DIR list
 *       One JSON object per line for every profile with its order state.
 *       Key material (sealed PPKs, confirmation-code hashes) is never shown.
 *
 *   smdpctl --state DIR activation-code --iccid ICCID --smdp-address ADDR [--oid OID]
 *           [--qr FILE.png] [--scale N]
 *       Prints the Activation Code of a confirmed or released order with a
 *       matchingId (LPA:1$ADDR$matchingId[$OID[$1]], actcode.h; "$1" when the
 *       order needs a confirmation code) and writes it as a QR code PNG.
 *
 *   smdpctl --state DIR purge --older-than DAYS [--dry-run]
 *       Deletes finished orders (Installed, Error, Unavailable or expired,
 *       with no SM-DS event left) last changed more than DAYS days ago, with
 *       their protected profile packages and BPPs.  Prints how many (with
 *       --dry-run: their ICCIDs, deleting nothing).  Safe while the service
 *       runs: each deletion re-checks the order inside its write transaction.
 *
 *   smdpctl --state DIR backup [--no-secrets] OUT
 *       A consistent, compacted copy of the orders environment (while the
 *       service runs) plus master.key and txn.secret, in the new directory OUT
 *       (rsp/backup.h).  Without the master key the sealed profile keys of a
 *       backup cannot be opened: keep backups as secret as the key.
 *
 *   smdpctl --state DIR restore BACKUP
 *       Into a state directory that holds no orders environment yet; start
 *       the service on it afterwards.
 *
 *   smdpctl --store.backend=postgres --store.dsn=DSN migrate
 *       Creates or upgrades the PostgreSQL schema of the order store (the
 *       service also does it at start, under a lock).
 *
 * Every command but backup and restore also works on a PostgreSQL order store
 * (the service's store.backend / store.dsn keys, given as options before the
 * command); --state still names the directory of master.key.  Back a
 * PostgreSQL store up with pg_dump or PITR (docs/deploy.md).
 *
 * Exit status: 0 success, 1 a file or record failed, 2 usage or setup error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rsp/backup.h"
#include "rsp/codec.h"
#include "rsp/jsonw.h"
#include "smdp_default/actcode.h"
#include "smdp_default/orders.h"
#include "smdp_default/qrpng.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: smdpctl --state DIR import --profile-type TYPE --owner OPERATOR\n"
               "               [--spn NAME] [--name NAME] [--class test|provisioning|operational]\n"
               "               [--notify install,enable,disable,delete] [--notify-address ADDR]\n"
               "               [--icon FILE.png|FILE.jpg] [--owner-mccmnc DIGITS [--owner-gid1 HEX]\n"
               "               [--owner-gid2 HEX]] [--ppr ppr1,ppr2,update-control] FILE.der ...\n"
               "       smdpctl --state DIR order --owner OPERATOR (--iccid ICCID | --profile-type TYPE)\n"
               "               [--eid EID] [--matching-id ID] [--cc CODE] [--release]\n"
               "       smdpctl --state DIR list\n"
               "       smdpctl --state DIR activation-code --iccid ICCID --smdp-address ADDR [--oid OID]\n"
               "               [--qr FILE.png] [--scale N]\n"
               "       smdpctl --state DIR purge --older-than DAYS [--dry-run]\n"
               "       smdpctl --state DIR backup [--no-secrets] OUT\n"
               "       smdpctl --state DIR restore BACKUP\n"
               "       smdpctl --store.backend=postgres --store.dsn=DSN migrate\n"
               "Before the command, --store.backend=lmdb|postgres and --store.dsn=DSN choose the order\n"
               "store as the service's keys do (default: LMDB under --state).\n");
}

/* The order store of the service (--store.backend, --store.dsn). */
static smdp_orders_config g_store;

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            /* profile packages are tens of kilobytes; refuse anything absurd */
            if (cap >= (64u << 20)) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            size_t ncap = cap ? cap * 2 : 65536;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int open_state(const char *dir, smdp_orders **o, smdp_mkey *mk)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "smdpctl: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char path[4096];
    if (mk) {
        snprintf(path, sizeof(path), "%s/%s", dir, SMDP_STATE_MASTER_KEY);
        int rc = smdp_mkey_load(mk, path, 1);
        if (rc) {
            fprintf(stderr, "smdpctl: %s: %s\n", path, smdp_bpp_strerror(rc));
            return -1;
        }
    }
    snprintf(path, sizeof(path), "%s/%s", dir, SMDP_STATE_DB);
    int rc = smdp_orders_open(o, path, &g_store);
    if (rc) {
        fprintf(stderr, "smdpctl: %s: %s\n", g_store.backend == SMDP_STORE_LMDB ? path : "order store",
                smdp_orders_strerror(rc));
        if (mk)
            smdp_mkey_wipe(mk);
        return -1;
    }
    return 0;
}

static int parse_class(const char *s)
{
    if (!strcmp(s, "test"))
        return SMDP_CLASS_TEST;
    if (!strcmp(s, "provisioning"))
        return SMDP_CLASS_PROVISIONING;
    if (!strcmp(s, "operational"))
        return SMDP_CLASS_OPERATIONAL;
    return -2;
}

/* Bits of a comma-separated list of names (names[i] is bit 1 << i); -1 on an unknown name. */
static int parse_bits(const char *list, const char *const *names, size_t n)
{
    char buf[256];
    if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
        return -1;
    int bits = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < n && strcmp(tok, names[i]))
            i++;
        if (i == n)
            return -1;
        bits |= 1 << i;
    }
    return bits;
}

static int parse_hex_field(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(hex);
    return n == 0 || n % 2 || n / 2 > cap || rsp_hex_decode(hex, n, out, cap, len) ? -1 : 0;
}

/* The icon file: PNG or JPEG (by its signature), at most SMDP_ICON_MAX octets. */
static int read_icon(const char *path, smdp_md_extra *x)
{
    size_t len;
    uint8_t *data = read_file(path, &len);
    int rc = -1;
    if (data && len > 4 && len <= SMDP_ICON_MAX) {
        static const uint8_t png[4] = {0x89, 'P', 'N', 'G'}, jpg[3] = {0xFF, 0xD8, 0xFF};
        if (!memcmp(data, png, 4))
            x->icon_type = SMDP_ICON_PNG;
        else if (!memcmp(data, jpg, 3))
            x->icon_type = SMDP_ICON_JPG;
        else
            len = 0;
        if (len) {
            memcpy(x->icon, data, len);
            x->icon_len = len;
            x->has_icon = true;
            rc = 0;
        }
    }
    free(data);
    return rc;
}

static int cmd_import(const char *dir, int argc, char **argv)
{
    static const struct option opts[] = {
        {"profile-type", required_argument, NULL, 't'},
        {"owner", required_argument, NULL, 'o'},
        {"spn", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"class", required_argument, NULL, 'c'},
        {"notify", required_argument, NULL, 'N'},
        {"notify-address", required_argument, NULL, 'A'},
        {"icon", required_argument, NULL, 'I'},
        {"owner-mccmnc", required_argument, NULL, 'M'},
        {"owner-gid1", required_argument, NULL, '1'},
        {"owner-gid2", required_argument, NULL, '2'},
        {"ppr", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const events[] = {"install", "enable", "disable", "delete"};
    static const char *const rules[] = {"update-control", "ppr1", "ppr2"};
    const char *type = NULL, *owner = NULL, *spn = NULL, *name = NULL;
    int pclass = SMDP_CLASS_ABSENT, c, bits;
    smdp_md_extra x;
    memset(&x, 0, sizeof(x));
    bool gids = false;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            type = optarg;
            break;
        case 'o':
            owner = optarg;
            break;
        case 's':
            spn = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'c':
            if ((pclass = parse_class(optarg)) == -2) {
                fprintf(stderr, "smdpctl: unknown profile class '%s'\n", optarg);
                return 2;
            }
            break;
        case 'N':
            if ((bits = parse_bits(optarg, events, 4)) <= 0) {
                fprintf(stderr, "smdpctl: --notify takes install, enable, disable, delete\n");
                return 2;
            }
            x.notify_events = (uint8_t)bits;
            break;
        case 'A':
            if (!smdp_ac_address_valid(optarg)) {
                fprintf(stderr, "smdpctl: --notify-address must be a host name\n");
                return 2;
            }
            snprintf(x.notify_address, sizeof(x.notify_address), "%s", optarg);
            break;
        case 'I':
            if (read_icon(optarg, &x) != 0) {
                fprintf(stderr, "smdpctl: %s: not a PNG or JPEG icon of at most %d octets\n", optarg,
                        SMDP_ICON_MAX);
                return 2;
            }
            break;
        case 'M':
            if (smdp_mccmnc_encode(optarg, x.owner_mccmnc) != 0) {
                fprintf(stderr, "smdpctl: --owner-mccmnc takes 5 or 6 digits\n");
                return 2;
            }
            x.has_owner = true;
            break;
        case '1':
        case '2':
            if (parse_hex_field(optarg, c == '1' ? x.owner_gid1 : x.owner_gid2, SMDP_GID_MAX,
                                c == '1' ? &x.owner_gid1_len : &x.owner_gid2_len) != 0) {
                fprintf(stderr, "smdpctl: --owner-gid%c takes 1 to %d octets in hex\n", c, SMDP_GID_MAX);
                return 2;
            }
            gids = true;
            break;
        case 'P':
            if ((bits = parse_bits(optarg, rules, 3)) < 0) {
                fprintf(stderr, "smdpctl: --ppr takes ppr1, ppr2, update-control\n");
                return 2;
            }
            x.has_ppr = true;
            x.ppr = (uint8_t)bits;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!type || !*type || !owner || !*owner || optind >= argc || (gids && !x.has_owner) ||
        (x.notify_address[0] && !x.notify_events)) {
        usage(stderr);
        return 2;
    }
    smdp_orders *o;
    smdp_mkey mk;
    if (open_state(dir, &o, &mk))
        return 2;
    /* metadata defaults: the operator as service provider, the type as name */
    smdp_metadata md = {.service_provider_name = spn ? spn : owner,
                        .profile_name = name ? name : type,
                        .profile_class = pclass,
                        .extra = &x};
    int failed = 0;
    for (int i = optind; i < argc; i++) {
        size_t len;
        uint8_t *upp = read_file(argv[i], &len);
        if (!upp) {
            fprintf(stderr, "smdpctl: %s: %s\n", argv[i], strerror(errno));
            failed = 1;
            continue;
        }
        char iccid[SMDP_ICCID_MAX + 1];
        int detail = 0;
        rsp_status st =
            smdp_orders_import_upp(o, &mk, upp, len, type, owner, &md, (uint64_t)time(NULL), iccid, &detail);
        free(upp);
        if (st == RSP_OK) {
            printf("%s\n", iccid);
            continue;
        }
        failed = 1;
        const char *why = rsp_status_get(st)->message;
        if (st == RSP_ST_ICCID_IN_USE)
            why = "ICCID already imported";
        else if (st == RSP_ST_INVALID_FIELD)
            why = detail ? smdp_profile_strerror(detail) : "invalid profile type, owner or metadata";
        else if (st == RSP_ST_INTERNAL)
            why = detail ? smdp_orders_strerror(detail) : "cryptographic failure";
        fprintf(stderr, "smdpctl: %s: %s\n", argv[i], why);
    }
    fflush(stdout);
    smdp_orders_close(o);
    smdp_mkey_wipe(&mk);
    return failed;
}

static int cmd_order(const char *dir, int argc, char **argv)
{
    static const struct option opts[] = {
        {"owner", required_argument, NULL, 'o'},
        {"iccid", required_argument, NULL, 'i'},
        {"profile-type", required_argument, NULL, 't'},
        {"eid", required_argument, NULL, 'e'},
        {"matching-id", required_argument, NULL, 'm'},
        {"cc", required_argument, NULL, 'c'},
        {"release", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *owner = NULL, *iccid = NULL, *type = NULL, *eid = NULL, *mid = NULL, *cc = NULL;
    bool release = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            owner = optarg;
            break;
        case 'i':
            iccid = optarg;
            break;
        case 't':
            type = optarg;
            break;
        case 'e':
            eid = optarg;
            break;
        case 'm':
            mid = optarg;
            break;
        case 'c':
            cc = optarg;
            break;
        case 'r':
            release = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!owner || !*owner || (!iccid == !type) || optind != argc) {
        usage(stderr);
        return 2;
    }
    smdp_orders *o;
    if (open_state(dir, &o, NULL))
        return 2;
    smdp_op op = {.kind = SMDP_OP_DOWNLOAD_ORDER,
                  .now = (uint64_t)time(NULL),
                  .owner = owner,
                  .iccid = iccid,
                  .profile_type = type,
                  .eid = eid};
    rsp_status st = smdp_orders_run(o, &op);
    char got[SMDP_ICCID_MAX + 1];
    if (st == RSP_OK) {
        memcpy(got, op.after.iccid, sizeof(got));
        op = (smdp_op){.kind = SMDP_OP_CONFIRM_ORDER,
                       .now = (uint64_t)time(NULL),
                       .owner = owner,
                       .iccid = got,
                       .eid = eid,
                       .matching_id = mid,
                       .confirmation_code = cc,
                       .release = release};
        st = smdp_orders_run(o, &op);
    }
    if (st == RSP_OK)
        printf("%s %s\n", op.after.iccid, op.after.matching_id);
    else
        fprintf(stderr, "smdpctl: order: %s %s\n", rsp_status_str(st), rsp_status_get(st)->message);
    fflush(stdout);
    smdp_orders_close(o);
    return st == RSP_OK ? 0 : 1;
}

static int list_one(void *arg, const smdp_order *o)
{
    int *failed = arg;
    rsp_jsonw w;
    const char *text;
    size_t len;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kstr(&w, "iccid", o->iccid);
    rsp_jsonw_kstr(&w, "profileType", o->profile_type);
    rsp_jsonw_kstr(&w, "owner", o->owner);
    rsp_jsonw_kstr(&w, "state", smdp_state_name(o->state));
    if (o->eid[0])
        rsp_jsonw_kstr(&w, "eid", o->eid);
    if (o->matching_id[0])
        rsp_jsonw_kstr(&w, "matchingId", o->matching_id);
    if (o->smds_address[0])
        rsp_jsonw_kstr(&w, "smdsAddress", o->smds_address);
    if (o->root_smds_address[0])
        rsp_jsonw_kstr(&w, "rootSmdsAddress", o->root_smds_address);
    rsp_jsonw_kbool(&w, "eventRegistered", o->event_registered);
    rsp_jsonw_kbool(&w, "ccRequired", o->has_cc);
    rsp_jsonw_kint(&w, "ccAttempts", o->cc_attempts);
    rsp_jsonw_kint(&w, "downloadAttempts", o->download_attempts);
    rsp_jsonw_kbool(&w, "bound", o->binding.present);
    rsp_jsonw_kstr(&w, "serviceProviderName", o->service_provider_name);
    rsp_jsonw_kstr(&w, "profileName", o->profile_name);
    if (o->profile_class != SMDP_CLASS_ABSENT)
        rsp_jsonw_kint(&w, "profileClass", o->profile_class);
    if (o->md.notify_events) {
        rsp_jsonw_kint(&w, "notifyEvents", o->md.notify_events);
        if (o->md.notify_address[0])
            rsp_jsonw_kstr(&w, "notifyAddress", o->md.notify_address);
    }
    if (o->md.has_icon)
        rsp_jsonw_kint(&w, "iconBytes", (int64_t)o->md.icon_len);
    if (o->md.has_owner)
        rsp_jsonw_khex(&w, "profileOwnerMccMnc", o->md.owner_mccmnc, 3);
    if (o->md.has_ppr)
        rsp_jsonw_kint(&w, "ppr", o->md.ppr);
    rsp_jsonw_kint(&w, "segments", o->ppp_segments);
    rsp_jsonw_kint(&w, "createdAt", (int64_t)o->created_at);
    rsp_jsonw_kint(&w, "updatedAt", (int64_t)o->updated_at);
    if (o->expires_at)
        rsp_jsonw_kint(&w, "expiresAt", (int64_t)o->expires_at);
    rsp_jsonw_obj_end(&w);
    if (rsp_jsonw_finish(&w, &text, &len) == 0)
        printf("%s\n", text);
    else
        *failed = 1;
    rsp_jsonw_free(&w);
    return 0;
}

static int cmd_list(const char *dir, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        usage(stderr);
        return 2;
    }
    smdp_orders *o;
    if (open_state(dir, &o, NULL))
        return 2;
    int failed = 0;
    int rc = smdp_orders_list(o, list_one, &failed);
    if (rc) {
        fprintf(stderr, "smdpctl: list: %s\n", smdp_orders_strerror(rc));
        failed = 1;
    }
    fflush(stdout);
    smdp_orders_close(o);
    return failed;
}

static int cmd_activation_code(const char *dir, int argc, char **argv)
{
    static const struct option opts[] = {
        {"iccid", required_argument, NULL, 'i'},
        {"smdp-address", required_argument, NULL, 'a'},
        {"oid", required_argument, NULL, 'o'},
        {"qr", required_argument, NULL, 'q'},
        {"scale", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *iccid = NULL, *address = NULL, *oid = NULL, *qr = NULL;
    long scale = 8;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'i':
            iccid = optarg;
            break;
        case 'a':
            address = optarg;
            break;
        case 'o':
            oid = optarg;
            break;
        case 'q':
            qr = optarg;
            break;
        case 's':
            scale = strtol(optarg, &end, 10);
            if (*end || scale < 1 || scale > 64) {
                fprintf(stderr, "smdpctl: --scale must be 1 to 64\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!iccid || !address || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!smdp_ac_address_valid(address) || (oid && *oid && !smdp_ac_oid_valid(oid))) {
        fprintf(stderr, "smdpctl: --smdp-address must be a host name[:port], --oid a dotted OID\n");
        return 2;
    }
    smdp_orders *o;
    if (open_state(dir, &o, NULL))
        return 2;
    smdp_order *ord = malloc(sizeof(*ord));
    rsp_status st = ord ? smdp_orders_get(o, iccid, ord) : RSP_ST_INTERNAL;
    smdp_orders_close(o);
    int rc = 1;
    char code[SMDP_AC_MAX], err[256];
    if (st != RSP_OK) {
        fprintf(stderr, "smdpctl: %s: %s\n", iccid, rsp_status_get(st)->message);
    } else if (ord->state != SMDP_STATE_CONFIRMED && ord->state != SMDP_STATE_RELEASED) {
        fprintf(stderr,
                "smdpctl: %s: the order is %s; an Activation Code needs a confirmed or released one\n", iccid,
                smdp_state_name(ord->state));
    } else if (!smdp_ac_token_valid(ord->matching_id)) {
        fprintf(stderr, "smdpctl: %s: %s\n", iccid,
                ord->matching_id[0] ? "its matchingId is not a valid Activation Code token"
                                    : "the order has no matchingId");
    } else if (smdp_ac_format(address, ord->matching_id, oid, ord->has_cc, code, sizeof(code)) != 0) {
        fprintf(stderr, "smdpctl: %s: the Activation Code does not fit\n", iccid);
    } else if (qr && smdp_qr_write_png(code, qr, (unsigned)scale, err, sizeof(err)) != 0) {
        fprintf(stderr, "smdpctl: %s\n", err);
    } else {
        printf("%s\n", code);
        if (ord->state == SMDP_STATE_CONFIRMED)
            fprintf(stderr, "smdpctl: note: %s is not released yet; downloads start after ReleaseProfile\n",
                    iccid);
        rc = 0;
    }
    free(ord);
    fflush(stdout);
    return rc;
}

struct purge_scan {
    uint64_t cutoff;
    char (*iccids)[SMDP_ICCID_MAX + 1];
    size_t n, cap;
};

static int purge_pick(void *arg, const smdp_order *ord)
{
    struct purge_scan *p = arg;
    if (!smdp_order_finished(ord) || ord->updated_at >= p->cutoff)
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        void *n = realloc(p->iccids, cap * sizeof(*p->iccids));
        if (!n)
            return ENOMEM;
        p->iccids = n;
        p->cap = cap;
    }
    snprintf(p->iccids[p->n++], SMDP_ICCID_MAX + 1, "%s", ord->iccid);
    return 0;
}

/* Finds the finished orders last changed more than --older-than days ago, then deletes each in its own
 * state-checked job (an order that changed meanwhile is left alone). */
static int cmd_purge(const char *dir, int argc, char **argv)
{
    static const struct option opts[] = {
        {"older-than", required_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long days = -1;
    int dry = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o':
            days = strtol(optarg, &end, 10);
            if (*end || end == optarg || days < 0)
                days = -1;
            break;
        case 'n':
            dry = 1;
            break;
        default:
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (days < 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    smdp_orders *o;
    if (open_state(dir, &o, NULL))
        return 2;
    uint64_t now = (uint64_t)time(NULL);
    struct purge_scan p = {.cutoff = now - (uint64_t)days * 86400};
    int rc = smdp_orders_list(o, purge_pick, &p), failed = 0;
    if (rc) {
        fprintf(stderr, "smdpctl: purge: %s\n", rc == ENOMEM ? strerror(rc) : smdp_orders_strerror(rc));
        failed = 1;
    }
    size_t purged = 0;
    for (size_t i = 0; !failed && !dry && i < p.n; i++) {
        smdp_op op = {.kind = SMDP_OP_PURGE, .now = p.cutoff, .iccid = p.iccids[i]};
        rsp_status st = smdp_orders_run(o, &op);
        if (st == RSP_OK)
            purged++;
        else if (st == RSP_ST_INTERNAL) {
            fprintf(stderr, "smdpctl: purge %s: %s\n", p.iccids[i], smdp_orders_strerror(op.db_err));
            failed = 1;
        }
    }
    if (dry)
        for (size_t i = 0; i < p.n; i++)
            printf("%s\n", p.iccids[i]);
    else
        printf("%zu\n", purged);
    free(p.iccids);
    smdp_orders_close(o);
    return failed;
}

/* --NAME=VALUE or --NAME VALUE at argv[*i]: the value (and *i moves past it), or NULL. */
static const char *global_opt(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) || strncmp(a + 2, name, n))
        return NULL;
    if (a[2 + n] == '=') {
        (*i)++;
        return a + 3 + n;
    }
    if (a[2 + n] == '\0' && *i + 1 < argc) {
        *i += 2;
        return argv[*i - 1];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *backend = "lmdb", *v;
    int i = 1;
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if ((v = global_opt(argc, argv, &i, "state"))) {
            dir = v;
        } else if ((v = global_opt(argc, argv, &i, "store.backend"))) {
            backend = v;
        } else if ((v = global_opt(argc, argv, &i, "store.dsn"))) {
            g_store.dsn = v;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (smdp_store_backend_parse(backend, &g_store.backend) != 0) {
        fprintf(stderr, "smdpctl: --store.backend is lmdb or postgres\n");
        return 2;
    }
    bool pg = g_store.backend == SMDP_STORE_POSTGRES;
    if (pg && (!g_store.dsn || !*g_store.dsn)) {
        fprintf(stderr, "smdpctl: --store.backend=postgres needs --store.dsn\n");
        return 2;
    }
    if (i < argc && !strcmp(argv[i], "migrate")) {
        char err[512];
        if (!pg) {
            fprintf(stderr, "smdpctl: migrate is for --store.backend=postgres (LMDB needs none)\n");
            return 2;
        }
        if (smdp_orders_migrate(g_store.dsn, err, sizeof(err)) != 0) {
            fprintf(stderr, "smdpctl: migrate: %s\n", err);
            return 1;
        }
        printf("order store schema up to date\n");
        return 0;
    }
    if (!dir || !*dir || i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    /* the sub-command sees itself as argv[0] */
    if (!strcmp(cmd, "import"))
        return cmd_import(dir, argc - i, argv + i);
    if (!strcmp(cmd, "order"))
        return cmd_order(dir, argc - i, argv + i);
    if (!strcmp(cmd, "list"))
        return cmd_list(dir, argc - i, argv + i);
    if (!strcmp(cmd, "activation-code"))
        return cmd_activation_code(dir, argc - i, argv + i);
    if (!strcmp(cmd, "purge"))
        return cmd_purge(dir, argc - i, argv + i);
    if ((!strcmp(cmd, "backup") || !strcmp(cmd, "restore")) && pg) {
        fprintf(stderr, "smdpctl: %s copies an LMDB store; back PostgreSQL up with pg_dump or PITR\n", cmd);
        return 2;
    }
    if (!strcmp(cmd, "backup") || !strcmp(cmd, "restore")) {
        int no_secrets = i + 1 < argc && !strcmp(argv[i + 1], "--no-secrets");
        if (i + 2 + no_secrets != argc) {
            usage(stderr);
            return 2;
        }
        static const char *const envs[] = {SMDP_STATE_DB, NULL};
        static const char *const secrets[] = {SMDP_STATE_MASTER_KEY, "txn.secret", NULL};
        rsp_backup_spec spec = {"smdp", envs, secrets, !no_secrets};
        return rsp_backup_command(&spec, cmd, dir, argv[argc - 1]);
    }
    fprintf(stderr, "smdpctl: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
