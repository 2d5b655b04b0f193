/*
 * tools/lpasim/lpa.c - LPA side: ES9+/ES11 JSON over HTTPS with libcurl,
 * driving the software eUICC.  See lpa.h.
 */
#include "tools/lpasim/lpa.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>

#include <curl/curl.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "asn1/sgp22.h"
#include "rsp/arena.h"
#include "rsp/bsp.h"
#include "rsp/codec.h"
#include "rsp/json.h"
#include "rsp/jsonw.h"

#define ES9 "/gsma/rsp2/es9plus/"
#define ES11 "/gsma/rsp2/es11/"

struct conn {
    char *base; /* "https://host:port" */
    CURL *h;
};

struct lpa {
    euicc *e;
    lpa_opts o;
    char *cafile;
    struct curl_slist *headers;
    struct curl_slist *connect_to;
    struct conn *conns;
    size_t nconns;
};

struct lpa_scratch {
    rsp_arena *a;
};

/* ---- results ---- */

static void res_init(lpa_result *r)
{
    memset(r, 0, sizeof(*r));
    r->euicc.bpp_command = -1;
    r->stage = "";
}

static int res_fail(lpa_result *r, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int res_fail(lpa_result *r, const char *stage, const char *fmt, ...)
{
    r->ok = false;
    r->stage = stage;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- lifetime ---- */

lpa *lpa_new(euicc *e, const lpa_opts *opts)
{
    lpa *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(l);
        return NULL;
    }
    l->e = e;
    if (opts)
        l->o = *opts;
    l->o.imei = NULL;
    static const uint8_t default_tac[4] = {0x35, 0x29, 0x06, 0x11};
    static const uint8_t zero[4];
    if (memcmp(l->o.tac, zero, 4) == 0)
        memcpy(l->o.tac, default_tac, 4);
    if (opts && opts->imei) {
        uint8_t *im = malloc(8);
        if (!im)
            goto fail;
        memcpy(im, opts->imei, 8);
        l->o.imei = im;
    }
    if (opts && opts->cafile && !(l->cafile = strdup(opts->cafile)))
        goto fail;
    l->o.cafile = l->cafile;
    /* Exactly what real LPAs send; "Accept:" and "Expect:" remove curl's defaults. */
    static const char *const headers[] = {"User-Agent: " LPA_USER_AGENT,
                                          "X-Admin-Protocol: " LPA_ADMIN_PROTOCOL,
                                          "Content-Type: application/json", "Accept:", "Expect:"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        struct curl_slist *n = curl_slist_append(l->headers, headers[i]);
        if (!n)
            goto fail;
        l->headers = n;
    }
    if (opts && opts->connect_to) {
        char spec[300];
        if (snprintf(spec, sizeof(spec), "::%s", opts->connect_to) >= (int)sizeof(spec) ||
            !(l->connect_to = curl_slist_append(NULL, spec)))
            goto fail;
    }
    l->o.connect_to = NULL;
    return l;
fail:
    lpa_free(l);
    return NULL;
}

void lpa_free(lpa *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nconns; i++) {
        curl_easy_cleanup(l->conns[i].h);
        free(l->conns[i].base);
    }
    free(l->conns);
    curl_slist_free_all(l->headers);
    curl_slist_free_all(l->connect_to);
    free(l->cafile);
    free((void *)l->o.imei);
    free(l);
    curl_global_cleanup();
}

void lpa_events_free(lpa_event *events, size_t n)
{
    for (size_t i = 0; events && i < n; i++) {
        free(events[i].event_id);
        free(events[i].rsp_server_address);
    }
    free(events);
}

/* ---- request pieces ---- */

int lpa_build_ctx_params1(const lpa_opts *opts, const char *matching_id, der_writer *w)
{
    static const uint8_t default_tac[4] = {0x35, 0x29, 0x06, 0x11};
    static const uint8_t zero[4];
    const uint8_t *tac = opts && memcmp(opts->tac, zero, 4) != 0 ? opts->tac : default_tac;
    /* Releases of a current LTE phone: GSM, UTRAN, E-UTRAN (as VersionType). */
    static const uint8_t rel8[3] = {8, 0, 0}, rel15[3] = {15, 0, 0};
    der_w_begin(w, 0xA0);
    if (matching_id)
        der_w_tlv(w, 0x80, matching_id, strlen(matching_id));
    der_w_begin(w, 0xA1);
    der_w_tlv(w, 0x80, tac, 4);
    der_w_begin(w, 0xA1);
    der_w_tlv(w, 0x80, rel8, 3);
    der_w_tlv(w, 0x81, rel8, 3);
    der_w_tlv(w, 0x85, rel15, 3);
    bool v3 = opts && opts->v3;
    if (v3) {
        /* v3 DeviceCapabilities: lpaSvn 3.1.0, catSupportedClasses, euiccFormFactorType */
        static const uint8_t lpa_svn[3] = {3, 1, 0}, cat[2] = {0x06, 0xC0}, form[1] = {1};
        der_w_tlv(w, 0x8B, lpa_svn, 3);
        der_w_tlv(w, 0x8C, cat, sizeof(cat));
        der_w_tlv(w, 0x8D, form, sizeof(form));
    }
    der_w_end(w);
    if (opts && opts->imei)
        der_w_tlv(w, 0x82, opts->imei, 8);
    if (v3) {
        /* preferredLanguages, lpaRspCapability */
        static const uint8_t lpa_cap[2] = {0x06, 0xC0};
        der_w_begin(w, 0xA3);
        der_w_tlv(w, 0x0C, "en", 2);
        der_w_end(w);
        der_w_tlv(w, 0x85, lpa_cap, sizeof(lpa_cap));
    }
    der_w_end(w);
    if (v3) {
        /* operationType {profileDownload}, matchingIdSource none */
        static const uint8_t op[2] = {0x07, 0x80};
        der_w_tlv(w, 0x82, op, sizeof(op));
        der_w_begin(w, 0xA3);
        der_w_tlv(w, 0x80, NULL, 0);
        der_w_end(w);
    }
    der_w_end(w);
    return w->err;
}

