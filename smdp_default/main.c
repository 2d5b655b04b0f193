/*
 * smdp-default - Default SM-DP+.  Device-facing ES9+ on the "device" listener (server-only TLS), ES2+
 * (from operators) on the mutual-TLS "s2s" listener.  Startup, configuration and shutdown are shared
 * with the SM-DS in rsp/service.c; `smdp-default --help` lists the keys.  SIGHUP reloads the TLS
 * certificates, the CI, CERT.DPauth and CERT.DPpb certificates and keys, the operators file, and reopens
 * the log file.  docs/smdp.md is the operator guide.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/es.h"
#include "rsp/log.h"
#include "rsp/metrics.h"
#include "rsp/crl.h"
#include "rsp/service.h"
#include "smdp_default/server.h"
#include "smdp_default/smdp.h"

#define MAX_LIST 16

static const rsp_config_key_t keys[] = {
    {"smdp", "fqdn", RSP_CFG_STR, "", 0, 0, "this SM-DP+'s address (FQDN), as devices and SM-DS know it"},
    {"smdp", "ci", RSP_CFG_STR, "", 0, 0, "trusted CI certificates (DER or PEM), comma-separated"},
    {"smdp", "auth_cert", RSP_CFG_STR, "", 0, 0, "CERT.DPauth.ECDSA files, one per CI, comma-separated"},
    {"smdp", "auth_key", RSP_CFG_STR, "", 0, 0, "their private keys, in the same order"},
    {"smdp", "pb_cert", RSP_CFG_STR, "", 0, 0, "CERT.DPpb.ECDSA files, one per CI, comma-separated"},
    {"smdp", "pb_key", RSP_CFG_STR, "", 0, 0, "their private keys, in the same order"},
    {"smdp", "operators", RSP_CFG_STR, "", 0, 0,
     "operators file (INI: [id] cn=, notify_url=, notify_ca=); empty = the client certificate CN is the id"},
    {"smdp", "master_key", RSP_CFG_STR, "", 0, 0,
     "master key file sealing the profile keys (default <state_dir>/master.key; created when missing)"},
    {"smdp", "txn_secret", RSP_CFG_STR, "", 0, 0,
     "ES9+ transaction secret file (default <state_dir>/txn.secret); share it between instances"},
    {"smdp", "txn_ttl", RSP_CFG_INT, "300", 10, 86400,
     "seconds between InitiateAuthentication and AuthenticateClient"},
    {"smdp", "replay_cache", RSP_CFG_INT, "100000", 16, 100000000, "consumed transactionIds remembered"},
    {"smdp", "eum_cache", RSP_CFG_INT, "1024", 1, 1000000, "verified EUM certificates cached"},
    {"smdp", "host_id", RSP_CFG_STR, "", 0, 0, "BSP hostId (1 to 16 characters; default: the FQDN, cut)"},
    {"smdp", "cc_max_attempts", RSP_CFG_INT, "3", 1, 1000, "wrong confirmation codes before 8.2.7/6.4"},
    {"smdp", "download_max_attempts", RSP_CFG_INT, "3", 1, 1000,
     "download sessions per order before 8.8.5/6.4"},
    {"smdp", "order_ttl", RSP_CFG_INT, "2592000", 60, 1000000000,
     "seconds from DownloadOrder to order expiry"},
    {"smdp", "db_map_size", RSP_CFG_SIZE, "64m", 1 << 20, 1ll << 40,
     "initial LMDB map size (grows on demand)"},
    {"smdp", "smds_allowed", RSP_CFG_STR, "", 0, 0,
     "SM-DS addresses ConfirmOrder may name, comma-separated; empty = any host name"},
    {"smdp", "progress_notifications", RSP_CFG_BOOL, "true", 0, 0,
     "send ES2+ HandleDownloadProgressInfo to operators that have a notify_url"},
    {"smdp", "housekeeping_interval", RSP_CFG_INT, "60", 1, 86400, "seconds between order-expiry sweeps"},
    {"smdp", "metrics_on_device", RSP_CFG_BOOL, "false", 0, 0,
     "also serve GET /metrics on the device listener"},
    {"client", "cert", RSP_CFG_STR, "", 0, 0,
     "TLS client certificate (CERT.DP.TLS, PEM) for ES12 and ES2+ calls (default: tls.cert)"},
    {"client", "key", RSP_CFG_STR, "", 0, 0, "its private key (default: tls.key)"},
    {"client", "ca", RSP_CFG_STR, "", 0, 0,
     "CA certificates (PEM) for the SM-DS and operator server certificates (empty = system store)"},
    {"client", "es12_port", RSP_CFG_INT, "443", 1, 65535, "port of an SM-DS whose smdsAddress names none"},
    {"client", "connect_to", RSP_CFG_STR, "", 0, 0,
     "libcurl CONNECT_TO entries HOST:PORT:CONNECT_HOST:CONNECT_PORT, comma-separated (tests, split DNS)"},
    {"client", "timeout_ms", RSP_CFG_INT, "10000", 100, 600000, "timeout of one outgoing call"},
    {"outbox", "threads", RSP_CFG_INT, "4", 1, 64, "sender threads"},
    {"outbox", "backoff_min", RSP_CFG_INT, "2", 1, 86400, "seconds before the first retry"},
    {"outbox", "backoff_max", RSP_CFG_INT, "300", 1, 86400, "longest delay between retries"},
    {"outbox", "max_attempts", RSP_CFG_INT, "0", 0, 1000000, "attempts before giving up (0 = until max_age)"},
    {"outbox", "max_age", RSP_CFG_INT, "604800", 60, 100000000,
     "seconds before an undelivered call is dropped"},
    {"outbox", "lease", RSP_CFG_INT, "120", 5, 86400, "seconds one attempt owns its item (above timeout_ms)"},
    {"outbox", "smds_unavailable_after", RSP_CFG_INT, "300", 1, 86400,
     "seconds of failed calls after which ConfirmOrder refuses that SM-DS with 8.9/5.1"},
    /* revocation (rsp/crl.h) */
    {"smdp", "crl", RSP_CFG_STR, "", 0, 0,
     "CRL files (DER or PEM) of the CIs and of EUM/sub-CA issuers, comma-separated; reloaded on SIGHUP"},
    {"smdp", "crl_policy", RSP_CFG_STR, "refuse", 0, 0,
     "a CRL not signed by its issuer or past its nextUpdate: refuse the chains it covers, or warn"},
};

