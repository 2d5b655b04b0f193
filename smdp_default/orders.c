/* The order store front (argument checks, backend choice), the record codecs, and the transition
 * code every backend runs inside its write transaction (store_impl.h); the backends are
 * orders_lmdb.c and orders_pg.c. */
#include "smdp_default/orders.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "rsp/codec.h"
#include "rsp/str.h"
#include "smdp_default/actcode.h"
#include "smdp_default/store_impl.h"
#include "order.pb-c.h"
#include "outbox.pb-c.h"

const char *smdp_state_name(smdp_state s)
{
    static const char *const names[] = {"?",        "Available",  "Allocated", "Linked", "Confirmed",
                                        "Released", "Downloaded", "Installed", "Error",  "Unavailable"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up on every use. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md;
}

static bool state_valid(int s)
{
    return s >= SMDP_STATE_AVAILABLE && s <= SMDP_STATE_UNAVAILABLE;
}

/* An order that has not reached an end state, whose expiry may still need processing. */
bool smdp_order_expirable(const smdp_order *o)
{
    return o->expires_at && !o->expired && o->state >= SMDP_STATE_ALLOCATED &&
           o->state <= SMDP_STATE_DOWNLOADED;
}

/* Awaiting download: what the by-EID queue holds. */
bool smdp_order_in_eid_queue(const smdp_order *o)
{
    return o->eid[0] && (o->state == SMDP_STATE_RELEASED || o->state == SMDP_STATE_DOWNLOADED);
}

/* Ended in Error with a device: what the ended index holds. */
bool smdp_order_in_ended(const smdp_order *o)
{
    return o->eid[0] && o->state == SMDP_STATE_ERROR;
}

static bool eid_valid(const char *s)
{
    if (!s || strlen(s) != SMDP_EID_DIGITS)
        return false;
    for (size_t i = 0; i < SMDP_EID_DIGITS; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool text_fits(const char *s, size_t max)
{
    return s && strlen(s) <= max;
}

int smdp_order_metadata(const smdp_order *ord, const char *own_address, der_writer *w)
{
    smdp_metadata m = {.iccid = ord->iccid,
                       .service_provider_name = ord->service_provider_name,
                       .profile_name = ord->profile_name,
                       .profile_class = ord->profile_class,
                       .extra = &ord->md,
                       .own_address = own_address};
    return smdp_metadata_encode(w, &m);
}

/* ---- record encoding ---- */

static int copy_bin(uint8_t *dst, size_t cap, size_t *len, const ProtobufCBinaryData *b)
{
    if (b->len > cap)
        return -1;
    if (b->len)
        memcpy(dst, b->data, b->len);
    if (len)
        *len = b->len;
    return 0;
}

/* A record written before euicc_point existed keeps PK.EUICC as SubjectPublicKeyInfo DER. */
static int legacy_pub(smdp_order *o, const ProtobufCBinaryData *spki)
{
    const unsigned char *p = spki->data;
    EVP_PKEY *k = spki->len <= 1024 ? d2i_PUBKEY(NULL, &p, (long)spki->len) : NULL;
    int rc = k && p == spki->data + spki->len &&
                     smdp_eckey_export_pub(k, o->euicc_point, sizeof(o->euicc_point), &o->euicc_point_len,
                                           o->euicc_curve, sizeof(o->euicc_curve)) == 0
                 ? 0
                 : -1;
    EVP_PKEY_free(k);
    return rc;
}

int smdp_order_unpack(const uint8_t *buf, size_t len, smdp_order *o)
{
    Smdp__Profile *p = smdp__profile__unpack(NULL, len, buf);
    if (!p)
        return SMDP_CORRUPTED;
    memset(o, 0, sizeof(*o));
    size_t n;
    int bad = rsp_str_copy(o->iccid, sizeof(o->iccid), p->iccid) ||
              rsp_str_copy(o->profile_type, sizeof(o->profile_type), p->profile_type) ||
              rsp_str_copy(o->owner, sizeof(o->owner), p->owner) || !state_valid((int)p->state) ||
              rsp_str_copy(o->eid, sizeof(o->eid), p->eid) ||
              rsp_str_copy(o->matching_id, sizeof(o->matching_id), p->matching_id) ||
              (p->cc_hash.len != 0 && p->cc_hash.len != SMDP_CC_HASH_LEN) ||
              copy_bin(o->cc_hash, sizeof(o->cc_hash), NULL, &p->cc_hash) ||
              (p->cc_hash_hex.len != 0 && p->cc_hash_hex.len != SMDP_CC_HASH_LEN) ||
              copy_bin(o->cc_hash_hex, sizeof(o->cc_hash_hex), NULL, &p->cc_hash_hex) ||
              rsp_str_copy(o->smds_address, sizeof(o->smds_address), p->smds_address) ||
              rsp_str_copy(o->root_smds_address, sizeof(o->root_smds_address), p->root_smds_address) ||
              p->ppk_blob.len != SMDP_PPK_BLOB_LEN ||
              copy_bin(o->ppk_blob, sizeof(o->ppk_blob), NULL, &p->ppk_blob) ||
              copy_bin(o->session_tid, sizeof(o->session_tid), &o->session_tid_len, &p->session_tid) ||
              copy_bin(o->euicc_point, sizeof(o->euicc_point), &o->euicc_point_len, &p->euicc_point) ||
              rsp_str_copy(o->euicc_curve, sizeof(o->euicc_curve), p->euicc_curve) ||
              (o->euicc_point_len != 0) != (o->euicc_curve[0] != '\0') ||
              (!o->euicc_point_len && p->euicc_pub.len && legacy_pub(o, &p->euicc_pub)) ||
              (p->smdp_signature2.len != 0 && p->smdp_signature2.len != SMDP_SIG_LEN) ||
              copy_bin(o->smdp_sig2, sizeof(o->smdp_sig2), NULL, &p->smdp_signature2) ||
              copy_bin(o->session_data, sizeof(o->session_data), &o->session_data_len, &p->session_data);
    o->has_smdp_sig2 = p->smdp_signature2.len == SMDP_SIG_LEN;
    o->state = (smdp_state)p->state;
    o->has_cc = p->cc_hash.len == SMDP_CC_HASH_LEN;
    o->has_cc_hex = o->has_cc && p->cc_hash_hex.len == SMDP_CC_HASH_LEN;
    o->cc_attempts = p->cc_attempts;
    o->download_attempts = p->download_attempts;
    o->event_registered = p->event_registered;
    o->created_at = p->created_at;
    o->updated_at = p->updated_at;
    o->expires_at = p->expires_at;
    o->release_seq = p->release_seq;
    o->version = p->version;
    o->expired = p->expired;
    o->ppp_len = p->ppp_len;
    o->ppp_segments = p->ppp_segments;
    o->profile_class = SMDP_CLASS_ABSENT;
    if (!bad && p->metadata) {
        const Smdp__ProfileMetadata *pm = p->metadata;
        smdp_md_extra *x = &o->md;
        bad = rsp_str_copy(o->service_provider_name, sizeof(o->service_provider_name),
                           pm->service_provider_name) ||
              rsp_str_copy(o->profile_name, sizeof(o->profile_name), pm->profile_name) ||
              pm->notify_events > 0x0F || pm->ppr > 0x07 ||
              rsp_str_copy(x->notify_address, sizeof(x->notify_address), pm->notify_address) ||
              copy_bin(x->icon, sizeof(x->icon), &x->icon_len, &pm->icon) ||
              (pm->owner_mccmnc.len != 0 && pm->owner_mccmnc.len != 3) ||
              copy_bin(x->owner_mccmnc, sizeof(x->owner_mccmnc), NULL, &pm->owner_mccmnc) ||
              copy_bin(x->owner_gid1, sizeof(x->owner_gid1), &x->owner_gid1_len, &pm->owner_gid1) ||
              copy_bin(x->owner_gid2, sizeof(x->owner_gid2), &x->owner_gid2_len, &pm->owner_gid2);
        if (pm->has_profile_class)
            o->profile_class = pm->profile_class;
        x->notify_events = (uint8_t)pm->notify_events;
        x->has_icon = pm->has_icon && (pm->icon_type == SMDP_ICON_JPG || pm->icon_type == SMDP_ICON_PNG);
        x->icon_type = x->has_icon ? pm->icon_type : 0;
        x->has_owner = pm->owner_mccmnc.len == 3;
        x->has_ppr = pm->has_ppr;
        x->ppr = (uint8_t)pm->ppr;
    }
    if (!bad && p->binding) {
        smdp_binding *b = &o->binding;
        b->present = true;
        b->created_at = p->binding->created_at;
        bad = copy_bin(b->transaction_id, sizeof(b->transaction_id), &b->transaction_id_len,
                       &p->binding->transaction_id) ||
              p->binding->euicc_otpk.len != SMDP_OTPK_LEN ||
              copy_bin(b->euicc_otpk, sizeof(b->euicc_otpk), &n, &p->binding->euicc_otpk) ||
              copy_bin(b->otsk_blob, sizeof(b->otsk_blob), &b->otsk_blob_len, &p->binding->otsk_blob);
    }
    smdp__profile__free_unpacked(p, NULL);
    return bad ? SMDP_CORRUPTED : 0;
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
    return (ProtobufCBinaryData){.len = n, .data = (uint8_t *)p};
}

size_t smdp_order_pack(const smdp_order *o, uint8_t *dst)
{
    Smdp__ProfileMetadata md = SMDP__PROFILE_METADATA__INIT;
    md.service_provider_name = (char *)o->service_provider_name;
    md.profile_name = (char *)o->profile_name;
    md.has_profile_class = o->profile_class != SMDP_CLASS_ABSENT;
    md.profile_class = md.has_profile_class ? o->profile_class : 0;
    const smdp_md_extra *x = &o->md;
    md.notify_events = x->notify_events;
    md.notify_address = (char *)x->notify_address;
    md.has_icon = x->has_icon;
    md.icon_type = md.has_icon ? x->icon_type : 0;
    md.icon = bin(x->icon, md.has_icon ? x->icon_len : 0);
    md.owner_mccmnc = bin(x->owner_mccmnc, x->has_owner ? 3 : 0);
    md.owner_gid1 = bin(x->owner_gid1, x->has_owner ? x->owner_gid1_len : 0);
    md.owner_gid2 = bin(x->owner_gid2, x->has_owner ? x->owner_gid2_len : 0);
    md.has_ppr = x->has_ppr;
    md.ppr = x->ppr;
    Smdp__Binding b = SMDP__BINDING__INIT;
    Smdp__Profile p = SMDP__PROFILE__INIT;
    p.iccid = (char *)o->iccid;
    p.profile_type = (char *)o->profile_type;
    p.owner = (char *)o->owner;
    p.state = (Smdp__ProfileState)o->state;
    p.eid = (char *)o->eid;
    p.matching_id = (char *)o->matching_id;
    p.cc_hash = bin(o->cc_hash, o->has_cc ? SMDP_CC_HASH_LEN : 0);
    p.cc_hash_hex = bin(o->cc_hash_hex, o->has_cc && o->has_cc_hex ? SMDP_CC_HASH_LEN : 0);
    p.cc_attempts = o->cc_attempts;
    p.download_attempts = o->download_attempts;
    p.smds_address = (char *)o->smds_address;
    p.root_smds_address = (char *)o->root_smds_address;
    p.event_registered = o->event_registered;
    p.created_at = o->created_at;
    p.updated_at = o->updated_at;
    p.expires_at = o->expires_at;
    p.release_seq = o->release_seq;
    p.metadata = &md;
    p.ppk_blob = bin(o->ppk_blob, sizeof(o->ppk_blob));
    p.ppp_len = o->ppp_len;
    p.ppp_segments = o->ppp_segments;
    p.session_tid = bin(o->session_tid, o->session_tid_len);
    p.euicc_point = bin(o->euicc_point, o->euicc_point_len);
    p.euicc_curve = (char *)o->euicc_curve;
    p.smdp_signature2 = bin(o->smdp_sig2, o->has_smdp_sig2 ? SMDP_SIG_LEN : 0);
    p.session_data = bin(o->session_data, o->session_data_len);
    p.expired = o->expired;
    if (o->binding.present) {
        b.transaction_id = bin(o->binding.transaction_id, o->binding.transaction_id_len);
        b.euicc_otpk = bin(o->binding.euicc_otpk, SMDP_OTPK_LEN);
        b.otsk_blob = bin(o->binding.otsk_blob, o->binding.otsk_blob_len);
        b.created_at = o->binding.created_at;
        p.binding = &b;
    }
    p.version = o->version;

    size_t n = smdp__profile__get_packed_size(&p);
    if (dst)
        smdp__profile__pack(&p, dst);
    return n;
}

size_t smdp_answer_pack(const smdp_answer *a, uint8_t *dst)
{
    Smdp__Es2Answer p = SMDP__ES2_ANSWER__INIT;
    p.fn = a->fn;
    p.request_hash = bin(a->request_hash, sizeof(a->request_hash));
    p.status = (uint32_t)a->status;
    p.iccid = (char *)a->iccid;
    p.eid = (char *)a->eid;
    p.matching_id = (char *)a->matching_id;
    p.created_at = a->created_at;
    size_t n = smdp__es2_answer__get_packed_size(&p);
    if (dst)
        smdp__es2_answer__pack(&p, dst);
    return n;
}

int smdp_answer_unpack(const uint8_t *buf, size_t len, smdp_answer *out)
{
    Smdp__Es2Answer *p = smdp__es2_answer__unpack(NULL, len, buf);
    if (!p)
        return SMDP_CORRUPTED;
    memset(out, 0, sizeof(*out));
    out->fn = p->fn;
    out->status = (rsp_status)p->status;
    out->created_at = p->created_at;
    int bad = p->request_hash.len != sizeof(out->request_hash) || p->status >= RSP_ST__COUNT ||
              rsp_str_copy(out->iccid, sizeof(out->iccid), p->iccid) ||
              rsp_str_copy(out->eid, sizeof(out->eid), p->eid) ||
              rsp_str_copy(out->matching_id, sizeof(out->matching_id), p->matching_id);
    if (!bad)
        memcpy(out->request_hash, p->request_hash.data, sizeof(out->request_hash));
    smdp__es2_answer__free_unpacked(p, NULL);
    return bad ? SMDP_CORRUPTED : 0;
}

size_t smdp_ob_item_pack(const smdp_ob_item *it, uint8_t *dst)
{
    Smdp__OutboxItem p = SMDP__OUTBOX_ITEM__INIT;
    p.seq = it->seq;
    p.kind = (Smdp__OutboxKind)it->kind;
    p.stream = (char *)it->stream;
    p.target = (char *)it->target;
    p.created_at = it->created_at;
    p.due_at = it->due_at;
    p.attempts = it->attempts;
    p.last_error = (char *)it->last_error;
    p.eid = (char *)it->eid;
    p.event_id = (char *)it->event_id;
    p.forwarding_indicator = it->forward;
    p.iccid = (char *)it->iccid;
    p.profile_type = (char *)it->profile_type;
    p.notification_point_id = it->np_id;
    p.success = it->success;
    p.subject_code = (char *)it->subject;
    p.reason_code = (char *)it->reason;
    p.result_data.data = (uint8_t *)it->result;
    p.result_data.len = it->result_len;
    p.timestamp = it->timestamp;
    p.sequence_number = it->notif_seq;
    p.notification_address = (char *)it->notif_address;
    size_t n = smdp__outbox_item__get_packed_size(&p);
    if (dst)
        smdp__outbox_item__pack(&p, dst);
    return n;
}

int smdp_ob_item_unpack(const uint8_t *buf, size_t len, smdp_ob_item *it)
{
    Smdp__OutboxItem *p = smdp__outbox_item__unpack(NULL, len, buf);
    if (!p)
        return SMDP_CORRUPTED;
    memset(it, 0, sizeof(*it));
    it->seq = p->seq;
    it->kind = (smdp_ob_kind)p->kind;
    it->created_at = p->created_at;
    it->due_at = p->due_at;
    it->attempts = p->attempts;
    it->forward = p->forwarding_indicator;
    it->np_id = p->notification_point_id;
    it->success = p->success;
    it->timestamp = p->timestamp;
    it->notif_seq = p->sequence_number;
    int bad = rsp_str_copy(it->stream, sizeof(it->stream), p->stream) ||
              rsp_str_copy(it->target, sizeof(it->target), p->target) ||
              rsp_str_copy(it->last_error, sizeof(it->last_error), p->last_error) ||
              rsp_str_copy(it->eid, sizeof(it->eid), p->eid) ||
              rsp_str_copy(it->event_id, sizeof(it->event_id), p->event_id) ||
              rsp_str_copy(it->iccid, sizeof(it->iccid), p->iccid) ||
              rsp_str_copy(it->profile_type, sizeof(it->profile_type), p->profile_type) ||
              rsp_str_copy(it->subject, sizeof(it->subject), p->subject_code) ||
              rsp_str_copy(it->reason, sizeof(it->reason), p->reason_code) ||
              rsp_str_copy(it->notif_address, sizeof(it->notif_address), p->notification_address) ||
              p->result_data.len > sizeof(it->result) || it->kind < SMDP_OB_REGISTER_EVENT ||
              it->kind > SMDP_OB_NOTIFICATION;
    if (!bad && p->result_data.len) {
        memcpy(it->result, p->result_data.data, p->result_data.len);
        it->result_len = p->result_data.len;
    }
    smdp__outbox_item__free_unpacked(p, NULL);
    return bad ? SMDP_CORRUPTED : 0;
}

static bool same_tid(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && alen > 0 && CRYPTO_memcmp(a, b, alen) == 0;
}

/* The record of iccid; an ICCID that cannot be one is simply absent. */
static int ld(smdp_stx *t, const char *iccid, smdp_order *out)
{
    return smdp_iccid_valid(iccid) ? t->ops->load(t, iccid, out) : SMDP_NOTFOUND;
}

/* ---- ES2+ first answers ---- */

int smdp_answer_key(const char *operator_id, const char *requester, const char *call_id,
                    uint8_t key[SMDP_CALL_KEY_LEN])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && sha256() && operator_id && requester && call_id &&
             EVP_DigestInit_ex(c, sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, operator_id, strlen(operator_id) + 1) == 1 &&
             EVP_DigestUpdate(c, requester, strlen(requester) + 1) == 1 &&
             EVP_DigestUpdate(c, call_id, strlen(call_id)) == 1 && EVP_DigestFinal_ex(c, key, NULL) == 1;
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

/* A retried ES2+ call: replays the stored answer when it is for the same function and request. */
static int replay(smdp_stx *t, smdp_op *op, bool *done)
{
    smdp_answer a;
    int rc = t->ops->answer_load(t, op->call_key, &a);
    *done = false;
    if (rc == SMDP_NOTFOUND || (rc == 0 && op->now >= a.created_at + t->s->cfg.answer_ttl))
        return 0;
    if (rc)
        return rc;
    if (a.fn != op->call->fn || CRYPTO_memcmp(a.request_hash, op->call->request_hash, sizeof(a.request_hash)))
        return 0;
    op->replayed = true;
    op->status = a.status;
    rsp_str_copy(op->after.iccid, sizeof(op->after.iccid), a.iccid);
    rsp_str_copy(op->after.eid, sizeof(op->after.eid), a.eid);
    rsp_str_copy(op->after.matching_id, sizeof(op->after.matching_id), a.matching_id);
    *done = true;
    return 0;
}

/* Stores the answer of an ES2+ call that changed an order, in the change's transaction. */
static int remember(smdp_stx *t, const smdp_op *op)
{
    smdp_answer a = *op->call;
    a.status = op->status;
    a.created_at = op->now;
    rsp_str_copy(a.iccid, sizeof(a.iccid), op->after.iccid);
    rsp_str_copy(a.eid, sizeof(a.eid), op->after.eid);
    rsp_str_copy(a.matching_id, sizeof(a.matching_id), op->after.matching_id);
    return t->ops->answer_put(t, op->call_key, &a);
}

/* ---- operations (run inside the writer's transaction) ---- */

/* A refusal: nothing written, the job itself succeeds. */
static int refuse(smdp_op *op, rsp_status st)
{
    op->status = st;
    return 0;
}

/* Stores op->after (new version, updated_at) and its indexes. */
static int save(smdp_stx *t, smdp_op *op)
{
    op->after.version = op->found ? op->before.version + 1 : 1;
    op->after.updated_at = op->now;
    op->written = true;
    return t->ops->save(t, op->found ? &op->before : NULL, &op->after);
}

/* Loads op->iccid into before/after; on absence sets `missing`. */
static int load_op(smdp_stx *t, smdp_op *op, rsp_status missing)
{
    int rc = ld(t, op->iccid, &op->before);
    if (rc == SMDP_NOTFOUND)
        return refuse(op, missing);
    if (rc)
        return rc;
    op->found = true;
    op->after = op->before;
    return 0;
}

/* Forgets the download session; keep_binding keeps the bound one-time key and its BPP for a retry. */
static int end_session(smdp_stx *t, smdp_order *o, bool keep_binding)
{
    int rc = 0;
    if (!keep_binding) {
        rc = o->binding.present ? t->ops->del_bpp(t, o->iccid) : 0;
        memset(&o->binding, 0, sizeof(o->binding));
    }
    memset(o->session_tid, 0, sizeof(o->session_tid));
    o->session_tid_len = 0;
    memset(o->euicc_point, 0, sizeof(o->euicc_point));
    o->euicc_point_len = 0;
    memset(o->euicc_curve, 0, sizeof(o->euicc_curve));
    memset(o->smdp_sig2, 0, sizeof(o->smdp_sig2));
    o->has_smdp_sig2 = false;
    memset(o->session_data, 0, sizeof(o->session_data));
    o->session_data_len = 0;
    return rc;
}

static int clear_session(smdp_stx *t, smdp_order *o)
{
    return end_session(t, o, false);
}

static bool owner_ok(const smdp_op *op)
{
    return op->owner && !strcmp(op->owner, op->before.owner);
}

static int op_import(smdp_stx *t, smdp_op *op)
{
    const smdp_import *im = op->import;
    if (!im || !im->ppp || !im->ppp->seq86 || !smdp_iccid_valid(op->iccid) || !op->profile_type ||
        !*op->profile_type || !text_fits(op->profile_type, SMDP_TYPE_MAX) || !op->owner || !*op->owner ||
        !text_fits(op->owner, SMDP_OWNER_MAX) ||
        (im->service_provider_name && !text_fits(im->service_provider_name, SMDP_SPN_MAX)) ||
        (im->profile_name && !text_fits(im->profile_name, SMDP_PNAME_MAX)) ||
        im->profile_class < SMDP_CLASS_ABSENT || im->profile_class > SMDP_CLASS_OPERATIONAL)
        return refuse(op, RSP_ST_INVALID_FIELD);
    int rc = ld(t, op->iccid, &op->before);
    if (rc == 0)
        return refuse(op, RSP_ST_ICCID_IN_USE);
    if (rc != SMDP_NOTFOUND)
        return rc;
    smdp_order *a = &op->after;
    rsp_str_copy(a->iccid, sizeof(a->iccid), op->iccid);
    rsp_str_copy(a->profile_type, sizeof(a->profile_type), op->profile_type);
    rsp_str_copy(a->owner, sizeof(a->owner), op->owner);
    rsp_str_copy(a->service_provider_name, sizeof(a->service_provider_name), im->service_provider_name);
    rsp_str_copy(a->profile_name, sizeof(a->profile_name), im->profile_name);
    a->profile_class = im->profile_class;
    if (im->extra)
        a->md = *im->extra;
    a->state = SMDP_STATE_AVAILABLE;
    a->created_at = op->now;
    memcpy(a->ppk_blob, im->ppp->ppk_blob, sizeof(a->ppk_blob));
    a->ppp_len = im->ppp->seq86_len;
    a->ppp_segments = (uint32_t)im->ppp->segments;
    if ((rc = t->ops->put_ppp(t, op->iccid, im->ppp->seq86, im->ppp->seq86_len)))
        return rc;
    return save(t, op);
}

/* First Available profile of (owner, type); RSP_ST_* when there is none. */
static int pick_available(smdp_stx *t, smdp_op *op, char iccid[SMDP_ICCID_MAX + 1])
{
    bool known = false;
    int rc = t->ops->pick_available(t, op->owner, op->profile_type, iccid, &known);
    if (rc || iccid[0])
        return rc;
    return refuse(op, known ? RSP_ST_PROFILE_TYPE_EXHAUSTED : RSP_ST_PROFILE_TYPE_UNKNOWN);
}

static int op_download_order(smdp_stx *t, smdp_op *op)
{
    if (!op->owner || !*op->owner)
        return refuse(op, RSP_ST_ICCID_NOT_ALLOWED);
    bool has_iccid = op->iccid && *op->iccid, has_type = op->profile_type && *op->profile_type;
    if (!has_iccid && !has_type)
        return refuse(op, RSP_ST_MANDATORY_MISSING);
    if (op->eid && !eid_valid(op->eid))
        return refuse(op, RSP_ST_EID_INVALID);
    int rc;
    if (has_iccid) {
        if ((rc = load_op(t, op, RSP_ST_ICCID_UNKNOWN)) || !op->found)
            return rc;
        if (!owner_ok(op))
            return refuse(op, RSP_ST_ICCID_NOT_ALLOWED);
        if (has_type && strcmp(op->profile_type, op->before.profile_type))
            return refuse(op, RSP_ST_PROFILE_TYPE_UNKNOWN);
        if (op->before.state != SMDP_STATE_AVAILABLE)
            return refuse(op, RSP_ST_ICCID_IN_USE);
    } else {
        char iccid[SMDP_ICCID_MAX + 1];
        if ((rc = pick_available(t, op, iccid)) || op->status)
            return rc;
        rc = ld(t, iccid, &op->before);
        if (rc)
            return rc == SMDP_NOTFOUND ? SMDP_CORRUPTED : rc;
        op->found = true;
        op->after = op->before;
    }
    smdp_order *a = &op->after;
    a->state = op->eid ? SMDP_STATE_LINKED : SMDP_STATE_ALLOCATED;
    rsp_str_copy(a->eid, sizeof(a->eid), op->eid);
    a->expires_at = t->s->cfg.order_ttl == UINT64_MAX ? 0 : op->now + t->s->cfg.order_ttl;
    a->cc_attempts = 0;
    a->download_attempts = 0;
    return save(t, op);
}

int smdp_matching_id_new(char out[SMDP_MID_MAX + 1])
{
    /* Crockford base32: 20 symbols of 5 random bits (100 bits), 4 groups */
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint8_t r[20];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return EIO;
    size_t n = 0;
    for (size_t i = 0; i < sizeof(r); i++) {
        if (i && i % 5 == 0)
            out[n++] = '-';
        out[n++] = alphabet[r[i] & 31];
    }
    out[n] = '\0';
    return 0;
}

/* A code of an even number of digits read as hex; false for any other code, and for one whose bytes
 * would read as digits again ("3132" is "12"): there the two readings would accept a different code. */
static bool cc_hex_bytes(const char *cc, uint8_t *out, size_t cap, size_t *n)
{
    size_t len = strlen(cc);
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (cc[i] < '0' || cc[i] > '9')
            return false;
    if (rsp_hex_decode(cc, len, out, cap, n) != RSP_CODEC_OK)
        return false;
    bool digits = true;
    for (size_t i = 0; i < *n; i++)
        digits = digits && out[i] >= '0' && out[i] <= '9';
    return !digits;
}

/* The stored hashes of a confirmation code (NULL or "" = none): of its text (SGP.22), and of its
 * hex-decoded bytes when it is made of digits (the other reading some clients use). */
static int cc_hashes(smdp_order *a, const char *cc)
{
    a->has_cc = cc && *cc;
    memset(a->cc_hash, 0, sizeof(a->cc_hash));
    memset(a->cc_hash_hex, 0, sizeof(a->cc_hash_hex));
    a->has_cc_hex = false;
    if (!a->has_cc)
        return 0;
    uint8_t bytes[128];
    size_t n = 0;
    if (!sha256() || EVP_Digest(cc, strlen(cc), a->cc_hash, NULL, sha256(), NULL) != 1)
        return EIO;
    if (cc_hex_bytes(cc, bytes, sizeof(bytes), &n)) {
        if (EVP_Digest(bytes, n, a->cc_hash_hex, NULL, sha256(), NULL) != 1)
            return EIO;
        a->has_cc_hex = true;
    }
    return 0;
}

static int op_confirm_order(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_op(t, op, RSP_ST_ICCID_UNKNOWN)) || !op->found)
        return rc;
    const smdp_order *b = &op->before;
    smdp_order *a = &op->after;
    if (!owner_ok(op))
        return refuse(op, RSP_ST_ICCID_NOT_ALLOWED);
    if (b->state != SMDP_STATE_ALLOCATED && b->state != SMDP_STATE_LINKED)
        return refuse(op, RSP_ST_STATE_TRANSITION);
    if (op->eid && !eid_valid(op->eid))
        return refuse(op, RSP_ST_EID_INVALID);
    if (op->eid && b->eid[0] && strcmp(op->eid, b->eid))
        return refuse(op, RSP_ST_EID_OTHER_ASSOCIATED);
    const char *eid = op->eid ? op->eid : b->eid;
    bool has_smds = op->smds_address && *op->smds_address;
    if ((has_smds || (op->matching_id && !*op->matching_id)) && !*eid)
        return refuse(op, RSP_ST_EID_REQUIRED);
    if ((op->smds_address && !text_fits(op->smds_address, SMDP_ADDR_MAX)) ||
        (op->root_smds_address && !text_fits(op->root_smds_address, SMDP_ADDR_MAX)) ||
        (op->matching_id && *op->matching_id && !smdp_ac_token_valid(op->matching_id)))
        return refuse(op, RSP_ST_INVALID_FIELD);

    char holder[SMDP_ICCID_MAX + 1];
    if (op->matching_id && *op->matching_id) {
        if ((rc = t->ops->mid_owner(t, op->matching_id, holder)))
            return rc;
        if (holder[0] && strcmp(holder, b->iccid))
            return refuse(op, RSP_ST_MATCHING_ID_IN_USE);
        rsp_str_copy(a->matching_id, sizeof(a->matching_id), op->matching_id);
    } else if (op->matching_id) {
        a->matching_id[0] = '\0';
    } else {
        for (int tries = 0;; tries++) {
            if (tries == 8)
                return EIO; /* 100 random bits colliding eight times: broken RNG */
            if ((rc = smdp_matching_id_new(a->matching_id)) ||
                (rc = t->ops->mid_owner(t, a->matching_id, holder)))
                return rc;
            if (!holder[0])
                break;
        }
    }

    rsp_str_copy(a->eid, sizeof(a->eid), eid);
    if ((rc = cc_hashes(a, op->confirmation_code)))
        return rc;
    a->cc_attempts = 0;
    rsp_str_copy(a->smds_address, sizeof(a->smds_address), op->smds_address);
    rsp_str_copy(a->root_smds_address, sizeof(a->root_smds_address), op->root_smds_address);
    a->state = op->release ? SMDP_STATE_RELEASED : SMDP_STATE_CONFIRMED;
    a->event_registered = op->release && a->smds_address[0];
    if (op->release && (rc = t->ops->next_seq(t, &a->release_seq)))
        return rc;
    return save(t, op);
}

static int op_cancel_order(smdp_stx *t, smdp_op *op)
{
    int rc;
    if (op->final_state != SMDP_STATE_AVAILABLE && op->final_state != SMDP_STATE_UNAVAILABLE)
        return refuse(op, RSP_ST_INVALID_FIELD);
    if ((rc = load_op(t, op, RSP_ST_ICCID_UNKNOWN)) || !op->found)
        return rc;
    const smdp_order *b = &op->before;
    smdp_order *a = &op->after;
    if (!owner_ok(op))
        return refuse(op, RSP_ST_ICCID_NOT_ALLOWED);
    if (b->state == SMDP_STATE_DOWNLOADED || b->state == SMDP_STATE_INSTALLED)
        return refuse(op, RSP_ST_ICCID_IN_USE);
    if (b->state == SMDP_STATE_AVAILABLE || b->state == SMDP_STATE_UNAVAILABLE)
        return refuse(op, RSP_ST_STATE_TRANSITION);
    if (op->name_associated && b->eid[0] && !op->eid)
        return refuse(op, RSP_ST_EID_REQUIRED);
    if (op->name_associated && b->matching_id[0] && !op->matching_id)
        return refuse(op, RSP_ST_MATCHING_ID_REQUIRED);
    if (op->eid && strcmp(op->eid, b->eid))
        return refuse(op, RSP_ST_EID_MISMATCH);
    if (op->matching_id && strcmp(op->matching_id, b->matching_id))
        return refuse(op, RSP_ST_MATCHING_ID_OTHER);
    if ((rc = clear_session(t, a)))
        return rc;
    a->state = op->final_state;
    a->eid[0] = a->matching_id[0] = a->smds_address[0] = a->root_smds_address[0] = '\0';
    cc_hashes(a, NULL);
    a->cc_attempts = a->download_attempts = 0;
    a->event_registered = false;
    a->expires_at = 0;
    a->release_seq = 0;
    return save(t, op);
}

static int op_release_profile(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_op(t, op, RSP_ST_ICCID_UNKNOWN)) || !op->found)
        return rc;
    if (!owner_ok(op))
        return refuse(op, RSP_ST_ICCID_NOT_ALLOWED);
    if (op->before.state != SMDP_STATE_CONFIRMED)
        return refuse(op, RSP_ST_STATE_TRANSITION);
    op->after.state = SMDP_STATE_RELEASED;
    op->after.event_registered = op->after.smds_address[0] != '\0';
    if ((rc = t->ops->next_seq(t, &op->after.release_seq)))
        return rc;
    return save(t, op);
}

