#include "smdp_default/smdp.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/x509v3.h>

#include "rsp/str.h"
#include "asn1/sgp22.h"
#include "rsp/chain.h"
#include "rsp/config.h"
#include "rsp/crl.h"
#include "rsp/bsp.h"
#include "rsp/log.h"
#include "rsp/pg.h"
#include "smdp_default/eckey.h"

#define MAX_OPERATORS 1024
#define MAX_CNS 16

static void seterr(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, arg ? arg : "");
}

/* ---- trust snapshots ---- */

static void creds_free(smdp_cred *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        X509_free(c[i].cert);
        EVP_PKEY_free(c[i].key);
        OPENSSL_free(c[i].der);
        free(c[i].others);
    }
}

static void operators_free(smdp_operator *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rsp_config_list_free(ops[i].cns, ops[i].ncns);
    free(ops);
}

static void trust_free(smdp_trust *t)
{
    if (!t)
        return;
    creds_free(t->auth, t->nauth);
    creds_free(t->pb, t->npb);
    operators_free(t->ops, t->nops);
    rsp_ci_store_free(t->cis);
    free(t);
}

static void trust_release(rsp_ref *r)
{
    trust_free((smdp_trust *)r);
}

const smdp_cred *smdp_cred_for_ci(const smdp_cred *list, size_t n, const uint8_t *ski, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].ci_ski_len == len && memcmp(list[i].ci_ski, ski, len) == 0)
            return &list[i];
    return NULL;
}

/* The first SAN registeredID of cert, dotted; -1 if none. */
static int san_rid(X509 *cert, char *out, size_t cap)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int rc = -1;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && rc; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_RID && OBJ_obj2txt(out, (int)cap, g->d.registeredID, 1) > 0 &&
            strlen(out) < cap - 1)
            rc = 0;
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

static int load_cred(smdp_trust *t, smdp_cred *list, size_t *n, const char *what, const char *role,
                     const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    char msg[160];
    smdp_cred *a = &list[*n];
    memset(a, 0, sizeof(*a));
    a->cert = rsp_load_cert(cert_path);
    a->key = rsp_load_key(key_path);
    if (!a->cert || !a->key) {
        snprintf(msg, sizeof(msg), "cannot read %s or its key: %%s", what);
        seterr(err, errlen, msg, a->cert ? key_path : cert_path);
        goto fail;
    }
    if (X509_check_private_key(a->cert, a->key) != 1) {
        snprintf(msg, sizeof(msg), "%s %%s does not match its key", what);
        seterr(err, errlen, msg, cert_path);
        goto fail;
    }
    const uint8_t *ci_ski;
    size_t ci_ski_len;
    if (rsp_server_cred_chain(t->cis, cert_path, a->cert, role, time(NULL), &a->others, &a->others_len,
                              &ci_ski, &ci_ski_len) != 0) {
        snprintf(msg, sizeof(msg), "%s %%s is not a valid %s certificate of a configured CI", what, what);
        seterr(err, errlen, msg, cert_path);
        rsp_log(RSP_LOG_ERROR, "%s: %s", cert_path, rsp_cert_last_reason());
        goto fail;
    }
    if (smdp_cred_for_ci(list, *n, ci_ski, ci_ski_len)) {
        snprintf(msg, sizeof(msg), "%s %%s: a second certificate for the same CI", what);
        seterr(err, errlen, msg, cert_path);
        goto fail;
    }
    memcpy(a->ci_ski, ci_ski, ci_ski_len);
    a->ci_ski_len = ci_ski_len;
    unsigned char *der = NULL;
    int len = i2d_X509(a->cert, &der);
    if (len <= 0) {
        seterr(err, errlen, "cannot encode %s", cert_path);
        goto fail;
    }
    a->der = der;
    a->der_len = (size_t)len;
    (*n)++;
    return 0;
fail:
    X509_free(a->cert);
    EVP_PKEY_free(a->key);
    free(a->others);
    memset(a, 0, sizeof(*a));
    return -1;
}

typedef struct ops_parse {
    smdp_operator *ops;
    size_t n, cap;
    int bad_line;
    const char *bad;
} ops_parse;

