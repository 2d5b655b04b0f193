/* rsp/service.c - see service.h. */
#include "rsp/service.h"

#include "rsp/check.h"
#include "rsp/es.h"
#include "rsp/limits.h"
#include "rsp/log.h"
#include "rsp/admit.h"
#include "rsp/metrics.h"
#include "rsp/sdnotify.h"
#include "rsp/secrets.h"
#include "rsp/version.h"

#include <errno.h>
#include <time.h>

#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CA_FILES 16

enum {
    K_WORKERS,
    K_STATE_DIR,
    K_BODY_LIMIT,
    K_DRAIN,
    K_H2_RESETS,
    K_PORT_FILE,
    K_CREATE_SECRETS,
    K_TLS_CERT,
    K_TLS_KEY,
    K_TLS_CIPHERS,
    K_DEV_ADDR,
    K_DEV_PORT,
    K_DEV_CERT,
    K_DEV_KEY,
    K_DEV_PLAIN,
    K_S2S_ADDR,
    K_S2S_PORT,
    K_S2S_CERT,
    K_S2S_KEY,
    K_S2S_CA,
    K_S2S_PLAIN,
    K_LOG_FILE,
    K_LOG_LEVEL,
    /* TLS per SGP.22: defaults for both listeners, and per listener */
    K_TLS_SUITES13,
    K_TLS_GROUPS,
    K_TLS_MIN,
    K_TLS_TICKETS,
    K_DEV_CIPHERS,
    K_DEV_SUITES13,
    K_DEV_GROUPS,
    K_DEV_MIN,
    K_S2S_CIPHERS,
    K_S2S_SUITES13,
    K_S2S_GROUPS,
    K_S2S_MIN,
    K_LOG_ACCESS,
    K_LOG_REFUSED_RATE,
    /* behind a load balancer */
    K_DEV_PROXY,
    K_S2S_PROXY,
    /* connection limits, per listener */
    K_DEV_MAXCONN,
    K_DEV_PERCLIENT,
    K_DEV_HANDSHAKES,
    K_DEV_HS_TIMEOUT,
    K_DEV_IDLE,
    K_DEV_STREAMS,
    K_S2S_MAXCONN,
    K_S2S_PERCLIENT,
    K_S2S_HANDSHAKES,
    K_S2S_HS_TIMEOUT,
    K_S2S_IDLE,
    K_S2S_STREAMS,
    K_COUNT
};