static bool downloadable(smdp_state st)
{
    return st == SMDP_STATE_RELEASED || st == SMDP_STATE_DOWNLOADED;
}

/* A retry limit reached ends the order: it stays in the store as Error, its
 * session and event go, and op->status carries the code the caller answers. */
static int terminate(smdp_stx *t, smdp_op *op, rsp_status st)
{
    int rc;
    if ((rc = clear_session(t, &op->after)))
        return rc;
    op->after.state = SMDP_STATE_ERROR;
    op->after.event_registered = false;
    op->status = st;
    return save(t, op);
}

static int op_download_start(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_op(t, op, RSP_ST_PROFILE_NOT_RELEASED)) || !op->found)
        return rc;
    const smdp_order *b = &op->before;
    smdp_order *a = &op->after;
    if (!downloadable(b->state))
        return refuse(op, RSP_ST_PROFILE_NOT_RELEASED);
    if (!eid_valid(op->eid) || (b->eid[0] && strcmp(b->eid, op->eid)))
        return refuse(op, RSP_ST_EID_MISMATCH);
    if (b->expires_at && op->now >= b->expires_at)
        return refuse(op, RSP_ST_ORDER_EXPIRED);
    if (b->download_attempts >= t->s->cfg.download_max_attempts)
        return terminate(t, op, RSP_ST_DOWNLOAD_RETRIES);
    bool has_pub = op->euicc_point_len != 0;
    if (!op->tid || op->tid_len == 0 || op->tid_len > SMDP_TID_MAX ||
        op->euicc_point_len > SMDP_EC_POINT_MAX || (has_pub && !op->euicc_point) ||
        (has_pub && (!op->euicc_curve || !*op->euicc_curve || strlen(op->euicc_curve) > SMDP_EC_CURVE_MAX)) ||
        op->session_data_len > SMDP_SESSION_DATA_MAX || (op->session_data_len && !op->session_data))
        return refuse(op, RSP_ST_INVALID_FIELD);
    if (!b->eid[0]) {
        /* an Activation Code order binds to the first device that uses it */
        rsp_str_copy(a->eid, sizeof(a->eid), op->eid);
        if ((rc = t->ops->next_seq(t, &a->release_seq)))
            return rc;
    }
    a->download_attempts++;
    memcpy(a->session_tid, op->tid, op->tid_len);
    a->session_tid_len = op->tid_len;
    memset(a->euicc_point, 0, sizeof(a->euicc_point));
    memset(a->euicc_curve, 0, sizeof(a->euicc_curve));
    if (has_pub) {
        memcpy(a->euicc_point, op->euicc_point, op->euicc_point_len);
        rsp_str_copy(a->euicc_curve, sizeof(a->euicc_curve), op->euicc_curve);
    }
    a->euicc_point_len = op->euicc_point_len;
    a->has_smdp_sig2 = op->smdp_sig2 != NULL;
    memset(a->smdp_sig2, 0, sizeof(a->smdp_sig2));
    if (op->smdp_sig2)
        memcpy(a->smdp_sig2, op->smdp_sig2, SMDP_SIG_LEN);
    memset(a->session_data, 0, sizeof(a->session_data));
    if (op->session_data_len)
        memcpy(a->session_data, op->session_data, op->session_data_len);
    a->session_data_len = op->session_data_len;
    return save(t, op);
}

