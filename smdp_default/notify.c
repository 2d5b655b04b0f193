#include "smdp_default/notify.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "rsp/arena.h"
#include "rsp/json.h"
#include "rsp/jsonw.h"

#define MAX_BODY (64 * 1024)

struct smdp_notify {
    char *fqdn, *cert, *key, *ca;
    unsigned es12_port, timeout_ms;
    struct curl_slist *connect_to;
    smdp_operator_endpoint_fn operator_endpoint;
    void *operator_ctx;
    pthread_key_t handle_key;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

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
    pthread_once(&curl_once, curl_init);
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
    snprintf(call_id, sizeof(call_id), "%s/outbox/%llu", n->fqdn, (unsigned long long)it->seq);
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

typedef struct body_buf {
    char *p;
    size_t len;
    bool overflow;
} body_buf;

static size_t on_body(char *data, size_t size, size_t nm, void *arg)
{
    body_buf *b = arg;
    size_t add = size * nm;
    if (b->len + add > MAX_BODY) {
        b->overflow = true;
        return 0;
    }
    char *np = realloc(b->p, b->len + add + 1);
    if (!np)
        return 0;
    memcpy(np + b->len, data, add);
    b->p = np;
    b->len += add;
    np[b->len] = 0;
    return add;
}

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

typedef struct es12_resp {
    rsp_json_resp_header hdr;
} es12_resp;

static const rsp_json_field es12_resp_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, es12_resp, hdr, rsp_json_resp_header_fields),
    RSP_JSON_END,
};

static smdp_ob_outcome es12_outcome(const smdp_ob_item *it, const char *body, size_t len, char *err,
                                    size_t errlen)
{
    rsp_arena *a = rsp_arena_new(4 * MAX_BODY);
    if (!a) {
        seterr(err, errlen, "out of memory");
        return SMDP_OB_RETRY;
    }
    es12_resp d;
    rsp_json_err jerr;
    smdp_ob_outcome out;
    if (rsp_json_parse(a, body, len, NULL, es12_resp_fields, &d, &jerr) != RSP_OK) {
        seterr(err, errlen, "SM-DS response unreadable");
        out = SMDP_OB_RETRY;
    } else if (rsp_json_resp_ok(&d.hdr)) {
        out = SMDP_OB_SENT;
    } else {
        const char *s = d.hdr.subject ? d.hdr.subject : "", *r = d.hdr.reason ? d.hdr.reason : "";
        snprintf(err, errlen, "SM-DS answered %s %s/%s", d.hdr.status, s, r);
        if (!strcmp(s, "8.9.5") && ((it->kind == SMDP_OB_REGISTER_EVENT && !strcmp(r, "3.3")) ||
                                    (it->kind == SMDP_OB_DELETE_EVENT && !strcmp(r, "3.9"))))
            out = SMDP_OB_SENT;
        else if (!strcmp(r, "5.1") || !strcmp(r, "4.2"))
            out = SMDP_OB_RETRY;
        else
            out = SMDP_OB_DROP;
    }
    rsp_arena_free(a);
    return out;
}

static CURL *thread_handle(smdp_notify *n)
{
    CURL *h = pthread_getspecific(n->handle_key);
    if (h) {
        curl_easy_reset(h);
    } else {
        h = curl_easy_init();
        if (!h || pthread_setspecific(n->handle_key, h) != 0) {
            curl_easy_cleanup(h);
            return NULL;
        }
    }
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)n->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)n->timeout_ms);
    if (n->cert[0]) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, n->cert);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY, n->key);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "rsp-smdp");
    if (n->connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, n->connect_to);
    return h;
}

smdp_ob_outcome smdp_notify_send(void *ctx, const smdp_ob_item *it, char *err, size_t errlen)
{
    smdp_notify *n = ctx;
    char url[SMDP_URL_MAX], ca[SMDP_URL_MAX];
    ca[0] = '\0';
    if (it->kind == SMDP_OB_PROGRESS) {
        if (!n->operator_endpoint || n->operator_endpoint(n->operator_ctx, it->target, url, ca) != 0) {
            seterr(err, errlen, "no notification endpoint configured for the operator");
            return SMDP_OB_DROP;
        }
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
    CURL *h = thread_handle(n);
    size_t len;
    char *body = smdp_notify_body(n, it, &len);
    if (!h || !body) {
        free(body);
        seterr(err, errlen, "out of memory");
        return SMDP_OB_RETRY;
    }
    const char *cafile = ca[0] ? ca : n->ca;
    if (cafile[0]) {
        curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    body_buf b = {0};
    struct curl_slist *hdrs = NULL, *l;
    static const char *const lines[] = {"Content-Type: application/json", "X-Admin-Protocol: gsma/rsp/v2.2.2",
                                        "Expect:"};
    for (size_t i = 0; i < 3; i++) {
        if (!(l = curl_slist_append(hdrs, lines[i]))) {
            curl_slist_free_all(hdrs);
            free(body);
            seterr(err, errlen, "out of memory");
            return SMDP_OB_RETRY;
        }
        hdrs = l;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    free(body);

    smdp_ob_outcome out;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
        out = SMDP_OB_RETRY;
    } else if (http == 400 || http == 404 || http == 405 || http == 413 || http == 415) {
        snprintf(err, errlen, "HTTP %ld", http);
        out = SMDP_OB_DROP;
    } else if (it->kind == SMDP_OB_PROGRESS) {
        out = http == 204 || http == 200 ? SMDP_OB_SENT : SMDP_OB_RETRY;
        if (out != SMDP_OB_SENT)
            snprintf(err, errlen, "HTTP %ld", http);
    } else if (http != 200 || b.overflow) {
        snprintf(err, errlen, "HTTP %ld%s", http, b.overflow ? ", body too large" : "");
        out = SMDP_OB_RETRY;
    } else {
        out = es12_outcome(it, b.p ? b.p : "", b.len, err, errlen);
    }
    free(b.p);
    return out;
}