static smdp_operator *ops_section(ops_parse *p, const char *section)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->ops[i].id, section))
            return &p->ops[i];
    if (p->n == MAX_OPERATORS)
        return NULL;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        smdp_operator *np = realloc(p->ops, cap * sizeof(*np));
        if (!np)
            return NULL;
        p->ops = np;
        p->cap = cap;
    }
    smdp_operator *o = &p->ops[p->n];
    memset(o, 0, sizeof(*o));
    if (rsp_str_copy(o->id, sizeof(o->id), section) != 0 || !section[0])
        return NULL;
    p->n++;
    return o;
}

static int ops_handler(void *user, const char *section, const char *name, const char *value)
{
    ops_parse *p = user;
    smdp_operator *o = ops_section(p, section);
    if (!o) {
        p->bad = "bad or too many operator sections";
        return 0;
    }
    if (!strcmp(name, "cn")) {
        char *copy = strdup(value), *save = NULL;
        if (!copy)
            return 0;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ' || *tok == '\t')
                tok++;
            char *end = tok + strlen(tok);
            while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
                *--end = '\0';
            if (!*tok)
                continue;
            char **np = o->ncns < MAX_CNS ? realloc(o->cns, (o->ncns + 1) * sizeof(*np)) : NULL;
            if (!np || !(np[o->ncns] = strdup(tok))) {
                if (np)
                    o->cns = np;
                free(copy);
                p->bad = "too many CNs";
                return 0;
            }
            o->cns = np;
            o->ncns++;
        }
        free(copy);
        return 1;
    }
    if (!strcmp(name, "notify_url")) {
        if (rsp_str_copy(o->notify_url, sizeof(o->notify_url), value) != 0 ||
            strncmp(value, "https://", 8) != 0) {
            p->bad = "notify_url must be an https:// URL";
            return 0;
        }
        return 1;
    }
    if (!strcmp(name, "notify_ca")) {
        if (rsp_str_copy(o->notify_ca, sizeof(o->notify_ca), value) != 0) {
            p->bad = "notify_ca too long";
            return 0;
        }
        return 1;
    }
    p->bad = "unknown key (cn, notify_url, notify_ca)";
    return 0;
}

static int load_operators(smdp_trust *t, const char *path, char *err, size_t errlen)
{
    ops_parse p = {0};
    int rc = ini_parse(path, ops_handler, &p);
    if (rc != 0) {
        char msg[300];
        if (rc < 0)
            snprintf(msg, sizeof(msg), "operators file %%s: cannot read");
        else
            snprintf(msg, sizeof(msg), "operators file %%s line %d: %s", rc, p.bad ? p.bad : "syntax");
        seterr(err, errlen, msg, path);
        operators_free(p.ops, p.n);
        return -1;
    }
    /* a CN names one operator only */
    for (size_t i = 0; i < p.n; i++)
        for (size_t k = 0; k < p.ops[i].ncns; k++)
            for (size_t j = i; j < p.n; j++)
                for (size_t m = (j == i ? k + 1 : 0); m < p.ops[j].ncns; m++)
                    if (!strcmp(p.ops[i].cns[k], p.ops[j].cns[m])) {
                        seterr(err, errlen, "operators file: CN %s is listed twice", p.ops[i].cns[k]);
                        operators_free(p.ops, p.n);
                        return -1;
                    }
    t->ops = p.ops;
    t->nops = p.n;
    t->have_operators = true;
    return 0;
}

