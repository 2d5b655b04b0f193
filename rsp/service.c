/* rsp/service.c - see service.h. */
#include "rsp/service.h"

#include "rsp/log.h"

#include <errno.h>
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
    K_PORT_FILE,
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
    /* behind a load balancer */
    K_DEV_PROXY,
    K_S2S_PROXY,
    K_COUNT
};

static const rsp_config_key_t common_keys[K_COUNT] = {
    [K_WORKERS] = {"server", "workers", RSP_CFG_INT, "0", 0, 1024, "worker threads (0 = number of cores)"},
    [K_STATE_DIR] = {"server", "state_dir", RSP_CFG_STR, NULL, 0, 0, "directory for the service's data"},
    [K_BODY_LIMIT] = {"server", "body_limit", RSP_CFG_SIZE, "64k", 1, 64 << 20,
                      "largest request body accepted"},
    [K_DRAIN] = {"server", "drain_timeout_ms", RSP_CFG_INT, "10000", 1, 600000,
                 "bound on the graceful stop (ms)"},
    [K_PORT_FILE] = {"server", "port_file", RSP_CFG_STR, "", 0, 0,
                     "if set, write the bound ports here after start (lines '<listener> <port>')"},
    [K_TLS_CERT] = {"tls", "cert", RSP_CFG_STR, "state/tls/server.crt", 0, 0,
                    "server certificate chain (PEM), default for both listeners"},
    [K_TLS_KEY] = {"tls", "key", RSP_CFG_STR, "state/tls/server.key", 0, 0, "private key (PEM)"},
    [K_TLS_CIPHERS] = {"tls", "ciphers", RSP_CFG_STR, "", 0, 0, "TLS 1.2 cipher list (empty = ECDHE AEAD)"},
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
    [K_S2S_CA] = {"s2s", "client_ca", RSP_CFG_STR, "state/tls/ca.crt", 0, 0,
                  "trusted client CA files (PEM), comma-separated"},
    [K_S2S_PLAIN] = {"s2s", "plain_http", RSP_CFG_BOOL, "false", 0, 0,
                     "serve plain HTTP (tests only; routes then answer 403)"},
    [K_LOG_FILE] = {"log", "file", RSP_CFG_STR, "-", 0, 0,
                    "JSON-lines log file ('-' = stderr), reopened on SIGHUP"},
    [K_LOG_LEVEL] = {"log", "level", RSP_CFG_STR, "info", 0, 0, "debug, info, warn or error"},
    [K_DEV_PROXY] = {"device", "proxy_protocol", RSP_CFG_BOOL, "false", 0, 0,
                     "every connection starts with a PROXY v2 header (HAProxy send-proxy-v2)"},
    [K_S2S_PROXY] = {"s2s", "proxy_protocol", RSP_CFG_BOOL, "false", 0, 0,
                     "every connection starts with a PROXY v2 header (HAProxy send-proxy-v2)"},
};

struct rsp_service {
    const rsp_service_def_t *def;
    rsp_config_key_t keys[K_COUNT];
    char state_default[256];
    rsp_config_t *cfg;
    rsp_http_server_t *http;
    int device, s2s;
    const char *state_dir;
};

rsp_http_server_t *rsp_service_http(rsp_service_t *svc)
{
    return svc->http;
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
        fprintf(stderr, "%s: log.level must be debug, info, warn or error\n", svc->def->name);
        return -1;
    }
    rsp_log_set_service(svc->def->name);
    rsp_log_set_level((enum rsp_log_level)found);
    if (rsp_log_open(rsp_config_str(svc->cfg, "log.file")) != 0) {
        fprintf(stderr, "%s: cannot open log file %s\n", svc->def->name,
                rsp_config_str(svc->cfg, "log.file"));
        return -1;
    }
    return 0;
}

static int on_reload(void *ctx)
{
    rsp_service_t *svc = ctx;
    char err[512];
    if (rsp_http_server_reload_tls(svc->http, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: TLS reload: %s\n", svc->def->name, err);
        return -1;
    }
    fprintf(stderr, "%s: TLS certificates reloaded\n", svc->def->name);
    return svc->def->reload != NULL ? svc->def->reload(svc) : 0;
}

static int add_listeners(rsp_service_t *svc, char *err, size_t errlen)
{
    const rsp_config_t *cfg = svc->cfg;
    const char *ciphers = rsp_config_str(cfg, "tls.ciphers");
    rsp_http_listener_config_t dev = {
        .name = "device",
        .address = rsp_config_str(cfg, "device.address"),
        .port = (uint16_t)rsp_config_int(cfg, "device.port"),
        .plain = rsp_config_bool(cfg, "device.plain_http"),
        .cert_file = pick(cfg, "device.cert", "tls.cert"),
        .key_file = pick(cfg, "device.key", "tls.key"),
        .ciphers = ciphers[0] ? ciphers : NULL,
        .client_auth = RSP_HTTP_CLIENT_CERT_NONE,
        .proxy_protocol = rsp_config_bool(cfg, "device.proxy_protocol"),
    };
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
        .ciphers = ciphers[0] ? ciphers : NULL,
        .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
        .client_ca_files = ca_files,
        .n_client_ca_files = nca,
        .peer_check = svc->def->s2s_peer_check,
        .peer_free = svc->def->s2s_peer_free,
        .peer_ctx = svc->def->ctx,
        .proxy_protocol = rsp_config_bool(cfg, "s2s.proxy_protocol"),
    };
    svc->s2s = rsp_http_listener_add(svc->http, &s2s, err, errlen);
    free(cas);
    return svc->s2s < 0 ? -1 : 0;
}