void lpa_put_other_certs(der_writer *w, const uint8_t *seq, size_t len)
{
    der_tlv t;
    if (seq && der_parse_exact(seq, len, &t) == DER_OK && t.tag == 0x30)
        der_w_tlv(w, 0xA1, t.value, t.len);
}

int lpa_build_authenticate_server(const lpa_opts *opts, const lpa_response *ia, const char *matching_id,
                                  der_writer *w)
{
    der_w_begin(w, 0xBF38);
    der_w_raw(w, ia->server_signed1.data, ia->server_signed1.len);
    der_w_raw(w, ia->server_signature1.data, ia->server_signature1.len);
    der_w_raw(w, ia->ci_pkid.data, ia->ci_pkid.len);
    der_w_raw(w, ia->server_certificate.data, ia->server_certificate.len);
    lpa_build_ctx_params1(opts, matching_id, w);
    lpa_put_other_certs(w, ia->other_certs.data, ia->other_certs.len);
    der_w_end(w);
    return w->err;
}

static void hash_cc_bytes(const uint8_t *cc, size_t len, const uint8_t *tid, size_t tid_len, uint8_t out[32])
{
    uint8_t buf[SHA256_DIGEST_LENGTH + 16];
    size_t n = tid_len > 16 ? 16 : tid_len;
    SHA256(cc, len, buf);
    memcpy(buf + SHA256_DIGEST_LENGTH, tid, n);
    SHA256(buf, SHA256_DIGEST_LENGTH + n, out);
}

void lpa_hash_cc(const char *cc, const uint8_t *tid, size_t tid_len, uint8_t out[32])
{
    hash_cc_bytes((const uint8_t *)cc, strlen(cc), tid, tid_len, out);
}

int lpa_hash_cc_hex(const char *cc, const uint8_t *tid, size_t tid_len, uint8_t out[32])
{
    uint8_t bytes[128];
    size_t n;
    if (rsp_hex_decode(cc, strlen(cc), bytes, sizeof(bytes), &n) != RSP_CODEC_OK)
        return -1;
    hash_cc_bytes(bytes, n, tid, tid_len, out);
    return 0;
}

/* ---- JSON bodies ---- */

static char *finish_json(rsp_jsonw *w)
{
    const char *text;
    size_t len;
    char *out = NULL;
    if (rsp_jsonw_finish(w, &text, &len) == 0 && (out = malloc(len + 1)) != NULL)
        memcpy(out, text, len + 1);
    rsp_jsonw_free(w);
    return out;
}

char *lpa_json_initiate_auth_v(const uint8_t challenge[16], const uint8_t *info1, size_t info1_len,
                               const char *address, bool smds_field, bool v3)
{
    /* v3 LpaRspCapability BIT STRING, sent as the DER of its value as v3 LPAs do */
    static const uint8_t lpa_cap[4] = {0x03, 0x02, 0x06, 0xC0};
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kbase64(&w, "euiccChallenge", challenge, 16);
    rsp_jsonw_kbase64(&w, "euiccInfo1", info1, info1_len);
    rsp_jsonw_kstr(&w, smds_field ? "smdsAddress" : "smdpAddress", address);
    if (v3)
        rsp_jsonw_kbase64(&w, "lpaRspCapability", lpa_cap, sizeof(lpa_cap));
    rsp_jsonw_obj_end(&w);
    return finish_json(&w);
}

char *lpa_json_initiate_auth(const uint8_t challenge[16], const uint8_t *info1, size_t info1_len,
                             const char *address, bool smds_field)
{
    return lpa_json_initiate_auth_v(challenge, info1, info1_len, address, smds_field, false);
}

static char *json_tid_b64(const char *tid_hex, const char *name, const uint8_t *data, size_t len)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kstr(&w, "transactionId", tid_hex);
    rsp_jsonw_kbase64(&w, name, data, len);
    rsp_jsonw_obj_end(&w);
    return finish_json(&w);
}

char *lpa_json_authenticate_client(const char *tid_hex, const uint8_t *resp, size_t len)
{
    return json_tid_b64(tid_hex, "authenticateServerResponse", resp, len);
}

char *lpa_json_get_bpp(const char *tid_hex, const uint8_t *resp, size_t len)
{
    return json_tid_b64(tid_hex, "prepareDownloadResponse", resp, len);
}

char *lpa_json_cancel_session(const char *tid_hex, const uint8_t *resp, size_t len)
{
    return json_tid_b64(tid_hex, "cancelSessionResponse", resp, len);
}

