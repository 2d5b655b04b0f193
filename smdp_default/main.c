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

#include <unistd.h>

#include "rsp/check.h"
#include "rsp/es.h"
#include "rsp/http.h"
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
     "master key file sealing the profile keys (default <state_dir>/master.key; made by init)"},
    {"smdp", "txn_secret", RSP_CFG_STR, "", 0, 0,
     "ES9+ transaction secret file (default <state_dir>/txn.secret); share it between instances"},
    {"smdp", "txn_ttl", RSP_CFG_INT, "300", 10, 86400,
     "seconds between InitiateAuthentication and AuthenticateClient"},
    {"smdp", "replay_cache", RSP_CFG_INT, "100000", 16, 100000000,
     "consumed transactionIds kept in memory (at least peak AuthenticateClient/s x txn_ttl)"},
    {"smdp", "replay_durable", RSP_CFG_BOOL, "true", 0, 0,
     "also keep them in <state_dir>/replay, so a replay after a restart is refused"},
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
    {"smdp", "register_event_deadline_ms", RSP_CFG_INT, "2000", 0, 60000,
     "ConfirmOrder/ReleaseProfile try ES12 RegisterEvent at once for this long: a definitive refusal "
     "answers 8.9/5.1, anything slower or transient is left to the outbox (0 = outbox only)"},
    {"smdp", "progress_notifications", RSP_CFG_BOOL, "true", 0, 0,
     "send ES2+ HandleDownloadProgressInfo to operators that have a notify_url"},
    {"smdp", "housekeeping_interval", RSP_CFG_INT, "60", 1, 86400, "seconds between order-expiry sweeps"},
    {"smdp", "metrics_on_device", RSP_CFG_BOOL, "false", 0, 0,
     "also serve GET /metrics on the device listener"},
    /* download sessions, ES2+ retries */
    {"smdp", "cancel_session_keep", RSP_CFG_STR, SMDP_CANCEL_KEEP_DEFAULT, 0, 0,
     "CancelSession reasons that keep the order Released with its SM-DS event; others end it (Error)"},
    {"smdp", "es2_answer_ttl", RSP_CFG_INT, "86400", 60, 31536000,
     "seconds an ES2+ answer is kept to answer the same call (functionCallIdentifier) again"},
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
    {"outbox", "ready_max_pending", RSP_CFG_INT, "100000", 0, 1000000000,
     "/readyz says not ready while more outgoing calls wait (0 = no limit)"},
    {"outbox", "smds_unavailable_after", RSP_CFG_INT, "300", 1, 86400,
     "seconds of failed calls after which ConfirmOrder refuses that SM-DS with 8.9/5.1"},
    /* Order store backend (orders.h): LMDB under the state directory, or a PostgreSQL database shared by
     * several nodes (docs/deploy.md) */
    {"store", "backend", RSP_CFG_STR, "lmdb", 0, 0, "order store: lmdb (this host) or postgres (shared)"},
    {"store", "dsn", RSP_CFG_STR, "", 0, 0,
     "PostgreSQL connection string for store.backend = postgres (libpq keywords or URI)"},
    /* revocation (rsp/crl.h) */
    {"smdp", "crl", RSP_CFG_STR, "", 0, 0,
     "CRL files (DER or PEM) of the CIs and of EUM/sub-CA issuers, comma-separated; reloaded on SIGHUP"},
    {"smdp", "crl_policy", RSP_CFG_STR, "refuse", 0, 0,
     "a CRL not signed by its issuer or past its nextUpdate: refuse the chains it covers, or warn"},
};

static const rsp_config_mark_t marks[] = {
    {"smdp.fqdn", RSP_CFG_F_REQUIRED},
    {"smdp.ci", RSP_CFG_F_REQUIRED | RSP_CFG_F_FILES},
    {"smdp.auth_cert", RSP_CFG_F_REQUIRED | RSP_CFG_F_FILES},
    {"smdp.auth_key", RSP_CFG_F_REQUIRED | RSP_CFG_F_FILES},
    {"smdp.pb_cert", RSP_CFG_F_REQUIRED | RSP_CFG_F_FILES},
    {"smdp.pb_key", RSP_CFG_F_REQUIRED | RSP_CFG_F_FILES},
    {"smdp.operators", RSP_CFG_F_FILES},
    {"smdp.master_key", RSP_CFG_F_FILES},
    {"smdp.txn_secret", RSP_CFG_F_FILES},
    {"client.cert", RSP_CFG_F_FILES},
    {"client.key", RSP_CFG_F_FILES},
    {"client.ca", RSP_CFG_F_FILES},
    {"store.dsn", RSP_CFG_F_SECRET},
};

static struct app {
    smdp_t *x;
    rsp_metrics *metrics;
} app;