/* Loads the order of the session op->tid belongs to. */
static int load_session(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_op(t, op, RSP_ST_TRANSACTION_UNKNOWN)) || !op->found)
        return rc;
    if (!op->tid || !same_tid(op->before.session_tid, op->before.session_tid_len, op->tid, op->tid_len)) {
        op->found = false;
        return refuse(op, RSP_ST_TRANSACTION_UNKNOWN);
    }
    return 0;
}

/* Whether the eUICC's hashCc = SHA-256(stored SHA-256(CC) || transactionId); 0 or EIO. */
static int hash_cc_matches(const uint8_t stored[SMDP_CC_HASH_LEN], const smdp_op *op, bool *match)
{
    uint8_t want[SMDP_CC_HASH_LEN];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && sha256() && EVP_DigestInit_ex(c, sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, stored, SMDP_CC_HASH_LEN) == 1 &&
             EVP_DigestUpdate(c, op->tid, op->tid_len) == 1 && EVP_DigestFinal_ex(c, want, NULL) == 1;
    EVP_MD_CTX_free(c);
    if (!ok)
        return EIO;
    *match = CRYPTO_memcmp(want, op->hash_cc, sizeof(want)) == 0;
    return 0;
}

static int op_check_cc(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_session(t, op)) || op->status)
        return rc;
    const smdp_order *b = &op->before;
    if (!downloadable(b->state))
        return refuse(op, RSP_ST_PROFILE_NOT_RELEASED);
    if (!b->has_cc)
        return 0;
    if (b->cc_attempts >= t->s->cfg.cc_max_attempts)
        return refuse(op, RSP_ST_CC_RETRIES);
    if (!op->hash_cc)
        return refuse(op, RSP_ST_CC_MISSING);
    /* either reading of the code matches; a wrong code counts one attempt, whichever way it was hashed */
    bool text_ok, hex_ok = false;
    if ((rc = hash_cc_matches(b->cc_hash, op, &text_ok)) ||
        (b->has_cc_hex && (rc = hash_cc_matches(b->cc_hash_hex, op, &hex_ok))))
        return rc;
    if (text_ok || hex_ok)
        return 0;
    op->after.cc_attempts++;
    if (op->after.cc_attempts >= t->s->cfg.cc_max_attempts)
        return terminate(t, op, RSP_ST_CC_RETRIES);
    op->status = RSP_ST_CC_REFUSED;
    return save(t, op);
}

