/*
 * smdp-default - Default SM-DP+.  Device-facing ES9+ on the "device" listener (server-only TLS), ES2+
 * (from operators) on the mutual-TLS "s2s" listener.  Startup, configuration and shutdown are shared
 * with the SM-DS in rsp/service.c; `smdp-default --help` lists the keys.  The state directory holds the
 * order store (orders/), the master key (master.key) and the ES9+ transaction secret (txn.secret),
 * the same layout smdpctl --state uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/es.h"
#include "rsp/log.h"
#include "rsp/metrics.h"
#include "rsp/service.h"
#include "smdp_default/bpp.h"
#include "smdp_default/es9p.h"
#include "smdp_default/orders.h"

#define MAX_LIST 8

static const rsp_config_key_t keys[] = {
    {"smdp", "fqdn", RSP_CFG_STR, "", 0, 0, "this SM-DP+'s address (FQDN), as devices are told to use it"},
    {"smdp", "ci", RSP_CFG_STR, "", 0, 0, "trusted CI certificates (DER or PEM), comma-separated"},
    {"smdp", "auth_cert", RSP_CFG_STR, "", 0, 0, "CERT.DPauth.ECDSA files, one per CI, comma-separated"},
    {"smdp", "auth_key", RSP_CFG_STR, "", 0, 0, "their private keys, in the same order"},
    {"smdp", "pb_cert", RSP_CFG_STR, "", 0, 0, "CERT.DPpb.ECDSA files, one per CI, comma-separated"},
    {"smdp", "pb_key", RSP_CFG_STR, "", 0, 0, "their private keys, in the same order"},
    {"smdp", "host_id", RSP_CFG_STR, "", 0, 0, "BSP hostId (1-16 characters; default: the FQDN, cut)"},
    {"smdp", "txn_secret", RSP_CFG_STR, "", 0, 0,
     "ES9+ transaction secret file (default <state_dir>/txn.secret); share it between instances"},
    {"smdp", "txn_ttl", RSP_CFG_INT, "600", 10, 86400,
     "seconds from initiateAuthentication to the last getBoundProfilePackage"},
    {"smdp", "replay_cache", RSP_CFG_INT, "100000", 16, 100000000, "consumed transactionIds remembered"},
    {"smdp", "eum_cache", RSP_CFG_INT, "1024", 1, 1000000, "verified EUM certificates cached"},
    {"smdp", "cc_max_attempts", RSP_CFG_INT, "3", 1, 100, "failed confirmation codes per order"},
    {"smdp", "download_max_attempts", RSP_CFG_INT, "3", 1, 1000, "download sessions per order"},
    {"log", "file", RSP_CFG_STR, "-", 0, 0, "JSON-lines log file ('-' = stderr), reopened on SIGHUP"},
    {"log", "level", RSP_CFG_STR, "info", 0, 0, "debug, info, warn or error"},
};

static struct app {
    smdp_orders *orders;
    smdp_mkey mk;
    smdp_es9p *es9p;
    rsp_metrics *metrics;
} app;

/* Splits a comma-separated list (in a copy the caller frees) into trimmed items. */
static size_t split(const char *s, char **copy, const char **items, size_t max)
{
    *copy = strdup(s ? s : "");
    size_t n = 0;
    if (!*copy)
        return 0;
    char *save = NULL;
    for (char *tok = strtok_r(*copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = 0;
        if (*tok && n < max)
            items[n++] = tok;
    }
    return n;
}

static int set_log(const rsp_config_t *cfg)
{
    const char *level = rsp_config_str(cfg, "log.level");
    static const char *names[] = {"debug", "info", "warn", "error"};
    int found = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(level, names[i]) == 0)
            found = i;
    if (found < 0) {
        fprintf(stderr, "smdp-default: log.level must be debug, info, warn or error\n");
        return -1;
    }
    rsp_log_set_level((enum rsp_log_level)found);
    if (rsp_log_open(rsp_config_str(cfg, "log.file")) != 0) {
        fprintf(stderr, "smdp-default: cannot open log file %s\n", rsp_config_str(cfg, "log.file"));
        return -1;
    }
    return 0;
}

static void teardown(rsp_service_t *svc)
{
    (void)svc;
    smdp_es9p_free(app.es9p);
    app.es9p = NULL;
    smdp_orders_close(app.orders);
    app.orders = NULL;
    smdp_mkey_wipe(&app.mk);
    rsp_metrics_free(app.metrics);
    app.metrics = NULL;
}