static const rsp_config_key_t common_keys[K_COUNT] = {
    [K_WORKERS] = {"server", "workers", RSP_CFG_INT, "0", 0, 1024, "worker threads (0 = number of cores)"},
    [K_STATE_DIR] = {"server", "state_dir", RSP_CFG_STR, NULL, 0, 0,
                     "directory for the service's data (LMDB, secrets); must exist or be creatable"},
    [K_BODY_LIMIT] = {"server", "body_limit", RSP_CFG_SIZE, "64k", 1, 64 << 20,
                      "largest request body accepted"},
    [K_DRAIN] = {"server", "drain_timeout_ms", RSP_CFG_INT, "10000", 1, 600000,
                 "bound on the graceful stop (ms)"},
    [K_H2_RESETS] =
        {"server", "h2_reset_limit", RSP_CFG_INT, "100", 1, 1000000,
         "HTTP/2 streams a connection may reset before their answer in 10 s; more: GOAWAY, close"},
    [K_PORT_FILE] = {"server", "port_file", RSP_CFG_STR, "", 0, 0,
                     "if set, write the bound ports here after start (lines '<listener> <port>')"},
    [K_TLS_CERT] =
        {"tls", "cert", RSP_CFG_STR, NULL, 0, 0,
         "server certificate chain (PEM), default for both listeners; a P-256 key, also beside brainpool "
         "auth certificates (no brainpool in TLS 1.3 on OpenSSL 3.0)"},
    [K_TLS_KEY] = {"tls", "key", RSP_CFG_STR, NULL, 0, 0, "private key (PEM)"},
    [K_TLS_CIPHERS] = {"tls", "ciphers", RSP_CFG_STR, "", 0, 0,
                       "TLS 1.2 cipher list (empty = the SGP.22 ECDHE-ECDSA suites, then ECDHE AEAD)"},
    [K_DEV_ADDR] = {"device", "address", RSP_CFG_STR, "127.0.0.1", 0, 0, "device-facing listen address"},
    [K_DEV_PORT] = {"device", "port", RSP_CFG_INT, NULL, 0, 65535, "device-facing port (0 = any free)"},
    [K_DEV_CERT] = {"device", "cert", RSP_CFG_STR, "", 0, 0,
                    "certificate for this listener (empty = tls.cert)"},
    [K_DEV_KEY] = {"device", "key", RSP_CFG_STR, "", 0, 0, "key for this listener (empty = tls.key)"},
    [K_DEV_PLAIN] = {"device", "plain_http", RSP_CFG_BOOL, "false", 0, 0, "serve plain HTTP (tests only)"},
    [K_S2S_ADDR] = {"s2s", "address", RSP_CFG_STR, "127.0.0.1", 0, 0,
                    "server-to-server (mutual TLS) listen address"},
    [K_S2S_PORT] = {"s2s", "port", RSP_CFG_INT, NULL, 0, 65535, "server-to-server port (0 = any free)"},
    [K_S2S_CERT] = {"s2s", "cert", RSP_CFG_STR, "", 0, 0, "certificate for this listener (empty = tls.cert)"},
    [K_S2S_KEY] = {"s2s", "key", RSP_CFG_STR, "", 0, 0, "key for this listener (empty = tls.key)"},
    [K_S2S_CA] = {"s2s", "client_ca", RSP_CFG_STR, NULL, 0, 0,
                  "trusted client CA files (PEM), comma-separated"},
    [K_S2S_PLAIN] = {"s2s", "plain_http", RSP_CFG_BOOL, "false", 0, 0,
                     "serve plain HTTP (tests only; routes then answer 403)"},
    [K_LOG_FILE] = {"log", "file", RSP_CFG_STR, "-", 0, 0,
                    "JSON-lines log file ('-' = stderr), reopened on SIGHUP"},
    [K_LOG_LEVEL] = {"log", "level", RSP_CFG_STR, "info", 0, 0, "debug, info, warn or error"},
    /* TLS per SGP.22 */
    [K_TLS_SUITES13] = {"tls", "ciphersuites", RSP_CFG_STR, "", 0, 0,
                        "TLS 1.3 cipher suites (empty = AES-128-GCM, AES-256-GCM, ChaCha20)"},
    [K_TLS_GROUPS] = {"tls", "groups", RSP_CFG_STR, "", 0, 0,
                      "key exchange groups (empty = P-256, brainpoolP256r1, X25519, P-384)"},
    [K_TLS_MIN] = {"tls", "min_version", RSP_CFG_STR, "1.2", 0, 0, "lowest TLS version: 1.2 or 1.3"},
    [K_TLS_TICKETS] = {"tls", "ticket_rotation", RSP_CFG_INT, "3600", 0, 86400,
                       "seconds between session-ticket key rotations on the device listener (keys derived "
                       "from the transaction secret, so every node resumes; 0 = no resumption)"},
    [K_DEV_CIPHERS] = {"device", "ciphers", RSP_CFG_STR, "", 0, 0,
                       "TLS 1.2 cipher list (empty = tls.ciphers)"},
    [K_DEV_SUITES13] = {"device", "ciphersuites", RSP_CFG_STR, "", 0, 0,
                        "TLS 1.3 cipher suites (empty = tls.ciphersuites)"},
    [K_DEV_GROUPS] = {"device", "groups", RSP_CFG_STR, "", 0, 0, "key exchange groups (empty = tls.groups)"},
    [K_DEV_MIN] = {"device", "min_version", RSP_CFG_STR, "", 0, 0,
                   "lowest TLS version (empty = tls.min_version)"},
    [K_S2S_CIPHERS] = {"s2s", "ciphers", RSP_CFG_STR, "", 0, 0, "TLS 1.2 cipher list (empty = tls.ciphers)"},
    [K_S2S_SUITES13] = {"s2s", "ciphersuites", RSP_CFG_STR, "", 0, 0,
                        "TLS 1.3 cipher suites (empty = tls.ciphersuites)"},
    [K_S2S_GROUPS] = {"s2s", "groups", RSP_CFG_STR, "", 0, 0, "key exchange groups (empty = tls.groups)"},
    [K_S2S_MIN] = {"s2s", "min_version", RSP_CFG_STR, "", 0, 0,
                   "lowest TLS version (empty = tls.min_version)"},
    [K_CREATE_SECRETS] = {"server", "create_secrets", RSP_CFG_BOOL, "false", 0, 0,
                          "create missing secrets at start (demo and tests only; in production run 'init')"},
    [K_LOG_ACCESS] = {"log", "access", RSP_CFG_BOOL, "true", 0, 0,
                      "one access line per ES call (info lines: log.level warn or error drops them)"},
    [K_LOG_REFUSED_RATE] = {"log", "access_refused_per_sec", RSP_CFG_INT, "100", 0, 1000000,
                            "most access lines of refused calls a second (0 = no limit)"},
    [K_DEV_PROXY] = {"device", "proxy_protocol", RSP_CFG_BOOL, "false", 0, 0,
                     "every connection starts with a PROXY v2 header (HAProxy send-proxy-v2)"},
    [K_S2S_PROXY] = {"s2s", "proxy_protocol", RSP_CFG_BOOL, "false", 0, 0,
                     "every connection starts with a PROXY v2 header (HAProxy send-proxy-v2)"},
    /* Devices poll once per boot over short connections; behind carrier NAT many share one address. */
    [K_DEV_MAXCONN] = {"device", "max_connections", RSP_CFG_INT, "20000", 0, 10000000,
                       "open connections at most (0 = no limit but the descriptor limit)"},
    [K_DEV_PERCLIENT] = {"device", "max_connections_per_client", RSP_CFG_INT, "1000", 0, 10000000,
                         "connections from one client address (PROXY: the header's), 0 = no limit"},
    [K_DEV_HANDSHAKES] = {"device", "max_handshakes", RSP_CFG_INT, "1024", 0, 10000000,
                          "TLS handshakes in progress at most (0 = no limit)"},
    [K_DEV_HS_TIMEOUT] = {"device", "handshake_timeout", RSP_CFG_INT, "10", 1, 3600,
                          "seconds from accept to the end of the TLS handshake"},
    [K_DEV_IDLE] = {"device", "idle_timeout", RSP_CFG_INT, "30", 1, 86400,
                    "seconds a connection may stay without a request in progress (PINGs do not count)"},
    [K_DEV_STREAMS] = {"device", "max_streams", RSP_CFG_INT, "32", 1, 100,
                       "HTTP/2 requests in progress per connection; more get 503"},
    /* A few peers (SM-DP+, SM-DS, operators) that keep connections for pushes. */
    [K_S2S_MAXCONN] = {"s2s", "max_connections", RSP_CFG_INT, "2000", 0, 10000000,
                       "open connections at most (0 = no limit but the descriptor limit)"},
    [K_S2S_PERCLIENT] = {"s2s", "max_connections_per_client", RSP_CFG_INT, "200", 0, 10000000,
                         "connections from one client address (PROXY: the header's), 0 = no limit"},
    [K_S2S_HANDSHAKES] = {"s2s", "max_handshakes", RSP_CFG_INT, "128", 0, 10000000,
                          "TLS handshakes in progress at most (0 = no limit)"},
    [K_S2S_HS_TIMEOUT] = {"s2s", "handshake_timeout", RSP_CFG_INT, "10", 1, 3600,
                          "seconds from accept to the end of the TLS handshake"},
    [K_S2S_IDLE] = {"s2s", "idle_timeout", RSP_CFG_INT, "120", 1, 86400,
                    "seconds a connection may stay without a request in progress (PINGs do not count)"},
    [K_S2S_STREAMS] = {"s2s", "max_streams", RSP_CFG_INT, "100", 1, 100,
                       "HTTP/2 requests in progress per connection; more get 503"},
};

