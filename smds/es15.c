#include "smds/es15.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <openssl/rand.h>

#include "rsp/arena.h"
#include "rsp/err.h"
#include "rsp/json.h"
#include "rsp/jsonw.h"
#include "rsp/log.h"
#include "smds/store.h"

#define MAX_THREADS 64
#define MAX_BODY (64 * 1024)

enum { OP_REGISTER, OP_DELETE };

typedef struct job {
    struct job *next;
    int op;
    char eid[SMDS_EID_LEN + 1];
    char event_id[SMDS_EVENT_ID_MAX + 1];
    smds_root_done_cb done;
    void *arg;
} job;

struct smds_root {
    char *address, *cert, *key, *ca, *requester;
    char url_register[600], url_delete[600];
    unsigned timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    bool stop;
    unsigned nthreads;
    pthread_t threads[MAX_THREADS];
};

const char *smds_root_address(const smds_root *r)
{
    return r->address;
}

/* ---- one call ---- */

typedef struct body_buf {
    char *p;
    size_t len;
    bool overflow;
} body_buf;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    body_buf *b = arg;
    size_t add = size * n;
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

static int request_json(const smds_root *r, const job *j, rsp_jsonw *w)
{
    uint8_t call_id[12];
    if (RAND_bytes(call_id, sizeof(call_id)) != 1)
        return -1;
    char call_hex[2 * sizeof(call_id) + 1];
    for (size_t i = 0; i < sizeof(call_id); i++)
        snprintf(call_hex + 2 * i, 3, "%02X", call_id[i]);
    rsp_jsonw_init(w, NULL, MAX_BODY);
    rsp_jsonw_obj_begin(w);
    rsp_jsonw_req_header(w, r->requester, call_hex);
    rsp_jsonw_kstr(w, "eid", j->eid);
    if (j->op == OP_REGISTER)
        rsp_jsonw_kstr(w, "rspServerAddress", r->requester);
    rsp_jsonw_kstr(w, "eventId", j->event_id);
    return rsp_jsonw_obj_end(w);
}

typedef struct resp_doc {
    rsp_json_resp_header hdr;
} resp_doc;

static const rsp_json_field resp_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, resp_doc, hdr, rsp_json_resp_header_fields),
    RSP_JSON_END,
};

/* Maps the root's answer to our outcome (see es15.h). */
static rsp_status interpret(int op, const char *body, size_t len, const char **detail)
{
    rsp_arena *a = rsp_arena_new(4 * MAX_BODY);
    if (!a) {
        *detail = "out of memory";
        return RSP_ST_SMDS_UNAVAILABLE;
    }
    resp_doc d;
    rsp_json_err jerr;
    rsp_status st;
    if (rsp_json_parse(a, body, len, NULL, resp_fields, &d, &jerr) != RSP_OK) {
        *detail = "root response unreadable";
        st = RSP_ST_SMDS_UNAVAILABLE;
    } else if (rsp_json_resp_ok(&d.hdr)) {
        *detail = NULL;
        st = RSP_OK;
    } else if (op == OP_DELETE && d.hdr.subject && d.hdr.reason && strcmp(d.hdr.subject, "8.9.5") == 0 &&
               strcmp(d.hdr.reason, "3.9") == 0) {
        *detail = "root no longer holds the event";
        st = RSP_OK;
    } else {
        *detail = "root answered Failed";
        rsp_log(RSP_LOG_WARN, "root SM-DS refused %s: %s/%s",
                op == OP_REGISTER ? "RegisterEvent" : "DeleteEvent", d.hdr.subject ? d.hdr.subject : "-",
                d.hdr.reason ? d.hdr.reason : "-");
        st = RSP_ST_ROOT_SMDS_ERROR;
    }
    rsp_arena_free(a);
    return st;
}

static rsp_status call(const smds_root *r, CURL *h, const job *j, const char **detail)
{
    rsp_jsonw w;
    const char *req;
    size_t req_len;
    if (request_json(r, j, &w) != 0 || rsp_jsonw_finish(&w, &req, &req_len) != 0) {
        rsp_jsonw_free(&w);
        *detail = "request encoding";
        return RSP_ST_SMDS_UNAVAILABLE;
    }
    body_buf b = {0};
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "X-Admin-Protocol: gsma/rsp/v2.2.2");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, j->op == OP_REGISTER ? r->url_register : r->url_delete);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req_len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    rsp_jsonw_free(&w);
    rsp_status st;
    if (rc != CURLE_OK) {
        rsp_log(RSP_LOG_WARN, "root SM-DS %s unreachable: %s", r->address, curl_easy_strerror(rc));
        *detail = "root unreachable";
        st = RSP_ST_SMDS_UNAVAILABLE;
    } else if (http != 200 || b.overflow) {
        rsp_log(RSP_LOG_WARN, "root SM-DS %s answered HTTP %ld", r->address, http);
        *detail = "root HTTP status";
        st = RSP_ST_SMDS_UNAVAILABLE;
    } else {
        st = interpret(j->op, b.p ? b.p : "", b.len, detail);
    }
    free(b.p);
    return st;
}