static smdp_trust *trust_load(const smdp_t *x, char *err, size_t errlen)
{
    smdp_trust *t = calloc(1, sizeof(*t));
    if (!t || !(t->cis = rsp_ci_store_new())) {
        free(t);
        seterr(err, errlen, "out of memory%s", NULL);
        return NULL;
    }
    rsp_ref_init(&t->ref, trust_release);
    for (size_t i = 0; i < x->n_ci_files; i++) {
        if (rsp_ci_store_add_file(t->cis, x->ci_files[i]) != 0) {
            if (err && errlen)
                snprintf(err, errlen, "cannot load CI certificate %s: %s", x->ci_files[i],
                         rsp_cert_last_reason());
            goto fail;
        }
    }
    if (rsp_ci_store_load_crls(t->cis, (const char *const *)x->crl_files, x->n_crl_files,
                               (rsp_crl_policy)x->crl_policy) != 0) {
        seterr(err, errlen, "cannot load the CRLs: %s", rsp_cert_last_reason());
        goto fail;
    }
    if (x->n_auth > SMDP_MAX_CREDS || x->n_pb > SMDP_MAX_CREDS) {
        seterr(err, errlen, "too many CERT.DPauth or CERT.DPpb certificates%s", NULL);
        goto fail;
    }
    for (size_t i = 0; i < x->n_auth; i++)
        if (load_cred(t, t->auth, &t->nauth, "CERT.DPauth", RSP_OID_ROLE_DP_AUTH, x->auth_certs[i],
                      x->auth_keys[i], err, errlen) != 0)
            goto fail;
    for (size_t i = 0; i < x->n_pb; i++)
        if (load_cred(t, t->pb, &t->npb, "CERT.DPpb", RSP_OID_ROLE_DP_PB, x->pb_certs[i], x->pb_keys[i], err,
                      errlen) != 0)
            goto fail;
    for (size_t i = 0; i < t->nauth; i++) {
        char oid[SMDP_OID_MAX];
        if (san_rid(t->auth[i].cert, oid, sizeof(oid)) != 0) {
            seterr(err, errlen, "CERT.DPauth %s has no SAN registeredID (the SM-DP+ OID)", x->auth_certs[i]);
            goto fail;
        }
        if (i == 0) {
            memcpy(t->oid, oid, sizeof(oid));
        } else if (strcmp(oid, t->oid)) {
            seterr(err, errlen, "CERT.DPauth %s names another SM-DP+ OID than the first", x->auth_certs[i]);
            goto fail;
        }
        if (!smdp_cred_for_ci(t->pb, t->npb, t->auth[i].ci_ski, t->auth[i].ci_ski_len)) {
            seterr(err, errlen, "CERT.DPauth %s: no CERT.DPpb under the same CI", x->auth_certs[i]);
            goto fail;
        }
    }
    if (t->nauth && sgp22_oid_encode(t->oid, t->oid_der, sizeof(t->oid_der), &t->oid_der_len) != 0) {
        seterr(err, errlen, "SM-DP+ OID %s cannot be encoded", t->oid);
        goto fail;
    }
    if (x->operators_file && x->operators_file[0] && load_operators(t, x->operators_file, err, errlen) != 0)
        goto fail;
    return t;
fail:
    trust_free(t);
    return NULL;
}

smdp_trust *smdp_trust_get(smdp_t *x)
{
    return (smdp_trust *)rsp_snapshot_get(&x->trust);
}

void smdp_trust_put(smdp_trust *t)
{
    if (t)
        rsp_ref_put(&t->ref);
}

int smdp_reload(smdp_t *x, char *err, size_t errlen)
{
    smdp_trust *t = trust_load(x, err, errlen);
    if (!t)
        return -1;
    rsp_snapshot_replace(&x->trust, &t->ref);
    return 0;
}

int smdp_operator_of(const smdp_trust *t, const char *cn, char out[SMDP_OWNER_MAX + 1])
{
    if (!cn || !cn[0])
        return -1;
    if (!t->have_operators)
        return rsp_str_copy(out, SMDP_OWNER_MAX + 1, cn);
    for (size_t i = 0; i < t->nops; i++)
        for (size_t k = 0; k < t->ops[i].ncns; k++)
            if (!strcmp(t->ops[i].cns[k], cn))
                return rsp_str_copy(out, SMDP_OWNER_MAX + 1, t->ops[i].id);
    return -1;
}

const smdp_operator *smdp_operator_find(const smdp_trust *t, const char *id)
{
    for (size_t i = 0; i < t->nops; i++)
        if (!strcmp(t->ops[i].id, id))
            return &t->ops[i];
    return NULL;
}

static int operator_endpoint(void *ctx, const char *id, char url[SMDP_URL_MAX], char ca[SMDP_URL_MAX])
{
    smdp_trust *t = smdp_trust_get(ctx);
    const smdp_operator *o = smdp_operator_find(t, id);
    int rc = -1;
    if (o && o->notify_url[0]) {
        memcpy(url, o->notify_url, SMDP_URL_MAX);
        memcpy(ca, o->notify_ca, SMDP_URL_MAX);
        rc = 0;
    }
    smdp_trust_put(t);
    return rc;
}

