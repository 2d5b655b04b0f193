/*
 * tools/lpasim/main.c - lpa-sim: an LPA plus eUICC simulator on the command
 * line.  Each command prints one JSON object on stdout and exits 0 on
 * success, 1 when the flow failed (the JSON says where and why), 2 on a usage
 * error.  State (profiles, notifications) persists in the --euicc directory.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/codec.h"
#include "rsp/jsonw.h"
#include "tools/lpasim/euicc.h"
#include "tools/lpasim/lpa.h"

static const char usage_text[] =
    "usage: lpa-sim [OPTIONS] COMMAND [COMMAND OPTIONS]\n"
    "\n"
    "  init --euicc DIR --from-pki PKIDIR [--eid EID] [--curve nist|brainpool]\n"
    "      Create an eUICC directory from an rsp-pki output (PKIDIR or PKIDIR/<curve>) or from\n"
    "      the SGP.26 files (CERT_EUICC_ECDSA_*.der, SK_EUICC_ECDSA_*.pem, CERT_EUM_ECDSA_*.der, CI).\n"
    "  discover --smds HOST[:PORT] [--matching-id EVENTID]\n"
    "      ES11 event retrieval; prints eventEntries.\n"
    "  download --smdp HOST[:PORT] [--matching-id ID] [--cc CODE [--cc-hex]] [--notify]\n"
    "           [--after-bpp WHAT]\n"
    "      ES9+ profile download and installation; --notify sends the result at once. hashCc is over\n"
    "      the code's text (as lpac), or with --cc-hex over its hex-decoded bytes (as some test clients).\n"
    "      --after-bpp: load (default); drop (stop without a result or CancelSession, as a device\n"
    "      switched off); or a CancelSession reason (cancel instead of loading).\n"
    "  notify\n"
    "      Send every pending notification to its address (HandleNotification).\n"
    "  cancel --smdp HOST[:PORT] --reason R [--matching-id ID]\n"
    "      Authenticate, then CancelSession (R: 0-3 or endUserRejection, postponed, timeout,\n"
    "      pprNotAllowed).\n"
    "  profiles\n"
    "      List installed profiles and pending notifications.\n"
    "  enable|disable|delete --iccid ICCID\n"
    "      Change a profile's state (queues a notification if the profile asks for one).\n"
    "  info\n"
    "      EID, EUICCInfo1, EUICCInfo2 (base64) and configured addresses.\n"
    "\n"
    "OPTIONS (anywhere on the line):\n"
    "  --euicc DIR              eUICC directory (required except for init's own)\n"
    "  --cafile FILE            PEM trust anchors for the servers' TLS certificates\n"
    "  --address NAME           RSP server address sent in the messages (default: HOST)\n"
    "  --connect-to HOST:PORT   connect there instead (TLS still checks the URL host)\n"
    "  --es11-paths es9plus|es11  ES11 path family (default es9plus, sending smdpAddress)\n"
    "  --imei 15-16 DIGITS      DeviceInfo IMEI; --tac 8 DIGITS DeviceInfo TAC\n"
    "  --timeout MS             per request (default 30000)\n"
    "  --forbidden-ppr RULES    announce forbiddenProfilePolicyRules (ppr1, ppr2, comma-separated) in\n"
    "                           EUICCInfo2 for this run\n"
    "  --verbose                log HTTP exchanges to stderr\n"
    "  --fresh-connections      a new connection for every request (behind a load balancer, each call\n"
    "                           may then reach another server)\n";

struct args {
    const char *cmd;
    const char *euicc_dir, *cafile, *address, *connect_to, *es11, *imei, *tac, *timeout;
    const char *smds, *smdp, *matching_id, *cc, *reason, *iccid, *from_pki, *eid, *curve, *after_bpp;
    const char *forbidden_ppr;
    bool notify, verbose, fresh, cc_hex;
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "lpa-sim: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
#define O(n, m) {n, offsetof(struct args, m)}
        O("--euicc", euicc_dir),
        O("--cafile", cafile),
        O("--address", address),
        O("--connect-to", connect_to),
        O("--es11-paths", es11),
        O("--imei", imei),
        O("--tac", tac),
        O("--timeout", timeout),
        O("--smds", smds),
        O("--smdp", smdp),
        O("--matching-id", matching_id),
        O("--cc", cc),
        O("--reason", reason),
        O("--iccid", iccid),
        O("--from-pki", from_pki),
        O("--eid", eid),
        O("--curve", curve),
        O("--after-bpp", after_bpp),
        O("--forbidden-ppr", forbidden_ppr),
#undef O
    };
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (strcmp(s, "--notify") == 0) {
            a->notify = true;
            continue;
        }
        if (strcmp(s, "--verbose") == 0 || strcmp(s, "-v") == 0) {
            a->verbose = true;
            continue;
        }
        if (strcmp(s, "--fresh-connections") == 0) {
            a->fresh = true;
            continue;
        }
        if (strcmp(s, "--cc-hex") == 0) {
            a->cc_hex = true;
            continue;
        }
        if (s[0] == '-') {
            size_t k;
            for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
                if (strcmp(s, opts[k].name) == 0)
                    break;
            if (k == sizeof(opts) / sizeof(opts[0]))
                return usage_error("unknown option %s", s);
            if (i + 1 >= argc)
                return usage_error("%s needs a value", s);
            *(const char **)((char *)a + opts[k].off) = argv[++i];
            continue;
        }
        if (a->cmd)
            return usage_error("unexpected argument %s", s);
        a->cmd = s;
    }
    if (!a->cmd)
        return usage_error("%s", "no command");
    return 0;
}

/* ---- output ---- */