char *lpa_json_handle_notification(const uint8_t *notification, size_t len)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kbase64(&w, "pendingNotification", notification, len);
    rsp_jsonw_obj_end(&w);
    return finish_json(&w);
}

/* ---- JSON responses ---- */

struct j_hdr {
    rsp_json_resp_header h;
};

static const rsp_json_field hdr_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, struct j_hdr, h, rsp_json_resp_header_fields),
    RSP_JSON_END,
};

struct j_event {
    const char *event_id, *address;
};

static const rsp_json_field event_fields[] = {
    RSP_JSON_F("eventId", RSP_JSON_STRING, RSP_JSON_MANDATORY, 0, 0, struct j_event, event_id),
    RSP_JSON_F("rspServerAddress", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 255, struct j_event, address),
    RSP_JSON_END,
};

struct j_body {
    const char *tid;
    rsp_json_bin ss1, sig1, pkid, cert, meta, ss2, sig2, dppb, bpp, others;
    rsp_json_array events;
};

#define M RSP_JSON_MANDATORY
#define B64(name, member) RSP_JSON_F(name, RSP_JSON_BASE64, M, 1, 0, struct j_body, member)
#define TID(flags) RSP_JSON_F("transactionId", RSP_JSON_STRING, flags, 2, 32, struct j_body, tid)
#define OTHERS                                                                                               \
    RSP_JSON_F("otherCertsInChain", RSP_JSON_BASE64, RSP_JSON_OPTIONAL, 1, 0, struct j_body, others)

static const rsp_json_field initiate_fields[] = {
    TID(M),
    B64("serverSigned1", ss1),
    B64("serverSignature1", sig1),
    B64("euiccCiPKIdToBeUsed", pkid),
    B64("serverCertificate", cert),
    OTHERS,
    RSP_JSON_END,
};

static const rsp_json_field auth_client_es9_fields[] = {
    TID(M),
    B64("profileMetadata", meta),
    B64("smdpSigned2", ss2),
    B64("smdpSignature2", sig2),
    B64("smdpCertificate", dppb),
    OTHERS,
    RSP_JSON_END,
};

static const rsp_json_field auth_client_es11_fields[] = {
    TID(RSP_JSON_OPTIONAL),
    RSP_JSON_ARR("eventEntries", M, 0, 0, struct j_body, events, event_fields, struct j_event),
    RSP_JSON_END,
};

static const rsp_json_field get_bpp_fields[] = {
    TID(M),
    B64("boundProfilePackage", bpp),
    RSP_JSON_END,
};

static const rsp_json_field cancel_fields[] = {
    RSP_JSON_END,
};

#undef B64
#undef TID
#undef M

static bool status_ok(const char *s)
{
    return s && (strcmp(s, "Executed-Success") == 0 || strcmp(s, "Executed-WithWarning") == 0);
}

static bool hex_ok(const char *s)
{
    size_t n = strlen(s);
    if (n % 2)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF", s[i]))
            return false;
    return true;
}

void lpa_response_free(lpa_response *r, lpa_scratch *scratch)
{
    if (r) {
        lpa_events_free(r->events, r->nevents);
        r->events = NULL;
        r->nevents = 0;
    }
    if (scratch) {
        rsp_arena_free(scratch->a);
        free(scratch);
    }
}

rsp_status lpa_parse_response(lpa_fn fn, const char *body, size_t len, lpa_response *out,
                              lpa_scratch **scratch, char *detail, size_t detail_cap)
{
    memset(out, 0, sizeof(*out));
    *scratch = calloc(1, sizeof(**scratch));
    if (!*scratch || !((*scratch)->a = rsp_arena_new(4 * LPA_MAX_RESPONSE + 65536))) {
        copy_str(detail, detail_cap, "out of memory");
        return RSP_ST_INTERNAL;
    }
    rsp_json_limits lim = {.max_bytes = LPA_MAX_RESPONSE, .max_tokens = 65536, .max_depth = 8};
    rsp_json_doc *doc;
    rsp_json_err je;
    char msg[200];
    rsp_status st = rsp_json_doc_parse((*scratch)->a, body, len, &lim, &doc, &je);
    struct j_hdr h;
    if (st == RSP_OK)
        st = rsp_json_bind(doc, hdr_fields, &h, &je);
    if (st != RSP_OK) {
        copy_str(detail, detail_cap, rsp_json_err_message(&je, msg, sizeof(msg)));
        return st;
    }
    out->status = h.h.status;
    out->subject = h.h.subject;
    out->reason = h.h.reason;
    out->message = h.h.message;
    if (!status_ok(h.h.status))
        return RSP_OK;

    static const rsp_json_field *const tables[] = {
        [LPA_FN_INITIATE_AUTH] = initiate_fields,
        [LPA_FN_AUTH_CLIENT_ES9] = auth_client_es9_fields,
        [LPA_FN_AUTH_CLIENT_ES11] = auth_client_es11_fields,
        [LPA_FN_GET_BPP] = get_bpp_fields,
        [LPA_FN_CANCEL_SESSION] = cancel_fields,
    };
    struct j_body b;
    memset(&b, 0, sizeof(b));
    st = rsp_json_bind(doc, tables[fn], &b, &je);
    if (st != RSP_OK) {
        copy_str(detail, detail_cap, rsp_json_err_message(&je, msg, sizeof(msg)));
        return st;
    }
    if (b.tid && !hex_ok(b.tid)) {
        copy_str(detail, detail_cap, "transactionId: not hex");
        return RSP_ST_INVALID_FIELD;
    }
    out->transaction_id = b.tid;
#define BIN(dst, src) (out->dst.data = b.src.data, out->dst.len = b.src.len)
    BIN(server_signed1, ss1);
    BIN(server_signature1, sig1);
    BIN(ci_pkid, pkid);
    BIN(server_certificate, cert);
    BIN(profile_metadata, meta);
    BIN(smdp_signed2, ss2);
    BIN(smdp_signature2, sig2);
    BIN(smdp_certificate, dppb);
    BIN(bpp, bpp);
    BIN(other_certs, others);
#undef BIN
    if (fn == LPA_FN_AUTH_CLIENT_ES11) {
        const struct j_event *ev = b.events.items;
        out->has_events = true;
        if (b.events.count) {
            out->events = calloc(b.events.count, sizeof(*out->events));
            if (!out->events) {
                copy_str(detail, detail_cap, "out of memory");
                return RSP_ST_INTERNAL;
            }
            out->nevents = b.events.count;
            for (size_t i = 0; i < b.events.count; i++) {
                out->events[i].event_id = strdup(ev[i].event_id);
                out->events[i].rsp_server_address = strdup(ev[i].address);
                if (!out->events[i].event_id || !out->events[i].rsp_server_address) {
                    copy_str(detail, detail_cap, "out of memory");
                    return RSP_ST_INTERNAL;
                }
            }
        }
    }
    return RSP_OK;
}