static struct app {
    smdp_t *x;
    rsp_metrics *metrics;
} app;

static const char *or_default(const char *v, const char *def)
{
    return v && v[0] ? v : def;
}

static int setup(rsp_service_t *svc)
{
    const rsp_config_t *cfg = rsp_service_config(svc);
    if (rsp_service_open_log(svc) != 0)
        return -1;
    char *copies[7];
    const char *ci[MAX_LIST], *ac[MAX_LIST], *ak[MAX_LIST], *pc[MAX_LIST], *pk[MAX_LIST], *allowed[MAX_LIST];
    size_t nci = rsp_config_list(cfg, "smdp.ci", &copies[0], ci, MAX_LIST);
    size_t nac = rsp_config_list(cfg, "smdp.auth_cert", &copies[1], ac, MAX_LIST);
    size_t nak = rsp_config_list(cfg, "smdp.auth_key", &copies[2], ak, MAX_LIST);
    size_t npc = rsp_config_list(cfg, "smdp.pb_cert", &copies[3], pc, MAX_LIST);
    size_t npk = rsp_config_list(cfg, "smdp.pb_key", &copies[4], pk, MAX_LIST);
    size_t nallowed = rsp_config_list(cfg, "smdp.smds_allowed", &copies[5], allowed, MAX_LIST);
    const char *crls[MAX_LIST];
    size_t ncrl = rsp_config_list(cfg, "smdp.crl", &copies[6], crls, MAX_LIST);
    rsp_crl_policy crl_policy = RSP_CRL_REFUSE;
    const char *state = rsp_service_state_dir(svc);
    char store_dir[4096], secret[4096], mkey[4096];
    snprintf(store_dir, sizeof(store_dir), "%s/%s", state, SMDP_STATE_DB);
    snprintf(secret, sizeof(secret), "%s", or_default(rsp_config_str(cfg, "smdp.txn_secret"), ""));
    if (!secret[0])
        snprintf(secret, sizeof(secret), "%s/txn.secret", state);
    snprintf(mkey, sizeof(mkey), "%s", or_default(rsp_config_str(cfg, "smdp.master_key"), ""));
    if (!mkey[0])
        snprintf(mkey, sizeof(mkey), "%s/%s", state, SMDP_STATE_MASTER_KEY);

    int rc = -1;
    if (nac != nak || npc != npk) {
        fprintf(stderr, "smdp-default: each certificate list needs a key list of the same length\n");
        goto out;
    }
    if (rsp_crl_policy_parse(rsp_config_str(cfg, "smdp.crl_policy"), &crl_policy) != 0) {
        fprintf(stderr, "smdp-default: smdp.crl_policy must be refuse or warn\n");
        goto out;
    }
    app.metrics = rsp_metrics_new();
    if (!app.metrics)
        goto out;
    rsp_metrics_describe(app.metrics, RSP_ES_METRIC_REQUESTS, RSP_METRIC_COUNTER,
                         "ES function calls by function and GSMA result code");
    rsp_metrics_describe(app.metrics, RSP_ES_METRIC_LATENCY, RSP_METRIC_HISTOGRAM,
                         "ES function latency by function");
    rsp_metrics_describe(app.metrics, "smdp_outbox_attempts_total", RSP_METRIC_COUNTER,
                         "outgoing ES12 / ES2+ calls by kind and outcome");
    smdp_config sc = {
        .fqdn = rsp_config_str(cfg, "smdp.fqdn"),
        .ci_files = ci,
        .n_ci_files = nci,
        .crl_files = crls,
        .n_crl_files = ncrl,
        .crl_policy = crl_policy,
        .auth_certs = ac,
        .auth_keys = ak,
        .n_auth = nac,
        .pb_certs = pc,
        .pb_keys = pk,
        .n_pb = npc,
        .operators_file = rsp_config_str(cfg, "smdp.operators"),
        .store_dir = store_dir,
        .master_key_file = mkey,
        .txn_secret_file = secret,
        .txn_ttl = (uint32_t)rsp_config_int(cfg, "smdp.txn_ttl"),
        .replay_capacity = (size_t)rsp_config_int(cfg, "smdp.replay_cache"),
        .eum_cache_capacity = (size_t)rsp_config_int(cfg, "smdp.eum_cache"),
        .host_id = rsp_config_str(cfg, "smdp.host_id"),
        .orders =
            {
                .cc_max_attempts = (uint32_t)rsp_config_int(cfg, "smdp.cc_max_attempts"),
                .download_max_attempts = (uint32_t)rsp_config_int(cfg, "smdp.download_max_attempts"),
                .order_ttl = (uint64_t)rsp_config_int(cfg, "smdp.order_ttl"),
                .db = {.map_size = rsp_config_size(cfg, "smdp.db_map_size")},
            },
        .smds_allowed = allowed,
        .n_smds_allowed = nallowed,
        .progress_notifications = rsp_config_bool(cfg, "smdp.progress_notifications"),
        .notify =
            {
                .cert = or_default(rsp_config_str(cfg, "client.cert"), rsp_config_str(cfg, "tls.cert")),
                .key = or_default(rsp_config_str(cfg, "client.key"), rsp_config_str(cfg, "tls.key")),
                .ca = rsp_config_str(cfg, "client.ca"),
                .es12_port = (unsigned)rsp_config_int(cfg, "client.es12_port"),
                .connect_to = rsp_config_str(cfg, "client.connect_to"),
                .timeout_ms = (unsigned)rsp_config_int(cfg, "client.timeout_ms"),
            },
        .outbox =
            {
                .threads = (unsigned)rsp_config_int(cfg, "outbox.threads"),
                .backoff_min = (uint32_t)rsp_config_int(cfg, "outbox.backoff_min"),
                .backoff_max = (uint32_t)rsp_config_int(cfg, "outbox.backoff_max"),
                .max_attempts = (uint32_t)rsp_config_int(cfg, "outbox.max_attempts"),
                .max_age = (uint64_t)rsp_config_int(cfg, "outbox.max_age"),
                .lease = (uint32_t)rsp_config_int(cfg, "outbox.lease"),
                .unavailable_after = (uint32_t)rsp_config_int(cfg, "outbox.smds_unavailable_after"),
            },
        .housekeeping_interval = (unsigned)rsp_config_int(cfg, "smdp.housekeeping_interval"),
        .metrics = app.metrics,
    };
    char err[512] = "";
    app.x = smdp_new(&sc, err, sizeof(err));
    if (!app.x) {
        fprintf(stderr, "smdp-default: %s\n", err);
        goto out;
    }
    if (smdp_server_routes(rsp_service_http(svc), rsp_service_device(svc), rsp_service_s2s(svc), app.x,
                           rsp_config_bool(cfg, "smdp.metrics_on_device")) != 0) {
        fprintf(stderr, "smdp-default: cannot register routes\n");
        goto out;
    }
    if (smdp_start(app.x) != 0) {
        fprintf(stderr, "smdp-default: cannot start the outbox and housekeeping threads\n");
        goto out;
    }
    smdp_trust *trust = smdp_trust_get(app.x);
    rsp_log(RSP_LOG_INFO, "Default SM-DP+ %s ready (OID %s)", sc.fqdn, trust->oid);
    smdp_trust_put(trust);
    rc = 0;
out:
    for (size_t i = 0; i < 7; i++)
        free(copies[i]);
    return rc;
}