/* A host name or address, optionally with :port. */
static bool host_ok(const char *a)
{
    size_t n = strlen(a);
    if (n == 0 || n > SMDP_ADDR_MAX || a[0] == '.' || a[0] == '-' || a[0] == ':')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= '0' && a[i] <= '9') ||
              a[i] == '.' || a[i] == '-' || a[i] == ':' || a[i] == '_'))
            return false;
    return true;
}

bool smdp_smds_usable(smdp_t *x, const char *smds_address, uint64_t now)
{
    if (!smds_address || !host_ok(smds_address))
        return false;
    if (x->n_smds_allowed) {
        bool listed = false;
        for (size_t i = 0; i < x->n_smds_allowed && !listed; i++)
            listed = strcasecmp(x->smds_allowed[i], smds_address) == 0;
        if (!listed)
            return false;
    }
    return !x->outbox || !smdp_outbox_target_down(x->outbox, smds_address, now);
}

/* ---- CancelSession policy ---- */

static const struct {
    const char *name;
    int64_t value;
} cancel_reasons[] = {
    {"endUserRejection", 0},  {"postponed", 1},        {"timeout", 2},
    {"pprNotAllowed", 3},     {"metadataMismatch", 4}, {"loadBppExecutionError", 5},
    {"undefinedReason", 127},
};

/* Mask bit of a reason: the small values map to themselves, anything else to the top bit. */
static uint32_t reason_bit(int64_t reason)
{
    return reason >= 0 && reason < 31 ? 1u << reason : 1u << 31;
}

int smdp_cancel_reasons_parse(const char *list, uint32_t *mask)
{
    *mask = 0;
    char *copy = strdup(list ? list : ""), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *tok = strtok_r(copy, ", \t", &save); tok && !rc; tok = strtok_r(NULL, ", \t", &save)) {
        rc = -1;
        for (size_t i = 0; i < sizeof(cancel_reasons) / sizeof(cancel_reasons[0]); i++)
            if (!strcmp(tok, cancel_reasons[i].name)) {
                *mask |= reason_bit(cancel_reasons[i].value);
                rc = 0;
            }
    }
    free(copy);
    return rc;
}

bool smdp_cancel_keeps(const smdp_t *x, int64_t reason)
{
    return (x->cancel_keep & reason_bit(reason)) != 0;
}

/* ---- the order hook ---- */

void smdp_es12_item(smdp_ob_item *it, smdp_ob_kind kind, const smdp_order *o, uint64_t now)
{
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    snprintf(it->stream, sizeof(it->stream), "es12:%s", o->iccid);
    rsp_str_copy(it->target, sizeof(it->target), o->smds_address);
    rsp_str_copy(it->eid, sizeof(it->eid), o->eid);
    rsp_str_copy(it->event_id, sizeof(it->event_id), o->matching_id);
    it->forward = kind == SMDP_OB_REGISTER_EVENT && o->root_smds_address[0];
    it->created_at = now;
}

/* Marks the notification as a failure carrying op's code. */
static void failed_with(const smdp_op *op, bool *success, const char **subject, const char **reason)
{
    *success = false;
    *subject = rsp_status_get(op->status)->subject;
    *reason = rsp_status_get(op->status)->reason;
}

/* The notification point an op reached, 0 for none.  Refusals that changed
 * nothing are not reported; a refusal that ended the order (retry limits) is. */
static uint32_t notification_point(const smdp_op *op, bool *success, const char **subject,
                                   const char **reason)
{
    *success = true;
    *subject = *reason = "";
    switch (op->kind) {
    case SMDP_OP_DOWNLOAD_START:
        if (op->status == RSP_OK)
            return SMDP_NP_ELIGIBILITY;
        if (op->status != RSP_ST_DOWNLOAD_RETRIES || !op->written)
            return 0;
        failed_with(op, success, subject, reason);
        return SMDP_NP_ELIGIBILITY;
    case SMDP_OP_CHECK_CC:
        if ((op->status != RSP_ST_CC_REFUSED && op->status != RSP_ST_CC_RETRIES) || !op->written)
            return 0;
        failed_with(op, success, subject, reason);
        return SMDP_NP_CC_FAILURE;
    case SMDP_OP_BPP_DELIVERED:
        return op->status == RSP_OK ? SMDP_NP_BPP_DOWNLOAD : 0;
    case SMDP_OP_INSTALL_RESULT:
        *success = op->ok;
        return op->status == RSP_OK ? SMDP_NP_BPP_INSTALL : 0;
    case SMDP_OP_CANCEL_SESSION:
        *success = false;
        if (op->status != RSP_OK)
            return 0;
        return op->before.state == SMDP_STATE_DOWNLOADED ? SMDP_NP_BPP_DOWNLOAD : SMDP_NP_ELIGIBILITY;
    default:
        return 0;
    }
}