static CURL *new_handle(const smds_root *r)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_SSLCERT, r->cert);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY, r->key);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_CAINFO, r->ca);
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "rsp-smds");
    return h;
}

static void *worker(void *arg)
{
    smds_root *r = arg;
    CURL *h = new_handle(r);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->head)
            pthread_cond_wait(&r->cv, &r->mu);
        job *j = r->head;
        if (!j)
            break;
        r->head = j->next;
        if (!r->head)
            r->tail = NULL;
        bool stopping = r->stop;
        pthread_mutex_unlock(&r->mu);
        const char *detail = "shutting down";
        rsp_status st = RSP_ST_SMDS_UNAVAILABLE;
        if (!stopping) {
            if (h)
                st = call(r, h, j, &detail);
            else
                detail = "no HTTP client";
        }
        j->done(j->arg, st, detail);
        free(j);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

/* ---- setup ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

smds_root *smds_root_new(const smds_root_config *cfg, char *err, size_t errlen)
{
    if (!cfg->address || !cfg->address[0] || !cfg->requester || !cfg->requester[0]) {
        rsp_err_set(err, errlen, "root SM-DS: address and requester are required");
        return NULL;
    }
    if (strlen(cfg->address) > 256 || strchr(cfg->address, '/') || strchr(cfg->address, '?') ||
        strchr(cfg->address, '@')) {
        rsp_err_set(err, errlen, "root SM-DS: address must be host:port");
        return NULL;
    }
    pthread_once(&curl_once, curl_init);
    smds_root *r = calloc(1, sizeof(*r));
    if (!r) {
        rsp_err_set(err, errlen, "out of memory");
        return NULL;
    }
    r->address = dup_or_empty(cfg->address);
    r->cert = dup_or_empty(cfg->cert);
    r->key = dup_or_empty(cfg->key);
    r->ca = dup_or_empty(cfg->ca);
    r->requester = dup_or_empty(cfg->requester);
    r->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
    snprintf(r->url_register, sizeof(r->url_register), "https://%s/gsma/rsp2/es15/registerEvent",
             cfg->address);
    snprintf(r->url_delete, sizeof(r->url_delete), "https://%s/gsma/rsp2/es15/deleteEvent", cfg->address);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (!r->address || !r->cert || !r->key || !r->ca || !r->requester) {
        rsp_err_set(err, errlen, "out of memory");
        smds_root_free(r);
        return NULL;
    }
    unsigned n = cfg->threads ? cfg->threads : 4;
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&r->threads[i], NULL, worker, r) != 0) {
            rsp_err_set(err, errlen, "root SM-DS: cannot start client threads");
            smds_root_free(r);
            return NULL;
        }
        r->nthreads++;
    }
    return r;
}

void smds_root_free(smds_root *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (unsigned i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    /* Without threads nothing drained the queue. */
    for (job *j = r->head, *next; j; j = next) {
        next = j->next;
        j->done(j->arg, RSP_ST_SMDS_UNAVAILABLE, "shutting down");
        free(j);
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->address);
    free(r->cert);
    free(r->key);
    free(r->ca);
    free(r->requester);
    free(r);
}

static int submit(smds_root *r, int op, const char *eid, const char *event_id, smds_root_done_cb done,
                  void *arg)
{
    if (strlen(eid) != SMDS_EID_LEN || strlen(event_id) > SMDS_EVENT_ID_MAX || !done)
        return -1;
    job *j = calloc(1, sizeof(*j));
    if (!j)
        return -1;
    j->op = op;
    memcpy(j->eid, eid, SMDS_EID_LEN + 1);
    snprintf(j->event_id, sizeof(j->event_id), "%s", event_id);
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&r->mu);
    if (r->stop) {
        pthread_mutex_unlock(&r->mu);
        free(j);
        return -1;
    }
    if (r->tail)
        r->tail->next = j;
    else
        r->head = j;
    r->tail = j;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int smds_root_register(smds_root *r, const char *eid, const char *event_id, smds_root_done_cb done, void *arg)
{
    return submit(r, OP_REGISTER, eid, event_id, done, arg);
}

int smds_root_delete(smds_root *r, const char *eid, const char *event_id, smds_root_done_cb done, void *arg)
{
    return submit(r, OP_DELETE, eid, event_id, done, arg);
}