static void teardown(rsp_service_t *svc)
{
    (void)svc;
    smdp_free(app.x);
    app.x = NULL;
    rsp_metrics_free(app.metrics);
    app.metrics = NULL;
}

static int reload(rsp_service_t *svc)
{
    const rsp_config_t *cfg = rsp_service_config(svc);
    if (rsp_log_open(rsp_config_str(cfg, "log.file")) != 0)
        rsp_log(RSP_LOG_WARN, "reload: cannot reopen the log file");
    char err[512] = "";
    if (smdp_reload(app.x, err, sizeof(err)) != 0) {
        rsp_log(RSP_LOG_ERROR, "reload: %s (keeping the previous certificates and operators)", err);
        return -1;
    }
    rsp_log(RSP_LOG_INFO, "reloaded certificates and operators");
    return 0;
}

int main(int argc, char **argv)
{
    static const rsp_service_def_t def = {
        .name = "smdp-default",
        .description = "SGP.22 Default SM-DP+ (ES9+, ES2+; ES12 and ES2+ notifications out)",
        .device_port = "9443",
        .s2s_port = "9444",
        .keys = keys,
        .nkeys = sizeof(keys) / sizeof(keys[0]),
        .setup = setup,
        .teardown = teardown,
        .reload = reload,
    };
    return rsp_service_main(&def, argc, argv);
}