/* ---- HTTP ---- */

struct body {
    char *data;
    size_t len;
    bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t add = size * n;
    if (b->len + add > LPA_MAX_RESPONSE) {
        b->too_big = true;
        return 0;
    }
    char *nd = realloc(b->data, b->len + add + 1);
    if (!nd)
        return 0;
    memcpy(nd + b->len, p, add);
    b->data = nd;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static CURL *conn_for(lpa *l, const char *base)
{
    for (size_t i = 0; i < l->nconns; i++)
        if (strcasecmp(l->conns[i].base, base) == 0)
            return l->conns[i].h;
    struct conn *nc = realloc(l->conns, (l->nconns + 1) * sizeof(*nc));
    if (!nc)
        return NULL;
    l->conns = nc;
    CURL *h = curl_easy_init();
    char *b = strdup(base);
    if (!h || !b) {
        curl_easy_cleanup(h);
        free(b);
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (l->cafile)
        curl_easy_setopt(h, CURLOPT_CAINFO, l->cafile);
    if (l->connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, l->connect_to);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l->headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, l->o.timeout_ms > 0 ? l->o.timeout_ms : 30000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    if (l->o.fresh_connections) {
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    }
    if ((l->o.fresh_connections || l->o.tls_session) && lpa_tls_session_attach(l->o.tls_session, h) != 0) {
        curl_easy_cleanup(h);
        free(b);
        return NULL;
    }
    l->conns[l->nconns].base = b;
    l->conns[l->nconns].h = h;
    l->nconns++;
    return h;
}

/* ---- a resuming client's TLS session ---- */

struct lpa_tls_session {
    SSL_SESSION *sess;
};

static int tls_session_index = -1; /* SSL_CTX ex_data: the lpa_tls_session */
static pthread_once_t tls_session_once = PTHREAD_ONCE_INIT;

static void tls_session_index_init(void)
{
    tls_session_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

lpa_tls_session *lpa_tls_session_new(void)
{
    pthread_once(&tls_session_once, tls_session_index_init);
    return tls_session_index < 0 ? NULL : calloc(1, sizeof(lpa_tls_session));
}

void lpa_tls_session_free(lpa_tls_session *s)
{
    if (s != NULL)
        SSL_SESSION_free(s->sess);
    free(s);
}

/* A new ticket: a copy is kept, so that what OpenSSL does to its own at close cannot spoil it. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    lpa_tls_session *s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_session_index);
    SSL_SESSION *copy = s != NULL && SSL_SESSION_is_resumable(sess) ? SSL_SESSION_dup(sess) : NULL;
    if (copy != NULL) {
        SSL_SESSION_free(s->sess);
        s->sess = copy;
    }
    return 0;
}

/* Before the ClientHello is built: offer the kept session. */
static void on_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    /* no session yet: the connection's first handshake, not a post-handshake message */
    if (!(where & SSL_CB_HANDSHAKE_START) || SSL_is_server((SSL *)ssl) || SSL_get_session(ssl) != NULL)
        return;
    lpa_tls_session *s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_session_index);
    if (s != NULL && s->sess != NULL)
        SSL_set_session((SSL *)ssl, s->sess);
}

/* libcurl makes an SSL_CTX per connection and shows it here before the handshake. */
static CURLcode on_ssl_ctx(CURL *h, void *ctx, void *arg)
{
    (void)h;
    lpa_tls_session *s = arg;
    if (SSL_CTX_set_ex_data(ctx, tls_session_index, s) != 1)
        return CURLE_OUT_OF_MEMORY;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    SSL_CTX_set_info_callback(ctx, on_info);
    return CURLE_OK;
}

int lpa_tls_session_attach(lpa_tls_session *s, void *h)
{
    /* no session of libcurl's own: without s every connection is a full handshake */
    if (curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L) != CURLE_OK)
        return -1;
    if (s == NULL)
        return 0;
    return curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) == CURLE_OK &&
                   curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, s) == CURLE_OK
               ? 0
               : -1;
}