static int queue_progress(smdp_op *op, smdp_t *x, const smdp_hook *h, smdp_ob_item *it)
{
    bool success;
    const char *subject, *reason;
    uint32_t np = notification_point(op, &success, &subject, &reason);
    if (!np || !x->progress_notifications)
        return 0;
    const smdp_order *o = &op->after;
    char url[SMDP_URL_MAX], ca[SMDP_URL_MAX];
    if (operator_endpoint(x, o->owner, url, ca) != 0)
        return 0;
    memset(it, 0, sizeof(*it));
    it->kind = SMDP_OB_PROGRESS;
    snprintf(it->stream, sizeof(it->stream), "es2:%s", o->iccid);
    rsp_str_copy(it->target, sizeof(it->target), o->owner);
    rsp_str_copy(it->eid, sizeof(it->eid), o->eid[0] ? o->eid : op->before.eid);
    rsp_str_copy(it->iccid, sizeof(it->iccid), o->iccid);
    rsp_str_copy(it->profile_type, sizeof(it->profile_type), o->profile_type);
    it->np_id = np;
    it->success = success;
    rsp_str_copy(it->subject, sizeof(it->subject), subject);
    rsp_str_copy(it->reason, sizeof(it->reason), reason);
    if (h->result && h->result_len <= sizeof(it->result) &&
        (op->kind == SMDP_OP_INSTALL_RESULT || op->kind == SMDP_OP_CANCEL_SESSION)) {
        memcpy(it->result, h->result, h->result_len);
        it->result_len = h->result_len;
    }
    it->timestamp = op->now;
    it->created_at = op->now;
    return smdp_op_queue(op, it);
}

/* A verified enable / disable / delete notification, for the profile's operator. */
static int queue_notification(smdp_op *op, smdp_t *x, const smdp_hook *h, smdp_ob_item *it)
{
    const smdp_order *o = &op->after;
    char url[SMDP_URL_MAX], ca[SMDP_URL_MAX];
    if (op->kind != SMDP_OP_NOTIFICATION || !x->progress_notifications ||
        operator_endpoint(x, o->owner, url, ca))
        return 0;
    memset(it, 0, sizeof(*it));
    it->kind = SMDP_OB_NOTIFICATION;
    snprintf(it->stream, sizeof(it->stream), "es2:%s", o->iccid);
    rsp_str_copy(it->target, sizeof(it->target), o->owner);
    rsp_str_copy(it->eid, sizeof(it->eid), o->eid);
    rsp_str_copy(it->iccid, sizeof(it->iccid), o->iccid);
    rsp_str_copy(it->profile_type, sizeof(it->profile_type), o->profile_type);
    rsp_str_copy(it->notif_address, sizeof(it->notif_address), h->notif_address ? h->notif_address : "");
    it->np_id = (uint32_t)op->notif_event;
    it->notif_seq = h->notif_seq;
    it->success = true;
    if (h->result && h->result_len <= sizeof(it->result)) {
        memcpy(it->result, h->result, h->result_len);
        it->result_len = h->result_len;
    }
    it->timestamp = op->now;
    it->created_at = op->now;
    return smdp_op_queue(op, it);
}

int smdp_order_hook(smdp_op *op)
{
    const smdp_hook *h = op->user;
    if (!h || !h->x || !h->x->outbox)
        return 0;
    smdp_t *x = h->x;
    const smdp_order *b = &op->before, *a = &op->after;
    smdp_ob_item *it = malloc(sizeof(*it));
    if (!it)
        return ENOMEM;
    int rc = 0;
    if (!b->event_registered && a->event_registered && a->smds_address[0]) {
        if (!h->event_sent) {
            smdp_es12_item(it, SMDP_OB_REGISTER_EVENT, a, op->now);
            rc = smdp_op_queue(op, it);
        }
    } else if (op->found && b->event_registered && !a->event_registered && b->smds_address[0]) {
        smdp_es12_item(it, SMDP_OB_DELETE_EVENT, b, op->now);
        rc = smdp_op_queue(op, it);
    }
    if (!rc)
        rc = queue_progress(op, x, h, it);
    if (!rc)
        rc = queue_notification(op, x, h, it);
    free(it);
    return rc;
}