static const rsp_config_mark_t common_marks[] = {
    {"log.file", RSP_CFG_F_RELOAD},     {"log.level", RSP_CFG_F_RELOAD},
    {"tls.cert", RSP_CFG_F_FILES},      {"tls.key", RSP_CFG_F_FILES},
    {"device.cert", RSP_CFG_F_FILES},   {"device.key", RSP_CFG_F_FILES},
    {"s2s.cert", RSP_CFG_F_FILES},      {"s2s.key", RSP_CFG_F_FILES},
    {"s2s.client_ca", RSP_CFG_F_FILES}, {"server.state_dir", RSP_CFG_F_REQUIRED},
};

struct rsp_service {
    const rsp_service_def_t *def;
    rsp_config_key_t keys[K_COUNT];
    char state_default[256], cert_default[256], key_default[256], ca_default[256];
    int argc; /* the arguments without the mode, parsed again on SIGHUP */
    char **argv;
    rsp_config_t *cfg;
    rsp_http_server_t *http;
    int device, s2s;
    const char *state_dir;
    rsp_admit *admit; /* overload admission of the expensive device calls (rsp/admit.h) */
};

rsp_http_server_t *rsp_service_http(rsp_service_t *svc)
{
    return svc->http;
}

rsp_admit *rsp_service_admit(rsp_service_t *svc)
{
    return svc->admit;
}

const rsp_config_t *rsp_service_config(rsp_service_t *svc)
{
    return svc->cfg;
}

int rsp_service_device(rsp_service_t *svc)
{
    return svc->device;
}

int rsp_service_s2s(rsp_service_t *svc)
{
    return svc->s2s;
}

const char *rsp_service_state_dir(rsp_service_t *svc)
{
    return svc->state_dir;
}

void *rsp_service_ctx(rsp_service_t *svc)
{
    return svc->def->ctx;
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static const char *pick(const rsp_config_t *cfg, const char *specific, const char *fallback)
{
    const char *v = rsp_config_str(cfg, specific);
    return v != NULL && v[0] != '\0' ? v : rsp_config_str(cfg, fallback);
}

static int write_port_file(rsp_service_t *svc, const char *path)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "device %u\ns2s %u\n", (unsigned)rsp_http_listener_port(svc->http, svc->device),
            (unsigned)rsp_http_listener_port(svc->http, svc->s2s));
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int rsp_service_open_log(rsp_service_t *svc)
{
    const char *level = rsp_config_str(svc->cfg, "log.level");
    static const char *const names[] = {"debug", "info", "warn", "error"};
    int found = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(level, names[i]) == 0)
            found = i;
    if (found < 0) {
        rsp_log(RSP_LOG_ERROR, "log.level must be debug, info, warn or error");
        return -1;
    }
    rsp_log_set_service(svc->def->name);
    rsp_log_set_level((enum rsp_log_level)found);
    rsp_log_set_access(rsp_config_bool(svc->cfg, "log.access"));
    rsp_es_set_refused_log_rate((unsigned)rsp_config_int(svc->cfg, "log.access_refused_per_sec"));
    if (rsp_log_open(rsp_config_str(svc->cfg, "log.file")) != 0) {
        rsp_log(RSP_LOG_ERROR, "cannot open log file %s: %s", rsp_config_str(svc->cfg, "log.file"),
                strerror(errno));
        return -1;
    }
    return 0;
}

/* The listener's TLS settings: its own key, else the tls.* default; "" = the built-in default. */
static int tls_settings(const rsp_config_t *cfg, const char *listener, rsp_http_listener_config_t *l,
                        char *err, size_t errlen)
{
    char key[64];
    const char *v[3];
    static const char *const names[3] = {"ciphers", "ciphersuites", "groups"};
    for (int i = 0; i < 3; i++) {
        char dflt[64];
        snprintf(key, sizeof(key), "%s.%s", listener, names[i]);
        snprintf(dflt, sizeof(dflt), "tls.%s", names[i]);
        v[i] = pick(cfg, key, dflt);
        if (v[i] && !v[i][0])
            v[i] = NULL;
    }
    l->ciphers = v[0];
    l->ciphersuites = v[1];
    l->groups = v[2];
    snprintf(key, sizeof(key), "%s.min_version", listener);
    const char *min = pick(cfg, key, "tls.min_version");
    if (!min || !min[0] || !strcmp(min, "1.2")) {
        l->min_version = RSP_HTTP_TLS_1_2;
    } else if (!strcmp(min, "1.3")) {
        l->min_version = RSP_HTTP_TLS_1_3;
    } else {
        snprintf(err, errlen, "%s: TLS min_version must be 1.2 or 1.3, not '%s'", listener, min);
        return -1;
    }
    return 0;
}