static void print_json(rsp_jsonw *w)
{
    if (rsp_jsonw_print_line(w, stdout) != 0)
        printf("{\"ok\":false,\"detail\":\"output too large or not UTF-8\"}\n");
    fflush(stdout);
}

static int print_simple_error(const char *stage, const char *detail)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kbool(&w, "ok", false);
    rsp_jsonw_kstr(&w, "stage", stage);
    rsp_jsonw_kstr(&w, "detail", detail);
    rsp_jsonw_obj_end(&w);
    print_json(&w);
    return 1;
}

/* Members describing a failed flow (the object is open). */
static void w_result(rsp_jsonw *w, const lpa_result *r)
{
    rsp_jsonw_kbool(w, "ok", r->ok);
    if (r->ok)
        return;
    rsp_jsonw_kstr(w, "stage", r->stage);
    if (r->status[0])
        rsp_jsonw_kstr(w, "status", r->status);
    if (r->subject[0])
        rsp_jsonw_kstr(w, "subjectCode", r->subject);
    if (r->reason[0])
        rsp_jsonw_kstr(w, "reasonCode", r->reason);
    if (r->message[0])
        rsp_jsonw_kstr(w, "message", r->message);
    if (r->http_status)
        rsp_jsonw_kint(w, "httpStatus", r->http_status);
    if (r->euicc_rc) {
        rsp_jsonw_kstr(w, "euiccError", r->euicc.name ? r->euicc.name : euicc_strerror(r->euicc_rc));
        if (r->euicc.code)
            rsp_jsonw_kint(w, "euiccErrorCode", r->euicc.code);
        if (r->euicc.bpp_command >= 0)
            rsp_jsonw_kint(w, "bppCommandId", r->euicc.bpp_command);
    }
    if (r->detail[0])
        rsp_jsonw_kstr(w, "detail", r->detail);
}

static const char *event_name(int ev)
{
    static const char *const n[] = {"install", "enable", "disable", "delete"};
    return ev >= 0 && ev < 4 ? n[ev] : "unknown";
}

/* ---- commands ---- */

