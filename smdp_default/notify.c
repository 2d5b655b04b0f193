#include "smdp_default/notify.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "rsp/client.h"
#include "rsp/jsonw.h"

#define MAX_BODY RSP_CLIENT_MAX_BODY

struct smdp_notify {
    char *fqdn, *cert, *key, *ca;
    unsigned es12_port, timeout_ms;
    struct curl_slist *connect_to;
    smdp_operator_endpoint_fn operator_endpoint;
    void *operator_ctx;
    pthread_key_t handle_key;
};

void smdp_w3c_time(uint64_t t, char out[21])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void seterr(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static void free_handle(void *h)
{
    curl_easy_cleanup(h);
}

smdp_notify *smdp_notify_new(const smdp_notify_config *cfg, char *err, size_t errlen)
{
    if (!cfg->fqdn || !cfg->fqdn[0]) {
        seterr(err, errlen, "notify: our FQDN is required");
        return NULL;
    }
    rsp_client_init();
    smdp_notify *n = calloc(1, sizeof(*n));
    if (!n) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    n->fqdn = strdup(cfg->fqdn);
    n->cert = strdup(cfg->cert ? cfg->cert : "");
    n->key = strdup(cfg->key ? cfg->key : "");
    n->ca = strdup(cfg->ca ? cfg->ca : "");
    n->es12_port = cfg->es12_port ? cfg->es12_port : 443;
    n->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 10000;
    n->operator_endpoint = cfg->operator_endpoint;
    n->operator_ctx = cfg->operator_ctx;
    bool ok = n->fqdn && n->cert && n->key && n->ca && pthread_key_create(&n->handle_key, free_handle) == 0;
    if (ok && cfg->connect_to && cfg->connect_to[0]) {
        char *copy = strdup(cfg->connect_to), *save = NULL;
        ok = copy != NULL;
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; ok && tok;
             tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            struct curl_slist *l = curl_slist_append(n->connect_to, tok);
            if (!l)
                ok = false;
            else
                n->connect_to = l;
        }
        free(copy);
    }
    if (!ok) {
        seterr(err, errlen, "out of memory");
        free(n->fqdn);
        free(n->cert);
        free(n->key);
        free(n->ca);
        curl_slist_free_all(n->connect_to);
        free(n);
        return NULL;
    }
    return n;
}

void smdp_notify_free(smdp_notify *n)
{
    if (!n)
        return;
    CURL *h = pthread_getspecific(n->handle_key);
    if (h) {
        curl_easy_cleanup(h);
        pthread_setspecific(n->handle_key, NULL);
    }
    pthread_key_delete(n->handle_key);
    curl_slist_free_all(n->connect_to);
    free(n->fqdn);
    free(n->cert);
    free(n->key);
    free(n->ca);
    free(n);
}

/* ---- bodies ---- */