rsp_status smdp_run_op(smdp_t *x, smdp_op *op, const uint8_t *result, size_t result_len)
{
    smdp_hook h = {.x = x, .result = result, .result_len = result_len};
    op->user = &h;
    op->also = smdp_order_hook;
    rsp_status st = smdp_orders_run(x->store, op);
    if (op->written && x->outbox)
        smdp_outbox_kick(x->outbox);
    op->user = NULL;
    return st;
}

size_t smdp_expire_orders(smdp_t *x, uint64_t now)
{
    char(*iccids)[SMDP_ICCID_MAX + 1] = malloc(64 * sizeof(*iccids));
    smdp_op *op = malloc(sizeof(*op));
    size_t n = 0, marked = 0;
    if (iccids && op && smdp_orders_expired(x->store, now, iccids, 64, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            memset(op, 0, sizeof(*op));
            op->kind = SMDP_OP_EXPIRE;
            op->now = now;
            op->iccid = iccids[i];
            if (smdp_run_op(x, op, NULL, 0) == RSP_OK) {
                marked++;
                rsp_log(RSP_LOG_INFO, "order for %s expired", iccids[i]);
            }
        }
    }
    free(iccids);
    free(op);
    return marked;
}

static void *housekeeper_main(void *arg)
{
    smdp_t *x = arg;
    pthread_mutex_lock(&x->hk_mu);
    while (!x->hk_stop) {
        pthread_mutex_unlock(&x->hk_mu);
        /* a full batch means there may be more */
        while (smdp_expire_orders(x, (uint64_t)time(NULL)) == 64)
            ;
        size_t purged;
        while (smdp_orders_answers_purge(x->store, (uint64_t)time(NULL), 64, &purged) == 0 && purged == 64)
            ;
        pthread_mutex_lock(&x->hk_mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += x->housekeeping_interval;
        while (!x->hk_stop && pthread_cond_timedwait(&x->hk_cv, &x->hk_mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&x->hk_mu);
    return NULL;
}

/* ---- lifecycle ---- */

/* Nodes sharing a database must share the transaction secrets (a node that minted its own would fail
 * every ES9+ transaction another node began) and the master key (profiles imported on one node are
 * sealed under it).  Each is checked against the fingerprint the first node stored. */
static int check_shared_secrets(smdp_t *x, const char *dsn, char *err, size_t errlen)
{
    char name[64], why[512], msg[700];
    for (unsigned id = 0; id <= RSP_TXN_MAX_KEYS; id++) {
        bool mkey = id == RSP_TXN_MAX_KEYS;
        if (!mkey && !x->keyring.have[id])
            continue;
        if (mkey)
            snprintf(name, sizeof(name), "smdp.master_key");
        else
            snprintf(name, sizeof(name), "smdp.txn_secret.%u", id);
        int rc = mkey ? rsp_pg_secret_check(dsn, name, x->mk.k, sizeof(x->mk.k), why, sizeof(why))
                      : rsp_pg_secret_check(dsn, name, x->keyring.secret[id], RSP_TXN_SECRET_LEN, why,
                                            sizeof(why));
        if (rc != 0) {
            snprintf(msg, sizeof(msg), "%s%s", why, rc > 0 ? " (copy the file from a running node)" : "");
            seterr(err, errlen, "%s", msg);
            return -1;
        }
    }
    return 0;
}

/* The durable store of consumed transactionIds.  Nodes sharing a PostgreSQL order store must also share
 * this one, so that a replay is refused on every node: a PostgreSQL replay backend (over the
 * rsp_consumed_txn table of rsp/pg.h) plugs in here when cfg->orders.backend is SMDP_STORE_POSTGRES.
 * Until then each node keeps its own LMDB environment.  *have: a backend was opened. */
static int replay_backend_open(const smdp_config *cfg, rsp_replay_backend *durable, bool *have, char *err,
                               size_t errlen)
{
    *have = false;
    if (!cfg->replay_dir)
        return 0;
    if (rsp_replay_lmdb_open(durable, cfg->replay_dir, err, errlen) != 0)
        return -1;
    *have = true;
    return 0;
}

smdp_t *smdp_new(const smdp_config *cfg, char *err, size_t errlen)
{
    if (!cfg->fqdn || !cfg->fqdn[0] || strlen(cfg->fqdn) > SMDP_FQDN_MAX) {
        seterr(err, errlen, "the SM-DP+ FQDN is required%s", NULL);
        return NULL;
    }
    if (!cfg->store_dir || !cfg->txn_secret_file || !cfg->master_key_file) {
        seterr(err, errlen, "store directory, transaction secret and master key files are required%s", NULL);
        return NULL;
    }
    if (cfg->n_auth == 0 || cfg->n_ci_files == 0) {
        seterr(err, errlen, "at least one CI and one CERT.DPauth / CERT.DPpb pair are required%s", NULL);
        return NULL;
    }
    char host_id[RSP_BSP_HOST_ID_MAX + 1];
    if (cfg->host_id && cfg->host_id[0]) {
        if (strlen(cfg->host_id) > RSP_BSP_HOST_ID_MAX) {
            seterr(err, errlen, "hostId %s is longer than 16 octets", cfg->host_id);
            return NULL;
        }
        snprintf(host_id, sizeof(host_id), "%s", cfg->host_id);
    } else {
        snprintf(host_id, sizeof(host_id), "%.16s", cfg->fqdn);
    }
    uint32_t cancel_keep;
    const char *keep = cfg->cancel_session_keep ? cfg->cancel_session_keep : SMDP_CANCEL_KEEP_DEFAULT;
    if (smdp_cancel_reasons_parse(keep, &cancel_keep) != 0) {
        seterr(err, errlen, "cancel_session_keep %s: not a list of CancelSession reasons", keep);
        return NULL;
    }
    smdp_t *x = calloc(1, sizeof(*x));
    if (!x) {
        seterr(err, errlen, "out of memory%s", NULL);
        return NULL;
    }
    rsp_snapshot_init(&x->trust);
    pthread_mutex_init(&x->hk_mu, NULL);
    pthread_cond_init(&x->hk_cv, NULL);
    x->metrics = cfg->metrics;
    x->admit = cfg->admit;
    x->txn_ttl = cfg->txn_ttl ? cfg->txn_ttl : 300;
    x->housekeeping_interval = cfg->housekeeping_interval ? cfg->housekeeping_interval : 60;
    x->progress_notifications = cfg->progress_notifications;
    x->register_event_ms = cfg->register_event_ms;
    x->cancel_keep = cancel_keep;
    x->n_ci_files = cfg->n_ci_files;
    x->n_auth = cfg->n_auth;
    x->n_pb = cfg->n_pb;
    x->n_smds_allowed = cfg->n_smds_allowed;
    x->fqdn = strdup(cfg->fqdn);
    x->host_id = strdup(host_id);
    x->operators_file = strdup(cfg->operators_file ? cfg->operators_file : "");
    x->ci_files = rsp_config_list_copy(cfg->ci_files, cfg->n_ci_files);
    x->crl_files = rsp_config_list_copy(cfg->crl_files, cfg->n_crl_files);
    x->n_crl_files = cfg->n_crl_files;
    x->crl_policy = cfg->crl_policy;
    x->auth_certs = rsp_config_list_copy(cfg->auth_certs, cfg->n_auth);
    x->auth_keys = rsp_config_list_copy(cfg->auth_keys, cfg->n_auth);
    x->pb_certs = rsp_config_list_copy(cfg->pb_certs, cfg->n_pb);
    x->pb_keys = rsp_config_list_copy(cfg->pb_keys, cfg->n_pb);
    x->smds_allowed = rsp_config_list_copy(cfg->smds_allowed, cfg->n_smds_allowed);
    if (!x->fqdn || !x->host_id || !x->operators_file || !x->ci_files || !x->crl_files || !x->auth_certs ||
        !x->auth_keys || !x->pb_certs || !x->pb_keys || !x->smds_allowed) {
        seterr(err, errlen, "out of memory%s", NULL);
        goto fail;
    }
    if (smdp_reload(x, err, errlen) != 0)
        goto fail;
    if (rsp_txn_keyring_load(&x->keyring, cfg->txn_secret_file, cfg->create_secrets) != 0) {
        seterr(err, errlen,
               "transaction secret %s: missing or unreadable (create it with `smdp-default init`; "
               "server.create_secrets mints it at start, for demos)",
               cfg->txn_secret_file);
        goto fail;
    }
    if (smdp_mkey_load(&x->mk, cfg->master_key_file, cfg->create_secrets) != 0) {
        seterr(err, errlen,
               "master key %s: missing or unreadable, mode must be 0600 (create it with `smdp-default init`)",
               cfg->master_key_file);
        goto fail;
    }
    rsp_replay_backend durable;
    bool have_durable;
    if (replay_backend_open(cfg, &durable, &have_durable, err, errlen) != 0)
        goto fail;
    x->replay =
        rsp_replay_new(cfg->replay_capacity ? cfg->replay_capacity : 100000, have_durable ? &durable : NULL);
    x->eum_cache = rsp_eum_cache_new(cfg->eum_cache_capacity ? cfg->eum_cache_capacity : 1024);
    if (!x->replay || !x->eum_cache) {
        seterr(err, errlen, "out of memory%s", NULL);
        goto fail;
    }
    int rc = smdp_orders_open(&x->store, cfg->store_dir, &cfg->orders);
    if (rc) {
        char msg[300];
        snprintf(msg, sizeof(msg), "cannot open the order store%s%%s: %s",
                 cfg->orders.backend == SMDP_STORE_LMDB ? " in " : "", smdp_orders_strerror(rc));
        seterr(err, errlen, msg, cfg->orders.backend == SMDP_STORE_LMDB ? cfg->store_dir : "");
        goto fail;
    }
    /* after the open, which migrated the schema holding the fingerprints */
    if (cfg->orders.backend == SMDP_STORE_POSTGRES && check_shared_secrets(x, cfg->orders.dsn, err, errlen))
        goto fail;
    smdp_notify_config nc = cfg->notify;
    nc.fqdn = x->fqdn;
    nc.operator_endpoint = operator_endpoint;
    nc.operator_ctx = x;
    if (!(x->notify = smdp_notify_new(&nc, err, errlen)))
        goto fail;
    smdp_outbox_config obc = cfg->outbox;
    obc.send = smdp_notify_send;
    obc.send_ctx = x->notify;
    obc.metrics = cfg->metrics;
    if (!(x->outbox = smdp_outbox_new(x->store, &obc))) {
        seterr(err, errlen, "out of memory%s", NULL);
        goto fail;
    }
    return x;
fail:
    smdp_free(x);
    return NULL;
}

int smdp_start(smdp_t *x)
{
    int rc = smdp_outbox_start(x->outbox);
    if (rc)
        return rc;
    if (!x->hk_running) {
        if ((rc = pthread_create(&x->housekeeper, NULL, housekeeper_main, x)))
            return rc;
        x->hk_running = true;
    }
    return 0;
}

void smdp_free(smdp_t *x)
{
    if (!x)
        return;
    if (x->hk_running) {
        pthread_mutex_lock(&x->hk_mu);
        x->hk_stop = true;
        pthread_cond_signal(&x->hk_cv);
        pthread_mutex_unlock(&x->hk_mu);
        pthread_join(x->housekeeper, NULL);
    }
    /* the outbox before the store it writes to, the client after the outbox's senders */
    smdp_outbox_free(x->outbox);
    smdp_notify_free(x->notify);
    smdp_orders_close(x->store);
    rsp_replay_free(x->replay);
    rsp_eum_cache_free(x->eum_cache);
    rsp_txn_keyring_wipe(&x->keyring);
    smdp_mkey_wipe(&x->mk);
    rsp_snapshot_destroy(&x->trust);
    /* the session keys cached by the calls */
    smdp_eckey_forget();
    free(x->fqdn);
    free(x->host_id);
    free(x->operators_file);
    rsp_config_list_free(x->ci_files, x->n_ci_files);
    rsp_config_list_free(x->crl_files, x->n_crl_files);
    rsp_config_list_free(x->auth_certs, x->n_auth);
    rsp_config_list_free(x->auth_keys, x->n_auth);
    rsp_config_list_free(x->pb_certs, x->n_pb);
    rsp_config_list_free(x->pb_keys, x->n_pb);
    rsp_config_list_free(x->smds_allowed, x->n_smds_allowed);
    pthread_mutex_destroy(&x->hk_mu);
    pthread_cond_destroy(&x->hk_cv);
    free(x);
}