static void print_url(const rsp_service_t *svc, const char *what, int l, const char *plain_key,
                      const char *addr_key)
{
    const char *addr = rsp_config_str(svc->cfg, addr_key);
    int v6 = strchr(addr, ':') != NULL;
    fprintf(stderr, "%s: %s listener on %s://%s%s%s:%u\n", svc->def->name, what,
            rsp_config_bool(svc->cfg, plain_key) ? "http" : "https", v6 ? "[" : "", addr, v6 ? "]" : "",
            (unsigned)rsp_http_listener_port(svc->http, l));
}

int rsp_service_main(const rsp_service_def_t *def, int argc, char **argv)
{
    char err[1024];
    int status = 1, setup_done = 0;
    rsp_service_t *svc = calloc(1, sizeof(*svc));
    if (svc == NULL)
        return 1;
    svc->def = def;
    svc->device = svc->s2s = -1;
    memcpy(svc->keys, common_keys, sizeof(common_keys));
    snprintf(svc->state_default, sizeof(svc->state_default), "state/%s", def->name);
    svc->keys[K_STATE_DIR].def = svc->state_default;
    svc->keys[K_DEV_PORT].def = def->device_port;
    svc->keys[K_S2S_PORT].def = def->s2s_port;

    svc->cfg = rsp_config_new();
    int want_help = 0;
    if (svc->cfg == NULL || rsp_config_declare(svc->cfg, svc->keys, K_COUNT, err, sizeof(err)) != 0 ||
        (def->nkeys && rsp_config_declare(svc->cfg, def->keys, def->nkeys, err, sizeof(err)) != 0) ||
        rsp_config_parse_args(svc->cfg, argc, argv, &want_help, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", def->name, svc->cfg ? err : "out of memory");
        status = 2;
        goto out;
    }
    if (want_help) {
        printf("%s - %s\nusage: %s [--config=FILE] [--section.key=value ...]\n", def->name,
               def->description ? def->description : "", argv[0]);
        rsp_config_usage(svc->cfg, stdout);
        status = 0;
        goto out;
    }
    svc->state_dir = rsp_config_str(svc->cfg, "server.state_dir");
    if (mkdir_p(svc->state_dir) != 0) {
        fprintf(stderr, "%s: cannot create state directory %s: %s\n", def->name, svc->state_dir,
                strerror(errno));
        goto out;
    }
    rsp_http_server_config_t hc = {
        .workers = (unsigned)rsp_config_int(svc->cfg, "server.workers"),
        .body_limit = rsp_config_size(svc->cfg, "server.body_limit"),
        .drain_timeout_ms = (unsigned)rsp_config_int(svc->cfg, "server.drain_timeout_ms"),
    };
    if ((svc->http = rsp_http_server_new(&hc)) == NULL) {
        fprintf(stderr, "%s: cannot create the HTTP server\n", def->name);
        goto out;
    }
    if (add_listeners(svc, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", def->name, err);
        goto out;
    }
    if (def->setup != NULL && def->setup(svc) != 0) {
        fprintf(stderr, "%s: setup failed\n", def->name);
        goto out;
    }
    setup_done = 1;
    if (rsp_http_server_start(svc->http, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", def->name, err);
        goto out;
    }
    const char *port_file = rsp_config_str(svc->cfg, "server.port_file");
    if (port_file[0] != '\0' && write_port_file(svc, port_file) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", def->name, port_file, strerror(errno));
        rsp_http_server_stop(svc->http);
        rsp_http_server_wait(svc->http);
        goto out;
    }
    print_url(svc, "device", svc->device, "device.plain_http", "device.address");
    print_url(svc, "s2s (mutual TLS)", svc->s2s, "s2s.plain_http", "s2s.address");
    rsp_http_server_set_ready(svc->http, 1);
    rsp_http_server_run(svc->http, on_reload, svc);
    fprintf(stderr, "%s: stopped\n", def->name);
    status = 0;
out:
    rsp_http_server_free(svc->http);
    svc->http = NULL;
    if (setup_done && def->teardown != NULL)
        def->teardown(svc);
    rsp_config_free(svc->cfg);
    free(svc);
    return status;
}