/* The listener's connection limits (device.* or s2s.*). */
static void limit_settings(const rsp_config_t *cfg, const char *listener, rsp_http_listener_config_t *l)
{
    char key[64];
#define LIMIT(name) (snprintf(key, sizeof(key), "%s." name, listener), (unsigned)rsp_config_int(cfg, key))
    l->max_connections = LIMIT("max_connections");
    l->max_connections_per_client = LIMIT("max_connections_per_client");
    l->max_handshakes = LIMIT("max_handshakes");
    l->max_streams = LIMIT("max_streams");
    l->handshake_timeout_ms = LIMIT("handshake_timeout") * 1000u;
    l->idle_timeout_ms = LIMIT("idle_timeout") * 1000u;
#undef LIMIT
}

static int add_listeners(rsp_service_t *svc, char *err, size_t errlen)
{
    const rsp_config_t *cfg = svc->cfg;
    rsp_http_listener_config_t dev = {
        .name = "device",
        .address = rsp_config_str(cfg, "device.address"),
        .port = (uint16_t)rsp_config_int(cfg, "device.port"),
        .plain = rsp_config_bool(cfg, "device.plain_http"),
        .cert_file = pick(cfg, "device.cert", "tls.cert"),
        .key_file = pick(cfg, "device.key", "tls.key"),
        .client_auth = RSP_HTTP_CLIENT_CERT_NONE,
        .proxy_protocol = rsp_config_bool(cfg, "device.proxy_protocol"),
    };
    limit_settings(cfg, "device", &dev);
    if (tls_settings(cfg, "device", &dev, err, errlen) != 0)
        return -1;
    if ((svc->device = rsp_http_listener_add(svc->http, &dev, err, errlen)) < 0)
        return -1;

    char *cas = strdup(rsp_config_str(cfg, "s2s.client_ca"));
    if (cas == NULL)
        return -1;
    const char *ca_files[MAX_CA_FILES];
    size_t nca = rsp_config_split_list(cas, ca_files, MAX_CA_FILES);
    rsp_http_listener_config_t s2s = {
        .name = "s2s",
        .address = rsp_config_str(cfg, "s2s.address"),
        .port = (uint16_t)rsp_config_int(cfg, "s2s.port"),
        .plain = rsp_config_bool(cfg, "s2s.plain_http"),
        .cert_file = pick(cfg, "s2s.cert", "tls.cert"),
        .key_file = pick(cfg, "s2s.key", "tls.key"),
        .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
        .client_ca_files = ca_files,
        .n_client_ca_files = nca,
        .peer_check = svc->def->s2s_peer_check,
        .peer_free = svc->def->s2s_peer_free,
        .peer_ctx = svc->def->ctx,
        .proxy_protocol = rsp_config_bool(cfg, "s2s.proxy_protocol"),
    };
    limit_settings(cfg, "s2s", &s2s);
    svc->s2s = tls_settings(cfg, "s2s", &s2s, err, errlen) == 0
                   ? rsp_http_listener_add(svc->http, &s2s, err, errlen)
                   : -1;
    free(cas);
    return svc->s2s < 0 ? -1 : 0;
}

int rsp_service_cert_current(X509 *x, const char *what, char *why, size_t len)
{
    time_t now = time(NULL);
    int early = X509_cmp_time(X509_get0_notBefore(x), &now) > 0;
    if (!early && X509_cmp_time(X509_get0_notAfter(x), &now) > 0)
        return 1;
    char subject[200];
    X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
    snprintf(why, len, "%s %s %s", what, subject, early ? "is not valid yet" : "has expired");
    return 0;
}

/* Asks the service's ready hook and switches /readyz, logging each change. */
static void update_ready(rsp_service_t *svc, int *ready)
{
    char why[512] = "";
    int now = svc->def->ready == NULL || svc->def->ready(svc, why, sizeof(why));
    if (now != *ready) {
        if (now)
            rsp_log(RSP_LOG_INFO, "ready again");
        else
            rsp_log(RSP_LOG_WARN, "not ready: %s (/readyz answers 503)", why);
        rsp_http_server_set_ready(svc->http, now);
        rsp_sd_notify(now ? "STATUS=serving" : "STATUS=not ready");
        *ready = now;
    }
}

int rsp_service_use_ticket_keys(rsp_service_t *svc, const rsp_txn_keyring *kr)
{
    unsigned rotate = (unsigned)rsp_config_int(svc->cfg, "tls.ticket_rotation");
    if (rotate == 0)
        return 0;
    const uint8_t *secrets[RSP_TXN_MAX_KEYS];
    size_t n = 0, current = 0;
    for (size_t i = 0; i < RSP_TXN_MAX_KEYS; i++) {
        if (!kr->have[i])
            continue;
        if (i == kr->current)
            current = n;
        secrets[n++] = kr->secret[i];
    }
    if (n == 0 ||
        rsp_http_server_set_ticket_secrets(svc->http, secrets, n, RSP_TXN_SECRET_LEN, current, rotate) != 0) {
        rsp_log(RSP_LOG_ERROR, "TLS session tickets: cannot set the keys");
        return -1;
    }
    return 0;
}

