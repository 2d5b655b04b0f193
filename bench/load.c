#include "bench/load.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/ssl.h>

#include "asn1/sgp22.h"
#include "bench/h2c.h"
#include "rsp/codec.h"
#include "tools/lpasim/lpa.h"

#define MAX_BODY (1u << 20)

void load_result_free(load_result *r)
{
    bench_samples_free(&r->lat);
}

/* ---- shared pieces ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static size_t on_body(char *d, size_t sz, size_t n, void *arg)
{
    buf *b = arg;
    size_t add = sz * n;
    if (b->len + add > MAX_BODY)
        return 0;
    if (b->len + add + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->len + add + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np)
            return 0;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, d, add);
    b->len += add;
    b->p[b->len] = 0;
    return add;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct shared {
    pthread_mutex_t mu;
    pthread_cond_t gate_cv;
    atomic_uint ready;
    bool go;
    atomic_uint_fast64_t next, ok, errors, refused, connections, resumed, live;
    atomic_int stop;
    uint64_t t0; /* window start, µs (written before the gate opens) */
    char first_error[256];
    load_tls_info tls;
    bool tls_set;
    struct curl_slist *hdr;
} shared;

static int shared_init(shared *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->gate_cv, NULL);
    struct curl_slist *h = NULL, *t;
    const char *lines[] = {"Content-Type: application/json", "X-Admin-Protocol: " LPA_ADMIN_PROTOCOL,
                           "User-Agent: " LPA_USER_AGENT, "Expect:"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!(t = curl_slist_append(h, lines[i]))) {
            curl_slist_free_all(h);
            return -1;
        }
        h = t;
    }
    s->hdr = h;
    return 0;
}

static void shared_free(shared *s)
{
    curl_slist_free_all(s->hdr);
    pthread_cond_destroy(&s->gate_cv);
    pthread_mutex_destroy(&s->mu);
}

/* Workers: say ready, then wait until the window opens (or the run is
 * called off: stop is set). */