static int op_bpp_delivered(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_session(t, op)) || op->status)
        return rc;
    const smdp_order *b = &op->before;
    smdp_order *a = &op->after;
    if (!op->euicc_otpk || !op->otsk_blob || op->otsk_blob_len == 0 ||
        op->otsk_blob_len > SMDP_OTSK_BLOB_MAX || !op->bpp || op->bpp_len == 0)
        return refuse(op, RSP_ST_INVALID_FIELD);
    if (!downloadable(b->state))
        return refuse(op, RSP_ST_BPP_UNAVAILABLE);
    /* another otPK.EUICC is a new binding (the eUICC lost the old key): it replaces the old one, whose
     * BPP no eUICC can open any more */
    bool rebound = b->binding.present && CRYPTO_memcmp(b->binding.euicc_otpk, op->euicc_otpk, SMDP_OTPK_LEN);
    smdp_binding *bd = &a->binding;
    if (rebound)
        memset(bd, 0, sizeof(*bd));
    bd->present = true;
    memcpy(bd->transaction_id, op->tid, op->tid_len);
    bd->transaction_id_len = op->tid_len;
    memcpy(bd->euicc_otpk, op->euicc_otpk, SMDP_OTPK_LEN);
    memcpy(bd->otsk_blob, op->otsk_blob, op->otsk_blob_len);
    bd->otsk_blob_len = op->otsk_blob_len;
    if (!b->binding.present || rebound)
        bd->created_at = op->now;
    a->state = SMDP_STATE_DOWNLOADED;
    if ((rc = t->ops->put_bpp(t, a->iccid, op->bpp, op->bpp_len)))
        return rc;
    return save(t, op);
}