static int store_ready(void *ctx)
{
    struct app *a = ctx;
    return a->x && smdp_orders_ready(a->x->store);
}

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
    char store_dir[4096], secret[4096], mkey[4096], replay_dir[4096];
    snprintf(store_dir, sizeof(store_dir), "%s/%s", rsp_service_state_dir(svc), SMDP_STATE_DB);
    rsp_service_state_file(svc, "smdp.txn_secret", "txn.secret", secret, sizeof(secret));
    rsp_service_state_file(svc, "smdp.master_key", SMDP_STATE_MASTER_KEY, mkey, sizeof(mkey));
    snprintf(replay_dir, sizeof(replay_dir), "%s/replay", rsp_service_state_dir(svc));

    int rc = -1;
    smdp_store_backend backend;
    if (smdp_store_backend_parse(rsp_config_str(cfg, "store.backend"), &backend) != 0) {
        rsp_log(RSP_LOG_ERROR, "store.backend must be lmdb or postgres");
        goto out;
    }
    if (backend == SMDP_STORE_POSTGRES && !rsp_config_str(cfg, "store.dsn")[0]) {
        rsp_log(RSP_LOG_ERROR, "store.backend = postgres needs store.dsn");
        goto out;
    }
    if (nac != nak || npc != npk) {
        rsp_log(RSP_LOG_ERROR, "each certificate list needs a key list of the same length");
        goto out;
    }
    if (rsp_crl_policy_parse(rsp_config_str(cfg, "smdp.crl_policy"), &crl_policy) != 0) {
        rsp_log(RSP_LOG_ERROR, "smdp.crl_policy must be refuse or warn");
        goto out;
    }
    app.metrics = rsp_metrics_new();
    if (!app.metrics)
        goto out;
    rsp_metrics_describe(app.metrics, RSP_ES_METRIC_REQUESTS, RSP_METRIC_COUNTER,
                         "ES function calls by function and GSMA result code");
    rsp_metrics_describe(app.metrics, RSP_ES_METRIC_LATENCY, RSP_METRIC_HISTOGRAM,
                         "ES function latency by function");
    rsp_service_use_metrics(svc, app.metrics);
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
        .create_secrets = rsp_config_bool(cfg, "server.create_secrets"),
        .txn_ttl = (uint32_t)rsp_config_int(cfg, "smdp.txn_ttl"),
        .replay_capacity = (size_t)rsp_config_int(cfg, "smdp.replay_cache"),
        .replay_dir = rsp_config_bool(cfg, "smdp.replay_durable") ? replay_dir : NULL,
        .eum_cache_capacity = (size_t)rsp_config_int(cfg, "smdp.eum_cache"),
        .host_id = rsp_config_str(cfg, "smdp.host_id"),
        .orders =
            {
                .cc_max_attempts = (uint32_t)rsp_config_int(cfg, "smdp.cc_max_attempts"),
                .download_max_attempts = (uint32_t)rsp_config_int(cfg, "smdp.download_max_attempts"),
                .order_ttl = (uint64_t)rsp_config_int(cfg, "smdp.order_ttl"),
                .answer_ttl = (uint64_t)rsp_config_int(cfg, "smdp.es2_answer_ttl"),
                .db = {.map_size = rsp_config_size(cfg, "smdp.db_map_size")},
                .backend = backend,
                .dsn = rsp_config_str(cfg, "store.dsn"),
            },
        .smds_allowed = allowed,
        .n_smds_allowed = nallowed,
        .progress_notifications = rsp_config_bool(cfg, "smdp.progress_notifications"),
        .register_event_ms = (unsigned)rsp_config_int(cfg, "smdp.register_event_deadline_ms"),
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
        .admit = rsp_service_admit(svc),
        .cancel_session_keep = rsp_config_str(cfg, "smdp.cancel_session_keep"),
    };
    char err[512] = "";
    app.x = smdp_new(&sc, err, sizeof(err));
    if (!app.x) {
        rsp_log(RSP_LOG_ERROR, "%s", err);
        goto out;
    }
    if (smdp_server_routes(rsp_service_http(svc), rsp_service_device(svc), rsp_service_s2s(svc), app.x,
                           rsp_config_bool(cfg, "smdp.metrics_on_device")) != 0) {
        rsp_log(RSP_LOG_ERROR, "cannot register routes");
        goto out;
    }
    if (rsp_service_use_ticket_keys(svc, &app.x->keyring) != 0)
        goto out;
    /* /readyz turns not ready at once while the database is down, without a query per probe */
    rsp_http_server_set_ready_check(rsp_service_http(svc), store_ready, &app);
    if (smdp_start(app.x) != 0) {
        rsp_log(RSP_LOG_ERROR, "cannot start the outbox and housekeeping threads");
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
    smdp_server_quiesce();
    smdp_free(app.x);
    app.x = NULL;
    rsp_metrics_free(app.metrics);
    app.metrics = NULL;
}

static int reload(rsp_service_t *svc)
{
    (void)svc;
    char err[512] = "";
    if (smdp_reload(app.x, err, sizeof(err)) != 0) {
        rsp_log(RSP_LOG_ERROR, "reload: %s (keeping the previous certificates and operators)", err);
        return -1;
    }
    rsp_log(RSP_LOG_INFO, "reloaded certificates and operators");
    return 0;
}

