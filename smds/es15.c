#include "smds/es15.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <openssl/rand.h>

#include "rsp/client.h"
#include "rsp/err.h"
#include "rsp/jsonw.h"
#include "rsp/log.h"
#include "smds/store.h"

#define MAX_THREADS 64
#define MAX_BODY RSP_CLIENT_MAX_BODY

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

/* Maps the root's answer to our outcome (see es15.h). */
static rsp_status interpret(const smds_root *r, int op, const rsp_client_result *res, const char **detail)
{
    if (res->curl != CURLE_OK) {
        rsp_log(RSP_LOG_WARN, "root SM-DS %s unreachable: %s", r->address, curl_easy_strerror(res->curl));
        *detail = "root unreachable";
        return RSP_ST_SMDS_UNAVAILABLE;
    }
    if (res->http != 200 || res->overflow) {
        rsp_log(RSP_LOG_WARN, "root SM-DS %s answered HTTP %ld", r->address, res->http);
        *detail = "root HTTP status";
        return RSP_ST_SMDS_UNAVAILABLE;
    }
    if (!res->has_header) {
        *detail = "root response unreadable";
        return RSP_ST_SMDS_UNAVAILABLE;
    }
    if (res->ok) {
        *detail = NULL;
        return RSP_OK;
    }
    if (op == OP_DELETE && !strcmp(res->subject, "8.9.5") && !strcmp(res->reason, "3.9")) {
        *detail = "root no longer holds the event";
        return RSP_OK;
    }
    *detail = "root answered Failed";
    rsp_log(RSP_LOG_WARN, "root SM-DS refused %s: %s/%s", op == OP_REGISTER ? "RegisterEvent" : "DeleteEvent",
            res->subject[0] ? res->subject : "-", res->reason[0] ? res->reason : "-");
    return RSP_ST_ROOT_SMDS_ERROR;
}

static rsp_status call(const smds_root *r, CURL *h, const job *j, const char **detail)
{
    rsp_jsonw w;
    const char *req;
    size_t req_len;
    rsp_client_result res;
    if (request_json(r, j, &w) != 0 || rsp_jsonw_finish(&w, &req, &req_len) != 0 ||
        rsp_client_post_json(h, j->op == OP_REGISTER ? r->url_register : r->url_delete, req, req_len, &res) !=
            0) {
        rsp_jsonw_free(&w);
        *detail = "request encoding";
        return RSP_ST_SMDS_UNAVAILABLE;
    }
    rsp_jsonw_free(&w);
    return interpret(r, j->op, &res, detail);
}

static CURL *new_handle(const smds_root *r)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    rsp_client_tls tls = {.cert = r->cert,
                          .key = r->key,
                          .ca = r->ca,
                          .timeout_ms = (long)r->timeout_ms,
                          .user_agent = "rsp-smds"};
    rsp_client_setup(h, &tls);
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
    rsp_client_init();
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