static int op_install_result(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_op(t, op, RSP_ST_TRANSACTION_UNKNOWN)) || !op->found)
        return rc;
    const smdp_order *b = &op->before;
    if (b->state != SMDP_STATE_DOWNLOADED)
        return refuse(op, RSP_ST_STATE_TRANSITION);
    if (!op->tid || !same_tid(b->binding.transaction_id, b->binding.transaction_id_len, op->tid, op->tid_len))
        return refuse(op, RSP_ST_TRANSACTION_UNKNOWN);
    if ((rc = clear_session(t, &op->after)))
        return rc;
    op->after.state = op->ok ? SMDP_STATE_INSTALLED : SMDP_STATE_ERROR;
    /* either way no device will use the event any more */
    op->after.event_registered = false;
    return save(t, op);
}

static int op_cancel_session(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_session(t, op)) || op->status)
        return rc;
    if (!downloadable(op->before.state))
        return refuse(op, RSP_ST_STATE_TRANSITION);
    if ((rc = end_session(t, &op->after, op->keep_binding && !op->final)))
        return rc;
    if (op->final) {
        /* the download order ends here; the operator hears of it through the hook */
        op->after.state = SMDP_STATE_ERROR;
        op->after.event_registered = false;
    } else {
        /* kept for a later attempt: its event must be there for devices that only ask the SM-DS */
        op->after.state = SMDP_STATE_RELEASED;
        op->after.event_registered = op->after.smds_address[0] != '\0';
    }
    return save(t, op);
}