char *smdp_notify_body(const smdp_notify *n, const smdp_ob_item *it, size_t *len)
{
    char call_id[300];
    /* seq 0: ConfirmOrder's own attempt before the order is stored (smdp_notify_try) */
    if (it->seq)
        snprintf(call_id, sizeof(call_id), "%s/outbox/%llu", n->fqdn, (unsigned long long)it->seq);
    else
        snprintf(call_id, sizeof(call_id), "%s/confirm/%s", n->fqdn, it->event_id);
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, MAX_BODY);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_req_header(&w, n->fqdn, call_id);
    switch (it->kind) {
    case SMDP_OB_REGISTER_EVENT:
        rsp_jsonw_kstr(&w, "eid", it->eid);
        rsp_jsonw_kstr(&w, "rspServerAddress", n->fqdn);
        rsp_jsonw_kstr(&w, "eventId", it->event_id);
        rsp_jsonw_kbool(&w, "forwardingIndicator", it->forward);
        break;
    case SMDP_OB_DELETE_EVENT:
        rsp_jsonw_kstr(&w, "eid", it->eid);
        rsp_jsonw_kstr(&w, "eventId", it->event_id);
        break;
    case SMDP_OB_PROGRESS: {
        char ts[21];
        smdp_w3c_time(it->timestamp, ts);
        if (it->eid[0])
            rsp_jsonw_kstr(&w, "eid", it->eid);
        rsp_jsonw_kstr(&w, "iccid", it->iccid);
        rsp_jsonw_kstr(&w, "profileType", it->profile_type);
        rsp_jsonw_kstr(&w, "timestamp", ts);
        rsp_jsonw_kint(&w, "notificationPointId", it->np_id);
        rsp_jsonw_key(&w, "notificationPointStatus");
        rsp_jsonw_obj_begin(&w);
        rsp_jsonw_kstr(&w, "status", it->success ? "Executed-Success" : "Failed");
        if (!it->success && it->subject[0]) {
            rsp_jsonw_key(&w, "statusCodeData");
            rsp_jsonw_obj_begin(&w);
            rsp_jsonw_kstr(&w, "subjectCode", it->subject);
            rsp_jsonw_kstr(&w, "reasonCode", it->reason);
            rsp_jsonw_obj_end(&w);
        }
        rsp_jsonw_obj_end(&w);
        if (it->result_len)
            rsp_jsonw_kbase64(&w, "resultData", it->result, it->result_len);
        break;
    }
    case SMDP_OB_NOTIFICATION: {
        static const char *const ops[4] = {"install", "enable", "disable", "delete"};
        char ts[21];
        smdp_w3c_time(it->timestamp, ts);
        rsp_jsonw_kstr(&w, "eid", it->eid);
        rsp_jsonw_kstr(&w, "iccid", it->iccid);
        rsp_jsonw_kstr(&w, "profileType", it->profile_type);
        rsp_jsonw_kstr(&w, "profileManagementOperation", it->np_id < 4 ? ops[it->np_id] : "?");
        rsp_jsonw_kstr(&w, "notificationAddress", it->notif_address);
        rsp_jsonw_kint(&w, "sequenceNumber", it->notif_seq);
        rsp_jsonw_kstr(&w, "timestamp", ts);
        if (it->result_len)
            rsp_jsonw_kbase64(&w, "resultData", it->result, it->result_len);
        break;
    }
    }
    rsp_jsonw_obj_end(&w);
    const char *out;
    if (rsp_jsonw_finish(&w, &out, len) != 0) {
        rsp_jsonw_free(&w);
        return NULL;
    }
    return (char *)out; /* the heap buffer of the writer */
}

/* ---- the call ---- */

/* A host or host:port, nothing else. */
static bool address_ok(const char *a)
{
    if (!a[0] || strlen(a) > 255)
        return false;
    for (const char *p = a; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '-' || *p == ':' || *p == '_'))
            return false;
    return true;
}

/* What an answered ES12 call means for the outbox item. */
static smdp_ob_outcome es12_outcome(const smdp_ob_item *it, const rsp_client_result *r, char *err,
                                    size_t errlen)
{
    if (r->ok)
        return SMDP_OB_SENT;
    rsp_client_describe(r, "SM-DS", err, errlen);
    if (!r->has_header)
        return SMDP_OB_RETRY;
    /* already there / already gone: the wanted state holds */
    if (!strcmp(r->subject, "8.9.5") && ((it->kind == SMDP_OB_REGISTER_EVENT && !strcmp(r->reason, "3.3")) ||
                                         (it->kind == SMDP_OB_DELETE_EVENT && !strcmp(r->reason, "3.9"))))
        return SMDP_OB_SENT;
    if (!strcmp(r->reason, "5.1") || !strcmp(r->reason, "4.2"))
        return SMDP_OB_RETRY;
    return SMDP_OB_DROP;
}

/* This thread's handle, set up for a call trusting cafile. */
static CURL *thread_handle(smdp_notify *n, const char *cafile, unsigned timeout_ms)
{
    CURL *h = pthread_getspecific(n->handle_key);
    if (!h) {
        h = curl_easy_init();
        if (!h || pthread_setspecific(n->handle_key, h) != 0) {
            curl_easy_cleanup(h);
            return NULL;
        }
    }
    rsp_client_tls tls = {.cert = n->cert,
                          .key = n->key,
                          .ca = cafile,
                          .connect_to = n->connect_to,
                          .timeout_ms = (long)timeout_ms,
                          .user_agent = "rsp-smdp"};
    rsp_client_setup(h, &tls);
    return h;
}