void rsp_service_use_metrics(rsp_service_t *svc, rsp_metrics *m)
{
    rsp_metrics_describe(m, "rsp_build_info", RSP_METRIC_GAUGE, "version and commit of the running binary");
    rsp_metric *b = rsp_metric_get(m, "rsp_build_info", RSP_METRIC_GAUGE,
                                   "version=\"" RSP_VERSION "\",commit=\"" RSP_COMMIT "\"");
    if (b != NULL)
        rsp_metric_set(b, 1);
    rsp_http_server_set_metrics(svc->http, m);
    rsp_admit_set_metrics(svc->admit, m);
}

void rsp_service_state_file(rsp_service_t *svc, const char *key, const char *name, char *out, size_t cap)
{
    const char *v = rsp_config_str(svc->cfg, key);
    if (v != NULL && v[0])
        snprintf(out, cap, "%s", v);
    else
        snprintf(out, cap, "%s/%s", rsp_config_str(svc->cfg, "server.state_dir"), name);
}

int rsp_service_init_txn_secret(const char *path, int rotate, char *err, size_t errlen)
{
    int created = 0;
    unsigned id = 0;
    if (rotate ? rsp_secret_txn_rotate(path, &id, err, errlen)
               : rsp_secret_txn_create(path, &created, err, errlen)) {
        fprintf(stderr, "transaction secret: %s\n", err);
        return 1;
    }
    if (rotate)
        printf(
            "added transaction key %u to %s (key %u kept for transactions in flight); copy the file to every "
            "instance, then restart them\n",
            id, path, id - 1);
    else
        printf("%s transaction secret %s\n", created ? "created" : "kept the existing", path);
    return 0;
}

static void log_url(const rsp_service_t *svc, const char *what, int l, const char *plain_key,
                    const char *addr_key)
{
    const char *addr = rsp_config_str(svc->cfg, addr_key);
    int v6 = strchr(addr, ':') != NULL;
    rsp_log(RSP_LOG_INFO, "%s listener on %s://%s%s%s:%u", what,
            rsp_config_bool(svc->cfg, plain_key) ? "http" : "https", v6 ? "[" : "", addr, v6 ? "]" : "",
            (unsigned)rsp_http_listener_port(svc->http, l));
}