/* "host[:port]" -> "https://host[:port]" and the host alone. */
static int split_server(const char *server, char *base, size_t bcap, char *host, size_t hcap)
{
    if (!server || !*server || strchr(server, '/') || strchr(server, '@'))
        return -1;
    if (snprintf(base, bcap, "https://%s", server) >= (int)bcap)
        return -1;
    const char *end;
    if (server[0] == '[') {
        end = strchr(server, ']');
        if (!end)
            return -1;
        server++;
    } else {
        end = strchr(server, ':');
        if (!end)
            end = server + strlen(server);
    }
    size_t n = (size_t)(end - server);
    if (n == 0 || n >= hcap)
        return -1;
    memcpy(host, server, n);
    host[n] = '\0';
    return 0;
}

/* POSTs body to base+path.  want is the HTTP status expected (200 or 204).
 * On success *out holds the response body (heap). */
static int post(lpa *l, const char *base, const char *path, const char *body, long want, struct body *out,
                const char *stage, lpa_result *res)
{
    memset(out, 0, sizeof(*out));
    if (!body)
        return res_fail(res, stage, "out of memory building the request");
    char url[600];
    if (snprintf(url, sizeof(url), "%s%s", base, path) >= (int)sizeof(url))
        return res_fail(res, stage, "URL too long");
    CURL *h = conn_for(l, base);
    if (!h)
        return res_fail(res, stage, "cannot create an HTTP handle");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (l->o.verbose)
        fprintf(stderr, "> POST %s\n> %s\n", url, body);
    CURLcode cc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    res->http_status = (int)code;
    if (l->o.verbose) {
        long ver = 0;
        curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &ver);
        fprintf(stderr, "< %s %ld %s\n", ver == CURL_HTTP_VERSION_2_0 ? "HTTP/2" : "HTTP/1.x", code,
                out->data ? out->data : "");
    }
    if (cc != CURLE_OK) {
        free(out->data);
        out->data = NULL;
        return res_fail(res, stage, "%s: %s", url,
                        out->too_big ? "response too large" : curl_easy_strerror(cc));
    }
    if (code != want) {
        free(out->data);
        out->data = NULL;
        return res_fail(res, stage, "%s: HTTP %ld, expected %ld", url, code, want);
    }
    if (want == 204) {
        if (out->len) {
            free(out->data);
            out->data = NULL;
            return res_fail(res, stage, "%s: 204 with a body", url);
        }
        return 0;
    }
    char *ctype = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
    struct curl_header *xa = NULL;
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
        free(out->data);
        out->data = NULL;
        return res_fail(res, stage, "%s: Content-Type %s is not application/json", url,
                        ctype ? ctype : "missing");
    }
    if (curl_easy_header(h, "X-Admin-Protocol", 0, CURLH_HEADER, -1, &xa) != CURLHE_OK ||
        strncasecmp(xa->value, "gsma/rsp/v2.", 12) != 0) {
        free(out->data);
        out->data = NULL;
        return res_fail(res, stage, "%s: X-Admin-Protocol missing or not gsma/rsp/v2.x", url);
    }
    if (!out->data) {
        return res_fail(res, stage, "%s: empty body", url);
    }
    return 0;
}

/* POST + parse; on a Failed status fills res with the server's codes. */
static int call(lpa *l, const char *base, const char *path, char *body, lpa_fn fn, const char *stage,
                lpa_response *resp, lpa_scratch **scratch, lpa_result *res)
{
    struct body b;
    *scratch = NULL;
    memset(resp, 0, sizeof(*resp));
    int rc = post(l, base, path, body, 200, &b, stage, res);
    free(body);
    if (rc != 0)
        return -1;
    char detail[200];
    rsp_status st = lpa_parse_response(fn, b.data, b.len, resp, scratch, detail, sizeof(detail));
    free(b.data);
    if (st != RSP_OK) {
        lpa_response_free(resp, *scratch);
        *scratch = NULL;
        return res_fail(res, stage, "response not understood: %s", detail);
    }
    copy_str(res->status, sizeof(res->status), resp->status);
    if (!status_ok(resp->status)) {
        copy_str(res->subject, sizeof(res->subject), resp->subject);
        copy_str(res->reason, sizeof(res->reason), resp->reason);
        copy_str(res->message, sizeof(res->message), resp->message);
        lpa_response_free(resp, *scratch);
        *scratch = NULL;
        return res_fail(res, stage, "server answered %s", res->status);
    }
    return 0;
}

int lpa_call(lpa *l, const char *server, const char *path, char *body, lpa_fn fn, const char *stage,
             lpa_response *resp, lpa_scratch **scratch, lpa_result *res)
{
    char base[300], host[256];
    res_init(res);
    if (split_server(server, base, sizeof(base), host, sizeof(host)) != 0) {
        free(body);
        *scratch = NULL;
        memset(resp, 0, sizeof(*resp));
        return res_fail(res, stage, "bad server \"%s\" (HOST or HOST:PORT)", server);
    }
    return call(l, base, path, body, fn, stage, resp, scratch, res);
}