smdp_ob_outcome smdp_notify_transport_outcome(int curl_code)
{
    switch (curl_code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return SMDP_OB_DROP;
    default:
        return SMDP_OB_RETRY;
    }
}

/* One attempt within timeout_ms; a transport failure is RETRY, or what smdp_notify_transport_outcome
 * says when definitive is set. */
static smdp_ob_outcome send_item(smdp_notify *n, const smdp_ob_item *it, unsigned timeout_ms, bool definitive,
                                 char *err, size_t errlen)
{
    char url[SMDP_URL_MAX], ca[SMDP_URL_MAX];
    ca[0] = '\0';
    bool to_operator = it->kind == SMDP_OB_PROGRESS || it->kind == SMDP_OB_NOTIFICATION;
    if (to_operator) {
        if (!n->operator_endpoint || n->operator_endpoint(n->operator_ctx, it->target, url, ca) != 0) {
            seterr(err, errlen, "no notification endpoint configured for the operator");
            return SMDP_OB_DROP;
        }
        /* HandleNotification beside HandleDownloadProgressInfo: the same base, its own function name */
        char *slash = it->kind == SMDP_OB_NOTIFICATION ? strrchr(url, '/') : NULL;
        if (slash && (size_t)(slash - url) + sizeof("/handleNotification") <= SMDP_URL_MAX)
            memcpy(slash, "/handleNotification", sizeof("/handleNotification"));
    } else {
        if (!address_ok(it->target)) {
            seterr(err, errlen, "smdsAddress is not a host name");
            return SMDP_OB_DROP;
        }
        const char *fn = it->kind == SMDP_OB_REGISTER_EVENT ? "registerEvent" : "deleteEvent";
        if (strchr(it->target, ':') || n->es12_port == 443)
            snprintf(url, sizeof(url), "https://%s/gsma/rsp2/es12/%s", it->target, fn);
        else
            snprintf(url, sizeof(url), "https://%s:%u/gsma/rsp2/es12/%s", it->target, n->es12_port, fn);
    }
    CURL *h = thread_handle(n, ca[0] ? ca : n->ca, timeout_ms);
    size_t len;
    char *body = smdp_notify_body(n, it, &len);
    rsp_client_result r;
    if (!h || !body || rsp_client_post_json(h, url, body, len, &r) != 0) {
        free(body);
        seterr(err, errlen, "out of memory");
        return SMDP_OB_RETRY;
    }
    free(body);

    smdp_ob_outcome out;
    if (r.curl != CURLE_OK) {
        rsp_client_describe(&r, "", err, errlen);
        out = definitive ? smdp_notify_transport_outcome(r.curl) : SMDP_OB_RETRY;
    } else if (r.http == 400 || r.http == 404 || r.http == 405 || r.http == 413 || r.http == 415) {
        snprintf(err, errlen, "HTTP %ld", r.http);
        out = SMDP_OB_DROP;
    } else if (to_operator) {
        out = r.http == 204 || r.http == 200 ? SMDP_OB_SENT : SMDP_OB_RETRY;
        if (out != SMDP_OB_SENT)
            snprintf(err, errlen, "HTTP %ld", r.http);
    } else if (r.http != 200 || r.overflow) {
        rsp_client_describe(&r, "SM-DS", err, errlen);
        out = SMDP_OB_RETRY;
    } else {
        out = es12_outcome(it, &r, err, errlen);
    }
    return out;
}

smdp_ob_outcome smdp_notify_send(void *ctx, const smdp_ob_item *it, char *err, size_t errlen)
{
    smdp_notify *n = ctx;
    return send_item(n, it, n->timeout_ms, false, err, errlen);
}

smdp_ob_outcome smdp_notify_try(smdp_notify *n, const smdp_ob_item *it, unsigned timeout_ms, char *err,
                                size_t errlen)
{
    return send_item(n, it, timeout_ms ? timeout_ms : n->timeout_ms, true, err, errlen);
}