static int setup(rsp_service_t *svc)
{
    const rsp_config_t *cfg = rsp_service_config(svc);
    rsp_log_set_service("smdp-default");
    if (set_log(cfg) != 0)
        return -1;
    char *copies[5] = {0};
    const char *ci[MAX_LIST], *ac[MAX_LIST], *ak[MAX_LIST], *pc[MAX_LIST], *pk[MAX_LIST];
    size_t nci = split(rsp_config_str(cfg, "smdp.ci"), &copies[0], ci, MAX_LIST);
    size_t nac = split(rsp_config_str(cfg, "smdp.auth_cert"), &copies[1], ac, MAX_LIST);
    size_t nak = split(rsp_config_str(cfg, "smdp.auth_key"), &copies[2], ak, MAX_LIST);
    size_t npc = split(rsp_config_str(cfg, "smdp.pb_cert"), &copies[3], pc, MAX_LIST);
    size_t npk = split(rsp_config_str(cfg, "smdp.pb_key"), &copies[4], pk, MAX_LIST);
    const char *state = rsp_service_state_dir(svc);
    char path[4096], secret[4096];
    const char *sf = rsp_config_str(cfg, "smdp.txn_secret");
    if (sf[0])
        snprintf(secret, sizeof(secret), "%s", sf);
    else
        snprintf(secret, sizeof(secret), "%s/txn.secret", state);
    int rc = -1;
    char err[512];
    if (nac != nak || npc != npk || nci == 0 || nac == 0 || npc == 0) {
        fprintf(stderr, "smdp-default: smdp.ci, smdp.auth_cert/auth_key and smdp.pb_cert/pb_key are required "
                        "(certificates and keys in equal numbers)\n");
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s", state, SMDP_STATE_MASTER_KEY);
    int krc = smdp_mkey_load(&app.mk, path, 1);
    if (krc != 0) {
        fprintf(stderr, "smdp-default: master key %s: %s\n", path, smdp_bpp_strerror(krc));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s", state, SMDP_STATE_DB);
    smdp_orders_config oc = {
        .cc_max_attempts = (uint32_t)rsp_config_int(cfg, "smdp.cc_max_attempts"),
        .download_max_attempts = (uint32_t)rsp_config_int(cfg, "smdp.download_max_attempts"),
    };
    int orc = smdp_orders_open(&app.orders, path, &oc);
    if (orc != 0) {
        fprintf(stderr, "smdp-default: cannot open the order store in %s (%d)\n", path, orc);
        goto out;
    }
    if (!(app.metrics = rsp_metrics_new()))
        goto out;
    rsp_metrics_describe(app.metrics, RSP_ES_METRIC_REQUESTS, RSP_METRIC_COUNTER,
                         "ES function calls by function and GSMA result code");
    rsp_metrics_describe(app.metrics, RSP_ES_METRIC_LATENCY, RSP_METRIC_HISTOGRAM,
                         "ES function latency by function");
    smdp_es9p_config ec = {
        .fqdn = rsp_config_str(cfg, "smdp.fqdn"),
        .ci_files = ci,
        .n_ci = nci,
        .auth_certs = ac,
        .auth_keys = ak,
        .n_auth = nac,
        .pb_certs = pc,
        .pb_keys = pk,
        .n_pb = npc,
        .txn_secret_file = secret,
        .txn_ttl = (uint32_t)rsp_config_int(cfg, "smdp.txn_ttl"),
        .replay_capacity = (size_t)rsp_config_int(cfg, "smdp.replay_cache"),
        .eum_cache_capacity = (size_t)rsp_config_int(cfg, "smdp.eum_cache"),
        .host_id = rsp_config_str(cfg, "smdp.host_id"),
        .orders = app.orders,
        .mk = &app.mk,
        .metrics = app.metrics,
    };
    if (!(app.es9p = smdp_es9p_new(&ec, err, sizeof(err)))) {
        fprintf(stderr, "smdp-default: %s\n", err);
        goto out;
    }
    if (smdp_es9p_routes(app.es9p, rsp_service_http(svc), rsp_service_device(svc)) != 0) {
        fprintf(stderr, "smdp-default: cannot register routes\n");
        goto out;
    }
    rsp_log(RSP_LOG_INFO, "Default SM-DP+ %s: %zu CI, %zu CERT.DPauth, %zu CERT.DPpb", ec.fqdn, nci, nac,
            npc);
    rc = 0;
out:
    if (rc != 0)
        teardown(svc);
    for (size_t i = 0; i < 5; i++)
        free(copies[i]);
    return rc;
}

int main(int argc, char **argv)
{
    static const rsp_service_def_t def = {
        .name = "smdp-default",
        .description = "SGP.22 Default SM-DP+ (ES9+, ES2+)",
        .device_port = "9443",
        .s2s_port = "9444",
        .keys = keys,
        .nkeys = sizeof(keys) / sizeof(keys[0]),
        .setup = setup,
        .teardown = teardown,
        .ctx = &app,
    };
    return rsp_service_main(&def, argc, argv);
}
