#include "rsp/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/arena.h"
#include "rsp/json.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void rsp_client_init(void)
{
    pthread_once(&curl_once, curl_init);
}

void rsp_client_setup(CURL *h, const rsp_client_tls *c)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    if (c->cert && c->cert[0]) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (c->ca && c->ca[0]) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->user_agent)
        curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    if (c->connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
}

typedef struct body_buf {
    char *p;
    size_t len;
    bool overflow;
} body_buf;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    body_buf *b = arg;
    size_t add = size * n;
    if (b->len + add > RSP_CLIENT_MAX_BODY) {
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

typedef struct resp_doc {
    rsp_json_resp_header hdr;
} resp_doc;

static const rsp_json_field resp_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, resp_doc, hdr, rsp_json_resp_header_fields),
    RSP_JSON_END,
};

static void copy(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

/* Reads the GSMA header of a 200 answer into r. */
static void read_header(const char *body, size_t len, rsp_client_result *r)
{
    rsp_arena *a = rsp_arena_new(4 * RSP_CLIENT_MAX_BODY);
    if (!a)
        return;
    resp_doc d;
    rsp_json_err jerr;
    if (rsp_json_parse(a, body, len, NULL, resp_fields, &d, &jerr) == RSP_OK) {
        r->has_header = true;
        r->ok = rsp_json_resp_ok(&d.hdr);
        copy(r->status, sizeof(r->status), d.hdr.status);
        copy(r->subject, sizeof(r->subject), d.hdr.subject);
        copy(r->reason, sizeof(r->reason), d.hdr.reason);
    }
    rsp_arena_free(a);
}

int rsp_client_post_json(CURL *h, const char *url, const char *body, size_t len, rsp_client_result *r)
{
    memset(r, 0, sizeof(*r));
    static const char *const lines[] = {"Content-Type: application/json", "X-Admin-Protocol: gsma/rsp/v2.2.2",
                                        "Expect:"};
    struct curl_slist *hdrs = NULL, *l;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!(l = curl_slist_append(hdrs, lines[i]))) {
            curl_slist_free_all(hdrs);
            return ENOMEM;
        }
        hdrs = l;
    }
    body_buf b = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    r->curl = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->http);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    r->overflow = b.overflow;
    if (r->overflow && r->curl == CURLE_WRITE_ERROR)
        r->curl = CURLE_OK; /* an answer came; it was only too long */
    if (r->curl == CURLE_OK && r->http == 200 && !r->overflow)
        read_header(b.p ? b.p : "", b.len, r);
    free(b.p);
    return 0;
}

void rsp_client_describe(const rsp_client_result *r, const char *peer, char *out, size_t cap)
{
    if (r->curl != CURLE_OK)
        snprintf(out, cap, "%s", curl_easy_strerror(r->curl));
    else if (r->overflow)
        snprintf(out, cap, "HTTP %ld, body too large", r->http);
    else if (r->http != 200)
        snprintf(out, cap, "HTTP %ld", r->http);
    else if (!r->has_header)
        snprintf(out, cap, "%s response unreadable", peer);
    else
        snprintf(out, cap, "%s answered %s %s/%s", peer, r->status, r->subject, r->reason);
}