/* --check-config: CI, CERT.DPauth and CERT.DPpb with their keys and chains to the CIs, the TLS
 * certificate's chain (CERT.DP.TLS under a CI), the ES12/ES2+ client certificate, and the secrets. */
static int check(rsp_service_t *svc, FILE *out)
{
    const rsp_config_t *cfg = rsp_service_config(svc);
    const char *ci = rsp_config_str(cfg, "smdp.ci");
    int errors = rsp_check_certs(out, "smdp.ci", ci);
    static const char *const pairs[][2] = {{"smdp.auth_cert", "smdp.auth_key"},
                                           {"smdp.pb_cert", "smdp.pb_key"}};
    for (size_t i = 0; i < 2; i++) {
        const char *c = rsp_config_str(cfg, pairs[i][0]);
        errors += rsp_check_certs(out, pairs[i][0], c) +
                  rsp_check_key_pairs(out, pairs[i][0], c, pairs[i][1], rsp_config_str(cfg, pairs[i][1])) +
                  rsp_check_chains(out, pairs[i][0], c, "smdp.ci", ci);
    }
    const char *tc = rsp_config_str(cfg, "tls.cert");
    if (!rsp_config_bool(cfg, "device.plain_http"))
        errors += rsp_check_chains(out, "device.cert", or_default(rsp_config_str(cfg, "device.cert"), tc),
                                   "smdp.ci", ci);
    const char *cc = or_default(rsp_config_str(cfg, "client.cert"), tc);
    errors +=
        rsp_check_certs(out, "client.cert", cc) +
        rsp_check_key_pairs(out, "client.cert", cc, "client.key",
                            or_default(rsp_config_str(cfg, "client.key"), rsp_config_str(cfg, "tls.key")));
    if (!rsp_config_bool(cfg, "server.create_secrets")) {
        char path[4096];
        rsp_service_state_file(svc, "smdp.txn_secret", "txn.secret", path, sizeof(path));
        errors += rsp_check_secret(out, "transaction secret", path, "smdp-default");
        rsp_service_state_file(svc, "smdp.master_key", SMDP_STATE_MASTER_KEY, path, sizeof(path));
        errors += rsp_check_secret(out, "master key", path, "smdp-default");
    }
    return errors;
}

/* /readyz: the store answers (outbox statistics read from it), the outbox backlog is below
 * outbox.ready_max_pending, and a CERT.DPauth and a CERT.DPpb are within their validity. */
static int ready(rsp_service_t *svc, char *why, size_t len)
{
    smdp_outbox_stats st;
    if (!smdp_orders_ready(app.x->store)) {
        snprintf(why, len, "the order store's database is unreachable");
        return 0;
    }
    if (smdp_outbox_stats_get(app.x->outbox, &st) != 0) {
        snprintf(why, len, "the order store cannot be read");
        return 0;
    }
    long long max = rsp_config_int(rsp_service_config(svc), "outbox.ready_max_pending");
    if (max > 0 && st.pending > (uint64_t)max) {
        snprintf(why, len, "%llu outgoing calls wait in the outbox (outbox.ready_max_pending %lld)",
                 (unsigned long long)st.pending, max);
        return 0;
    }
    smdp_trust *t = smdp_trust_get(app.x);
    int auth = 0, pb = 0;
    for (size_t i = 0; i < t->nauth; i++)
        auth += rsp_service_cert_current(t->auth[i].cert, "CERT.DPauth", why, len);
    for (size_t i = 0; i < t->npb; i++)
        pb += rsp_service_cert_current(t->pb[i].cert, "CERT.DPpb", why, len);
    smdp_trust_put(t);
    return auth > 0 && pb > 0;
}

/* `smdp-default init` creates the transaction secret and the master key; `rotate-key` adds a
 * transaction key (the master key seals stored profile keys and is not rotated this way). */
static int init(rsp_service_t *svc, int rotate)
{
    char secret[4096], mkey[4096], err[512];
    rsp_service_state_file(svc, "smdp.txn_secret", "txn.secret", secret, sizeof(secret));
    int status = rsp_service_init_txn_secret(secret, rotate, err, sizeof(err));
    if (status != 0 || rotate)
        return status;
    rsp_service_state_file(svc, "smdp.master_key", SMDP_STATE_MASTER_KEY, mkey, sizeof(mkey));
    int existed = access(mkey, F_OK) == 0;
    smdp_mkey mk;
    if (smdp_mkey_load(&mk, mkey, 1) != 0) {
        fprintf(stderr, "smdp-default: master key %s: cannot read or create (mode must be 0600)\n", mkey);
        return 1;
    }
    smdp_mkey_wipe(&mk);
    printf("%s master key %s\n", existed ? "kept the existing" : "created", mkey);
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
        .marks = marks,
        .nmarks = sizeof(marks) / sizeof(marks[0]),
        .check = check,
        .init = init,
        .ready = ready,
    };
    return rsp_service_main(&def, argc, argv);
}