/* A configuration from the defaults, the INI file and the flags; NULL with the reason in err. */
static rsp_config_t *load_config(rsp_service_t *svc, int *want_help, char *err, size_t errlen)
{
    const rsp_service_def_t *def = svc->def;
    rsp_config_t *cfg = rsp_config_new();
    if (cfg == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (rsp_config_declare(cfg, svc->keys, K_COUNT, err, errlen) != 0 ||
        rsp_config_declare(cfg, rsp_admit_keys, rsp_admit_nkeys, err, errlen) != 0 ||
        (def->nkeys && rsp_config_declare(cfg, def->keys, def->nkeys, err, errlen) != 0) ||
        rsp_config_mark(cfg, common_marks, sizeof(common_marks) / sizeof(common_marks[0]), err, errlen) !=
            0 ||
        (def->nmarks && rsp_config_mark(cfg, def->marks, def->nmarks, err, errlen) != 0) ||
        (want_help != NULL &&
         rsp_config_parse_args(cfg, svc->argc, svc->argv, want_help, err, errlen) != 0)) {
        rsp_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/*
 * SIGHUP: the configuration is read again.  Keys marked RSP_CFG_F_RELOAD take their new values; any other
 * changed key is named in the log as needing a restart and keeps its running value.  Then the TLS
 * material and the service's own files are re-read from the (running) paths.
 */
static int reload(rsp_service_t *svc)
{
    rsp_sd_notify_reloading("reloading");
    rsp_log(RSP_LOG_INFO, "reload: reading the configuration again");
    char err[1024];
    int want_help = 0, rc = -1;
    rsp_config_t *fresh = load_config(svc, &want_help, err, sizeof(err));
    if (fresh == NULL) {
        rsp_log(RSP_LOG_ERROR, "reload: %s; nothing changed", err);
        goto out;
    }
    for (size_t i = 0; i < rsp_config_count(fresh); i++) {
        const char *now, *was;
        const rsp_config_key_t *k = rsp_config_key_at(fresh, i, &now);
        rsp_config_key_at(svc->cfg, i, &was);
        if (strcmp(now, was) == 0)
            continue;
        char key[160];
        snprintf(key, sizeof(key), "%s.%s", k->section, k->name);
        if (!(rsp_config_flags(fresh, key) & RSP_CFG_F_RELOAD)) {
            rsp_log(RSP_LOG_WARN, "reload: %s changed; it needs a restart (running with the previous value)",
                    key);
        } else if (rsp_config_set(svc->cfg, key, now, "reload", err, sizeof(err)) == 0) {
            rsp_log(RSP_LOG_INFO, "reload: %s applied", key);
        }
    }
    rsp_config_free(fresh);
    /* The log file is reopened on every reload, for log rotation. */
    if (rsp_service_open_log(svc) != 0)
        goto out;
    if (rsp_http_server_reload_tls(svc->http, err, sizeof(err)) != 0) {
        rsp_log(RSP_LOG_ERROR, "reload: TLS: %s (keeping the previous certificates)", err);
        goto out;
    }
    rsp_log(RSP_LOG_INFO, "reload: TLS certificates and keys re-read");
    rc = svc->def->reload != NULL ? svc->def->reload(svc) : 0;
out:
    rsp_log(rc == 0 ? RSP_LOG_INFO : RSP_LOG_ERROR, "reload %s", rc == 0 ? "done" : "failed; still serving");
    rsp_sd_notify("READY=1\nSTATUS=serving");
    return rc;
}

/* The signals serve() takes: SIGHUP reloads, SIGTERM and SIGINT stop. */
static void control_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

/* Waits for signals: SIGHUP reloads, SIGTERM/SIGINT stop (graceful, bounded by drain_timeout_ms). */
static void serve(rsp_service_t *svc)
{
    sigset_t set;
    control_signals(&set); /* blocked since start_and_serve() began */
    int ready = 1;
    for (;;) {
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig < 0) {
            update_ready(svc, &ready);
            continue;
        }
        if (sig != SIGHUP) {
            rsp_log(RSP_LOG_INFO, "stopping on %s: draining connections (at most %lld ms)",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT",
                    rsp_config_int(svc->cfg, "server.drain_timeout_ms"));
            break;
        }
        reload(svc);
    }
    rsp_sd_notify("STOPPING=1\nSTATUS=draining connections");
    rsp_http_server_stop(svc->http);
    rsp_http_server_wait(svc->http); /* logs the connections cut at the drain bound */
}

/* The common part of --check-config: required keys, files, state directory, ports, TLS listeners. */
static int check_common(rsp_service_t *svc, FILE *out)
{
    const rsp_config_t *cfg = svc->cfg;
    int errors = 0;
    for (size_t i = 0; i < rsp_config_count(cfg); i++) {
        const char *v;
        const rsp_config_key_t *k = rsp_config_key_at(cfg, i, &v);
        char key[160];
        snprintf(key, sizeof(key), "%s.%s", k->section, k->name);
        unsigned fl = rsp_config_flags(cfg, key);
        if ((fl & RSP_CFG_F_REQUIRED) && v[0] == '\0') {
            fprintf(out, "error: %s is required\n", key);
            errors++;
        }
        if (!(fl & RSP_CFG_F_FILES) || v[0] == '\0')
            continue;
        char *copy;
        const char *files[MAX_CA_FILES];
        size_t n = rsp_config_list(cfg, key, &copy, files, MAX_CA_FILES);
        for (size_t j = 0; j < n; j++) {
            if (access(files[j], R_OK) != 0) {
                fprintf(out, "error: %s: %s: %s\n", key, files[j], strerror(errno));
                errors++;
            }
        }
        free(copy);
    }

    const char *state = rsp_config_str(cfg, "server.state_dir");
    struct stat st;
    if (stat(state, &st) == 0) {
        if (!S_ISDIR(st.st_mode) || access(state, W_OK | X_OK) != 0) {
            fprintf(out, "error: server.state_dir: %s is not a directory this user can write\n", state);
            errors++;
        } else {
            fprintf(out, "ok: server.state_dir: %s\n", state);
        }
    } else {
        fprintf(out, "warning: server.state_dir: %s does not exist yet (created at start)\n", state);
    }

    long long dp = rsp_config_int(cfg, "device.port"), sp = rsp_config_int(cfg, "s2s.port");
    if (dp != 0 && dp == sp &&
        strcmp(rsp_config_str(cfg, "device.address"), rsp_config_str(cfg, "s2s.address")) == 0) {
        fprintf(out, "error: device.port and s2s.port are both %lld on %s\n", dp,
                rsp_config_str(cfg, "s2s.address"));
        errors++;
    }

    /* Building the listeners loads certificate, chain, key and client CAs as the server will. */
    char err[1024];
    rsp_http_server_config_t hc = {.workers = 1};
    svc->http = rsp_http_server_new(&hc);
    if (svc->http == NULL || add_listeners(svc, err, sizeof(err)) != 0) {
        fprintf(out, "error: TLS listeners: %s\n", svc->http ? err : "out of memory");
        errors++;
    } else {
        fprintf(out, "ok: TLS listeners device and s2s: certificates, keys and client CAs load\n");
    }
    rsp_http_server_free(svc->http);
    svc->http = NULL;
    if (!rsp_config_bool(cfg, "device.plain_http")) {
        errors += rsp_check_certs(out, "device.cert", pick(cfg, "device.cert", "tls.cert"));
        rsp_check_tls_curve(out, "device.cert", pick(cfg, "device.cert", "tls.cert"));
    }
    if (!rsp_config_bool(cfg, "s2s.plain_http")) {
        errors += rsp_check_certs(out, "s2s.cert", pick(cfg, "s2s.cert", "tls.cert"));
        errors += rsp_check_certs(out, "s2s.client_ca", rsp_config_str(cfg, "s2s.client_ca"));
    }
    return errors;
}

static int check_config(rsp_service_t *svc)
{
    int errors = check_common(svc, stdout);
    if (svc->def->check != NULL)
        errors += svc->def->check(svc, stdout);
    if (errors)
        printf("%s: the configuration has %d error(s)\n", svc->def->name, errors);
    else
        printf("%s: the configuration is OK\n", svc->def->name);
    return errors ? 1 : 0;
}

static void usage(const rsp_service_t *svc)
{
    const char *d = svc->def->description;
    printf(
        "%s %s - %s\n"
        "usage: %s [--config=FILE] [--section.key=value ...]   serve\n"
        "       %s --check-config [--config=FILE] [...]        check files, certificates, keys, chains, "
        "ports; exit 1 on an error\n"
        "       %s --print-config [--config=FILE] [...]        the effective values, secrets masked\n"
        "       %s --print-sample-config                       the annotated sample configuration\n"
        "       %s init [--config=FILE] [...]                  create the secrets the service needs\n"
        "       %s rotate-key [--config=FILE] [...]            add a transaction key, keep the previous one\n"
        "       %s --version\n"
        "SIGHUP re-reads the configuration and the files it names; SIGTERM stops gracefully.\n"
        "Keys (in the INI file as [section] key = value, or as flags):\n",
        svc->def->name, RSP_VERSION, d ? d : "", svc->def->name, svc->def->name, svc->def->name,
        svc->def->name, svc->def->name, svc->def->name, svc->def->name);
    rsp_config_usage(svc->cfg, stdout);
}

enum mode { M_SERVE, M_CHECK, M_PRINT, M_SAMPLE, M_INIT, M_ROTATE, M_VERSION };

/* Takes the mode (a first word, or one of the --check-config style flags) out of the arguments. */
static enum mode take_mode(rsp_service_t *svc, int argc, char **argv)
{
    enum mode m = M_SERVE;
    svc->argc = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i == 1 && strcmp(a, "init") == 0)
            m = M_INIT;
        else if (i == 1 && strcmp(a, "rotate-key") == 0)
            m = M_ROTATE;
        else if (strcmp(a, "--check-config") == 0)
            m = M_CHECK;
        else if (strcmp(a, "--print-config") == 0)
            m = M_PRINT;
        else if (strcmp(a, "--print-sample-config") == 0)
            m = M_SAMPLE;
        else if (strcmp(a, "--version") == 0)
            m = M_VERSION;
        else
            svc->argv[svc->argc++] = argv[i];
    }
    svc->argv[svc->argc] = NULL;
    return m;
}