static int euicc_stop(lpa_result *res, const char *stage, int rc, const euicc_error *err)
{
    res->euicc_rc = rc;
    res->euicc_refused = rc == EUICC_EREFUSED;
    res->euicc = *err;
    return res_fail(res, stage, "eUICC: %s: %s", euicc_strerror(rc), err->detail);
}

/* True unless the BPP's StoreMetadata (the payloads of its 88 segments, which
 * are MACed but not encrypted) differs from the profileMetadata shown to the
 * user after AuthenticateClient.  A BPP too malformed to tell is left to the
 * eUICC to refuse. */
static bool bpp_metadata_matches(const uint8_t *bpp, size_t len, const uint8_t *meta, size_t meta_len)
{
    der_tlv top, part, seg;
    der_reader r, rs;
    if (der_parse_exact(bpp, len, &top) != 0)
        return true;
    der_reader_of(&r, &top);
    while (der_next(&r, &part) == 0) {
        if (part.tag != 0xA1)
            continue;
        size_t off = 0;
        der_reader_of(&rs, &part);
        while (der_next(&rs, &seg) == 0) {
            if (seg.tag != 0x88 || seg.len < RSP_BSP_MAC_LEN)
                return true;
            size_t n = seg.len - RSP_BSP_MAC_LEN;
            if (n > meta_len - off || memcmp(meta + off, seg.value, n) != 0)
                return false;
            off += n;
        }
        return off == meta_len;
    }
    return true;
}

/* ---- common mutual authentication ---- */

struct session {
    char base[300];
    char host[256];
    const char *address;
    char tid_hex[33];
    uint8_t tid[16];
    size_t tid_len;
};

/*
 * InitiateAuthentication, AuthenticateServer and AuthenticateClient.  es11
 * selects the SM-DS flavour.  On success *ac holds the AuthenticateClient
 * response.
 */
static int authenticate(lpa *l, struct session *s, const char *server, const char *address,
                        const char *matching_id, bool es11, lpa_response *ac, lpa_scratch **ac_scratch,
                        lpa_result *res)
{
    const char *p_init =
        es11 && l->o.es11_paths ? ES11 "initiateAuthentication" : ES9 "initiateAuthentication";
    const char *p_auth = es11 && l->o.es11_paths ? ES11 "authenticateClient" : ES9 "authenticateClient";
    *ac_scratch = NULL;
    if (split_server(server, s->base, sizeof(s->base), s->host, sizeof(s->host)) != 0)
        return res_fail(res, "initiateAuthentication", "bad server \"%s\" (HOST or HOST:PORT)", server);
    s->address = address ? address : s->host;

    uint8_t challenge[16];
    der_writer info1;
    der_w_init(&info1);
    euicc_error err;
    if (euicc_get_challenge(l->e, challenge) != 0 || euicc_get_info1(l->e, &info1) != 0) {
        der_w_free(&info1);
        return res_fail(res, "getEuiccInfo1", "eUICC failed");
    }
    lpa_response ia;
    lpa_scratch *ia_scratch;
    char *body = lpa_json_initiate_auth_v(challenge, info1.buf, info1.len, s->address,
                                          es11 && l->o.es11_paths, l->o.v3);
    der_w_free(&info1);
    if (call(l, s->base, p_init, body, LPA_FN_INITIATE_AUTH, "initiateAuthentication", &ia, &ia_scratch,
             res) != 0)
        return -1;
    copy_str(s->tid_hex, sizeof(s->tid_hex), ia.transaction_id);
    size_t tl = 0;
    rsp_hex_decode(s->tid_hex, strlen(s->tid_hex), s->tid, sizeof(s->tid), &tl);
    s->tid_len = tl;

    der_writer req, resp;
    der_w_init(&req);
    der_w_init(&resp);
    lpa_build_authenticate_server(&l->o, &ia, matching_id, &req);
    lpa_response_free(&ia, ia_scratch);
    if (der_w_finish(&req) != 0) {
        der_w_free(&req);
        return res_fail(res, "authenticateServer", "cannot build AuthenticateServerRequest");
    }
    int erc = euicc_authenticate_server(l->e, req.buf, req.len, s->address, &resp, &err);
    der_w_free(&req);
    if (erc != EUICC_OK && erc != EUICC_EREFUSED) {
        der_w_free(&resp);
        return euicc_stop(res, "authenticateServer", erc, &err);
    }
    /* Like real LPAs, forward the eUICC's answer, error or not. */
    body = lpa_json_authenticate_client(s->tid_hex, resp.buf, resp.len);
    der_w_free(&resp);
    lpa_result r2;
    res_init(&r2);
    int rc = call(l, s->base, p_auth, body, es11 ? LPA_FN_AUTH_CLIENT_ES11 : LPA_FN_AUTH_CLIENT_ES9,
                  "authenticateClient", ac, ac_scratch, &r2);
    if (erc == EUICC_EREFUSED) {
        if (rc == 0)
            lpa_response_free(ac, *ac_scratch);
        *ac_scratch = NULL;
        *res = r2;
        return euicc_stop(res, "authenticateServer", erc, &err);
    }
    *res = r2;
    if (rc != 0)
        return -1;
    if (ac->transaction_id && strcasecmp(ac->transaction_id, s->tid_hex) != 0) {
        lpa_response_free(ac, *ac_scratch);
        *ac_scratch = NULL;
        return res_fail(res, "authenticateClient", "response names another transactionId");
    }
    return 0;
}