static int op_set_event(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_op(t, op, RSP_ST_ICCID_UNKNOWN)) || !op->found)
        return rc;
    op->after.event_registered = op->ok;
    return save(t, op);
}

static int op_expire(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_op(t, op, RSP_ST_ICCID_UNKNOWN)) || !op->found)
        return rc;
    if (!smdp_order_expirable(&op->before) || op->now < op->before.expires_at)
        return refuse(op, RSP_ST_STATE_TRANSITION);
    op->after.expired = true;
    op->after.event_registered = false;
    return save(t, op);
}

static int op_notification(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_op(t, op, RSP_ST_ICCID_UNKNOWN)) || !op->found)
        return rc;
    if (op->notif_event < 1 || op->notif_event > 3)
        return refuse(op, RSP_ST_INVALID_FIELD);
    if (!op->eid || strcmp(op->eid, op->before.eid))
        return refuse(op, RSP_ST_EID_MISMATCH);
    if (op->before.state != SMDP_STATE_INSTALLED)
        return refuse(op, RSP_ST_STATE_TRANSITION);
    /* enable and disable change nothing here but are recorded (version, time) and forwarded */
    if (op->notif_event == 3) {
        op->after.state = SMDP_STATE_UNAVAILABLE;
        op->after.event_registered = false;
    }
    return save(t, op);
}

bool smdp_order_finished(const smdp_order *o)
{
    bool done = o->state == SMDP_STATE_INSTALLED || o->state == SMDP_STATE_ERROR ||
                o->state == SMDP_STATE_UNAVAILABLE || o->expired;
    return done && !o->event_registered;
}

/* Deletes the record, every index entry reindex() put for it, and the blobs stored beside it. */
static int op_purge(smdp_stx *t, smdp_op *op)
{
    int rc;
    if ((rc = load_op(t, op, RSP_ST_ICCID_UNKNOWN)) || !op->found)
        return rc;
    const smdp_order *b = &op->before;
    if (!smdp_order_finished(b) || b->updated_at >= op->now)
        return refuse(op, RSP_ST_STATE_TRANSITION);
    op->written = true;
    return t->ops->remove(t, b);
}