static int start_and_serve(rsp_service_t *svc, const char *prog)
{
    const rsp_service_def_t *def = svc->def;
    char err[1024];
    int status = 1, setup_done = 0;
    const char *cfile = NULL;
    /* Blocked before setup starts any thread (database, housekeeping, relays), so that every thread
     * inherits the mask and serve() is the only one to take SIGTERM; a thread with the default action
     * would end the process with 143 instead of a drain. */
    sigset_t ctl;
    control_signals(&ctl);
    pthread_sigmask(SIG_BLOCK, &ctl, NULL);
    for (int i = 1; i < svc->argc; i++)
        if (strncmp(svc->argv[i], "--config=", 9) == 0)
            cfile = svc->argv[i] + 9;
        else if (strcmp(svc->argv[i], "--config") == 0 && i + 1 < svc->argc)
            cfile = svc->argv[i + 1];
    rsp_log(RSP_LOG_INFO, "%s %s (commit %s) starting: %s, configuration %s", def->name, RSP_VERSION,
            RSP_COMMIT, prog, cfile ? cfile : "from flags and defaults");
    svc->state_dir = rsp_config_str(svc->cfg, "server.state_dir");
    if (mkdir_p(svc->state_dir) != 0) {
        rsp_log(RSP_LOG_ERROR, "cannot create state directory %s: %s", svc->state_dir, strerror(errno));
        goto out;
    }
    uint64_t nofile_was = 0, nofile = 0;
    if (rsp_limits_raise_nofile(&nofile_was, &nofile) != 0)
        rsp_log(RSP_LOG_WARN, "file descriptors: cannot raise the soft limit %llu to the hard limit: %s",
                (unsigned long long)nofile_was, strerror(errno));
    else
        rsp_log(RSP_LOG_INFO, "file descriptors: soft limit %llu%s%llu (the hard limit)",
                (unsigned long long)nofile_was, nofile != nofile_was ? ", raised to " : ", already ",
                (unsigned long long)nofile);
    rsp_http_server_config_t hc = {
        .workers = (unsigned)rsp_config_int(svc->cfg, "server.workers"),
        .body_limit = rsp_config_size(svc->cfg, "server.body_limit"),
        .drain_timeout_ms = (unsigned)rsp_config_int(svc->cfg, "server.drain_timeout_ms"),
        .h2_reset_limit = (unsigned)rsp_config_int(svc->cfg, "server.h2_reset_limit"),
    };
    if ((svc->http = rsp_http_server_new(&hc)) == NULL) {
        rsp_log(RSP_LOG_ERROR, "cannot create the HTTP server");
        goto out;
    }
    if (add_listeners(svc, err, sizeof(err)) != 0) {
        rsp_log(RSP_LOG_ERROR, "%s", err);
        goto out;
    }
    if ((svc->admit = rsp_admit_from_config(svc->cfg)) == NULL) {
        rsp_log(RSP_LOG_ERROR, "out of memory");
        goto out;
    }
    if (rsp_config_int(svc->cfg, "admission.busy_percent") > 0)
        rsp_log(RSP_LOG_INFO, "admission: %u workers, each at most %lld%% busy with ES11/ES9+ calls",
                rsp_http_server_workers(svc->http), rsp_config_int(svc->cfg, "admission.busy_percent"));
    if (def->setup != NULL && def->setup(svc) != 0) {
        rsp_log(RSP_LOG_ERROR, "setup failed; `%s --check-config` names the problems it can find", def->name);
        goto out;
    }
    setup_done = 1;
    if (rsp_http_server_start(svc->http, err, sizeof(err)) != 0) {
        rsp_log(RSP_LOG_ERROR, "%s", err);
        goto out;
    }
    const char *port_file = rsp_config_str(svc->cfg, "server.port_file");
    if (port_file[0] != '\0' && write_port_file(svc, port_file) != 0) {
        rsp_log(RSP_LOG_ERROR, "cannot write %s: %s", port_file, strerror(errno));
        rsp_http_server_stop(svc->http);
        rsp_http_server_wait(svc->http);
        goto out;
    }
    log_url(svc, "device", svc->device, "device.plain_http", "device.address");
    log_url(svc, "s2s (mutual TLS)", svc->s2s, "s2s.plain_http", "s2s.address");
    rsp_http_server_set_ready(svc->http, 1);
    rsp_sd_notify("READY=1\nSTATUS=serving");
    rsp_log(RSP_LOG_INFO, "ready");
    serve(svc);
    rsp_log(RSP_LOG_INFO, "stopped");
    status = 0;
out:
    rsp_http_server_free(svc->http);
    svc->http = NULL;
    if (setup_done && def->teardown != NULL)
        def->teardown(svc);
    rsp_admit_free(svc->admit);
    svc->admit = NULL;
    rsp_log_flush();
    return status;
}