int lpa_discover(lpa *l, const char *server, const char *address, const char *matching_id, lpa_event **events,
                 size_t *nevents, lpa_result *res)
{
    res_init(res);
    *events = NULL;
    *nevents = 0;
    struct session s;
    lpa_response ac;
    lpa_scratch *sc;
    if (authenticate(l, &s, server, address, matching_id, true, &ac, &sc, res) != 0)
        return -1;
    *events = ac.events;
    *nevents = ac.nevents;
    ac.events = NULL;
    ac.nevents = 0;
    lpa_response_free(&ac, sc);
    res->ok = true;
    return 0;
}

void lpa_build_cancel_request(const uint8_t *tid, size_t tid_len, int reason, der_writer *w)
{
    der_w_begin(w, 0xBF41);
    der_w_tlv(w, 0x80, tid, tid_len);
    der_w_int(w, 0x81, reason);
    der_w_end(w);
}

/* ES10b.CancelSession then ES9+ CancelSession. */
static int cancel_session(lpa *l, struct session *s, int reason, lpa_result *res)
{
    der_writer req, resp;
    der_w_init(&req);
    der_w_init(&resp);
    lpa_build_cancel_request(s->tid, s->tid_len, reason, &req);
    euicc_error err = {.bpp_command = -1, .name = "system", .detail = "cannot build the request"};
    int erc =
        der_w_finish(&req) == 0 ? euicc_cancel_session(l->e, req.buf, req.len, &resp, &err) : EUICC_ESYS;
    der_w_free(&req);
    if (erc != EUICC_OK) {
        der_w_free(&resp);
        return euicc_stop(res, "euiccCancelSession", erc, &err);
    }
    char *body = lpa_json_cancel_session(s->tid_hex, resp.buf, resp.len);
    der_w_free(&resp);
    lpa_response r;
    lpa_scratch *sc;
    if (call(l, s->base, ES9 "cancelSession", body, LPA_FN_CANCEL_SESSION, "cancelSession", &r, &sc, res) !=
        0)
        return -1;
    lpa_response_free(&r, sc);
    return 0;
}

int lpa_cancel(lpa *l, const char *server, const char *address, const char *matching_id, int reason,
               lpa_result *res)
{
    res_init(res);
    struct session s;
    lpa_response ac;
    lpa_scratch *sc;
    if (authenticate(l, &s, server, address, matching_id, false, &ac, &sc, res) != 0)
        return -1;
    lpa_response_free(&ac, sc);
    if (cancel_session(l, &s, reason, res) != 0)
        return -1;
    res->ok = true;
    return 0;
}

static int send_notification(lpa *l, const euicc_notification *n, lpa_result *res)
{
    char base[300];
    if (snprintf(base, sizeof(base), "https://%s", n->address) >= (int)sizeof(base) || !n->address[0])
        return res_fail(res, "handleNotification", "bad notification address \"%s\"", n->address);
    struct body b;
    char *body = lpa_json_handle_notification(n->der, n->len);
    int rc = post(l, base, ES9 "handleNotification", body, 204, &b, "handleNotification", res);
    free(body);
    free(b.data);
    return rc;
}