static int cmd_init(const struct args *a)
{
    if (!a->euicc_dir || !a->from_pki)
        return usage_error("%s", "init needs --euicc DIR and --from-pki PKIDIR");
    euicc_error err;
    if (euicc_init_dir(a->euicc_dir, a->from_pki, a->eid, a->curve, &err) != 0)
        return print_simple_error("init", err.detail);
    euicc *e = euicc_load_dir(a->euicc_dir, &err);
    if (!e)
        return print_simple_error("init", err.detail);
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kbool(&w, "ok", true);
    rsp_jsonw_kstr(&w, "eid", euicc_eid(e));
    rsp_jsonw_kstr(&w, "dir", a->euicc_dir);
    rsp_jsonw_kint(&w, "trustedCis", (int64_t)rsp_ci_store_count(euicc_cis(e)));
    rsp_jsonw_obj_end(&w);
    print_json(&w);
    euicc_free(e);
    return 0;
}

static int digits_to_bcd(const char *s, uint8_t *out, size_t n, bool swap)
{
    size_t len = strlen(s);
    if (len > 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        uint8_t d = 0xF;
        if (i < len) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            d = (uint8_t)(s[i] - '0');
        }
        size_t b = i / 2;
        bool high = swap ? (i % 2 == 1) : (i % 2 == 0);
        out[b] = high ? (uint8_t)((out[b] & 0x0F) | d << 4) : (uint8_t)((out[b] & 0xF0) | d);
    }
    return 0;
}

static int reason_parse(const char *s)
{
    static const char *const names[] = {"endUserRejection", "postponed", "timeout", "pprNotAllowed"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || *end || v < 0 || v > 127 || end == s ? -1 : (int)v;
}

/* "ppr1,ppr2" to PprIds bits; -1 for anything else. */
static long ppr_parse(const char *s)
{
    long bits = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 4 && strncmp(s, "ppr1", 4) == 0)
            bits |= 1 << 1;
        else if (n == 4 && strncmp(s, "ppr2", 4) == 0)
            bits |= 1 << 2;
        else
            return -1;
        s += n;
        if (*s == ',' && *++s == '\0')
            return -1;
    }
    return bits;
}

static void w_profiles(rsp_jsonw *w, const euicc *e)
{
    rsp_jsonw_key(w, "profiles");
    rsp_jsonw_arr_begin(w);
    for (size_t i = 0; i < euicc_profile_count(e); i++) {
        const euicc_profile *p = euicc_profile_at(e, i);
        rsp_jsonw_obj_begin(w);
        rsp_jsonw_kstr(w, "iccid", p->iccid_str);
        rsp_jsonw_kstr(w, "state", p->enabled ? "enabled" : "disabled");
        rsp_jsonw_kstr(w, "profileName", p->name);
        rsp_jsonw_kstr(w, "serviceProviderName", p->spn);
        rsp_jsonw_kint(w, "profileClass", p->profile_class);
        rsp_jsonw_khex(w, "aid", p->aid, p->aid_len);
        rsp_jsonw_khex(w, "packageSha256", p->package_sha256, 32);
        rsp_jsonw_kstr(w, "smdpAddress", p->smdp_address);
        rsp_jsonw_obj_end(w);
    }
    rsp_jsonw_arr_end(w);
    rsp_jsonw_key(w, "pendingNotifications");
    rsp_jsonw_arr_begin(w);
    for (size_t i = 0; i < euicc_notification_count(e); i++) {
        const euicc_notification *n = euicc_notification_at(e, i);
        rsp_jsonw_obj_begin(w);
        rsp_jsonw_kint(w, "seqNumber", n->seq);
        rsp_jsonw_kstr(w, "event", event_name(n->event));
        rsp_jsonw_kstr(w, "address", n->address);
        if (n->iccid_str[0])
            rsp_jsonw_kstr(w, "iccid", n->iccid_str);
        rsp_jsonw_obj_end(w);
    }
    rsp_jsonw_arr_end(w);
}