static int dispatch(smdp_stx *t, smdp_op *op)
{
    switch (op->kind) {
    case SMDP_OP_IMPORT:
        return op_import(t, op);
    case SMDP_OP_DOWNLOAD_ORDER:
        return op_download_order(t, op);
    case SMDP_OP_CONFIRM_ORDER:
        return op_confirm_order(t, op);
    case SMDP_OP_CANCEL_ORDER:
        return op_cancel_order(t, op);
    case SMDP_OP_RELEASE_PROFILE:
        return op_release_profile(t, op);
    case SMDP_OP_DOWNLOAD_START:
        return op_download_start(t, op);
    case SMDP_OP_CHECK_CC:
        return op_check_cc(t, op);
    case SMDP_OP_BPP_DELIVERED:
        return op_bpp_delivered(t, op);
    case SMDP_OP_INSTALL_RESULT:
        return op_install_result(t, op);
    case SMDP_OP_CANCEL_SESSION:
        return op_cancel_session(t, op);
    case SMDP_OP_SET_EVENT:
        return op_set_event(t, op);
    case SMDP_OP_EXPIRE:
        return op_expire(t, op);
    case SMDP_OP_NOTIFICATION:
        return op_notification(t, op);
    case SMDP_OP_PURGE:
        return op_purge(t, op);
    }
    return refuse(op, RSP_ST_INVALID_FIELD);
}

int smdp_store_apply(smdp_stx *t, smdp_op *op)
{
    /* apply may run again (map resize, serialization failure): start from scratch */
    op->status = RSP_OK;
    op->db_err = 0;
    op->found = false;
    op->written = false;
    memset(&op->before, 0, sizeof(op->before));
    memset(&op->after, 0, sizeof(op->after));
    op->after.profile_class = op->before.profile_class = SMDP_CLASS_ABSENT;
    op->replayed = false;
    bool replayed = false;
    int rc = op->call_key && op->call ? replay(t, op, &replayed) : 0;
    if (rc || replayed)
        return rc;
    rc = dispatch(t, op);
    if (rc == 0 && op->written && op->call_key && op->call)
        rc = remember(t, op);
    if (rc == 0 && op->written && op->also) {
        op->stx_ = t;
        rc = op->also(op);
        op->stx_ = NULL;
    }
    return rc;
}

int smdp_ob_item_check(const smdp_ob_item *it)
{
    return !it->stream[0] || it->kind < SMDP_OB_REGISTER_EVENT || it->kind > SMDP_OB_NOTIFICATION ? EINVAL
                                                                                                  : 0;
}

int smdp_op_queue(smdp_op *op, smdp_ob_item *it)
{
    smdp_stx *t = op->stx_;
    if (!t)
        return EINVAL;
    int rc = smdp_ob_item_check(it);
    if (rc)
        return rc;
    it->due_at = it->created_at;
    it->attempts = 0;
    return t->ops->ob_add(t, it);
}

/* ---- the front ---- */

int smdp_store_backend_parse(const char *name, smdp_store_backend *out)
{
    if (strcmp(name, "lmdb") == 0)
        *out = SMDP_STORE_LMDB;
    else if (strcmp(name, "postgres") == 0)
        *out = SMDP_STORE_POSTGRES;
    else
        return -1;
    return 0;
}

const char *smdp_orders_strerror(int err)
{
    if (err == SMDP_STORE_EUNAVAILABLE)
        return "order store temporarily unavailable";
    if (err == SMDP_STORE_EFAILED)
        return "order store statement failed";
    return mdb_strerror(err);
}

int smdp_orders_open(smdp_orders **out, const char *dir, const smdp_orders_config *cfg)
{
    *out = NULL;
    smdp_orders *o = calloc(1, sizeof(*o));
    if (!o)
        return ENOMEM;
    if (cfg)
        o->cfg = *cfg;
    if (!o->cfg.cc_max_attempts)
        o->cfg.cc_max_attempts = 3;
    if (!o->cfg.download_max_attempts)
        o->cfg.download_max_attempts = 3;
    if (!o->cfg.order_ttl)
        o->cfg.order_ttl = 30 * 24 * 3600;
    if (!o->cfg.answer_ttl)
        o->cfg.answer_ttl = 24 * 3600;
    o->ops = o->cfg.backend == SMDP_STORE_POSTGRES ? &smdp_store_pg_ops : &smdp_store_lmdb_ops;
    if (o->cfg.dsn && !(o->dsn = strdup(o->cfg.dsn))) {
        free(o);
        return ENOMEM;
    }
    o->cfg.dsn = o->dsn;
    int rc = o->ops->open(o, dir);
    if (rc) {
        free(o->dsn);
        free(o);
        return rc;
    }
    *out = o;
    return 0;
}

void smdp_orders_close(smdp_orders *o)
{
    if (!o)
        return;
    o->ops->close(o);
    free(o->dsn);
    free(o);
}

bool smdp_orders_ready(smdp_orders *o)
{
    return o->ops->ready(o);
}

void smdp_orders_metrics(smdp_orders *o, FILE *f)
{
    o->ops->metrics(o, f);
}

/* A refusal whose job still wrote (a counted failed attempt) keeps its
 * status; every other refusal wrote nothing. */
static void finish(smdp_op *op, int result)
{
    if (result) {
        op->status = RSP_ST_INTERNAL;
        op->db_err = result;
    }
}

rsp_status smdp_orders_run(smdp_orders *o, smdp_op *op)
{
    op->store_ = o;
    finish(op, o->ops->run(o, op));
    return op->status;
}

static void done_cb(smdp_op *op, int result)
{
    finish(op, result);
    if (op->done)
        op->done(op);
}

int smdp_orders_submit(smdp_orders *o, smdp_op *op)
{
    op->store_ = o;
    return o->ops->submit(o, op, done_cb);
}

/* ---- import ---- */

rsp_status smdp_orders_import_upp(smdp_orders *o, const smdp_mkey *mk, const uint8_t *upp, size_t len,
                                  const char *profile_type, const char *owner, const smdp_metadata *md,
                                  uint64_t now, char iccid_out[SMDP_ICCID_MAX + 1], int *detail)
{
    int scratch;
    if (!detail)
        detail = &scratch;
    *detail = 0;
    smdp_profile_info info;
    int rc = smdp_profile_parse(upp, len, &info);
    if (rc) {
        *detail = rc;
        return RSP_ST_INVALID_FIELD;
    }
    /* the metadata must encode before anything is stored */
    smdp_metadata m = {.iccid = info.iccid,
                       .service_provider_name = md ? md->service_provider_name : NULL,
                       .profile_name = md ? md->profile_name : NULL,
                       .profile_class = md ? md->profile_class : SMDP_CLASS_ABSENT,
                       .extra = md ? md->extra : NULL,
                       /* a placeholder: the service's own address fills it at download */
                       .own_address = "smdp.invalid"};
    der_writer w;
    der_w_init(&w);
    rc = smdp_metadata_encode(&w, &m);
    der_w_free(&w);
    if (rc)
        return RSP_ST_INVALID_FIELD;
    smdp_ppp ppp;
    if (smdp_ppp_protect(mk, info.iccid, upp, len, &ppp))
        return RSP_ST_INTERNAL;
    smdp_import im = {.service_provider_name = m.service_provider_name,
                      .profile_name = m.profile_name,
                      .profile_class = m.profile_class,
                      .ppp = &ppp,
                      .extra = m.extra};
    smdp_op *op = calloc(1, sizeof(*op));
    if (!op) {
        smdp_ppp_free(&ppp);
        return RSP_ST_INTERNAL;
    }
    op->kind = SMDP_OP_IMPORT;
    op->now = now;
    op->iccid = info.iccid;
    op->profile_type = profile_type;
    op->owner = owner;
    op->import = &im;
    rsp_status st = smdp_orders_run(o, op);
    *detail = op->db_err;
    if (st == RSP_OK && iccid_out)
        memcpy(iccid_out, info.iccid, sizeof(info.iccid));
    free(op);
    smdp_ppp_free(&ppp);
    return st;
}