static void gate_wait(shared *s)
{
    pthread_mutex_lock(&s->mu);
    atomic_fetch_add(&s->ready, 1);
    pthread_cond_broadcast(&s->gate_cv);
    while (!s->go)
        pthread_cond_wait(&s->gate_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

/* Main: waits for n workers to be ready. */
static void gate_ready(shared *s, unsigned n)
{
    pthread_mutex_lock(&s->mu);
    while (atomic_load(&s->ready) < n)
        pthread_cond_wait(&s->gate_cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static void gate_open(shared *s)
{
    pthread_mutex_lock(&s->mu);
    s->go = true;
    pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->mu);
}

static void fail(shared *s, const char *fmt, ...)
{
    atomic_fetch_add(&s->errors, 1);
    pthread_mutex_lock(&s->mu);
    if (!s->first_error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->first_error, sizeof(s->first_error), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Counts the new connections made by the last transfer on h. */
static void note_connection(shared *s, CURL *h)
{
    long nc = 0;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nc);
    if (nc > 0)
        atomic_fetch_add(&s->connections, (uint64_t)nc);
}

/* Runs once the connection for a request is ready (CURLOPT_PREREQFUNCTION):
 * the only moment libcurl shows its SSL.  A connection not seen before is
 * checked for resumption and, the first time, for what TLS negotiated. */
typedef struct tls_probe {
    shared *sh;
    CURL *h;
    const void *last;
} tls_probe;

static void note_tls(shared *s, SSL *ssl);

static int on_prereq(void *arg, char *ip, char *local_ip, int port, int local_port)
{
    (void)ip;
    (void)local_ip;
    (void)port;
    (void)local_port;
    tls_probe *p = arg;
    struct curl_tlssessioninfo *ti = NULL;
    if (curl_easy_getinfo(p->h, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK || !ti ||
        ti->backend != CURLSSLBACKEND_OPENSSL || !ti->internals || ti->internals == p->last)
        return CURL_PREREQFUNC_OK;
    p->last = ti->internals;
    note_tls(p->sh, ti->internals);
    return CURL_PREREQFUNC_OK;
}

/* A connection not seen before: counted if resumed; the first one of the run
 * records what TLS negotiated. */
static void note_tls(shared *s, SSL *ssl)
{
    if (SSL_session_reused(ssl))
        atomic_fetch_add(&s->resumed, 1);
    pthread_mutex_lock(&s->mu);
    if (!s->tls_set) {
        s->tls_set = true;
        s->tls.group_nid = SSL_get_negotiated_group(ssl);
        SSL_get_peer_signature_nid(ssl, &s->tls.sig_md_nid);
        SSL_get_peer_signature_type_nid(ssl, &s->tls.sig_type_nid);
        snprintf(s->tls.version, sizeof(s->tls.version), "%s", SSL_get_version(ssl));
        const unsigned char *alpn = NULL;
        unsigned alpn_len = 0;
        SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
        s->tls.http_version =
            alpn_len == 2 && memcmp(alpn, "h2", 2) == 0 ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1;
    }
    pthread_mutex_unlock(&s->mu);
}

static void common_opts(CURL *h, const shared *s, const char *cafile, long timeout_ms, buf *out,
                        tls_probe *probe)
{
    curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, probe);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (cafile)
        curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
}

/* Reads the server's CPU and the clock at the window start. */
typedef struct window {
    double server, self, machine;
} window;

static void window_open(shared *s, pid_t pid, window *w)
{
    w->server = pid > 0 ? bench_proc_cpu(pid) : -1;
    w->self = bench_self_cpu();
    w->machine = bench_machine_busy();
    s->t0 = bench_now_us();
}

static void window_close(const shared *s, pid_t pid, const window *w, load_result *r)
{
    double server = pid > 0 ? bench_proc_cpu(pid) : -1, machine = bench_machine_busy();
    r->server_cpu_s = w->server >= 0 && server >= 0 ? server - w->server : -1;
    r->client_cpu_s = bench_self_cpu() - w->self;
    r->machine_cpu_s = w->machine >= 0 && machine >= 0 ? machine - w->machine : -1;
    r->secs = (double)(bench_now_us() - s->t0) / 1e6;
}

/* ---- ES11 ---- */

typedef struct es11_thread {
    shared *sh;
    const load_es11_cfg *cfg;
    size_t index;
    CURL *h;
    buf body;
    tls_probe probe;
    bool verified; /* this thread has checked the server in full once */
    char url_init[300], url_auth[300];
    bench_samples lat;
    pthread_t tid;
    int setup_rc;
} es11_thread;

/* POSTs body (freed here); 0 with the response in t->body, or -1 counted. */
static int post(es11_thread *t, const char *url, char *body, const char *stage)
{
    t->body.len = 0;
    if (!body) {
        fail(t->sh, "%s: out of memory", stage);
        return -1;
    }
    curl_easy_setopt(t->h, CURLOPT_URL, url);
    curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(t->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    CURLcode cc = curl_easy_perform(t->h);
    free(body);
    note_connection(t->sh, t->h);
    long code = 0;
    curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
    if (cc != CURLE_OK) {
        fail(t->sh, "%s: %s", stage, curl_easy_strerror(cc));
        return -1;
    }
    if (code == 503 && t->cfg->rate > 0) {
        atomic_fetch_add(&t->sh->refused, 1); /* admission: expected under overload, not an error */
        return -1;
    }
    if (code != 200 || !t->body.p) {
        fail(t->sh, "%s: HTTP %ld", stage, code);
        return -1;
    }
    return 0;
}

static int parse(es11_thread *t, lpa_fn fn, const char *stage, lpa_response *resp, lpa_scratch **sc)
{
    char detail[160];
    if (lpa_parse_response(fn, t->body.p, t->body.len, resp, sc, detail, sizeof(detail)) != RSP_OK) {
        fail(t->sh, "%s: response not understood: %s", stage, detail);
        return -1;
    }
    if (strcmp(resp->status, "Executed-Success") != 0 && strcmp(resp->status, "Executed-WithWarning") != 0) {
        fail(t->sh, "%s: %s %s/%s %s", stage, resp->status, resp->subject ? resp->subject : "",
             resp->reason ? resp->reason : "", resp->message ? resp->message : "");
        lpa_response_free(resp, *sc);
        return -1;
    }
    return 0;
}

/* The eUICC's AuthenticateServerResponse: the full check as the lpa-sim
 * LPA does it, or the fast path once this thread has checked the server. */
static int euicc_answer(es11_thread *t, fleet_dev *d, const uint8_t ch[16], const lpa_response *ia,
                        der_writer *out)
{
    const load_es11_cfg *c = t->cfg;
    if (t->verified)
        return fleet_auth_response(d, ch, ia->server_signed1.data, ia->server_signed1.len, c->ctx_params1,
                                   c->ctx_len, out);
    der_writer req;
    der_w_init(&req);
    der_w_begin(&req, 0xBF38);
    der_w_raw(&req, ia->server_signed1.data, ia->server_signed1.len);
    der_w_raw(&req, ia->server_signature1.data, ia->server_signature1.len);
    der_w_raw(&req, ia->ci_pkid.data, ia->ci_pkid.len);
    der_w_raw(&req, ia->server_certificate.data, ia->server_certificate.len);
    der_w_raw(&req, c->ctx_params1, c->ctx_len);
    der_w_end(&req);
    euicc_error err;
    int rc = der_w_finish(&req) == 0
                 ? euicc_authenticate_server(d->e, req.buf, req.len, c->address, out, &err)
                 : EUICC_EFORMAT;
    der_w_free(&req);
    if (rc != EUICC_OK) {
        fail(t->sh, "authenticateServer: the eUICC refused the server: %s", err.detail);
        return -1;
    }
    t->verified = true;
    return 0;
}

/* One poll; its latency counts from start (the scheduled time under an open-loop rate). */
static void es11_poll(es11_thread *t, fleet_dev *d, uint64_t start)
{
    const load_es11_cfg *c = t->cfg;
    uint8_t ch[16];
    if (euicc_get_challenge(d->e, ch) != 0) {
        fail(t->sh, "getEuiccChallenge failed");
        return;
    }
    if (c->fresh) {
        curl_easy_setopt(t->h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(t->h, CURLOPT_FORBID_REUSE, 0L);
    }
    char *body = lpa_json_initiate_auth(ch, d->info1, d->info1_len, c->address, c->es11_paths);
    lpa_response ia, ac;
    lpa_scratch *isc, *asc;
    if (post(t, t->url_init, body, "initiateAuthentication") != 0 ||
        parse(t, LPA_FN_INITIATE_AUTH, "initiateAuthentication", &ia, &isc) != 0)
        return;
    char tid[2 * SGP22_TID_MAX + 1];
    snprintf(tid, sizeof(tid), "%s", ia.transaction_id);
    der_writer resp;
    der_w_init(&resp);
    int rc = euicc_answer(t, d, ch, &ia, &resp);
    lpa_response_free(&ia, isc);
    if (rc != 0) {
        der_w_free(&resp);
        return;
    }
    body = lpa_json_authenticate_client(tid, resp.buf, resp.len);
    der_w_free(&resp);
    if (c->fresh) {
        curl_easy_setopt(t->h, CURLOPT_FRESH_CONNECT, 0L);
        curl_easy_setopt(t->h, CURLOPT_FORBID_REUSE, 1L);
    }
    if (post(t, t->url_auth, body, "authenticateClient") != 0 ||
        parse(t, LPA_FN_AUTH_CLIENT_ES11, "authenticateClient", &ac, &asc) != 0)
        return;
    size_t n = ac.nevents;
    lpa_response_free(&ac, asc);
    if (c->expect_events >= 0 && n != (size_t)c->expect_events) {
        fail(t->sh, "authenticateClient: %zu events for %s, expected %d", n, d->eid, c->expect_events);
        return;
    }
    uint64_t end = bench_now_us();
    atomic_fetch_add(&t->sh->ok, 1);
    bench_samples_add(&t->lat, end - t->sh->t0, end - start);
    /* Checked once: the next devices' handshakes skip curl's chain check too
     * (changing it mid-poll would have curl open another connection). */
    if (c->fresh) {
        curl_easy_setopt(t->h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(t->h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/* Kept-alive threads connect before the window opens. */
static int es11_connect(es11_thread *t)
{
    char url[300];
    snprintf(url, sizeof(url), "%s/healthz", t->cfg->base);
    curl_easy_setopt(t->h, CURLOPT_URL, url);
    curl_easy_setopt(t->h, CURLOPT_HTTPGET, 1L);
    t->body.len = 0;
    CURLcode cc = curl_easy_perform(t->h);
    long code = 0;
    curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
    note_connection(t->sh, t->h);
    if (cc != CURLE_OK || code != 200) {
        fail(t->sh, "connect %s: %s (HTTP %ld)", url, curl_easy_strerror(cc), code);
        return -1;
    }
    curl_easy_setopt(t->h, CURLOPT_POST, 1L);
    return 0;
}

static void *es11_worker(void *arg)
{
    es11_thread *t = arg;
    const load_es11_cfg *c = t->cfg;
    shared *sh = t->sh;
    /* per thread on Linux; lowering priority needs no privilege */
    if (c->nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), c->nice) != 0)
        fail(sh, "setpriority: %s", strerror(errno));
    const char *fam = c->es11_paths ? "es11" : "es9plus";
    snprintf(t->url_init, sizeof(t->url_init), "%s/gsma/rsp2/%s/initiateAuthentication", c->base, fam);
    snprintf(t->url_auth, sizeof(t->url_auth), "%s/gsma/rsp2/%s/authenticateClient", c->base, fam);
    t->h = curl_easy_init();
    t->setup_rc = t->h ? 0 : -1;
    if (t->h) {
        t->probe = (tls_probe){sh, t->h, NULL};
        common_opts(t->h, sh, c->cafile, c->timeout_ms, &t->body, &t->probe);
        /* A boot storm is many devices: no TLS session carried from one to the next. */
        if (c->fresh)
            curl_easy_setopt(t->h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
        else
            t->setup_rc = es11_connect(t);
    }
    gate_wait(sh);
    if (t->setup_rc == 0 && !atomic_load(&sh->stop)) {
        size_t C = c->concurrency, D = c->f->n;
        if (c->fresh) {
            uint64_t total = c->polls ? c->polls : D, i;
            while ((i = atomic_fetch_add(&sh->next, 1)) < total)
                es11_poll(t, &c->f->dev[i % D], bench_now_us());
        } else {
            /* Only this thread's devices (index, index + C, ...): no eUICC is used by two threads. */
            size_t mine = (D - t->index + C - 1) / C, k = 0;
            uint64_t i;
            while ((i = atomic_fetch_add(&sh->next, 1)) < c->polls) {
                uint64_t start = bench_now_us();
                if (c->rate > 0) {
                    /* open loop: poll i is due at t0 + i / rate whether or not earlier ones finished */
                    uint64_t due = sh->t0 + (uint64_t)((double)i * 1e6 / c->rate);
                    if (due > start)
                        usleep((useconds_t)(due - start));
                    start = due;
                }
                es11_poll(t, &c->f->dev[t->index + C * (k % mine)], start);
                k++;
            }
        }
    }
    atomic_fetch_sub(&sh->live, 1);
    curl_easy_cleanup(t->h);
    free(t->body.p);
    return NULL;
}

static void report(load_progress_fn fn, void *arg, const char *phase, const shared *s, uint64_t target)
{
    if (!fn)
        return;
    load_progress p = {phase, atomic_load(&s->ok), atomic_load(&s->errors), target,
                       (double)(bench_now_us() - s->t0) / 1e6};
    fn(&p, arg);
}

int load_es11(const load_es11_cfg *cfg, load_result *r)
{
    memset(r, 0, sizeof(*r));
    size_t C = cfg->concurrency ? cfg->concurrency : 1;
    if (!cfg->f || cfg->f->n == 0 || C > cfg->f->n || (cfg->fresh && cfg->polls > cfg->f->n) ||
        (!cfg->fresh && cfg->polls == 0)) {
        snprintf(r->first_error, sizeof(r->first_error), "%s: needs devices >= concurrency and a poll count",
                 cfg->phase);
        return -1;
    }
    load_es11_cfg c = *cfg;
    c.concurrency = C;
    shared sh;
    es11_thread *th = calloc(C, sizeof(*th));
    if (!th || shared_init(&sh) != 0) {
        free(th);
        snprintf(r->first_error, sizeof(r->first_error), "out of memory");
        return -1;
    }
    size_t started = 0;
    atomic_store(&sh.live, C);
    for (; started < C; started++) {
        th[started] = (es11_thread){.sh = &sh, .cfg = &c, .index = started};
        if (pthread_create(&th[started].tid, NULL, es11_worker, &th[started]) != 0)
            break;
    }
    if (started < C) {
        snprintf(r->first_error, sizeof(r->first_error), "cannot start %zu threads", C);
        atomic_store(&sh.stop, 1);
        gate_open(&sh);
    } else {
        gate_ready(&sh, (unsigned)C);
        /* Kept-alive threads have connected: count only reconnections in the window. */
        atomic_store(&sh.connections, 0);
        atomic_store(&sh.resumed, 0);
        window win;
        window_open(&sh, cfg->server_pid, &win);
        gate_open(&sh);
        uint64_t target = cfg->fresh ? (cfg->polls ? cfg->polls : cfg->f->n) : cfg->polls;
        for (unsigned tick = 1; atomic_load(&sh.live) > 0; tick++) {
            sleep_ms(20);
            if (tick % 12 == 0)
                report(cfg->progress, cfg->progress_arg, cfg->phase, &sh, target);
        }
        window_close(&sh, cfg->server_pid, &win, r);
        report(cfg->progress, cfg->progress_arg, cfg->phase, &sh, target);
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(th[i].tid, NULL);
        bench_samples_merge(&r->lat, &th[i].lat);
        bench_samples_free(&th[i].lat);
    }
    r->ok = atomic_load(&sh.ok);
    r->errors = atomic_load(&sh.errors);
    r->refused = atomic_load(&sh.refused);
    r->connections = atomic_load(&sh.connections);
    r->resumed = atomic_load(&sh.resumed);
    r->tls = sh.tls;
    if (!r->first_error[0])
        snprintf(r->first_error, sizeof(r->first_error), "%s", sh.first_error);
    shared_free(&sh);
    free(th);
    return started == C ? 0 : -1;
}

/* ---- ES12 ---- */

/* Over the lean HTTP/2 client (h2c.h): libcurl's own CPU per multiplexed
 * request would cap the rate it measures. */

struct es12_thread;

typedef struct es12_req {
    struct es12_thread *t;
    char body[512];
    size_t len;
    uint64_t start;
} es12_req;

typedef struct es12_thread {
    shared *sh;
    const load_es12_cfg *cfg;
    h2c *c;
    es12_req *reqs;
    size_t nreqs;
    bool resend;       /* re-post each completed request while the window is open */
    uint64_t progress; /* last completion, µs */
    bench_samples lat;
    pthread_t tid;
    int setup_rc;
} es12_thread;

static const char *const es12_headers[] = {"content-type",
                                           "application/json",
                                           "x-admin-protocol",
                                           LPA_ADMIN_PROTOCOL,
                                           "user-agent",
                                           LPA_USER_AGENT,
                                           NULL};

static void es12_done(void *arg, int status, const char *body, size_t len, const char *err);

/* Posts a registration for the next EventID and EID. */
static void es12_post(es12_thread *t, es12_req *q)
{
    const load_es12_cfg *c = t->cfg;
    uint64_t k = atomic_fetch_add(&t->sh->next, 1);
    char eid[PKI_EID_LEN + 1];
    if (pki_eid_make(c->eid_prefix, c->eid_base + k, eid) != 0)
        snprintf(eid, sizeof(eid), "invalid");
    int n = snprintf(
        q->body, sizeof(q->body),
        "{\"header\":{\"functionRequesterIdentifier\":\"rsp-bench\",\"functionCallIdentifier\":\"%llu\"},"
        "\"eid\":\"%s\",\"rspServerAddress\":\"%s\",\"eventId\":\"%s%llu\"}",
        (unsigned long long)k, eid, c->address, c->event_prefix, (unsigned long long)k);
    q->len = n < (int)sizeof(q->body) ? (size_t)n : sizeof(q->body) - 1;
    q->start = bench_now_us();
    if (h2c_post(t->c, "/gsma/rsp2/es12/registerEvent", es12_headers, q->body, q->len, es12_done, q) != 0)
        fail(t->sh, "registerEvent: cannot post: %s", h2c_error(t->c));
}

/* Outcome of one request; counted unless it ended after the window.  Only an
 * Executed-Success answer counts: the server sends it once the write is durable. */
static void es12_done(void *arg, int status, const char *body, size_t len, const char *err)
{
    (void)len;
    es12_req *q = arg;
    es12_thread *t = q->t;
    uint64_t end = bench_now_us();
    t->progress = end;
    if (err)
        fail(t->sh, "registerEvent: %s", err);
    else if (status != 200 || !strstr(body, "\"status\":\"Executed-Success\""))
        fail(t->sh, "registerEvent: HTTP %d %.200s", status, body);
    else if (!atomic_load(&t->sh->stop)) {
        atomic_fetch_add(&t->sh->ok, 1);
        bench_samples_add(&t->lat, end - t->sh->t0, end - q->start);
    }
    if (t->resend && !err && !atomic_load(&t->sh->stop))
        es12_post(t, q);
}

/* Runs the connection until no request is in flight (re-posting while the
 * window is open, see es12_done), the connection breaks, or nothing
 * completes for the request timeout. */
static void es12_drain(es12_thread *t)
{
    uint64_t limit = (uint64_t)(t->cfg->timeout_ms > 0 ? t->cfg->timeout_ms : 30000) * 1000u;
    t->progress = bench_now_us();
    while (h2c_in_flight(t->c) > 0) {
        if (h2c_run(t->c, 50) != 0)
            break;
        if (bench_now_us() - t->progress > limit) {
            fail(t->sh, "registerEvent: no answer within %llu ms", (unsigned long long)(limit / 1000));
            break;
        }
    }
}

static void *es12_worker(void *arg)
{
    es12_thread *t = arg;
    const load_es12_cfg *c = t->cfg;
    shared *sh = t->sh;
    char err[256];
    h2c_cfg hc = {.base = c->base, .cafile = c->cafile, .cert = c->cert, .key = c->key};
    t->nreqs = c->streams;
    t->reqs = calloc(t->nreqs, sizeof(*t->reqs));
    t->c = t->reqs ? h2c_connect(&hc, err, sizeof(err)) : NULL;
    t->setup_rc = t->c ? 0 : -1;
    if (!t->c)
        fail(sh, "registerEvent: %s", t->reqs ? err : "out of memory");
    for (size_t i = 0; t->c && i < t->nreqs; i++)
        t->reqs[i].t = t;
    /* One registration before the window: the connection is up and answers. */
    if (t->setup_rc == 0) {
        atomic_fetch_add(&sh->connections, 1);
        note_tls(sh, h2c_ssl(t->c));
        uint64_t before = atomic_load(&sh->errors);
        es12_post(t, &t->reqs[0]);
        es12_drain(t);
        bench_samples_free(&t->lat);
        if (atomic_load(&sh->errors) != before)
            t->setup_rc = -1;
    }
    gate_wait(sh);
    if (t->setup_rc == 0 && !atomic_load(&sh->stop)) {
        t->resend = true;
        for (size_t i = 0; i < t->nreqs; i++)
            es12_post(t, &t->reqs[i]);
        es12_drain(t);
    }
    h2c_close(t->c);
    free(t->reqs);
    atomic_fetch_sub(&sh->live, 1);
    return NULL;
}

int load_es12(const load_es12_cfg *cfg, load_result *r)
{
    memset(r, 0, sizeof(*r));
    size_t K = cfg->connections ? cfg->connections : 1;
    if (cfg->streams == 0 || cfg->duration_s <= 0) {
        snprintf(r->first_error, sizeof(r->first_error), "%s: needs streams and a duration", cfg->phase);
        return -1;
    }
    shared sh;
    es12_thread *th = calloc(K, sizeof(*th));
    if (!th || shared_init(&sh) != 0) {
        free(th);
        snprintf(r->first_error, sizeof(r->first_error), "out of memory");
        return -1;
    }
    atomic_store(&sh.live, K);
    size_t started = 0;
    for (; started < K; started++) {
        th[started] = (es12_thread){.sh = &sh, .cfg = cfg};
        if (pthread_create(&th[started].tid, NULL, es12_worker, &th[started]) != 0)
            break;
    }
    int rc = 0;
    if (started < K) {
        snprintf(r->first_error, sizeof(r->first_error), "cannot start %zu threads", K);
        rc = -1;
        atomic_store(&sh.stop, 1);
        gate_open(&sh);
    } else {
        gate_ready(&sh, (unsigned)K);
        for (size_t i = 0; i < K; i++)
            if (th[i].setup_rc != 0)
                rc = -1;
        if (rc != 0) {
            snprintf(r->first_error, sizeof(r->first_error), "cannot connect: %.200s", sh.first_error);
            atomic_store(&sh.stop, 1);
            gate_open(&sh);
        } else {
            atomic_store(&sh.connections, 0);
            atomic_store(&sh.resumed, 0);
            atomic_store(&sh.errors, 0);
            window win;
            window_open(&sh, cfg->server_pid, &win);
            gate_open(&sh);
            uint64_t end = sh.t0 + (uint64_t)(cfg->duration_s * 1e6);
            for (unsigned tick = 1; bench_now_us() < end; tick++) {
                sleep_ms(10);
                if (tick % 25 == 0)
                    report(cfg->progress, cfg->progress_arg, cfg->phase, &sh, 0);
            }
            atomic_store(&sh.stop, 1);
            window_close(&sh, cfg->server_pid, &win, r);
            report(cfg->progress, cfg->progress_arg, cfg->phase, &sh, 0);
        }
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(th[i].tid, NULL);
        bench_samples_merge(&r->lat, &th[i].lat);
        bench_samples_free(&th[i].lat);
    }
    r->ok = atomic_load(&sh.ok);
    r->errors = atomic_load(&sh.errors);
    r->connections = atomic_load(&sh.connections);
    r->resumed = atomic_load(&sh.resumed);
    r->tls = sh.tls;
    if (!r->first_error[0])
        snprintf(r->first_error, sizeof(r->first_error), "%s", sh.first_error);
    shared_free(&sh);
    free(th);
    return rc;
}

long load_get(const char *url, const char *cafile, const char *cert, const char *key, char **body)
{
    *body = NULL;
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    buf b = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    if (cafile)
        curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
    if (cert) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    long code = -1;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    if (code < 0) {
        free(b.p);
        return -1;
    }
    *body = b.p ? b.p : strdup("");
    return code;
}

/* ---- ES9+ ---- */

typedef struct es9_thread {
    shared *sh;
    const load_es9_cfg *cfg;
    lpa_tls_session **sessions; /* per device when resuming, else NULL */
    struct curl_slist *ct;      /* CURLOPT_CONNECT_TO */
    const char *healthz;        /* https://server/healthz */
    size_t index, nthreads;
    bench_samples lat;
    pthread_t tid;
} es9_thread;

/* GET /healthz on a new connection, resuming and keeping the TLS session in sess (NULL: none kept); the
 * HTTP status, or -1 with no answer. */
static long es9_healthz(es9_thread *t, lpa_tls_session *sess, char *err, size_t cap)
{
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    buf b = {0};
    tls_probe probe = {t->sh, h, NULL};
    common_opts(h, t->sh, t->cfg->cafile, t->cfg->timeout_ms, &b, &probe);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, t->ct);
    curl_easy_setopt(h, CURLOPT_URL, t->healthz);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    if (lpa_tls_session_attach(sess, h) != 0) {
        curl_easy_cleanup(h);
        snprintf(err, cap, "cannot attach the TLS session");
        return -1;
    }
    CURLcode cc = curl_easy_perform(h);
    long code = -1;
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    else
        snprintf(err, cap, "%s", curl_easy_strerror(cc));
    curl_easy_cleanup(h);
    free(b.p);
    return code;
}

static void es9_download(es9_thread *t, size_t i)
{
    const load_es9_cfg *c = t->cfg;
    fleet_dev *d = &c->f->dev[i];
    lpa_tls_session *sess = t->sessions ? t->sessions[i] : NULL;
    uint64_t start = bench_now_us();
    if (c->healthz_only) {
        char err[128] = "";
        long code = es9_healthz(t, sess, err, sizeof(err));
        if (code != 200) {
            fail(t->sh, "%s: HTTP %ld %s", t->healthz, code, err);
            return;
        }
        uint64_t end = bench_now_us();
        atomic_fetch_add(&t->sh->ok, 1);
        bench_samples_add(&t->lat, end - t->sh->t0, end - start);
        return;
    }
    lpa_opts lo;
    memset(&lo, 0, sizeof(lo));
    lo.cafile = c->cafile;
    lo.connect_to = c->connect_to;
    lo.timeout_ms = c->timeout_ms;
    lo.fresh_connections = c->per_call;
    lo.tls_session = sess;
    lpa *l = lpa_new(d->e, &lo);
    if (!l) {
        fail(t->sh, "lpa_new failed");
        return;
    }
    lpa_download_info info;
    lpa_result res;
    int rc = lpa_download(l, c->server, c->address, NULL, NULL, true, &info, &res);
    lpa_free(l);
    if (rc != 0 || !res.ok) {
        fail(t->sh, "%s: %s %s/%s %s %s", res.stage ? res.stage : "download", res.status, res.subject,
             res.reason, res.message, res.detail);
        return;
    }
    if (!info.notified) {
        fail(t->sh, "%s: the installation result was not accepted", d->eid);
        return;
    }
    if (c->sha256 && memcmp(info.package_sha256, c->sha256[i], 32) != 0) {
        fail(t->sh, "%s: installed package %s is not the one ordered", d->eid, info.iccid);
        return;
    }
    uint64_t end = bench_now_us();
    atomic_fetch_add(&t->sh->ok, 1);
    bench_samples_add(&t->lat, end - t->sh->t0, end - start);
}

/* Before the window: this thread's share of the devices gets its first ticket (an earlier contact). */
static void es9_prime(es9_thread *t)
{
    size_t n = t->cfg->f->n;
    for (size_t i = t->index; i < n && !atomic_load(&t->sh->stop); i += t->nthreads) {
        char err[128] = "";
        if (!(t->sessions[i] = lpa_tls_session_new())) {
            fail(t->sh, "out of memory");
            continue;
        }
        long code = es9_healthz(t, t->sessions[i], err, sizeof(err));
        if (code != 200)
            fail(t->sh, "priming %s: HTTP %ld %s", t->healthz, code, err);
    }
}

static void *es9_worker(void *arg)
{
    es9_thread *t = arg;
    if (t->sessions)
        es9_prime(t);
    gate_wait(t->sh);
    size_t i;
    while (!atomic_load(&t->sh->stop) && (i = atomic_fetch_add(&t->sh->next, 1)) < t->cfg->f->n)
        es9_download(t, i);
    atomic_fetch_sub(&t->sh->live, 1);
    return NULL;
}

/* One request on its own connection, for what TLS negotiates with the server. */
static void tls_probe_once(shared *sh, const char *url, const char *cafile, struct curl_slist *ct)
{
    CURL *h = curl_easy_init();
    if (!h)
        return;
    buf b = {0};
    tls_probe probe = {sh, h, NULL};
    common_opts(h, sh, cafile, 10000, &b, &probe);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, ct);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_perform(h);
    curl_easy_cleanup(h);
    free(b.p);
}

int load_es9(const load_es9_cfg *cfg, load_result *r)
{
    memset(r, 0, sizeof(*r));
    size_t C = cfg->concurrency ? cfg->concurrency : 1;
    if (!cfg->f || cfg->f->n == 0) {
        snprintf(r->first_error, sizeof(r->first_error), "%s: no devices", cfg->phase);
        return -1;
    }
    if (C > cfg->f->n)
        C = cfg->f->n;
    shared sh;
    es9_thread *th = calloc(C, sizeof(*th));
    lpa_tls_session **sessions = cfg->resume ? calloc(cfg->f->n, sizeof(*sessions)) : NULL;
    char url[300], ct[300];
    snprintf(url, sizeof(url), "https://%s/healthz", cfg->server);
    /* CURLOPT_CONNECT_TO wants "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT". */
    const char *colon = strrchr(cfg->server, ':');
    snprintf(ct, sizeof(ct), "%.*s:%s:%s", colon ? (int)(colon - cfg->server) : 0, cfg->server,
             colon ? colon + 1 : "443", cfg->connect_to);
    struct curl_slist *cts = curl_slist_append(NULL, ct);
    if (!th || (cfg->resume && !sessions) || !cts || shared_init(&sh) != 0) {
        free(th);
        free(sessions);
        curl_slist_free_all(cts);
        snprintf(r->first_error, sizeof(r->first_error), "out of memory");
        return -1;
    }
    tls_probe_once(&sh, url, cfg->cafile, cts);
    atomic_store(&sh.live, C);
    size_t started = 0;
    for (; started < C; started++) {
        th[started] = (es9_thread){.sh = &sh,
                                   .cfg = cfg,
                                   .sessions = sessions,
                                   .ct = cts,
                                   .healthz = url,
                                   .index = started,
                                   .nthreads = C};
        if (pthread_create(&th[started].tid, NULL, es9_worker, &th[started]) != 0)
            break;
    }
    int rc = 0;
    if (started < C) {
        snprintf(r->first_error, sizeof(r->first_error), "cannot start %zu threads", C);
        atomic_store(&sh.stop, 1);
        gate_open(&sh);
        rc = -1;
    } else {
        gate_ready(&sh, (unsigned)C);
        /* the probe's and the priming connections are not the window's */
        atomic_store(&sh.resumed, 0);
        window win;
        window_open(&sh, cfg->server_pid, &win);
        gate_open(&sh);
        for (unsigned tick = 1; atomic_load(&sh.live) > 0; tick++) {
            sleep_ms(20);
            if (tick % 12 == 0)
                report(cfg->progress, cfg->progress_arg, cfg->phase, &sh, cfg->f->n);
        }
        window_close(&sh, cfg->server_pid, &win, r);
        report(cfg->progress, cfg->progress_arg, cfg->phase, &sh, cfg->f->n);
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(th[i].tid, NULL);
        bench_samples_merge(&r->lat, &th[i].lat);
        bench_samples_free(&th[i].lat);
    }
    r->ok = atomic_load(&sh.ok);
    r->errors = atomic_load(&sh.errors);
    /* per download: one connection per call (four), or one for the download and one for the notification
     * (sent to its own address, as LPAs do); one per /healthz */
    r->connections = (r->ok + r->errors) * (cfg->healthz_only ? 1 : cfg->per_call ? 4 : 2);
    r->resumed = atomic_load(&sh.resumed); /* seen by /healthz connections only: lpa hides its own */
    r->tls = sh.tls;
    if (!r->first_error[0])
        snprintf(r->first_error, sizeof(r->first_error), "%s", sh.first_error);
    shared_free(&sh);
    for (size_t i = 0; sessions && i < cfg->f->n; i++)
        lpa_tls_session_free(sessions[i]);
    free(sessions);
    curl_slist_free_all(cts);
    free(th);
    return rc;
}