static int run(const struct args *a, euicc *e)
{
    const char *cmd = a->cmd;
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    int rc = 0;
    bool save = false;

    if (strcmp(cmd, "profiles") == 0 || strcmp(cmd, "info") == 0) {
        rsp_jsonw_kbool(&w, "ok", true);
        rsp_jsonw_kstr(&w, "eid", euicc_eid(e));
        if (strcmp(cmd, "info") == 0) {
            der_writer i1, i2;
            der_w_init(&i1);
            der_w_init(&i2);
            euicc_get_info1(e, &i1);
            euicc_get_info2(e, &i2);
            rsp_jsonw_kbase64(&w, "euiccInfo1", i1.buf, i1.len);
            rsp_jsonw_kbase64(&w, "euiccInfo2", i2.buf, i2.len);
            der_w_free(&i1);
            der_w_free(&i2);
            rsp_jsonw_kstr(&w, "defaultSmdpAddress", euicc_config_of(e)->default_smdp);
            rsp_jsonw_kstr(&w, "rootSmdsAddress", euicc_config_of(e)->root_smds);
        } else {
            w_profiles(&w, e);
        }
    } else if (strcmp(cmd, "enable") == 0 || strcmp(cmd, "disable") == 0 || strcmp(cmd, "delete") == 0) {
        if (!a->iccid) {
            rsp_jsonw_free(&w);
            return usage_error("%s needs --iccid", cmd);
        }
        euicc_error err;
        int erc = strcmp(cmd, "enable") == 0    ? euicc_enable_profile(e, a->iccid, &err)
                  : strcmp(cmd, "disable") == 0 ? euicc_disable_profile(e, a->iccid, &err)
                                                : euicc_delete_profile(e, a->iccid, &err);
        rsp_jsonw_kbool(&w, "ok", erc == 0);
        if (erc) {
            rsp_jsonw_kstr(&w, "stage", cmd);
            rsp_jsonw_kstr(&w, "euiccError", err.name ? err.name : euicc_strerror(erc));
            rsp_jsonw_kstr(&w, "detail", err.detail);
            rc = 1;
        } else {
            rsp_jsonw_kstr(&w, "iccid", a->iccid);
        }
        save = true;
    } else {
        lpa_opts o;
        memset(&o, 0, sizeof(o));
        uint8_t imei[8];
        o.cafile = a->cafile;
        o.connect_to = a->connect_to;
        o.verbose = a->verbose;
        o.fresh_connections = a->fresh;
        o.cc_hex = a->cc_hex;
        if (a->es11) {
            if (strcmp(a->es11, "es11") == 0)
                o.es11_paths = true;
            else if (strcmp(a->es11, "es9plus") != 0) {
                rsp_jsonw_free(&w);
                return usage_error("--es11-paths must be es9plus or es11, not %s", a->es11);
            }
        }
        if (a->timeout)
            o.timeout_ms = strtol(a->timeout, NULL, 10);
        if (a->after_bpp && strcmp(a->after_bpp, "load") != 0) {
            int reason = reason_parse(a->after_bpp);
            o.after_bpp = strcmp(a->after_bpp, "drop") == 0 ? LPA_BPP_DROP : LPA_BPP_CANCEL;
            o.after_bpp_reason = reason;
            if (o.after_bpp == LPA_BPP_CANCEL && reason < 0) {
                rsp_jsonw_free(&w);
                return usage_error("--after-bpp takes load, drop or a cancel reason, not %s", a->after_bpp);
            }
        }
        if (a->imei) {
            if (digits_to_bcd(a->imei, imei, 8, true) != 0) {
                rsp_jsonw_free(&w);
                return usage_error("bad --imei %s", a->imei);
            }
            o.imei = imei;
        }
        if (a->tac && (strlen(a->tac) != 8 || digits_to_bcd(a->tac, o.tac, 4, false) != 0)) {
            rsp_jsonw_free(&w);
            return usage_error("bad --tac %s (8 digits)", a->tac);
        }
        lpa *l = lpa_new(e, &o);
        if (!l) {
            rsp_jsonw_free(&w);
            return print_simple_error(cmd, "cannot initialise the HTTP client");
        }
        lpa_result r;
        if (strcmp(cmd, "discover") == 0) {
            if (!a->smds) {
                lpa_free(l);
                rsp_jsonw_free(&w);
                return usage_error("%s", "discover needs --smds HOST[:PORT]");
            }
            lpa_event *ev;
            size_t n;
            rc = lpa_discover(l, a->smds, a->address, a->matching_id, &ev, &n, &r) ? 1 : 0;
            w_result(&w, &r);
            if (rc == 0) {
                rsp_jsonw_key(&w, "eventEntries");
                rsp_jsonw_arr_begin(&w);
                for (size_t i = 0; i < n; i++) {
                    rsp_jsonw_obj_begin(&w);
                    rsp_jsonw_kstr(&w, "eventId", ev[i].event_id);
                    rsp_jsonw_kstr(&w, "rspServerAddress", ev[i].rsp_server_address);
                    rsp_jsonw_obj_end(&w);
                }
                rsp_jsonw_arr_end(&w);
                lpa_events_free(ev, n);
            }
        } else if (strcmp(cmd, "download") == 0) {
            if (!a->smdp) {
                lpa_free(l);
                rsp_jsonw_free(&w);
                return usage_error("%s", "download needs --smdp HOST[:PORT]");
            }
            lpa_download_info info;
            rc = lpa_download(l, a->smdp, a->address, a->matching_id, a->cc, a->notify, &info, &r) ? 1 : 0;
            w_result(&w, &r);
            if (info.tid_len)
                rsp_jsonw_khex(&w, "transactionId", info.tid, info.tid_len);
            if (info.iccid[0])
                rsp_jsonw_kstr(&w, "iccid", info.iccid);
            if (rc == 0) {
                rsp_jsonw_kstr(&w, "state", info.enabled ? "enabled" : "disabled");
                rsp_jsonw_kstr(&w, "profileName", info.profile_name);
                rsp_jsonw_kstr(&w, "serviceProviderName", info.service_provider_name);
                rsp_jsonw_khex(&w, "packageSha256", info.package_sha256, 32);
            }
            if (info.notification_seq) {
                rsp_jsonw_kint(&w, "notificationSeqNumber", info.notification_seq);
                rsp_jsonw_kbool(&w, "notified", info.notified);
            }
            save = true;
        } else if (strcmp(cmd, "notify") == 0) {
            size_t sent, failed;
            rc = lpa_notify(l, &sent, &failed, &r) ? 1 : 0;
            w_result(&w, &r);
            rsp_jsonw_kint(&w, "sent", (int64_t)sent);
            rsp_jsonw_kint(&w, "failed", (int64_t)failed);
            rsp_jsonw_kint(&w, "pending", (int64_t)euicc_notification_count(e));
            save = true;
        } else if (strcmp(cmd, "cancel") == 0) {
            int reason = a->reason ? reason_parse(a->reason) : -1;
            if (!a->smdp || reason < 0) {
                lpa_free(l);
                rsp_jsonw_free(&w);
                return usage_error("%s", "cancel needs --smdp HOST[:PORT] and --reason R");
            }
            rc = lpa_cancel(l, a->smdp, a->address, a->matching_id, reason, &r) ? 1 : 0;
            w_result(&w, &r);
            rsp_jsonw_kint(&w, "reason", reason);
            save = true;
        } else {
            lpa_free(l);
            rsp_jsonw_free(&w);
            return usage_error("unknown command %s", cmd);
        }
        lpa_free(l);
    }
    if (save) {
        euicc_error err;
        if (euicc_save_dir(e, a->euicc_dir, &err) != 0) {
            rsp_jsonw_kstr(&w, "saveError", err.detail);
            rc = 1;
        }
    }
    rsp_jsonw_obj_end(&w);
    print_json(&w);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a;
    signal(SIGPIPE, SIG_IGN); /* a server closing a connection must not kill the tool */
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    if (strcmp(a.cmd, "init") == 0)
        return cmd_init(&a);
    if (!a.euicc_dir)
        return usage_error("%s", "--euicc DIR is required");
    euicc_error err;
    long ppr = a.forbidden_ppr ? ppr_parse(a.forbidden_ppr) : 0;
    if (ppr < 0)
        return usage_error("--forbidden-ppr takes ppr1, ppr2 (comma-separated), not %s", a.forbidden_ppr);
    euicc *e = euicc_load_dir(a.euicc_dir, &err);
    if (!e)
        return print_simple_error("load", err.detail);
    euicc_config_of(e)->forbidden_ppr = (uint32_t)ppr;
    rc = run(&a, e);
    euicc_free(e);
    return rc;
}