/* ---- lookups ---- */

static rsp_status read_status(int rc, rsp_status missing)
{
    return rc == 0 ? RSP_OK : rc == SMDP_NOTFOUND ? missing : RSP_ST_INTERNAL;
}

rsp_status smdp_orders_get(smdp_orders *o, const char *iccid, smdp_order *out)
{
    if (!smdp_iccid_valid(iccid))
        return RSP_ST_ICCID_UNKNOWN;
    return read_status(o->ops->get(o, iccid, out), RSP_ST_ICCID_UNKNOWN);
}

rsp_status smdp_orders_find_by_eid(smdp_orders *o, const char *eid, smdp_order *out)
{
    if (!eid_valid(eid))
        return RSP_ST_EID_MISMATCH;
    return read_status(o->ops->find_by_eid(o, eid, out), RSP_ST_EID_MISMATCH);
}

rsp_status smdp_orders_end_status(const smdp_orders *o, const smdp_order *ord)
{
    if (ord->state != SMDP_STATE_ERROR)
        return RSP_ST_PROFILE_NOT_RELEASED;
    if (ord->has_cc && ord->cc_attempts >= o->cfg.cc_max_attempts)
        return RSP_ST_CC_RETRIES;
    if (ord->download_attempts >= o->cfg.download_max_attempts)
        return RSP_ST_DOWNLOAD_RETRIES;
    return RSP_ST_PROFILE_NOT_RELEASED;
}

typedef struct ended_scan {
    const smdp_orders *o;
    const char *eid;
    uint64_t latest;
    rsp_status st;
} ended_scan;

static int ended_one(void *arg, const smdp_order *ord)
{
    ended_scan *e = arg;
    /* the latest change wins: a limit reached on any of the EID's ended orders explains the refusal */
    rsp_status why = smdp_orders_end_status(e->o, ord);
    if (smdp_order_in_ended(ord) && !strcmp(ord->eid, e->eid) && why != RSP_ST_PROFILE_NOT_RELEASED &&
        ord->updated_at >= e->latest) {
        e->latest = ord->updated_at;
        e->st = why;
    }
    return 0;
}

rsp_status smdp_orders_ended_status(smdp_orders *o, const char *eid)
{
    if (!eid_valid(eid))
        return RSP_ST_EID_MISMATCH;
    ended_scan e = {o, eid, 0, RSP_ST_EID_MISMATCH};
    return o->ops->ended(o, eid, ended_one, &e) ? RSP_ST_INTERNAL : e.st;
}

rsp_status smdp_orders_find_by_matching_id(smdp_orders *o, const char *matching_id, const char *eid,
                                           smdp_order *out)
{
    /* orders stored before the token rules were enforced keep their matchingId: look any text up */
    if (!matching_id || !*matching_id || !text_fits(matching_id, SMDP_MID_MAX))
        return RSP_ST_MATCHING_ID_REFUSED;
    int rc = o->ops->by_mid(o, matching_id, out);
    if (rc)
        return read_status(rc, RSP_ST_MATCHING_ID_REFUSED);
    if (strcmp(out->matching_id, matching_id))
        return RSP_ST_INTERNAL;
    if (eid && out->eid[0] && strcmp(out->eid, eid))
        return RSP_ST_EID_MISMATCH;
    return RSP_OK;
}

rsp_status smdp_orders_find_by_tid(smdp_orders *o, const uint8_t *tid, size_t len, smdp_order *out)
{
    if (!tid || len == 0 || len > SMDP_TID_MAX)
        return RSP_ST_TRANSACTION_UNKNOWN;
    int rc = o->ops->by_tid(o, tid, len, out);
    if (rc)
        return read_status(rc, RSP_ST_TRANSACTION_UNKNOWN);
    return same_tid(out->session_tid, out->session_tid_len, tid, len) ? RSP_OK : RSP_ST_TRANSACTION_UNKNOWN;
}

static rsp_status get_blob(smdp_orders *o, bool bpp, const char *iccid, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!smdp_iccid_valid(iccid))
        return RSP_ST_ICCID_UNKNOWN;
    return read_status(o->ops->get_blob(o, bpp, iccid, out, len), RSP_ST_ICCID_UNKNOWN);
}

rsp_status smdp_orders_get_ppp(smdp_orders *o, const char *iccid, uint8_t **out, size_t *len)
{
    return get_blob(o, false, iccid, out, len);
}

rsp_status smdp_orders_get_bpp(smdp_orders *o, const char *iccid, uint8_t **out, size_t *len)
{
    return get_blob(o, true, iccid, out, len);
}

int smdp_orders_list(smdp_orders *o, smdp_order_visit fn, void *arg)
{
    return o->ops->list(o, fn, arg);
}

int smdp_orders_expired(smdp_orders *o, uint64_t now, char (*iccids)[SMDP_ICCID_MAX + 1], size_t max,
                        size_t *n)
{
    *n = 0;
    return max ? o->ops->expired(o, now, iccids, max, n) : 0;
}

rsp_status smdp_orders_answer_get(smdp_orders *o, const uint8_t key[SMDP_CALL_KEY_LEN], uint64_t now,
                                  smdp_answer *out)
{
    int rc = o->ops->answer_get(o, key, out);
    if (rc == 0 && now >= out->created_at + o->cfg.answer_ttl)
        rc = SMDP_NOTFOUND;
    return read_status(rc, RSP_ST_TRANSACTION_UNKNOWN);
}

int smdp_orders_answers_purge(smdp_orders *o, uint64_t now, size_t max, size_t *n)
{
    *n = 0;
    return o->ops->answers_purge(o, now, max < 64 ? max : 64, n);
}

/* ---- outbox storage ---- */

int smdp_orders_ob_claim(smdp_orders *o, uint64_t now, uint32_t lease, unsigned scan_max, size_t max,
                         smdp_ob_item *out, size_t *n, uint64_t *next_due)
{
    *n = 0;
    *next_due = 0;
    return max ? o->ops->ob_claim(o, now, lease, scan_max, max, out, n, next_due) : 0;
}

int smdp_orders_ob_finish(smdp_orders *o, const smdp_ob_item *claimed, const smdp_ob_item *next,
                          void (*done)(void *arg, int rc), void *arg)
{
    return o->ops->ob_finish(o, claimed, next, done, arg);
}

int smdp_orders_ob_add(smdp_orders *o, smdp_ob_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (smdp_ob_item_check(&items[i]))
            return EINVAL;
        items[i].due_at = items[i].created_at;
        items[i].attempts = 0;
    }
    return n ? o->ops->ob_add(o, items, n) : 0;
}

int smdp_orders_ob_list(smdp_orders *o, int (*fn)(void *arg, const smdp_ob_item *it), void *arg)
{
    return o->ops->ob_list(o, fn, arg);
}

int smdp_orders_ob_pending(smdp_orders *o, uint64_t *count, uint64_t *oldest)
{
    *count = *oldest = 0;
    return o->ops->ob_pending(o, count, oldest);
}