int rsp_service_main(const rsp_service_def_t *def, int argc, char **argv)
{
    char err[1024];
    int status = 2;
    rsp_service_t *svc = calloc(1, sizeof(*svc));
    if (svc == NULL || (svc->argv = calloc((size_t)argc + 1, sizeof(char *))) == NULL) {
        free(svc);
        return 1;
    }
    svc->def = def;
    svc->device = svc->s2s = -1;
    rsp_log_set_service(def->name);
    memcpy(svc->keys, common_keys, sizeof(common_keys));
    /* Absolute defaults, as packaged: state under /var/lib/rsp, configuration under /etc/rsp. */
    snprintf(svc->state_default, sizeof(svc->state_default), "/var/lib/rsp/%s", def->name);
    snprintf(svc->cert_default, sizeof(svc->cert_default), "/etc/rsp/%s/tls.pem", def->name);
    snprintf(svc->key_default, sizeof(svc->key_default), "/etc/rsp/%s/tls.key.pem", def->name);
    snprintf(svc->ca_default, sizeof(svc->ca_default), "/etc/rsp/%s/client-ca.pem", def->name);
    svc->keys[K_STATE_DIR].def = svc->state_default;
    svc->keys[K_TLS_CERT].def = svc->cert_default;
    svc->keys[K_TLS_KEY].def = svc->key_default;
    svc->keys[K_S2S_CA].def = svc->ca_default;
    svc->keys[K_DEV_PORT].def = def->device_port;
    svc->keys[K_S2S_PORT].def = def->s2s_port;

    enum mode mode = take_mode(svc, argc, argv);
    int want_help = 0;
    if (mode == M_VERSION) {
        printf("%s %s (commit %s)\n", def->name, RSP_VERSION, RSP_COMMIT);
        status = 0;
        goto out;
    }
    if (mode == M_SAMPLE) {
        if ((svc->cfg = load_config(svc, NULL, err, sizeof(err))) == NULL)
            goto fail;
        char title[1024];
        snprintf(title, sizeof(title),
                 "/etc/rsp/%s.ini - %s %s\n"
                 "Written by `%s --print-sample-config`: every key with its help, type and default.\n"
                 "Remove the ';' in front of a key to set it; `%s --check-config --config=FILE` checks the\n"
                 "result.  Keys \"applied on SIGHUP\" change with `systemctl reload %s`; the others need a\n"
                 "restart (a reload names them in the log), but a reload re-reads the files they name\n"
                 "(certificates, keys, CI lists, operators).  Flags --section.key=value override the file.",
                 def->name, def->description ? def->description : def->name, RSP_VERSION, def->name,
                 def->name, def->name);
        rsp_config_write_sample(svc->cfg, title, stdout);
        status = 0;
        goto out;
    }
    if ((svc->cfg = load_config(svc, &want_help, err, sizeof(err))) == NULL)
        goto fail;
    if (want_help) {
        usage(svc);
        status = 0;
    } else if (mode == M_PRINT) {
        rsp_config_write_effective(svc->cfg, stdout);
        status = 0;
    } else if (mode == M_CHECK) {
        status = check_config(svc);
    } else if (mode == M_INIT || mode == M_ROTATE) {
        svc->state_dir = rsp_config_str(svc->cfg, "server.state_dir");
        if (def->init == NULL) {
            fprintf(stderr, "%s: has no secrets to create\n", def->name);
            status = 2;
        } else if (mkdir_p(svc->state_dir) != 0) {
            fprintf(stderr, "%s: cannot create state directory %s: %s\n", def->name, svc->state_dir,
                    strerror(errno));
            status = 1;
        } else {
            status = def->init(svc, mode == M_ROTATE);
        }
    } else {
        status = start_and_serve(svc, argv[0]);
    }
    goto out;
fail:
    if (mode == M_SERVE)
        rsp_log(RSP_LOG_ERROR, "%s", err);
    else
        fprintf(stderr, "%s: %s\n", def->name, err);
out:
    rsp_config_free(svc->cfg);
    free(svc->argv);
    free(svc);
    return status;
}