/* The download flow; *meta (the profileMetadata copy) is freed by the caller. */
static int download(lpa *l, const char *server, const char *address, const char *matching_id, const char *cc,
                    bool notify, lpa_download_info *info, lpa_result *res, uint8_t **meta_copy)
{
    res_init(res);
    memset(info, 0, sizeof(*info));
    struct session s;
    lpa_response ac;
    lpa_scratch *sc;
    if (authenticate(l, &s, server, address, matching_id, false, &ac, &sc, res) != 0)
        return -1;
    memcpy(info->tid, s.tid, s.tid_len);
    info->tid_len = s.tid_len;

    /* The LPA reads the metadata (for user consent) and whether a confirmation code is needed. */
    sgp22_store_metadata meta;
    sgp22_smdp_signed2 ss2;
    if (sgp22_store_metadata_decode(ac.profile_metadata.data, ac.profile_metadata.len, &meta) != 0) {
        lpa_response_free(&ac, sc);
        return res_fail(res, "authenticateClient", "profileMetadata: %s", sgp22_err_field());
    }
    if (sgp22_smdp_signed2_decode(ac.smdp_signed2.data, ac.smdp_signed2.len, &ss2) != 0) {
        lpa_response_free(&ac, sc);
        return res_fail(res, "authenticateClient", "smdpSigned2: %s", sgp22_err_field());
    }
    size_t meta_len = ac.profile_metadata.len;
    *meta_copy = malloc(meta_len);
    if (!*meta_copy) {
        lpa_response_free(&ac, sc);
        return res_fail(res, "authenticateClient", "out of memory");
    }
    memcpy(*meta_copy, ac.profile_metadata.data, meta_len);
    euicc_iccid_to_str(meta.iccid.p, info->iccid);
    snprintf(info->profile_name, sizeof(info->profile_name), "%.*s", (int)meta.profile_name.len,
             (const char *)meta.profile_name.p);
    snprintf(info->service_provider_name, sizeof(info->service_provider_name), "%.*s",
             (int)meta.service_provider_name.len, (const char *)meta.service_provider_name.p);
    if (ss2.cc_required && !cc) {
        lpa_response_free(&ac, sc);
        lpa_result cr;
        res_init(&cr);
        cancel_session(l, &s, EUICC_CANCEL_END_USER_REJECTION, &cr);
        return res_fail(res, "prepareDownload",
                        "the SM-DP+ requires a confirmation code (--cc); session cancelled");
    }

    uint8_t hcc[32];
    if (ss2.cc_required && !l->o.cc_hex)
        lpa_hash_cc(cc, s.tid, s.tid_len, hcc);
    else if (ss2.cc_required && lpa_hash_cc_hex(cc, s.tid, s.tid_len, hcc) != 0) {
        lpa_response_free(&ac, sc);
        return res_fail(res, "prepareDownload", "--cc-hex: the code is not an even number of hex digits");
    }
    der_writer req, resp;
    der_w_init(&req);
    der_w_init(&resp);
    der_w_begin(&req, 0xBF21);
    der_w_raw(&req, ac.smdp_signed2.data, ac.smdp_signed2.len);
    der_w_raw(&req, ac.smdp_signature2.data, ac.smdp_signature2.len);
    if (ss2.cc_required) {
        der_w_tlv(&req, 0x04, hcc, sizeof(hcc));
    }
    der_w_raw(&req, ac.smdp_certificate.data, ac.smdp_certificate.len);
    lpa_put_other_certs(&req, ac.other_certs.data, ac.other_certs.len);
    der_w_end(&req);
    lpa_response_free(&ac, sc);
    euicc_error err = {.bpp_command = -1, .name = "system", .detail = "cannot build the request"};
    int erc =
        der_w_finish(&req) == 0 ? euicc_prepare_download(l->e, req.buf, req.len, &resp, &err) : EUICC_ESYS;
    der_w_free(&req);
    if (erc != EUICC_OK && erc != EUICC_EREFUSED) {
        der_w_free(&resp);
        return euicc_stop(res, "prepareDownload", erc, &err);
    }
    char *body = lpa_json_get_bpp(s.tid_hex, resp.buf, resp.len);
    der_w_free(&resp);
    lpa_response gb;
    int rc = call(l, s.base, ES9 "getBoundProfilePackage", body, LPA_FN_GET_BPP, "getBoundProfilePackage",
                  &gb, &sc, res);
    if (erc == EUICC_EREFUSED) {
        if (rc == 0)
            lpa_response_free(&gb, sc);
        return euicc_stop(res, "prepareDownload", erc, &err);
    }
    if (rc != 0)
        return -1;
    if (strcasecmp(gb.transaction_id, s.tid_hex) != 0) {
        lpa_response_free(&gb, sc);
        return res_fail(res, "getBoundProfilePackage", "response names another transactionId");
    }
    if (!bpp_metadata_matches(gb.bpp.data, gb.bpp.len, *meta_copy, meta_len)) {
        lpa_response_free(&gb, sc);
        return res_fail(res, "getBoundProfilePackage",
                        "profile metadata in the BPP differs from the one AuthenticateClient returned");
    }

    if (l->o.after_bpp != LPA_BPP_LOAD) {
        lpa_response_free(&gb, sc);
        if (l->o.after_bpp == LPA_BPP_CANCEL && cancel_session(l, &s, l->o.after_bpp_reason, res) != 0)
            return -1;
        res->ok = true;
        return 0;
    }
    der_writer pir;
    der_w_init(&pir);
    erc = euicc_load_bpp(l->e, gb.bpp.data, gb.bpp.len, &pir, info->package_sha256, &err);
    lpa_response_free(&gb, sc);
    der_w_free(&pir);
    if (erc == EUICC_OK || erc == EUICC_EREFUSED) {
        size_t n = euicc_notification_count(l->e);
        const euicc_notification *last = n ? euicc_notification_at(l->e, n - 1) : NULL;
        info->notification_seq = last ? last->seq : 0;
        if (notify && last) {
            lpa_result nr;
            res_init(&nr);
            if (send_notification(l, last, &nr) == 0) {
                euicc_notification_remove(l->e, info->notification_seq);
                info->notified = true;
            } else if (erc == EUICC_OK) {
                *res = nr;
                return -1;
            }
        }
    }
    if (erc != EUICC_OK)
        return euicc_stop(res, "loadBoundProfilePackage", erc, &err);
    const euicc_profile *p = euicc_profile_find(l->e, info->iccid);
    info->enabled = p && p->enabled;
    res->ok = true;
    return 0;
}

int lpa_download(lpa *l, const char *server, const char *address, const char *matching_id, const char *cc,
                 bool notify, lpa_download_info *info, lpa_result *res)
{
    uint8_t *meta = NULL;
    int rc = download(l, server, address, matching_id, cc, notify, info, res, &meta);
    free(meta);
    return rc;
}

int lpa_notify(lpa *l, size_t *sent, size_t *failed, lpa_result *res)
{
    res_init(res);
    *sent = *failed = 0;
    size_t i = 0;
    bool first_failure = true;
    while (i < euicc_notification_count(l->e)) {
        const euicc_notification *n = euicc_notification_at(l->e, i);
        lpa_result r;
        res_init(&r);
        if (send_notification(l, n, &r) == 0) {
            euicc_notification_remove(l->e, n->seq);
            (*sent)++;
            continue;
        }
        if (first_failure)
            *res = r;
        first_failure = false;
        (*failed)++;
        i++;
    }
    res->ok = *failed == 0;
    return *failed ? -1 : 0;
}
